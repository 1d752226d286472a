r"""Bugs of normalisation: what is summed, and over which axis the softmax runs.

Notation (see :mod:`seqscore.audit.hypothesis`): :math:`W_i` is the scored
window, :math:`z_p` the logits at position :math:`p`, :math:`y_p = x_{p+1}`
the token they predict, :math:`\ell_p = z_p[y_p] - \mathrm{lse}(z_p)` its
log-probability and :math:`S_i = \sum_{p \in W_i} \ell_p` the correct sum;
:math:`C_i` is the correct report (:math:`S_i`, or :math:`S_i / n_i` when a
mean was meant). ``[/n]`` marks formulas divided by the window's length when a
mean was meant.
"""

from __future__ import annotations

import numpy as np

from seqscore.audit.hypothesis import (
    Context,
    Evaluation,
    Hypothesis,
    additive,
    logprob_terms,
    window,
)
from seqscore.audit.noise import Prediction
from seqscore.numerics.softmax import log_softmax

__all__ = ["HYPOTHESES", "correct_prediction", "float_product"]


def correct_prediction(run, table, mean: bool) -> Prediction:
    """:math:`C_i`: the sum (or mean) of :math:`\\ell_p` over the scored window."""
    terms, errors = logprob_terms(table.next_logit, table.lse, run.vocab)
    return additive(terms, errors, window(run), mean)


def _raw_logits(ctx: Context) -> Evaluation:
    logit = ctx.table.next_logit
    return Evaluation(additive(logit, np.abs(logit), window(ctx.run), ctx.mean))


def _top_token(ctx: Context) -> Evaluation:
    table = ctx.table
    peak = table.top_logprob + table.lse
    terms, errors = logprob_terms(peak, table.lse, ctx.run.vocab)
    return Evaluation(additive(terms, errors, window(ctx.run), ctx.mean))


def _step_probabilities(ctx: Context):
    """Per-step :math:`p = e^{\\ell}` over the window, and the log-prob errors."""
    terms, errors = logprob_terms(ctx.table.next_logit, ctx.table.lse, ctx.run.vocab)
    mask = window(ctx.run)
    return np.where(mask, terms, 0.0), np.where(mask, errors + 1, 0.0), mask


def float_product(logprobs: np.ndarray, mask: np.ndarray, dtype) -> np.ndarray:
    r""":math:`\prod_p e^{\ell_p}` multiplied left to right in ``dtype``.

    Emulates the pipeline exactly, underflow included: in float32 the
    product reaches 0 once it drops below about :math:`10^{-45}` (and can
    stick at the smallest subnormal while factors exceed 1/2).

    >>> lp = np.full((1, 30), np.log(0.01))
    >>> float(float_product(lp, np.ones((1, 30), bool), np.float32)[0])  # 1e-60
    0.0
    >>> bool(float_product(lp, np.ones((1, 30), bool), np.float64)[0] > 0)
    True
    """
    product = np.ones(len(logprobs), dtype)
    with np.errstate(under="ignore"):
        factors = np.exp(logprobs).astype(dtype)
        for p in range(logprobs.shape[1]):
            product = np.where(mask[:, p], product * factors[:, p], product)
    return product.astype(np.float64)


def _product_parts(ctx: Context):
    logprobs, errors, mask = _step_probabilities(ctx)
    dtype = np.dtype(ctx.noise.compute_dtype)
    product = float_product(logprobs, mask, dtype)
    relative = errors.sum(axis=1) + mask.sum(axis=1)  # one rounding per factor
    info = np.finfo(dtype)
    steps = mask.sum(axis=1)
    # a subnormal product carries absolute errors of a subnormal step each,
    # and flush-to-zero hardware may drop it entirely
    subnormal = product < info.tiny
    absolute = np.where(subnormal, product + steps * info.smallest_subnormal, 0.0)
    return product, relative, absolute, subnormal


def _prob_product(ctx: Context) -> Evaluation:
    product, relative, absolute, _ = _product_parts(ctx)
    return Evaluation(Prediction(product, product * relative, absolute))


def _log_prob_product(ctx: Context) -> Evaluation:
    product, relative, absolute, subnormal = _product_parts(ctx)
    with np.errstate(divide="ignore"):
        values = np.log(product)
        spread = np.where(
            product > 0, np.log1p(absolute / np.maximum(product, 1e-320)), 0
        )
    n = ctx.run.continuation_lengths
    if ctx.mean:
        values, relative, spread = values / n, relative / n, spread / n
    return Evaluation(
        Prediction(values, relative + np.abs(values), spread, inf_ok=subnormal)
    )


def _underflow(values: np.ndarray, ctx: Context) -> np.ndarray:
    """A probability below the compute format's normal range may flush to 0."""
    info = np.finfo(ctx.noise.compute_dtype)
    return np.where(values < info.tiny, values + info.smallest_subnormal, 0.0)


