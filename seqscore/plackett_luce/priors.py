r"""Priors that make every Plackett-Luce fit finite.

Each prior adds a concave term to the log-likelihood of the log-worths ``s``;
the fit maximises the sum (a maximum a-posteriori estimate).

* ``"ghost"`` (the default strength ``a = 0.5`` is R PlackettLuce's
  ``npseudo``): every item wins ``a`` and loses ``a`` pseudo-comparisons
  against a ghost item of log-worth 0,

  .. math:: \sum_k a\,\big(s_k - 2 \log(1 + e^{s_k})\big).

  It connects every comparison graph through the ghost and pulls each item
  gently toward the ghost (weakly toward 0), most for items with little data.
* ``"l2"`` (default ``lambda = 0.1``): a Gaussian prior with standard deviation
  ``1/sqrt(lambda)`` (about 3.2) on every log-worth,
  :math:`-\tfrac{\lambda}{2} \sum_k s_k^2`.

Both are zero-centred; fitted log-worths are reported on the mean-zero scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from seqscore.errors import InvalidInputError
from seqscore.numerics._arrays import check_positive

__all__ = ["DEFAULT_STRENGTH", "PRIORS", "Prior", "make_prior"]

PRIORS = ("ghost", "l2")
DEFAULT_STRENGTH = {"ghost": 0.5, "l2": 0.1}


@dataclass(frozen=True)
class Prior:
    """A named concave penalty: its value, gradient and (diagonal) Hessian.

    >>> ghost = Prior("ghost", 0.5)   # at s = 0: 0.5 * (0 - 2 log 2)
    >>> round(ghost.value(np.zeros(1)), 6), ghost.gradient(np.zeros(1)).tolist()
    (-0.693147, [0.0])
    >>> Prior("l2", 2.0).hessian_diagonal(np.ones(2)).tolist()
    [-2.0, -2.0]
    """

    name: str
    strength: float

    def value(self, s: np.ndarray) -> float:
        a = self.strength
        if self.name == "ghost":
            return float(a * np.sum(s - 2.0 * np.logaddexp(0.0, s)))
        return float(-0.5 * a * (s @ s))

    def gradient(self, s: np.ndarray) -> np.ndarray:
        a = self.strength
        if self.name == "ghost":
            return a * (1.0 - 2.0 * expit(s))
        return -a * s

    def hessian_diagonal(self, s: np.ndarray) -> np.ndarray:
        a = self.strength
        if self.name == "ghost":
            p = expit(s)
            return -2.0 * a * p * (1.0 - p)
        return np.full_like(s, -a)


def make_prior(prior: str | None, strength: float | None) -> Prior | None:
    """The :class:`Prior` for ``prior`` (``None``: plain maximum likelihood).

    >>> make_prior("ghost", None)
    Prior(name='ghost', strength=0.5)
    >>> make_prior(None, None) is None
    True
    """
    if prior is None:
        if strength is not None:
            raise InvalidInputError("prior_strength needs a prior ('ghost' or 'l2')")
        return None
    if prior not in PRIORS:
        raise InvalidInputError(f"prior must be None, 'ghost' or 'l2', got {prior!r}")
    if strength is None:
        return Prior(prior, DEFAULT_STRENGTH[prior])
    return Prior(prior, check_positive(strength, "prior_strength"))
