r"""Rank marginals for many items from the exponential-race integral.

A Plackett-Luce ranking is the order in which independent exponential clocks
``T_j ~ Exp(w_j)`` ring. Item ``i`` is at position ``r`` when exactly ``r``
other clocks ring before its own:

.. math::

    P[i, r] = \int_0^\infty w_i e^{-w_i t}\,
              \Pr\big(\#\{j \ne i : T_j < t\} = r\big)\,dt,

where the count is Poisson-binomial with ``p_j(t) = 1 - e^{-w_j t}``. With
``t = e^u`` the integrand is a smooth bump of width ~1 in ``u`` for each item,
decaying like ``e^{u + s_i}`` on the left and ``exp(-e^{u + s_i})`` on the
right, analytic in a strip -- so the trapezoid rule on a uniform grid in ``u``
converges geometrically in the step ``h``. The bump for position ``r``
narrows like ``1 / sqrt(n)`` (the Poisson-binomial count is concentrated), so
the step is ``h = min(0.2, 0.8 / sqrt(n))``.

Only where the clocks are: item ``i``'s own density matters for
``x_i = s_i + u`` in ``[-38, 4]``, so the grid covers the union of those
windows (runs of overlapping windows, each with its own grid) and never the
empty stretches between widely spread scores. The grid is cut into segments
of a few units of ``u``; within a segment a clock with ``x_j > 4`` everywhere
has rung for sure (``q_j < e^{-54}``: it only shifts the count by one), a
clock with ``x_j < -40`` everywhere is silent (``p_j < e^{-40}``: left out,
which moves any count probability by at most ``n e^{-40}``), and only the
clocks in between -- the *live* ones -- enter the Poisson binomial. Every
exponent is thus in ``[-48, 12]``: nothing overflows at any score spread, and
the work follows the number of clocks that can ring at the same time.

Leaving one clock out, two ways:

* many positions -- the Poisson-binomial coefficients of all live clocks are
  built once per node (``O(a^2)``) and each item's own factor
  ``(q_i + p_i x)`` divided out again, forward when ``p_i <= 1/2`` and
  backward otherwise, so the division never amplifies rounding errors;
* the first ``k`` positions only (``k`` small) -- prefix and suffix products
  of the factors, truncated at degree ``k``, multiplied together
  (``O(a k^2)`` per node, sums of products of non-negative numbers).

Total cost ``O(M a^2)`` for ``M`` nodes and ``a`` live clocks, i.e.
``O(n^2.5)`` for near-equal scores (100 items ~0.1 s, 400 items ~5 s), far
less for the first few positions or widely spread scores. The result is
accurate to about ``1e-13`` absolute (tested against the exact subset
recursion), not relative: a probability below that is not resolved.
"""

from __future__ import annotations

import numpy as np

__all__ = ["race_marginals"]

# Grid step in log-time. The Poisson-binomial bumps narrow like 1/sqrt(n) in
# u, so the step does too: min(0.2, 0.8 / sqrt(n)) keeps the quadrature error
# near 1e-14 (measured against the exact recursion, and by the column sums, for
# near-equal scores, the sharpest case, up to 400 items).
_STEP, _STEP_SCALE = 0.2, 0.8
# An item's own density e^x exp(-e^x) (x = s + u) is below 3e-17 left of
# x = -38 and below 1e-22 right of x = 4: the grid covers [-38, 4] per item.
_LEFT, _RIGHT = 38.0, 4.0
# Clocks with x above _RUNG at every node of a segment have rung
# (q < exp(-e^4) < 2e-24); below -_SILENT they have not (p < e^-40 < 5e-18).
_RUNG, _SILENT = 4.0, 40.0
# Length in u of a segment of nodes that share one set of live clocks.
_SEGMENT = 8.0
# Values per temporary (m, items, positions) array (bounds memory: 64 MiB).
_BLOCK_VALUES = 1 << 23


def _step(n: int) -> float:
    """The largest ``b 2^e`` (``b`` in 4..7) at most ``min(0.2, 0.8 / sqrt(n))``.

    Three significant bits: every node ``index * step`` is then an exact
    float, so ``x = u - (max s - s_j)`` is one correctly rounded subtraction
    even far from the top score (``u`` near 14000 would otherwise carry
    rounding errors of ~1e-12 into every node, differently for each item).
    """
    target = min(_STEP, _STEP_SCALE / np.sqrt(n))
    unit = 2.0 ** (np.floor(np.log2(target)) - 2)
    return float(np.floor(target / unit) * unit)


def _runs(neg: np.ndarray) -> list[tuple[float, float]]:
    """``[start, end]`` in ``u`` of the runs of overlapping item windows.

    ``neg`` is ``-s`` in ascending order; item ``j``'s window is
    ``[neg_j - 38, neg_j + 4]``, so the ends ascend too.
    """
    starts, ends = neg - _LEFT, neg + _RIGHT
    breaks = np.flatnonzero(starts[1:] > ends[:-1]) + 1
    first = np.concatenate([[0], breaks])
    last = np.concatenate([breaks - 1, [len(neg) - 1]])
    return [
        (float(starts[a]), float(ends[b])) for a, b in zip(first, last, strict=True)
    ]


def _segments(neg: np.ndarray, step: float, nodes_per_segment: int):
    """Nodes ``index * step`` covering every run, ``nodes_per_segment`` at a time."""
    for start, end in _runs(neg):
        first, last = int(np.floor(start / step)), int(np.ceil(end / step))
        for lo in range(first, last + 1, nodes_per_segment):
            yield np.arange(lo, min(last + 1, lo + nodes_per_segment)) * step


