r"""Beam search of many prompts at once: the array form of :mod:`.beam`'s settings.

:func:`search_batch` runs the search that :func:`~seqscore.decoding.beam_search`
documents for every prompt of a batch together. Each step makes one model
call for the running beams of all unfinished prompts; the ranking of
candidates, the filing of finished hypotheses and the stopping rules work on
arrays over the whole batch (per-prompt state lives in arrays indexed by
prompt). A prompt's candidates are never compared with another prompt's, so
each prompt gets exactly the result of a search of it alone.

Finding each prompt's best ``2 * width`` candidates among its ``beams x V``
without sorting or partitioning them all. A candidate's total is ``s + x``
(its beam's sum plus the token's log-prob). For a per-prompt threshold
``t``, one comparison of every row with ``t - s`` gathers the candidates
with total ``>= t``; if there are at least ``2 * width`` of them, the best
``2 * width`` of the prompt are among them, and only the few gathered are
sorted. The threshold is

* from the third step on, a guess: the best total this step (``max(s +
  max x)``, from the row maxima the model-output check computes anyway)
  minus ``GUESS_SCALE`` times the previous step's spread of the best
  ``2 * width`` totals, plus ``GUESS_SLACK`` nats;
* for a prompt whose guess gathers too few (and for every prompt in the first
  two steps, when the number of beams changes), a safe one: the ``2 * width``-th
  best total of the prompt's best beam; only that prompt's rows are gathered
  again.

Near the threshold candidates are dense, so a guess gathers several times
``2 * width``; before sorting, a histogram of each prompt's gathered totals
(``NARROW_BINS`` bins between its threshold and its best) keeps only the bins
that hold its best ``2 * width``. A candidate's bin only grows as its total
falls, so the kept bins hold every candidate at least as good as any kept
one.

With numba installed (``seqscore[fast]``), a step with float32 or float64
rows runs compiled instead (:mod:`.selection`): one pass per prompt finds the
same candidates, one more files, extends and stops; the state between steps
is the same, and so are the results (the tests run both ways).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from seqscore.decoding import handoff
from seqscore.decoding.beam_settings import BeamSettings
from seqscore.decoding.protocol import (
    Decoded,
    PrefixBatch,
    make_decoded_rows,
    model_rows,
    row_peaks,
)
from seqscore.decoding.selection import advance_compiled, compiled_suits
from seqscore.numerics.parallel import map_row_spans

__all__ = ["search_batch"]

GUESS_SCALE, GUESS_SLACK = 1.25, 0.25
NARROW_BINS = 64


@dataclass(frozen=True)
class _Beams:
    """The running beams of the live prompts, grouped by prompt, best first.

    ``prefixes`` ``(R, pad + t)``: each prompt right-aligned in the first
    ``pad`` columns, then the ``t`` generated ids; ``lengths`` ``(R,)`` the
    true prefix lengths; ``sums`` ``(R,)`` the summed log-probs; ``steps``
    ``(R, t)`` the per-step log-probs; ``seg`` ``(R,)`` each beam's position
    in the list of live prompts; ``starts`` ``(L,)`` the row of each live
    prompt's best beam. ``uniform``: every prefix fills its row.
    """

    prefixes: np.ndarray
    lengths: np.ndarray
    sums: np.ndarray
    steps: np.ndarray
    seg: np.ndarray
    starts: np.ndarray
    pad: int
    uniform: bool

    def model_input(self):
        """The prefixes as the model gets them: an array, or a PrefixBatch."""
        if self.uniform:
            return self.prefixes
        return PrefixBatch(self.prefixes, self.lengths)


@dataclass(frozen=True)
class _Candidates:
    """Each live prompt's best ``2 * width`` candidates, best first.

    ``(L, 2 * width)`` arrays: ``total`` (``-inf`` where ``valid`` is False:
    the prompt has fewer candidates), ``parent`` (row of the beam extended),
    ``token``; ``ended``: valid, and the candidate ends (EOS or last step).
    """

    total: np.ndarray
    parent: np.ndarray
    token: np.ndarray
    valid: np.ndarray
    ended: np.ndarray


class _Finished:
    """Per prompt, the best ``width`` finished hypotheses so far, best first.

    ``score`` ``(B, width)`` (``-inf`` marks an empty slot, after the full
    ones; ties: the earlier filed first); ``handle`` indexes the rows of
    ``ids`` / ``logprobs`` (generated ids and per-step log-probs, row ``h``
    in its first ``lengths[h]`` columns) where the filed hypotheses are kept.
    The store grows by doubling, so filing stays a pair of slice copies.
    """

    def __init__(self, prompts: int, width: int, length: int):
        """Room for ``2 * prompts * width`` hypotheses (at most 16,384) of
        ``length`` tokens at first (hypotheses that leave a list stay
        stored, so a search files more than ``prompts * width``)."""
        rows = min(2 * prompts * width, 1 << 14)
        self.score = np.full((prompts, width), -np.inf)
        self.handle = np.full((prompts, width), -1, dtype=np.int64)
        self.ids = np.zeros((rows, length), dtype=np.int64)
        self.logprobs = np.zeros((rows, length))
        self.lengths = np.zeros(rows, dtype=np.int64)
        self.count = 0

    def store(self, ids: np.ndarray, logprobs: np.ndarray) -> np.ndarray:
        """Keep rows of ids and per-step log-probs; return their handles."""
        rows, length = ids.shape
        end = self.count + rows
        self.reserve(rows, length)
        self.ids[self.count : end, :length] = ids
        self.logprobs[self.count : end, :length] = logprobs
        self.lengths[self.count : end] = length
        self.count = end
        return np.arange(end - rows, end)

    def reserve(self, rows: int, length: int) -> None:
        """Make room for ``rows`` more rows of ``length`` entries (the store
        at least doubles when it grows, so growing is rare)."""
        have, wide = len(self.lengths), self.ids.shape[1]
        if self.count + rows <= have and length <= wide:
            return
        have, wide = max(self.count + rows, 2 * have), max(length, 2 * wide)
        kept = self.count
        for name in ("ids", "logprobs"):
            old = getattr(self, name)
            new = np.zeros((have, wide), dtype=old.dtype)
            new[:kept, : old.shape[1]] = old[:kept]
            setattr(self, name, new)
        lengths = np.zeros(have, dtype=np.int64)
        lengths[:kept] = self.lengths[:kept]
        self.lengths = lengths

    def decoded(self, model) -> list[list[Decoded]]:
        """Every prompt's hypotheses as :class:`Decoded`, best first."""
        filled = self.handle >= 0
        kept = self.handle[filled]
        made = make_decoded_rows(
            model,
            self.ids[kept],
            self.logprobs[kept],
            self.score[filled],
            self.lengths[kept],
        )
        starts = np.cumsum([0, *np.count_nonzero(filled, axis=1).tolist()]).tolist()
        return [made[lo:hi] for lo, hi in itertools.pairwise(starts)]


