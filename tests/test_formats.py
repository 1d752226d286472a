"""Readers: every fixture format scores like the scipy reference, and every
malformed variant is rejected with a message naming file, line and field."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.special

from seqscore.errors import DataFormatError
from seqscore.formats.inputs import read_prompts
from seqscore.formats.records import Rejected
from seqscore.scoring import score_prompt

FIXTURES = Path(__file__).parent.parent / "fixtures"


def reference_totals():
    """Per candidate: scipy log_softmax of raw.npz, shift rule applied by hand."""
    data = np.load(FIXTURES / "raw.npz")
    totals = {}
    for n in range(len(data["lengths"])):
        length, context = data["lengths"][n], data["n_context"][n]
        log_p = scipy.special.log_softmax(data["logits"][n, :length].astype(float), -1)
        ids = data["input_ids"][n]
        total = sum(log_p[i - 1, ids[i]] for i in range(context, length))
        totals.setdefault(int(data["group"][n]), []).append(total)
    return totals


def read(path, fmt="auto"):
    with read_prompts(str(path), fmt) as (kind, prompts):
        return kind, list(prompts)


def totals_by_prompt(prompts):
    return [[float(np.sum(c.tokens.logprob)) for c in p.candidates] for p in prompts]


@pytest.mark.parametrize(
    ("name", "kind", "per_prompt"),
    [
        ("raw.npz", "npz", None),
        ("raw_compressed.npz", "npz", None),
        ("aligned.npz", "npz", None),
        ("seqscore.jsonl", "seqscore", None),
        ("vllm.jsonl", "vllm", None),
        ("openai_chat.jsonl", "openai", 2),  # two choices per response
        ("openai_batch.jsonl", "openai", 2),
        ("openai_legacy_echo.jsonl", "openai", 2),
    ],
)
def test_every_format_scores_like_the_reference(name, kind, per_prompt):
    detected, prompts = read(FIXTURES / name)
    assert detected == kind
    assert not [p for p in prompts if isinstance(p, Rejected)]
    expected = list(reference_totals().values())
    got = totals_by_prompt(prompts)[: len(expected)]
    for want, have in zip(expected, got, strict=True):
        want = want[:per_prompt] if per_prompt else want
        # the JSON fixtures carry float64 log-probs of the same float32 logits
        np.testing.assert_allclose(have, want, rtol=1e-6)


def test_greedy_is_decided_from_logits_ranks_and_top_alternatives():
    # q3's first candidate is the model's own greedy path (make_fixtures.py)
    for name in ("raw.npz", "vllm.jsonl", "openai_chat.jsonl", "seqscore.jsonl"):
        _, prompts = read(FIXTURES / name)
        q3 = prompts[2]
        flags = [c.is_greedy for c in q3.candidates]
        assert flags[0] is True and not any(flags[1:]), name


def test_legacy_echo_scores_only_the_completion():
    _, prompts = read(FIXTURES / "openai_legacy_echo.jsonl")
    first = prompts[0].candidates[0]
    assert first.tokens.token == (" the", " mat")  # prompt "The cat sat on" dropped


def test_vllm_prompt_scoring_with_n_context():
    _, prompts = read(FIXTURES / "vllm.jsonl")
    scored = prompts[-1]
    assert scored.id == "q1-scored"
    expected = reference_totals()[1][0]
    assert float(np.sum(scored.candidates[0].tokens.logprob)) == pytest.approx(
        expected, rel=1e-6
    )


def test_the_real_openai_example_reads_as_one_document():
    path = FIXTURES / "openai_chat_example.json"  # a real API response
    kind, prompts = read(path)
    (prompt,) = prompts
    (candidate,) = prompt.candidates
    assert kind == "openai" and prompt.id == "chatcmpl-123"
    assert candidate.n_bytes == len("Hello! How can I assist you today?")
    # sum of the nine logprobs in the file, added by hand
    assert float(np.sum(candidate.tokens.logprob)) == pytest.approx(-0.4074576214832)


def test_npz_padding_is_never_read():
    data = dict(np.load(FIXTURES / "raw.npz"))
    assert np.isnan(data["logits"][0, data["lengths"][0] :]).all()  # padding is NaN
    _, prompts = read(FIXTURES / "raw.npz")
    assert all(
        np.isfinite(c.tokens.logprob).all() for p in prompts for c in p.candidates
    )


# -------------------------------------------------------- malformed input


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def fixture_lines(name):
    return (FIXTURES / name).read_text().splitlines()


def only_rejection(path):
    _, items = read(path)
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(rejected) == 1, items
    return rejected[0].message()


def test_truncated_json_line(tmp_path):
    lines = fixture_lines("seqscore.jsonl")
    lines[1] = lines[1][:-40]
    message = only_rejection(write(tmp_path, "t.jsonl", lines))
    assert message.startswith(f"{tmp_path / 't.jsonl'}:2: malformed JSON")
    assert "truncated" in message


def test_missing_field(tmp_path):
    record = json.loads(fixture_lines("seqscore.jsonl")[0])
    del record["candidates"][1]["logprobs"]
    message = only_rejection(write(tmp_path, "m.jsonl", [json.dumps(record)]))
    assert message.endswith(":1: candidates[1].logprobs: missing")


def test_null_where_a_number_belongs(tmp_path):
    record = json.loads(fixture_lines("openai_chat.jsonl")[0])
    record["choices"][1]["logprobs"]["content"][1]["logprob"] = None
    message = only_rejection(write(tmp_path, "n.jsonl", [json.dumps(record)]))
    assert message.endswith(
        ":1: choices[1].logprobs.content[1].logprob: null where a number belongs"
    )


def test_nan_logprob(tmp_path):
    record = json.loads(fixture_lines("seqscore.jsonl")[0])
    record["candidates"][0]["logprobs"][1] = float("nan")
    message = only_rejection(write(tmp_path, "nan.jsonl", [json.dumps(record)]))
    assert message.endswith(":1: candidates[0].logprobs[1]: NaN where a number belongs")


def test_positive_logprob_is_flagged_as_raw_logits(tmp_path):
    record = json.loads(fixture_lines("seqscore.jsonl")[0])
    record["candidates"][2]["logprobs"][0] = 3.5
    message = only_rejection(write(tmp_path, "p.jsonl", [json.dumps(record)]))
    # the reader names the field path (not just the index in the candidate)
    assert "candidates[2].logprobs[0]: 3.5 is positive" in message
    assert "raw logits" in message


def test_empty_candidate(tmp_path):
    record = json.loads(fixture_lines("seqscore.jsonl")[0])
    record["candidates"][0]["logprobs"] = []
    record["candidates"][0]["tokens"] = []
    record["candidates"][0]["top_logprobs"] = []
    record["candidates"][0]["top_tokens"] = []
    message = only_rejection(write(tmp_path, "e.jsonl", [json.dumps(record)]))
    assert "candidates[0]: candidate 'c0' has no tokens" in message


def test_target_outside_the_vocabulary_in_npz(tmp_path):
    data = dict(np.load(FIXTURES / "raw.npz"))
    data["input_ids"][4, data["n_context"][4]] = 99
    np.savez(tmp_path / "bad.npz", **data)
    _, items = read(tmp_path / "bad.npz")
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(rejected) == 1
    assert rejected[0].location == f"{tmp_path / 'bad.npz'}: candidate 4"
    assert "= 99 is outside the vocabulary [0, 14)" in rejected[0].reason
    assert "prompt '2' skipped" in rejected[0].reason
    # the other prompts are still scored
    assert sum(not isinstance(i, Rejected) for i in items) == 2


def test_target_outside_the_vocabulary_via_logits_file(tmp_path):
    np.save(tmp_path / "l.npy", np.zeros((2, 5), np.float32))
    record = {
        "id": "q",
        "candidates": [{"id": "a", "token_ids": [1, 7], "logits_file": "l.npy"}],
    }
    message = only_rejection(write(tmp_path, "l.jsonl", [json.dumps(record)]))
    assert "candidates[0]: targets[1] = 7 is outside the vocabulary [0, 5)" in message


def test_nan_logit_in_npz_names_candidate_and_position(tmp_path):
    data = dict(np.load(FIXTURES / "aligned.npz"))
    data["logits"][1, 2, 3] = np.nan
    np.savez(tmp_path / "nan.npz", **data)
    _, items = read(tmp_path / "nan.npz")
    (rejected,) = [i for i in items if isinstance(i, Rejected)]
    assert "logits[2, 3] is NaN" in rejected.reason
    assert "(rows are steps 0.. of logits[1])" in rejected.reason


def test_echo_without_a_prompt_boundary_is_rejected(tmp_path):
    record = json.loads(fixture_lines("openai_legacy_echo.jsonl")[0])
    del record["prompt"]
    message = only_rejection(write(tmp_path, "echo.jsonl", [json.dumps(record)]))
    assert "looks like an echoed prompt" in message


def test_logprobs_not_requested(tmp_path):
    record = json.loads(fixture_lines("openai_chat.jsonl")[0])
    record["choices"][0]["logprobs"] = None
    message = only_rejection(write(tmp_path, "x.jsonl", [json.dumps(record)]))
    assert (
        "choices[0].logprobs: null -- request the completion with logprobs" in message
    )


def test_vllm_without_the_chosen_token(tmp_path):
    record = json.loads(fixture_lines("vllm.jsonl")[0])
    output = record["outputs"][0]
    del output["logprobs"][1][str(output["token_ids"][1])]
    message = only_rejection(write(tmp_path, "v.jsonl", [json.dumps(record)]))
    assert f"outputs[0].logprobs[1].{output['token_ids'][1]}: missing" in message


def test_npz_missing_arrays_and_bad_shapes(tmp_path):
    np.savez(tmp_path / "a.npz", logits=np.zeros((2, 3, 4)))
    with pytest.raises(DataFormatError, match="expected arrays"):
        read(tmp_path / "a.npz")
    np.savez(
        tmp_path / "b.npz",
        logits=np.zeros((2, 3, 4)),
        targets=np.zeros((2, 4), int),
        lengths=np.ones(2, int),
    )
    with pytest.raises(DataFormatError, match=r"targets has shape \(2, 4\), expected"):
        read(tmp_path / "b.npz")


def test_npy_alone_is_explained(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3)))
    with pytest.raises(DataFormatError, match=r"a \.npy holds logits alone"):
        read(tmp_path / "x.npy")


def test_unknown_json_and_empty_input(tmp_path):
    with pytest.raises(DataFormatError, match="cannot tell the input format"):
        read(write(tmp_path, "u.jsonl", ['{"hello": 1}']))
    with pytest.raises(DataFormatError, match="no records"):
        read(write(tmp_path, "empty.jsonl", []))


def test_detection_skips_a_malformed_first_line(tmp_path):
    lines = ["{not json", *fixture_lines("vllm.jsonl")[:1]]
    kind, items = read(write(tmp_path, "v.jsonl", lines))
    assert kind == "vllm"
    assert isinstance(items[0], Rejected) and not isinstance(items[1], Rejected)


def test_json_array_document(tmp_path):
    responses = [json.loads(line) for line in fixture_lines("openai_chat.jsonl")]
    path = tmp_path / "array.json"
    path.write_text(json.dumps(responses, indent=2))
    kind, prompts = read(path)
    assert kind == "openai" and [p.source for p in prompts][1] == f"{path}:[1]"


def test_forced_format(tmp_path):
    shutil.copy(FIXTURES / "raw.npz", tmp_path / "data.bin")
    kind, prompts = read(tmp_path / "data.bin", "npz")
    assert kind == "npz" and len(prompts) == 3


def test_scores_from_every_format_rank_the_same(tmp_path):
    rankings = set()
    for name in ("raw.npz", "aligned.npz", "seqscore.jsonl", "vllm.jsonl"):
        _, prompts = read(FIXTURES / name)
        rankings.add(tuple(tuple(s.rank for s in score_prompt(p)) for p in prompts[:3]))
    assert len(rankings) == 1


def test_worker_processes_give_identical_results_in_order(monkeypatch):
    from seqscore.formats import inputs

    monkeypatch.setattr(inputs, "CHUNK_BYTES", 1)  # one line per chunk
    for name in ("seqscore.jsonl", "openai_chat.jsonl", "vllm.jsonl"):
        path = str(FIXTURES / name)
        with inputs.map_prompts(path, inputs._same, workers=1) as (_, serial):
            expected = totals_by_prompt(list(serial))
        with inputs.map_prompts(path, inputs._same, workers=2) as (_, parallel):
            assert totals_by_prompt(list(parallel)) == expected
