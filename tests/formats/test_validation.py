"""Regression tests for the JSON readers' validation (QA pass, defects A2-D).

The bar: bad input never crashes with a traceback and never yields a silently
wrong number. Each bad record is rejected with one line naming file:line and
the field path (exit code 1 on the command line), and ``--on-error skip
--rejects FILE`` records it while the rest is scored.
"""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqscore.cli import main
from seqscore.errors import DataFormatError, Rejected
from seqscore.formats.inputs import read_prompts
from seqscore.formats.records import as_logprobs, as_numbers, field

FIXTURES = Path(__file__).parents[2] / "fixtures"


def first_record(name):
    return json.loads((FIXTURES / name).read_text().splitlines()[0])


CHAT = first_record("openai_chat.jsonl")
LEGACY = first_record("openai_legacy_echo.jsonl")  # has "prompt"; 6 tokens
VLLM = first_record("vllm.jsonl")  # outputs[0]: token_ids [5, 6]


def changed(record, change):
    record = copy.deepcopy(record)
    change(record)
    return record


def chat_item(record, t=1):
    return record["choices"][0]["logprobs"]["content"][t]


def legacy_logprobs(record):
    return record["choices"][0]["logprobs"]


def legacy_top(record, t):
    return legacy_logprobs(record)["top_logprobs"][t]


def vllm_step(record):
    return record["outputs"][0]["logprobs"][0]


def write_records(tmp_path, *records, name="in.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def read(path, fmt="auto"):
    with read_prompts(str(path), fmt) as (_, items):
        return list(items)


def rejection(tmp_path, record, fmt="auto"):
    """The one rejection of a one-record file: ``file:1: reason``."""
    path = write_records(tmp_path, record)
    (rejected,) = [i for i in read(path, fmt) if isinstance(i, Rejected)]
    assert rejected.location == f"{path}:1"
    return rejected.reason


def prompts(tmp_path, *records, fmt="auto"):
    items = read(write_records(tmp_path, *records), fmt)
    assert not [i for i in items if isinstance(i, Rejected)], items
    return items


def run(*args):
    return CliRunner().invoke(main, ["score", *map(str, args)])


def seqscore_record(**candidate):
    return {"id": "q", "candidates": [{"logprobs": [-1.0], **candidate}]}


# ------------------------------------------- A2: booleans are not numbers


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (
            seqscore_record(logprobs=[-1.0, False]),
            "candidates[0].logprobs[1]: false where a number belongs",
        ),
        (
            changed(CHAT, lambda r: chat_item(r).update(logprob=False)),
            "choices[0].logprobs.content[1].logprob: false where a number belongs",
        ),
        (
            changed(CHAT, lambda r: chat_item(r).update(logprob=True)),
            "choices[0].logprobs.content[1].logprob: true where a number belongs",
        ),
        (
            changed(VLLM, lambda r: vllm_step(r)["5"].update(rank=True)),
            "outputs[0].logprobs[0].5.rank: true where an integer >= 1 belongs",
        ),
        (
            changed(LEGACY, lambda r: (r.pop("prompt"), r.update(n_context=True))),
            "n_context: true where an integer in [0, 6] belongs",
        ),
        (
            changed(VLLM, lambda r: r["outputs"][0].update(token_ids=[True, 6])),
            "outputs[0].token_ids[0]: true where an integer >= 0 belongs",
        ),
    ],
    ids=["seqscore", "chat-false", "chat-true", "vllm-rank", "n_context", "vllm-ids"],
)
def test_a2_a_boolean_where_a_number_belongs_is_rejected(tmp_path, record, reason):
    """JSON true/false in a numeric field is an error naming the field path,
    never read as 1/0 (np.array([-1.0, False]) is a float array, and bool is an
    int to isinstance)."""
    assert rejection(tmp_path, record) == reason