@dataclass
class _Search:
    """The state of a batched search between steps: the running beams,
    which prompts are live (their indices in the batch), the finished
    lists, each prompt's step count, and the numpy selection's guess margins."""

    beams: _Beams
    live: np.ndarray
    finished: _Finished
    steps: np.ndarray
    margin: np.ndarray


def search_batch(model, prompts, settings: BeamSettings):
    """Beam search of every prompt (checked id tuples, at least one).

    Returns, per prompt, ``(hypotheses, steps)``: its finished hypotheses
    as :class:`Decoded`, best first, and the number of steps a search of it
    alone would take.
    """
    lengths = np.array([len(p) for p in prompts], dtype=np.int64)
    search = _Search(
        beams=_start(prompts, lengths, model.eos_id),
        live=np.arange(len(prompts)),
        finished=_Finished(len(prompts), settings.width, min(settings.max_tokens, 32)),
        steps=np.zeros(len(prompts), dtype=np.int64),
        margin=np.full(len(prompts), np.nan),
    )
    compiled = compiled_suits(settings.width)
    step = 0
    while len(search.live):
        step += 1
        prefixes = search.beams.model_input()
        rows = np.ascontiguousarray(model_rows(model, prefixes))
        live = len(search.live)
        if rows.dtype.type in (np.float32, np.float64) and compiled:
            _compiled_step(search, rows, prefixes, step, settings, model.eos_id)
        else:
            _numpy_step(search, rows, prefixes, step, settings, model.eos_id)
        if len(search.live) < live:
            search.beams = _trimmed(search.beams, lengths[search.live])
        del rows  # before the next call, which may then reuse its memory
    decoded = search.finished.decoded(model)
    return list(zip(decoded, search.steps.tolist(), strict=True))


