"""The three ways of running scoring passes give the same logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from seqscore.models.hf import HFModel
from seqscore.models.hf_passes import (
    LOGITS_BUDGET,
    CachedPasses,
    PackedPasses,
    PassLimits,
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