def test_a2_boolean_token_ids_and_logits_row_are_rejected(tmp_path):
    """token_ids [true, 2] and logits_row true (logits_file input) are errors,
    not token 1 and row 1."""
    np.save(tmp_path / "l.npy", np.zeros((1, 2, 5), np.float32))
    candidate = {"token_ids": [True, 2], "logits_file": "l.npy", "logits_row": 0}
    assert rejection(tmp_path, {"candidates": [candidate]}) == (
        "candidates[0].token_ids[0]: true where an integer >= 0 belongs"
    )
    candidate.update(token_ids=[1, 2], logits_row=True)
    assert rejection(tmp_path, {"candidates": [candidate]}) == (
        "candidates[0].logits_row: expected an integer, got a boolean"
    )


def test_a2_shared_checks_reject_booleans():
    """The helpers every reader uses: a boolean is neither a number nor an int."""
    with pytest.raises(DataFormatError, match=r"^x\[1\]: false where a number"):
        as_numbers([-1.0, False], "x")
    with pytest.raises(DataFormatError, match=r"^x\[0\]\[1\]: true where a number"):
        as_numbers([[-1.0, True]], "x", ndim=2)
    with pytest.raises(DataFormatError, match=r"^n: expected an integer, got a bool"):
        field({"n": True}, "n", "", int)
    assert field({"flag": True}, "flag", "", bool) is True


# ---------------------------------- A4: legacy text_offset must match tokens


@pytest.mark.parametrize("offsets", [[0, 3], [0, 3, 7, 11, 14, 18, 22]])
def test_a4_text_offset_of_another_length_is_rejected(tmp_path, offsets):
    """A text_offset shorter or longer than tokens would split prompt and
    completion in the wrong place: an error, not a silently wrong score."""
    record = changed(LEGACY, lambda r: legacy_logprobs(r).update(text_offset=offsets))
    assert rejection(tmp_path, record) == (
        f"choices[0].logprobs: text_offset and tokens differ in length "
        f"({len(offsets)} and 6)"
    )


@pytest.mark.parametrize(("bad", "shown"), [(None, "null"), ("3", "'3'")])
def test_a4_text_offset_entries_must_be_integers(tmp_path, bad, shown):
    """null or a string in text_offset is a clean error (was a TypeError)."""
    offsets = [0, bad, 7, 11, 14, 18]
    record = changed(LEGACY, lambda r: legacy_logprobs(r).update(text_offset=offsets))
    assert rejection(tmp_path, record) == (
        f"choices[0].logprobs.text_offset[1]: {shown} where an integer >= 0 belongs"
    )


# ------------------------------------------------------ A6: byte counts


@pytest.mark.parametrize(
    ("value", "shown"), [(-3, "-3"), (2.5, "2.5"), (True, "true"), ("abc", "'abc'")]
)
def test_a6_seqscore_bytes_must_be_a_non_negative_integer(tmp_path, value, shown):
    """ "bytes" is a UTF-8 byte count: anything else is rejected (a string used
    to crash in reductions.divide; -3, 2.5 and true gave wrong per-byte scores)."""
    assert rejection(tmp_path, seqscore_record(bytes=value)) == (
        f"candidates[0].bytes: {shown} where an integer >= 0 belongs"
    )


def test_a6_seqscore_bytes_zero_and_null_are_accepted(tmp_path):
    """0 is a count; null means unknown, as when the field is absent."""
    (prompt,) = prompts(tmp_path, seqscore_record(bytes=0))
    assert prompt.candidates[0].n_bytes == 0
    (prompt,) = prompts(tmp_path, seqscore_record(bytes=None))
    assert prompt.candidates[0].n_bytes is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abcdefghijk", "bytes: expected a list of integers"),
        (5, "bytes: expected a list of integers"),
        ([32, 300], "bytes[1]: 300 where an integer in [0, 255] belongs"),
        ([32, True], "bytes[1]: true where an integer in [0, 255] belongs"),
    ],
)
def test_a6_chat_bytes_must_be_a_list_of_byte_values(tmp_path, value, reason):
    """A chat token's bytes is a list of integers 0..255 (a string used to
    count its characters; an integer crashed with TypeError)."""
    record = changed(CHAT, lambda r: chat_item(r).update(bytes=value))
    assert rejection(tmp_path, record) == f"choices[0].logprobs.content[1].{reason}"


