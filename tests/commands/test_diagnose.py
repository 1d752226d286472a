"""``seqscore diagnose`` through click: stdout, stderr and exit codes apart."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from seqscore.cli import main

TREE = os.path.join(
    os.path.dirname(__file__), "..", "..", "fixtures", "textbook_tree.json"
)


@pytest.fixture
def run():
    def invoke(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_text_report_on_the_textbook_tree(run):
    result = run("diagnose", "--model", f"tree:{TREE}")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "part at step 1" in out and "lost 0.588 nats" in out
    assert "exact search (proven optimal)" in out
    assert "   2  C        -1.099  -1.609    1.099  C       -0.105  -1.022" in out


def test_json_report_carries_every_number(run, tmp_path):
    target = tmp_path / "report.json"
    result = run(
        "diagnose", "--model", f"tree:{TREE}", "--format", "json", "-o", str(target)
    )
    assert result.exit_code == 0 and result.stdout == ""
    report = json.loads(target.read_text())
    assert report["diverge_step"] == 1 and report["crossing_step"] == 2
    assert report["greedy"]["tokens"] == ["A", "C", "<eos>"]
    assert report["best"]["tokens"] == ["B", "C", "<eos>"]
    assert abs(report["loss"] - 0.5877866649021191) < 1e-12  # log(0.36 / 0.2)


def test_markdown_report(run):
    result = run("diagnose", "--model", f"tree:{TREE}", "--format", "markdown")
    assert result.exit_code == 0
    assert result.stdout.startswith("## Greedy versus best")
    assert "| 1 | `A` | -0.511 |" in result.stdout


def test_prompt_on_the_builtin_model(run):
    result = run(
        "diagnose", "--prompt", "if the", "--max-tokens", "6", "--budget", "2000"
    )
    assert result.exit_code == 0, result.stderr
    assert "prompt: 'if the'" in result.stdout
    assert "greedy total" in result.stdout


def test_bad_tree_file_is_a_data_error(run, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"vocab": ["a", "<eos>"], "eos": "<eos>", "logits": {"b": [0, 0]}}')
    result = run("diagnose", "--model", f"tree:{bad}")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "logits key 'b' has token 'b'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_prompt_outside_the_tree_is_a_data_error(run):
    result = run("diagnose", "--model", f"tree:{TREE}", "--prompt", "Z")
    assert result.exit_code == 1
    assert "'Z', is not in the tree's vocabulary" in result.stderr


def test_unlisted_prefix_names_it(run, tmp_path):
    tree = tmp_path / "t.json"
    tree.write_text('{"vocab": ["a", "<eos>"], "eos": "<eos>", "logits": {"": [1, 0]}}')
    result = run("diagnose", "--model", f"tree:{tree}")
    assert result.exit_code == 1
    assert "no entry for prefix 'a'" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "gpt"], "is not a model"),
        (["--max-tokens", "0"], "--max-tokens"),
        (["--format", "yaml"], "--format"),
        (["--beam", "0", "--budget", "0"], "nothing to search with"),
        (["--plot", "out.gif"], "--plot"),
    ],
)
def test_usage_errors_exit_2(run, args, message):
    result = run("diagnose", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr


def test_missing_tree_file_exit_1_names_it(run, tmp_path):
    result = run("diagnose", "--model", f"tree:{tmp_path / 'none.json'}")
    assert result.exit_code == 1
    assert "none.json" in result.stderr


def test_plot_svg_and_png(run, tmp_path):
    for name in ("paths.svg", "paths.png"):
        target = tmp_path / name
        result = run("diagnose", "--model", f"tree:{TREE}", "--plot", str(target))
        assert result.exit_code == 0, result.stderr
        assert target.stat().st_size > 1000
    assert (tmp_path / "paths.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "paths.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(os.listdir(tmp_path)) == ["paths.png", "paths.svg"]  # no temp files
    umask = os.umask(0o022)
    os.umask(umask)
    mode = (tmp_path / "paths.svg").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask  # like any new file, not owner-only


def test_help_shows_examples(run):
    result = run("diagnose", "--help")
    assert result.exit_code == 0
    assert "seqscore diagnose --model tree:fixtures/textbook_tree.json" in result.stdout


def test_survey_over_corpus_prompts(run):
    result = run(
        "diagnose",
        "--survey",
        "4",
        "--max-tokens",
        "5",
        "--budget",
        "3000",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["prompts"] == 4 and len(report["rows"]) == 4
    losers = [r for r in report["rows"] if r["diverge_step"] is not None]
    assert report["greedy_not_best"] == len(losers)
    assert all(r["loss"] > 0 for r in losers)
    assert all(r["best_total"] >= r["greedy_total"] for r in report["rows"])
    again = run(
        "diagnose",
        "--survey",
        "4",
        "--max-tokens",
        "5",
        "--budget",
        "3000",
        "--format",
        "json",
    )
    assert again.stdout == result.stdout  # same seed, same prompts


def test_survey_text_summary(run):
    result = run("diagnose", "--survey", "3", "--max-tokens", "4", "--budget", "2000")
    assert result.exit_code == 0, result.stderr
    assert "of 3 prompts" in result.stdout


def test_survey_with_plot_is_a_usage_error(run):
    result = run("diagnose", "--survey", "2", "--plot", "x.svg")
    assert result.exit_code == 2 and "--plot" in result.stderr


def test_a_prompt_the_model_reads_as_nothing_is_a_data_error(run):
    # the built-in model reads words of Latin letters: '的' would otherwise be
    # diagnosed as the empty prompt, a different question
    result = run("diagnose", "--prompt", "的")
    assert result.exit_code == 1
    assert "reads no token in the prompt '的'" in result.stderr
