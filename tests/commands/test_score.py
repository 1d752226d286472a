"""`seqscore score` from the command line: outputs, errors and exit codes."""

import csv
import io
import json
import re
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqscore.cli import main

FIXTURES = Path(__file__).parents[2] / "fixtures"


def run(*args, input=None):
    return CliRunner().invoke(main, ["score", *map(str, args)], input=input)


def test_without_a_file_the_builtin_model_scores_the_packaged_prompts():
    from seqscore.models.examples import example_prompts

    result = run()
    assert result.exit_code == 0, result.stderr
    table, story = result.stdout.split("\n\nWhy greedy decoding", 1)
    rows = table.splitlines()[1:]
    assert len(rows) == sum(len(e.candidates) for e in example_prompts())
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    # the story's numbers add up: loss = paid back - gained
    numbers = re.search(
        r"greedy lost ([\d.]+) nats = ([\d.]+) paid back - ([\d.]+)",
        story.replace("\n", " "),
    )
    lost, paid, gained = map(float, numbers.groups())
    assert lost == pytest.approx(paid - gained, abs=2e-3)


def test_without_a_file_machine_formats_stay_pure():
    result = run("--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["ranked_by"] for r in records} == {"sum"}
    for prompt in {r["prompt"] for r in records}:
        total = sum(r["probability"] for r in records if r["prompt"] == prompt)
        assert total == pytest.approx(1.0)


def test_table_fits_80_columns_and_sorts():
    result = run(FIXTURES / "seqscore.jsonl", "--sort")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    rank_column = slice(27, 31)  # after prompt (11) and candidate (14) columns
    ranks = [int(line[rank_column]) for line in lines[1:] if line.startswith("q1")]
    assert ranks == [1, 2, 3]


def test_json_output_carries_every_field():
    result = run(FIXTURES / "raw.npz", "--format", "json")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    assert len(records) == 8
    first = records[0]
    for key in (
        "prompt",
        "candidate",
        "rank",
        "score",
        "mean",
        "perplexity",
        "probability",
        "n_tokens",
        "is_greedy",
        "weakest_position",
    ):
        assert key in first
    for prompt in {r["prompt"] for r in records}:
        total = sum(r["probability"] for r in records if r["prompt"] == prompt)
        assert total == pytest.approx(1.0)


def test_csv_and_jsonl_agree():
    as_csv = list(
        csv.DictReader(
            io.StringIO(run(FIXTURES / "vllm.jsonl", "--format", "csv").stdout)
        )
    )
    as_jsonl = [
        json.loads(line)
        for line in run(
            FIXTURES / "vllm.jsonl", "--format", "jsonl"
        ).stdout.splitlines()
    ]
    assert [float(r["score"]) for r in as_csv] == [r["score"] for r in as_jsonl]
    assert as_csv[0]["is_greedy"] in ("true", "false")


def test_top_and_normalize():
    result = run(
        FIXTURES / "seqscore.jsonl",
        "--top",
        "1",
        "--normalize",
        "char",
        "--format",
        "jsonl",
    )
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["rank"] for r in records] == [1, 1, 1]
    assert all(r["ranked_by"] == "char" for r in records)


def test_pmi_needs_unconditional_scores():
    ok = run(FIXTURES / "seqscore.jsonl", "--normalize", "pmi")
    assert ok.exit_code == 0, ok.stderr
    missing = run(FIXTURES / "raw.npz", "--normalize", "pmi")
    assert missing.exit_code == 1
    assert "needs an unconditional score" in missing.stderr


def test_tokens_detail():
    result = run(FIXTURES / "openai_chat.jsonl", "--format", "jsonl", "--tokens")
    record = json.loads(result.stdout.splitlines()[0])
    assert record["tokens"][0]["token"] == " the"
    assert len(record["tokens"][0]["top"]) == 3


def test_stdin():
    data = (FIXTURES / "vllm.jsonl").read_bytes()
    result = CliRunner().invoke(main, ["score", "-", "--format", "jsonl"], input=data)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 9
    npz = (FIXTURES / "raw.npz").read_bytes()
    result = CliRunner().invoke(main, ["score", "-", "--format", "jsonl"], input=npz)
    assert result.exit_code == 0, result.stderr


