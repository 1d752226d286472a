r"""The numba kernels behind :mod:`.selection` (imported only when numba is).

:func:`best_per_prompt` selects each prompt's best candidates (and checks the
row maxima), :func:`advance` files, extends and stops, and
:func:`select_and_advance` does both in one call for a step too small to
share between the cores. Their state is :mod:`.beam_batch`'s, in plain
arrays, so a search can take the numpy step for one step and these for the
next. Compiled once per row dtype and cached on disk next to this file
(numba's ``cache=True``), so later processes load them instead of compiling.
"""

from __future__ import annotations

import numba
import numpy as np

from seqscore.decoding.handoff import Beams, Rule, Search, Store

__all__ = ["advance", "best_per_prompt", "select_and_advance"]

_CHUNK = 64  # tokens tested together before any is ranked
_SUB = 16  # and within a chunk that holds some, before any is ranked one by one


@numba.njit(cache=True, nogil=True)
def best_per_prompt(rows, sums, peaks, starts, ends, total, flat, count, lo, hi):
    """Fill ``total``/``flat``/``count`` for prompts ``lo`` to ``hi - 1``;
    return the first of their rows whose maximum ``peaks[r]`` is not a
    finite log-prob (NaN, ``+inf``, above ``1e-6``, or ``-inf``: no
    possible token), or -1 if none is (the model-output check).

    Prompt ``p`` owns rows ``starts[p]`` to ``ends[p] - 1``; row ``r``'s
    candidate ``v`` has total ``sums[r] + rows[r, v]`` (float64) and flat
    index ``r * V + v``. Rows are scanned in order, so every candidate kept
    has a smaller flat index than any not yet seen: a later candidate enters
    only with a strictly greater total, which is the tie rule. ``worst``
    stays ``-inf`` until ``need`` are kept, so ``-inf`` totals never enter.
    A row whose best total (from ``peaks``) cannot beat ``worst`` is skipped.
    Runs without the GIL, so two threads can fill two halves of the prompts.
    """
    vocab = rows.shape[1]
    need = total.shape[1]
    for p in range(lo, hi):
        kept = 0
        worst = -np.inf
        for r in range(starts[p], ends[p]):
            if not (peaks[r] > -np.inf and peaks[r] <= 1e-6):
                return r
            base = sums[r]
            if not base + peaks[r] > worst:
                continue
            row = rows[r]
            # most chunks hold nothing better than worst: one count skips them
            for lo_v in range(0, vocab, _CHUNK):
                hi_v = min(lo_v + _CHUNK, vocab)
                if _above(row, lo_v, hi_v, base, worst) == 0:
                    continue
                for lo_s in range(lo_v, hi_v, _SUB):
                    hi_s = min(lo_s + _SUB, hi_v)
                    if _above(row, lo_s, hi_s, base, worst) == 0:
                        continue
                    for v in range(lo_s, hi_s):
                        value = base + row[v]
                        if value > worst:
                            kept = _insert(
                                total[p], flat[p], kept, value, r * vocab + v
                            )
                            if kept == need:
                                worst = total[p, need - 1]
        count[p] = kept
    return -1


@numba.njit(cache=True, nogil=True, inline="always")
def _above(row, lo, hi, base, worst):
    """How many of ``base + row[lo:hi]`` exceed ``worst`` (a branch-free
    count, which the compiler vectorises)."""
    hits = 0
    for v in range(lo, hi):
        hits += base + row[v] > worst
    return hits


@numba.njit(cache=True, nogil=True, inline="always")
def _insert(total, flat, kept, value, index):
    """Put ``(value, index)`` after every kept entry of total ``>= value``
    (they came first), dropping the last entry if the list is full."""
    need = len(total)
    slot = kept if kept < need else need - 1
    while slot > 0 and total[slot - 1] < value:
        total[slot] = total[slot - 1]
        flat[slot] = flat[slot - 1]
        slot -= 1
    total[slot] = value
    flat[slot] = index
    return min(kept + 1, need)


@numba.njit(cache=True, nogil=True, inline="always")
def _named(beams, search, settings):
    """The plain tuples of :mod:`.handoff`'s builders, named again (free in
    compiled code)."""
    live, score, handle, stored, step_counts, store = search
    return (
        Beams(*beams),
        Search(live, score, handle, stored, step_counts, Store(*store)),
        Rule(*settings),
    )


@numba.njit(cache=True, nogil=True)
def select_and_advance(rows, peaks, need, beams, search, settings):
    """A whole step in one thread: :func:`best_per_prompt` of every live
    prompt, then :func:`advance`. Returns ``(bad, advanced)``: the first row
    that fails the model-output check and None, or -1 and the result of
    :func:`advance`."""
    beams, search, settings = _named(beams, search, settings)
    sums, starts = beams.sums, beams.starts
    prompts = len(starts)
    total = np.full((prompts, need), -np.inf)
    flat = np.full((prompts, need), -1, dtype=np.int64)
    count = np.zeros(prompts, dtype=np.int64)
    ends = np.empty(prompts, dtype=np.int64)
    ends[:-1] = starts[1:]
    ends[-1] = len(sums)
    bad = best_per_prompt(
        rows, sums, peaks, starts, ends, total, flat, count, 0, prompts
    )
    if bad >= 0:
        return bad, None
    return -1, _advance(rows, total, flat, count, beams, search, settings)


