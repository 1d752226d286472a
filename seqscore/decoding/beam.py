r"""Beam search with Hugging Face's conventions, one prompt or many at once.

Each step extends every running beam by every token, ranks the candidates by
their summed log-probability :math:`s = \sum_t \log p(x_t \mid x_{<t})`, and
looks at the best ``2 * width`` of them (so that ``width`` beams can go on even
if ``width`` candidates just ended). Then, exactly as transformers'
``generate(num_beams=width)`` does:

* a candidate that ends -- it emits EOS, or it reaches ``max_tokens`` -- is a
  *finished hypothesis* only if it ranks among the best ``width`` candidates
  of its step; its score is

  .. math:: \mathrm{score} = s / L^{\,\mathrm{length\_penalty}}

  with ``L`` the number of generated tokens *including* the EOS. At most
  ``width`` finished hypotheses are kept, the best by score;
* the best ``width`` candidates that did not end are the next running beams;
* the search stops when ``max_tokens`` is reached, when no beam is left, or
  once ``width`` hypotheses are finished and
  - ``early_stopping=True``: at once;
  - ``early_stopping=False`` (the default, as in transformers): when the best
    running beam's :math:`s / L_{\mathrm{now}}^{\,lp}` cannot beat the worst
    finished score (exact for ``length_penalty <= 0``, a heuristic above);
  - ``early_stopping="never"``: the same test with ``L = max_tokens`` when
    ``length_penalty > 0``, which is exact.

``length_penalty=0`` ranks by the plain sum of log-probs; with
``early_stopping`` False or ``"never"`` a width that keeps every prefix then
finds the exact most probable sequence. Positive values favour longer
sequences. Candidates of probability 0 (a ``-inf`` log-prob) are dropped;
transformers instead pads with dummy beams scored -1e9 when fewer than
``2 * width`` continuations exist, which never happens with a real vocabulary.
Totals are accumulated in float64 (transformers uses float32).

Ties are broken the same way every time: candidates of equal total go to the
earlier beam (beams are kept best first), then to the smaller token id; of
finished hypotheses of equal score the one found first ranks first, and stays
when a newcomer of the same score would push one out of a full list.

Many prompts. :func:`beam_search_batch` decodes a batch of prompts (of any
lengths) together: each step sends the running beams of every unfinished
prompt to the model in *one* call, then ranks, files and stops every prompt
with array operations over the whole batch. A prompt's result is the one
:func:`beam_search` gives for it alone (which is the batch of one): its
candidates are never compared with another prompt's, and it leaves the batch
at the step its own stopping rule fires. Prompts of different lengths reach
the model as a :class:`~seqscore.decoding.protocol.PrefixBatch`.

How a step finds the best ``2 * width`` candidates of each prompt without
sorting (or partitioning) all ``beams x V`` of them: every candidate whose
total reaches a per-prompt threshold ``t`` is gathered by one comparison pass
over the model's rows, and if at least ``2 * width`` candidates reach ``t``
the best of them are the best overall. The threshold is guessed from the
previous step (the best total this step, minus a multiple of the spread of
the previous step's best ``2 * width``); a prompt whose guess gathers too
few is redone with a safe threshold, the ``2 * width``-th best candidate of
its best beam.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from .protocol import (
    Decoded,
    LanguageModel,
    PrefixBatch,
    check_count,
    check_max_tokens,
    check_prompt,
    make_decoded,
    next_logprobs_and_peaks,
)

__all__ = ["BeamResult", "beam_search", "beam_search_batch"]

# the next step's threshold is the best total minus GUESS_SCALE times this
# step's spread (best total - the 2*width-th best) plus GUESS_SLACK nats
GUESS_SCALE, GUESS_SLACK = 1.5, 0.5


@dataclass(frozen=True)
class BeamResult:
    """The finished hypotheses of a beam search, best ``score`` first.

    ``steps`` is how many tokens the search generated before it stopped (the
    number of batched model calls of a search of this prompt alone).
    """

    hypotheses: tuple[Decoded, ...]
    width: int
    length_penalty: float
    early_stopping: bool | str
    steps: int

    @property
    def best(self) -> Decoded:
        """The hypothesis with the highest score."""
        return self.hypotheses[0]


def beam_search(
    model: LanguageModel,
    prompt: Sequence[int],
    max_tokens: int,
    width: int = 4,
    *,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
) -> BeamResult:
    """Beam search of ``width`` beams for at most ``max_tokens`` tokens.

    See the module notes for the conventions (they are transformers'). The
    same as ``beam_search_batch(model, [prompt], ...)[0]``.

    >>> from seqscore.models.tree import textbook_tree
    >>> result = beam_search(textbook_tree(), [], max_tokens=4, width=2,
    ...                      length_penalty=0.0)
    >>> [(h.tokens, round(h.probability, 6)) for h in result.hypotheses]
    [(('B', 'C', '<eos>'), 0.36), (('A', 'C', '<eos>'), 0.2)]
    """
    settings = _Settings.checked(max_tokens, width, length_penalty, early_stopping)
    (result,) = _search(model, (check_prompt(model, prompt),), settings)
    return result


def beam_search_batch(
    model: LanguageModel,
    prompts: Sequence[Sequence[int]],
    max_tokens: int,
    width: int = 4,
    *,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
) -> tuple[BeamResult, ...]:
    """:func:`beam_search` of every prompt, decoded together, in prompt order.

    One model call per step serves the running beams of all unfinished
    prompts; result ``i`` equals ``beam_search(model, prompts[i], ...)``
    (same hypotheses, same scores, same ``steps``). Prompts may differ in
    length. An invalid prompt is named by its index (``prompts[3][1] = ...``).

    >>> from seqscore.models.tree import textbook_tree
    >>> tree = textbook_tree()
    >>> results = beam_search_batch(tree, [[], tree.encode("A")], max_tokens=4,
    ...                             width=2, length_penalty=0.0)
    >>> [(r.best.tokens, round(r.best.probability, 6)) for r in results]
    [(('B', 'C', '<eos>'), 0.36), (('C', '<eos>'), 0.333333)]
    """
    settings = _Settings.checked(max_tokens, width, length_penalty, early_stopping)
    checked = tuple(
        check_prompt(model, prompt, name=f"prompts[{index}]")
        for index, prompt in enumerate(prompts)
    )
    return _search(model, checked, settings) if checked else ()


# --------------------------------------------------------------- the search


@dataclass(frozen=True)
class _Settings:
    max_tokens: int
    width: int
    length_penalty: float
    early_stopping: bool | str

    @classmethod
    def checked(cls, max_tokens, width, length_penalty, early_stopping):
        if early_stopping not in (True, False, "never"):
            raise InvalidInputError(
                f"early_stopping must be True, False or 'never', got {early_stopping!r}"
            )
        if early_stopping != "never":
            early_stopping = bool(early_stopping)  # 1 and 0 mean what they say
        return cls(
            check_max_tokens(max_tokens),
            check_count(width, "beam width"),
            _check_penalty(length_penalty),
            early_stopping,
        )


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
    ``token``; ``ended``: valid and the candidate ends (EOS or last step).
    """

    total: np.ndarray
    parent: np.ndarray
    token: np.ndarray
    valid: np.ndarray
    ended: np.ndarray


class _Finished:
    """Per prompt, the best ``width`` finished hypotheses so far, best first.

    ``score`` ``(B, width)`` (``-inf`` marks an empty slot, after the full
    ones); ``handle`` indexes the ``(ids, logprobs)`` rows filed in
    ``blocks`` (one block per step that filed anything).
    """

    def __init__(self, prompts: int, width: int):
        self.score = np.full((prompts, width), -np.inf)
        self.handle = np.full((prompts, width), -1, dtype=np.int64)
        self.blocks: list[tuple[np.ndarray, np.ndarray]] = []
        self.bases: list[int] = []
        self.count = 0

    def store(self, ids: np.ndarray, logprobs: np.ndarray) -> np.ndarray:
        """Keep rows of ids and per-step log-probs; return their handles."""
        self.blocks.append((ids, logprobs))
        self.bases.append(self.count)
        self.count += len(ids)
        return np.arange(self.count - len(ids), self.count)

    def payload(self, handle: int) -> tuple[list[int], list[float]]:
        block = bisect.bisect_right(self.bases, handle) - 1
        ids, logprobs = self.blocks[block]
        row = handle - self.bases[block]
        return ids[row].tolist(), logprobs[row].tolist()


def _search(model, prompts, settings: _Settings) -> tuple[BeamResult, ...]:
    """The batched search over checked prompts (at least one)."""
    width, need = settings.width, 2 * settings.width
    lengths = np.array([len(p) for p in prompts], dtype=np.int64)
    beams = _start(prompts, lengths, model.eos_id)
    live = np.arange(len(prompts))
    finished = _Finished(len(prompts), width)
    steps = np.zeros(len(prompts), dtype=np.int64)
    spread = np.full(len(prompts), np.nan)
    step = 0
    while len(live):
        step += 1
        rows, peaks = next_logprobs_and_peaks(model, beams.model_input())
        rows = np.ascontiguousarray(rows)
        last = step == settings.max_tokens
        cand = _select(rows, peaks, beams, spread[live], need, model.eos_id, last)
        spread[live] = cand.total[:, 0] - cand.total[:, need - 1]
        if cand.ended[:, :width].any():
            _file(finished, live, cand, beams, rows, step, settings)
        beams, running = _extend(beams, rows, cand, width, last)
        done = _stopped(finished.score[live, -1], beams, running, step, settings)
        steps[live[done]] = step
        if done.any():
            beams, live = _drop(beams, live, done, running, lengths)
    return tuple(
        _result(model, finished, prompt, int(steps[prompt]), settings)
        for prompt in range(len(prompts))
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


def _select(rows, peaks, beams: _Beams, spread, need, eos, last) -> _Candidates:
    """Each live prompt's best ``need`` candidates (see the module notes).

    ``threshold`` per prompt: the guess ``best - (GUESS_SCALE * spread +
    GUESS_SLACK)`` (NaN, gathering nothing, where there is no spread yet);
    prompts it leaves with fewer than ``need`` candidates get the safe one.
    """
    best = np.maximum.reduceat(beams.sums + peaks, beams.starts)
    threshold = best - (GUESS_SCALE * spread + GUESS_SLACK)
    found = _gather(rows, beams, threshold)
    short = np.bincount(beams.seg[found[0]], minlength=len(best)) < need
    if short.any():
        threshold[short] = _safe_thresholds(rows, beams, beams.starts[short], need)
        found = _gather(rows, beams, threshold)
    return _rank(*found, beams.seg, len(best), need, eos, last)


def _gather(rows, beams: _Beams, threshold):
    """``(parent, token, total)`` of every candidate with ``total >=
    threshold`` of its prompt, in row-major order.

    One comparison of each row with a per-beam cut on the log-prob, set a
    little low so that rounding in ``sums + logprob`` can lose nothing; the
    exact test on the float64 totals of the few gathered then decides.
    """
    per_beam = threshold[beams.seg]
    cut = _cuts(per_beam, beams.sums, rows.dtype)
    flat = np.flatnonzero(rows >= cut[:, None])
    parent, token = np.divmod(flat, rows.shape[1])
    total = beams.sums[parent] + rows.ravel()[flat]
    keep = total >= per_beam[parent]
    return parent[keep], token[keep], total[keep]


def _cuts(threshold, sums, dtype):
    """Per beam, a log-prob ``c`` with ``x >= c`` for every ``x`` of the row
    whose float64 ``sums + x`` reaches ``threshold``: ``threshold - sums``
    lowered by far more than the rounding of that sum. Never below the most
    negative finite value, so ``-inf`` log-probs are never gathered; NaN
    stays NaN (gathers nothing)."""
    cut = threshold - sums
    cut -= 1e-12 * (1.0 + np.abs(threshold) + np.abs(sums))
    if dtype == np.float32:
        lowest = np.finfo(np.float32).min
        cut = np.maximum(cut, lowest).astype(np.float32)
        return np.nextafter(cut, np.float32(-np.inf))
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


def _rank(parent, token, total, seg, prompts, need, eos, last) -> _Candidates:
    """The gathered candidates of each prompt ranked by total, best first.

    Gathered candidates come grouped by prompt and, within a prompt, by
    ``beam * V + token``; a stable sort of each prompt's negated totals
    therefore breaks ties towards the earlier beam, then the smaller id.
    """
    owner = seg[parent]
    counts = np.bincount(owner, minlength=prompts)
    first = np.cumsum(counts) - counts
    keys = np.full((prompts, max(int(counts.max()), need)), np.inf)
    keys[owner, np.arange(len(owner)) - first[owner]] = -total
    order = np.argsort(keys, axis=1, kind="stable")[:, :need]
    valid = order < counts[:, None]
    pick = np.where(valid, first[:, None] + order, 0)
    token = token[pick]
    return _Candidates(
        total=-np.take_along_axis(keys, order, axis=1),
        parent=parent[pick],
        token=token,
        valid=valid,
        ended=valid if last else valid & (token == eos),
    )


# ------------------------------------------------------------ bookkeeping


def _file(finished: _Finished, live, cand, beams: _Beams, rows, step, settings):
    """Merge the step's ended candidates (among the best ``width``) into the
    finished lists: each prompt keeps its best ``width`` of old and new, old
    first on ties, then the new in rank order (score ``total / step **
    length_penalty``)."""
    width = settings.width
    filed = cand.ended[:, :width]
    parent = cand.parent[:, :width][filed]
    token = cand.token[:, :width][filed]
    handles = np.full(filed.shape, -1, dtype=np.int64)
    handles[filed] = finished.store(
        _append_column(beams.prefixes[parent, beams.pad :], token),
        _append_column(beams.steps[parent], rows[parent, token]),
    )
    score = cand.total[:, :width] / step**settings.length_penalty
    score = np.concatenate((finished.score[live], np.where(filed, score, -np.inf)), 1)
    handle = np.concatenate((finished.handle[live], handles), 1)
    order = np.argsort(-score, axis=1, kind="stable")[:, :width]
    finished.score[live] = np.take_along_axis(score, order, axis=1)
    finished.handle[live] = np.take_along_axis(handle, order, axis=1)


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


def _stopped(worst, beams: _Beams, running, step, settings: _Settings):
    """Which live prompts stop after this step (see the module notes).

    ``worst`` is each prompt's worst finished score (``-inf`` until its list
    is full); a prompt with no running beam always stops.
    """
    out = running == 0
    full = worst > -np.inf
    if settings.early_stopping is True:
        return out | full
    penalty = settings.length_penalty
    never = settings.early_stopping == "never" and penalty > 0
    length = settings.max_tokens if never else step
    best = np.full(len(running), -np.inf)
    best[~out] = beams.sums[beams.starts[~out]]
    return out | (full & ~(best / length**penalty > worst))


def _drop(beams: _Beams, live, done, running, lengths):
    """Remove the beams of the prompts that stopped; trim the padding when
    the prompts left all have the same length."""
    alive = ~done
    rows = alive[beams.seg]
    live = live[alive]
    running = running[alive]
    left = lengths[live]
    pad, uniform = beams.pad, beams.uniform
    prefixes = beams.prefixes[rows]
    if not uniform and len(left) and left.min() == left.max():
        prefixes = prefixes[:, pad - int(left[0]) :]
        pad, uniform = int(left[0]), True
    beams = _Beams(
        prefixes=prefixes,
        lengths=beams.lengths[rows],
        sums=beams.sums[rows],
        steps=beams.steps[rows],
        seg=(np.cumsum(alive) - 1)[beams.seg[rows]],
        starts=np.cumsum(running) - running,
        pad=pad,
        uniform=uniform,
    )
    return beams, live


def _result(model, finished: _Finished, prompt, steps, settings) -> BeamResult:
    hypotheses = []
    for slot in range(settings.width):
        handle = int(finished.handle[prompt, slot])
        if handle < 0:
            break
        ids, logprobs = finished.payload(handle)
        score = float(finished.score[prompt, slot])
        hypotheses.append(make_decoded(model, ids, logprobs, score=score))
    return BeamResult(
        tuple(hypotheses),
        settings.width,
        settings.length_penalty,
        settings.early_stopping,
        steps,
    )


def _append_column(block: np.ndarray, column) -> np.ndarray:
    out = np.empty((block.shape[0], block.shape[1] + 1), dtype=block.dtype)
    out[:, :-1] = block
    out[:, -1] = column
    return out


def _check_penalty(penalty) -> float:
    value = float(penalty)
    if not np.isfinite(value):
        raise InvalidInputError(f"length_penalty must be finite, got {penalty}")
    return value
