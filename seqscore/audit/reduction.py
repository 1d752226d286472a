r"""Bugs of reduction: the right log-probabilities, reduced the wrong way.

:math:`S_i` is the correct sum over the scored window and :math:`n_i` the
number of continuation tokens. The length penalties are the conventions of
:mod:`seqscore.numerics.reductions` (Hugging Face beam search and GNMT), with the
exponent fitted; :math:`\alpha = 0` is the plain sum and, for the Hugging Face
form, :math:`\alpha = 1` the mean -- a fit that lands there coincides with
the correct score (or with the mean/sum swap) and is reported as such.
"""

from __future__ import annotations

import numpy as np

from seqscore.audit.fitting import fit_parameter
from seqscore.audit.hypothesis import Context, Evaluation, Hypothesis
from seqscore.audit.noise import Prediction
from seqscore.numerics.reductions import gnmt_base, penalty_divisor

__all__ = ["hypotheses"]

# Exponents beyond this range are not length penalties anyone configures.
_ALPHA_BOUNDS = (-1.0, 3.0)


def _sum(ctx: Context) -> Prediction:
    """:math:`S_i` whatever the intended reduction."""
    correct = ctx.correct
    if not ctx.mean:
        return correct
    n = ctx.run.continuation_lengths
    return Prediction(
        correct.values * n, (correct.magnitude - np.abs(correct.values)) * n
    )


def _divided(total: Prediction, divisor: np.ndarray) -> Prediction:
    values = total.values / divisor
    return Prediction(values, total.magnitude / divisor + 2 * np.abs(values))


def _mean_instead_of_sum(ctx: Context) -> Evaluation:
    return Evaluation(_divided(_sum(ctx), ctx.run.continuation_lengths.astype(float)))


def _sum_instead_of_mean(ctx: Context) -> Evaluation:
    return Evaluation(_sum(ctx))


def _penalised(ctx: Context, base: np.ndarray) -> Evaluation:
    total = _sum(ctx)

    def predict(alpha: float) -> Prediction:
        divisor = penalty_divisor(base, alpha)
        penalised = _divided(total, divisor)
        # the power itself is rounded relative to |alpha ln base|
        extra = np.abs(penalised.values) * np.abs(alpha * np.log(base))
        return Prediction(penalised.values, penalised.magnitude + extra)

    fit = fit_parameter(predict, ctx.run.reported, ctx.noise, _ALPHA_BOUNDS)
    return Evaluation(fit.prediction, fit.parameter, fitted=1)


def _length_penalty(ctx: Context) -> Evaluation:
    return _penalised(ctx, ctx.run.continuation_lengths.astype(float))


def _gnmt(ctx: Context) -> Evaluation:
    return _penalised(ctx, gnmt_base(ctx.run.continuation_lengths))


_MEAN_FOR_SUM = Hypothesis(
    "mean_instead_of_sum",
    "mean log-probability per token reported where the sum was meant",
    "S_i / n_i",
    _mean_instead_of_sum,
)
_SUM_FOR_MEAN = Hypothesis(
    "sum_instead_of_mean",
    "summed log-probability reported where the mean per token was meant",
    "S_i",
    _sum_instead_of_mean,
)
_PENALTIES = (
    Hypothesis(
        "length_penalty",
        "a length penalty applied (Hugging Face: sum / length^alpha), alpha fitted",
        "S_i / n_i^alpha",
        _length_penalty,
        parameter="alpha",
    ),
    Hypothesis(
        "gnmt_length_penalty",
        "the GNMT length penalty applied, alpha fitted",
        "S_i / ((5 + n_i) / 6)^alpha",
        _gnmt,
        parameter="alpha",
    ),
)


def hypotheses(mean: bool) -> tuple[Hypothesis, ...]:
    """The reduction bugs for an intended sum (``mean=False``) or mean."""
    return ((_SUM_FOR_MEAN if mean else _MEAN_FOR_SUM), *_PENALTIES)