def _poisson_binomial(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Coefficients of ``prod_j (q_j + p_j x)`` per node: ``(M, n + 1)``."""
    nodes, n = p.shape
    coef = np.zeros((nodes, n + 1))
    coef[:, 0] = 1.0
    for j in range(n):
        shifted = coef[:, : j + 1] * p[:, j : j + 1]
        coef[:, : j + 1] *= q[:, j : j + 1]
        coef[:, 1 : j + 2] += shifted
    return coef


def _divide_out(coef, p, q, width: int) -> np.ndarray:
    """Coefficients ``< width`` of ``coef / (q_i + p_i x)``: ``(M, items, width)``.

    Forward (from degree 0) when ``p_i <= 1/2``, backward (from the top
    degree) otherwise: either way each step divides by the larger of the two.
    """
    n = coef.shape[1] - 1
    fwd = np.empty((*p.shape, width))
    bwd = np.empty((*p.shape, width))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        fwd[..., 0] = coef[:, None, 0] / q
        for r in range(1, width):
            fwd[..., r] = (coef[:, None, r] - p * fwd[..., r - 1]) / q
        value = coef[:, None, n] / p  # degree n - 1
        for r in range(n - 1, 0, -1):
            if r < width:
                bwd[..., r] = value
            value = (coef[:, None, r] - q * value) / p  # degree r - 1
        bwd[..., 0] = value
    return np.where((p <= 0.5)[..., None], fwd, bwd)


def _by_division(p, q, density, width: int) -> np.ndarray:
    """``sum_m density[m, i] * P(count of the others = r)``, ``r < width``."""
    nodes, n = p.shape
    coef = _poisson_binomial(p, q)
    out = np.empty((n, width))
    block = max(1, _BLOCK_VALUES // (nodes * n))
    for lo in range(0, n, block):
        items = slice(lo, lo + block)
        others = _divide_out(coef, p[:, items], q[:, items], width)
        out[items] = np.einsum("mi,mir->ir", density[:, items], others)
    return out


def _truncated_prefixes(p, q, width: int) -> np.ndarray:
    """``out[i, r]``: coefficient ``r < width`` of ``prod_{j < i} (q_j + p_j x)``.

    ``p`` and ``q`` are ``(n, M)``, item first, so that every step of the
    product is one contiguous ``(width, M)`` block.
    """
    n, nodes = p.shape
    out = np.zeros((n, width, nodes))
    out[0, 0] = 1.0
    for j in range(1, n):
        np.multiply(out[j - 1], q[j - 1], out=out[j])
        out[j, 1:] += out[j - 1, :-1] * p[j - 1]
    return out


def _by_products(p, q, density, width: int) -> np.ndarray:
    """As :func:`_by_division`, from truncated prefix and suffix products."""
    nodes, n = p.shape
    out = np.zeros((n, width))
    block = max(1, _BLOCK_VALUES // (n * width))
    for lo in range(0, nodes, block):
        p_t, q_t = p[lo : lo + block].T.copy(), q[lo : lo + block].T.copy()
        before = _truncated_prefixes(p_t, q_t, width)
        after = _truncated_prefixes(p_t[::-1], q_t[::-1], width)[::-1]
        weight = density[lo : lo + block].T
        for r in range(width):  # coefficient r of the product of the two
            others = before[:, 0] * after[:, r]
            for t in range(1, r + 1):
                others += before[:, t] * after[:, r - t]
            out[:, r] += np.einsum("im,im->i", weight, others)
    return out


def _leave_one_out(p, q, density, width: int) -> np.ndarray:
    # Products cost ~ width^2 / 2 + 4 width per item and node, division ~ the
    # number of live clocks: measured break-even near width (width + 8) = 5 n.
    if width * (width + 8) <= 5 * p.shape[1]:
        return _by_products(p, q, density, width)
    return _by_division(p, q, density, width)


def race_marginals(s: np.ndarray, positions: int) -> np.ndarray:
    """``P[i, r]`` for ``r < positions`` by the race integral (``(n, positions)``).

    >>> P = race_marginals(np.log([2.0, 1.0]), 2)   # exactly [[2, 1], [1, 2]] / 3
    >>> float(np.abs(P - np.array([[2, 1], [1, 2]]) / 3).max()) < 1e-14
    True
    """
    n = s.shape[0]
    order = np.argsort(-s, kind="stable")
    neg = s.max() - s[order]  # ascending, from 0: where each item's bump is
    step = _step(n)
    out = np.zeros((n, positions))
    for u in _segments(neg, step, max(1, int(_SEGMENT / step))):
        rung = int(np.searchsorted(neg, u[0] - _RUNG, side="left"))
        live = int(np.searchsorted(neg, u[-1] + _SILENT, side="right"))
        width = min(positions - rung, live - rung)
        if width <= 0:  # at least `positions` clocks have surely rung
            continue
        x = u[:, None] - neg[None, rung:live]  # s_j + u, in [-48, 12]
        rate = np.exp(x)
        p, q = -np.expm1(-rate), np.exp(-rate)
        density = rate * q * step  # w_i t e^{-w_i t} du, the trapezoid weight
        part = _leave_one_out(p, q, density, width)
        out[order[rung:live], rung : rung + width] += part
    # Rounding can leave a true 0 at -1e-17; a probability is never negative.
    return np.clip(out, 0.0, 1.0)
