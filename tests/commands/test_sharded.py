"""`seqscore score` over shards on this machine: inputs, parts, resume, errors."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqscore.cli import main
from tests.shard_files import write_shards

ROOT = Path(__file__).parents[2]


def run(*args):
    return CliRunner().invoke(main, ["score", *map(str, args)])


def test_a_glob_a_directory_and_several_files_score_in_shard_order(tmp_path):
    paths = write_shards(tmp_path / "in", 3)
    one_by_one = b"".join(run(p, "--format", "jsonl").stdout_bytes for p in paths)
    for names in ([tmp_path / "in" / "shard-*.jsonl"], [tmp_path / "in"], paths):
        result = run(*names, "--format", "jsonl")
        assert result.exit_code == 0, result.output
        assert result.stdout_bytes == one_by_one
    reordered = run(paths[2], paths[0], "--format", "jsonl")
    prompts = [json.loads(line)["prompt"] for line in reordered.stdout.splitlines()]
    assert prompts[0].endswith("-s2-0") and prompts[-1].endswith("-s0-2")


def test_json_and_table_of_shards_are_one_document(tmp_path):
    paths = write_shards(tmp_path, 2)
    records = json.loads(run(*paths, "--format", "json", "--workers", "2").stdout)
    assert len(records) == 16
    table = run(*paths).stdout.splitlines()
    assert table[0].startswith("prompt") and len(table) == 17


def test_parts_are_each_shards_single_file_output(tmp_path):
    paths = write_shards(tmp_path / "in", 3)
    out = tmp_path / "out"
    result = run(tmp_path / "in", "-o", f"{out}/", "--format", "csv", "--sort")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["shards"] == 3
    assert manifest["settings"]["sort"] is True
    for path, part in zip(paths, manifest["parts"], strict=True):
        alone = run(path, "--format", "csv", "--sort").stdout_bytes
        assert (out / part["part"]).read_bytes() == alone
        assert part["records"] == len(alone.splitlines()) - 1  # the header


def test_parquet_parts_have_the_csv_columns_and_values(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    (path,) = write_shards(tmp_path / "in", 1)
    out = tmp_path / "out"
    assert run(path, "-o", f"{out}/", "--format", "parquet").exit_code == 0
    table = pq.read_table(out / "part-00000.parquet")
    rows = list(csv.DictReader(io.StringIO(run(path, "--format", "csv").stdout)))
    assert table.column_names == list(rows[0])
    for row, record in zip(rows, table.to_pylist(), strict=True):
        assert row["score"] == repr(record["score"])
        assert row["is_greedy"] == str(record["is_greedy"]).lower()
        assert row["pmi"] == ("" if record["pmi"] is None else repr(record["pmi"]))


def test_bad_shards_are_named(tmp_path):
    paths = write_shards(tmp_path, 3)
    missing = tmp_path / "gone.jsonl"
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(missing)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text(paths[0].read_text() + '{"id": "q9", "candidates": [\n')
    cases = {
        dangling: f"{dangling}: cannot open (No such file or directory)",
        empty: f"{empty}: no records (the input is empty)",
        malformed: f"{malformed}:4: malformed JSON",
    }
    for bad, message in cases.items():
        for output in ("-", f"{tmp_path / 'out'}/"):
            result = run(paths[0], bad, paths[1], "-o", output, "--format", "jsonl")
            assert result.exit_code == 1, result.output
            assert result.stderr.startswith(f"seqscore: error: {message}")
    result = run(tmp_path / "nothing-*.jsonl")
    assert result.exit_code == 1 and "nothing-*.jsonl: no file matches" in result.stderr


def test_usage_errors(tmp_path, monkeypatch):
    paths = write_shards(tmp_path, 2)
    cases = [
        ((paths[0], "--format", "parquet"), "give -o DIR/"),
        ((*paths, "--resume"), "--resume needs -o DIR/"),
        ((*paths, "-o", f"{tmp_path}/out/"), "give --format"),
        ((paths[0], paths[0]), "named twice"),
        ((paths[0], "-"), "standard input"),
        ((*paths, "-o", f"{tmp_path}/", "--format", "csv"), "holds input shards"),
        ((*paths, "--scheduler", "tcp://h:1", "--workers", "2"), "has the workers"),
        ((*paths, "--model", "builtin"), "not supported with it yet"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output


def test_a_missing_extra_says_what_to_install(tmp_path, monkeypatch):
    paths = write_shards(tmp_path, 2)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    result = run(*paths, "--scheduler", "dask")
    assert result.exit_code == 2
    assert "pip install 'seqscore[dask]'" in result.output
    result = run(*paths, "-o", f"{tmp_path}/out/", "--format", "parquet")
    assert result.exit_code == 2
    assert "pip install 'seqscore[parquet]'" in result.output


def test_skip_collects_rejects_of_every_shard_in_shard_order(tmp_path):
    paths = write_shards(tmp_path, 3)
    for path in reversed(paths[1:]):
        lines = path.read_text().splitlines()
        lines[0] = '{"id": "bad", "candidates": []}'
        path.write_text("\n".join(lines) + "\n")
    rejects = tmp_path / "rejects.jsonl"
    result = run(*paths, "--workers", "2", "--on-error", "skip", "--rejects", rejects)
    assert result.exit_code == 0, result.output
    locations = [json.loads(line)["location"] for line in rejects.open()]
    assert locations == [f"{paths[1]}:1", f"{paths[2]}:1"]
    # into parts: each part's rejects beside it, and reported again by a
    # resumed run that keeps the parts
    out = tmp_path / "out"
    for resume in ((), ("--resume",)):
        result = run(
            *paths, "-o", f"{out}/", "--format", "csv", "--on-error", "skip",
            "--rejects", rejects, *resume,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        again = [json.loads(line)["location"] for line in rejects.open()]
        assert again == locations
    manifest = json.loads((out / "manifest.json").read_text())
    assert [p["rejects"] for p in manifest["parts"]] == [
        None,
        "part-00001.rejects.jsonl",
        "part-00002.rejects.jsonl",
    ]
    assert "kept 3 complete" in result.stderr


def _manifest_parts(folder: Path) -> list[str]:
    try:
        return [
            p["part"]
            for p in json.loads((folder / "manifest.json").read_text())["parts"]
        ]
    except (FileNotFoundError, ValueError):
        return []


def test_resume_after_an_interrupted_run_writes_only_the_missing_parts(tmp_path):
    paths = write_shards(tmp_path / "in", 4)
    data = paths[2].read_bytes()
    paths[2].unlink()
    os.mkfifo(paths[2])  # the run blocks on shard 2 until it is killed
    out = tmp_path / "out"
    command = [sys.executable, "-m", "seqscore.cli", "score", *map(str, paths)]
    command += ["-o", f"{out}/", "--format", "jsonl", "--workers", "1"]
    interrupted = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(_manifest_parts(out)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _manifest_parts(out) == ["part-00000.jsonl", "part-00001.jsonl"]
    finally:
        interrupted.send_signal(signal.SIGKILL)
        interrupted.communicate()
    written = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")}
    paths[2].unlink()
    paths[2].write_bytes(data)
    result = run(*paths, "-o", f"{out}/", "--format", "jsonl", "--resume")
    assert result.exit_code == 0, result.output
    assert "wrote 2 parts, kept 2 complete from an earlier run" in result.stderr
    for name, mtime in written.items():
        assert (out / name).stat().st_mtime_ns == mtime  # not written again
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["records"] == 32
    for path, part in zip(paths, manifest["parts"], strict=True):
        alone = run(path, "--format", "jsonl").stdout_bytes
        assert (out / part["part"]).read_bytes() == alone
