r"""Sampling Plackett-Luce rankings by the Gumbel-top-k trick.

Adding independent standard Gumbel noise to the scores and sorting gives a
ranking distributed exactly as Plackett-Luce with those scores:

.. math:: \pi = \operatorname{argsort}(-(s + g)), \qquad g_i \sim \mathrm{Gumbel}(0, 1),

and the first ``k`` entries are a top-``k`` prefix of such a ranking (Yellott
1977; Kool et al. 2019). One ``(size, n)`` array of noise and one sort per
block of samples: no Python loop per sample.
"""

from __future__ import annotations

import numpy as np

from seqscore.errors import InvalidInputError
from seqscore.numerics._arrays import check_integer
from seqscore.plackett_luce._rankings import check_scores
from seqscore.plackett_luce._scale import compacted

__all__ = ["as_generator", "sample"]

# Samples are drawn in blocks of at most this many noise values (32 MiB).
_BLOCK_VALUES = 1 << 22


def as_generator(rng) -> np.random.Generator:
    """A numpy ``Generator`` from a ``Generator`` or an integer seed.

    There is deliberately no default: every random result in seqscore says
    where its randomness came from.

    >>> int(as_generator(7).integers(100)) == int(as_generator(7).integers(100))
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:  # numpy's seeds are non-negative (it raises ValueError)
            raise InvalidInputError(f"rng: a seed must be an integer >= 0, got {rng}")
        return np.random.default_rng(int(rng))
    raise InvalidInputError(
        f"rng must be a numpy Generator or an integer seed, got {type(rng).__name__}"
    )


def _check_size(size, k, n: int) -> tuple[int, int]:
    size = check_integer(size, "size", minimum=0)
    return size, check_integer(n if k is None else k, "k", minimum=1, maximum=n)


def _top_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest keys per row, largest first."""
    if k < keys.shape[1]:
        part = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(keys, part, axis=1), axis=1)
        return np.take_along_axis(part, order, axis=1)
    return np.argsort(-keys, axis=1)


def sample(scores, size: int, k: int | None = None, *, rng) -> np.ndarray:
    r"""``size`` Plackett-Luce rankings (or top-``k`` prefixes) of the items.

    Returns an int64 array ``(size, k)`` of item ids, best first (``k``
    defaults to all ``n`` items). ``rng`` is a numpy ``Generator`` or an
    integer seed, and is required. Scores must be finite; only their
    differences matter.

    >>> sample([0.0, 0.0, 0.0], 2, rng=1).shape
    (2, 3)
    >>> sample([50.0, 0.0, -50.0], 3, k=2, rng=0)   # near-certain order
    array([[0, 1],
           [0, 1],
           [0, 1]])
    """
    # compacted: the same ranking probabilities, but small enough that the
    # noise is not lost in the sum (1e20 + g == 1e20 would always rank ties
    # in index order)
    s = compacted(check_scores(scores))
    size, k = _check_size(size, k, s.shape[0])
    generator = as_generator(rng)
    out = np.empty((size, k), dtype=np.int64)
    block = max(1, _BLOCK_VALUES // s.shape[0])
    for start in range(0, size, block):
        rows = min(block, size - start)
        keys = generator.gumbel(size=(rows, s.shape[0]))
        keys += s
        out[start : start + rows] = _top_k(keys, k)
    return out
