r"""Exact rank marginals of a Plackett-Luce distribution.

``P[i, r]`` is the probability that item ``i`` ends at position ``r``
(0-based, best first) when a full ranking is drawn with scores ``s``. Rows and
columns each sum to 1. Two methods, chosen by ``method="auto"``:

* ``"subsets"`` -- a dynamic programme over the sets of leading items
  (:mod:`._subsets`): exact to rounding, *relative* accuracy even for
  probabilities like ``1e-200``; time ``O(n 2^n)``, memory ``O(2^n)``. Used
  by ``"auto"`` up to 20 items (about a second); possible up to 24.
* ``"race"`` -- the exponential-race integral by the trapezoid rule
  (:mod:`._race`): absolute error about ``1e-13``; time ``O(n^2.5)`` (100
  items ~0.1 s). Used by ``"auto"`` beyond 20 items, up to 1000.

Expected ranks need no marginals: ``P(j before i) = w_j / (w_i + w_j)`` for
any two items, so ``E[rank_i] = 1 + sum_{j != i} sigmoid(s_j - s_i)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ..errors import InvalidInputError
from ._race import race_marginals
from ._rankings import check_scores
from ._subsets import subset_marginals

__all__ = [
    "MAX_ITEMS",
    "METHODS",
    "expected_ranks",
    "marginal_rank_probabilities",
    "top_k_probabilities",
]

METHODS = ("auto", "subsets", "race")
# The most items any exact method takes (the race integral, O(n^2.5)).
MAX_ITEMS = 1000
_AUTO_SUBSETS_MAX = 20
_LIMITS = {"subsets": 24, "race": MAX_ITEMS}
_PAIR_BLOCK = 1 << 22


def _method_for(n: int, method: str) -> str:
    if method not in METHODS:
        raise InvalidInputError(
            f"method must be one of {', '.join(METHODS)}, got {method!r}"
        )
    if method == "auto":
        method = "subsets" if n <= _AUTO_SUBSETS_MAX else "race"
    if n > _LIMITS[method]:
        raise InvalidInputError(
            f"method {method!r} handles up to {_LIMITS[method]} items, got {n}; "
            "estimate the marginals from sample(...) rankings instead"
        )
    return method


def _marginals(s: np.ndarray, positions: int, method: str) -> np.ndarray:
    if _method_for(s.shape[0], method) == "subsets":
        return subset_marginals(s, positions)
    return race_marginals(s, positions)


def marginal_rank_probabilities(scores, *, method: str = "auto") -> np.ndarray:
    r"""The ``(n, n)`` matrix ``P[i, r] = Pr(item i at position r)``, exactly.

    :math:`P[i, 0]` is the softmax of the scores; every row and column sums
    to 1. Scores must be finite; only their differences matter. See the
    module notes for ``method``.

    Three items with worths 3, 2, 1. Enumerating the 6 orderings gives, in
    120ths, (0,1,2) 40, (0,2,1) 20, (1,0,2) 30, (1,2,0) 10, (2,0,1) 12,
    (2,1,0) 8 (e.g. ``(1,0,2)``: 2/6 * 3/4), hence:

    >>> P = marginal_rank_probabilities(np.log([3.0, 2.0, 1.0]))
    >>> (P * 120).round(6)
    array([[60., 42., 18.],
           [40., 48., 32.],
           [20., 30., 70.]])
    >>> marginal_rank_probabilities([0.0])
    array([[1.]])
    """
    s = check_scores(scores)
    return _marginals(s, s.shape[0], method)


def top_k_probabilities(scores, k: int, *, method: str = "auto") -> np.ndarray:
    r"""``Pr(item i among the first k)`` for every item (``(n,)``, sums to ``k``).

    :math:`\sum_{r < k} P[i, r]`; only the first ``k`` positions are computed
    (with ``"subsets"`` only the sets of up to ``k`` items).

    >>> (top_k_probabilities(np.log([3.0, 2.0, 1.0]), 2) * 120).round(6)  # see above
    array([102.,  88.,  50.])
    """
    s = check_scores(scores)
    if int(k) != k or not 1 <= k <= s.shape[0]:
        raise InvalidInputError(f"k must be an integer in [1, {s.shape[0]}], got {k!r}")
    return _marginals(s, int(k), method).sum(axis=1)


def expected_ranks(scores) -> np.ndarray:
    r"""Expected 1-based ranks: :math:`1 + \sum_{j \ne i} \sigma(s_j - s_i)`.

    Exact in closed form (pairwise orders in Plackett-Luce depend only on the
    two items), ``O(n^2)`` time, any ``n``.

    >>> expected_ranks(np.log([3.0, 2.0, 1.0])) * 60   # 1 + 2/5 + 1/4 = 99/60
    array([ 99., 116., 145.])
    >>> expected_ranks([5.0, 5.0])
    array([1.5, 1.5])
    """
    s = check_scores(scores)
    n = s.shape[0]
    out = np.empty(n)
    rows = max(1, _PAIR_BLOCK // n)
    for lo in range(0, n, rows):
        block = s[lo : lo + rows]
        # sigma(0) = 1/2 on the diagonal: subtract it rather than mask it.
        out[lo : lo + rows] = 0.5 + expit(s[None, :] - block[:, None]).sum(axis=1)
    return out