def test_a6_chat_bad_bytes_are_reported_beside_a_null(tmp_path):
    """A null bytes (no byte representation) makes the count unknown, but the
    other tokens' bytes are still checked."""

    def change(record):
        chat_item(record, 0).update(bytes=None)
        chat_item(record, 1).update(bytes="abc")

    assert rejection(tmp_path, changed(CHAT, change)) == (
        "choices[0].logprobs.content[1].bytes: expected a list of integers"
    )


def test_a6_chat_byte_count_is_the_number_of_listed_bytes(tmp_path):
    """Good bytes still count (null for a token means: unknown, use the text)."""
    (prompt,) = prompts(tmp_path, CHAT)
    content = CHAT["choices"][0]["logprobs"]["content"]
    assert prompt.candidates[0].n_bytes == sum(len(i["bytes"]) for i in content)
    no_bytes = changed(CHAT, lambda r: chat_item(r).update(bytes=None))
    (prompt,) = prompts(tmp_path, no_bytes)
    text = CHAT["choices"][0]["message"]["content"]
    assert prompt.candidates[0].n_bytes == len(text.encode())


# ------------------------- A8: every log-prob is <= 0 (or -inf), nowhere > 0


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (
            seqscore_record(top_logprobs=[[5.0, -1.0]]),
            "candidates[0].top_logprobs[0][0]: 5.0 is positive",
        ),
        (
            seqscore_record(top_logprobs=[{"a": 5.0}]),
            "candidates[0].top_logprobs[0][0]: 5.0 is positive",
        ),
        (
            seqscore_record(unconditional=5.0),
            "candidates[0].unconditional: 5.0 is positive",
        ),
        (
            seqscore_record(unconditional=float("inf")),
            "candidates[0].unconditional: inf is positive",
        ),
        (
            changed(CHAT, lambda r: chat_item(r)["top_logprobs"][0].update(logprob=3)),
            "choices[0].logprobs.content[1].top_logprobs[0].logprob: 3.0 is positive",
        ),
        (
            changed(LEGACY, lambda r: legacy_top(r, 5).update({" red": 2.0})),
            "choices[0].logprobs.top_logprobs[5][0]: 2.0 is positive",
        ),
        (
            changed(VLLM, lambda r: vllm_step(r)["0"].update(logprob=4.0)),
            "outputs[0].logprobs[0].0.logprob: 4.0 is positive",
        ),
    ],
    ids=[
        "seqscore-top",
        "seqscore-top-dict",
        "uncond",
        "uncond-inf",
        "chat-top",
        "legacy-top",
        "vllm-alt",
    ],
)
def test_a8_positive_alternatives_and_unconditional_are_rejected(
    tmp_path, record, reason
):
    """Top/alternative log-probs and unconditional obey the main rule: a
    number <= 0 (within the 1e-6 float32 tolerance) or -inf."""
    message = rejection(tmp_path, record)
    assert message.startswith(reason)
    assert message.endswith("so not a log-probability (are these raw logits?)")


def test_a8_tiny_positive_logprobs_read_as_zero(tmp_path):
    """Values above 0 by at most the tolerance (float32 rounding) are accepted
    and read as 0, so six of 9e-7 score 0.0, not 5.4e-6: no score is > 0."""
    record = seqscore_record(
        logprobs=[9e-7] * 6,
        top_logprobs=[[9e-7, -1.0]] * 6,
        unconditional=5e-7,
    )
    (prompt,) = prompts(tmp_path, record)
    candidate = prompt.candidates[0]
    assert candidate.tokens.logprob.tolist() == [0.0] * 6
    assert candidate.tokens.top_logprobs.max() == 0.0
    assert candidate.unconditional == 0.0
    chat = changed(CHAT, lambda r: chat_item(r).update(logprob=9e-7))
    (prompt,) = prompts(tmp_path, chat)
    assert prompt.candidates[0].tokens.logprob[1] == 0.0


