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

from seqscore.audit.fitting import fit_parameter
from seqscore.audit.hypothesis import (
    Context,
    Evaluation,
    Hypothesis,
    additive,
    logprob_terms,
)
from seqscore.audit.hypothesis import window as window_mask
from seqscore.audit.noise import Prediction, compare
from seqscore.audit.steps import release, tempered_logprobs
from seqscore.numerics.kernels import token_logprobs

__all__ = ["FIT_ROWS", "HYPOTHESES", "LOG_T_BOUNDS"]

#: Scored positions (rows of V logits) the temperature is fitted on.
FIT_ROWS = 256
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


class _Sample:
    """The scored rows of a few candidates, read once and kept together."""

    def __init__(self, ctx: Context, candidates: np.ndarray):
        run = ctx.run
        self.candidates = candidates
        self.lengths = run.continuation_lengths[candidates]
        blocks, targets, logits = [], [], []
        for i in candidates:
            window, scored = run.window(i)
            blocks.append(np.asarray(run.rows(i)[window]))
            targets.append(run.input_ids[i, scored])
            logits.append(ctx.table.next_logit[i, window])
            release(run, i)
        self.rows = np.concatenate(blocks)
        self.targets = np.concatenate(targets)
        self.logits = np.concatenate(logits)

    def predict(self, ctx: Context, temperature: float) -> Prediction:
        dtype = np.float64 if self.rows.dtype == np.float64 else np.float32
        scaled = np.divide(self.rows, dtype(temperature), dtype=dtype)
        logprobs = token_logprobs(scaled, self.targets, workers=ctx.workers)
        return _tempered(ctx, self.lengths, self.logits / temperature, logprobs)


def _tempered(ctx: Context, lengths, scaled_logits, logprobs) -> Prediction:
    """The window sums of tempered log-probs given flat, candidate-major rows."""
    width = int(lengths.max())
    mask = np.arange(width)[None, :] < lengths[:, None]
    terms = np.full(mask.shape, np.nan)
    logits = np.full(mask.shape, np.nan)
    terms[mask], logits[mask] = logprobs, scaled_logits
    _, errors = logprob_terms(logits, logits - terms, ctx.run.vocab)
    return additive(terms, errors + np.abs(logits), mask, ctx.mean)


def _everyone(ctx: Context, temperature: float) -> Prediction:
    r""":math:`\hat r(T)` for every candidate: the second pass over the logits."""
    run = ctx.run
    everyone = np.arange(run.n)
    logprobs = tempered_logprobs(run, everyone, temperature, ctx.workers)
    window = window_mask(run)
    return _tempered(
        ctx,
        run.continuation_lengths,
        ctx.table.next_logit[window] / temperature,
        np.concatenate(logprobs),
    )


def _temperature(ctx: Context) -> Evaluation:
    run = ctx.run
    candidates = _subset(ctx)
    if candidates.size == 0:
        return _unevaluated(run.n, None, "no finite reported number to fit on")
    sample = _Sample(ctx, candidates)
    fit = fit_parameter(
        lambda log_t: sample.predict(ctx, math.exp(log_t)),
        run.reported[candidates],
        ctx.noise,
        LOG_T_BOUNDS,
        grid=13,  # each trial is a pass over the sample: keep them few
    )
    temperature = math.exp(fit.parameter)
    on_subset = f"T fitted on {candidates.size} candidates"
    if fit.worst_ratio > 1:
        spread = _spread(run.n, candidates, fit.prediction)
        return Evaluation(
            spread, temperature, f"{on_subset}; it does not fit them", fitted=1
        )
    if _same_as_correct(ctx, candidates, fit.prediction):
        spread = _spread(run.n, candidates, fit.prediction)
        return Evaluation(spread, temperature, f"{on_subset}: same as T = 1", fitted=1)
    full = _everyone(ctx, temperature)
    note = f"{on_subset}, checked on all (second pass)"
    return Evaluation(full, temperature, note, fitted=1)


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
