r"""Do a model's scores predict how people ranked? The best temperature.

Given fixed model scores ``s`` (e.g. sequence log-probabilities of candidate
completions) and observed rankings of the candidates, fit one parameter,
the inverse temperature ``beta = 1 / T``, by maximum likelihood under
Plackett-Luce with scores ``beta * s``:

.. math::

    \ell(\beta) = \log L(\beta s), \qquad
    \ell'(\beta) = \nabla \log L(\beta s) \cdot s, \qquad
    \ell''(\beta) = s^\top H(\beta s)\, s \le 0 .

``ell`` is concave in ``beta``, so a safeguarded Newton iteration inside a
bracket finds the maximum. What the result says:

* ``beta > 1`` (``T < 1``): the people agree with the model's order more
  sharply than its scores say; ``0 < beta < 1``: less sharply;
* ``beta`` near 0: the scores do not predict the rankings at all (compare
  ``log_likelihood`` with ``log_likelihood_uniform``, every choice at random);
* ``beta < 0``: the people prefer what the model scores lower
  (``temperature`` is then negative).
* ``gain = log L(beta_hat) - log L(1) >= 0``; ``2 * gain`` is the
  likelihood-ratio statistic for "temperature 1 is right" (chi-square, 1 df).

The maximum is at ``beta = +inf`` when every choice picks a top-scored item
of its choice set (``-inf`` when every choice picks a bottom-scored one):
then :class:`~seqscore.errors.NoEstimateError` is raised.

Several prompts at once: give every (prompt, candidate) pair its own item id
in ``scores`` and let each ranking list its prompt's candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqscore.errors import NoEstimateError
from seqscore.numerics._arrays import check_integer, check_positive
from seqscore.plackett_luce._rankings import (
    RankingSet,
    check_scores,
    prepare,
    with_scores,
)
from seqscore.plackett_luce._scale import centred, compacted
from seqscore.plackett_luce._stages import Stages
from seqscore.plackett_luce.likelihood import hessian_vector_from_stages

__all__ = ["TemperatureFit", "fit_temperature"]

_MAX_DOUBLINGS = 200


@dataclass(frozen=True)
class TemperatureFit:
    """The maximum-likelihood temperature for fixed scores and observed rankings.

    ``temperature = 1 / inverse_temperature`` (``inf`` when that is 0);
    ``inverse_temperature_stderr`` is ``1 / sqrt(-l''(beta))``.
    ``log_likelihood`` is at the fitted temperature, ``log_likelihood_at_one``
    at ``T = 1``, ``log_likelihood_uniform`` with every choice uniformly at
    random (``beta = 0``); ``gain`` is the first minus the second.
    """

    temperature: float
    inverse_temperature: float
    inverse_temperature_stderr: float
    log_likelihood: float
    log_likelihood_at_one: float
    log_likelihood_uniform: float
    gain: float
    n_iter: int
    converged: bool


class _Profile:
    """``l(beta)`` and its derivatives, with the stages of the last ``beta``.

    The derivatives depend on ``beta * s`` only through the stage
    probabilities, so they are taken at its :func:`._scale.compacted` form,
    where they stay exact however large ``beta * s`` gets.
    """

    def __init__(self, s: np.ndarray, rs: RankingSet):
        self.s, self.rs = s, rs
        self._beta: float | None = None
        self._stages: tuple[Stages, Stages] | None = None  # at _beta

    def stages(self, beta: float) -> tuple[Stages, Stages]:
        """Stages at ``beta * s`` as is (for values), and compacted."""
        if beta != self._beta or self._stages is None:
            scaled = beta * self.s
            plain = Stages(scaled, self.rs)
            small = compacted(scaled)
            exact = plain if small is scaled else Stages(small, self.rs)
            self._beta, self._stages = beta, (plain, exact)
        return self._stages

    def value(self, beta: float) -> float:
        return self.stages(beta)[0].choices.log_likelihood

    def slope(self, beta: float) -> float:
        return float(self.stages(beta)[1].choices.gradient @ self.s)

    def curvature(self, beta: float) -> float:
        st = self.stages(beta)[1]
        return float(hessian_vector_from_stages(st, self.s) @ self.s)


def _extreme_choices(s: np.ndarray, rs: RankingSet) -> tuple[float, float]:
    """``l'(+inf)`` and ``l'(-inf)``: chosen score minus the set's max / min."""
    st = Stages(s, rs)
    order, valid = rs.order, rs.order >= 0
    high = np.where(valid, s[order], -np.inf)
    low = np.where(valid, s[order], np.inf)
    top = np.maximum.accumulate(high[::-1], axis=0)[::-1]
    bottom = np.minimum.accumulate(low[::-1], axis=0)[::-1]
    if rs.unranked is not None:
        top = np.maximum(top, np.where(rs.unranked, s, -np.inf).max(axis=1))
        bottom = np.minimum(bottom, np.where(rs.unranked, s, np.inf).min(axis=1))
    with np.errstate(invalid="ignore"):
        to_top = st.stage_sum(np.where(st.stage, high - top, 0.0)) @ st.weights
        to_bottom = st.stage_sum(np.where(st.stage, low - bottom, 0.0)) @ st.weights
    return float(to_top), float(to_bottom)


