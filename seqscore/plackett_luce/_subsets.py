r"""Exact rank marginals by dynamic programming over the sets of leading items.

Let ``f(T)`` be the probability that the first ``|T|`` places are taken by
the items of ``T`` (in any order) and ``R(T) = sum_{j not in T} w_j`` the worth
left over. Then

.. math::

    f(\emptyset) = 1, \qquad
    f(T \cup \{i\}) \mathrel{+}= f(T)\,\frac{w_i}{R(T)}, \qquad
    P[i, |T|] \mathrel{+}= f(T)\,\frac{w_i}{R(T)}.

Processing the sets by size (popcount layers), each set is complete before it
is used. ``log R(T)`` is tabulated once in the log domain, and each factor
``exp(s_i - log R(T)) <= 1``, so nothing overflows at any score spread; every
``f`` is a sum of products of positive numbers, so each probability is exact
to a small multiple of the rounding error (relative, not just absolute).

Cost: time ``O(n 2^n)``, memory ``O(2^n)`` floats -- 20 items take about a
second; the layers up to ``k`` suffice for top-``k`` probabilities.
"""

from __future__ import annotations

import numpy as np

__all__ = ["subset_marginals"]


def _log_leftover_worth(s: np.ndarray) -> np.ndarray:
    """``log R(T)`` for every set ``T`` (bit ``j`` of ``T`` = item ``j``)."""
    log_sum = np.array([-np.inf])
    for score in s:  # sums over every subset, by doubling: exact and stable
        log_sum = np.concatenate([log_sum, np.logaddexp(log_sum, score)])
    return log_sum[::-1]  # the complement of T is (2^n - 1) - T


def _layers(n: int) -> list[np.ndarray]:
    """All sets of ``n`` items grouped by size (as bit codes)."""
    codes = np.arange(1 << n, dtype=np.int64)
    sizes = np.bitwise_count(codes)
    order = np.argsort(sizes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(sizes, minlength=n + 1))])
    return [order[bounds[r] : bounds[r + 1]] for r in range(n + 1)]


def subset_marginals(s: np.ndarray, positions: int) -> np.ndarray:
    """``P[i, r]`` for positions ``r < positions`` (shape ``(n, positions)``).

    >>> subset_marginals(np.zeros(3), 3)   # uniform: every place 1/3
    array([[0.33333333, 0.33333333, 0.33333333],
           [0.33333333, 0.33333333, 0.33333333],
           [0.33333333, 0.33333333, 0.33333333]])
    """
    n = s.shape[0]
    log_leftover = _log_leftover_worth(s)
    reach = np.zeros(1 << n)  # f(T)
    reach[0] = 1.0
    out = np.zeros((n, positions))
    for r, sets in enumerate(_layers(n)[:positions]):
        mass, log_left = reach[sets], log_leftover[sets]
        for i in range(n):
            free = (sets >> i) & 1 == 0  # i is still unplaced
            step = mass[free] * np.exp(s[i] - log_left[free])
            out[i, r] = step.sum()
            if r + 1 < positions:
                # For a fixed i, T -> T | {i} is one-to-one: no repeated targets.
                reach[sets[free] | (1 << i)] += step
    return out
