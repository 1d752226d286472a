"""`seqscore audit` from the command line: inputs, formats, exit codes."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqscore.cli import main

GALLERY = Path(__file__).parents[2] / "fixtures" / "audit"
RUN = dict(np.load(GALLERY / "run.npz"))
REPORTED = dict(np.load(GALLERY / "reported.npz"))


def run(*args, input=None):
    return CliRunner().invoke(main, ["audit", *map(str, args)], input=input)


def write_npz(path: Path, reported, compressed=False, **changes) -> Path:
    arrays = {**RUN, "reported": reported, **changes}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def test_correct_numbers_exit_0_with_a_clean_stderr():
    result = run(GALLERY / "correct.npz")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == f"seqscore audit: {GALLERY / 'correct.npz'}"
    assert "VERDICT: the numbers are correct" in result.stdout
    assert "rounded to 4 decimals" in result.stdout
    assert all(len(line) <= 100 for line in lines if not line.startswith("VERDICT"))


def test_a_bug_exits_1_and_is_named_with_its_consequences():
    result = run(GALLERY / "top_token.npz")
    assert result.exit_code == 1
    assert result.stderr == ""  # a finding is output, not an error
    assert "VERDICT: explained by top_token" in result.stdout
    assert "pick a different top candidate" in result.stdout
    table = [line.split() for line in result.stdout.splitlines() if line[:2] == "  "]
    fits = {row[0]: row[1] for row in table if len(row) > 2}
    assert fits["top_token"] == "yes" and fits["correct"] == "no"


def test_json_output_carries_every_hypothesis_and_the_consequences():
    result = run(GALLERY / "top_token.npz", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["verdict"] == "explained" and data["exit_code"] == 1
    assert data["explanations"][0] == "top_token"
    assert len(data["hypotheses"]) == 23
    assert data["noise"] == {
        "decimals": 4,
        "reported_dtype": "float64",
        "compute_dtype": "float32",
        "description": "reported rounded to 4 decimals, stored as float64; "
        "pipeline arithmetic float32",
    }
    worst = data["consequences"]["worst"]
    assert worst and worst[0]["loss"] > 0
    log_product = next(h for h in data["hypotheses"] if h["name"] == "log_prob_product")
    assert log_product["max_residual"] == "inf"  # non-finite as strings


def test_markdown_output_is_a_report_with_tables():
    result = run(GALLERY / "correct.npz", "--format", "markdown")
    assert result.exit_code == 0
    assert result.stdout.startswith("## seqscore audit")
    assert "**Verdict:** the numbers are correct" in result.stdout
    assert "| hypothesis | fits | within |" in result.stdout


def test_output_file_is_written_and_stdout_stays_empty(tmp_path):
    out = tmp_path / "audit.json"
    result = run(GALLERY / "top_token.npz", "--format", "json", "-o", out)
    assert result.exit_code == 1 and result.stdout == ""
    assert json.loads(out.read_text())["explanations"][0] == "top_token"


def test_jsonl_input_with_a_fitted_eos_id():
    result = run(GALLERY / "eos_appended.jsonl", "--format", "json")
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["explanations"] == ["eos_appended"]
    eos = next(h for h in data["hypotheses"] if h["name"] == "eos_appended")
    assert eos["parameter"] == 0 and eos["parameter_name"] == "eos_id"


def test_jsonl_and_npz_give_the_same_report(tmp_path):
    npz = write_npz(tmp_path / "eos.npz", np.round(REPORTED["eos_appended"], 4))
    as_npz = json.loads(run(npz, "--format", "json").stdout)
    as_jsonl = json.loads(
        run(GALLERY / "eos_appended.jsonl", "--format", "json").stdout
    )
    for key in ("verdict", "explanations", "hypotheses"):
        assert as_npz[key] == as_jsonl[key]
    # the JSONL names candidates "q<prompt>/<index>", the npz by index alone
    npz_flips = as_npz["consequences"]["worst"]
    jsonl_flips = as_jsonl["consequences"]["worst"]
    assert npz_flips and [f["picked"] for f in jsonl_flips] == [
        f"{f['group']}/{f['picked']}" for f in npz_flips
    ]


def test_compressed_npz_and_stdin(tmp_path):
    path = write_npz(tmp_path / "c.npz", REPORTED["raw_logits"], compressed=True)
    result = run(path, "--format", "json")
    assert json.loads(result.stdout)["explanations"] == ["raw_logits"]
    piped = run("-", "--format", "json", input=path.read_bytes())
    assert json.loads(piped.stdout)["explanations"] == ["raw_logits"]


def test_inline_logits_in_jsonl(tmp_path):
    logits = np.log([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    record = {
        "input_ids": [1, 0, 1],
        "n_context": 1,
        "reported": round(float(np.log(0.5) + np.log(0.1)), 6),
        "logits": logits.tolist(),
    }
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(record) + "\n")
    result = run(path, "--decimals", "6")
    assert result.exit_code == 0, result.stdout + result.stderr


def test_options_reach_the_audit():
    reported = GALLERY / "correct.npz"
    mean = run(reported, "--reduction", "mean", "--format", "json")
    assert json.loads(mean.stdout)["explanations"][0] == "sum_instead_of_mean"
    coarse = run(reported, "--decimals", "0", "--format", "json")
    assert json.loads(coarse.stdout)["noise"]["decimals"] == 0
    eos = run(GALLERY / "eos_appended.jsonl", "--eos-id", "3", "--format", "json")
    assert json.loads(eos.stdout)["verdict"] == "unexplained"


def test_numbers_nothing_explains_exit_1(tmp_path):
    noise = np.random.default_rng(0).uniform(1, 2, size=len(RUN["lengths"]))
    path = write_npz(tmp_path / "odd.npz", REPORTED["correct"] + noise)
    result = run(path)
    assert result.exit_code == 1
    assert "VERDICT: no known bug explains these numbers" in result.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reported": None}, "no 'reported' array"),
        ({"reported": np.zeros(3)}, "reported has shape (3,)"),
        ({"n_context": np.zeros(24, np.int64)}, "candidate 0: n_context = 0"),
        ({"reported": REPORTED["correct"].astype("U8")}, "reported must be real"),
        ({"reported": REPORTED["correct"] + 1j}, "reported must be real numbers"),
        ({"reported": REPORTED["correct"] < -5}, "got dtype bool"),
        ({"group": np.r_[0.0, 1, 1, np.full(21, np.nan)]}, "group[3] = nan is not"),
        ({"targets": RUN["input_ids"]}, "ambiguous layout: has both targets"),
        ({k: v[:0] for k, v in RUN.items()}, "no candidates (logits has shape (0,"),
    ],
)
def test_bad_data_exits_1_with_one_line_naming_the_problem(tmp_path, change, message):
    arrays = {**RUN, "reported": REPORTED["correct"], **change}
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    result = run(path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"seqscore: error: {path}: ")
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_bad_jsonl_names_file_line_and_field(tmp_path):
    lines = (GALLERY / "eos_appended.jsonl").read_text().splitlines()
    record = json.loads(lines[2])
    record["reported"] = "much"
    lines[2] = json.dumps(record)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / "run_logits.npy").write_bytes((GALLERY / "run_logits.npy").read_bytes())
    result = run(path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"seqscore: error: {path}:3: reported: 'much' where a number belongs\n"
    )


def test_missing_file_exits_1_and_usage_errors_exit_2(tmp_path):
    missing = run(tmp_path / "nope.npz")
    assert missing.exit_code == 1 and "cannot open" in missing.stderr
    assert run(GALLERY / "correct.npz", "--format", "csv").exit_code == 2
    assert run(GALLERY / "correct.npz", "--reduction", "median").exit_code == 2
    assert run(GALLERY / "correct.npz", "--eos-id", "-1").exit_code == 2
    assert run().exit_code == 2


def test_progress_goes_to_stderr_only_when_asked():
    result = run(GALLERY / "correct.npz", "--progress", "--format", "json")
    assert result.exit_code == 0
    assert "auditing" in result.stderr
    assert json.loads(result.stdout)["verdict"] == "correct"


def test_help_teaches():
    result = run("--help")
    assert result.exit_code == 0
    for phrase in ("Exit codes:", "--reduction", "--eos-id", "Examples:"):
        assert phrase in result.stdout


def test_a_truncated_logits_member_exits_1(tmp_path):
    # stored uncompressed, the member used to be read on into the next
    # members' bytes: a verdict on garbage
    whole = write_npz(tmp_path / "whole.npz", REPORTED["correct"])
    with zipfile.ZipFile(whole) as old:
        members = {name: old.read(name) for name in old.namelist()}
    path = tmp_path / "cut.npz"
    with zipfile.ZipFile(path, "w") as new:
        for name, data in members.items():
            new.writestr(name, data[:-1000] if name == "logits.npy" else data)
    result = run(path)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(
        f"seqscore: error: {path}: the logits member is truncated"
    )


def test_float16_reports_are_audited_with_float16_rounding(tmp_path):
    path = write_npz(tmp_path / "half.npz", REPORTED["correct"].astype(np.float16))
    result = run(path)
    assert result.exit_code == 0, result.stdout
    assert "stored as float16" in result.stdout
    forced = run(GALLERY / "correct.npz", "--reported-dtype", "float16")
    assert forced.exit_code == 0 and "stored as float16" in forced.stdout


def test_bad_logits_are_named_with_the_file(tmp_path):
    logits = RUN["logits"].copy()
    logits[2, 1, 5] = np.nan
    path = write_npz(tmp_path / "nan.npz", REPORTED["correct"], logits=logits)
    for source, args in ((path, {}), ("<stdin>", {"input": path.read_bytes()})):
        result = run(path if not args else "-", **args)
        assert result.exit_code == 1
        assert result.stderr.startswith(
            f"seqscore: error: {source}: candidate 2: logits[1, 5] is NaN"
        )


def test_an_eos_id_outside_the_vocabulary_is_a_usage_error():
    result = run(GALLERY / "correct.npz", "--eos-id", "48")
    assert result.exit_code == 2
    assert "'--eos-id': 48 is outside the vocabulary [0, 48)" in result.stderr


def jsonl_with(tmp_path, line: int, **changes) -> Path:
    """eos_appended.jsonl with ``changes`` to the record on ``line`` (a value
    of None deletes the field)."""
    lines = (GALLERY / "eos_appended.jsonl").read_text().splitlines()
    record = {**json.loads(lines[line - 1]), **changes}
    lines[line - 1] = json.dumps({k: v for k, v in record.items() if v is not None})
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / "run_logits.npy").write_bytes((GALLERY / "run_logits.npy").read_bytes())
    return path


@pytest.mark.parametrize(
    ("line", "change", "message"),
    [
        (4, {"id": "q1/2"}, "4: id 'q1/2' is used again (first at {path}:3)"),
        (4, {"group": [1]}, "4: group: [1] is not a prompt label"),
        (4, {"group": None}, "4: group: missing, but other candidates have one"),
        (4, {"n_context": True}, "4: n_context: expected an integer, got a boolean"),
        (4, {"input_ids": [9, 24, 37, 42, 45, 11, True]}, "4: input_ids: true/false"),
        (4, {"reported": -(10**400)}, "4: reported: an integer of 401 digits"),
    ],
)
def test_bad_jsonl_candidates_name_the_line(tmp_path, line, change, message):
    path = jsonl_with(tmp_path, line, **change)
    result = run(path)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(
        f"seqscore: error: {path}:" + message.format(path=path)
    )
    assert result.stderr.count("\n") == 1


def test_a_zip_archive_is_not_read_as_jsonl():
    result = run(GALLERY / "correct.npz", "--input-format", "jsonl")
    assert result.exit_code == 1
    assert "is a zip archive (an .npz?), not JSON Lines" in result.stderr


def test_reports_beyond_float32_give_a_verdict_without_warnings(tmp_path):
    path = write_npz(tmp_path / "huge.npz", np.full(24, -1e300))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow warnings were printed
        result = run(path)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1 and result.stderr == ""
    assert "VERDICT: no known bug explains these numbers" in result.stdout
