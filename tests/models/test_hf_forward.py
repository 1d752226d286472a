"""The forward runner: padding, the head on chosen rows, float32 numpy."""

from __future__ import annotations

import numpy as np
import torch
import transformers

from seqscore.models.hf_forward import ForwardRunner, apply_head
from seqscore.models.hf_probes import probe_model


def _runner(dtype=torch.float32):
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=16, n_positions=16, n_embd=8, n_layer=1, n_head=1
    )
    model = transformers.GPT2LMHeadModel(config).to(dtype).eval()
    return ForwardRunner(model, probe_model(model), pad_id=15), model


def test_rows_are_right_padded_and_masked():
    runner, _ = _runner()
    ids, mask = runner.padded([(3, 4, 5), (6,)])
    assert ids.tolist() == [[3, 4, 5], [6, 15, 15]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_scored_logits_are_the_models_logits_at_those_positions():
    runner, model = _runner()
    ids = torch.tensor([[3, 4, 5], [6, 7, 8]])
    states = runner.states(ids)
    flat = states.reshape(-1, states.shape[-1])
    got = runner.scored_logits(flat, [1, 5, 3])
    with torch.inference_mode():
        logits = model(input_ids=ids).logits.reshape(6, -1)
    assert got.dtype == np.float32 and got.shape == (3, 16)
    np.testing.assert_allclose(got, logits[[1, 5, 3]].numpy(), rtol=1e-6, atol=1e-6)


def test_half_precision_logits_come_back_as_float32():
    runner, _ = _runner(torch.bfloat16)
    logits, _ = runner.forward(torch.tensor([[1, 2]]), keep_last=True)
    assert runner.numpy(logits).dtype == np.float32


def test_a_head_other_than_a_linear_layer_runs_as_it_is():
    head = torch.nn.Sequential(torch.nn.Linear(4, 700), torch.nn.Tanh())
    states = torch.randn(3, 4)
    with torch.inference_mode():
        assert torch.equal(apply_head(head, states), head(states))
