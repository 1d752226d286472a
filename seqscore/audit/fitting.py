r"""Fitting the one parameter of a hypothesis (temperature, length penalty).

The parameter :math:`\theta` minimises the tolerance-weighted squared
residuals :math:`\sum_i \rho_i^2`, :math:`\rho_i = (r_i - \hat r_i(\theta)) /
\tau_i` (each :math:`|\rho_i|` capped at :math:`10^{100}` so the sum cannot
overflow): a coarse grid finds the basin, bounded Brent refines it, and
Gauss-Newton steps polish it below Brent's :math:`\sqrt{\epsilon}`
resolution, which exact float64 reports need. (A robust loss such as
:math:`\log(1 + \rho^2)` would be wrong here: it rewards matching one
candidate exactly, so with few candidates it settles where a single
prediction crosses its report.) When the optimum leaves some candidate
outside its tolerance, the worst weighted residual :math:`\max_i |\rho_i|` is
minimised in the same basin, because fitting means "every candidate within
tolerance", which is a minimax criterion. Candidates whose prediction and
report disagree on being finite count as a residual larger than any finite
one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seqscore.audit.noise import NoiseModel, Prediction, compare

__all__ = ["Fit", "fit_parameter"]

_POLISH_STEPS = 4
_CAP = 1e100
_MISMATCH = 1e201  # a candidate whose finiteness disagrees: worse than any cap


@dataclass(frozen=True)
class Fit:
    """The fitted parameter and the prediction it gives."""

    parameter: float
    prediction: Prediction
    worst_ratio: float


def fit_parameter(
    predict: Callable[[float], Prediction],
    reported: np.ndarray,
    noise: NoiseModel,
    bounds: tuple[float, float],
    *,
    grid: int = 17,
) -> Fit:
    """Fit ``theta`` in ``bounds`` so that ``predict(theta)`` matches ``reported``.

    >>> n = np.array([1.0, 2.0, 4.0])
    >>> s = np.array([-1.0, -3.0, -5.0])
    >>> def predict(alpha):
    ...     return Prediction(s / n**alpha, np.abs(s) + 1)
    >>> fit = fit_parameter(predict, s / n**0.6, NoiseModel(compute_dtype="float64"),
    ...                     (-1.0, 3.0))
    >>> round(fit.parameter, 6), fit.worst_ratio <= 1
    (0.6, True)
    """
    cache: dict[float, tuple[Prediction, np.ndarray]] = {}

    def ratios(theta: float) -> np.ndarray:
        if theta not in cache:
            prediction = predict(theta)
            residuals = compare(prediction, reported, noise)
            ratio = np.where(np.isfinite(residuals.ratio), residuals.ratio, np.inf)
            cache[theta] = (prediction, ratio[residuals.evaluated])
        return cache[theta][1]

    def squares(theta: float) -> float:
        r = ratios(theta)
        finite = np.isfinite(r)
        capped = np.minimum(r[finite], _CAP)
        return float(np.sum(capped**2) + _MISMATCH * np.sum(~finite))

    def worst(theta: float) -> float:
        r = ratios(theta)
        return float(r.max()) if r.size else 0.0

    lo, hi = bounds
    points = np.linspace(lo, hi, grid)
    best = int(np.argmin([squares(t) for t in points]))
    bracket = (points[max(best - 1, 0)], points[min(best + 1, grid - 1)])
    # Brent only needs to reach the basin's floor; Gauss-Newton polishes
    options = {"xatol": 1e-7 * max(1.0, abs(hi - lo))}
    theta = _refine(squares, bracket, points[best], options)
    theta = _polish(predict, reported, noise, theta, bounds, worst)
    if worst(theta) > 1:
        alternative = _refine(worst, bracket, theta, options)
        if worst(alternative) < worst(theta):
            theta = alternative
    return Fit(float(theta), cache[theta][0], worst(theta))


def _polish(predict, reported, noise, theta: float, bounds, worst) -> float:
    """Gauss-Newton steps on the weighted residuals while they lower the worst."""
    lo, hi = bounds
    for _ in range(_POLISH_STEPS):
        step = 1e-6 * max(1.0, abs(theta))
        centre = predict(theta)
        slope = (predict(theta + step).values - predict(theta - step).values) / (
            2 * step
        )
        weight = 1.0 / noise.tolerance(centre) ** 2
        residual = np.asarray(reported, dtype=np.float64) - centre.values
        usable = centre.mask() & np.isfinite(residual) & np.isfinite(slope)
        curvature = float(np.sum((weight * slope**2)[usable]))
        if curvature <= 0:
            return theta
        moved = theta + float(np.sum((weight * slope * residual)[usable])) / curvature
        moved = min(max(moved, lo), hi)
        if not worst(moved) < worst(theta):
            return theta
        theta = moved
    return theta


def _refine(objective, bracket, start: float, options) -> float:
    """The bounded-Brent minimum, or ``start`` when it is no better."""
    low, high = bracket
    if high <= low:
        return start
    # imported here: scipy.optimize costs half a second at every CLI start
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(
        objective, bounds=(low, high), method="bounded", options=options
    )
    candidate = float(result.x)
    return candidate if objective(candidate) <= objective(start) else start
