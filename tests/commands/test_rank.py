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


def test_one_candidate_far_above_twenty_others_is_exact_not_nan():
    # QA: P[1] printed nan (the race integral overflowed). The top candidate
    # beats each other with probability 1 - e^-750 (1 in float64); the 20
    # tied ones share places 2..21 equally.
    text = "".join(
        f'{{"id": "c{i}", "score": {750 if i == 0 else 0}}}\n' for i in range(21)
    )
    result = _run(["rank", "-", "--ranks", "3", "--format", "json"], text)
    assert result.exit_code == 0 and result.stderr == ""
    records = json.loads(result.stdout)
    assert [records[0][f"p_rank_{r}"] for r in (1, 2, 3)] == [1.0, 0.0, 0.0]
    for record in records[1:]:
        assert record["p_rank_1"] == 0.0
        assert record["p_rank_2"] == pytest.approx(1 / 20, abs=1e-14)


@pytest.mark.parametrize("seed", ["-5", "-1"])
def test_a_negative_seed_is_a_usage_error(seed):
    # It used to end in numpy's ValueError traceback.
    result = _run(["rank", "-", "--samples", "3", "--seed", seed], CANDIDATES)
    assert result.exit_code == 2 and result.stdout == ""
    assert "Invalid value for '--seed'" in result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "1e-320"])
def test_temperature_must_be_finite_and_positive(value):
    # nan used to be blamed on "scores[0] is nan" (exit 1); inf was accepted;
    # 2 / 1e-320 overflows, which is the temperature's doing, not the data's.
    result = _run(["rank", "-", "-t", value], CANDIDATES)
    assert result.exit_code == 2 and result.stdout == ""
    assert "--temperature" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,score\na,1\nb,2\n", "<stdin>:2: field 'name' is missing"),
        ('{"id": "a", "score": 1}\n', "<stdin>:1: field 'name' is missing"),
    ],
)
def test_a_missing_id_field_given_explicitly_is_an_error(text, message):
    # It used to number the candidates 0, 1, ... without a word.
    result = _run(["rank", "-", "--id-field", "name"], text)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == f"seqscore: error: {message}\n"


def test_a_byte_order_mark_keeps_the_ids():
    # A BOM'd CSV lost its id column ('\ufeffid'); BOM'd JSON Lines on
    # standard input was read as CSV ("field 'score' is missing").
    for text in ("\ufeffid,score\na,2\nb,1\n", "\ufeff" + CANDIDATES):
        result = _run(["rank", "-", "--format", "jsonl"], text)
        assert result.exit_code == 0 and result.stderr == ""
        items = [json.loads(line)["item"] for line in result.stdout.splitlines()]
        assert items[:2] == ["a", "b"]


def test_table_numbers_are_never_cut():
    # QA: -123456789.123 showed as "-12345678…" and an expected rank of
    # 10000.4 as "10000.4…". The last of 10001 candidates scored 0, -1, ...
    # has E[rank] = 1 + sum_j sigmoid(j) over j = 1..10000 (about 10000.46;
    # "far" adds sigmoid(-1.2e8) = 0), and "far" is last for sure: 10002.
    text = "".join(f'{{"id": "c{i}", "score": {-i}}}\n' for i in range(10_001))
    text += '{"id": "far", "score": -123456789.123}\n'
    result = _run(["rank", "-", "--ranks", "0"], text)
    assert result.exit_code == 0 and "…" not in result.stdout
    last = result.stdout.splitlines()[-1].split()
    assert last[:2] == ["far", "-123456789.1230"] and last[3] == "10002.000"
    before = result.stdout.splitlines()[-2].split()
    expected = 1 + sum(1 / (1 + np.exp(-j)) for j in range(1, 10_001))
    assert before[0] == "c10000" and float(before[3]) == pytest.approx(
        expected, abs=5e-4
    )


def test_default_positions_are_the_first_ten_computed_alone():
    # The default --ranks 10 computes ten positions, not all n (minutes for
    # 1000 candidates); they equal the first columns of the full matrix.
    scores = np.random.default_rng(0).normal(size=150)
    text = "".join(
        f'{{"id": "c{i}", "score": {float(s)!r}}}\n' for i, s in enumerate(scores)
    )
    result = _run(["rank", "-", "--format", "json"], text)
    assert result.exit_code == 0 and result.stderr == ""
    records = json.loads(result.stdout)
    assert "p_rank_10" in records[0] and "p_rank_11" not in records[0]
    order = np.argsort(-scores, kind="stable")
    full = marginal_rank_probabilities(scores)[order, :10]
    got = [[r[f"p_rank_{k}"] for k in range(1, 11)] for r in records]
    np.testing.assert_allclose(got, full, atol=1e-13)
    help_text = " ".join(_run(["rank", "--help"]).stdout.split())
    assert "Only these positions are computed" in help_text


def test_too_many_candidates_fail_before_any_quadratic_work():
    # 50,000 candidates: reading used to check duplicate names against a list
    # (quadratic, ~40 s here) before the size limit was even looked at.
    many = "".join(f'{{"id": "c{i}", "score": 0}}\n' for i in range(50_000))
    result = _run(["rank", "-"], many)
    assert result.exit_code == 1 and result.stdout == ""
    assert "50000 candidates: exact position probabilities go up to 1000" in (
        result.stderr
    )


def test_a_huge_score_is_printed_in_exponent_form_in_a_table():
    # before: 1e300 printed in fixed point, 300 digits wide
    lines = '{"id": "a", "score": 1e300}\n{"id": "b", "score": -2.5}\n'
    result = _run(["rank", "-"], lines)
    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()
    assert "1.000000e+300" in rows[1] and "-2.5000" in rows[2]
    assert max(map(len, rows)) < 80
