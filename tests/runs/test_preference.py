"""``seqscore preference``: chosen against rejected, DPO's implicit rewards.

Golden values come from plain torch: the tiny Llama of
``fixtures/served/tiny-llama-bos`` (the policy) and a copy of it with
perturbed weights (the reference), each response's log-prob summed over
``encode(prompt + response)[len(encode(prompt)):]`` (lm-eval's rule: the
prompts here end without whitespace) from one forward pass; margins,
rewards ``beta * (log pi - log pi_ref)`` and accuracies computed from those
sums by hand.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from seqscore.cli import main
from seqscore.errors import Rejected
from seqscore.formats.texts import read_preference_pairs
from seqscore.models.chat import Message
from tests.served_server import model_folder

PAIRS = [
    {
        "prompt": "The capital of France is",
        "chosen": " Paris.",
        "rejected": " a cheese.",
    },
    {"prompt": "Two plus two is", "chosen": " four", "rejected": " five"},
    {"prompt": "The sky is", "chosen": " blue today", "rejected": " green"},
    {"prompt": "The sky is", "chosen": " clear", "rejected": " made of stone"},
]
BETA = 0.25


@pytest.fixture(scope="module")
def reference_folder(tmp_path_factory):
    """The policy's weights plus noise: another model, same tokenizer."""
    import torch
    import transformers

    folder = tmp_path_factory.mktemp("reference")
    model = transformers.AutoModelForCausalLM.from_pretrained(model_folder("bos"))
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(model_folder("bos") / name, folder / name)
    return folder


def _torch_logprob(folder, prompt: str, response: str) -> float:
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    whole = tokenizer(prompt + response).input_ids
    context = tokenizer(prompt).input_ids
    with torch.no_grad():
        logits = model(torch.tensor([whole])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return float(
        sum(logprobs[t - 1, whole[t]] for t in range(len(context), len(whole)))
    )


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def _run(*argv):
    return CliRunner().invoke(main, ["preference", *argv])


def test_margins_rewards_and_accuracies_equal_plain_torch(tmp_path, reference_folder):
    file = _write(tmp_path / "pairs.jsonl", PAIRS)
    result = _run(
        file,
        "--model",
        f"hf:{model_folder('bos')}",
        "--reference-model",
        f"hf:{reference_folder}",
        "--beta",
        str(BETA),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    margins, rewards = [], []
    for pair, row in zip(PAIRS, report["pairs"], strict=True):
        policy = {
            k: _torch_logprob(model_folder("bos"), pair["prompt"], pair[k])
            for k in ("chosen", "rejected")
        }
        reference = {
            k: _torch_logprob(reference_folder, pair["prompt"], pair[k])
            for k in ("chosen", "rejected")
        }
        assert row["chosen_logprob"] == pytest.approx(policy["chosen"], abs=1e-5)
        assert row["rejected_logprob"] == pytest.approx(policy["rejected"], abs=1e-5)
        margin = policy["chosen"] - policy["rejected"]
        reward = BETA * (
            (policy["chosen"] - reference["chosen"])
            - (policy["rejected"] - reference["rejected"])
        )
        assert row["margin"] == pytest.approx(margin, abs=1e-5)
        assert row["reward_margin"] == pytest.approx(reward, abs=1e-5)
        margins.append(margin)
        rewards.append(reward)
    summary = report["summary"]
    assert summary["pairs"] == 4
    assert summary["accuracy"] == np.mean(np.array(margins) > 0)
    assert summary["dpo_accuracy"] == np.mean(np.array(rewards) > 0)
    assert summary["mean_margin"] == pytest.approx(np.mean(margins), abs=1e-5)
    assert summary["accuracy_low"] <= summary["accuracy"] <= summary["accuracy_high"]
    assert len(summary["disagreements"]) == 4


def test_the_margin_follows_normalize(tmp_path):
    file = _write(tmp_path / "pairs.jsonl", PAIRS)
    result = _run(
        file,
        "--model",
        f"hf:{model_folder('bos')}",
        "--normalize",
        "mean",
        "--format",
        "jsonl",
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    for row in rows:
        want = row["chosen_mean"] - row["rejected_mean"]
        assert row["margin"] == pytest.approx(want, abs=1e-12)
    assert "seqscore: preference accuracy:" in result.stderr


def test_the_table_ends_with_the_summary(tmp_path):
    file = _write(tmp_path / "pairs.jsonl", PAIRS)
    result = _run(file, "--model", f"hf:{model_folder('bos')}")
    assert result.exit_code == 0, result.output
    assert "preference accuracy:" in result.stdout
    assert "length bias: the longer response scores higher" in result.stdout


def test_an_implicit_prompt_splits_at_the_last_turn(tmp_path):
    shared = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Capital of France?"},
    ]
    record = {
        "chosen": [*shared, {"role": "assistant", "content": "Paris."}],
        "rejected": [*shared, {"role": "assistant", "content": "Lyon."}],
    }
    file = _write(tmp_path / "implicit.jsonl", [record])
    with read_preference_pairs(file) as pairs:
        (pair,) = list(pairs)
    assert pair.context == tuple(Message(m["role"], m["content"]) for m in shared)
    assert [(c.id, c.text) for c in pair.candidates] == [
        ("chosen", "Paris."),
        ("rejected", "Lyon."),
    ]


def test_trls_conversational_form_takes_one_assistant_message(tmp_path):
    record = {
        "prompt": [{"role": "user", "content": "Capital of France?"}],
        "chosen": [{"role": "assistant", "content": "Paris."}],
        "rejected": [{"role": "assistant", "content": "Lyon."}],
    }
    file = _write(tmp_path / "conversational.jsonl", [record])
    with read_preference_pairs(file) as pairs:
        (pair,) = list(pairs)
    assert pair.context == (Message("user", "Capital of France?"),)
    assert [c.text for c in pair.candidates] == ["Paris.", "Lyon."]


@pytest.mark.parametrize(
    "record, words",
    [
        ({"prompt": "Q", "chosen": " a"}, "needs 'rejected'"),
        ({"prompt": "Q", "chosen": "", "rejected": " b"}, "chosen: empty"),
        (
            {"prompt": [{"content": "hi"}], "chosen": " a", "rejected": " b"},
            "prompt[0]: a message needs a 'role'",
        ),
        (
            {
                "chosen": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                ],
                "rejected": [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "content": "y"},
                ],
            },
            "share their first turns",
        ),
        ({"chosen": " a", "rejected": " b"}, "must be conversations"),
        (
            {
                "prompt": "Q",
                "chosen": [{"role": "assistant", "content": "a"}] * 2,
                "rejected": " b",
            },
            "a response is one message",
        ),
    ],
)
def test_bad_pairs_are_named_with_their_record(tmp_path, record, words):
    file = _write(tmp_path / "bad.jsonl", [PAIRS[0], record])
    with read_preference_pairs(file) as pairs:
        items = list(pairs)
    assert isinstance(items[1], Rejected) and words in items[1].reason
    result = _run(file, "--model", f"hf:{model_folder('bos')}")
    assert result.exit_code == 1
    assert "bad.jsonl:2" in result.output and words in result.output
