"""Sequence sums: the two rules by which seqscore totals log-probabilities.

A sequence's log-probability is the sum of its tokens' log-probabilities,
and float addition is not associative, so *which* sum matters; every total
seqscore reports comes from this module, by one of two rules:

- :func:`running_total` and :func:`row_totals`, the decoders' rule: float64,
  from ``0.0``, strictly left to right, the running sum a decoder keeps while
  it extends a path, so that greedy, beam, exact search, sampling and a
  brute-force check give bit-identical totals for the same path;
- :func:`sequence_logprob`, the scorer's rule (and perplexity's, and the
  pairwise comparisons'): numpy's pairwise ``np.sum``, in float64.

The two agree bit for bit up to 7 tokens (numpy adds fewer than 8 terms left
to right) and may differ in the last bits from 8 tokens on (about 1e-15
relative). Scores already printed pin the scorer's rule, the decoders'
tests pin theirs: making one rule of them changes printed digits, so it is
a decision about output, not a refactoring.

>>> steps = [-0.1] * 10
>>> running_total(steps), sequence_logprob(steps)
(-0.9999999999999999, -1.0)
"""

from __future__ import annotations

import numpy as np

__all__ = ["row_totals", "running_total", "sequence_logprob"]


def sequence_logprob(logprobs) -> float:
    """The sequence's score: its token log-probs summed (numpy's pairwise sum).

    A sum past the float range is ``-inf``, its correctly rounded value,
    without numpy's overflow warning.

    >>> sequence_logprob([-0.5, -0.25])
    -0.75
    """
    with np.errstate(over="ignore"):
        return float(np.sum(logprobs))


def running_total(steps) -> float:
    """A decoded path's total: ``steps`` (Python floats) added left to right
    from ``0.0``, as a decoder's running sum adds them.

    >>> running_total([-0.5, -0.25])
    -0.75
    """
    total = 0.0
    for x in steps:
        total += x
    return total


def row_totals(logprobs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """:func:`running_total` of each row's first ``lengths[i]`` entries, bit
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
    return np.add.accumulate(running, axis=1)[:, -1]
