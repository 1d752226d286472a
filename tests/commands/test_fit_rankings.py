"""``seqscore fit-rankings``: stdout, stderr and exit codes checked separately."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqscore.cli import main

NASCAR = str(Path(__file__).resolve().parents[2] / "fixtures" / "nascar2002.txt")


def _run(args, stdin=None):
    return CliRunner().invoke(main, args, input=stdin)


def test_nascar_table_sorted_with_footer():
    result = _run(["fit-rankings", NASCAR, "--universe", "listed"])
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "rank",
        "item",
        "log_worth",
        "stderr",
        "worth",
        "rankings",
    ]
    assert len(lines) == 1 + 83 + 1
    # Driver 58 finished 4th in his only race; the MLE puts him first.
    assert lines[1].split()[:3] == ["1", "58", "3.2261"]
    worths = [float(line.split()[2]) for line in lines[1:-1]]
    assert worths == sorted(worths, reverse=True)
    assert lines[-1] == (
        "# log-likelihood -4191.097285; 36 rankings of 83 items; prior none; "
        "converged after 3 iterations"
    )


def test_nascar_json_with_ghost_prior(tmp_path):
    out = tmp_path / "w.json"
    result = _run(
        [
            "fit-rankings",
            NASCAR,
            "--universe",
            "listed",
            "--prior",
            "ghost",
            "--format",
            "json",
            "-o",
            str(out),
        ]
    )
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
    records = json.loads(out.read_text())
    assert len(records) == 83 and records[0]["item"] == "58"
    assert records[0]["log_worth"] == pytest.approx(2.435014633568991, abs=1e-6)
    assert sum(r["worth"] for r in records) == pytest.approx(1.0)
    assert all(r["converged"] is True for r in records)


def test_partial_rankings_need_a_universe():
    result = _run(["fit-rankings", NASCAR])
    assert result.exit_code == 1 and result.stdout == ""
    assert "ranking '1' ranks 43 of the 83 items" in result.stderr
    assert "--universe listed" in result.stderr and "--universe all" in result.stderr


def test_lines_from_stdin_with_top_k_universe():
    text = "a b\nb c\nc a\na c\n"
    result = _run(["fit-rankings", "-", "--universe", "all", "--format", "csv"], text)
    assert result.exit_code == 0 and result.stderr == ""
    header, *rows = result.stdout.splitlines()
    assert (
        header == "rank,item,log_worth,stderr,worth,rankings,log_likelihood,converged"
    )
    # Top-2 of 3 is a full ranking: a > b > c, b > c > a, c > a > b, a > c > b.
    # a wins twice; c is second twice; b is last twice.
    assert [row.split(",")[1] for row in rows] == ["a", "c", "b"]


def test_no_estimate_names_items_and_suggests_a_prior():
    result = _run(["fit-rankings", "-", "--universe", "listed"], "a b\na c\nb c\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("seqscore: error: <stdin>: no finite")
    assert "'a'" in result.stderr and "--prior ghost" in result.stderr
    fixed = _run(
        ["fit-rankings", "-", "--universe", "listed", "--prior", "l2"],
        "a b\na c\nb c\n",
    )
    assert fixed.exit_code == 0


def test_ties_are_an_error_naming_the_line():
    result = _run(["fit-rankings", "-"], "item,ranking_id,position\na,1,1\nb,1,1\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert "<stdin>:3: items 'a' (line 2) and 'b' share position 1" in result.stderr


def test_custom_columns_and_usage_errors():
    text = "who race place\nx 1 2\ny 1 1\nx 2 1\ny 2 2\n"
    ok = _run(["fit-rankings", "-", "--columns", "who,race,place"], text)
    assert ok.exit_code == 0
    bad = _run(["fit-rankings", "-", "--columns", "who,race"], text)
    assert bad.exit_code == 2 and "ITEM,RANKING,POSITION" in bad.stderr
    strength = _run(["fit-rankings", "-", "--prior-strength", "1"], text)
    assert strength.exit_code == 2 and "--prior-strength needs" in strength.stderr
    missing = _run(["fit-rankings"])
    assert missing.exit_code == 2


def test_help_has_examples():
    result = _run(["fit-rankings", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.stdout


def test_a_long_table_without_positions_is_not_fitted_as_rankings():
    # QA: the header became a ranking of the items 'item' and 'ranking'.
    args = ["fit-rankings", "-", "--universe", "listed", "--prior", "ghost"]
    result = _run(args, "item,ranking\na,1\nb,1\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(
        "seqscore: error: <stdin>:1: long table has no position column: the "
        "header 'item', 'ranking'"
    )
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("position", ["2.5", "0", "-1"])
def test_positions_must_be_whole_numbers_from_1(position):
    text = f"item,ranking_id,position\na,1,1\nb,1,{position}\n"
    result = _run(["fit-rankings", "-"], text)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        f"seqscore: error: <stdin>:3: field 'position' is '{position}'; a "
        "position must be a whole number >= 1\n"
    )


@pytest.mark.parametrize(
    "text",
    ["a b c\nb a c\nc a b\na c b\n", "item,ranking,position\na,1,1\nb,1,2\nc,1,3\n"],
)
def test_a_byte_order_mark_changes_nothing(text):
    # '\ufeffa' used to be a fourth item (lines); a BOM'd long table was
    # not recognised as one.
    args = ["fit-rankings", "-", "--universe", "listed", "--prior", "ghost"]
    plain, marked = _run(args, text), _run(args, "\ufeff" + text)
    assert plain.exit_code == 0 and marked.exit_code == 0
    assert marked.stdout == plain.stdout


@pytest.mark.parametrize("prior", ["ghost", "l2"])
@pytest.mark.parametrize("strength", ["1e-300", "1e-16", "1e-14"])
def test_a_negligible_prior_keeps_the_unpenalised_stderrs(prior, strength):
    # QA: stderr 0.0000 (ghost, 1e-16) and 0.6455/0.7071/0.5 (l2, 1e-300) for
    # 0.5836/0.5851/0.5851 without a prior: a prior this weak changes nothing.
    text = "a b c\nb a c\nc a b\na c b\n"

    def stderrs(*extra):
        result = _run(["fit-rankings", "-", "--format", "json", *extra], text)
        assert result.exit_code == 0
        return {r["item"]: r["stderr"] for r in json.loads(result.stdout)}

    plain = stderrs()
    weak = stderrs("--prior", prior, "--prior-strength", strength)
    assert weak == pytest.approx(plain, rel=1e-6)
    assert plain["a"] == pytest.approx(0.58359495, abs=1e-8)


@pytest.mark.parametrize("command", ["fit-rankings", "rank"])
def test_a_file_that_is_not_utf8_is_a_data_error_naming_the_line(tmp_path, command):
    # before: a UnicodeDecodeError traceback
    path = tmp_path / "latin1.txt"
    path.write_bytes("a b\nc \xe9 a\n".encode("latin-1"))
    result = CliRunner().invoke(main, [command, str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}:2: not UTF-8 text (byte 0xe9" in result.output
    piped = CliRunner().invoke(main, [command, "-"], input=path.read_bytes())
    assert piped.exit_code == 1
    assert "<stdin>:2: not UTF-8 text" in piped.output


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1"])
def test_prior_strength_must_be_finite_and_positive_a_usage_error(value):
    # before: inf and nan exited 1 with the Python name prior_strength
    result = _run(
        ["fit-rankings", "-", "--prior", "ghost", "--prior-strength", value],
        "a b\nb a\n",
    )
    assert result.exit_code == 2
    assert "--prior-strength" in result.output and "finite number > 0" in result.output
