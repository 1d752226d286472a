"""Inputs the fuzz suite (tests/fuzz, issue #24) found mishandled, pinned.

Each test names the input it pins and what the reader did with it before:
a traceback (an exception outside seqscore's errors), a fast path that read
what the careful one rejects, or a record passed on silently.
"""

from __future__ import annotations

import json
import re
import struct
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from seqscore.errors import DataFormatError, Rejected
from seqscore.formats import records
from seqscore.formats.inputs import read_prompts
from seqscore.formats.lmeval_results import read_results
from seqscore.formats.rankings import read_candidate_scores, read_rankings
from seqscore.formats.records import json_lines, records_to_prompts
from seqscore.formats.texts import read_documents, read_text_prompts

FIXTURES = Path(__file__).parents[2] / "fixtures"
#: Nesting too deep for json and msgspec, wherever the stack stands.
TOO_DEEP = b"[" * (sys.getrecursionlimit() + 10) + b"]" * (sys.getrecursionlimit() + 10)


def _first_line(name: str) -> dict:
    return json.loads((FIXTURES / name).read_bytes().splitlines()[0])


def _read(path: Path) -> list:
    with read_prompts(str(path)) as (_, items):
        return list(items)


def _only_rejection(items: list) -> str:
    [rejected] = items
    assert isinstance(rejected, Rejected), rejected
    return rejected.reason


def _parsed_alike(line: bytes) -> str:
    """The rejection of ``line`` by msgspec-then-json and by json alone,
    which must agree; its reason."""
    reasons = {
        _only_rejection([item for _, item in json_lines([(1, line)], "f", loads)])
        for loads in (records.loads_line, records._stdlib_loads)
    }
    assert len(reasons) == 1, reasons
    return reasons.pop()


def test_a_line_too_deep_for_msgspec_with_bad_utf8_after_is_judged_by_json():
    """Pins ``{"a": [[[...]]], "b": "\\x80"}`` (nesting past the recursion
    limit, then a byte that is not UTF-8). msgspec stopped at the nesting
    (RecursionError, which the fast path did not hand to json): "nested too
    deeply" with msgspec, "'utf-8' codec can't decode" without."""
    line = b'{"a": ' + TOO_DEEP + b', "b": "\x80"}'
    assert _parsed_alike(line).startswith(
        "malformed JSON ('utf-8' codec can't decode byte 0x80"
    )


def test_a_line_only_too_deep_is_nested_too_deeply_on_both_paths():
    """Pins ``[[[...]]]`` past the recursion limit: the one verdict."""
    assert _parsed_alike(TOO_DEEP) == "malformed JSON (nested too deeply)"


def _chat_text(record: dict, text: str) -> None:
    """The first choice's message is ``text``, its tokens' bytes unknown
    (so that its bytes are counted from the text)."""
    choice = record["choices"][0]
    choice["message"]["content"] = text
    for item in choice["logprobs"]["content"]:
        item["bytes"] = None


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        # a vLLM output's text: "\ud800" (json reads a lone surrogate)
        ("vllm.jsonl", lambda r: r["outputs"][0].update(text="\ud800")),
        # an OpenAI chat message's content, its tokens' bytes not listed
        ("openai_chat.jsonl", lambda r: _chat_text(r, "a\udc80")),
        # an OpenAI legacy token (the text is the tokens joined)
        (
            "openai_legacy_echo.jsonl",
            lambda r: r["choices"][0]["logprobs"]["tokens"].__setitem__(5, "\ud800"),
        ),
    ],
)
def test_a_candidate_text_with_a_lone_surrogate_is_rejected(tmp_path, name, edit):
    """Pins a candidate text holding a lone surrogate (JSON ``"\\ud800"``):
    counting its UTF-8 bytes raised UnicodeEncodeError, a traceback."""
    record = _first_line(name)
    edit(record)
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(record) + "\n")
    assert "lone surrogate" in _only_rejection(_read(path))


def test_a_top_token_name_that_is_no_string_is_rejected_on_the_fast_path():
    """Pins an OpenAI chat top alternative ``{"token": 5, "logprob": ...}``:
    the fast path took the 5 as a token name (the careful path rejects it),
    and any JSON value with it (a list nested 950 deep went into the
    output)."""
    record = _first_line("openai_chat.jsonl")
    record["choices"][0]["logprobs"]["content"][0]["top_logprobs"][0]["token"] = 5
    [rejected] = records_to_prompts([("f.jsonl:1", record)], _openai_convert())
    assert isinstance(rejected, Rejected)
    assert rejected.reason == (
        "choices[0].logprobs.content[0].top_logprobs[0].token: expected a "
        "string, got int"
    )


