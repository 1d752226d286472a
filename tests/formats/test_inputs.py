"""Readers: every fixture format scores like the scipy reference, and every
malformed variant is rejected with a message naming file, line and field."""

import json
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st

from seqscore.errors import DataFormatError, Rejected, rejection_message
from seqscore.formats.inputs import _same, map_prompts, read_prompts
from seqscore.formats.npz import open_npz
from seqscore.formats.records import loads_line
from seqscore.scoring.candidates import Prompt, score_prompt

FIXTURES = Path(__file__).parents[2] / "fixtures"


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
    return rejection_message(rejected[0])


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
    # the position in the file's logits array (the kernel saw a slice)
    assert "logits[1, 2, 3] is NaN" in rejected.reason


def test_bad_entries_of_a_raw_npz_are_named_by_their_place_in_the_file(tmp_path):
    # before: "logits[1, 2] is +inf (rows are positions 3.. of logits[0])"
    # for logits[0, 4, 2], which reads as candidate 1; and "targets[1]" for
    # what is input_ids[1, 5]
    data = dict(np.load(FIXTURES / "raw.npz"))
    context = int(data["n_context"][0])
    data["logits"] = data["logits"].astype(np.float32)
    data["logits"][0, context, 2] = np.inf
    data["input_ids"][1, int(data["n_context"][1]) + 1] = 10**6
    np.savez(tmp_path / "bad.npz", **data)
    _, items = read(tmp_path / "bad.npz")
    reasons = [i.reason for i in items if isinstance(i, Rejected)]
    assert any(f"logits[0, {context}, 2] is +inf" in r for r in reasons), reasons
    column = int(data["n_context"][1]) + 1
    assert any(f"input_ids[1, {column}] = 1000000" in r for r in reasons), reasons


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


# ------------------------------------------------------- malformed .npz

ALIGNED = dict(np.load(FIXTURES / "aligned.npz"))
LOGITS_NPY = zipfile.ZipFile(FIXTURES / "aligned.npz").read("logits.npy")


def rezip(path, **members):
    """aligned.npz stored uncompressed at ``path``, ``members`` ({name: bytes})
    replacing or adding members."""
    with zipfile.ZipFile(FIXTURES / "aligned.npz") as old:
        contents = {name: old.read(name) for name in old.namelist()}
    with zipfile.ZipFile(path, "w") as new:
        for name, data in {**contents, **members}.items():
            new.writestr(name, data)
    return path


def npz(tmp_path, name="x.npz", base=None, **changes):
    arrays = {**(ALIGNED if base is None else dict(np.load(base))), **changes}
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


def fails_to_open(path, pattern):
    """Both readers refuse ``path`` with a message matching ``pattern``."""
    with pytest.raises(DataFormatError, match=pattern):
        read(path)
    with pytest.raises(DataFormatError, match=pattern), open_npz(str(path), str(path)):
        pass


def test_a_truncated_stored_logits_member_is_never_read_past_its_end(tmp_path):
    # a stored member is memory-mapped: cut short, the map ran on into the
    # next members' bytes (cut by 1000: garbage scores, exit 0) or past the
    # end of the file (all but 200 bytes: mmap's ValueError)
    for keep in (len(LOGITS_NPY) - 1000, 200):
        path = rezip(tmp_path / f"cut{keep}.npz", **{"logits.npy": LOGITS_NPY[:keep]})
        fails_to_open(path, rf"^{path}: the logits member is truncated: {keep} bytes")


def test_a_logits_member_longer_than_its_header_is_refused(tmp_path):
    path = rezip(tmp_path / "long.npz", **{"logits.npy": LOGITS_NPY + bytes(8)})
    fails_to_open(path, "holds 4168 bytes where its header declares 4160")


