"""`seqscore score FILE --model ...`: texts scored by a model, from the CLI."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from seqscore.cli import main
from seqscore.models.hf import load_hf
from seqscore.models.loglikelihood import loglikelihoods
from tests.tiny_lm import save_tiny_gpt2


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), n_positions=64)


def run(*args):
    return CliRunner().invoke(main, ["score", *map(str, args)])


PAIRS = [
    {"context": "The value of the", "continuation": " object"},
    {"context": "The value of the", "continuation": " class is"},
    {"context": "Return a ", "continuation": "list"},
]


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_pairs_are_scored_as_lm_eval_scores_them(model_dir, tmp_path):
    pairs = _write(tmp_path / "pairs.jsonl", PAIRS)
    result = run(pairs, "--model", f"hf:{model_dir}", "--format", "jsonl", "--tokens")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = loglikelihoods(
        load_hf(model_dir), [(p["context"], p["continuation"]) for p in PAIRS]
    )
    assert [r["prompt"] for r in rows] == ["line 1", "line 1", "line 3"]
    assert [r["candidate"] for r in rows] == ["0", "1", "0"]
    for row, reference in zip(rows, expected, strict=True):
        assert row["score"] == pytest.approx(reference.logprob, abs=1e-9)
        assert row["is_greedy"] == reference.is_greedy
        assert len(row["tokens"]) == row["n_tokens"] == len(reference.token_logprobs)
    assert rows[2]["probability"] == 1.0  # the only candidate of its prompt


def test_seqscore_jsonl_with_texts_and_an_unconditional_context(model_dir, tmp_path):
    records = [
        {
            "id": "q1",
            "prompt": "The value of the",
            "candidates": [
                {"id": "a", "text": " object"},
                {"id": "b", "text": " class"},
            ],
        }
    ]
    path = _write(tmp_path / "q.jsonl", records)
    result = run(
        path, "--model", f"hf:{model_dir}", "--unconditional", "", "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    alone = loglikelihoods(load_hf(model_dir), [("", " object"), ("", " class")])
    for row, base in zip(rows, alone, strict=True):
        # float32 forward passes of differently padded batches: the bound
        # the issue sets for scores whatever shares their batch
        assert row["pmi"] == pytest.approx(row["score"] - base.logprob, abs=1e-5)
    assert sorted(r["rank"] for r in rows) == [1, 2]


def test_the_builtin_model_scores_the_packaged_examples_without_a_file():
    result = run("--model", "builtin", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("prompt,candidate,rank,score")


def test_a_truncated_context_is_noted(model_dir, tmp_path):
    context = " ".join(["The value of the object."] * 20)
    path = _write(
        tmp_path / "long.jsonl", [{"context": context, "continuation": " Yes"}]
    )
    result = run(path, "--model", f"hf:{model_dir}")
    assert result.exit_code == 0, result.stderr
    assert "1 of 1 requests had their context cut" in result.stderr
    assert "64 positions" in result.stderr


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "records, message",
    [
        ([{"context": "A", "continuation": ""}], "long.jsonl:1: continuation: empty"),
        ([{"context": "A"}], "long.jsonl:1: continuation: missing"),
        (
            [{"prompt": "A", "candidates": [{"id": "x"}]}],
            "long.jsonl:1: candidates[0].text: missing",
        ),
        (
            [{"prompt": "A", "candidates": [{"id": "x", "text": ""}]}],
            "long.jsonl:1: candidates[0].text: empty",
        ),
        (
            [{"context": "A", "continuation": " " + "word " * 80}],
            "long.jsonl:1: candidate '0': the continuation has",
        ),
    ],
)
def test_bad_records_stop_the_run_naming_record_and_field(
    model_dir, tmp_path, records, message
):
    # the bad record is line 2, after a good one of the same layout
    good = (
        PAIRS[0]
        if "context" in records[0]
        else {"prompt": "A", "candidates": [{"text": " b"}]}
    )
    path = _write(tmp_path / "long.jsonl", [good, *records])
    message = message.replace(":1:", ":2:")
    out = tmp_path / "scores.csv"
    result = run(path, "--model", f"hf:{model_dir}", "--format", "csv", "-o", out)
    assert result.exit_code == 1
    assert message in result.stderr
    assert not out.exists()  # nothing partial
    skipped = run(
        path, "--model", f"hf:{model_dir}", "--on-error", "skip", "--format", "csv"
    )
    assert skipped.exit_code == 0
    assert len(skipped.stdout.splitlines()) == 2  # the header and the good line
    assert "skipped 1 bad records" in skipped.stderr


def test_a_model_folder_that_does_not_exist(tmp_path):
    path = _write(tmp_path / "p.jsonl", PAIRS)
    result = run(path, "--model", f"hf:{tmp_path / 'nowhere'}")
    assert result.exit_code == 1
    assert "cannot load a causal LM" in result.stderr


def test_a_model_folder_without_a_tokenizer(model_dir, tmp_path):
    from seqscore.models.hf import load_hf as load

    bare = tmp_path / "bare"
    load(model_dir).model.save_pretrained(bare)
    path = _write(tmp_path / "p.jsonl", PAIRS)
    result = run(path, "--model", f"hf:{bare}")
    assert result.exit_code == 1
    assert (
        "p.jsonl:1: candidate '0'" in result.stderr and "no tokenizer" in result.stderr
    )


def test_texts_without_a_model_say_how_to_score_them(tmp_path):
    path = _write(tmp_path / "p.jsonl", PAIRS)
    result = run(path)
    assert result.exit_code == 1
    assert "texts for a model to score" in result.stderr


def test_model_options_need_a_model(tmp_path):
    path = _write(tmp_path / "p.jsonl", PAIRS)
    assert run(path, "--unconditional", "").exit_code == 2
    assert run(path, "--batch-size", "4").exit_code == 2
    assert run(path, "--model", "builtin", "--dtype", "float16").exit_code == 1


def test_bfloat16_weights_score_close_to_float32(model_dir, tmp_path):
    pairs = _write(tmp_path / "pairs.jsonl", PAIRS)
    rows = {}
    for dtype in ("float32", "bfloat16"):
        result = run(
            pairs,
            "--model",
            f"hf:{model_dir}",
            "--dtype",
            dtype,
            "--device",
            "cpu",
            "--format",
            "jsonl",
        )
        assert result.exit_code == 0, result.stderr
        rows[dtype] = [json.loads(line)["score"] for line in result.stdout.splitlines()]
    # bfloat16 keeps 8 bits of mantissa: scores move, by well under a nat here
    assert rows["bfloat16"] != rows["float32"]
    assert rows["bfloat16"] == pytest.approx(rows["float32"], abs=0.5)


@pytest.mark.parametrize(
    ("device", "message"),
    [
        # no machine has a thousand GPUs: refused with or without CUDA
        (
            "cuda:999",
            "device 'cuda:999': this torch (.+) has (no CUDA|\\d+ CUDA "
            "device\\(s\\)); available: cpu",
        ),
        ("gpu", "device 'gpu' is not a torch device"),
    ],
)
def test_a_device_this_torch_cannot_use_is_named_with_what_it_has(
    model_dir, tmp_path, device, message
):
    # `--device cuda` where torch has no CUDA was an AssertionError traceback
    texts = tmp_path / "t.jsonl"
    texts.write_text('{"context": "a b", "continuation": " c"}\n')
    result = CliRunner().invoke(
        main, ["score", str(texts), "--model", f"hf:{model_dir}", "--device", device]
    )
    assert result.exit_code == 1
    assert re.search(message, result.output), result.output
    assert "Traceback" not in result.output


def _few_shot_pairs():
    """Two subjects' questions, each after its subject's shots (a shared
    prefix well over 16 tokens), with three answers each."""
    shots = {
        s: "".join(f"Question: the {s} of item {i}?\nAnswer: {i}\n\n" for i in range(4))
        for s in ("value", "class")
    }
    return [
        {"context": f"{shots[s]}Question: the {s} of {q}?\nAnswer:", "continuation": a}
        for s in shots
        for q in ("a list", "the object", "None")
        for a in (" yes", " no", " it is")
    ]


def test_shared_prefixes_change_no_score(tmp_path_factory, tmp_path):
    # the unshared run (--max-prefix-cache 0) is the reference
    model = save_tiny_gpt2(tmp_path_factory.mktemp("long-gpt2"), n_positions=512)
    path = _write(tmp_path / "few.jsonl", _few_shot_pairs())
    scores = {}
    for cache in ("0", "512"):
        result = run(
            path,
            "--model",
            f"hf:{model}",
            "--max-prefix-cache",
            cache,
            "--format",
            "jsonl",
            "--verbose",
        )
        assert result.exit_code == 0, result.stderr
        scores[cache] = [
            json.loads(line)["score"] for line in result.stdout.splitlines()
        ]
        assert "seqscore: scoring: packed rows" in result.stderr
    assert "after shared prefixes of 16+ tokens" in result.stderr
    assert len(scores["0"]) == 18
    assert scores["512"] == pytest.approx(scores["0"], abs=1e-4)


def test_the_prefix_cache_needs_a_model(tmp_path):
    path = _write(tmp_path / "p.jsonl", PAIRS)
    result = run(path, "--max-prefix-cache", "64")
    assert result.exit_code == 2
    assert "--max-prefix-cache needs --model" in result.stderr


def test_tokens_are_text_beside_their_pieces_and_ids(model_dir, tmp_path):
    """A byte-level tokenizer's pieces (``Ġobject``) are decoded: ``token``
    is the text, ``piece`` the tokenizer's name, ``token_id`` the id; the
    texts put together are the continuation, even where a CJK character
    is split between tokens (its bytes, as surrogateescape code points)."""
    pairs = [
        {"context": "The value of the", "continuation": " object\n"},
        {"context": "The value of the", "continuation": " 東京"},
    ]
    path = _write(tmp_path / "pairs.jsonl", pairs)
    result = run(path, "--model", f"hf:{model_dir}", "--format", "jsonl", "--tokens")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    model = load_hf(model_dir)
    for row, pair in zip(rows, pairs, strict=True):
        steps = row["tokens"]
        pieces = [model.vocab[s["token_id"]] for s in steps]
        assert [s["piece"] for s in steps] == pieces
        text = "".join(s["token"] for s in steps)
        assert text.encode("utf-8", "surrogateescape") == pair["continuation"].encode()
        weakest = steps[row["weakest_position"]]
        assert row["weakest_token"] == weakest["token"]
    first = rows[0]["tokens"]
    assert first[0]["piece"].startswith("Ġ") and first[0]["token"].startswith(" ")
    assert first[-1] == {**first[-1], "token": "\n", "piece": "Ċ"}
