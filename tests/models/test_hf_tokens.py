"""Special ids, the prefix token and what the model reads, without a tokenizer."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from seqscore.errors import InvalidInputError
from seqscore.models.hf_tokens import HFTokens, check_length, model_input


def _model(vocab=6, eos=None, bos=None, generation_eos=None):
    """What HFTokens reads of a model: its output size and configs."""
    weight = SimpleNamespace(shape=(vocab, 4))
    return SimpleNamespace(
        get_output_embeddings=lambda: SimpleNamespace(weight=weight),
        config=SimpleNamespace(eos_token_id=eos, bos_token_id=bos),
        generation_config=SimpleNamespace(eos_token_id=generation_eos),
    )


def test_ids_come_from_the_argument_then_the_generation_config_then_the_config():
    assert HFTokens(_model(eos=1, generation_eos=2), eos_id=3).eos_id == 3
    assert HFTokens(_model(eos=1, generation_eos=2)).eos_id == 2
    assert HFTokens(_model(eos=1)).eos_id == 1
    # several EOS ids: the first
    assert HFTokens(_model(generation_eos=[4, 5])).eos_id == 4


def test_a_model_naming_no_eos_is_an_error_and_no_bos_is_none():
    with pytest.raises(InvalidInputError, match="no eos token id"):
        HFTokens(_model())
    assert HFTokens(_model(eos=1)).bos_id is None


def test_without_a_tokenizer_ids_have_names_and_the_prefix_is_bos_else_eos():
    tokens = HFTokens(_model(vocab=3, eos=1, bos=0))
    assert tokens.vocab == ("<id 0>", "<id 1>", "<id 2>")
    assert tokens.decode([2, 0]) == "<id 2> <id 0>"
    assert tokens.prefix_id == 0
    assert HFTokens(_model(eos=1)).prefix_id == 1
    with pytest.raises(InvalidInputError, match="no tokenizer"):
        tokens.encode_offsets("text")


def test_an_empty_prefix_is_read_as_bos():
    assert model_input((4, 5), bos_id=0) == [4, 5]
    assert model_input((), bos_id=0) == [0]
    with pytest.raises(InvalidInputError, match="no bos_token_id"):
        model_input((), bos_id=None)


def test_a_prefix_longer_than_the_positions_is_an_error_naming_it():
    check_length(8, range(8), max_length=8)
    with pytest.raises(
        InvalidInputError, match=r"9 tokens \(\[0, 1, .*than the model's 8"
    ):
        check_length(9, range(9), max_length=8)