def test_a8_no_printed_score_is_positive(tmp_path):
    """End to end: the score and mean of tiny positive log-probs print as 0."""
    path = write_records(tmp_path, seqscore_record(logprobs=[9e-7] * 6))
    result = run(path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["score"] == 0.0 and row["mean"] == 0.0 and row["weakest_logprob"] == 0


def test_a8_shared_check_keeps_minus_infinity_and_the_tolerance():
    """-inf (an impossible token) stays; 1e-6 is within tolerance, 1.1e-6 not."""
    assert as_logprobs([-np.inf, 1e-6], "x").tolist() == [-np.inf, 0.0]
    with pytest.raises(DataFormatError, match=r"^x\[1\]: 1.1e-06 is positive"):
        as_logprobs([-1.0, 1.1e-6], "x")


# ------------------------------------------------------ B: no tracebacks


@pytest.mark.parametrize(("text", "got"), [(123, "int"), (["a"], "a list")])
def test_b_non_string_text_is_a_clean_error(tmp_path, text, got):
    """ "text" must be a string (was an AttributeError on .encode)."""
    assert rejection(tmp_path, seqscore_record(text=text)) == (
        f"candidates[0].text: expected a string, got {got}"
    )


@pytest.mark.parametrize("workers", ["1", "3"])
def test_b_non_string_text_is_skipped_and_recorded(tmp_path, workers):
    """With --on-error skip the bad record goes to --rejects and the rest is
    scored, in one process or several."""
    path = write_records(tmp_path, seqscore_record(text=123), seqscore_record())
    rejects = tmp_path / "rejects.jsonl"
    result = run(
        path,
        "--on-error",
        "skip",
        "--rejects",
        rejects,
        "--workers",
        workers,
        "--format",
        "jsonl",
    )
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    (reject,) = map(json.loads, rejects.read_text().splitlines())
    assert reject["location"] == f"{path}:1"
    assert reject["reason"] == "candidates[0].text: expected a string, got int"


def test_b_huge_integer_logprob_is_a_clean_error(tmp_path):
    """-10**400 as a JSON integer overflows float(): an error, not an
    OverflowError traceback (the float literal -1e400 is -inf, a log-prob)."""
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(seqscore_record(logprobs=[-(10**400)])) + "\n")
    result = run(path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"seqscore: error: {path}:1: candidates[0].logprobs[0]: an integer of 401 "
        "digits is too large to be a number\n"
    )
    path.write_text('{"candidates": [{"logprobs": [-1e400]}]}\n')
    (prompt,) = read(path)
    assert prompt.candidates[0].tokens.logprob.tolist() == [-np.inf]


def test_b_integer_literal_too_long_to_parse_is_malformed_json(tmp_path):
    """Python's json refuses integers over 4300 digits with a plain ValueError
    (not a JSONDecodeError): still a malformed line, named, not a traceback."""
    path = tmp_path / "long.jsonl"
    long_line = '{"candidates": [{"logprobs": [-' + "1" * 5000 + "]}]}"
    path.write_text(json.dumps(seqscore_record()) + "\n" + long_line + "\n")
    result = run(path)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"seqscore: error: {path}:2: malformed JSON (")
    assert "4300 digits" in result.stderr and result.stderr.count("\n") == 1