def _numpy_step(search: _Search, rows, prefixes, step, settings: BeamSettings, eos):
    """One step with numpy (any float rows): file the ended candidates, set
    the step count of each prompt that stops, and leave in ``search`` the
    live prompts and their running beams after the step."""
    peaks = row_peaks(rows, prefixes)
    beams, live, width = search.beams, search.live, settings.width
    last = step == settings.max_tokens
    guess = search.margin[live] if step > 2 else None
    cand = _select(rows, peaks, beams, guess, 2 * width, eos, last)
    if step > 1:
        spread = cand.total[:, 0] - cand.total[:, -1]
        search.margin[live] = GUESS_SCALE * spread + GUESS_SLACK
    if cand.ended[:, :width].any():
        _file(search.finished, live, cand, beams, rows, settings.score_divisor(step))
    beams, running = _extend(beams, rows, cand, width, last)
    worst = search.finished.score[live, -1]
    done = _stopped(
        worst, beams, running, settings.early_stopping, settings.stop_divisor(step)
    )
    search.steps[live[done]] = step
    if done.any():
        search.beams, search.live = _without(beams, done, running), live[~done]
    else:
        search.beams = beams


def _compiled_step(search: _Search, rows, prefixes, step, settings: BeamSettings, eos):
    """:func:`_numpy_step` in compiled code (float32 or float64 rows)."""
    beams, finished = search.beams, search.finished
    filed_at_most = min(len(search.live) * settings.width, rows.size)
    finished.reserve(filed_at_most, beams.steps.shape[1] + 1)
    bad, advanced = advance_compiled(
        rows,
        2 * settings.width,
        handoff.beams(
            prefixes=beams.prefixes,
            lengths=beams.lengths,
            sums=beams.sums,
            steps=beams.steps,
            pad=beams.pad,
            starts=beams.starts,
        ),
        handoff.search(
            live=search.live,
            score=finished.score,
            handle=finished.handle,
            stored=finished.count,
            step_counts=search.steps,
            store=handoff.store(
                ids=finished.ids, logprobs=finished.logprobs, lengths=finished.lengths
            ),
        ),
        handoff.rule(
            eos=eos,
            last=step == settings.max_tokens,
            step=step,
            divisor=settings.score_divisor(step),
            stop_at_full=settings.early_stopping is True,
            stop_divisor=settings.stop_divisor(step),
        ),
    )
    if bad >= 0:
        row_peaks(rows, prefixes)  # raises the check's error, naming the prefix
        raise AssertionError(f"row {bad} failed the compiled check only")
    finished.count, search.live = advanced.stored, advanced.live
    search.beams = _Beams(
        prefixes=advanced.prefixes,
        lengths=advanced.lengths,
        sums=advanced.sums,
        steps=advanced.steps,
        seg=advanced.seg,
        starts=advanced.starts,
        pad=beams.pad,
        uniform=beams.uniform,
    )


def _start(prompts, lengths: np.ndarray, fill: int) -> _Beams:
    """One beam per prompt: the prompts right-aligned, nothing generated."""
    pad = int(lengths.max())
    prefixes = np.full((len(prompts), pad), fill, dtype=np.int64)
    for row, prompt in enumerate(prompts):
        prefixes[row, pad - len(prompt) :] = prompt
    index = np.arange(len(prompts))
    return _Beams(
        prefixes=prefixes,
        lengths=lengths.copy(),
        sums=np.zeros(len(prompts)),
        steps=np.zeros((len(prompts), 0)),
        seg=index,
        starts=index,
        pad=pad,
        uniform=bool(lengths.min() == pad),
    )


# ------------------------------------------------------ candidate selection


def _select(rows, peaks, beams: _Beams, margin, need, eos, last) -> _Candidates:
    """Each live prompt's best ``need`` candidates (see the module notes).

    ``margin`` (per live prompt) sets the guessed threshold ``best -
    margin``; None: no guess, every prompt gets the safe threshold.
    """
    prompts = len(beams.starts)
    best = np.maximum.reduceat(beams.sums + peaks, beams.starts)
    if margin is None:
        threshold = _safe_thresholds(rows, beams, beams.starts, need)
    else:
        threshold = best - margin
    found = _gather(rows, beams, threshold)
    counts = np.bincount(found[-1], minlength=prompts)
    short = counts < need
    if margin is not None and short.any():
        threshold[short] = _safe_thresholds(rows, beams, beams.starts[short], need)
        again = _gather(rows, beams, threshold, np.flatnonzero(short[beams.seg]))
        keep = ~short[found[-1]]
        found = tuple(
            np.concatenate((old[keep], new))
            for old, new in zip(found, again, strict=True)
        )
        counts[short] = np.bincount(again[-1], minlength=prompts)[short]
    if counts.max() > 2 * need:
        keep, counts = _narrow(found[2], found[3], best, threshold, need)
        found = tuple(column[keep] for column in found)
    parent, token, total, owner = found
    return _rank(parent, token, total, owner, counts, need, eos, last)