def test_nan_or_fractional_groups_are_refused_and_whole_floats_are_integers(tmp_path):
    group = np.array([1, 1, 1, 2, 2, np.nan, np.nan, np.nan])
    pattern = r"x.npz: group\[5\] = nan is not a prompt label"
    fails_to_open(npz(tmp_path, group=group), pattern)
    fails_to_open(npz(tmp_path, group=np.full(8, 1.5)), r"group\[0\] = 1.5 is not")
    fails_to_open(npz(tmp_path, group=np.arange(8) < 3), "got dtype bool")
    # whole floats (an integer column that once held a NaN) name the same
    # prompts as the integers
    integers = np.array([1, 1, 1, 2, 2, 3, 3, 3])
    _, as_floats = read(npz(tmp_path, "f.npz", group=integers.astype(float)))
    _, as_ints = read(npz(tmp_path, "i.npz", group=integers))
    assert [p.id for p in as_floats] == [p.id for p in as_ints] == ["1", "2", "3"]
    _, as_strings = read(npz(tmp_path, "s.npz", group=np.array(list("aaabbccc"))))
    assert [len(p.candidates) for p in as_strings] == [3, 2, 3]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"n_bytes": np.full(8, -4)}, "n_bytes[0] = -4 is negative"),
        ({"n_chars": np.full(8, -1)}, "n_chars[0] = -1 is negative"),
        ({"unconditional": np.full(8, 5.0)}, "unconditional[0] = 5.0 is not a log-p"),
        ({"unconditional": np.full(8, np.nan)}, "unconditional[0] = nan is not a"),
    ],
)
def test_counts_and_unconditional_scores_out_of_range_are_rejected(
    tmp_path, change, reason
):
    _, items = read(npz(tmp_path, **change))
    assert all(isinstance(i, Rejected) for i in items) and len(items) == 8
    assert items[0].location == f"{tmp_path / 'x.npz'}: candidate 0"
    assert items[0].reason.startswith(reason)


def test_a_masked_unconditional_score_is_a_log_probability(tmp_path):
    _, items = read(npz(tmp_path, unconditional=np.full(8, -np.inf)))
    assert not [i for i in items if isinstance(i, Rejected)]


def test_unconditional_scores_and_counts_must_be_numbers(tmp_path):
    strings = np.full(8, "-3.0")
    fails_to_open(npz(tmp_path, unconditional=strings), "unconditional must be real")
    fails_to_open(npz(tmp_path, n_bytes=np.full(8, 2.5)), "n_bytes must be integers")


def test_an_npz_with_both_layouts_is_ambiguous(tmp_path):
    path = npz(tmp_path, base=FIXTURES / "raw.npz", targets=ALIGNED["targets"])
    fails_to_open(path, "ambiguous layout: has both targets .* and input_ids and n_c")


def test_an_npz_without_candidates_is_an_error(tmp_path):
    path = npz(tmp_path, **{k: v[:0] for k, v in ALIGNED.items()})
    fails_to_open(path, r"x.npz: no candidates \(logits has shape \(0, 9, 14\)\)")


def with_bad_crc(path):
    """The bytes of ``path`` with its logits member's CRC flipped in the local
    header and in the central directory."""
    data = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo("logits.npy")
    wrong = struct.pack("<I", info.CRC ^ 1)
    data[info.header_offset + 14 : info.header_offset + 18] = wrong
    entry = data.find(b"PK\x01\x02")
    while entry >= 0:
        name_length = struct.unpack("<H", data[entry + 28 : entry + 30])[0]
        if data[entry + 46 : entry + 46 + name_length] == b"logits.npy":
            data[entry + 16 : entry + 20] = wrong
        entry = data.find(b"PK\x01\x02", entry + 4)
    return bytes(data)


