"""``seqscore rank``: stdout, stderr and exit codes checked separately."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from seqscore.cli import main
from seqscore.plackett_luce import (
    expected_ranks,
    marginal_rank_probabilities,
    sample,
    selection_probabilities,
)

CANDIDATES = (
    '{"id": "a", "score": 2}\n{"id": "b", "score": 1}\n{"id": "c", "score": 0.1}\n'
)


def _run(args, stdin=None):
    return CliRunner().invoke(main, args, input=stdin)


def test_table_from_stdin():
    result = _run(["rank", "-", "--top-k", "2"], CANDIDATES)
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "item",
        "score",
        "p_first",
        "E[rank]",
        "P[top2]",
        "P[1]",
        "P[2]",
        "P[3]",
    ]
    # softmax([2, 1, 0.1]) = [0.659, 0.242, 0.099] (DESIGN.md)
    assert lines[1].split()[:3] == ["a", "2.0000", "0.6590"]
    assert [line.split()[0] for line in lines[1:]] == ["a", "b", "c"]


def test_json_values_are_the_library_values(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "x", "score": -1}\n{"id": "y", "score": 0.5}\n')
    result = _run(["rank", str(path), "--format", "json"])
    assert result.exit_code == 0 and result.stderr == ""
    records = json.loads(result.stdout)
    scores = np.array([0.5, -1.0])  # sorted best first
    assert [r["item"] for r in records] == ["y", "x"]
    np.testing.assert_allclose(
        [r["p_first"] for r in records], selection_probabilities(scores)
    )
    np.testing.assert_allclose(
        [r["expected_rank"] for r in records], expected_ranks(scores)
    )
    P = marginal_rank_probabilities(scores)
    np.testing.assert_allclose([[r["p_rank_1"], r["p_rank_2"]] for r in records], P)


def test_temperature_and_groups_in_csv(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("prompt,id,lp\nq1,a,-1\nq2,b,-2\nq1,c,-3\n")
    out = tmp_path / "out.csv"
    result = _run(
        [
            "rank",
            str(path),
            "--group-field",
            "prompt",
            "--score-field",
            "lp",
            "-t",
            "2",
            "--ranks",
            "1",
            "--format",
            "csv",
            "-o",
            str(out),
        ]
    )
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
    rows = [line.split(",") for line in out.read_text().splitlines()]
    assert rows[0] == ["group", "item", "score", "p_first", "expected_rank", "p_rank_1"]
    assert [r[:2] for r in rows[1:]] == [["q1", "a"], ["q1", "c"], ["q2", "b"]]
    p = selection_probabilities(np.array([-1.0, -3.0]), temperature=2.0)
    assert float(rows[1][3]) == pytest.approx(p[0])
    assert float(rows[3][3]) == 1.0


def test_samples_are_reproducible_and_match_the_library():
    args = ["rank", "-", "--samples", "4", "--seed", "3", "--format", "jsonl"]
    first, second = _run(args, CANDIDATES), _run(args, CANDIDATES)
    assert first.exit_code == 0 and first.stdout == second.stdout
    rankings = [json.loads(line)["ranking"] for line in first.stdout.splitlines()]
    expected = sample([2.0, 1.0, 0.1], 4, rng=np.random.default_rng(3))
    assert rankings == [[["a", "b", "c"][i] for i in row] for row in expected]


def test_samples_need_a_seed():
    result = _run(["rank", "-", "--samples", "2"], CANDIDATES)
    assert result.exit_code == 2 and result.stdout == ""
    assert "--samples needs --seed" in result.stderr


def test_bad_data_exits_1_naming_the_line_and_field():
    result = _run(["rank", "-"], '{"id": "a", "score": 1}\n{"id": "b", "score": "x"}\n')
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        "seqscore: error: <stdin>:2: field 'score' is 'x'; a score must be a "
        "finite number\n"
    )


def test_missing_file_and_bad_option():
    missing = _run(["rank", "/nonexistent/scores.jsonl"])
    assert missing.exit_code == 1 and "No such file" in missing.stderr
    bad = _run(["rank", "-", "--temperature", "0"], CANDIDATES)
    assert bad.exit_code == 2 and "temperature" in bad.stderr


def test_help_has_examples():
    result = _run(["rank", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.stdout
    assert "seqscore rank candidates.jsonl --samples 5 --seed 0" in result.stdout


def test_too_many_candidates_for_exact_positions_writes_nothing():
    many = "".join(f'{{"id": "c{i}", "score": {-i / 100}}}\n' for i in range(1001))
    result = _run(["rank", "-"], many)
    assert result.exit_code == 1 and result.stdout == ""
    assert "1001 candidates: exact position probabilities go up to 1000" in (
        result.stderr
    )
    fine = _run(["rank", "-", "--ranks", "0", "--format", "jsonl"], many)
    assert fine.exit_code == 0 and len(fine.stdout.splitlines()) == 1001


def test_grouped_samples_of_top_k():
    text = "g,id,score\np,a,1\np,b,0\nq,c,5\nq,d,0\nq,e,-1\n"
    args = [
        "rank",
        "-",
        "--group-field",
        "g",
        "--samples",
        "2",
        "--seed",
        "0",
        "--top-k",
        "2",
        "--format",
        "json",
    ]
    result = _run(args, text)
    assert result.exit_code == 0 and result.stderr == ""
    records = json.loads(result.stdout)
    assert [(r["group"], r["sample"], len(r["ranking"])) for r in records] == [
        ("p", 1, 2),
        ("p", 2, 2),
        ("q", 1, 2),
        ("q", 2, 2),
    ]
