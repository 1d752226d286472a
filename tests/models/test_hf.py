"""The Hugging Face adapter against transformers' own generate(), on a tiny GPT-2.

The model is built from a config with random weights (nothing downloaded).
``initializer_range=0.2`` makes its next-token distributions peaked enough
that no two beams tie to float32 precision. The parity tests need the extra
``seqscore[hf]``, which CI installs: they are not skipped without it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from seqscore.decoding import beam_search, greedy
from seqscore.errors import InvalidInputError
from seqscore.models.hf import HFModel, load_hf
from tests.decoding.test_beam_batch import assert_batch_equals_singles

# Token 47 is this seed's most probable token on average over random contexts
# (5% against 1/48 = 2%); its output-embedding row is doubled so that, as EOS,
# it ends hypotheses at different lengths under every length penalty tested.
EOS = 47
MAX_NEW = 9


@pytest.fixture(scope="module")
def gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=48,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=EOS,
        initializer_range=0.2,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        model.lm_head.weight[EOS] *= 2.0
    return model


def _generated(sequence, prompt_length):
    """generate() pads sequences that ended early; cut after the first EOS."""
    ids = sequence[prompt_length:].tolist()
    return ids[: ids.index(EOS) + 1] if EOS in ids else ids


PROMPTS = [[5, 6, 7], [3], [10, 11], [40, 2, 9]]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_equals_generate(gpt2, prompt):
    out = gpt2.generate(
        torch.tensor([prompt]),
        do_sample=False,
        num_beams=1,
        max_new_tokens=MAX_NEW,
        pad_token_id=EOS,
    )
    ours = greedy(HFModel(gpt2), prompt, MAX_NEW)
    assert list(ours.ids) == _generated(out[0], len(prompt))


SETTINGS = [(1.0, False), (0.0, True), (2.0, "never"), (-0.5, False), (1.0, True)]


@pytest.mark.parametrize("length_penalty, early_stopping", SETTINGS)
def test_beam_search_equals_generate(gpt2, length_penalty, early_stopping):
    model = HFModel(gpt2)
    finished = set()
    for prompt in PROMPTS:
        out = gpt2.generate(
            torch.tensor([prompt]),
            do_sample=False,
            num_beams=3,
            num_return_sequences=3,
            max_new_tokens=MAX_NEW,
            length_penalty=length_penalty,
            early_stopping=early_stopping,
            output_scores=True,
            return_dict_in_generate=True,
            pad_token_id=EOS,
        )
        ours = beam_search(
            model,
            prompt,
            MAX_NEW,
            3,
            length_penalty=length_penalty,
            early_stopping=early_stopping,
        )
        theirs = [_generated(s, len(prompt)) for s in out.sequences]
        assert [list(h.ids) for h in ours.hypotheses] == theirs
        # transformers sums float32 log-probs with a key-value cache: ~1e-6 apart
        np.testing.assert_allclose(
            [h.score for h in ours.hypotheses], out.sequences_scores.numpy(), atol=5e-5
        )
        finished.update(h.finished for h in ours.hypotheses)
    assert True in finished  # hypotheses ended by EOS were filed too


def test_logprobs_are_log_softmax_of_the_last_position(gpt2):
    model = HFModel(gpt2)
    rows = model.next_logprobs([[5, 6, 7], [3], [], [1, 2]])
    with torch.no_grad():
        logits = gpt2(torch.tensor([[5, 6, 7]])).logits[0, -1]
        empty = gpt2(torch.tensor([[0]])).logits[0, -1]  # bos for an empty prefix
    np.testing.assert_allclose(
        rows[0], torch.log_softmax(logits, -1).numpy(), atol=1e-5
    )
    np.testing.assert_allclose(rows[2], torch.log_softmax(empty, -1).numpy(), atol=1e-5)
    assert model.vocab[5] == "<id 5>" and model.eos_id == EOS


def _tokenizer(vocab_size):
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = {f"w{i}": i for i in range(vocab_size)}
    backend = Tokenizer(models.WordLevel(words, unk_token="w3"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="w0", eos_token=f"w{EOS}", unk_token="w3"
    )


def test_saved_model_loads_offline_and_runs_the_cli(gpt2, tmp_path):
    from click.testing import CliRunner

    from seqscore.cli import main

    gpt2.save_pretrained(tmp_path)
    _tokenizer(48).save_pretrained(tmp_path)
    model = load_hf(tmp_path)
    assert model.encode("w5 w6 w7") == [5, 6, 7]
    assert model.vocab[7] == "w7" and model.decode([5, 6]) == "w5 w6"
    result = CliRunner().invoke(
        main,
        [
            "diagnose",
            "--model",
            f"hf:{tmp_path}",
            "--prompt",
            "w5 w6 w7",
            "--max-tokens",
            "4",
            "--budget",
            "500",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert '"greedy"' in result.stdout


def test_missing_model_folder_is_a_data_error(tmp_path):
    with pytest.raises(InvalidInputError, match="cannot load a causal LM"):
        load_hf(tmp_path / "nothing-here")


def test_model_without_tokenizer_needs_ids(gpt2):
    with pytest.raises(InvalidInputError, match="no tokenizer"):
        HFModel(gpt2).encode("hello")


def test_batched_beam_search_equals_the_search_of_each_prompt(gpt2):
    # HFModel.next_logprobs groups prefixes by length and runs each group
    # as it comes (no padding). Prompts of different lengths never share a
    # group, so every model call of the batch runs, per prompt, the very
    # tensor its single search runs: equality is exact. Expected: singles.
    model = HFModel(gpt2)
    prompts = [[5, 6, 7], [3], [10, 11, 12, 13, 14]]
    for length_penalty, early_stopping in [(1.0, False), (0.0, "never")]:
        batch, _ = assert_batch_equals_singles(
            model,
            prompts,
            7,
            3,
            length_penalty=length_penalty,
            early_stopping=early_stopping,
        )
        assert all(len(r.hypotheses) == 3 for r in batch)


def test_a_prefix_longer_than_the_model_positions_is_an_error_naming_it():
    # before: torch's "IndexError: index out of range in self"
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=16,
        n_positions=8,
        n_embd=8,
        n_layer=1,
        n_head=1,
        bos_token_id=0,
        eos_token_id=1,
    )
    model = HFModel(transformers.GPT2LMHeadModel(config))
    with pytest.raises(InvalidInputError, match="longer than the model's 8 positions"):
        beam_search(model, [2, 3, 4], 20, 2)
    assert beam_search(model, [2, 3, 4], 5, 2).best  # 3 + 5 = 8 positions fit
