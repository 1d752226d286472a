"""The three ways of running scoring passes give the same logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers
from hypothesis import given, settings
from hypothesis import strategies as st

from seqscore.models.hf import HFModel
from seqscore.models.hf_passes import (
    LOGITS_BUDGET,
    CachedPasses,
    PackedPasses,
    PassLimits,
    PrefixSharing,
    WholePasses,
)
from seqscore.models.requests import Request


def test_limits_from_a_batch_size_or_the_logits_budget():
    assert PassLimits.of(4, 50_000) == PassLimits(4, 1 << 62)
    assert PassLimits.of(None, 50_257).positions == LOGITS_BUDGET // (4 * 50_257)
    assert PassLimits.of(None, 10**9).positions == 64  # never fewer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=32, n_positions=32, n_embd=8, n_layer=2, n_head=2, bos_token_id=0
    )
    return HFModel(transformers.GPT2LMHeadModel(config), eos_id=1, batch_size=3)


REQUESTS = [
    Request((5, 6, 7), (8, 9)),
    Request((5, 6, 7), (10,)),
    Request((11,), (12, 13, 14)),
    Request((), (15, 16)),
    Request((5, 6, 7), (17, 18, 19, 20)),
]


def _rows_by_request(passes) -> dict[int, np.ndarray]:
    rows = {}
    for block in passes.blocks(REQUESTS):
        ends = [*block.offsets[1:], len(block.logits)]
        for request, start, end in zip(
            block.requests, block.offsets, ends, strict=True
        ):
            assert request not in rows  # each request scored once
            rows[request] = block.logits[start:end]
    return rows


def test_every_way_scores_each_request_by_the_same_logits(model):
    ways = [model._whole, model._packed, model._cached]
    assert [type(w) for w in ways] == [WholePasses, PackedPasses, CachedPasses]
    whole, *others = (_rows_by_request(way) for way in ways)
    assert sorted(whole) == list(range(len(REQUESTS)))
    for request, logits in whole.items():
        assert logits.shape == (len(REQUESTS[request].continuation), 32)
        for other in others:
            np.testing.assert_allclose(other[request], logits, atol=1e-5)


def test_the_model_picks_packed_rows_else_cached_contexts(model):
    assert model._scoring_passes(share_contexts=False) is model._whole
    assert model._scoring_passes(share_contexts=True) is model._packed
    model._packs = False
    try:
        assert model._scoring_passes(share_contexts=True) is model._cached
    finally:
        model._packs = True


@st.composite
def few_shot_requests(draw):
    """Requests whose contexts begin with planted shared prefixes (nested
    ones too), in a random order, with 1-3 continuations each."""
    token = st.integers(2, 31)
    shots = [tuple(draw(st.lists(token, min_size=1, max_size=8))) for _ in range(3)]
    requests = []
    for _ in range(draw(st.integers(1, 8))):
        chosen = draw(st.lists(st.sampled_from(shots), max_size=2))
        question = tuple(draw(st.lists(token, min_size=1, max_size=4)))
        context = sum(chosen, ()) + question
        for _ in range(draw(st.integers(1, 3))):
            answer = tuple(draw(st.lists(token, min_size=1, max_size=3)))
            requests.append(Request(context, answer))
    return draw(st.permutations(requests))


def _logits_of(passes, requests) -> dict[int, np.ndarray]:
    rows = {}
    for block in passes.blocks(requests):
        ends = [*block.offsets[1:], len(block.logits)]
        for request, start, end in zip(
            block.requests, block.offsets, ends, strict=True
        ):
            rows[request] = block.logits[start:end]
    return rows


@settings(max_examples=40)
@given(
    requests=few_shot_requests(),
    min_length=st.integers(1, 6),
    bound=st.integers(0, 40),
    rows=st.integers(1, 5),
)
def test_shared_prefixes_give_the_logits_of_whole_sequences(
    model, requests, min_length, bound, rows
):
    # the lm-eval layout (each request one whole sequence) is the reference;
    # any prefix sharing, bound and batch size must give its logits
    whole = _logits_of(model._whole, requests)
    runner = model._packed.runner
    limits = PassLimits(rows, 1 << 62)
    sharing = PrefixSharing(min_length, bound)
    shared = PackedPasses(runner, model.bos_id, limits, model.max_length, sharing)
    got = _logits_of(shared, requests)
    assert sorted(got) == list(range(len(requests)))
    for request, logits in whole.items():
        np.testing.assert_allclose(got[request], logits, atol=2e-5)


def test_a_shared_prefix_runs_once(model, monkeypatch):
    # 6 questions of 2 tokens after one 12-token block of shots, 2 one-token
    # answers each: unshared, each question's row runs the shots again
    shots = tuple(range(2, 14))
    requests = [
        Request((*shots, 20 + q, 21), (22 + a,)) for q in range(6) for a in range(2)
    ]
    runner = model._packed.runner
    counted = []
    forward = runner.forward

    def counting(ids, *args, **kwargs):
        counted.append(int(ids.shape[0] * ids.shape[1]))
        return forward(ids, *args, **kwargs)

    monkeypatch.setattr(runner, "forward", counting)
    for sharing, expected in ((None, 6 * 14), (PrefixSharing(8, 100), 12 + 6 * 2)):
        counted.clear()
        passes = PackedPasses(runner, 0, PassLimits(6, 1 << 62), 32, sharing)
        _logits_of(passes, requests)
        assert sum(counted) == expected
