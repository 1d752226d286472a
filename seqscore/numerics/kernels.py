r"""The token kernel: per-step statistics of chosen tokens, in one pass.

For logits ``z`` of shape ``(..., V)`` and integer targets ``t`` of shape
``(...)`` the kernel computes, for every step,

* ``logprob``   :math:`z_t - \log\sum_k e^{z_k}` (the log-softmax at the target),
* ``rank``      :math:`1 + \#\{k : z_k > z_t\}` (ties share the better rank),
* ``argmax``    the first index of the largest logit, and its log-prob,
* ``entropy``   :math:`-\sum_k p_k \log p_k` in nats,
* optionally the ``top_k`` ids and log-probs, best first, ties toward the
  smaller id.

How it stays fast and small: the logits are read tile by tile (a few rows, so
that a tile and its scratch buffer stay in cache), the tiles are shared out
between threads (numpy releases the GIL inside its loops), and nothing the size
of the whole array is ever allocated. When one row is larger than a tile, the
row is split into column tiles whose partial results are merged exactly (the
running-maximum form of logsumexp). A read-only ``np.memmap`` has its pages
handed back to the operating system once read, so scoring a file larger than
memory keeps resident memory flat.

Inputs are checked as they are read: NaN or ``+inf`` raise
:class:`~seqscore.errors.InvalidInputError` naming the step and token, as does
a step whose logits are all ``-inf``. A target whose own logit is ``-inf`` is
legal: its log-prob is ``-inf`` and ``target_masked`` says so. Results are
float64 whatever the input dtype. Every row is shifted by its maximum before
``exp``, so the largest term is exactly 1 and entropies and log-probs never
subtract two large numbers (an entropy is the same for ``z`` and ``z + 70``).
The normaliser is ``log1p`` of the sum of the other terms
(:mod:`seqscore.numerics._normaliser`), so a near-certain token's log-prob and a
peaked row's entropy keep their *relative* precision (``[0, -40]``:
``-4.248e-18`` and ``1.742e-16``, not 0): a few ulps of the compute dtype
(float32 sums for float32 and float16 input, float64 otherwise), measured
against mpmath in ``tests/test_normaliser.py``. Where terms are subnormal in
the compute dtype (gaps past 87 nats in float32, 708 in float64), each adds
up to half the smallest subnormal to a log-prob, ``(1 + gap) / 2`` of it to
an entropy. Log-probs are never above 0 and entropies never below 0 by
construction (both are sums of terms of one sign).

A caveat on memory: logits whose leading axes cannot be viewed as one axis
(e.g. a transposed view) are copied once by numpy before the pass.

With the optional extra ``seqscore[fast]`` (numba), :func:`token_logprobs` of
a large float32 array runs a compiled pass instead of the tiles
(:mod:`seqscore.numerics._fused`): per row one pass for the maximum and one
for the rest, at the cost of numpy's float32 ``exp`` alone (the tiles take
about twice that: five passes). Its terms are at least as accurate (its
``exp`` is within 1.011 ulps, numpy's within 2.541), and the precision tests
run on both paths. The first such call of a process loads numba and the
compiled pass (about 0.6 s; about 2 s more the very first time, to
compile); ``SEQSCORE_NUMBA=0`` or :func:`numpy_kernel` turns it off.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from seqscore.errors import InvalidInputError, ShapeError
from seqscore.numerics._arrays import (
    as_targets,
    check_integer,
    compute_dtype,
    raise_for_bad_logit,
    reject_masked,
    row_label,
)
from seqscore.numerics._normaliser import log_normaliser, merge_rests, rest_sum
from seqscore.numerics._numba import load_compiled
from seqscore.numerics._pages import release_range
from seqscore.numerics.parallel import map_row_spans

__all__ = [
    "TokenStats",
    "fused_available",
    "map_row_spans",
    "numpy_kernel",
    "release_pages",
    "token_logprobs",
    "token_stats",
]

# A tile (rows x columns of logits) is sized to stay in the per-core L2 cache
# together with its scratch buffer.
_TILE_BYTES = 2 * 1024 * 1024
# Smaller arrays take the tiles even with numba installed: the first compiled
# call of a process loads numba and the pass (about 0.6 s), and a call this
# large saves about a millisecond (16 MiB of float32 logits).
_FUSED_MIN_ELEMENTS = 1 << 22
# Rows per compiled call: a read-only memmap's pages go back between calls.
_FUSED_CHUNK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class TokenStats:
    """Per-step statistics of the target tokens (arrays shaped like ``targets``).

    ``top_ids`` and ``top_logprobs`` have one more axis of length ``top_k``
    (length 0 when no top-k was asked for).
    """

    logprob: np.ndarray
    rank: np.ndarray
    is_argmax: np.ndarray
    argmax: np.ndarray
    argmax_logprob: np.ndarray
    entropy: np.ndarray
    target_masked: np.ndarray
    top_ids: np.ndarray
    top_logprobs: np.ndarray


class _Partial(NamedTuple):
    """What one column tile contributes to its rows (merged across tiles).

    ``rest`` and ``weighted`` are taken relative to a per-row ``shift``
    (the row's maximum in the tile, 0 for a row entirely ``-inf``): the
    normaliser ``sum exp(z - shift)`` is ``1 + rest`` (``rest`` summed without
    the maximal term, :func:`seqscore.numerics._normaliser.rest_sum`; ``-1`` for a row
    entirely ``-inf``) and ``weighted = sum exp(z - shift) * (z - shift)``.
    """

    peak: np.ndarray  # max logit, compute dtype
    shift: np.ndarray  # float64
    rest: np.ndarray  # float64
    full: _Full | None  # None when only the log-prob is asked for


class _Full(NamedTuple):
    """The part of a :class:`_Partial` beyond the log-prob (``plan.full``)."""

    weighted: np.ndarray  # float64
    greater: np.ndarray  # count of logits strictly above the target's
    argmax: np.ndarray  # column of the first maximum
    top: _Top | None  # None when no top-k is asked for


class _Top(NamedTuple):
    """A tile's ``k`` best logits per row, best first, and their columns."""

    values: np.ndarray  # (n, k)
    ids: np.ndarray  # (n, k)


class _Plan(NamedTuple):
    """What to compute, the tile geometry, and how to name a step in errors."""

    full: bool  # everything beyond the log-prob
    top_k: int
    rows_per_tile: int
    cols_per_tile: int
    lead_shape: tuple[int, ...]  # the caller's shape of the steps


def token_logprobs(logits, targets, *, workers: int | None = None) -> np.ndarray:
    r"""Log-probability of each target token: ``log_softmax(logits)[..., target]``.

    ``logits`` has shape ``(..., V)`` (any float or integer dtype, an
    ``np.memmap`` included) and ``targets`` integer ids of shape ``(...)``.
    Returns float64 of shape ``targets.shape``. Equivalent to
    ``np.take_along_axis(scipy.special.log_softmax(logits, -1), targets[...,
    None], -1)[..., 0]`` without materialising the log-softmax.

    >>> token_logprobs([[2.0, 1.0, 0.1], [1000.0, 1.0, 0.0]], [0, 1]).round(4).tolist()
    [-0.417, -999.0]
    >>> float(token_logprobs([0.0, -np.inf], 1))  # a masked target: log 0
    -inf
    """
    rows, targets, out_shape = _prepare(logits, targets)
    plan = _make_plan(rows, out_shape, full=False, top_k=0)
    out = {"logprob": np.empty(len(targets))}
    _run(rows, targets, plan, out, _source_mmap(logits), workers)
    return out["logprob"].reshape(out_shape)


def token_stats(
    logits, targets, top_k: int = 0, *, workers: int | None = None
) -> TokenStats:
    r"""All per-step statistics of the target tokens in one pass over the logits.

    See the module notes for the definitions. ``rank`` is 1 for a target tied
    with the maximum, so ``is_argmax`` (``rank == 1``) can be true while
    ``argmax`` (the first maximal index) names another token.

    >>> s = token_stats([[2.0, 1.0, 0.1]], [1], top_k=2)
    >>> int(s.rank[0]), bool(s.is_argmax[0]), int(s.argmax[0])
    (2, False, 0)
    >>> s.logprob.round(4).tolist(), s.entropy.round(4).tolist()  # H = sum p log 1/p
    ([-1.417], [0.8467])
    >>> s.top_ids
    array([[0, 1]])
    """
    rows, targets, out_shape = _prepare(logits, targets)
    n, vocab = rows.shape
    top_k = check_integer(top_k, "top_k", minimum=0)
    if top_k > vocab:
        raise InvalidInputError(f"top_k must be in [0, {vocab}], got {top_k}")
    plan = _make_plan(rows, out_shape, full=True, top_k=top_k)
    out = {
        "logprob": np.empty(n),
        "rank": np.empty(n, np.int64),
        "argmax": np.empty(n, np.int64),
        "argmax_logprob": np.empty(n),
        "entropy": np.empty(n),
        "top_ids": np.empty((n, top_k), np.int64),
        "top_logprobs": np.empty((n, top_k)),
    }
    _run(rows, targets, plan, out, _source_mmap(logits), workers)
    shaped = {
        key: value.reshape(out_shape + value.shape[1:]) for key, value in out.items()
    }
    return TokenStats(
        is_argmax=shaped["rank"] == 1,
        target_masked=np.isneginf(shaped["logprob"]),
        **shaped,
    )


# ---------------------------------------------------------------- preparation


def _prepare(logits, targets):
    """Logits as a 2-D ``(steps, V)`` view, targets checked and flattened."""
    reject_masked(logits)
    if not isinstance(logits, np.ndarray):
        logits = np.asarray(logits)
    compute_dtype(logits.dtype)  # rejects complex / object / strings
    if logits.ndim == 0:
        raise ShapeError("logits must have at least one dimension (the vocabulary)")
    vocab = logits.shape[-1]
    if vocab == 0:
        raise InvalidInputError("empty vocabulary: logits have a last axis of length 0")
    target_array = np.asarray(targets)
    if target_array.shape != logits.shape[:-1]:
        raise ShapeError(
            f"targets of shape {target_array.shape} do not match logits of shape "
            f"{logits.shape}: expected targets of shape {logits.shape[:-1]}"
        )
    checked = as_targets(target_array, vocab).reshape(-1)
    return _as_rows(logits), checked, target_array.shape


def _as_rows(logits: np.ndarray) -> np.ndarray:
    """A ``(steps, V)`` view of ``logits`` (a copy only when no view exists)."""
    vocab = logits.shape[-1]
    if logits.ndim == 2:
        return logits
    if logits.ndim == 1:
        return logits[np.newaxis, :]
    lead, strides = logits.shape[:-1], logits.strides[:-1]
    collapsible = all(
        strides[i] == strides[i + 1] * lead[i + 1] for i in range(len(lead) - 1)
    )
    if collapsible:
        return np.lib.stride_tricks.as_strided(
            logits,
            shape=(int(np.prod(lead)), vocab),
            strides=(strides[-1], logits.strides[-1]),
        )
    return logits.reshape(-1, vocab)  # unusual strides: numpy copies


def _make_plan(rows: np.ndarray, lead_shape, *, full: bool, top_k: int) -> _Plan:
    vocab = rows.shape[1]
    itemsize = compute_dtype(rows.dtype).itemsize
    cols = min(vocab, max(1024, _TILE_BYTES // itemsize))
    per_tile = max(1, _TILE_BYTES // (cols * itemsize))
    return _Plan(full, top_k, per_tile, cols, tuple(lead_shape))


# ------------------------------------------------------------------- running


def _run(rows, targets, plan: _Plan, out: dict, source_mmap, workers) -> None:
    """Fill ``out`` for every row, splitting the rows between threads."""
    n, vocab = rows.shape
    fused = None if plan.full else _fused_for(rows)

    def span(lo: int, hi: int) -> None:
        if fused is None:
            _run_span(rows, targets, plan, out, source_mmap, lo, hi)
        else:
            _run_fused_span(fused, rows, targets, plan, out, source_mmap, lo, hi)

    map_row_spans(span, n, vocab, workers=workers)


def _run_span(rows, targets, plan: _Plan, out: dict, source_mmap, lo: int, hi: int):
    """Process rows ``lo..hi`` tile by tile with this thread's own buffers."""
    dtype = compute_dtype(rows.dtype)
    size = plan.rows_per_tile * plan.cols_per_tile
    scratch = _Scratch(
        work=_buffer("work", size, dtype),
        spare=_buffer("spare", size, dtype),
        flags=_buffer("flags", size, np.dtype(bool)) if plan.full else None,
        # float16 / integer logits are widened tile by tile into this buffer
        widened=_buffer("widened", size, dtype) if rows.dtype != dtype else None,
    )
    base = None if source_mmap is None else _mmap_address(source_mmap)
    for start in range(lo, hi, plan.rows_per_tile):
        stop = min(hi, start + plan.rows_per_tile)
        _process_rows(rows, targets, plan, out, start, stop, scratch)
        if base is not None:
            _release(source_mmap, base, rows[start:stop])


def _run_fused_span(fused, rows, targets, plan, out, source_mmap, lo, hi) -> None:
    """Log-probs of rows ``lo..hi`` by the compiled pass, a chunk of rows a
    call (a memmap's pages are handed back after each)."""
    step = max(1, _FUSED_CHUNK_BYTES // (rows.shape[1] * rows.itemsize))
    base = None if source_mmap is None else _mmap_address(source_mmap)
    array = np.asarray(rows)  # numba takes no ndarray subclass (np.memmap)
    targets = np.ascontiguousarray(targets)
    for start in range(lo, hi, step):
        stop = min(hi, start + step)
        _fused_rows(fused, array, targets, plan, out, start, stop)
        if base is not None:
            _release(source_mmap, base, array[start:stop])


def _fused_rows(fused, rows, targets, plan, out, start: int, stop: int) -> None:
    """One compiled call; a row it refuses (a NaN, ``+inf``, or entirely
    ``-inf``) goes through the tiles, whose error names it."""
    while start < stop:
        bad = fused.logprob_rows(rows, targets, out["logprob"], start, stop)
        if bad < 0:
            return
        _run_span(rows, targets, plan, out, None, bad, bad + 1)  # raises
        start = bad + 1


def _fused_for(rows: np.ndarray):
    """The compiled pass (:mod:`seqscore.numerics._fused`) if it serves
    ``rows``: float32 in C order, large enough, numba there and not off."""
    suits = (
        rows.dtype == np.float32  # native byte order: numba reads no other
        and rows.flags.c_contiguous
        and rows.size >= _FUSED_MIN_ELEMENTS
    )
    return _fused_module() if suits else None


_fused_off = [False]  # set by numpy_kernel()


def fused_available() -> bool:
    """Whether :func:`token_logprobs` can take the compiled pass (numba is
    installed and not turned off)."""
    return _fused_module() is not None


@contextlib.contextmanager
def numpy_kernel():
    """Within the block, the kernel runs numpy's tiles even if numba is
    installed (for comparisons; not thread-safe: a process-wide flag).

    >>> with numpy_kernel():
    ...     fused_available()
    False
    """
    before = _fused_off[0]
    _fused_off[0] = True
    try:
        yield
    finally:
        _fused_off[0] = before


def _fused_module():
    """:mod:`seqscore.numerics._fused`, or None if numba is off or absent."""
    if _fused_off[0] or os.environ.get("SEQSCORE_NUMBA", "1") == "0":
        return None
    return _load_fused()


@functools.cache
def _load_fused():
    """Import the compiled pass once per process (None if it cannot be)."""
    return load_compiled(
        "seqscore.numerics._fused",
        "the token kernel runs on numpy (same numbers within a few ulps, slower)",
        stacklevel=4,
    )


_THREAD_BUFFERS = threading.local()


def _buffer(role: str, size: int, dtype: np.dtype) -> np.ndarray:
    """This thread's reusable flat buffer for ``role``, at least ``size`` long.

    Fresh buffers of a tile's size cost page faults and zeroing on every
    call, which dominated scoring many small arrays (2.5 ms a call); kept per
    thread, they cost that once (a few MiB per thread, for the process's life).
    """
    buffers = getattr(_THREAD_BUFFERS, "by_role", None)
    if buffers is None:
        buffers = _THREAD_BUFFERS.by_role = {}
    key = (role, dtype.str)
    found = buffers.get(key)
    if found is None or found.size < size:
        found = buffers[key] = np.empty(size, dtype)
    return found[:size]


class _Scratch(NamedTuple):
    """One thread's reusable tile-sized buffers (flat; viewed per tile)."""

    work: np.ndarray
    spare: np.ndarray
    flags: np.ndarray | None
    widened: np.ndarray | None


def _process_rows(rows, targets, plan, out, start, stop, scratch: _Scratch) -> None:
    block = rows[start:stop]
    target_logit = block[np.arange(stop - start), targets[start:stop]]
    target_logit = target_logit.astype(np.float64)

    def column_partial(c0: int) -> _Partial:
        tile = block[:, c0 : c0 + plan.cols_per_tile]
        if scratch.widened is not None:
            tile = _into(scratch.widened, tile)
        return _tile_partial(tile, (start, c0), target_logit, plan, scratch)

    partial = column_partial(0)  # the vocabulary is never empty (_prepare)
    for c0 in range(plan.cols_per_tile, block.shape[1], plan.cols_per_tile):
        partial = _merge(partial, column_partial(c0), plan.top_k)
    _finish(partial, target_logit, plan, out, start, stop)


def _view(flat: np.ndarray, shape) -> np.ndarray:
    """The first ``rows x cols`` entries of a flat buffer, as a 2-D array."""
    return flat[: shape[0] * shape[1]].reshape(shape)


def _into(flat: np.ndarray, tile: np.ndarray) -> np.ndarray:
    """``tile`` converted into the buffer ``flat``."""
    target = _view(flat, tile.shape)
    np.copyto(target, tile, casting="unsafe")
    return target


def _tile_partial(tile, origin, target_logit, plan, scratch: _Scratch) -> _Partial:
    """Statistics of one tile whose first entry is at ``origin`` = (row, column)."""
    start, c0 = origin
    n = tile.shape[0]
    # argmax costs what max does, and the rest is summed without that term
    argmax = np.argmax(tile, axis=1)
    peak = tile[np.arange(n), argmax]
    if np.isnan(peak).any() or np.isposinf(peak).any():
        raise_for_bad_logit(tile, offset=(start, c0), lead_shape=plan.lead_shape)
    shift, shifted = _shift(tile, peak, scratch.spare)
    expd = np.exp(shifted, out=_view(scratch.work, tile.shape))
    # pairwise summation in the compute dtype; the maximal term becomes 0 in
    # expd, which leaves the weighted sum below unchanged (its z - shift is 0)
    rest = rest_sum(expd, argmax)[:, 0]
    flags = scratch.flags  # allocated exactly when plan.full
    if flags is None:
        return _Partial(peak, shift, rest, None)
    weighted = _weighted_sum(expd, shifted, (tile, shift), scratch.spare)
    # the target's value was read from this array, so the cast back is exact
    above = np.greater(
        tile,
        target_logit[:, None].astype(tile.dtype),
        out=_view(flags, tile.shape),
    )
    greater = np.array([np.count_nonzero(row) for row in above], dtype=np.int64)
    top = None
    if plan.top_k:
        top_values, top_ids = _top_k(tile, min(plan.top_k, tile.shape[1]))
        top = _Top(top_values, top_ids + c0)
    return _Partial(peak, shift, rest, _Full(weighted, greater, argmax + c0, top))


def _shift(tile, peak, spare):
    """The per-row shift for ``exp`` (each row's maximum, 0 for a row that
    is entirely ``-inf``) and the shifted logits.

    Always taken, though for moderate logits ``exp(z)`` would not overflow
    unshifted: without it, the entropy ``log(total) - sum(e^z z) / total``
    subtracts two numbers near the maximum ``m`` to get one that may be near
    0 (a true 1.12e-7 came out as 0.0 at ``m = 40`` and 2.29e-6 at ``m = 70``
    in float32), and float32 log-probs carry the rounding of ``log(total)``
    near ``m`` instead of near 0 (``-log 2`` off by 6e-8). Shifted, the
    largest term is exactly ``e^0 = 1`` and nothing large cancels.
    """
    shift = np.where(np.isneginf(peak), 0, peak)
    with np.errstate(over="ignore"):  # a spread beyond the dtype's range -> -inf
        shifted = np.subtract(tile, shift[:, None], out=_view(spare, tile.shape))
    return shift.astype(np.float64), shifted


def _weighted_sum(expd, shifted, origin, spare) -> np.ndarray:
    """``sum_k e_k * d_k`` per row, where masked entries have ``e = 0, d = -inf``.

    Multiplied into ``spare`` and summed pairwise (an einsum is faster but
    accumulates float32 naively: 3e-5 relative error against 9e-8 here).
    ``0 * -inf`` is NaN, so rows holding masked entries are redone from
    ``origin = (tile, shift)`` with the ``-inf`` lifted to the lowest finite
    value (its ``exp`` is 0 as well). ``shifted`` may be ``spare`` itself, so
    it is not read again after the multiplication.
    """
    with np.errstate(invalid="ignore"):
        products = np.multiply(expd, shifted, out=_view(spare, expd.shape))
    weighted = products.sum(axis=1).astype(np.float64)
    tile, shift = origin
    lowest = np.finfo(expd.dtype).min
    for r in np.flatnonzero(np.isnan(weighted)):
        with np.errstate(over="ignore"):
            lifted = np.maximum(tile[r] - expd.dtype.type(shift[r]), lowest)
        weighted[r] = float(np.sum(expd[r] * lifted))
    return weighted


def _merge(a: _Partial, b: _Partial, top_k: int) -> _Partial:
    """Combine two column tiles of the same rows (exact, order-preserving).

    The result is relative to the shift of the tile with the larger peak
    (``a`` on a tie), whose maximal term stays the one left out of ``rest``
    (:func:`seqscore.numerics._normaliser.merge_rests`); the other tile's terms, its
    maximal one included, are scaled by ``exp(its shift - shift) <= 1`` (0
    for a tile entirely ``-inf``).
    """
    merged = merge_rests(
        a.peak.astype(np.float64), a.rest, b.peak.astype(np.float64), b.rest
    )
    first = merged.b_first
    peak = np.where(first, b.peak, a.peak)
    shift = np.where(first, b.shift, a.shift)
    a_full, b_full = a.full, b.full  # both set or both None (plan.full)
    if a_full is None or b_full is None:
        return _Partial(peak, shift, merged.rest, None)
    small_shift = np.where(first, a.shift, b.shift)  # 0 for an all -inf tile
    small_total = 1.0 + np.where(first, a.rest, b.rest)
    big_weighted = np.where(first, b_full.weighted, a_full.weighted)
    small_weighted = np.where(first, a_full.weighted, b_full.weighted)
    # the small tile's sum of e (d + offset), rescaled; 0 for an all -inf tile
    weighted = big_weighted + merged.scale * (
        small_weighted + (small_shift - shift) * small_total
    )
    greater = a_full.greater + b_full.greater
    argmax = np.where(first, b_full.argmax, a_full.argmax)
    top = None
    a_top, b_top = a_full.top, b_full.top  # both set or both None (top_k)
    if a_top is not None and b_top is not None:
        values = np.concatenate([a_top.values, b_top.values], axis=1)
        ids = np.concatenate([a_top.ids, b_top.ids], axis=1)
        order = np.lexsort((ids, -values.astype(np.float64)), axis=1)[:, :top_k]
        top = _Top(
            np.take_along_axis(values, order, axis=1),
            np.take_along_axis(ids, order, axis=1),
        )
    return _Partial(peak, shift, merged.rest, _Full(weighted, greater, argmax, top))


def _top_k(tile: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest entries of each row, best first, ties to smaller ids."""
    width = tile.shape[1]
    ids = np.argpartition(tile, width - k, axis=1)[:, width - k :]
    values = np.take_along_axis(tile, ids, axis=1)
    kth = values.min(axis=1)
    # argpartition picks arbitrarily among entries tied with the k-th value;
    # rows where that choice mattered are redone to take the smallest ids.
    ties_in_row = np.count_nonzero(tile == kth[:, None], axis=1)
    ties_taken = np.count_nonzero(values == kth[:, None], axis=1)
    for r in np.flatnonzero(ties_in_row != ties_taken):
        above = np.flatnonzero(tile[r] > kth[r])
        tied = np.flatnonzero(tile[r] == kth[r])[: k - len(above)]
        ids[r] = np.concatenate([above, tied])
    values = np.take_along_axis(tile, ids, axis=1)
    order = np.lexsort((ids, -values.astype(np.float64)), axis=1)
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(
        ids, order, axis=1
    )


def _finish(partial: _Partial, target_logit, plan, out, start, stop) -> None:
    """Turn merged partials into the requested outputs for rows start..stop."""
    where = slice(start, stop)
    if np.isneginf(partial.peak).any():
        row = start + int(np.flatnonzero(np.isneginf(partial.peak))[0])
        step = np.unravel_index(row, plan.lead_shape) if plan.lead_shape else ()
        raise InvalidInputError(
            f"{row_label(step, -1, len(step) + 1, 'logits')} is entirely -inf: every "
            "token is masked at this step, so there is no distribution"
        )
    # log Z = log1p(rest): a dominant token keeps its log-prob's relative
    # precision (-4.2e-18 for [0, -40], not 0)
    log_total = log_normaliser(partial.rest)
    shift = partial.shift
    # log p = (z - shift) - log Z: the logsumexp (shift + log Z) is never
    # formed, as at 1e308 it would absorb log Z and give two tied maxima
    # log-prob 0 instead of -log 2. Both terms are <= 0 (rest >= 0), so a
    # log-prob is never above 0 and nothing cancels: no clamping needed.
    out["logprob"][where] = (target_logit - shift) - log_total
    full = partial.full  # set exactly when plan.full
    if full is None:
        return
    out["rank"][where] = full.greater + 1
    out["argmax"][where] = full.argmax
    peak = partial.peak.astype(np.float64)
    out["argmax_logprob"][where] = (peak - shift) - log_total
    out["entropy"][where] = _entropy(log_total, full.weighted, partial.rest)
    if full.top is not None:  # set exactly when plan.top_k
        top = full.top.values.astype(np.float64)
        out["top_ids"][where] = full.top.ids
        out["top_logprobs"][where] = (top - shift[:, None]) - log_total[:, None]


def _entropy(log_total, weighted, rest) -> np.ndarray:
    r"""Entropy from the normaliser: :math:`H = \log Z - \sum_k e_k d_k / Z`.

    With :math:`d_k = z_k - m \le 0`, :math:`e_k = e^{d_k}` and :math:`Z = 1
    + s`, both terms are >= 0: :math:`\operatorname{log1p}(s)` and
    :math:`-\sum_k e_k d_k / (1 + s)` (the maximal term has :math:`d = 0`).
    Nothing cancels, so a peaked row's tiny entropy (about :math:`s\,(1 +
    \text{gap})`) keeps its relative precision.

    >>> s = float(np.exp(-40.0))
    >>> float(_entropy(np.log1p(s), -40.0 * s, s))  # [0, -40]: about 41 e^-40
    1.741825244669552e-16
    """
    return log_total - weighted / (1.0 + rest)


# ----------------------------------------------------------- memory release


def _source_mmap(logits):
    """The read-only mmap behind ``logits``, if its pages may be dropped."""
    handle = getattr(logits, "_mmap", None)
    if handle is None or getattr(logits, "mode", None) != "r":
        return None  # writable or copy-on-write maps keep their pages
    return handle if hasattr(handle, "madvise") else None


def _mmap_address(handle) -> int:
    return np.frombuffer(handle, dtype=np.uint8).__array_interface__["data"][0]


def release_pages(block: np.ndarray) -> None:
    """Hand the pages under ``block``, a view of a read-only memmap, back to
    the operating system (a no-op for anything else)."""
    handle = _source_mmap(block)
    if handle is not None:
        _release(handle, _mmap_address(handle), block)


def _release(handle, base: int, block: np.ndarray) -> None:
    """Drop the whole pages inside ``block`` from this process's resident set
    (they stay in the page cache)."""
    first = block.__array_interface__["data"][0] - base
    release_range(handle, first, block.shape[0] * block.strides[0])
