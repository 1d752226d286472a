"""One rule for lm-eval samples lines (issues #23, #24): whichever path
parses a line -- msgspec's typed fast path, the careful reader of parsed
JSON, or plain ``json`` without msgspec -- the same line gives the same
document or the same error, and never a traceback.

Lines are drawn valid (every layout lm-eval has written) and then broken:
values flipped to other JSON types, keys dropped, renamed or repeated,
numbers huge, NaN or infinite, raw text ``json.dumps`` cannot write, bytes
cut, inserted or replaced (bad UTF-8, control bytes, punctuation).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from seqscore.cli import main
from seqscore.errors import DataFormatError, Rejected
from seqscore.formats import lmeval, records
from seqscore.formats.lmeval import (
    careful_document,
    loads_samples_line,
    read_document,
)
from seqscore.formats.records import json_lines, records_to_prompts
from seqscore.lmeval.logged import doc_value
from seqscore.lmeval.verdicts import judge
from tests.fuzz.harness import without_msgspec
from tests.strategies import mutated_lmeval_lines

FIXTURE = (
    Path(__file__).parents[2]
    / "fixtures"
    / "lmeval"
    / "run_a"
    / "samples_seqscore_mc_2026-12-02T21-03-26.264835.jsonl"
)
GOOD_LINES = FIXTURE.read_bytes().splitlines()[:2]

#: The reported case: a doc holding the byte \xff (not UTF-8).
BAD_UTF8_DOC = GOOD_LINES[1].replace(b'"doc": {', b'"doc": {"x": "\xff", ', 1)
#: ... and beside it a response the fast path leaves to the careful one.
BAD_UTF8_DOC_ODD_RESPONSE = BAD_UTF8_DOC.replace(
    b'"filtered_resps": [[', b'"filtered_resps": [[-1.5, "False"], [', 1
).replace(
    b'"gen_args_0": {',
    b'"gen_args_9": {"arg_0": "", "arg_1": " z"}, "gen_args_0": {',
    1,
)


#: The tests of the typed fast path itself need msgspec (the ``fast`` extra).
needs_msgspec = pytest.mark.skipif(
    lmeval._Sample is None, reason="the typed fast path needs msgspec"
)


def _parse_plain(raw: bytes):
    return json.loads(raw)


#: How each path parses a line: msgspec's typed records, parsed JSON (msgspec
#: then json, as :data:`~seqscore.formats.records.loads_line`), plain json.
PARSERS = {
    "fast": loads_samples_line,
    "careful": records.loads_line,
    "plain": _parse_plain,
}


def _doc(document):
    try:
        return json.dumps(doc_value(document))  # NaN and surrogates compare
    except DataFormatError as exc:
        return ("doc error", str(exc))
    except RecursionError:
        return ("doc too deep for this test",)


def outcome(line: bytes, parse, **settings) -> list:
    """What a reader makes of a line (as line 3 of ``f.jsonl``): its
    documents, each with its parsed ``doc`` and its judgement's hash
    problems, or its rejections (location and reason)."""

    def convert(record, location):
        return (read_document(record, location, **settings),)

    found = []
    parsed = json_lines([(3, line)], "f.jsonl", parse)
    for item in records_to_prompts(parsed, convert):
        if isinstance(item, Rejected):
            found.append(("rejected", item.location, item.reason, item.remedy))
            continue
        try:
            problems = judge([item], check_doc_hash=True).hash_problems
        except DataFormatError as exc:
            problems = ("error", str(exc))
        found.append(("document", item._replace(doc=None), _doc(item), problems))
    return found


def same_everywhere(line: bytes, **settings) -> None:
    got = {name: outcome(line, parse, **settings) for name, parse in PARSERS.items()}
    assert got["fast"] == got["careful"], line
    assert got["careful"] == got["plain"], line


@example(BAD_UTF8_DOC, {})
@example(BAD_UTF8_DOC_ODD_RESPONSE, {})
@given(
    mutated_lmeval_lines(),
    st.sampled_from([{}, {"target_field": "label"}, {"delimiter": ""}]),
)
def test_every_path_reads_a_broken_line_alike(line, reading):
    same_everywhere(line, **reading)


@pytest.mark.parametrize("line", [BAD_UTF8_DOC, BAD_UTF8_DOC_ODD_RESPONSE])
def test_a_doc_that_is_not_utf8_is_malformed_json_on_every_path(line):
    for parse in PARSERS.values():
        [(_, rejected)] = json_lines([(2, line)], "f.jsonl", parse)
        assert isinstance(rejected, Rejected)
        assert rejected.reason.startswith(
            "malformed JSON ('utf-8' codec can't decode byte 0xff"
        )


def _edited(old: bytes, new: bytes) -> bytes:
    """The second fixture line with ``old`` (once) replaced by ``new``."""
    assert old in GOOD_LINES[1]
    return GOOD_LINES[1].replace(old, new, 1)


LONG_INTEGER = b"9" * 4301  # one digit more than int() reads by default


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # what msgspec's typed decoder only scans (doc, filtered_resps,
        # fields it does not know) it did not check as json does: the fast
        # path read these lines, or crashed re-reading them
        (BAD_UTF8_DOC, "malformed JSON ('utf-8' codec can't decode byte 0xff"),
        (
            BAD_UTF8_DOC_ODD_RESPONSE,
            "malformed JSON ('utf-8' codec can't decode byte 0xff",
        ),
        (
            _edited(
                b'"resps": [',
                b'"resps": ["\xc0\xaf", ',
            ),
            "malformed JSON ('utf-8' codec can't decode byte 0xc0",
        ),
        (
            _edited(b'"doc": {', b'"doc": {"n": ' + LONG_INTEGER + b", "),
            "malformed JSON (Exceeds the limit (4300 digits)",
        ),
        (
            _edited(b'"filter": ', b'"extra": -' + LONG_INTEGER + b', "filter": '),
            "malformed JSON (Exceeds the limit (4300 digits)",
        ),
        (
            _edited(b'"filtered_resps": [[', b'"filtered_resps": -1e400, "x": [['),
            "doc_id 1: filtered_resps: expected a list, got float",
        ),
    ],
)
def test_lines_the_fast_path_read_otherwise_are_read_as_json_reads_them(line, expected):
    same_everywhere(line)
    [(kind, location, reason, _)] = outcome(line, loads_samples_line)
    assert (kind, location) == ("rejected", "f.jsonl:3")
    assert reason.startswith(expected)


@needs_msgspec
@pytest.mark.parametrize(
    ("line", "typed"),
    [
        # json decodes bytes with "surrogatepass": a UTF-8 surrogate is read
        (_edited(b'"doc": {', b'"doc": {"s": "\xed\xa0\x80", '), True),
        # a long run of digits on a long line: json reads it (the typed
        # record is not trusted with it, in case it were too long)
        (_edited(b'"doc": {', b'"doc": {"n": ' + LONG_INTEGER[1:] + b", "), False),
        (_edited(b'"doc": {', b'"doc": {"n": 0.' + LONG_INTEGER + b", "), False),
        # a long line with many short numbers stays on the fast path
        (_edited(b'"doc": {', b'"doc": {"n": "' + b"9 " * 4400 + b'", '), True),
        (_edited(b'"doc": {', b'"doc": {"n": [' + b"12, " * 3000 + b"3], "), True),
    ],
)
def test_lines_json_reads_are_read_on_every_path(line, typed):
    same_everywhere(line)
    [(kind, *_)] = outcome(line, loads_samples_line)
    assert kind == "document"
    assert isinstance(loads_samples_line(line), lmeval._Sample) == typed


@needs_msgspec
def test_the_fixture_lines_are_read_by_the_typed_fast_path():
    for line in FIXTURE.read_bytes().splitlines():
        sample = loads_samples_line(line)
        assert isinstance(sample, lmeval._Sample)
        assert lmeval._typed_document(sample, "f:1", " ", "label") is not None


@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from([1, 7, 640, 2150, 2151, 4300, 4301])),
        max_size=8,
    )
)
def test_a_line_holding_an_integer_too_long_for_int_is_never_left_typed(runs):
    line = b"".join((b"7" if digits else b"x") * n for digits, n in runs)
    limit = sys.get_int_max_str_digits()
    too_long = re.search(rb"[0-9]{%d}" % (limit + 1), line)
    assert lmeval._maybe_long_integer(line, limit) or not too_long


def test_a_null_doc_is_no_doc_on_every_path():
    line = _edited(b'"doc": {', b'"doc": null, "_": {')
    same_everywhere(line)
    document = read_document(loads_samples_line(line), "f:1")
    assert document.doc is None
    assert judge([document], check_doc_hash=True).hash_problems == [
        ("doc_hash cannot be checked: the record has no doc",)
    ]


# ------------------------------------------------------------ the commands


def _invoke(args: list[str]):
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1, 2), result.output
    if result.exception is not None:  # exit codes are SystemExit; else a bug
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _commands(folder: str, line: bytes) -> list[list[str]]:
    paths = []
    for run in ("a", "b"):
        os.makedirs(os.path.join(folder, run))
        path = os.path.join(folder, run, "samples_t_2026-01-01T00-00-00.jsonl")
        Path(path).write_bytes(b"\n".join([*GOOD_LINES, line]) + b"\n")
        paths.append(path)
    quick = ["--resamples", "20", "--workers", "1", "--format", "json"]
    return [
        ["evaluate", paths[0], "--check", *quick],
        ["evaluate", paths[0], "--doc-hashes", *quick],
        ["compare-runs", *paths, *quick],
    ]


@example(BAD_UTF8_DOC)
@example(BAD_UTF8_DOC_ODD_RESPONSE)
@settings(max_examples=12)
@given(mutated_lmeval_lines())
def test_the_commands_read_a_broken_line_alike_with_or_without_msgspec(line):
    """Exit codes 0, 1 or 2, never a traceback, and the same report and
    exit code whether msgspec is installed or not."""
    with tempfile.TemporaryDirectory() as folder:
        for args in _commands(folder, line):
            fast = _invoke(args)
            with without_msgspec():
                plain = _invoke(args)
            assert fast == plain, args


# Nesting near Python's recursion limit: msgspec reads a few levels deeper
# than json, and where the limit falls depends on the call stack, so the
# paths may differ there (records.loads_line reads with msgspec first); but
# each reads the line or names what is wrong with it, never a traceback.


def _too_deep() -> bytes:
    depth = sys.getrecursionlimit() + 10  # too deep wherever the stack stands
    return b"[" * depth + b"]" * depth


def test_a_raw_doc_too_deep_for_json_is_an_error_naming_the_document():
    document = read_document(loads_samples_line(GOOD_LINES[1]), "f:2")
    deep = document._replace(doc=_too_deep())
    with pytest.raises(DataFormatError, match=r"^f:2 \(doc_id 1\): doc: nested too"):
        doc_value(deep)
    with pytest.raises(DataFormatError, match="nested too deeply"):
        judge([deep], check_doc_hash=True)


def test_a_parsed_doc_too_deep_to_hash_is_an_error_naming_the_document():
    nested: list = []
    for _ in range(sys.getrecursionlimit() + 10):
        nested = [nested]
    document = careful_document(json.loads(GOOD_LINES[1]), "f:2")._replace(doc=nested)
    with pytest.raises(DataFormatError, match=r"^f:2 \(doc_id 1\): doc: nested too"):
        judge([document], check_doc_hash=True)


@needs_msgspec
def test_a_typed_doc_too_deep_to_read_its_target_is_malformed_json():
    import msgspec

    sample = loads_samples_line(GOOD_LINES[1])
    deep = msgspec.structs.replace(sample, doc=msgspec.Raw(_too_deep()))
    with pytest.raises(DataFormatError, match=r"^malformed JSON \(nested too deeply\)"):
        read_document(deep, "f:2", target_field="label")