def damaged_archives(tmp_path):
    whole = (FIXTURES / "raw.npz").read_bytes()
    files = {
        "half.npz": whole[: len(whole) // 2],
        "junk.npz": b"PK\x03\x04" + bytes(range(100)),
        "cut_compressed.npz": (FIXTURES / "raw_compressed.npz").read_bytes()[:-300],
        "bad_crc.npz": with_bad_crc(FIXTURES / "raw_compressed.npz"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [tmp_path / name for name in files]


def test_damaged_archives_are_errors_naming_the_file(tmp_path):
    for path in damaged_archives(tmp_path):
        fails_to_open(path, rf"^{path}: not a readable \.npz \(a damaged")


def test_a_corrupt_array_header_is_named(tmp_path):
    path = rezip(tmp_path / "h.npz", **{"logits.npy": LOGITS_NPY[:12] + b"garbage"})
    fails_to_open(path, r"h\.npz: cannot read array 'logits': EOF")


def test_members_that_are_not_arrays_are_ignored(tmp_path):
    path = rezip(tmp_path / "r.npz", **{"README.txt": b"about these logits"})
    expected = totals_by_prompt(read(FIXTURES / "aligned.npz")[1])
    assert totals_by_prompt(read(path)[1]) == expected


def test_object_logits_are_never_mapped(tmp_path):
    # a memory map of pointers read from the file would crash the process
    path = npz(tmp_path, logits=np.empty((8, 9, 14), object))  # pickled
    fails_to_open(path, "logits must be real numbers, got object")


def test_a_json_format_is_not_forced_on_a_zip_nor_npz_on_json():
    with pytest.raises(DataFormatError, match=r"is a zip archive .*not seqscore JSON"):
        read(FIXTURES / "raw.npz", "seqscore")
    with pytest.raises(DataFormatError, match=r"seqscore.jsonl: not a readable \.npz"):
        read(FIXTURES / "seqscore.jsonl", "npz")


def test_an_empty_zip_archive_is_an_npz_without_logits(tmp_path):
    zipfile.ZipFile(tmp_path / "e.npz", "w").close()
    with pytest.raises(DataFormatError, match="no 'logits' array"):
        read(tmp_path / "e.npz")


# --- JSON Lines parsing (msgspec when installed, json deciding) ------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63, max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def parsed_by_json(line: bytes):
    try:
        return ("value", json.loads(line))
    except (ValueError, RecursionError) as exc:
        return ("error", type(exc))


@given(JSON_VALUES)
def test_a_line_parses_as_json_parses_it(value):
    line = json.dumps(value).encode()  # NaN and Infinity included, as json writes
    kind, expected = parsed_by_json(line)
    assert kind == "value"
    got = loads_line(line)
    assert json.dumps(got) == json.dumps(expected)


@pytest.mark.parametrize(
    "line",
    [
        b'"\\ud800"',
        b"1e400",
        b"\xef\xbb\xbf{}",
        b"123456789012345678901234567890",
        b'{"a": 1, "a": 2}',
        b'{"a": [1, 2',
        b'{"a": "\xff"}',
    ],
)
def test_edge_lines_parse_or_fail_as_json_does(line):
    kind, expected = parsed_by_json(line)
    if kind == "value":
        assert repr(loads_line(line)) == repr(expected)
    else:
        with pytest.raises(expected):
            loads_line(line)


def test_lm_eval_samples_are_detected():
    path = next((FIXTURES / "lmeval" / "run_a").glob("samples_seqscore_mc_2*.jsonl"))
    kind, prompts = read(path)
    assert kind == "lmeval"
    assert all(
        c.tokens is None and c.logged_total <= 0 for p in prompts for c in p.candidates
    )


def test_map_chunks_hands_each_chunk_to_the_job(monkeypatch):
    from seqscore.formats import inputs

    monkeypatch.setattr(inputs, "CHUNK_BYTES", 300)
    with inputs.map_chunks(str(FIXTURES / "seqscore.jsonl"), list) as (kind, chunks):
        chunks = list(chunks)
    with read_prompts(str(FIXTURES / "seqscore.jsonl")) as (_, prompts):
        prompts = list(prompts)
    assert kind == "seqscore"
    assert len(chunks) > 1
    chunked = [p for chunk in chunks for p in chunk]
    assert [(p.id, p.source) for p in chunked] == [(p.id, p.source) for p in prompts]


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize(
    "text",
    [
        b'{"a": 1}\n{"b": 2}\n\n{"c": 3}',
        b'\xef\xbb\xbf{"a": 1}\r\n{"b": 2}\r\n',
        b'{"long": "' + b"x" * 200 + b'"}\n{"b": 2}\n',
        b"\n\n\n",
    ],
)
def test_byte_ranges_number_the_lines_as_reading_them_does(
    tmp_path, monkeypatch, chunk, text
):
    from seqscore.formats import inputs

    monkeypatch.setattr(inputs, "CHUNK_BYTES", chunk)
    path = tmp_path / "lines.jsonl"
    path.write_bytes(text)
    numbered = []
    for start, end, first in inputs._ranges(str(path), len(text), None):
        piece = text[start:end].split(b"\n")
        numbered += [(n, line) for n, line in enumerate(piece, first) if line.strip()]
    body = text.removeprefix(b"\xef\xbb\xbf")
    expected = [
        (n, line) for n, line in enumerate(body.split(b"\n"), 1) if line.strip()
    ]
    assert numbered == expected


def test_a_bad_line_read_by_a_worker_is_named_by_its_line(tmp_path, monkeypatch):
    from seqscore.formats import inputs

    monkeypatch.setattr(inputs, "CHUNK_BYTES", 64)
    lines = (FIXTURES / "seqscore.jsonl").read_text().splitlines()
    again = [_with_id_suffix(line, "-again") for line in lines]  # ids are unique
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([*lines, lines[0][:30], *again]) + "\n")
    with inputs.map_prompts(str(path), inputs._same, workers=2) as (_, items):
        rejected = [item for item in items if isinstance(item, Rejected)]
    assert [r.location for r in rejected] == [f"{path}:{len(lines) + 1}"]


def _with_id_suffix(line: str, suffix: str) -> str:
    record = json.loads(line)
    return json.dumps({**record, "id": record["id"] + suffix})


@pytest.mark.parametrize("workers", [1, 2])
def test_a_repeated_prompt_id_is_rejected_naming_both_lines(tmp_path, workers):
    # two prompts with one id came out as two rank-1 candidates under one id
    lines = (FIXTURES / "seqscore.jsonl").read_text().splitlines()
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join([*lines, lines[1]]) + "\n")
    first_id = json.loads(lines[1])["id"]
    with map_prompts(str(path), _same, workers=workers) as (_, items):
        items = list(items)
    assert [p.id for p in items if isinstance(p, Prompt)] == [
        json.loads(line)["id"] for line in lines
    ]
    (rejected,) = [r for r in items if isinstance(r, Rejected)]
    assert rejected.location == f"{path}:{len(lines) + 1}"
    assert rejected.reason == (
        f"prompt id {first_id!r} again (first at {path}:2); "
        "ids must be unique in a file"
    )


def test_the_format_is_told_from_the_first_record_that_tells_it(tmp_path):
    # a first line of no known format stopped --on-error skip for the file
    good = (FIXTURES / "seqscore.jsonl").read_text().splitlines()
    path = tmp_path / "odd-first.jsonl"
    path.write_text("\n".join(['{"id": "x", "candidatez": []}', "[1, 2]", *good]))
    with read_prompts(str(path)) as (kind, items):
        items = list(items)
    assert kind == "seqscore"
    assert [r.location for r in items if isinstance(r, Rejected)] == [
        f"{path}:1",
        f"{path}:2[0]",
        f"{path}:2[1]",
    ]
    assert sum(isinstance(r, Prompt) for r in items) == len(good)


def test_a_file_of_no_known_format_is_still_named_as_such(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"foo": 1}\n{"bar": 2}\n')
    with (
        pytest.raises(DataFormatError, match=r"odd\.jsonl:1: cannot tell the input"),
        read_prompts(str(path)) as (_, items),
    ):
        list(items)
