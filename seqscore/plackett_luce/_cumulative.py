r"""Cumulative log-sum-exp down the positions of a batch of rankings.

``log_cumsum_exp(a)[r, i] = log sum_{j <= r} exp(a[j, i])`` (or ``j >= r``
with ``reverse=True``), for an array laid out positions x rankings.

Fast path: shift each column by its maximum, exponentiate, cumulative-sum,
take the log. Every term is then <= 1, so nothing overflows, and a partial sum
is exact to rounding unless *all* its terms underflowed (a prefix or suffix
that is ``e^-700`` times lighter than the column's maximum). Those columns, and
only those, are recomputed with ``np.logaddexp.accumulate``, which is exact at
any magnitude but slower. ``-inf`` entries are empty terms; a partial sum of
nothing is ``-inf``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRUSTED_PARTIAL_SUM", "log_cumsum_exp", "shifted_cumsum_exp"]

#: A partial sum of shifted exponentials below this may have lost its terms to
#: underflow (exp(-700) is still a normal float64; exp(-745) is 0).
TRUSTED_PARTIAL_SUM = float(np.exp(-700.0))


def _cumsum_positions(values: np.ndarray, reverse: bool, out=None) -> np.ndarray:
    """Cumulative sum down axis 0, one contiguous row at a time (into ``out``,
    by default in place)."""
    if out is None:
        out = values
    elif len(values):
        first = -1 if reverse else 0
        out[first] = values[first]
    rows = range(values.shape[0] - 2, -1, -1) if reverse else range(1, values.shape[0])
    step = 1 if reverse else -1
    for r in rows:
        np.add(values[r], out[r + step], out=out[r])
    return out


def shifted_cumsum_exp(a: np.ndarray, *, reverse: bool = False, keep_terms=False):
    r"""``(peak, partial)``: each column's maximum and the cumulative sums of
    :math:`e^{a_j - peak}` down axis 0 (``j >= r`` reversed), the fast path.

    A column that is entirely ``-inf`` gets a peak of 0. A partial sum is
    exact to rounding where it is at least :data:`TRUSTED_PARTIAL_SUM` (or
    holds no term at all); below, its terms may have underflowed. With
    ``keep_terms`` the terms themselves come third.

    >>> peak, partial = shifted_cumsum_exp(np.array([[0.0], [-40.0]]), reverse=True)
    >>> peak.tolist(), partial.ravel().tolist()
    ([0.0], [1.0, 4.248354255291589e-18])
    """
    peak = a.max(axis=0) if a.shape[0] else np.zeros(a.shape[1:])
    peak[~np.isfinite(peak)] = 0.0  # an all -inf column: every sum is empty
    terms = np.subtract(a, peak)
    with np.errstate(invalid="ignore", over="ignore"):
        np.exp(terms, out=terms)
    if not keep_terms:
        return peak, _cumsum_positions(terms, reverse)
    return peak, _cumsum_positions(terms, reverse, np.empty_like(terms)), terms


def log_cumsum_exp(
    a: np.ndarray,
    *,
    reverse: bool = False,
    needed: np.ndarray | None = None,
    parts=None,
) -> np.ndarray:
    r"""Stable :math:`\log \sum_{j \le r} e^{a_j}` down axis 0 (``j >= r`` reversed).

    ``needed`` (same shape, boolean) marks the entries the caller will use
    and whose sums are known to be non-empty; an unmarked tiny partial sum is
    not worth an exact recomputation. Without it every entry counts, so a
    column with an empty partial sum takes the exact (slower) path.
    ``parts``: :func:`shifted_cumsum_exp` of ``a`` already computed (left
    unchanged).

    >>> a = np.array([[0.0], [-1000.0], [-1000.0]])
    >>> log_cumsum_exp(a, reverse=True).ravel().round(6).tolist()
    [0.0, -999.306853, -1000.0]
    >>> log_cumsum_exp(np.array([[-np.inf], [1.0]])).ravel().tolist()
    [-inf, 1.0]
    """
    if a.shape[0] == 0:
        return np.array(a, dtype=np.float64)
    own = parts is None
    peak, partial = shifted_cumsum_exp(a, reverse=reverse) if own else parts
    if needed is None:
        lost = partial.min(axis=0) < TRUSTED_PARTIAL_SUM
    else:
        lost = ((partial < TRUSTED_PARTIAL_SUM) & needed).any(axis=0)
    with np.errstate(divide="ignore"):
        out = np.log(partial, out=partial if own else None)
    out += peak
    if lost.any():
        columns = np.flatnonzero(lost)
        block = a[:, columns]
        if reverse:
            out[:, columns] = np.logaddexp.accumulate(block[::-1], axis=0)[::-1]
        else:
            out[:, columns] = np.logaddexp.accumulate(block, axis=0)
    return out