def test_b_integer_literal_too_long_on_line_1(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text('{"candidates": [{"logprobs": [-' + "1" * 5000 + "]}]}\n")
    result = run(path)
    assert isinstance(result.exception, SystemExit | None)  # not a traceback
    assert result.exit_code == 1 and "malformed JSON" in result.stderr


# --------------------------------------- C1: a compact JSON array of responses


def test_c1_one_line_array_is_read_with_the_format_given(tmp_path):
    """json.dump([r1, r2], f) writes one line; each element is a record,
    located file:1[i], and a bad element is rejected alone."""
    responses = [json.loads(line) for line in (FIXTURES / "openai_chat.jsonl").open()]
    responses[1] = changed(responses[1], lambda r: chat_item(r).update(logprob=None))
    path = tmp_path / "array.json"
    path.write_text(json.dumps(responses))
    items = read(path, "openai")
    assert len(items) == len(responses)
    assert [i.source for i in items if not isinstance(i, Rejected)][:2] == [
        f"{path}:1[0]",
        f"{path}:1[2]",
    ]
    (rejected,) = [i for i in items if isinstance(i, Rejected)]
    assert rejected.location == f"{path}:1[1]"


def test_c1_one_line_array_is_detected(tmp_path):
    """The README: one response, a JSON array or JSONL of them is accepted."""
    responses = [json.loads(line) for line in (FIXTURES / "openai_chat.jsonl").open()]
    path = tmp_path / "array.json"
    path.write_text(json.dumps(responses))
    with read_prompts(str(path)) as (kind, items):
        assert kind == "openai" and len(list(items)) == len(responses)


# --------------------------------------------------------------- D: messages


def test_d_failed_batch_request_on_line_1_names_file_and_line(tmp_path):
    """A Batch line whose request failed (response null) is rejected with its
    file:line on line 1 as on any other line; the rest of the file is scored."""
    failed = {
        "id": "b",
        "custom_id": "r0",
        "response": None,
        "error": {"code": "x", "message": "rate limited"},
    }
    good = first_record("openai_batch.jsonl")
    path = write_records(tmp_path, failed, good)
    result = run(path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"seqscore: error: {path}:1: response: null -- the request failed: "
        "'rate limited'\n"
    )
    items = read(path)
    assert isinstance(items[0], Rejected) and not isinstance(items[1], Rejected)


def test_d_failed_batch_body_names_the_error(tmp_path):
    line = {
        "custom_id": "r0",
        "response": {"status_code": 400, "body": {"error": {"message": "bad request"}}},
    }
    assert rejection(tmp_path, line) == (
        "response.body.error: the request failed: 'bad request' (status 400)"
    )


def test_d_unterminated_string_message_reads_once_at(tmp_path):
    """json says "Unterminated string starting at"; the column follows it
    without a second "at" (JSON Lines and whole documents alike)."""
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(seqscore_record()) + '\n{"candidates": "abc')
    _, rejected = read(path)
    assert rejected.reason == (
        "malformed JSON (Unterminated string starting at column 16; "
        "the line looks truncated)"
    )
    path.write_text('{\n  "choices": [\n  "abc')
    result = run(path)
    assert result.exit_code == 1
    assert "(Unterminated string starting at column 3)" in result.stderr


def test_d_ids_are_strings_or_integers(tmp_path):
    """A null id means the default (line N; the candidate's index); integers
    are spelled in decimal; objects, lists and booleans are rejected rather
    than shown as a Python repr."""
    (prompt,) = prompts(
        tmp_path, {"id": None, "candidates": [{"id": None, "logprobs": [-1]}]}
    )
    assert prompt.id == "line 1" and prompt.candidates[0].id == "0"
    (prompt,) = prompts(
        tmp_path, {"id": 7, "candidates": [{"id": 3, "logprobs": [-1]}]}
    )
    assert prompt.id == "7" and prompt.candidates[0].id == "3"
    assert rejection(tmp_path, {"id": {"a": 1}, "candidates": []}) == (
        'id: {"a": 1} is not an id (expected a string or an integer)'
    )
    assert rejection(tmp_path, seqscore_record(id=[1])) == (
        "candidates[0].id: [1] is not an id (expected a string or an integer)"
    )
    assert rejection(tmp_path, changed(CHAT, lambda r: r.update(id=True))) == (
        "id: true is not an id (expected a string or an integer)"
    )
    (prompt,) = prompts(tmp_path, changed(CHAT, lambda r: r.update(id=None)))
    assert prompt.id == "line 1"
