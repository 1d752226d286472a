r"""Bugs of precision: log-probabilities accumulated in half precision.

The pipeline computes each :math:`\ell_p` (in float32), rounds it to the half
format :math:`h` (float16 or bfloat16) and accumulates left to right in that
format:

.. math::

    a_0 = 0, \qquad a_k = h\bigl(a_{k-1} + h(\ell_{p_k})\bigr), \qquad
    \hat r = a_n \quad [\text{mean: } h(a_n / n)].

This is emulated exactly. Pipeline noise in :math:`\ell_p` can only matter
where it straddles a rounding boundary of :math:`h`; each such *fragile*
rounding may move the result by one unit in the last place of the running
sum, so the allowance is two such units per fragile rounding (none when no
rounding is fragile -- the emulation is then exact).
"""

from __future__ import annotations

import numpy as np

from seqscore.audit.hypothesis import (
    Context,
    Evaluation,
    Hypothesis,
    logprob_terms,
    window,
)
from seqscore.audit.noise import SAFETY, Prediction

__all__ = ["HYPOTHESES", "to_bfloat16", "to_float16"]


def to_float16(x: np.ndarray) -> np.ndarray:
    """Round float64 values as a float32 pipeline would to float16.

    >>> to_float16(np.array([0.1, 70000.0])).tolist()
    [0.0999755859375, inf]
    """
    with np.errstate(over="ignore"):
        return x.astype(np.float32).astype(np.float16).astype(np.float64)


def to_bfloat16(x: np.ndarray) -> np.ndarray:
    """Round float64 values to bfloat16 (via float32, round half to even).

    >>> to_bfloat16(np.array([0.1, 1.0 + 2**-8, 1.0 + 3 * 2**-8])).tolist()
    [0.10009765625, 1.0, 1.015625]
    """
    with np.errstate(over="ignore", invalid="ignore"):
        bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
        finite = np.isfinite(np.asarray(x, dtype=np.float32))
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        out = np.where(finite, rounded, bits).astype(np.uint32).view(np.float32)
    return out.astype(np.float64)


def _ulp(values: np.ndarray, mantissa_bits: int) -> np.ndarray:
    """Spacing of the half format at ``|values|`` (at least its smallest normal)."""
    magnitude = np.maximum(np.abs(values), 2.0**-14)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log2(magnitude))
    return np.where(np.isfinite(exponent), 2.0 ** (exponent - mantissa_bits), 0.0)


def _accumulate(ctx: Context, to_half, mantissa_bits: int) -> Evaluation:
    run = ctx.run
    terms, errors = logprob_terms(ctx.table.next_logit, ctx.table.lse, run.vocab)
    mask = window(run)
    noise = SAFETY * ctx.noise.compute_unit * np.where(mask, errors, 0.0)
    total = np.zeros(run.n)
    fragile = np.zeros(run.n)
    peak = np.zeros(run.n)
    with np.errstate(invalid="ignore"):
        for p in range(run.width):
            active = mask[:, p]
            if not active.any():
                continue
            term = np.where(active, terms[:, p], 0.0)
            flips = to_half(term - noise[:, p]) != to_half(term + noise[:, p])
            total = np.where(active, to_half(total + to_half(term)), total)
            fragile += active & flips
            peak = np.maximum(peak, np.abs(np.where(np.isfinite(total), total, 0.0)))
    if ctx.mean:
        total = to_half(total / run.continuation_lengths)
    allowance = 2 * fragile * _ulp(peak, mantissa_bits)
    return Evaluation(Prediction(total, np.zeros(run.n), allowance))


def _float16(ctx: Context) -> Evaluation:
    return _accumulate(ctx, to_float16, 10)


def _bfloat16(ctx: Context) -> Evaluation:
    return _accumulate(ctx, to_bfloat16, 7)


HYPOTHESES = (
    Hypothesis(
        "float16_accumulation",
        "log-probabilities rounded to float16 and accumulated in float16",
        "a_k = f16(a_{k-1} + f16(l_p)) over W, left to right",
        _float16,
    ),
    Hypothesis(
        "bfloat16_accumulation",
        "log-probabilities rounded to bfloat16 and accumulated in bfloat16",
        "a_k = bf16(a_{k-1} + bf16(l_p)) over W, left to right",
        _bfloat16,
    ),
)
