r"""The compiled step of beam search, used when numba is installed.

A step of beam search ranks, for every prompt, the candidates ``(beam r,
token v)`` of its beams by total :math:`s_r + x_{r,v}` (float64) and keeps
the best ``need = 2 * width``, ties going to the smaller flat index ``r * V
+ v`` (the earlier beam, then the smaller id), ``-inf`` totals never; then it
files the ended candidates, extends the beams and applies the stopping rules
(:mod:`.beam`).

With the optional extra ``seqscore[fast]`` (numba) installed, the whole step
after the model call is compiled (:func:`advance_compiled`): one pass over
each prompt's rows keeps its list directly (:func:`best_candidates`; both
cores take half the prompts each when the step is large), and one more pass
files, extends and stops every prompt (``_compiled.advance``). It serves
:func:`~seqscore.decoding.beam_search_batch` and, since it costs less per
step than the plain Python step, :func:`~seqscore.decoding.beam_search` of
one prompt too, for widths up to ``MAX_COMPILED_NEED / 2``. Without numba,
:mod:`.beam_batch` does the same with numpy (a threshold scan, then a sort of
the few candidates gathered), and one prompt takes the plain step of
:mod:`.beam`. All give identical results (the test suite runs every
beam-search test against the plain step), so numba only changes speed.
``SEQSCORE_NUMBA=0`` in the environment, or the :func:`numpy_selection`
context, turns the compiled step off.

The kernels are compiled the first time a process uses them and cached on
disk; later processes load them (importing numba and the cached kernels takes
about 0.6 s, which only beam search pays: nothing else imports them).
"""

from __future__ import annotations

import contextlib
import functools
import os

import numpy as np

from seqscore.decoding import handoff
from seqscore.numerics._numba import load_compiled
from seqscore.numerics.parallel import map_row_spans

__all__ = [
    "MAX_COMPILED_NEED",
    "advance_compiled",
    "best_candidates",
    "compiled_available",
    "compiled_suits",
    "numpy_selection",
]

_disabled = [False]  # set by numpy_selection()
# The kernel takes about half a nanosecond a candidate, a few numpy passes'
# worth, so a smaller step than for one numpy pass is worth splitting.
_PARALLEL_MIN_CANDIDATES = 1 << 19
MAX_COMPILED_NEED = 1024  # see compiled_suits


def compiled_available() -> bool:
    """Whether beam search can run the compiled step (numba is installed and
    not turned off)."""
    return not _disabled[0] and _kernel() is not None


def compiled_suits(width: int) -> bool:
    """Whether beam search of ``width`` beams runs the compiled step: numba
    is there, and ``2 * width`` is at most ``MAX_COMPILED_NEED`` (the
    compiled selection keeps each prompt's best ``2 * width`` in a sorted
    list, and an insertion shifts up to all of them: far wider searches
    cost less with numpy's partition)."""
    return 2 * width <= MAX_COMPILED_NEED and compiled_available()


@contextlib.contextmanager
def numpy_selection():
    """Within the block, beam search runs without the compiled step even if
    numba is installed: the numpy step for a batch, the plain step for one
    prompt (for comparisons; not thread-safe: it sets a process-wide flag).

    >>> with numpy_selection():
    ...     compiled_available()
    False
    """
    before = _disabled[0]
    _disabled[0] = True
    try:
        yield
    finally:
        _disabled[0] = before


def best_candidates(rows, sums, starts, need):
    """``(total, flat, count, bad)``: each prompt's best ``need`` candidates.

    ``rows`` ``(R, V)`` C-contiguous log-probs (float32 or float64); ``sums``
    ``(R,)`` float64; prompt ``p`` owns rows ``starts[p]`` up to the next
    start. Returns ``(L, need)`` totals (best first, ``-inf`` in unused
    slots), flat indices ``r * V + v`` (``-1`` unused), ``(L,)`` counts, and
    ``bad``: -1, or the first row whose maximum is not a finite log-prob
    (NaN, ``+inf``, above ``1e-6`` or ``-inf``: the model-output check; the
    lists are then incomplete). A large step is split between the cores by
    prompts, each thread taking its rows' maxima (numpy) and then selecting
    while the rows are still in its cache. Only call it when
    :func:`compiled_available`.
    """
    kernel = _kernel().best_per_prompt
    prompts = len(starts)
    total = np.full((prompts, need), -np.inf)
    flat = np.full((prompts, need), -1, dtype=np.int64)
    count = np.zeros(prompts, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.append(starts[1:], len(sums))
    peaks = np.empty(len(rows), dtype=rows.dtype)

    def fill(lo: int, hi: int) -> int:
        first, last = starts[lo], ends[hi - 1]
        np.max(rows[first:last], axis=1, out=peaks[first:last])
        return kernel(rows, sums, peaks, starts, ends, total, flat, count, lo, hi)

    per_prompt = rows.size // max(prompts, 1)
    found = map_row_spans(
        fill, prompts, per_prompt, min_elements=_PARALLEL_MIN_CANDIDATES
    )
    bad = [row for row in found if row >= 0]
    return total, flat, count, min(bad, default=-1)


def advance_compiled(rows, need, beams, search, settings):
    """A whole batched beam-search step after the model call: the check of
    the model's rows and :func:`best_candidates`, then the filing, extending
    and stopping of ``_compiled.advance`` (whose docstring gives the
    arguments and the result). ``beams``, ``search`` and ``settings`` are
    the plain tuples of :mod:`.handoff`'s builders. Returns ``(bad,
    advanced)``: -1 and a :class:`~.handoff.Advanced`, or the first row
    that fails the check and None. One
    compiled call for a small step; a large one selects on both cores first.
    Only call it when :func:`compiled_available`.
    """
    kernels = _kernel()
    if rows.size < _PARALLEL_MIN_CANDIDATES:
        peaks = rows.max(axis=1)
        bad, advanced = kernels.select_and_advance(
            rows, peaks, need, beams, search, settings
        )
        return bad, None if advanced is None else handoff.Advanced._make(advanced)
    named = handoff.Beams._make(beams)
    total, flat, count, bad = best_candidates(rows, named.sums, named.starts, need)
    if bad >= 0:
        return bad, None
    advanced = kernels.advance(rows, total, flat, count, beams, search, settings)
    return -1, handoff.Advanced._make(advanced)


@functools.cache
def _kernel():
    if os.environ.get("SEQSCORE_NUMBA", "1") == "0":
        return None
    return load_compiled(
        "seqscore.decoding._compiled",
        "batched beam search selects with numpy (same results, slower)",
        stacklevel=3,
    )
