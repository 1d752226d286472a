"""How a model-backed scorer groups requests into forward passes.

Pure bookkeeping, no model: given the token lengths of the requests
(:class:`seqscore.models.requests.Request`), decide which run together.

* :func:`length_batches` cuts requests sorted longest first into batches of
  at most ``max_rows`` rows and ``max_positions`` padded positions (rows times
  the longest row), so padding is small and a batch's logits, ``positions x
  vocabulary`` floats, stay within a memory budget.
* :func:`position_runs` cuts a pass's rows into runs of at most
  ``max_positions`` scored positions: the logits computed at once.
* :func:`packed_rows` lays out shared-context scoring in one pass: a row
  holds a context once, followed by several of its requests'
  continuations, each attending to the context and to itself only.
* :func:`context_chunks` groups requests by context for shared-context
  scoring through a cache (models whose attention cannot take a packed
  row): every distinct context runs once (one row of a context pass), and
  its requests' continuations run after it, batched by length across the
  contexts of a chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ContextChunk",
    "PackedRow",
    "context_chunks",
    "length_batches",
    "packed_rows",
    "position_runs",
    "requests_by_context",
]


def length_batches(
    lengths: Sequence[int], order: Sequence[int], max_rows: int, max_positions: int
) -> list[list[int]]:
    """Consecutive runs of ``order`` (indices into ``lengths``, longest
    first) with at most ``max_rows`` rows and ``rows x longest <=
    max_positions`` (a single row may exceed it: it runs alone).

    >>> length_batches([5, 3, 3, 1], [0, 1, 2, 3], max_rows=8, max_positions=9)
    [[0], [1, 2, 3]]
    >>> length_batches([2, 2, 2], [0, 1, 2], max_rows=2, max_positions=100)
    [[0, 1], [2]]
    """
    batches: list[list[int]] = []
    for index in order:
        batch = batches[-1] if batches else None
        if (
            batch is not None
            and len(batch) < max_rows
            and (len(batch) + 1) * lengths[batch[0]] <= max_positions
        ):
            batch.append(index)
        else:
            batches.append([index])
    return batches


def position_runs(lengths: Sequence[int], max_positions: int) -> list[list[int]]:
    """Consecutive runs of ``range(len(lengths))`` of at most
    ``max_positions`` positions in all (a longer single row runs alone):
    the rows whose logits are computed together.

    >>> position_runs([4, 3, 2, 9, 1], max_positions=7)
    [[0, 1], [2], [3], [4]]
    """
    runs: list[list[int]] = []
    total = 0
    for index, length in enumerate(lengths):
        if runs and total + length <= max_positions:
            runs[-1].append(index)
            total += length
        else:
            runs.append([index])
            total = length
    return runs


def requests_by_context(
    contexts: Sequence[tuple[int, ...]],
) -> dict[tuple[int, ...], list[int]]:
    """Each distinct context, in order of first appearance, with the
    indices of the requests that continue it."""
    by_context: dict[tuple[int, ...], list[int]] = {}
    for index, context in enumerate(contexts):
        by_context.setdefault(context, []).append(index)
    return by_context


@dataclass(frozen=True)
class PackedRow:
    """A context followed by some of its requests' continuations.

    The row's tokens are ``context``, then for each of ``requests`` in
    order its continuation but the last token; ``width`` counts them. The
    context's last position predicts every request's first token.
    """

    context: tuple[int, ...]
    requests: tuple[int, ...]
    width: int


def packed_rows(
    contexts: Sequence[tuple[int, ...]],
    continuation_lengths: Sequence[int],
    max_width: int,
) -> list[PackedRow]:
    """Rows of one distinct context each, holding as many of its requests
    as fit in ``max_width`` positions (a context with one request that
    alone is wider gets a row of its own; more requests, more rows, each
    repeating the context).

    ``contexts[i]`` and ``continuation_lengths[i]`` describe request ``i``;
    a request adds ``continuation_lengths[i] - 1`` positions to its row.

    >>> rows = packed_rows([(1, 2), (1, 2), (3,), (1, 2)], [3, 2, 4, 5], max_width=7)
    >>> [(r.context, r.requests, r.width) for r in rows]
    [((1, 2), (0, 1), 5), ((1, 2), (3,), 6), ((3,), (2,), 4)]
    """
    by_context = requests_by_context(contexts)
    rows = []
    for context, members in by_context.items():
        start, width = 0, len(context)
        for at, request in enumerate(members):
            extra = continuation_lengths[request] - 1
            if at > start and width + extra > max_width:
                rows.append(PackedRow(context, tuple(members[start:at]), width))
                start, width = at, len(context)
            width += extra
        rows.append(PackedRow(context, tuple(members[start:]), width))
    return rows


@dataclass(frozen=True)
class ContextChunk:
    """Contexts that run in one context pass, and their requests.

    ``contexts[j]`` is the ``j``-th distinct context of the chunk; request
    ``requests[i]`` continues context ``slots[i]``. ``batches`` are the
    continuation passes, as positions into ``requests``.
    """

    contexts: tuple[tuple[int, ...], ...]
    requests: tuple[int, ...]
    slots: tuple[int, ...]
    batches: tuple[tuple[int, ...], ...]


def context_chunks(
    contexts: Sequence[tuple[int, ...]],
    continuation_lengths: Sequence[int],
    *,
    max_rows: int,
    max_positions: int,
    max_context_positions: int,
    max_contexts: int | None = None,
) -> list[ContextChunk]:
    """Chunks of distinct contexts (longest first) whose padded context pass
    has at most ``max_context_positions`` positions, each with its requests'
    continuations batched longest first. One-token contexts (nothing to run
    before the continuation pass) form chunks of their own.

    ``contexts[i]`` and ``continuation_lengths[i]`` describe request ``i``.
    A chunk holds at most ``max_contexts`` contexts (default ``max_rows``):
    1 runs every context unpadded, for models whose cache cannot take
    right-padded contexts (sliding windows).
    A continuation pass counts its rows' context positions too (they are its
    keys and values), so ``rows x (context + continuation) <=
    max_positions``.

    >>> chunks = context_chunks([(1, 2), (1, 2), (3,)], [2, 4, 1], max_rows=8,
    ...                         max_positions=100, max_context_positions=100)
    >>> [(c.contexts, c.requests, c.slots, c.batches) for c in chunks]
    [(((1, 2),), (0, 1), (0, 0), ((1, 0),)), (((3,),), (2,), (0,), ((0,),))]
    """
    by_context = requests_by_context(contexts)
    distinct = sorted(by_context, key=len, reverse=True)
    if max_contexts is None:
        max_contexts = max_rows
    chunks, start = [], 0
    while start < len(distinct):
        longest = len(distinct[start])
        stop = start + 1
        while (
            stop < len(distinct)
            and stop - start < min(max_rows, max_contexts)
            and (stop + 1 - start) * longest <= max_context_positions
            # a one-token context has no context pass: never in a chunk with one
            and (len(distinct[stop]) > 1) == (longest > 1)
        ):
            stop += 1
        chunks.append(
            _chunk(
                distinct[start:stop],
                by_context,
                continuation_lengths,
                max_rows,
                max_positions,
            )
        )
        start = stop
    return chunks


def _chunk(distinct, by_context, continuation_lengths, max_rows, max_positions):
    requests, slots = [], []
    for slot, context in enumerate(distinct):
        members = by_context[context]
        requests.extend(members)
        slots.extend([slot] * len(members))
    order = sorted(
        range(len(requests)),
        key=lambda i: continuation_lengths[requests[i]],
        reverse=True,
    )
    # the keys of a continuation pass span the chunk's longest context
    width = len(distinct[0])
    lengths = [width + continuation_lengths[r] for r in requests]
    batches = length_batches(lengths, order, max_rows, max_positions)
    return ContextChunk(
        tuple(distinct), tuple(requests), tuple(slots), tuple(map(tuple, batches))
    )
