r"""Scores moved to where float64 computes their Plackett-Luce quantities well.

Every stage probability :math:`p = e^{s_k - D}` is unchanged by adding one
constant to all scores, but computed from large scores it loses about
:math:`|s| \cdot 2^{-52}` of absolute accuracy (``s_k`` and ``D`` cancel):
at ``1e16`` two equal scores give probabilities 1 and 0. So

* :func:`centred` shifts large scores by their midrange: the right move for
  anything that depends on score differences (log-likelihoods);
* :func:`compacted` also caps every gap between consecutive sorted scores
  at ``SATURATED`` nats: across such a gap every probability is exactly 0 or 1
  in float64 (``exp(-1500)`` underflows to 0), so quantities that depend on
  the scores only through the probabilities (gradient, Hessian, sampling)
  are unchanged, and no computed term overflows, even for ``1e308``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SATURATED", "centred", "compacted"]

SATURATED = 1500.0
# Up to this magnitude a score costs at most about 2e-13 of accuracy.
_LARGE = 1e3


def centred(s: np.ndarray) -> np.ndarray:
    """``s`` minus its midrange when ``max |s|`` is large, else ``s`` itself.

    >>> centred(np.array([1e16 + 4, 1e16])).tolist()
    [2.0, -2.0]
    >>> centred(np.array([3.0, -1.0])).tolist()
    [3.0, -1.0]
    """
    if not len(s) or np.abs(s).max() <= _LARGE:
        return s
    return s - (s.max() / 2 + s.min() / 2)


def compacted(s: np.ndarray) -> np.ndarray:
    """Scores with the same stage probabilities as ``s``, small and close.

    Sorted, ``s`` splits into clusters where consecutive scores are at most
    ``SATURATED`` apart; each cluster keeps its internal differences (taken
    from its own lowest score, so nothing accumulates) and sits ``SATURATED``
    above the one below. Returned unchanged when it has no wide gap and no
    large score.

    >>> compacted(np.array([1e308, -1e308, 2.0])).tolist()
    [3000.0, 0.0, 1500.0]
    >>> compacted(np.array([1e16 + 2, 1e16, -5e15])).tolist()
    [1502.0, 1500.0, 0.0]
    """
    if not len(s):
        return s
    order = np.argsort(s, kind="stable")
    ranked = s[order]
    with np.errstate(over="ignore"):  # a gap past the float range is inf: wide
        wide = np.diff(ranked) > SATURATED
    if np.abs(s).max() <= _LARGE and not wide.any():
        return s
    cluster = np.concatenate(([0], np.cumsum(wide)))
    first = np.flatnonzero(np.concatenate(([True], wide)))
    last = np.append(first[1:] - 1, len(ranked) - 1)
    lowest = ranked[first]
    span = ranked[last] - lowest
    base = np.concatenate(([0.0], np.cumsum(span[:-1] + SATURATED)))
    out = np.empty_like(s)
    out[order] = (ranked - lowest[cluster]) + base[cluster]
    return out
