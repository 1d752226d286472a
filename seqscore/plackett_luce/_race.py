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
converges geometrically in the step ``h``, and the grid only has to cover
``[-max s - 38, -min s + 4]``. The bump for position ``r`` narrows like
``1 / sqrt(n)`` (the Poisson-binomial count is concentrated), so the step
is ``h = min(0.2, 0.8 / sqrt(n))``.

At every node the Poisson-binomial coefficients of all ``n`` clocks are built
once (``O(n^2)``) and each item's own factor ``(q_i + p_i x)`` is divided out
again, forward when ``p_i <= 1/2`` and backward otherwise, so the division
never amplifies rounding errors. Total cost ``O(M n^2)`` for
``M = (spread + 42) / h`` nodes, i.e. ``O(n^2.5)``: 100 items take ~0.1 s,
400 items ~5 s. The result is accurate to about ``1e-13`` absolute (tested
against the exact subset recursion), not relative: a probability below that
is not resolved.
"""

from __future__ import annotations

import numpy as np

__all__ = ["race_marginals"]

# Grid step in log-time. The Poisson-binomial bumps narrow like 1/sqrt(n) in
# u, so the step does too: min(0.2, 0.8 / sqrt(n)) keeps the quadrature error
# near 1e-14 (measured against the exact recursion, and by the column sums, for
# near-equal scores, the sharpest case, up to 400 items).
_STEP, _STEP_SCALE = 0.2, 0.8
# Integration range relative to the scores (see the module notes).
_LEFT, _RIGHT = 38.0, 4.0
# Items handled per block of the leave-one-out division (bounds memory).
_BLOCK_VALUES = 1 << 23


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


def _leave_one_out(coef, p, q) -> np.ndarray:
    """Divide ``(q_i + p_i x)`` out of ``coef``: ``(M, items, n)`` coefficients."""
    n = coef.shape[1] - 1
    out_fwd = np.empty((*p.shape, n))
    out_bwd = np.empty((*p.shape, n))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out_fwd[..., 0] = coef[:, None, 0] / q
        for r in range(1, n):
            out_fwd[..., r] = (coef[:, None, r] - p * out_fwd[..., r - 1]) / q
        out_bwd[..., n - 1] = coef[:, None, n] / p
        for r in range(n - 1, 0, -1):
            out_bwd[..., r - 1] = (coef[:, None, r] - q * out_bwd[..., r]) / p
    return np.where((p <= 0.5)[..., None], out_fwd, out_bwd)


def race_marginals(s: np.ndarray, positions: int) -> np.ndarray:
    """``P[i, r]`` for ``r < positions`` by the race integral (``(n, positions)``).

    >>> P = race_marginals(np.log([2.0, 1.0]), 2)   # exactly [[2, 1], [1, 2]] / 3
    >>> float(np.abs(P - np.array([[2, 1], [1, 2]]) / 3).max()) < 1e-14
    True
    """
    s = s - s.max()
    n = s.shape[0]
    step = min(_STEP, _STEP_SCALE / np.sqrt(n))
    u = np.arange(-_LEFT, -s.min() + _RIGHT + step, step)
    rate = np.exp(s[None, :] + u[:, None])  # w_j t at every node
    p, q = -np.expm1(-rate), np.exp(-rate)
    coef = _poisson_binomial(p, q)
    density = rate * q * step  # w_i t e^{-w_i t} du, the trapezoid weight
    out = np.empty((n, positions))
    block = max(1, _BLOCK_VALUES // (len(u) * n))
    for lo in range(0, n, block):
        items = slice(lo, lo + block)
        others = _leave_one_out(coef, p[:, items], q[:, items])
        out[items] = np.einsum("mi,mir->ir", density[:, items], others[..., :positions])
    # Rounding can leave a true 0 at -1e-17; a probability is never negative.
    return np.clip(out, 0.0, 1.0)