def _openai_convert():
    from seqscore.formats.openai import convert_record

    return convert_record


@pytest.mark.parametrize("name", ["raw.npz", "raw_compressed.npz", "aligned.npz"])
def test_an_npz_with_bytes_cut_out_is_a_damaged_archive(tmp_path, name):
    """Pins a fixture ``.npz`` with 3 bytes cut at offset 200 (inside the
    first member): zipfile placed the member before the file's start and
    its seek raised OSError (EINVAL), outside seqscore's errors."""
    data = (FIXTURES / name).read_bytes()
    path = tmp_path / "cut.npz"
    path.write_bytes(data[:200] + data[203:])
    with pytest.raises(DataFormatError, match=r"not a readable \.npz"):
        _read(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # an integer too long for int(): ValueError, not JSONDecodeError
        (
            b'{"id": "a", "score": ' + b"9" * 4301 + b"}\n",
            "s.jsonl:1: not JSON: Exceeds the limit (4300 digits)",
        ),
        (b'{"id": "a", "score": ' + TOO_DEEP + b"}\n", "s.jsonl:1: not JSON: nested"),
    ],
)
def test_a_scores_line_json_cannot_read_is_named(tmp_path, text, message):
    """Pins a JSON Lines scores line with a 4301-digit integer or nesting
    past the recursion limit: ValueError / RecursionError tracebacks."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(text)
    with pytest.raises(DataFormatError, match=re.escape(message)):
        read_candidate_scores(str(path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'["a", ' + b"9" * 4301 + b"]\n", "r.txt:1: not a JSON array: Exceeds"),
        (b'["a", ' + TOO_DEEP + b"]\n", "r.txt:1: not a JSON array: nested too"),
    ],
)
def test_a_ranking_line_json_cannot_read_is_named(tmp_path, text, message):
    """Pins a JSON-array ranking line with a 4301-digit integer or nesting
    past the recursion limit: ValueError / RecursionError tracebacks."""
    path = tmp_path / "r.txt"
    path.write_bytes(text)
    with pytest.raises(DataFormatError, match=message):
        read_rankings(str(path))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            {"id": "q", "candidates": [{"text": "\ud800"}]},
            "candidates[0].text: a lone surrogate ('\\ud800' at 0)",
        ),
        (
            {"id": "q", "prompt": "x\udc80", "candidates": [{"text": " a"}]},
            "prompt: a lone surrogate ('\\udc80' at 1)",
        ),
        (
            {"context": "x", "continuation": "\ud800"},
            "continuation: a lone surrogate",
        ),
    ],
)
def test_a_text_for_a_model_with_a_lone_surrogate_is_rejected(tmp_path, line, reason):
    """Pins texts for ``--model`` holding a lone surrogate: the model's
    scoring raised on it mid-run (UnicodeEncodeError, or a candidate error
    naming no line that stopped ``--on-error skip``)."""
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with read_text_prompts(str(path)) as prompts:
        assert _only_rejection(list(prompts)).startswith(reason)


def test_a_document_with_a_lone_surrogate_is_rejected(tmp_path):
    """Pins ``{"id": "d", "text": "a\\ud800"}`` for ``perplexity``: a
    UnicodeEncodeError traceback counting its bytes."""
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"id": "d", "text": "a\ud800"}) + "\n")
    with read_documents(str(path)) as documents:
        assert _only_rejection(list(documents)).startswith("text: a lone surrogate")


@pytest.mark.parametrize(
    "lines",
    [
        [
            {"id": "q2", "prompt": "if", "candidates": [{"text": " a"}]},
            {"id": "q2", "prompt": "if", "candidates": [{"text": " b"}]},
        ],
        [
            {"context": "The cat", "continuation": " sat", "id": "p"},
            {"context": "A dog", "continuation": " ran"},
            {"context": "The cat", "continuation": " ran", "id": "p"},
        ],
    ],
)
def test_a_repeated_prompt_id_of_texts_is_rejected(tmp_path, lines):
    """Pins two prompts of texts with one id (both layouts): both were
    scored, as two rank-1 candidates under one id (issue #24 item 4 for
    ``score --model``)."""
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with read_text_prompts(str(path)) as prompts:
        *_, last = prompts
    assert isinstance(last, Rejected)
    assert last.location == f"{path}:{len(lines)}"
    assert last.reason.startswith(f"prompt id {lines[0]['id']!r} again (first at")


def test_a_results_file_nested_too_deeply_is_a_data_error(tmp_path):
    """Pins a results file whose ``results`` holds nesting past the
    recursion limit: it was a RecursionError traceback."""
    path = tmp_path / "results_2026-01-01T00-00-00.json"
    path.write_bytes(b'{"results": ' + TOO_DEEP + b"}")
    with pytest.raises(DataFormatError, match=str(path)):
        read_results(str(path))


def test_float16_groups_are_read_without_a_warning(tmp_path):
    """Pins ``raw.npz`` with ``group`` saved as float16: numpy warned
    "overflow encountered in cast" (2**53 as a float16) on stderr."""
    with np.load(FIXTURES / "raw.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["group"] = arrays["group"].astype(np.float16)
    path = tmp_path / "g.npz"
    np.savez(path, **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prompts = _read(path)
    assert [p.id for p in prompts] == ["1", "2", "3"]


@pytest.mark.parametrize("content", [b"", b"\n", b"\n\r\n  \n"])
def test_texts_without_a_record_are_an_error(tmp_path, content):
    """Pins an empty or blank file of texts for ``score --model``: it read
    as no prompts, and the command said nothing and exited 0 (every other
    input is "no records (the input is empty)", exit 1)."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(content)
    with (
        pytest.raises(DataFormatError, match=r"t\.jsonl: no records"),
        read_text_prompts(str(path)) as prompts,
    ):
        list(prompts)