def bad_copy(tmp_path):
    lines = (FIXTURES / "seqscore.jsonl").read_text().splitlines()
    record = json.loads(lines[1])
    record["candidates"][0]["logprobs"][0] = None
    lines[1] = json.dumps(record)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_record_fails_with_file_line_field_and_reason(tmp_path):
    path = bad_copy(tmp_path)
    result = run(path, "-o", tmp_path / "out.csv")
    assert result.exit_code == 1
    assert result.stderr == (
        f"seqscore: error: {path}:2: candidates[0].logprobs[0]: null where a number "
        "belongs\n"
    )
    assert not (tmp_path / "out.csv").exists()  # no partial output left behind


def test_skip_writes_rejects_and_scores_the_rest(tmp_path):
    path = bad_copy(tmp_path)
    rejects = tmp_path / "rejects.jsonl"
    result = run(path, "--on-error", "skip", "--rejects", rejects, "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 6  # q1 and q3: 3 + 3 candidates
    assert "skipped 1 bad records (reasons in" in result.stderr
    (reject,) = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert reject["location"] == f"{path}:2"
    assert json.loads(reject["record"])["id"] == "q2"


def test_skip_without_rejects_file_reports_on_stderr(tmp_path):
    result = run(bad_copy(tmp_path), "--on-error", "skip")
    assert result.exit_code == 0
    assert (
        "seqscore: skipped " in result.stderr and ":2: candidates[0]" in result.stderr
    )


def test_everything_rejected_is_an_error(tmp_path):
    path = tmp_path / "all_bad.jsonl"
    path.write_text('{"candidates": [{"logprobs": [null]}]}\n')
    result = run(path, "--on-error", "skip")
    assert result.exit_code == 1 and "nothing was scored" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run("--normalize", "median").exit_code == 2
    assert run("--rejects", tmp_path / "r.jsonl").exit_code == 2
    assert run("--top", "0").exit_code == 2


def test_missing_file_exits_1():
    result = run("/nonexistent/file.jsonl")
    assert result.exit_code == 1
    assert "cannot open" in result.stderr


def test_help_teaches():
    result = run("--help")
    assert result.exit_code == 0
    for phrase in ("--normalize", "--on-error", "Examples:", "weakest"):
        assert phrase in result.stdout


@pytest.mark.parametrize("alpha", ["nan", "inf", "-inf"])
def test_a_non_finite_alpha_is_a_usage_error(alpha):
    result = run(FIXTURES / "seqscore.jsonl", "--alpha", alpha)
    assert result.exit_code == 2
    assert "--alpha" in result.output and "finite" in result.output


def test_an_extreme_alpha_gives_the_limits_not_a_traceback():
    # S / L**5000 is S for L = 1 and below 1e-1500 in size for L >= 2, which
    # rounds to 0 (L**5000 itself overflows a float)
    result = run(FIXTURES / "seqscore.jsonl", "--alpha", "5000", "--format", "csv")
    assert result.exit_code == 0, result.output
    for row in csv.DictReader(io.StringIO(result.output)):
        expected = float(row["score"]) if row["n_tokens"] == "1" else 0.0
        assert float(row["length_penalty"]) == expected


def test_an_output_folder_that_does_not_exist_is_named_as_given(tmp_path):
    target = tmp_path / "missing" / "scores.csv"
    result = run(FIXTURES / "seqscore.jsonl", "-o", target)
    assert result.exit_code == 1
    assert f"{target}: cannot write here" in result.stderr
    assert ".scores.csv." not in result.stderr  # not the temporary file


def test_tokens_without_a_json_format_is_a_usage_error():
    result = run(FIXTURES / "seqscore.jsonl", "--tokens", "--format", "csv")
    assert result.exit_code == 2
    assert "--tokens needs --format json, jsonl or html" in result.output


def test_rejects_and_output_on_the_same_file_is_a_usage_error(tmp_path):
    target = tmp_path / "out.jsonl"
    result = run(
        FIXTURES / "seqscore.jsonl",
        "--on-error",
        "skip",
        "--rejects",
        target,
        "-o",
        target,
    )
    assert result.exit_code == 2
    assert "name the same file" in result.output
    assert not target.exists()


def test_a_score_past_the_float_range_is_minus_inf_without_a_warning(tmp_path):
    # -1e308 + -1e308 overflows: -inf is its correctly rounded value
    path = tmp_path / "big.jsonl"
    path.write_text(
        '{"id": "q", "candidates": [{"logprobs": [-1e308, -1e308]}, '
        '{"logprobs": [-1]}]}\n'
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run(path, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["score"] for row in rows] == ["-inf", "-1.0"]
    assert result.stderr == ""


def test_json_nested_too_deeply_is_a_data_error(tmp_path):
    # before: a RecursionError traceback
    path = tmp_path / "deep.jsonl"
    path.write_text(
        '{"id": "x", "candidates": [' + "[" * 100_000 + "]" * 100_000 + "]}"
    )
    result = run(path)
    assert result.exit_code == 1
    assert "nested too deeply" in result.output


def test_a_lone_surrogate_in_an_id_is_written_as_its_escape(tmp_path):
    # before: a UnicodeEncodeError traceback on output. Expected: the JSON
    # escape, which reads back as the same string
    path = tmp_path / "surrogate.jsonl"
    path.write_text('{"id": "\\ud800", "candidates": [{"logprobs": [-1.0]}]}\n')
    result = run(path, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[0])["prompt"] == "\ud800"
    out = tmp_path / "out.jsonl"
    assert run(path, "--format", "jsonl", "-o", out).exit_code == 0
    assert json.loads(out.read_text().splitlines()[0])["prompt"] == "\ud800"


def test_a_pretty_printed_json_document_may_start_with_a_byte_order_mark(tmp_path):
    # before: "cannot tell the input format from this record (keys: int)";
    # expected: the same scores as without the BOM
    document = json.loads((FIXTURES / "openai_chat_example.json").read_text())
    plain, marked = tmp_path / "plain.json", tmp_path / "marked.json"
    plain.write_text(json.dumps(document, indent=2))
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    want = run(plain, "--format", "csv")
    got = run(marked, "--format", "csv")
    assert want.exit_code == got.exit_code == 0, got.output
    assert got.output == want.output


def test_logits_file_must_be_a_npy_array(tmp_path):
    # before: AttributeError on an .npz, numpy's pickle hint on a text file
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for path, message in (
        (FIXTURES / "aligned.npz", "is an .npz archive; logits_file takes one .npy"),
        (text, "does not start like a .npy file"),
    ):
        line = {"id": "n", "candidates": [{"token_ids": [1], "logits_file": str(path)}]}
        result = run("-", input=json.dumps(line))
        assert result.exit_code == 1 and message in result.output, result.output


def test_a_line_break_in_a_text_keeps_one_table_row_per_candidate():
    # before: the break split the row in two
    line = {
        "id": "n",
        "candidates": [
            {"id": "a", "text": "x\ny", "logprobs": [-1.0]},
            {"id": "b", "text": "z", "logprobs": [-2.0]},
        ],
    }
    result = run("-", input=json.dumps(line))
    assert result.exit_code == 0
    rows = result.output.splitlines()
    assert len(rows) == 3 and "x\\ny" in rows[1]


def test_a_truncated_line_is_placed_at_its_end_not_on_the_next_line():
    # before: "Expecting ',' delimiter at column 1" (json counts the position
    # after the trailing newline); the line is 39 characters long
    line = '{"id":"x","candidates":[{"logprobs":[-1'
    alone = run("-", input=line + "\n")
    assert alone.exit_code == 1
    assert "<stdin>:1: malformed JSON (Expecting ',' delimiter at column 40" in (
        alone.output
    )
    second = run(
        "-", input='{"id":"a","candidates":[{"logprobs":[-1]}]}\n' + line + "\n"
    )
    assert "<stdin>:2: malformed JSON (Expecting ',' delimiter at column 40" in (
        second.output
    )


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_a_bad_first_record_leaves_stdout_empty(fmt):
    # issue 24 item 8: the table header came out before the error
    bad = '{"id": "q", "candidates": [{"id": "c", "logprobs": ["x"]}]}\n'
    result = run("-", "--format", fmt, input=bad)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "<stdin>:1" in result.stderr
