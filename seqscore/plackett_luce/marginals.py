r"""Exact rank marginals of a Plackett-Luce distribution.

``P[i, r]`` is the probability that item ``i`` ends at position ``r``
(0-based, best first) when a full ranking is drawn with scores ``s``. Rows and
columns each sum to 1. Two methods, chosen by ``method="auto"``:

* ``"subsets"`` -- a dynamic programme over the sets of leading items
  (:mod:`._subsets`): exact to rounding, *relative* accuracy even for
  probabilities like ``1e-200``; time ``O(n 2^n)``, memory ``O(2^n)``. Used
  by ``"auto"`` up to 20 items (about a second); possible up to 24.
* ``"race"`` -- the exponential-race integral by the trapezoid rule
  (:mod:`._race`): absolute error about ``1e-13``; time ``O(n^2.5)`` for
  near-equal scores (100 items ~0.1 s), much less for the first few positions
  (1000 items, 10 positions: ~1 s). Used by ``"auto"`` beyond 20 items, up to
  1000.

Widely separated scores first split the items into groups ranked one after
the other: when sorted scores differ by more than 760 nats, the chance that
any item below the gap is ranked above any item over it is below
``n^2 e^-760 < 1e-324`` -- zero in float64 -- so ``P`` is block-diagonal
and each group's block is computed on its own (``"auto"`` choosing the method
per group) and placed at its offset. This is exact, and keeps the race
integral's grid bounded at any score spread.

Expected ranks need no marginals: ``P(j before i) = w_j / (w_i + w_j)`` for
any two items, so ``E[rank_i] = 1 + sum_{j != i} sigmoid(s_j - s_i)``.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import expit

from seqscore.errors import InvalidInputError
from seqscore.numerics._arrays import check_integer
from seqscore.plackett_luce._race import race_marginals
from seqscore.plackett_luce._rankings import check_scores
from seqscore.plackett_luce._subsets import subset_marginals

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
# Sorted scores further apart than this separate groups ranked in order
# for sure: P(some lower item beats some higher one) <= (n/2)^2 e^-760
# < 2.5e-324 for n <= MAX_ITEMS, below half the smallest float64.
_SEPARATING_GAP = 760.0


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


def _separated_groups(s: np.ndarray):
    """``(items, first position)`` of the groups split by the separating gap."""
    order = np.argsort(-s, kind="stable")
    ranked = s[order]
    with np.errstate(over="ignore"):  # 1e308 - -1e308 is inf: a gap all the same
        gaps = ranked[:-1] - ranked[1:]
    bounds = [0, *(np.flatnonzero(gaps > _SEPARATING_GAP) + 1), len(s)]
    return [(order[a:b], a) for a, b in itertools.pairwise(bounds)]


def _group_marginals(s: np.ndarray, positions: int, method: str) -> np.ndarray:
    if s.shape[0] == 1:
        return np.ones((1, 1))
    if method == "subsets" or (method == "auto" and s.shape[0] <= _AUTO_SUBSETS_MAX):
        return subset_marginals(s, positions)
    return race_marginals(s, positions)


def _marginals(s: np.ndarray, positions: int, method: str) -> np.ndarray:
    """The first ``positions`` columns of ``P``, group by group."""
    _method_for(s.shape[0], method)
    out = np.zeros((s.shape[0], positions))
    for items, first in _separated_groups(s):
        if first >= positions:
            break
        width = min(positions - first, len(items))
        block = _group_marginals(s[items], width, method)
        out[items, first : first + width] = block
    return out


def _count_in_range(value, n: int, name: str) -> int:
    """``value`` as an integer in ``[1, n]``, or an error naming ``name``."""
    return check_integer(value, name, minimum=1, maximum=n)


def marginal_rank_probabilities(
    scores, *, method: str = "auto", positions: int | None = None
) -> np.ndarray:
    r"""The ``(n, n)`` matrix ``P[i, r] = Pr(item i at position r)``, exactly.

    :math:`P[i, 0]` is the softmax of the scores; every row and column sums
    to 1. Scores must be finite; only their differences matter. See the
    module notes for ``method``. ``positions=k`` computes only the first
    ``k`` columns (``(n, k)``), which is much cheaper for many items.

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
    n = s.shape[0]
    count = n if positions is None else _count_in_range(positions, n, "positions")
    return _marginals(s, count, method)


def top_k_probabilities(scores, k: int, *, method: str = "auto") -> np.ndarray:
    r"""``Pr(item i among the first k)`` for every item (``(n,)``, sums to ``k``).

    :math:`\sum_{r < k} P[i, r]`; only the first ``k`` positions are computed
    (with ``"subsets"`` only the sets of up to ``k`` items).

    >>> (top_k_probabilities(np.log([3.0, 2.0, 1.0]), 2) * 120).round(6)  # see above
    array([102.,  88.,  50.])
    """
    s = check_scores(scores)
    return _marginals(s, _count_in_range(k, s.shape[0], "k"), method).sum(axis=1)


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
        # sigma(0) = 1/2 on the diagonal: subtract it rather than mask it. A
        # difference past the float range is +-inf, and sigma of it 1 or 0.
        with np.errstate(over="ignore"):
            gaps = s[None, :] - block[:, None]
        out[lo : lo + rows] = 0.5 + expit(gaps).sum(axis=1)
    return out
