"""The decoding cache: what is kept, and when a call reads it."""

from __future__ import annotations

import numpy as np
import torch
import transformers

from seqscore.models.hf import HFModel
from seqscore.models.hf_decoding import DECODE_CACHE_BUDGET, DecodingCache
from seqscore.models.hf_keys import Keys


def test_a_parent_holds_every_prefix_but_its_last_token():
    cache = DecodingCache()
    cache.kept = {2: Keys([], None, {(1, 2): 0, (3, 4): 1})}
    assert cache.parent([(1, 2, 9), (3, 4, 9)], 3) is cache.kept[2]
    assert cache.parent([(1, 2, 9), (5, 6, 9)], 3) is None  # one is new
    assert cache.parent([(1, 2)], 2) is None  # nothing kept of length 1


def test_keys_are_kept_within_the_budget_once_measured():
    cache = DecodingCache()
    assert cache.may_keep(10**9, 10**9)  # unknown: keep the first
    layer = torch.zeros(1, 1, 4, 8)  # 4 positions of 32 bytes, keys and values
    cache.measure(Keys([(layer, layer)], None), rows=1, length=4)
    per_position = 2 * 8 * 4
    assert cache.may_keep(1, DECODE_CACHE_BUDGET // per_position)
    assert not cache.may_keep(1, DECODE_CACHE_BUDGET // per_position + 1)


def test_a_step_that_extends_the_last_call_reads_its_keys():
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=16, n_positions=16, n_embd=8, n_layer=1, n_head=1, bos_token_id=0
    )
    model = HFModel(transformers.GPT2LMHeadModel(config), eos_id=1)
    first = model.next_logprobs([[3, 4], [5, 6]])
    assert set(model._decoder.cache.kept) == {2}
    step = model.next_logprobs([[5, 6, 7], [3, 4, 7]])  # reselected, reordered
    fresh = HFModel(model.model, eos_id=1).next_logprobs([[5, 6, 7], [3, 4, 7]])
    np.testing.assert_allclose(step, fresh, atol=1e-5)
    assert first.shape == step.shape == (2, 16)
    assert model.next_logprobs([]).shape == (0, 16)
