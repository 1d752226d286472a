r"""A temperature applied before the softmax, with the temperature fitted.

.. math::

    \hat r_i(T) = \sum_{p \in W_i} \Bigl(\frac{z_p[y_p]}{T} -
                  \mathrm{lse}\bigl(\tfrac{z_p}{T}\bigr)\Bigr) \quad [/n_i].

The normaliser of :math:`z/T` is not a function of the normaliser of
:math:`z`, so every trial temperature needs the logits again. The fit is
therefore made on a handful of candidates (at most :data:`FIT_ROWS` scored
positions, spread over the file), searching :math:`\log T` over
:data:`LOG_T_BOUNDS`. Only when that fit explains them, and differs from
:math:`T = 1`, is the fitted temperature checked on every candidate: a
second pass over the logits, the only one the audit ever makes.
"""

from __future__ import annotations

import math

import numpy as np

from .fitting import fit_parameter
from .hypothesis import Context, Evaluation, Hypothesis, additive, logprob_terms
from .noise import Prediction, compare
from .steps import tempered_logprobs

__all__ = ["FIT_ROWS", "HYPOTHESES", "LOG_T_BOUNDS"]

#: Scored positions (rows of V logits) the temperature is fitted on.
FIT_ROWS = 512
#: Search range of log T: T from 0.05 to 20.
LOG_T_BOUNDS = (math.log(0.05), math.log(20.0))


def _subset(ctx: Context) -> np.ndarray:
    """Candidates spread evenly over the file, with finite reports."""
    run = ctx.run
    usable = np.flatnonzero(np.isfinite(run.reported))
    if not usable.size:
        return usable
    mean_length = float(np.mean(run.continuation_lengths[usable]))
    count = int(min(usable.size, max(2, FIT_ROWS // max(mean_length, 1.0))))
    return usable[np.linspace(0, usable.size - 1, count).round().astype(int)]


def _predict(ctx: Context, candidates: np.ndarray, temperature: float) -> Prediction:
    """:math:`\\hat r(T)` for ``candidates`` (a pass over their logits)."""
    run = ctx.run
    width = int(run.continuation_lengths[candidates].max())
    terms = np.full((len(candidates), width), np.nan)
    normaliser = np.full((len(candidates), width), np.nan)
    logits = np.full((len(candidates), width), np.nan)
    logprobs = tempered_logprobs(run, candidates, temperature, ctx.workers)
    for row, i in enumerate(candidates):
        c, length = int(run.n_context[i]), int(run.lengths[i])
        scaled = ctx.table.next_logit[i, c - 1 : length - 1] / temperature
        n = length - c
        logits[row, :n] = scaled
        normaliser[row, :n] = scaled - logprobs[row]
        terms[row, :n] = logprobs[row]
    _, errors = logprob_terms(logits, normaliser, run.vocab)
    mask = np.arange(width)[None, :] < run.continuation_lengths[candidates][:, None]
    return additive(terms, errors + np.abs(logits), mask, ctx.mean)


def _temperature(ctx: Context) -> Evaluation:
    run = ctx.run
    candidates = _subset(ctx)
    if candidates.size == 0:
        return _unevaluated(run.n, None, "no finite reported number to fit on")
    fit = fit_parameter(
        lambda log_t: _predict(ctx, candidates, math.exp(log_t)),
        run.reported[candidates],
        ctx.noise,
        LOG_T_BOUNDS,
    )
    temperature = math.exp(fit.parameter)
    on_subset = f"T fitted on {candidates.size} candidates"
    if fit.worst_ratio > 1:
        sample = _spread(run.n, candidates, fit.prediction)
        return Evaluation(sample, temperature, f"{on_subset}; it does not fit them")
    if _same_as_correct(ctx, candidates, fit.prediction):
        sample = _spread(run.n, candidates, fit.prediction)
        return Evaluation(sample, temperature, f"{on_subset}: same as T = 1")
    everyone = np.arange(run.n)
    full = _predict(ctx, everyone, temperature)
    return Evaluation(full, temperature, f"{on_subset}, checked on all (second pass)")


def _same_as_correct(ctx: Context, candidates, prediction: Prediction) -> bool:
    correct = ctx.correct
    values = correct.values[candidates]
    reference = Prediction(values, correct.magnitude[candidates])
    return bool(compare(reference, prediction.values, ctx.noise).within.all())


def _spread(n: int, candidates: np.ndarray, prediction: Prediction) -> Prediction:
    """A prediction for ``candidates`` only, placed in an ``(n,)`` array."""
    values = np.full(n, np.nan)
    magnitude = np.zeros(n)
    evaluated = np.zeros(n, bool)
    values[candidates] = prediction.values
    magnitude[candidates] = prediction.magnitude
    evaluated[candidates] = prediction.mask()
    return Prediction(values, magnitude, evaluated=evaluated)


def _unevaluated(n: int, parameter, note: str) -> Evaluation:
    nothing = np.full(n, np.nan)
    return Evaluation(
        Prediction(nothing, nothing, evaluated=np.zeros(n, bool)), parameter, note
    )


HYPOTHESES = (
    Hypothesis(
        "temperature",
        "a temperature applied to the logits before the softmax, T fitted",
        "sum_{p in W} (z_p[y_p] / T - lse(z_p / T)) [/n]",
        _temperature,
        parameter="T",
    ),
)
