"""How requests are grouped into forward passes (seqscore.models.batching).

Properties over random request sets: every request runs exactly once,
after its own context; no pass or packed row exceeds its limits unless it
holds a single row, context or request (which must run somehow); one-token
contexts never share a context pass with longer ones.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from seqscore.models.batching import (
    context_chunks,
    length_batches,
    packed_rows,
    position_runs,
)

contexts = st.lists(
    st.lists(st.integers(0, 3), min_size=1, max_size=6).map(tuple),
    min_size=1,
    max_size=30,
)


@st.composite
def requests(draw):
    """``(contexts, continuation lengths)`` of some requests; contexts repeat."""
    distinct = draw(contexts)
    picks = draw(st.lists(st.sampled_from(distinct), min_size=1, max_size=40))
    size = len(picks)
    return picks, draw(st.lists(st.integers(1, 9), min_size=size, max_size=size))


limits = st.fixed_dictionaries(
    {
        "max_rows": st.integers(1, 8),
        "max_positions": st.integers(1, 60),
        "max_context_positions": st.integers(1, 40),
        "max_contexts": st.none() | st.integers(1, 4),
    }
)


@given(requests(), limits)
def test_context_chunks_run_every_request_once_after_its_context(request_set, limit):
    picks, lengths = request_set
    chunks = context_chunks(picks, lengths, **limit)
    ran = []
    for chunk in chunks:
        assert len(chunk.requests) == len(chunk.slots)
        for request, slot in zip(chunk.requests, chunk.slots, strict=True):
            assert picks[request] == chunk.contexts[slot]
        for batch in chunk.batches:
            ran.extend(chunk.requests[i] for i in batch)
    assert sorted(ran) == list(range(len(picks)))
    # each distinct context runs in exactly one context pass
    seen = [c for chunk in chunks for c in chunk.contexts]
    assert sorted(seen) == sorted(set(picks))


@given(requests(), limits)
def test_context_chunks_keep_their_limits(request_set, limit):
    picks, lengths = request_set
    most = limit["max_rows"]
    if limit["max_contexts"] is not None:
        most = min(most, limit["max_contexts"])
    for chunk in context_chunks(picks, lengths, **limit):
        widths = [len(c) for c in chunk.contexts]
        assert len(chunk.contexts) <= most
        if len(chunk.contexts) > 1:
            assert len(widths) * max(widths) <= limit["max_context_positions"]
        # a one-token context has no context pass: never beside a longer one
        assert len({w == 1 for w in widths}) == 1
        for batch in chunk.batches:
            assert len(batch) <= limit["max_rows"]
            if len(batch) > 1:
                # the keys a continuation pass reads count as its positions
                longest = max(lengths[chunk.requests[i]] for i in batch)
                assert len(batch) * (max(widths) + longest) <= limit["max_positions"]


@given(
    st.lists(st.integers(1, 20), min_size=1, max_size=30),
    st.integers(1, 8),
    st.integers(1, 80),
)
def test_length_batches_cover_the_order_within_limits(lengths, rows, positions):
    order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
    batches = length_batches(lengths, order, rows, positions)
    assert [i for batch in batches for i in batch] == order
    for batch in batches:
        assert len(batch) <= rows
        if len(batch) > 1:
            assert len(batch) * max(lengths[i] for i in batch) <= positions


@given(st.lists(st.integers(1, 20), min_size=1, max_size=30), st.integers(1, 50))
def test_position_runs_cover_the_rows_within_limits(lengths, positions):
    runs = position_runs(lengths, positions)
    assert [i for run in runs for i in run] == list(range(len(lengths)))
    for run in runs:
        if len(run) > 1:
            assert sum(lengths[i] for i in run) <= positions


@given(requests(), st.integers(1, 30))
def test_packed_rows_hold_every_request_once_within_their_width(request_set, width):
    picks, lengths = request_set
    rows = packed_rows(picks, lengths, max_width=width)
    held = sorted(r for row in rows for r in row.requests)
    assert held == list(range(len(picks)))
    for row in rows:
        assert row.requests
        assert all(picks[r] == row.context for r in row.requests)
        assert row.width == len(row.context) + sum(lengths[r] - 1 for r in row.requests)
        if len(row.requests) > 1:
            assert row.width <= width
    # a context takes a second row only when the first is full
    per_context = {}
    for row in rows:
        per_context.setdefault(row.context, []).append(row)
    for context_rows in per_context.values():
        for row, following in itertools.pairwise(context_rows):
            first = lengths[following.requests[0]] - 1
            assert row.width + first > width
