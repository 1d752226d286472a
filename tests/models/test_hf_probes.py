"""What the probes find on tiny models, and the positions a model reads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import transformers

from seqscore.models.hf_probes import (
    DEFAULT_MAX_LENGTH,
    model_max_length,
    probe_model,
    separable_head,
)


def _gpt2(cls=transformers.GPT2LMHeadModel):
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=16, n_positions=16, n_embd=8, n_layer=1, n_head=1
    )
    return cls(config).eval()


class _Scaled(transformers.GPT2LMHeadModel):
    """Logits changed after the head (as soft-capping models do)."""

    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        out.logits = out.logits * 0.5
        return out


def test_a_gpt2_runs_its_head_apart_and_packs():
    model = _gpt2()
    traits = probe_model(model)
    assert traits.head is model.lm_head
    assert traits.plain_cache and traits.packs
    assert traits.keeps_logits
    assert traits.cache_argument in ("cache", "past_key_values")


def test_logits_changed_after_the_head_keep_the_head_inside():
    assert separable_head(_Scaled(_gpt2().config).eval()) is None


def test_max_length_from_the_config_then_the_tokenizer_then_the_default():
    config = SimpleNamespace(n_positions=None, max_position_embeddings=128)
    assert model_max_length(config, None) == 128
    text = SimpleNamespace(n_ctx=32)
    assert model_max_length(SimpleNamespace(text_config=text), None) == 32
    empty = SimpleNamespace()
    assert model_max_length(empty, SimpleNamespace(model_max_length=512)) == 512
    unset = SimpleNamespace(model_max_length=int(1e30))
    assert model_max_length(empty, unset) == DEFAULT_MAX_LENGTH


class _MaskDroppedAfterACache(transformers.GPT2LMHeadModel):
    """Applies a custom 4-D mask, but not after cached keys and values."""

    def forward(self, *args, **kwargs):
        if kwargs.get("cache") is not None or kwargs.get("past_key_values") is not None:
            kwargs.pop("attention_mask", None)
        return super().forward(*args, **kwargs)


def test_a_gpt2_shares_prefixes_and_counts_its_cache_bytes():
    traits = probe_model(_gpt2())
    assert traits.shares_prefixes
    # 1 layer x (keys + values) x 8 wide x 4 bytes of float32
    assert traits.token_bytes == 1 * 2 * 8 * 4
    assert traits.route() == "packed rows after shared prefixes"


@pytest.mark.filterwarnings("ignore:`past_key_values` is deprecated")
def test_a_model_that_drops_the_mask_after_a_cache_packs_but_shares_no_prefix():
    traits = probe_model(_MaskDroppedAfterACache(_gpt2().config).eval())
    assert traits.packs and not traits.shares_prefixes
    assert traits.token_bytes == 0
    assert "no shared prefixes" in traits.route()