def _gather(rows, beams: _Beams, threshold, subset=None):
    """``(parent, token, total, owner)`` of every candidate with ``total >=
    threshold[owner]`` (``owner``: its prompt's position in the live list),
    grouped by prompt and in ``(beam, token)`` order within it; from the
    rows ``subset`` only, if given.

    One comparison of each row with a per-beam cut on the log-prob, set a
    little low so that rounding in ``sums + logprob`` can lose nothing; the
    exact test on the float64 totals of the few gathered then decides.
    """
    sums = beams.sums if subset is None else beams.sums[subset]
    block = rows if subset is None else rows[subset]
    seg = beams.seg if subset is None else beams.seg[subset]
    per_beam = threshold[seg]
    cut = _cuts(per_beam, sums, rows.dtype)
    flat = _at_or_above(block, cut)
    local, token = np.divmod(flat, rows.shape[1])
    total = sums[local] + block.ravel()[flat]
    keep = total >= per_beam[local]
    local = local[keep]
    parent = local if subset is None else subset[local]
    return parent, token[keep], total[keep], seg[local]


def _at_or_above(block: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Flat indices of the entries of ``block`` at or above their row's ``cut``
    (both cores share a large block: the scan is the decoder's biggest cost)."""
    width = block.shape[1]

    def span(lo: int, hi: int) -> np.ndarray:
        return np.flatnonzero(block[lo:hi] >= cut[lo:hi, None]) + lo * width

    parts = map_row_spans(span, *block.shape)
    return parts[0] if len(parts) == 1 else np.concatenate(parts or [np.zeros(0, int)])


def _cuts(threshold, sums, dtype):
    """Per beam, a log-prob ``c`` with ``x >= c`` for every ``x`` of the row
    whose float64 ``sums + x`` reaches ``threshold``: ``threshold - sums``
    lowered by far more than the rounding of that sum. Never below the most
    negative finite value, so ``-inf`` log-probs are never gathered."""
    cut = threshold - sums
    cut -= 1e-12 * (1.0 + np.abs(threshold) + np.abs(sums))
    if dtype == np.float32:
        lowest = np.finfo(np.float32).min
        cut = np.maximum(cut, lowest).astype(np.float32)
        # one step further down, but never to -inf (a masked entry)
        return np.nextafter(cut, np.float32(-np.inf), out=cut, where=cut > lowest)
    return np.maximum(cut, np.finfo(np.float64).min)


def _safe_thresholds(rows, beams: _Beams, first, need):
    """Thresholds that gather at least ``need`` candidates (or every
    possible one): the ``need``-th best total of each prompt's best beam,
    ``-inf`` when that beam has fewer than ``need`` possible tokens."""
    vocab = rows.shape[1]
    if vocab < need:
        return np.full(len(first), -np.inf)
    kth = np.partition(rows[first], vocab - need, axis=1)[:, vocab - need]
    return beams.sums[first] + kth


def _narrow(total, owner, best, threshold, need):
    """Which gathered candidates lie in the histogram bins that hold their
    prompt's best ``need`` (all of a prompt's if it has fewer), and how many
    each prompt keeps.

    Bin ``floor((best - total) / (best - threshold) * NARROW_BINS)`` (the
    last bin also takes ``total == threshold``) is non-decreasing as
    ``total`` falls, so the kept set holds everything at least as good as
    any of its members.
    """
    prompts, bins = len(best), NARROW_BINS
    scale = bins / np.maximum(best - threshold, 1e-300)  # -inf threshold: 0
    where = np.minimum((best[owner] - total) * scale[owner], bins - 1)
    where = where.astype(np.int64)
    counts = np.bincount(owner * bins + where, minlength=prompts * bins)
    running = np.cumsum(counts.reshape(prompts, bins), axis=1)
    last = np.where(
        running[:, -1] >= need, np.argmax(running >= need, axis=1), bins - 1
    )
    return where <= last[owner], running[np.arange(prompts), last]


def _rank(parent, token, total, owner, counts, need, eos, last) -> _Candidates:
    """The gathered candidates of each prompt ranked by total, best first.

    A stable sort by prompt keeps each prompt's candidates in the order they
    were gathered, ``(beam, token)``; laid out one prompt per row, a stable
    sort of each row by negated total then breaks ties towards the earlier
    beam, then the smaller id.
    """
    prompts = len(counts)
    small = np.int16 if prompts < 2**15 else np.int64  # radix sort for int16
    order = np.argsort(owner.astype(small), kind="stable")
    first = np.cumsum(counts) - counts
    grouped = owner[order]
    keys = np.full((prompts, max(int(counts.max()), need)), np.inf)
    keys[grouped, np.arange(len(order)) - first[grouped]] = -total[order]
    column = np.argsort(keys, axis=1, kind="stable")[:, :need]
    valid = column < counts[:, None]
    pick = order[first[:, None] + np.where(valid, column, 0)]
    token = token[pick]
    return _Candidates(
        total=-np.take_along_axis(keys, column, axis=1),
        parent=parent[pick],
        token=token,
        valid=valid,
        ended=valid if last else valid & (token == eos),
    )


# ------------------------------------------------------------ bookkeeping


def _file(finished: _Finished, live, cand: _Candidates, beams, rows, divisor):
    """Merge the step's ended candidates among each prompt's best ``width``
    into its finished list: the best ``width`` of old and new by score
    ``total / divisor``, old first on ties, the new in rank order."""
    width = finished.score.shape[1]
    filed = cand.ended[:, :width]
    which = np.flatnonzero(filed.any(axis=1))
    filed = filed[which]
    parent = cand.parent[which, :width][filed]
    token = cand.token[which, :width][filed]
    handles = np.full(filed.shape, -1, dtype=np.int64)
    handles[filed] = finished.store(
        _append_column(beams.prefixes[parent, beams.pad :], token),
        _append_column(beams.steps[parent], rows[parent, token]),
    )
    score = np.where(filed, cand.total[which, :width] / divisor, -np.inf)
    prompts = live[which]
    score = np.concatenate((finished.score[prompts], score), axis=1)
    handle = np.concatenate((finished.handle[prompts], handles), axis=1)
    order = np.argsort(-score, axis=1, kind="stable")[:, :width]
    index = np.arange(len(which))[:, None]
    finished.score[prompts] = score[index, order]
    finished.handle[prompts] = handle[index, order]


def _extend(beams: _Beams, rows, cand: _Candidates, width, last):
    """The next running beams (each prompt's best ``width`` candidates that
    did not end, best first) and how many each live prompt has."""
    if last:
        return beams, np.zeros(len(beams.starts), dtype=np.int64)
    going = cand.valid & ~cand.ended
    keep = going & (np.cumsum(going, axis=1) <= width)
    running = np.count_nonzero(keep, axis=1)
    parent, token = cand.parent[keep], cand.token[keep]
    beams = _Beams(
        prefixes=_append_column(beams.prefixes[parent], token),
        lengths=beams.lengths[parent] + 1,
        sums=cand.total[keep],
        steps=_append_column(beams.steps[parent], rows[parent, token]),
        seg=beams.seg[parent],
        starts=np.cumsum(running) - running,
        pad=beams.pad,
        uniform=beams.uniform,
    )
    return beams, running


def _stopped(worst, beams: _Beams, running, early_stopping, divisor):
    """Which live prompts stop after this step (:mod:`.beam`'s rules).

    ``worst`` is each prompt's worst finished score (``-inf`` until its list
    is full); a prompt with no running beam always stops; a full list stops
    the prompt if ``early_stopping is True``, else if its best running
    beam's ``sum / divisor`` does not beat ``worst``.
    """
    out = running == 0
    full = worst > -np.inf
    if early_stopping is True:
        return out | full
    if not full.any():
        return out
    best = np.full(len(running), -np.inf)
    best[~out] = beams.sums[beams.starts[~out]]
    return out | (full & ~(best / divisor > worst))


def _without(beams: _Beams, done, running) -> _Beams:
    """The beams of the prompts that did not stop."""
    alive = ~done
    rows = alive[beams.seg]
    running = running[alive]
    return _Beams(
        prefixes=beams.prefixes[rows],
        lengths=beams.lengths[rows],
        sums=beams.sums[rows],
        steps=beams.steps[rows],
        seg=(np.cumsum(alive) - 1)[beams.seg[rows]],
        starts=np.cumsum(running) - running,
        pad=beams.pad,
        uniform=beams.uniform,
    )


def _trimmed(beams: _Beams, left) -> _Beams:
    """``beams`` without the padding columns once the prompts left (of
    lengths ``left``) all have the same length (copied: the compiled step
    takes C-contiguous blocks, and a model gets one)."""
    if beams.uniform or not len(left) or left.min() != left.max():
        return beams
    pad = int(left[0])
    prefixes = np.ascontiguousarray(beams.prefixes[:, beams.pad - pad :])
    return replace(beams, prefixes=prefixes, pad=pad, uniform=True)


def _append_column(block: np.ndarray, column) -> np.ndarray:
    out = np.empty((block.shape[0], block.shape[1] + 1), dtype=block.dtype)
    out[:, :-1] = block
    out[:, -1] = column
    return out
