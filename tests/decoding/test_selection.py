"""The compiled candidate selection of batched beam search (numba).

These tests need the extra ``seqscore[fast]``, which the README's test
command and CI install: they are not skipped without it. The reference for
every expected value is a full sort: for each prompt, every candidate ``(r,
v)`` of its rows ordered by ``np.lexsort`` on (flat index, -total), finite
totals only, cut at ``need``. The end-to-end equality of the two selection
paths is in ``tests/decoding/test_beam_batch.py`` (every batched beam-search test
runs both).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numba  # noqa: F401  -- the extra under test; fail loudly without it
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqscore.decoding.selection import (
    best_candidates,
    compiled_available,
    numpy_selection,
)


def reference(rows, sums, starts, need):
    """Each prompt's best ``need`` finite candidates by a full sort."""
    vocab = rows.shape[1]
    ends = [*starts[1:], len(sums)]
    total = np.full((len(starts), need), -np.inf)
    flat = np.full((len(starts), need), -1, dtype=np.int64)
    count = np.zeros(len(starts), dtype=np.int64)
    for p, (lo, hi) in enumerate(zip(starts, ends, strict=True)):
        block = (sums[lo:hi, None] + rows[lo:hi]).ravel()
        index = np.arange(lo * vocab, hi * vocab)
        order = np.lexsort((index, -block))
        order = order[np.isfinite(block[order])][:need]
        count[p] = len(order)
        total[p, : len(order)] = block[order]
        flat[p, : len(order)] = index[order]
    return total, flat, count


@st.composite
def steps(draw):
    """A step's rows (float32 or float64, some ``-inf``, optional rounding
    for ties, each row with a finite entry), sums and prompt layout."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    vocab = draw(st.integers(1, 40))
    beams = draw(st.lists(st.integers(1, 5), min_size=1, max_size=6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = rng.normal(
        scale=draw(st.sampled_from([0.3, 3.0, 30.0])), size=(sum(beams), vocab)
    )
    quantum = draw(st.sampled_from([None, 0.5, 2.0]))
    if quantum:
        rows = np.round(rows / quantum) * quantum
    rows[rng.random(rows.shape) < draw(st.sampled_from([0.0, 0.5, 0.9]))] = -np.inf
    rows[np.arange(len(rows)), rng.integers(0, vocab, len(rows))] = 0.0
    rows -= rows.max(axis=1, keepdims=True) + 1.0  # log-probs: each maximum -1
    rows = np.ascontiguousarray(rows, dtype=dtype)
    sums = -np.round(rng.exponential(2.0, len(rows)), 1 if quantum else 8)
    starts = np.cumsum([0, *beams[:-1]])
    return rows, sums, starts, draw(st.integers(1, 12))


@settings(max_examples=300, deadline=None)
@given(steps())
def test_best_candidates_equal_a_full_sort(case):
    rows, sums, starts, need = case
    *got, bad = best_candidates(rows, sums, starts, need)
    want = reference(rows, sums, starts, need)
    for name, g, w in zip(("total", "flat", "count"), got, want, strict=True):
        assert np.array_equal(g, w), f"{name}: {g} != {w}"
    assert bad == -1


def test_a_large_step_split_between_threads_equals_a_full_sort():
    # 600 prompts x 8 beams x 400 tokens: above the size at which both cores
    # take half the prompts each
    rng = np.random.default_rng(7)
    rows = np.minimum(rng.normal(scale=2.0, size=(4800, 400)) - 6, -0.5)
    rows = rows.astype(np.float32)
    rows[rng.random(rows.shape) < 0.2] = -np.inf
    rows[:, 0] = -1.0
    sums = -np.sort(rng.exponential(3.0, 4800))
    starts = np.arange(0, 4800, 8)
    *got, bad = best_candidates(rows, sums, starts, 16)
    want = reference(rows, sums, starts, 16)
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    assert bad == -1


@pytest.mark.parametrize("fault", [np.nan, np.inf, 0.5, -np.inf])
@pytest.mark.parametrize("rows_count", [12, 4800])  # one thread, then two
def test_the_first_row_whose_maximum_is_not_a_log_prob_is_reported(fault, rows_count):
    # rows 7 and rows_count - 3 are broken (-inf: the whole row); expected: the
    # first of them, as the numpy check (the row maxima) reports it
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(rows_count, 400)) - 6
    for row in (7, rows_count - 3):
        if fault == -np.inf:
            rows[row] = -np.inf
        else:
            rows[row, 5] = fault
    starts = np.arange(0, rows_count, 4)
    *_, bad = best_candidates(rows, np.zeros(rows_count), starts, 8)
    assert bad == 7


def test_the_compiled_selection_is_used_when_numba_is_installed():
    assert compiled_available()
    with numpy_selection():
        assert not compiled_available()
        with numpy_selection():
            assert not compiled_available()
        assert not compiled_available()
    assert compiled_available()


def test_seqscore_numba_0_turns_it_off():
    code = (
        "from seqscore.decoding.selection import compiled_available; "
        "print(compiled_available())"
    )
    env = {**os.environ, "SEQSCORE_NUMBA": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "False", out.stderr