def _prob_sum(ctx: Context) -> Evaluation:
    logprobs, errors, mask = _step_probabilities(ctx)
    probabilities = np.exp(logprobs)
    total = additive(probabilities, probabilities * errors, mask, ctx.mean)
    flushed = np.finfo(ctx.noise.compute_dtype).tiny * mask.sum(axis=1)
    return Evaluation(
        Prediction(total.values, total.magnitude, flushed, evaluated=total.evaluated)
    )


def _softmax_over_time(ctx: Context) -> Evaluation:
    table = ctx.table
    terms, errors = logprob_terms(table.next_logit, table.time_lse, ctx.run.width)
    return Evaluation(additive(terms, errors, window(ctx.run), ctx.mean))


def _softmax_over_candidates(ctx: Context) -> Evaluation:
    table, mask = ctx.table, window(ctx.run)
    terms, errors = logprob_terms(table.next_logit, table.batch_lse, 64)
    prediction = additive(terms, errors, mask, ctx.mean)
    known = ~np.any(mask & np.isnan(table.batch_lse), axis=1)
    note = "" if known.all() else "not evaluated for prompts of more than 64 candidates"
    return Evaluation(_restrict(prediction, known), note=note)


def _restrict(prediction: Prediction, known: np.ndarray) -> Prediction:
    return Prediction(
        prediction.values,
        prediction.magnitude,
        prediction.absolute,
        prediction.inf_ok,
        prediction.mask() & known,
    )


def _group_log_softmax(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """:math:`v_i - \\log \\sum_{j \\in G(i)} e^{v_j}` (NaN for all -inf groups)."""
    out = np.full(len(values), np.nan)
    for g in np.unique(groups):
        members = groups == g
        v = values[members]
        if np.isfinite(np.max(v)):  # no NaN, no +inf, something not masked
            out[members] = log_softmax(v)
    return out


def _candidate_log_softmax(ctx: Context) -> Evaluation:
    correct = ctx.correct
    values = _group_log_softmax(correct.values, ctx.run.group)
    worst = np.zeros_like(values)
    for g in np.unique(ctx.run.group):
        members = ctx.run.group == g
        worst[members] = np.max(correct.magnitude[members])
    magnitude = correct.magnitude + worst + np.abs(values) + 4
    return Evaluation(Prediction(values, magnitude, evaluated=~np.isnan(values)))


def _candidate_softmax(ctx: Context) -> Evaluation:
    logs = _candidate_log_softmax(ctx).prediction
    values = np.exp(logs.values)
    return Evaluation(
        Prediction(
            values,
            values * (logs.magnitude + 1),
            _underflow(values, ctx),
            evaluated=logs.evaluated,
        )
    )


def _negated(ctx: Context) -> Evaluation:
    correct = ctx.correct
    return Evaluation(
        Prediction(-correct.values, correct.magnitude, evaluated=correct.evaluated)
    )


_N = "[/n]"
HYPOTHESES = (
    Hypothesis(
        "raw_logits",
        "raw logits of the chosen tokens summed (no softmax)",
        f"sum_{{p in W}} z_p[y_p] {_N}",
        _raw_logits,
    ),
    Hypothesis(
        "top_token",
        "log-probability of the most probable token at each step summed instead "
        "of the chosen token's (the high-confidence wrong token)",
        f"sum_{{p in W}} max_v log_softmax(z_p)[v] {_N}",
        _top_token,
    ),
    Hypothesis(
        "prob_product",
        "probabilities multiplied (reported as a probability; underflows to 0)",
        "prod_{p in W} exp(l_p), multiplied left to right in the pipeline's dtype",
        _prob_product,
    ),
    Hypothesis(
        "log_prob_product",
        "probabilities multiplied, then the log taken (-inf once the product "
        "underflows)",
        f"log prod_{{p in W}} exp(l_p) {_N}",
        _log_prob_product,
    ),
    Hypothesis(
        "prob_sum",
        "probabilities summed instead of log-probabilities",
        f"sum_{{p in W}} exp(l_p) {_N}",
        _prob_sum,
    ),
    Hypothesis(
        "softmax_over_time",
        "softmax taken over the time steps instead of the vocabulary",
        f"sum_{{p in W}} (z_p[y_p] - lse_{{p'=0..L-1}} z_p'[y_p]) {_N}",
        _softmax_over_time,
    ),
    Hypothesis(
        "softmax_over_candidates",
        "softmax taken across the prompt's candidates (the batch axis) instead "
        "of the vocabulary",
        f"sum_{{p in W}} (z_p[y_p] - lse_{{j in prompt, p < L_j}} z^j_p[y_p]) {_N}",
        _softmax_over_candidates,
    ),
    Hypothesis(
        "candidate_log_softmax",
        "sequence scores normalised across the prompt's candidates (log-softmax)",
        "C_i - lse_{j in prompt} C_j",
        _candidate_log_softmax,
    ),
    Hypothesis(
        "candidate_softmax",
        "sequence scores turned into probabilities across the prompt's candidates",
        "exp(C_i) / sum_{j in prompt} exp(C_j)",
        _candidate_softmax,
    ),
    Hypothesis(
        "negated",
        "sign flipped: the negative log-likelihood (a loss) reported as the score",
        "-C_i",
        _negated,
    ),
)
