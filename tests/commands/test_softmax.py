"""`seqscore softmax` and the command group's exit codes."""

import json

import pytest
from click.testing import CliRunner

from seqscore.cli import main


@pytest.fixture
def run():
    def invoke(*args, input=None):
        return CliRunner().invoke(main, list(args), input=input)

    return invoke


def test_table_output(run):
    result = run("softmax", "2", "1", "0.1")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["index", "logit", "prob", "logprob"]
    assert lines[1].split() == ["0", "2", "0.659001", "-0.417030"]
    assert result.stderr == ""


def test_json_output_with_negative_numbers_and_temperature(run):
    result = run("softmax", "-t", "0.5", "--format", "json", "--", "-1", "0", "1")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["index"] for r in records] == [0, 1, 2]
    assert sum(r["prob"] for r in records) == pytest.approx(1.0)
    # softmax([-2, 0, 2]): p_2 = 1 / (1 + e^-2 + e^-4)
    assert records[2]["prob"] == pytest.approx(
        1 / (1 + 2.718281828**-2 + 2.718281828**-4)
    )


def test_masked_token_survives_json(run):
    result = run("softmax", "--format", "jsonl", "0", "-inf")
    assert result.exit_code == 0, result.stderr
    second = json.loads(result.stdout.splitlines()[1])
    assert second["prob"] == 0.0 and second["logprob"] == "-inf"


def test_reads_stdin(run):
    result = run("softmax", "-", "--format", "csv", input="1000, 1\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[2] == "1,1.0,0.0,-999.0"


def test_bad_data_exits_1_with_one_line(run):
    result = run("softmax", "1", "nan")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "seqscore: error: logits[1] is NaN: a logit must be finite, or -inf to "
        "mask a token\n"
    )
    result = run("softmax", "-", input="1 x")
    assert result.exit_code == 1 and "'x' on stdin" in result.stderr


def test_bad_usage_exits_2(run):
    assert run("softmax", "--bogus").exit_code == 2
    assert run("softmax").exit_code == 2
    assert run("softmax", "1", "--format", "xml").exit_code == 2
    assert run("nonexistent").exit_code == 2


@pytest.mark.parametrize("temperature", ["0", "-1", "nan", "inf"])
def test_a_temperature_that_is_not_a_finite_positive_number_is_a_usage_error(
    run, temperature
):
    result = run("softmax", "-t", temperature, "1", "2")
    assert result.exit_code == 2 and "--temperature" in result.stderr


def test_a_literal_beyond_the_float_range_is_not_read_as_infinity(run):
    result = run("softmax", "1e400", "1")
    assert result.exit_code == 2
    assert "'1e400') is outside the float64 range" in result.stderr


def test_output_file_is_written_atomically(run, tmp_path):
    target = tmp_path / "out.csv"
    assert run("softmax", "1", "2", "-o", str(target), "--format", "csv").exit_code == 0
    assert target.read_text().startswith("index,logit,prob,logprob\n")
    failed = tmp_path / "failed.csv"
    assert run("softmax", "1", "nan", "-o", str(failed)).exit_code == 1
    assert not failed.exists()
    assert list(tmp_path.iterdir()) == [target]  # no temporary left behind


def test_help_teaches(run):
    result = run("softmax", "--help")
    assert result.exit_code == 0
    assert "seqscore softmax -- -1 0 1" in result.stdout
    assert "--temperature" in result.stdout


def test_output_file_keeps_its_mode_or_follows_the_umask(run, tmp_path):
    import os
    import stat

    fresh = tmp_path / "fresh.csv"
    old = os.umask(0o022)
    try:
        assert run("softmax", "1", "2", "-o", str(fresh)).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # not the temp file's 0600
    fresh.chmod(0o640)
    assert run("softmax", "1", "2", "-o", str(fresh)).exit_code == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640  # a replaced file keeps it


def test_logits_on_stdin_may_start_with_a_byte_order_mark():
    # before: "'\ufeff1' is not a number"
    result = CliRunner().invoke(main, ["softmax", "-"], input="\ufeff1 2".encode())
    assert result.exit_code == 0, result.output
    assert "0.731059" in result.output
