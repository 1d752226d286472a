"""`seqscore audit-fn` from the command line: loading, output, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

from seqscore.cli import main

SCORERS = Path(__file__).parents[2] / "fixtures" / "audit" / "scorers.py"


def run(*args):
    return CliRunner().invoke(main, ["audit-fn", *map(str, args)])


def test_a_correct_scorer_passes_every_law_and_exits_0():
    result = run(f"{SCORERS}:correct", "--layout", "causal", "--max-examples", "10")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].endswith("(causal layout; up to 10 examples per law, seed 0)")
    assert sum(line.startswith("  pass  ") for line in lines) == 9
    assert lines[-1] == "all 9 laws passed"


def test_a_wrong_scorer_exits_1_with_its_minimal_example():
    result = run(
        f"{SCORERS}:mean_instead_of_sum",
        "--layout",
        "causal",
        "--law",
        "sum_of_conditionals",
        "--law",
        "extension_never_raises",
    )
    assert result.exit_code == 1
    assert result.stderr == ""
    text = result.stdout
    assert "FAIL  extension_never_raises" in text
    assert "minimal failing example:" in text and "expected at most" in text
    assert text.rstrip().endswith("2 of 2 laws failed")


def test_json_output():
    result = run(
        f"{SCORERS}:top_token",
        "--layout",
        "causal",
        "--format",
        "json",
        "--law",
        "sum_of_conditionals",
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["passed"] is False and data["layout"] == "causal"
    (law,) = data["laws"]
    assert law["name"] == "sum_of_conditionals" and not law["passed"]
    violation = law["violation"]
    assert (
        violation["relation"] == "==" and violation["expected"] != violation["actual"]
    )


def test_a_module_is_imported_from_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "my_scoring.py").write_text(SCORERS.read_text())
    monkeypatch.chdir(tmp_path)
    result = run("my_scoring:correct_aligned", "--max-examples", "5")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert str(tmp_path) not in sys.path  # the import left sys.path as it was


def test_bad_import_paths_are_usage_errors(tmp_path):
    for target, reason in (
        ("no_colon", "is not MODULE:FUNCTION"),
        ("no_such_module_xyz:f", "ModuleNotFoundError"),
        (f"{SCORERS}:missing", "has no attribute 'missing'"),
        (f"{SCORERS}:EOS_ID", "is a int, not a function"),
        (f"{tmp_path / 'absent.py'}:f", "no such file"),
    ):
        result = run(target)
        assert result.exit_code == 2, target
        assert result.stdout == ""
        assert reason in result.stderr, (target, result.stderr)


def test_a_module_that_fails_to_import_is_a_usage_error(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('needs a GPU')\n")
    result = run(f"{broken}:score")
    assert result.exit_code == 2
    assert "RuntimeError: needs a GPU" in result.stderr


def test_unknown_law_is_a_usage_error():
    result = run(f"{SCORERS}:correct", "--law", "speed")
    assert result.exit_code == 2 and "unknown law 'speed'" in result.stderr


def test_help_lists_the_laws_and_exit_codes():
    result = run("--help")
    assert result.exit_code == 0
    for phrase in ("shift_invariance", "masked_entries", "Exit codes", "--layout"):
        assert phrase in result.stdout


def test_a_scorer_that_calls_sys_exit_fails_its_laws_and_the_audit_goes_on(tmp_path):
    (tmp_path / "quits.py").write_text(
        "import sys\n\ndef score(logits, ids, lengths):\n    sys.exit(3)\n"
    )
    result = run(
        f"{tmp_path / 'quits.py'}:score", "--law", "padding", "--law", "padding"
    )
    assert result.exit_code == 1
    assert "the scorer called sys.exit(3)" in result.stdout
    assert "1 of 1 laws failed" in result.stdout  # the repeated law runs once


def test_format_help_offers_only_the_formats_it_accepts():
    result = run("--help")
    assert "markdown" not in result.stdout.split("--format")[-1].split("-o,")[0]


def test_a_module_that_calls_sys_exit_on_import_is_a_usage_error(tmp_path):
    # before: sys.exit(0) on import ended the run with exit 0 and no output,
    # which reads as "every law passes"
    (tmp_path / "leaves.py").write_text(
        "import sys\nsys.exit(0)\n\ndef score(logits, ids, lengths):\n    return 0\n"
    )
    result = run(f"{tmp_path / 'leaves.py'}:score")
    assert result.exit_code == 2
    assert "importing it called sys.exit(0)" in result.stderr


def test_complex_or_missing_scores_fail_their_laws(tmp_path):
    # before: complex scores passed all 9 laws (the imaginary part dropped
    # with a ComplexWarning); None was "returned shape ()"
    (tmp_path / "odd.py").write_text(
        f"import sys\nsys.path.insert(0, {str(SCORERS.parent)!r})\n"
        "from scorers import correct_aligned as correct\n\n"
        "def complex_scores(*args):\n    return correct(*args) + 1j\n\n"
        "def nothing(*args):\n    return None\n"
    )
    for name, message in (
        ("complex_scores", "scores, expected real numbers"),
        ("nothing", "returned None, expected an array of scores"),
    ):
        result = run(f"{tmp_path / 'odd.py'}:{name}", "--law", "padding")
        assert result.exit_code == 1, result.stdout + result.stderr
        assert message in result.stdout


def test_what_the_scorer_prints_does_not_corrupt_the_json_report(tmp_path):
    # before: the scorer's print went into the JSON on stdout
    (tmp_path / "chatty.py").write_text(
        f"import sys\nsys.path.insert(0, {str(SCORERS.parent)!r})\n"
        "from scorers import correct_aligned as correct\n\n"
        "def score(*args):\n    print('scoring a batch')\n    return correct(*args)\n"
    )
    result = run(
        f"{tmp_path / 'chatty.py'}:score", "--law", "padding", "--format", "json"
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    json.loads(result.stdout)
    assert "scoring a batch" in result.stderr