@numba.njit(cache=True, nogil=True)
def advance(rows, total, flat, count, beams, search, settings):
    """:func:`_advance` of the plain tuples of :mod:`.handoff`'s builders."""
    beams, search, settings = _named(beams, search, settings)
    return _advance(rows, total, flat, count, beams, search, settings)


@numba.njit(cache=True, nogil=True)
def _advance(rows, total, flat, count, beams, search, settings):
    """Everything a step does after the selection, for every live prompt.

    ``total``/``flat``/``count``: :func:`best_per_prompt`'s lists of the
    live prompts. ``beams``, ``search`` and ``settings`` are the
    :mod:`.handoff` tuples :class:`~.handoff.Beams`,
    :class:`~.handoff.Search` and :class:`~.handoff.Rule` (the store has
    room for every live prompt's ``width`` more hypotheses).

    A candidate ends when it is ``eos`` or ``last``; the ended ones among the
    best ``width`` are filed with score ``total / divisor`` (a stable merge:
    old entries first on ties, then the new in rank order). The best
    ``width`` that did not end become the prompt's next beams, unless it
    stops (its ``step_counts`` entry is then set to ``step``): no beam left,
    or a full finished list and ``stop_at_full``, or a full list that the
    best new beam's ``sum / stop_divisor`` does not beat.

    Returns the fields of an :class:`~.handoff.Advanced`, in order, as a
    plain tuple (see :mod:`.handoff`): the new count of rows stored, and the
    running beams and live prompts after the step.
    """
    prefixes, lengths, steps, pad = (
        beams.prefixes,
        beams.lengths,
        beams.steps,
        beams.pad,
    )
    live, fin_score, fin_handle = search.live, search.score, search.handle
    stored, step_counts = search.stored, search.step_counts
    store_ids, store_logprobs = search.store.ids, search.store.logprobs
    store_lengths = search.store.lengths
    eos, last, step, divisor = (
        settings.eos,
        settings.last,
        settings.step,
        settings.divisor,
    )
    stop_at_full, stop_divisor = settings.stop_at_full, settings.stop_divisor
    vocab = rows.shape[1]
    prompts = len(live)
    width = fin_score.shape[1]
    t = steps.shape[1]
    kept = np.zeros((prompts, width), dtype=np.int64)  # candidate slots kept
    running = np.zeros(prompts, dtype=np.int64)
    done = np.zeros(prompts, dtype=np.bool_)
    for p in range(prompts):
        b = live[p]
        for c in range(count[p]):
            parent, token = divmod(flat[p, c], vocab)
            if not (last or token == eos):
                if running[p] < width:
                    kept[p, running[p]] = c
                    running[p] += 1
            elif c < width and _merge(
                fin_score[b], fin_handle[b], total[p, c] / divisor, stored
            ):
                store_ids[stored, :t] = prefixes[parent, pad:]
                store_ids[stored, t] = token
                store_logprobs[stored, :t] = steps[parent]
                store_logprobs[stored, t] = rows[parent, token]
                store_lengths[stored] = t + 1
                stored += 1
        worst = fin_score[b, width - 1]
        if running[p] == 0:
            done[p] = True
        elif worst > -np.inf:
            best = total[p, kept[p, 0]] / stop_divisor
            done[p] = stop_at_full or not best > worst
        if done[p]:
            step_counts[b] = step
    going = 0
    for p in range(prompts):
        if not done[p]:
            going += running[p]
    left = prompts - np.count_nonzero(done)
    out_prefixes = np.empty((going, prefixes.shape[1] + 1), dtype=prefixes.dtype)
    out_lengths = np.empty(going, dtype=np.int64)
    out_sums = np.empty(going)
    out_steps = np.empty((going, t + 1))
    out_seg = np.empty(going, dtype=np.int64)
    out_starts = np.empty(left, dtype=np.int64)
    out_live = np.empty(left, dtype=np.int64)
    row = 0
    position = 0
    for p in range(prompts):
        if done[p]:
            continue
        out_starts[position] = row
        out_live[position] = live[p]
        for k in range(running[p]):
            c = kept[p, k]
            parent, token = divmod(flat[p, c], vocab)
            out_prefixes[row, :-1] = prefixes[parent]
            out_prefixes[row, -1] = token
            out_lengths[row] = lengths[parent] + 1
            out_sums[row] = total[p, c]
            out_steps[row, :t] = steps[parent]
            out_steps[row, t] = rows[parent, token]
            out_seg[row] = position
            row += 1
        position += 1
    return (
        stored,
        out_prefixes,
        out_lengths,
        out_sums,
        out_steps,
        out_seg,
        out_starts,
        out_live,
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _merge(score, handle, value, index):
    """Insert ``(value, index)`` into the list ``score``/``handle`` (best
    first) after every entry of score ``>= value``, the last entry falling
    off (a stable merge of the old list, then the new entry); return
    whether it went in."""
    slot = len(score)
    while slot > 0 and not score[slot - 1] >= value:
        slot -= 1
    if slot == len(score):
        return False
    for k in range(len(score) - 1, slot, -1):
        score[k] = score[k - 1]
        handle[k] = handle[k - 1]
    score[slot] = value
    handle[slot] = index
    return True
