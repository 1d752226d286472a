r"""Exact rank marginals by dynamic programming over the sets of leading items.

Let ``f(T)`` be the probability that the first ``|T|`` places are taken by
the items of ``T`` (in any order) and ``R(T) = sum_{j not in T} w_j`` the worth
left over. Then

.. math::

    f(\emptyset) = 1, \qquad
    f(T \cup \{i\}) \mathrel{+}= f(T)\,\frac{w_i}{R(T)}, \qquad
    P[i, |T|] \mathrel{+}= f(T)\,\frac{w_i}{R(T)}.

Processing the sets by size (popcount layers), each set is complete before it
is used. The leftover worth is tabulated once, relative to its largest term:
with ``m(T)`` the highest score left over, ``L(T) = log sum_{j not in T}
e^{s_j - m(T)}`` is in ``[0, log n]``, and each factor is
``exp((s_i - m(T)) - L(T)) <= 1``. Nothing overflows at any score spread, and
no large log-worth is ever subtracted from another one of the same size (as
``s_i - log R(T)`` would: at scores near -900 that alone is a relative error
of 1e-13). Every ``f`` is a sum of products of positive numbers, so each
probability is exact to a small multiple of the rounding error -- relative,
not just absolute -- up to the conditioning of ``exp(s_i - m(T))`` itself.

Cost: time ``O(n 2^n)``, memory ``O(2^n)`` floats -- 20 items take about a
second; the layers up to ``k`` suffice for top-``k`` probabilities.
"""

from __future__ import annotations

import numpy as np

__all__ = ["subset_marginals"]


def _lowest_bit(codes: np.ndarray) -> np.ndarray:
    """Index of the lowest set bit of each (nonzero) code."""
    return np.bitwise_count((codes & -codes) - 1)


def _relative_leftover(s: np.ndarray) -> np.ndarray:
    """``L(U) = log sum_{j in U} e^{s_j - s_top(U)}`` for every set ``U``.

    ``s`` is in descending order, so the top of ``U`` is its lowest bit.
    Built by doubling: adding item ``k`` (below every item already in the
    table) to ``U`` adds ``e^{s_k - s_top(U)}``, a difference of two scores.
    """
    table = np.array([np.nan, 0.0])  # U = {} (never used), U = {0}
    for k in range(1, s.shape[0]):
        codes = np.arange(1, table.shape[0])
        below = s[k] - s[_lowest_bit(codes)]
        extended = np.concatenate([[0.0], np.logaddexp(table[1:], below)])
        table = np.concatenate([table, extended])
    return table


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
    order = np.argsort(-s, kind="stable")
    ranked = s[order]
    leftover = _relative_leftover(ranked)
    everything = (1 << n) - 1
    reach = np.zeros(1 << n)  # f(T)
    reach[0] = 1.0
    out = np.empty((n, positions))
    for r, sets in enumerate(_layers(n)[:positions]):
        left = everything ^ sets
        mass, top, log_left = reach[sets], ranked[_lowest_bit(left)], leftover[left]
        for i in range(n):
            free = (sets >> i) & 1 == 0  # i is still unplaced
            step = mass[free] * np.exp((ranked[i] - top[free]) - log_left[free])
            out[order[i], r] = step.sum()
            if r + 1 < positions:
                # For a fixed i, T -> T | {i} is one-to-one: no repeated targets.
                reach[sets[free] | (1 << i)] += step
    return out
