"""The forward passes that score requests, three ways (one class each).

Every way turns :class:`~seqscore.models.requests.Request` s into *passes*
(:class:`Pass`): a batch of rows run at once, and for each request the flat
positions of the pass whose outputs predict its continuation's tokens.
:meth:`ScoringPasses.blocks` then turns each pass into
:class:`~seqscore.models.loglikelihood.LogitsBlock` s, running the output
layer on those positions only, in runs of at most ``positions`` of them
(:class:`PassLimits`), so a pass never holds logits for its contexts, its
padding or all its positions at once.

* :class:`WholePasses`: each request as one sequence ``context +
  continuation[:-1]`` (the lm-eval layout; ``share_contexts=False``).
* :class:`PackedPasses`: each distinct context once, its continuations
  after it in the same row (:mod:`seqscore.models.hf_packing`).
* :class:`CachedPasses`: each distinct context once in a *context pass*
  (keys and values only), its continuations after those keys and values
  (:mod:`seqscore.models.hf_keys`): for models that cannot pack.

Rows are sorted by width, longest first, and batched with right padding
(:func:`~seqscore.models.batching.length_batches`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from seqscore.models._torch import torch
from seqscore.models.batching import (
    ContextChunk,
    context_chunks,
    length_batches,
    packed_rows,
    position_runs,
    requests_by_context,
)
from seqscore.models.hf_forward import ForwardRunner
from seqscore.models.hf_keys import (
    Keys,
    cache_layers,
    continuation_cache,
    decoding_cache,
)
from seqscore.models.hf_packing import packed_inputs
from seqscore.models.hf_tokens import model_input
from seqscore.models.loglikelihood import LogitsBlock
from seqscore.models.prefixes import PrefixNode, shared_prefix_tree
from seqscore.numerics._pages import release_free_heap

__all__ = [
    "LOGITS_BUDGET",
    "CachedPasses",
    "PackedPasses",
    "Pass",
    "PassLimits",
    "PrefixSharing",
    "ScoringPasses",
    "WholePasses",
]

#: Bytes of float32 logits one forward pass may produce when no batch size
#: is given (about 670 positions of a 50,257-token vocabulary).
LOGITS_BUDGET = 128 << 20


@dataclass(frozen=True)
class PassLimits:
    """The most ``rows`` one pass may take and the most padded
    ``positions`` (rows x width) one pass, or one run of logits, may take."""

    rows: int
    positions: int

    @classmethod
    def of(cls, batch_size: int | None, vocab_size: int) -> PassLimits:
        """``batch_size`` rows a pass when given (positions unbounded), else
        as many rows as keep a pass's logits within :data:`LOGITS_BUDGET`."""
        if batch_size is not None:
            return cls(batch_size, 1 << 62)
        return cls(1 << 30, max(64, LOGITS_BUDGET // (4 * vocab_size)))


class Pass(NamedTuple):
    """One forward pass: request ``requests[r]`` is scored by the outputs
    at the flat positions ``picks[r]`` of ``states`` (hidden states, or
    logits without a separable head), one per continuation token."""

    requests: list[int]
    states: Any
    picks: list[list[int]]


class ScoringPasses(ABC):
    """One way of running the forward passes that score requests."""

    def __init__(self, runner: ForwardRunner, bos_id: int | None, limits: PassLimits):
        self.runner = runner
        self.bos_id = bos_id
        self.limits = limits

    @abstractmethod
    def passes(self, requests) -> Iterator[Pass]:
        """The passes that score every one of ``requests`` once.

        A pass's states are dropped by the generator once the consumer
        asks for the next one: one pass's output is alive at a time."""

    def blocks(self, requests) -> Iterator[LogitsBlock]:
        """The logits blocks of every pass over ``requests``."""
        for members, states, picks in self.passes(requests):
            yield from self._pass_blocks(members, states, picks)
            del states  # one pass's output alive at a time, not two

    def _pass_blocks(self, members, states, picks) -> Iterator[LogitsBlock]:
        """LogitsBlocks of one pass, a run of its requests each.

        Freed heap goes back to the system after the pass
        (:func:`~seqscore.numerics._pages.release_free_heap`): every pass
        allocates tensors of new shapes, which freed blocks seldom fit."""
        release_free_heap()
        flat = states.reshape(-1, states.shape[-1])
        lengths = [len(p) for p in picks]
        for group in position_runs(lengths, self.limits.positions):
            logits = self.runner.scored_logits(
                flat, [i for r in group for i in picks[r]]
            )
            offsets = np.cumsum([0] + [lengths[r] for r in group[:-1]]).tolist()
            yield LogitsBlock(logits, [members[r] for r in group], offsets)
            del logits

    def _context(self, request) -> tuple[int, ...]:
        """A request's context; an empty one is ``[bos_id]``, as for decoding
        (requests from text always have one: the prefix token)."""
        return tuple(request.context) or tuple(model_input((), self.bos_id))


class WholePasses(ScoringPasses):
    """Each request as one sequence, ``context + continuation[:-1]``."""

    def passes(self, requests) -> Iterator[Pass]:
        inputs = [(*self._context(r), *r.continuation[:-1]) for r in requests]
        lengths = [len(i) for i in inputs]
        order = sorted(range(len(inputs)), key=lengths.__getitem__, reverse=True)
        limits = self.limits
        for batch in length_batches(lengths, order, limits.rows, limits.positions):
            # right padding never reaches a real position of a causal model
            ids, _ = self.runner.padded([inputs[i] for i in batch])
            states = self.runner.states(ids)
            starts = [max(len(requests[i].context), 1) - 1 for i in batch]
            yield Pass(batch, states, _row_picks(ids.shape[1], starts, requests, batch))
            del states


@dataclass(frozen=True)
class PrefixSharing:
    """Which shared prefixes :class:`PackedPasses` computes once: those of
    at least ``min_length`` tokens, holding at most ``max_path_tokens``
    prefix tokens' keys and values at once
    (:func:`~seqscore.models.prefixes.shared_prefix_tree`)."""

    min_length: int
    max_path_tokens: int


class PackedPasses(ScoringPasses):
    """Each distinct context once, its continuations after it in the same
    row (:mod:`seqscore.models.hf_packing`); a row is at most
    ``min(positions, max_length)`` wide, so a context whose continuations
    do not fit gets more rows.

    With ``sharing``, a prefix that several contexts begin with runs once
    (:mod:`seqscore.models.prefixes`): its keys and values are computed in
    one row, each after its parent prefix's, and the rows of the contexts
    below it hold only their remainders, reading the prefix's keys. The
    prefixes are visited depth first, so only those on one path of the tree
    are held at a time."""

    def __init__(
        self,
        runner: ForwardRunner,
        bos_id: int | None,
        limits: PassLimits,
        max_length: int,
        sharing: PrefixSharing | None = None,
    ):
        super().__init__(runner, bos_id, limits)
        self.max_width = min(limits.positions, max_length)
        self.sharing = sharing

    def passes(self, requests) -> Iterator[Pass]:
        contexts = [self._context(r) for r in requests]
        by_context = requests_by_context(contexts)
        work = _Work(
            contexts, [r.continuation for r in requests], list(by_context.values())
        )
        yield from self._below(self._tree(list(by_context)), None, work)

    def _tree(self, distinct: list[tuple[int, ...]]) -> PrefixNode:
        """The shared prefixes of the ``distinct`` contexts (none at all
        without ``sharing``)."""
        if self.sharing is None:
            return PrefixNode((), list(range(len(distinct))))
        return shared_prefix_tree(
            distinct,
            min_length=self.sharing.min_length,
            max_path_tokens=self.sharing.max_path_tokens,
        )

    def _below(self, node: PrefixNode, keys: Keys | None, work: _Work):
        """The passes of every context below ``node``, after ``keys`` (those
        of ``node.prefix``; None for the empty prefix)."""
        members = [r for c in node.contexts for r in work.groups[c]]
        yield from self._rows_after(len(node.prefix), keys, members, work)
        for child in node.children:
            held = self._extended(keys, node.prefix, child.prefix)
            yield from self._below(child, held, work)
            del held  # a prefix's keys live while the contexts below it run

    def _extended(self, keys: Keys | None, prefix, longer) -> Keys:
        """The keys and values of ``longer``, computed after ``keys`` (those
        of ``prefix``, which it extends): one row, the base model only."""
        runner = self.runner
        ids = runner.tensor([longer[len(prefix) :]])
        positions = runner.tensor([list(range(len(prefix), len(longer)))])
        cache = None if keys is None else decoding_cache(keys.layers, runner.config)
        _, cache = runner.forward(
            ids, positions=positions, cache=cache, use_cache=True, head=False
        )
        return Keys(cache_layers(cache), None)

    def _rows_after(
        self, start: int, keys: Keys | None, members: list[int], work: _Work
    ) -> Iterator[Pass]:
        """Packed rows of ``members``' contexts past their first ``start``
        tokens (a prefix whose ``keys`` they read) and their continuations."""
        if not members:
            return
        continuations = [work.continuations[r] for r in members]
        packed = packed_rows(
            [work.contexts[r][start:] for r in members],
            [len(c) for c in continuations],
            max_width=self.max_width,
        )
        widths = [row.width for row in packed]
        order = sorted(range(len(packed)), key=widths.__getitem__, reverse=True)
        limits, runner = self.limits, self.runner
        for batch in length_batches(widths, order, limits.rows, limits.positions):
            chosen = [packed[i] for i in batch]
            ids, mask, places, picks = packed_inputs(
                chosen,
                continuations,
                runner.pad_id,
                runner.dtype,
                runner.device,
                start=start,
            )
            states = self._after(keys, ids, mask, places)
            yield Pass(
                [members[r] for row in chosen for r in row.requests], states, picks
            )
            del states

    def _after(self, keys: Keys | None, ids, mask, positions):
        """The states of packed rows after a prefix whose ``keys`` every row
        reads (``mask`` and ``positions`` already reach past it); the rows
        alone without one."""
        runner = self.runner
        if keys is None:
            return runner.states(ids, mask, positions=positions)
        rows = runner.tensor([0] * ids.shape[0])
        cache = continuation_cache(keys, rows, runner.config, plain=True)
        return runner.states(ids, mask, positions=positions, cache=cache)


class _Work(NamedTuple):
    """The requests of one :meth:`PackedPasses.passes`: their contexts and
    continuations, and the requests of each distinct context, in the order
    of the prefix tree's context indices."""

    contexts: list[tuple[int, ...]]
    continuations: list
    groups: list[list[int]]


class CachedPasses(ScoringPasses):
    """Each distinct context once in a context pass, then its continuations
    after its keys and values, as ``[last context token] +
    continuation[:-1]`` (models that cannot pack).

    ``plain_cache`` (:func:`~seqscore.models.hf_keys.plain_cache`): whether
    contexts of different lengths may be padded into one context pass; a
    sliding-window model's contexts run one a chunk, unpadded."""

    def __init__(
        self,
        runner: ForwardRunner,
        bos_id: int | None,
        limits: PassLimits,
        plain_cache: bool,
    ):
        super().__init__(runner, bos_id, limits)
        self.plain_cache = plain_cache

    def passes(self, requests) -> Iterator[Pass]:
        contexts = [self._context(r) for r in requests]
        rows, positions = self.limits.rows, self.limits.positions
        chunks = context_chunks(
            contexts,
            [len(r.continuation) for r in requests],
            max_rows=rows,
            max_positions=positions,
            max_context_positions=positions,
            # padded contexts only where every layer keeps every position
            max_contexts=rows if self.plain_cache else 1,
        )
        for chunk in chunks:
            keys = self.context_pass(chunk.contexts)
            yield from self._continuation_passes(chunk, keys, contexts, requests)

    def context_pass(self, contexts) -> Keys | None:
        """Keys and values of every context but its last token (None when
        every context is one token: nothing runs before the continuations)."""
        heads = [c[:-1] for c in contexts]
        if not heads[0]:
            return None
        ids, mask = self.runner.padded(heads)
        if self.runner.head is None:
            _, cache = self.runner.forward(ids, mask, keep_last=True, use_cache=True)
        else:
            # the base model alone: the head's output would be thrown away
            _, cache = self.runner.forward(ids, mask, use_cache=True, head=False)
        return Keys(cache_layers(cache), mask)

    def _continuation_passes(
        self, chunk: ContextChunk, keys: Keys | None, contexts, requests
    ) -> Iterator[Pass]:
        """One pass a batch of the chunk's requests, after ``keys``; every
        position of a continuation row is scored."""
        for batch in chunk.batches:
            members = [chunk.requests[i] for i in batch]
            slots = [chunk.slots[i] for i in batch]
            starts = [len(chunk.contexts[s]) - 1 for s in slots]
            inputs = [
                (contexts[r][-1], *requests[r].continuation[:-1]) for r in members
            ]
            states = self._continue(keys, slots, inputs, starts)
            firsts = [0] * len(members)
            yield Pass(
                members, states, _row_picks(states.shape[1], firsts, requests, members)
            )
            del states

    def _continue(self, keys: Keys | None, slots, inputs, starts):
        """The states of ``inputs`` run after the keys and values of the
        contexts ``slots`` (``starts``: each context's length - 1, the
        position of an input's first token)."""
        runner = self.runner
        ids, mask = runner.padded(inputs)
        positions = runner.tensor(starts)[:, None] + torch().arange(
            ids.shape[1], device=runner.device
        )
        positions = positions * mask  # padding positions stay in range
        if keys is None:
            return runner.states(ids, mask, positions=positions)
        rows = runner.tensor(slots)
        full_mask = torch().cat([keys.mask[rows], mask], dim=1)
        cache = continuation_cache(keys, rows, runner.config, plain=self.plain_cache)
        return runner.states(ids, full_mask, positions=positions, cache=cache)


def _row_picks(width: int, starts, requests, batch) -> list[list[int]]:
    """Flat positions of a pass of one request a row: row ``r`` predicts
    its continuation from position ``starts[r]`` on."""
    return [
        list(
            range(r * width + start, r * width + start + len(requests[i].continuation))
        )
        for r, (start, i) in enumerate(zip(starts, batch, strict=True))
    ]
