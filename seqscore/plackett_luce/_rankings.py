r"""Validated rankings: the one representation every Plackett-Luce function uses.

Representation
--------------
A batch of ``N`` rankings over items ``0 .. n-1`` is a 2-D integer array of
shape ``(N, L)``, best first, padded on the right with ``-1``; ranking ``i``
lists ``lengths[i]`` items. A ragged list of sequences is accepted too and
padded once (:func:`pad_rankings`); that conversion is the only per-ranking
Python work anywhere, so pass the padded array when speed matters.

Which items was each ranking chosen from (its *universe*)?

* ``"listed"`` -- a sub-ranking: ranking ``i`` is a complete ranking of the
  items it lists, the others were not there. The denominator at stage ``r``
  sums over the listed items from position ``r`` on.
* ``"all"`` -- a top-k ranking: ranking ``i`` gives the first ``lengths[i]``
  places of a ranking of *all* ``n`` items; every unlisted item stays in every
  denominator.
* a boolean array ``(N, n)`` -- ranking ``i`` is the top of a ranking of the
  items where the row is True (it must contain the listed items). This covers
  a top-k of a subset, e.g. the first ten finishers of a race of 43 drivers.

When every ranking lists all ``n`` items the three agree and ``universe`` may
be left out. When some ranking is shorter the two readings give different
likelihoods, and seqscore refuses to guess: leaving ``universe`` out is then an
error that names the first short ranking. Memory: ``"listed"`` costs ``O(N L)``;
``"all"`` and a mask cost ``O(N n)`` (a dense mask of the unlisted items).

Internally the item ids are stored position-major, ``(L, N)``, so that every
per-position step is one contiguous pass over all rankings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqscore.errors import InvalidInputError, ShapeError
from seqscore.numerics._arrays import check_integer
from seqscore.numerics.first_choice import check_scores

__all__ = ["RankingSet", "check_scores", "pad_rankings", "prepare"]

UNIVERSES = ("listed", "all")

# Up to this ranking length duplicates are found by comparing columns pairwise
# (L^2/2 contiguous passes), beyond it by sorting each ranking.
_PAIRWISE_DUPLICATE_MAX_LENGTH = 16


@dataclass(frozen=True)
class RankingSet:
    """Rankings checked against ``n_items``, in position-major layout.

    ``order[r, i]`` is the item at position ``r`` of ranking ``i`` (``-1``
    past its end); ``unranked[i, k]`` says item ``k`` was in ranking ``i``'s
    universe but is not listed (``None`` for the ``"listed"`` universe);
    ``weights`` is ``None`` when every ranking counts once.
    """

    order: np.ndarray
    lengths: np.ndarray
    n_items: int
    weights: np.ndarray | None
    unranked: np.ndarray | None

    @property
    def n_rankings(self) -> int:
        return self.order.shape[1]

    @property
    def padded(self) -> bool:
        """Whether some ranking is shorter than the longest."""
        return bool(self.order.shape[0]) and bool(
            self.lengths.min(initial=self.order.shape[0]) < self.order.shape[0]
        )

    def position_valid(self) -> np.ndarray | None:
        """``(L, N)`` mask of real entries, or ``None`` when nothing is padded."""
        return self.order >= 0 if self.padded else None

    def stage_count(self) -> np.ndarray:
        """How many choices ranking ``i`` records (the ``(N,)`` stage counts).

        A sub-ranking of ``m`` items records ``m - 1`` choices (the last item
        is left alone); a top-``m`` of a larger universe records ``m``.
        """
        if self.unranked is None:
            return np.maximum(self.lengths - 1, 0)
        return self.lengths


def pad_rankings(rankings: Sequence[Sequence[int]]) -> np.ndarray:
    """Ragged rankings as one ``(N, L)`` int64 array padded with ``-1``.

    >>> pad_rankings([[2, 0, 1], [1], []])
    array([[ 2,  0,  1],
           [ 1, -1, -1],
           [-1, -1, -1]])
    """
    rows = [_ranking_row(i, r) for i, r in enumerate(_ranking_list(rankings))]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max(initial=0))
    out = np.full((len(lengths), width), -1, dtype=np.int64)
    if lengths.sum():
        flat = np.concatenate(rows)
        row_of = np.repeat(np.arange(len(lengths)), lengths)
        starts = np.cumsum(lengths) - lengths
        cols = np.arange(len(flat)) - np.repeat(starts, lengths)
        out[row_of, cols] = flat
    return out


def _ranking_list(rankings) -> list:
    """``rankings`` as a list of rankings, or an error for what cannot be one."""
    if rankings is None or isinstance(rankings, (str, bytes, dict, set, frozenset)):
        raise InvalidInputError(
            "rankings must be a sequence of rankings (each a sequence of item "
            f"ids, best first), got {type(rankings).__name__}"
        )
    try:
        return list(rankings)
    except TypeError:
        raise InvalidInputError(
            f"rankings must be a sequence of rankings, got {type(rankings).__name__}"
        ) from None


def _ranking_row(index: int, ranking) -> np.ndarray:
    """One ranking as a 1-D int64 array; floats, booleans, strings, ``None``
    and nested lists are errors naming the ranking, never truncated ids."""
    shown = ranking
    if isinstance(ranking, (list, tuple)):
        kinds = set(map(type, ranking))
        if kinds <= _EXACT_INT_TYPES:  # the common case, fast
            try:
                return np.array(ranking, dtype=np.int64)
            except OverflowError:
                kinds = {object}
        if kinds & {bool, np.bool_}:  # numpy would read True as 1
            ranking = np.asarray(ranking, dtype=object)
    elif ranking is None or isinstance(ranking, (str, bytes, dict, set, frozenset)):
        raise InvalidInputError(
            f"rankings[{index}] = {ranking!r} is not a sequence of item ids"
        )
    try:
        row = np.asarray(ranking)
    except (ValueError, TypeError):
        row = None
    if row is None or row.ndim != 1:
        raise InvalidInputError(
            f"rankings[{index}] must be a flat sequence of item ids, got {shown!r}"
        )
    if row.size and row.dtype.kind not in "iu":
        raise InvalidInputError(
            f"rankings[{index}] holds {row.dtype} values ({shown!r}); item ids "
            "are integers"
        )
    if row.dtype.kind == "u" and row.size and row.max() > np.iinfo(np.int64).max:
        raise InvalidInputError(f"rankings[{index}] holds an id beyond int64")
    return row.astype(np.int64, copy=False)


def _as_int_matrix(rankings) -> np.ndarray:
    """Rankings as a 2-D int64 array (a 1-D input is one ranking)."""
    if isinstance(rankings, np.ndarray):
        array = rankings
    else:
        parsed: np.ndarray | None
        try:
            parsed = np.asarray(rankings)
        except ValueError:  # ragged nested sequences
            parsed = None
        if parsed is None or parsed.dtype == object:
            array = pad_rankings(rankings)
        else:
            array = parsed
    if array.ndim == 1:
        # one ranking; but an empty list is no rankings, not one empty ranking
        array = array.reshape(0, 0) if array.size == 0 else array[None, :]
    if array.ndim != 2:
        raise ShapeError(
            f"rankings must be a 2-D array (one ranking per row), got {array.shape}"
        )
    if array.size and array.dtype.kind not in "iu":
        raise InvalidInputError(
            f"rankings must hold integer item ids, got dtype {array.dtype}"
        )
    return array.astype(np.int64, copy=False)


def _check_ids(array: np.ndarray, n_items: int) -> None:
    """Every entry is an item id in ``[0, n)`` or a trailing ``-1``."""
    if not array.size:
        return
    low, high = int(array.min()), int(array.max())
    if low < -1 or high >= n_items:
        bad = (array < -1) | (array >= n_items)
        i, r = np.argwhere(bad)[0]
        raise InvalidInputError(
            f"rankings[{i}, {r}] = {array[i, r]} is not an item id in "
            f"[0, {n_items}) (use -1 only to pad a short ranking)"
        )
    if low == -1:
        valid = array >= 0
        gap = valid[:, 1:] & ~valid[:, :-1]
        if gap.any():
            i, r = np.argwhere(gap)[0]
            raise InvalidInputError(
                f"rankings[{i}, {r + 1}] = {array[i, r + 1]} follows a -1: pad a "
                "short ranking at its end only"
            )


def _transpose(array: np.ndarray, block: int = 8192) -> np.ndarray:
    """A C-contiguous transpose, copied in cache-sized blocks of rows.

    About 3x faster than ``np.ascontiguousarray(array.T)`` for the tall,
    narrow arrays rankings are.
    """
    out = np.empty(array.shape[::-1], dtype=array.dtype)
    for start in range(0, array.shape[0], block):
        out[:, start : start + block] = array[start : start + block].T
    return out


def _check_distinct(order: np.ndarray) -> None:
    """No item twice in one ranking (``order`` is position-major)."""
    length = order.shape[0]
    if length < 2:
        return
    if length <= _PAIRWISE_DUPLICATE_MAX_LENGTH:
        padded = bool(order.size) and int(order.min()) < 0
        bad = np.zeros(order.shape[1], dtype=bool)
        same = np.empty(order.shape[1], dtype=bool)
        for a in range(length - 1):
            for b in range(a + 1, length):
                np.equal(order[a], order[b], out=same)
                if padded:  # two -1 pads are not a repeated item
                    same &= order[b] >= 0
                bad |= same
    else:
        ranked = np.sort(order, axis=0)
        bad = ((ranked[1:] == ranked[:-1]) & (ranked[1:] >= 0)).any(axis=0)
    if bad.any():
        i = int(np.argmax(bad))
        row = order[:, i]
        values, counts = np.unique(row[row >= 0], return_counts=True)
        item = int(values[np.argmax(counts > 1)])
        where = ", ".join(str(int(p)) for p in np.flatnonzero(row == item))
        raise InvalidInputError(
            f"rankings[{i}] lists item {item} more than once (positions {where}): "
            "a ranking orders distinct items; Plackett-Luce has no ties"
        )


_WEIGHT_RANGE = (1e-150, 1e150)
# Element types an int64 array holds exactly (np.uint64 can exceed it)
_EXACT_INT_TYPES = frozenset(
    (int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32)
)


def _check_weights(weights, n_rankings: int) -> np.ndarray | None:
    if weights is None:
        return None
    try:
        w = np.asarray(weights)
    except ValueError:  # ragged
        w = None
    if w is None or (w.size and w.dtype.kind not in "iuf"):
        raise InvalidInputError(
            f"weights must be real numbers, one per ranking, got {weights!r}"[:200]
        )
    w = w.astype(np.float64)
    if w.shape != (n_rankings,):
        raise ShapeError(
            f"weights must have one entry per ranking, shape ({n_rankings},), "
            f"got {w.shape}"
        )
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidInputError(
            f"weights[{i}] = {w[i]}: a ranking weight must be finite and >= 0"
        )
    # weighted sums of log-probabilities, and the squared weights of the
    # information, must stay inside float64
    extreme = (w != 0) & ((w < _WEIGHT_RANGE[0]) | (w > _WEIGHT_RANGE[1]))
    if extreme.any():
        i = int(np.argmax(extreme))
        raise InvalidInputError(
            f"weights[{i}] = {w[i]}: a nonzero ranking weight must lie in "
            f"[{_WEIGHT_RANGE[0]:g}, {_WEIGHT_RANGE[1]:g}]; rescale the weights "
            "(only their ratios matter without a prior)"
        )
    return w


def _unranked_mask(order, lengths, n_items, universe) -> np.ndarray | None:
    """The ``(N, n)`` mask of items in each universe but not listed."""
    n_rankings = order.shape[1]
    if isinstance(universe, str):
        if universe == "listed":
            return None
        mask = np.ones((n_rankings, n_items), dtype=bool)
    else:
        try:
            mask = np.array(universe, copy=True)
        except ValueError:  # ragged nested lists
            mask = np.zeros(0, dtype=object)
        if mask.dtype.kind in "iu" and np.isin(mask, (0, 1)).all():
            mask = mask.astype(bool)  # 0/1 flags
        if mask.dtype != bool:
            raise InvalidInputError(
                "a universe mask must be a boolean (rankings, items) array, got "
                f"{mask.dtype} values" + (" (ragged rows)" if mask.size == 0 else "")
            )
        if mask.shape != (n_rankings, n_items):
            raise ShapeError(
                f"a universe mask must have shape (rankings, items) = "
                f"({n_rankings}, {n_items}), got {mask.shape}"
            )
    rows = np.broadcast_to(np.arange(n_rankings), order.shape)
    listed = order >= 0
    if not isinstance(universe, str):  # a given mask must contain the listed items
        outside = ~mask[rows[listed], order[listed]]
        if outside.any():
            pos = np.argwhere(listed)[np.argmax(outside)]
            raise InvalidInputError(
                f"rankings[{pos[1]}, {pos[0]}] = {order[pos[0], pos[1]]} is not in "
                f"universe[{pos[1]}]: a ranking can only list items it was chosen "
                "from"
            )
    mask[rows[listed], order[listed]] = False
    return mask


def _check_universe_given(lengths, n_items: int, universe) -> None:
    short = lengths < n_items
    if universe is None and short.any():
        i = int(np.argmax(short))
        raise InvalidInputError(
            f"rankings[{i}] lists {int(lengths[i])} of {n_items} items, so say "
            "what it ranks: universe='listed' (a complete ranking of the items it "
            "lists; the others were absent) or universe='all' (the top "
            f"{int(lengths[i])} of a ranking of all {n_items} items)"
        )


def prepare(
    rankings, n_items: int | None = None, *, universe=None, weights=None
) -> RankingSet:
    """Check ``rankings`` and return them as a :class:`RankingSet`.

    ``n_items`` defaults to the largest id + 1. Raises
    :class:`~seqscore.errors.InvalidInputError` naming the ranking and
    position of the first id out of range, repeated item or misplaced ``-1``.

    >>> rs = prepare([[1, 0], [2, -1]], 3, universe="listed")
    >>> rs.order.T.tolist(), rs.lengths.tolist(), rs.stage_count().tolist()
    ([[1, 0], [2, -1]], [2, 1], [1, 0])
    """
    if isinstance(universe, str) and universe not in UNIVERSES:
        raise InvalidInputError(
            f"universe must be 'listed', 'all' or a boolean (N, n) mask, "
            f"got {universe!r}"
        )
    array = _as_int_matrix(rankings)
    if n_items is None:
        n_items = int(array.max(initial=-1)) + 1
        if n_items == 0:
            raise InvalidInputError("no items: the rankings are empty")
    n_items = check_integer(n_items, "n_items", minimum=1)
    _check_ids(array, n_items)
    order = _transpose(array)
    _check_distinct(order)
    lengths = (
        (order >= 0).sum(axis=0)
        if order.shape[0]
        else np.zeros(order.shape[1], dtype=np.int64)
    )
    _check_universe_given(lengths, n_items, universe)
    unranked = None
    every_item_listed = lengths.min(initial=n_items) == n_items
    # With every item listed, all three universes give the same likelihood; the
    # "listed" form is the cheap one (no (N, n) mask).
    if universe is not None and not (isinstance(universe, str) and every_item_listed):
        unranked = _unranked_mask(order, lengths, n_items, universe)
    return RankingSet(
        order=order,
        lengths=lengths.astype(np.int64, copy=False),
        n_items=n_items,
        weights=_check_weights(weights, order.shape[1]),
        unranked=unranked,
    )


def with_scores(rs: RankingSet, scores) -> np.ndarray:
    """Checked scores whose length is the number of items of ``rs``."""
    s = check_scores(scores)
    if s.shape[0] != rs.n_items:
        raise ShapeError(
            f"scores has {s.shape[0]} entries but the rankings use "
            f"{rs.n_items} items: give one score per item"
        )
    return s
