"""The log-prob clamp rule, one for every reader and for :class:`TokenScores`.

Log-probabilities computed in float32 by other tools can exceed 0 by a few
ulps. A value in ``(0, POSITIVE_TOLERANCE]`` is such a rounding and is read
as 0, so no score seqscore prints is ever above 0; anything larger is not a
log-probability (raw logits, probably) and is an error naming where it was.
(lm-eval's logged log-likelihoods are the one exception: they are kept as
logged, since lm-eval's own argmax saw them so.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["POSITIVE_TOLERANCE", "clamped", "first_too_positive", "not_a_logprob"]

POSITIVE_TOLERANCE = 1e-6


def first_too_positive(array: np.ndarray) -> tuple[int, ...] | None:
    """The index of the first entry above :data:`POSITIVE_TOLERANCE`, if any."""
    bad = np.argwhere(array > POSITIVE_TOLERANCE)
    return tuple(int(i) for i in bad[0]) if len(bad) else None


def clamped(array: np.ndarray) -> np.ndarray:
    """``array`` with its tolerated positive roundings read as 0, as a new
    array (the caller's is never changed). Callers have found a maximum
    above 0 and none above :data:`POSITIVE_TOLERANCE`: the common case, no
    positive entry, costs them one ``max`` and nothing here.

    >>> clamped(np.array([-1.0, 5e-7])).tolist()
    [-1.0, 0.0]
    """
    return np.minimum(array, 0.0)


def not_a_logprob(where: str, number: float) -> str:
    """The error for a value above :data:`POSITIVE_TOLERANCE` at ``where``."""
    return (
        f"{where}: {float(number)!r} is positive, so not a log-probability "
        "(are these raw logits?)"
    )