def test_a_compressed_npz_reads_past_a_candidate_rejected_before_its_rows(tmp_path):
    """Pins ``raw.npz`` with ``lengths[0] = -1`` saved compressed: the
    streamed logits were not read past candidate 0, so every later
    candidate was rejected ("compressed logits must be read in order"),
    where the same arrays stored read the other prompts."""
    with np.load(FIXTURES / "raw.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["lengths"][0] = -1
    read = {}
    for save in (np.savez, np.savez_compressed):
        path = tmp_path / f"{save.__name__}.npz"
        save(path, **arrays)
        items = _read(path)
        read[save.__name__] = [
            item.reason if isinstance(item, Rejected) else item.id for item in items
        ]
    assert read["savez"] == read["savez_compressed"]
    assert read["savez"] == [
        "n_context[0] = 4 and lengths[0] = -1 must satisfy 1 <= n_context "
        "< lengths <= 9 (prompt '1' skipped)",
        "2",
        "3",
    ]


def test_alternatives_with_an_integer_past_64_bits_read_as_one_value_does(tmp_path):
    """Pins ``"top_logprobs": [[-18446744073709551616, -1.0]]`` (-2**64, a
    log-prob): rows read at once fell back to one by one for the big
    integer and then said "expected rows of numbers of one length"; the
    same value in ``logprobs`` was read."""
    candidate = {"logprobs": [-1.0], "top_logprobs": [[-(2**64), -1.0]]}
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"id": "q", "candidates": [candidate]}) + "\n")
    [prompt] = _read(path)
    assert prompt.candidates[0].tokens.top_logprobs.tolist() == [[-(2.0**64), -1.0]]


def test_a_bad_line_gets_one_message_from_workers_and_from_this_process(
    tmp_path, monkeypatch
):
    """Pins a truncated line ``{"`` (then a newline) among good ones: read
    here (with its newline) it was "Invalid control character at column 3",
    read by a worker (split at the newline) "Unterminated string starting
    at column 2" (issue #24 item 8)."""
    from seqscore.formats import inputs

    monkeypatch.setattr(inputs, "CHUNK_BYTES", 64)
    lines = (FIXTURES / "seqscore.jsonl").read_bytes().splitlines()
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join([*lines, b'{"']) + b"\n")
    reasons = []
    for workers in (1, 2):
        with inputs.map_prompts(str(path), inputs._same, workers=workers) as (_, items):
            reasons += [i.reason for i in items if isinstance(i, Rejected)]
    assert len(reasons) == 2
    assert reasons[0] == reasons[1]


