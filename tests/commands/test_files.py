"""Files the commands read and write: none writes over a file it reads
(``score same.jsonl -o same.jsonl`` replaced its input and exited 0), and a
file that cannot be read is exit 1 in every command."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqscore.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def scores(tmp_path) -> Path:
    path = tmp_path / "in.jsonl"
    shutil.copy(FIXTURES / "seqscore.jsonl", path)
    return path


def _refused(args, *watched: Path) -> str:
    before = {p: p.read_bytes() for p in watched}
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert {p: p.read_bytes() for p in watched} == before  # nothing touched
    return result.output


def test_the_output_cannot_be_the_input(scores):
    out = _refused(["score", scores, "-o", scores], scores)
    assert f"-o/--output {scores} is the input file {scores}" in out


def test_nor_a_link_to_it_nor_another_spelling_of_it(scores, monkeypatch):
    link = scores.parent / "link.jsonl"
    link.symlink_to(scores)
    _refused(["score", link, "-o", scores], scores)
    monkeypatch.chdir(scores.parent)
    _refused(["score", "in.jsonl", "-o", "./in.jsonl"], scores)


def test_nor_a_shard_of_an_input_folder_or_glob(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    for name in ("a.jsonl", "b.jsonl"):
        shutil.copy(FIXTURES / "seqscore.jsonl", folder / name)
    _refused(["score", f"{folder}/", "-o", folder / "b.jsonl"], folder / "b.jsonl")
    _refused(
        ["score", f"{folder}/*.jsonl", "-o", folder / "a.jsonl"], folder / "a.jsonl"
    )


def test_the_rejects_file_cannot_be_the_input_either(scores):
    args = ["score", scores, "--on-error", "skip", "--rejects", scores]
    assert "--rejects" in _refused(args, scores)


@pytest.mark.parametrize(
    "command",
    [
        ["rank", "{path}", "-o", "{path}"],
        ["perplexity", "{path}", "--model", "builtin", "-o", "{path}"],
        ["compare", "{path}", "-o", "{path}"],
    ],
)
def test_every_command_refuses(scores, command):
    _refused([part.format(path=scores) for part in command], scores)


def test_another_path_is_written(scores, tmp_path):
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["score", str(scores), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("prompt")


@pytest.mark.parametrize(
    "command",
    [
        ["score", "{missing}"],
        ["compare", "{missing}"],
        ["rank", "{missing}"],
        ["fit-rankings", "{missing}"],
        ["perplexity", "{missing}", "--model", "builtin"],
        ["evaluate", "{missing}"],
        ["compare-runs", "{missing}", "{missing}"],
        ["audit", "{missing}"],
        ["evaluate", str(FIXTURES / "lmeval" / "run_a"), "--results", "{missing}"],
    ],
)
def test_a_file_that_cannot_be_read_is_exit_1_everywhere(tmp_path, command):
    # evaluate and compare-runs said exit 2 (click's usage error), the rest 1
    missing = tmp_path / "missing.jsonl"
    args = [part.format(missing=missing) for part in command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert f"{missing}: " in result.output