def _check_finite_optimum(s: np.ndarray, rs: RankingSet) -> None:
    to_top, to_bottom = _extreme_choices(s, rs)
    if to_top == 0.0 and to_bottom == 0.0:
        raise NoEstimateError(
            "the temperature has no effect: within every choice set the scores "
            "are all equal"
        )
    if to_top == 0.0:
        raise NoEstimateError(
            "every observed choice picks a highest-scored item of its choice set, "
            "so the likelihood keeps rising as the temperature goes to 0: there "
            "is no finite maximum-likelihood temperature (the scores order the "
            "rankings perfectly)"
        )
    if to_bottom == 0.0:
        raise NoEstimateError(
            "every observed choice picks a lowest-scored item of its choice set: "
            "the likelihood keeps rising as the temperature goes to 0 from below "
            "(the scores order every ranking exactly backwards)"
        )


def _bracket(profile: _Profile) -> tuple[float, float]:
    """``lo < hi`` with ``l'(lo) >= 0 >= l'(hi)``, by doubling away from 1."""
    if profile.slope(1.0) > 0:
        lo, hi = 1.0, 2.0
        for _ in range(_MAX_DOUBLINGS):
            if profile.slope(hi) <= 0:
                return lo, hi
            lo, hi = hi, 2 * hi
    else:
        lo, hi = 0.0, 1.0
        for _ in range(_MAX_DOUBLINGS):
            if profile.slope(lo) >= 0:
                return lo, hi
            lo, hi = 2 * lo - 1.0, lo
    raise NoEstimateError("no bracket for the temperature found (scores too flat?)")


def _maximise(profile: _Profile, tol: float, max_iter: int):
    """Newton's method on ``l'`` with bisection whenever it leaves the bracket."""
    lo, hi = _bracket(profile)
    if profile.slope(lo) == 0:  # e.g. beta = 0 exactly, for balanced choices
        return lo, 0, True
    beta = hi
    for iteration in range(1, max_iter + 1):
        slope = profile.slope(beta)
        if slope == 0:
            return beta, iteration, True
        if slope > 0:
            lo = beta
        else:
            hi = beta
        curvature = profile.curvature(beta)
        new = beta - slope / curvature if curvature < 0 else np.inf
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - beta) <= tol * max(1.0, abs(beta)):
            return new, iteration, True
        beta = new
    return beta, max_iter, False


def fit_temperature(
    scores,
    rankings,
    weights=None,
    *,
    universe=None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> TemperatureFit:
    r"""Maximum-likelihood temperature for ``scores`` given observed ``rankings``.

    ``scores`` has one entry per item; ``rankings``, ``weights`` and
    ``universe`` are as in :func:`~seqscore.plackett_luce.log_likelihood`.
    Raises :class:`~seqscore.errors.NoEstimateError` when the optimum is at
    temperature 0 (see the module notes).

    Two items, scores 1 and 0, observed 3:1 in favour of item 0: the MLE
    solves ``sigmoid(beta) = 3/4``, so ``beta = log 3``:

    >>> result = fit_temperature([1.0, 0.0], [[0, 1]] * 3 + [[1, 0]])
    >>> round(result.inverse_temperature, 9), round(float(np.log(3)), 9)
    (1.098612289, 1.098612289)
    >>> round(result.gain, 6)  # (3 log 3/4 + log 1/4) - (3 log s(1) + log s(-1))
    0.003706
    """
    tol = check_positive(tol, "tol")
    max_iter = check_integer(max_iter, "max_iter", minimum=1)
    s = check_scores(scores)
    rs = prepare(rankings, s.shape[0], universe=universe, weights=weights)
    s = centred(with_scores(rs, s))
    _check_finite_optimum(s, rs)
    # fitted on scores of unit scale, so that tol is relative and the steps
    # are sized alike whether the scores span 1e-10 or 1e10
    scale = float(np.abs(s).max())
    profile = _Profile(s / scale, rs)
    at_one, uniform = profile.value(scale), profile.value(0.0)
    unit_beta, n_iter, converged = _maximise(profile, tol, max_iter)
    curvature = profile.curvature(unit_beta)
    value = profile.value(unit_beta)
    beta = unit_beta / scale
    return TemperatureFit(
        temperature=float(np.inf) if beta == 0 else 1.0 / beta,
        inverse_temperature=float(beta),
        inverse_temperature_stderr=float(1.0 / np.sqrt(-curvature) / scale)
        if curvature < 0
        else float(np.inf),
        log_likelihood=value,
        log_likelihood_at_one=at_one,
        log_likelihood_uniform=uniform,
        gain=value - at_one,
        n_iter=n_iter,
        converged=converged,
    )