@pytest.mark.parametrize("member", ["logits", "lengths"])
def test_an_npy_header_cut_inside_its_dict_is_named(tmp_path, member):
    """Pins an ``.npz`` member whose header is ``{'descr': '<f4', `` and
    spaces: numpy's parser raised tokenize.TokenError ("EOF in multi-line
    statement"), not a ValueError, and it escaped."""
    header = b"{'descr': '<f4', "
    header += b" " * (64 - 10 - len(header) - 1) + b"\n"
    broken = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    path = tmp_path / "h.npz"
    with (
        zipfile.ZipFile(FIXTURES / "raw.npz") as old,
        zipfile.ZipFile(path, "w") as new,
    ):
        for name in old.namelist():
            new.writestr(name, broken if name == f"{member}.npy" else old.read(name))
    with pytest.raises(DataFormatError, match=f"cannot read array '{member}'"):
        _read(path)


def test_a_text_prompt_with_two_candidates_of_one_id_is_rejected(tmp_path):
    """Pins ``{"id": "q1", "candidates": [{"id": "c", "text": " a"}, {"id":
    "c", "text": " b"}]}`` for ``score --model``: read, then refused when
    scored ("prompt 'q1' has two candidates with id 'c'", naming no line),
    which stopped ``--on-error skip``. Lm-eval style pairs were rejected."""
    candidates = [{"id": "c", "text": " a"}, {"id": "c", "text": " b"}]
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"id": "q1", "candidates": candidates}) + "\n")
    with read_text_prompts(str(path)) as prompts:
        [rejected] = prompts
    assert rejected == Rejected(
        f"{path}:1",
        "prompt 'q1' has two candidates with id 'c'",
        json.dumps({"id": "q1", "candidates": candidates}),
    )


@pytest.mark.parametrize("top", ["", {}])
def test_chat_alternatives_that_are_no_list_are_rejected_on_the_fast_path(top):
    """Pins an OpenAI chat choice whose tokens list no alternatives, the
    first as ``[]``, the second as ``""`` (or ``{}``): the fast path
    iterated it as no alternatives, the careful path rejects it ("expected
    a list")."""
    record = _first_line("openai_chat.jsonl")
    content = record["choices"][0]["logprobs"]["content"]
    content[0]["top_logprobs"], content[1]["top_logprobs"] = [], top
    [rejected] = records_to_prompts([("f.jsonl:1", record)], _openai_convert())
    assert rejected.reason == (
        "choices[0].logprobs.content[1].top_logprobs: expected a list"
    )


def test_a_score_too_large_for_a_float_is_named(tmp_path):
    """Pins ``{"id": "a", "score": 10**400}`` (an integer of 401 digits) for
    ``rank``: float() raised OverflowError, a traceback."""
    path = tmp_path / "s.jsonl"
    path.write_text('{"id": "a", "score": 1' + "0" * 400 + "}\n")
    with pytest.raises(DataFormatError, match=r"s\.jsonl:1: field 'score' is 1000"):
        read_candidate_scores(str(path))


def test_an_empty_json_array_line_is_rejected_not_passed_over(tmp_path):
    """Pins a line ``[]`` after a good record: a JSON array where a record
    belongs holds records, and this one none, so the line was neither read
    nor rejected (``score`` exited 0 without a word about it)."""
    good = (FIXTURES / "seqscore.jsonl").read_bytes().splitlines()[0]
    path = tmp_path / "e.jsonl"
    path.write_bytes(good + b"\n[]\n")
    first, second = _read(path)
    assert first.id == "q1"
    assert second == Rejected(
        f"{path}:2", "an empty JSON array where a record belongs", "[]"
    )


@pytest.mark.parametrize("start", [b"\xef\xbb\xbf", b"\n", b" \r\n\xef\xbb\xbf"])
def test_documents_as_json_lines_are_told_past_a_bom_or_blank_lines(tmp_path, start):
    """Pins documents as JSON Lines that start with a byte-order mark or a
    blank line: the first line did not open an object, so the whole file,
    JSON and all, was scored as one document named after it, silently."""
    path = tmp_path / "docs.jsonl"
    path.write_bytes(start + b'{"id": "d1", "text": "a"}\n{"text": "b"}\n')
    second = "line " + str(2 + start.count(b"\n"))
    with read_documents(str(path)) as documents:
        assert [(d.id, d.text) for d in documents] == [("d1", "a"), (second, "b")]


def test_a_text_read_whole_drops_its_byte_order_mark(tmp_path):
    """Pins a plain text starting with a byte-order mark: the mark was the
    first character of the document (scored, and counted as 3 bytes)."""
    path = tmp_path / "essay.txt"
    path.write_bytes(b"\xef\xbb\xbfThe cat sat.\n")
    with read_documents(str(path)) as documents:
        assert [d.text for d in documents] == ["The cat sat.\n"]
