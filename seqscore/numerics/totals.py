"""Sequence sums: the one rule by which seqscore totals log-probabilities.

A sequence's log-probability is the sum of its tokens' log-probabilities,
and float addition is not associative, so *which* sum matters. Every total
seqscore reports (the scorer's, perplexity's, the pairwise comparisons', and
every decoder's, for greedy, beam, exact search and sampling) is the same
float64 sum, from ``0.0``, strictly left to right:

.. math:: s_0 = 0, \\qquad s_t = \\mathrm{fl}(s_{t-1} + \\log p_t).

This is the running sum a decoder keeps while it extends a path, so the law

    ``total(path + [t]) == total(path) + logprob(t)``, bit for bit,

holds, and the scorer and a decoder give the same bits for the same path.
numpy's pairwise ``np.sum`` (the scorer's rule until December 2026; it
agrees up to 7 tokens) and a correctly rounded ``math.fsum`` may differ from it in the
last bits from 8 tokens on: the error of a left-to-right sum is at most
``(n - 1)`` units of roundoff times the sum of magnitudes, about 1e-13
relative for 1,000 tokens, far below the float32 rounding of any logits.

>>> steps = [-0.1] * 10
>>> sequence_logprob(steps)
-0.9999999999999999
"""

from __future__ import annotations

import numpy as np

__all__ = ["row_totals", "sequence_logprob"]


def sequence_logprob(logprobs) -> float:
    """The sequence's score: its token log-probs summed left to right from
    ``0.0`` in float64 (the module's rule).

    A sum past the float range is ``-inf``, without numpy's overflow warning;
    an empty sequence scores ``0.0``.

    >>> sequence_logprob([-0.5, -0.25])
    -0.75
    >>> sequence_logprob([])
    0.0
    """
    values = np.asarray(logprobs, dtype=np.float64).reshape(-1)
    if not values.size:
        return 0.0
    with np.errstate(over="ignore"):
        # 0.0 + s equals the sum started from 0.0: they can differ only in
        # the sign of a zero total, which 0.0 + makes positive
        return 0.0 + float(np.add.accumulate(values)[-1])


def row_totals(logprobs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """:func:`sequence_logprob` of each row's first ``lengths[i]`` entries, bit
    for bit, in one array pass.

    ``np.add.accumulate`` adds strictly in order, from a column of ``0.0``;
    the entries past a row's length count as ``-0.0``, which leaves every
    float unchanged.

    >>> row_totals(np.array([[-0.5, -0.25], [-1.0, 7.0]]), np.array([2, 1])).tolist()
    [-0.75, -1.0]
    """
    k, t = logprobs.shape
    inside = np.arange(t) < lengths[:, None]
    running = np.zeros((k, t + 1))
    running[:, 1:] = np.where(inside, logprobs, -0.0)
    with np.errstate(over="ignore"):
        return np.add.accumulate(running, axis=1)[:, -1]
