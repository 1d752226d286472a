r"""The log-normaliser step: :math:`\log \sum_k e^{z_k - m}` as ``log1p`` of the rest.

Every log-probability seqscore computes (``logsumexp``, ``log_softmax``,
cross-entropy, the token kernel's log-probs and entropies, the Plackett-Luce
stage probabilities) needs the log of a normaliser

.. math:: Z = \sum_k e^{z_k - m}, \qquad m = \max_k z_k .

A maximal entry contributes exactly :math:`e^0 = 1`, so :math:`Z = 1 + s`
with :math:`s` the sum over the *other* entries ("the rest"), and

.. math:: \log Z = \operatorname{log1p}(s).

When one entry dominates, :math:`s` is tiny, and ``log(1 + s)`` (the plain
form) rounds :math:`1 + s` first: everything of :math:`s` below half an ulp of
1 is lost (``log_softmax([0, -40])[0]`` came out 0 instead of ``-4.2e-18``,
and ``[0, -20]`` wrong in the 8th digit). ``log1p(s)`` keeps the full relative
precision of :math:`s`. With tied maxima :math:`s \ge 1` and ``log1p`` is as
accurate as ``log``, so one formula serves every row, dominated or not.

The rest is summed over the non-maximal entries directly (the maximal
entry's ``exp`` is set to 0 first, one write per row), never as ``sum - 1``:
:math:`\mathrm{fl}(1 + s) - 1` subtracts exactly, but from a sum that has
already lost :math:`s`. The other tied maxima stay in the rest (1 each).

Precision: with the shifted logits :math:`z_k - m` exact (they are whenever
:math:`z_k` and :math:`m` are within a factor of 2 of each other, or both
small integers, ...), :math:`s` is a sum of positive terms, each from one
``exp``, summed pairwise, so its relative error is a few units of the sum's
dtype, and ``log1p`` adds at most one more. When a shifted logit is itself
rounded (by :math:`u |z_k - m|`, ``u`` the unit roundoff), that term's
``exp`` moves by the same relative amount: inherent to forming
:math:`z_k - m` in floating point (the exact answer's sensitivity to
:math:`z_k` is :math:`p_k`), and the same in scipy.

A row that is entirely ``-inf`` (shifted by 0 by convention) has no maximal
entry: every ``exp`` is 0, so :math:`Z = 0`, the rest is ``-1`` and
``log1p(-1) = -inf`` (the log of an empty sum), with no special case.

The log-probability of entry :math:`j` is then :math:`(z_j - m) -
\operatorname{log1p}(s)`: two terms <= 0, so nothing cancels; at the maximal
entry it is :math:`-\operatorname{log1p}(s)`. When the rest is known relative
to entry :math:`j` itself (:math:`\rho = \sum_{k \ne j} e^{z_k - z_j}`), it
is :math:`-\operatorname{log1p}(\rho)`, the same step.

This module is the one implementation of that step. Callers:
:mod:`seqscore.numerics.softmax` (``logsumexp``, ``log_softmax``, the gradient of the
cross-entropy; the cross-entropy itself through the kernel),
:mod:`seqscore.numerics.kernels` (per tile, with :func:`merge_rests` merging column
tiles), the Plackett-Luce stages (the rest of each choice set, relative to
the chosen item) and, through ``log_softmax``, the models' next-token rows
that the decoders read and the audit's softmax across candidates. The
decoders themselves (greedy, beam search numpy and compiled, exact search,
sampling) never normalise a row: they read the model's
log-probs as they are (sampling renormalises probabilities, not logs, with
:func:`seqscore.numerics.softmax.softmax`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Merged", "log_normaliser", "merge_rests", "rest_sum"]


def rest_sum(expd: np.ndarray, top: np.ndarray, axis: int = -1, dtype=None):
    r"""The rest :math:`s = Z - 1` of :math:`Z = \sum_k` ``expd`` along ``axis``.

    ``expd`` holds :math:`e^{z_k - m}` (every row's largest entry exactly 1,
    or all zeros for a row that is entirely ``-inf``) and is used as scratch:
    the entry at ``top`` (a maximal one; ``top`` is an argmax with ``axis``
    kept, of length 1) is set to 0. Summed in ``dtype`` (``expd``'s own by
    default) and returned as float64 with ``axis`` kept: the sum of the other
    entries, and ``-1`` for an entirely ``-inf`` row (its "maximal" entry
    was 0, not 1).

    >>> e = np.exp(np.array([[0.0, -40.0], [0.0, 0.0], [-np.inf, -np.inf]]))
    >>> rest_sum(e, np.zeros((3, 1), dtype=int)).ravel().tolist()
    [4.248354255291589e-18, 1.0, -1.0]
    """
    if expd.ndim == 2 and axis in (1, -1):  # the kernel's tiles: a fancy index
        where = (np.arange(expd.shape[0]), top.reshape(-1))
        peak_term = expd[where].astype(np.float64)
        expd[where] = 0
        rest = np.sum(expd, axis=1, dtype=dtype).astype(np.float64, copy=False)
        return (rest + (peak_term - 1.0))[:, None]
    peak_term = np.take_along_axis(expd, top, axis=axis).astype(np.float64)
    np.put_along_axis(expd, top, 0, axis=axis)
    rest = np.sum(expd, axis=axis, keepdims=True, dtype=dtype)
    # + 0 for a row whose maximal term was 1 (exact), - 1 for an empty row
    return rest.astype(np.float64, copy=False) + (peak_term - 1.0)


def log_normaliser(rest) -> np.ndarray:
    r""":math:`\log Z = \operatorname{log1p}(s)` from the rest :math:`s = Z - 1`.

    ``-inf`` for ``s = -1`` (an empty sum).

    >>> log_normaliser(np.array([4.248354255291589e-18, 1.0, -1.0])).tolist()
    [4.248354255291589e-18, 0.6931471805599453, -inf]
    """
    with np.errstate(divide="ignore"):
        return np.log1p(rest)


class Merged(NamedTuple):
    """Two parts of the same rows as one (see :func:`merge_rests`)."""

    peak: np.ndarray  # the larger maximum (float64), -inf if both parts are empty
    rest: np.ndarray  # the union's rest, relative to ``peak``
    b_first: np.ndarray  # where the second part holds the larger maximum
    scale: np.ndarray  # e^(smaller - larger) <= 1; 0 for an empty smaller part


def merge_rests(peak_a, rest_a, peak_b, rest_b) -> Merged:
    r"""The maximum and rest of the union of two parts of the same rows.

    Each part is its maximum :math:`m` (float64; ``-inf`` for an empty part)
    and its rest :math:`s` relative to it (``-1`` when empty). The union is
    relative to the larger maximum (``a``'s on a tie); the other part's
    maximal term is no longer maximal, so it joins the rest:

    .. math:: s = s_\mathrm{big} + (1 + s_\mathrm{small})\, e^{m_\mathrm{small}
              - m_\mathrm{big}}.

    The kernel merges column tiles with it, and the Plackett-Luce stages
    grow choice sets item by item.

    >>> m = merge_rests(np.array([0.0, -np.inf]), np.array([0.0, -1.0]),
    ...                 np.array([-40.0, -np.inf]), np.array([0.0, -1.0]))
    >>> m.peak.tolist(), m.rest.tolist()
    ([0.0, -inf], [4.248354255291589e-18, -1.0])
    """
    b_first = peak_b > peak_a
    peak, small = np.where(b_first, peak_b, peak_a), np.where(b_first, peak_a, peak_b)
    rest_big = np.where(b_first, rest_b, rest_a)
    rest_small = np.where(b_first, rest_a, rest_b)
    with np.errstate(invalid="ignore"):  # -inf - -inf: two empty parts
        scale = np.where(np.isneginf(small), 0.0, np.exp(small - peak))
    return Merged(peak, rest_big + (1.0 + rest_small) * scale, b_first, scale)
