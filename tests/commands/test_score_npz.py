"""Damaged and malformed .npz files on the command line: every command that
reads one fails with exit code 1 and one line naming the file, never a
traceback or a number read from the wrong bytes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqscore.cli import main

FIXTURES = Path(__file__).parents[2] / "fixtures"
COMMANDS = ("score", "compare", "audit")


def run(*args, input=None):
    return CliRunner().invoke(main, [*map(str, args)], input=input)


def assert_one_line_error(result, source, message):
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"seqscore: error: {source}: {message}")
    assert result.stderr.count("\n") == 1, result.stderr


def damaged(tmp_path) -> list[Path]:
    whole = (FIXTURES / "audit" / "correct.npz").read_bytes()
    compressed = (FIXTURES / "raw_compressed.npz").read_bytes()
    files = {
        "half.npz": whole[: len(whole) // 2],
        "junk.npz": b"PK\x03\x04" + bytes(range(256)) * 2,
        "cut_compressed.npz": compressed[: len(compressed) - 300],
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [tmp_path / name for name in files]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_damaged_archive_is_one_line_naming_the_file(tmp_path, command):
    for path in damaged(tmp_path):
        assert_one_line_error(run(command, path), path, "not a readable .npz")
        piped = run(command, "-", input=path.read_bytes())
        assert_one_line_error(piped, "<stdin>", "not a readable .npz")


@pytest.mark.parametrize("command", ("score", "compare"))
def test_a_truncated_stored_logits_member_fails_score_and_compare(tmp_path, command):
    with zipfile.ZipFile(FIXTURES / "aligned.npz") as old:
        members = {name: old.read(name) for name in old.namelist()}
    path = tmp_path / "cut.npz"
    with zipfile.ZipFile(path, "w") as new:
        for name, data in members.items():
            new.writestr(name, data[:-1000] if name == "logits.npy" else data)
    assert_one_line_error(run(command, path), path, "the logits member is truncated")


def test_an_npz_without_candidates_is_an_error_like_empty_jsonl(tmp_path):
    path = tmp_path / "none.npz"
    np.savez(path, **{k: v[:0] for k, v in np.load(FIXTURES / "aligned.npz").items()})
    assert_one_line_error(run("score", path), path, "no candidates")


def test_forced_formats_that_do_not_fit_the_file(tmp_path):
    jsonl = FIXTURES / "seqscore.jsonl"
    assert_one_line_error(
        run("score", jsonl, "--input-format", "npz"), jsonl, "not a readable .npz"
    )
    npz = FIXTURES / "raw.npz"
    assert_one_line_error(
        run("score", npz, "--input-format", "seqscore"), npz, "is a zip archive"
    )


def test_a_readme_in_the_archive_is_ignored(tmp_path):
    path = tmp_path / "with_readme.npz"
    with (
        zipfile.ZipFile(FIXTURES / "aligned.npz") as old,
        zipfile.ZipFile(path, "w") as new,
    ):
        for name in old.namelist():
            new.writestr(name, old.read(name))
        new.writestr("README.txt", "logits of the aligned fixture")
    expected = run("score", FIXTURES / "aligned.npz")
    result = run("score", path)
    assert result.exit_code == 0 and result.stdout == expected.stdout
