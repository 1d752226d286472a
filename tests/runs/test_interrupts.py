"""Runs stopped by a signal: no worker survives, nothing is written after the
signal, nothing at the output path looks complete, and ``--resume`` gives
the bytes of an uninterrupted run.

Each case starts ``seqscore score`` in a process group of its own, sends
the signal at a moment drawn from the case's seed (while the run is still
working), and then watches the group: every process of the run must be gone
within :data:`GONE_WITHIN` seconds. Before the fix, ``kill -9`` of the
parent left its pool's workers finishing shards into the output folder
(parts the manifest did not list) and then hanging forever.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.shard_files import write_shards

ROOT = Path(__file__).resolve().parents[2]
#: A stopped run's processes are all gone within this many seconds.
GONE_WITHIN = 3.0
SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT}
SHARDS, PROMPTS_PER_SHARD = 6, 1_500


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("interrupts") / "shards"
    write_shards(folder, SHARDS, prompts=PROMPTS_PER_SHARD)
    return folder


@pytest.fixture(scope="module")
def one_file(shards) -> Path:
    """The shards as one file, past the size that is parsed by processes."""
    path = shards.parent / "all.jsonl"
    with path.open("wb") as out:
        while out.tell() < (17 << 20):
            for shard in sorted(shards.glob("shard-*.jsonl")):
                out.write(shard.read_bytes())
    return path


@pytest.fixture(scope="module")
def uninterrupted(shards) -> dict[str, bytes]:
    out = shards.parent / "uninterrupted"
    _score(str(shards) + "/", "-o", str(out) + "/", check=True)
    return _parts(out)


def _command(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "cli.py"), "score", *args, "--workers", "2"]


def _score(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_command(*args), "--format", "jsonl"],
        capture_output=True,
        check=check,
        cwd=ROOT,
    )


def _parts(folder: Path) -> dict[str, bytes]:
    """The parts the manifest lists, by name, with their bytes."""
    manifest = json.loads((folder / "manifest.json").read_text())
    return {p["path"]: (folder / p["path"]).read_bytes() for p in manifest["parts"]}


def _snapshot(path: Path) -> dict[str, tuple[int, int]]:
    """Every file at or under ``path``: size and modification time (ns)."""
    files = [path] if path.is_file() else sorted(path.rglob("*"))
    return {
        str(f): (f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()
    }


def _interrupt(args: list[str], signum: int, seed: int, output: Path) -> int:
    """Start a run, signal it mid-way, and check that its process group is
    gone in time and that nothing changes at ``output`` afterwards; the
    parent's exit code."""
    run = subprocess.Popen(
        [*_command(*args), "--format", "jsonl"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_until_writing(output, run)
        time.sleep(random.Random(seed).uniform(0.1, 1.0))
        assert run.poll() is None, "the run ended before the signal: make it longer"
        os.kill(run.pid, signum)
        code = run.wait(timeout=30)
        _assert_group_gone(run.pid)
        before = _snapshot(output) if output.exists() else {}
        time.sleep(0.5)
        after = _snapshot(output) if output.exists() else {}
        assert after == before, "something was written after the run stopped"
        return code
    finally:
        _kill_group(run.pid)


def _wait_until_writing(output: Path, run: subprocess.Popen) -> None:
    """Until the run has a file at ``output`` (its temporary output, or a
    part): signalled before that, it has nothing to clean up yet."""
    deadline = time.monotonic() + 60
    while not (output.exists() and any(output.iterdir())):
        assert run.poll() is None and time.monotonic() < deadline, "never wrote"
        time.sleep(0.02)


def _assert_group_gone(group: int) -> None:
    deadline = time.monotonic() + GONE_WITHIN
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    survivors = subprocess.run(
        ["ps", "-o", "pid,args", "-g", str(group)], capture_output=True, text=True
    ).stdout
    raise AssertionError(f"processes of the run outlived it:\n{survivors}")


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def _expected_code(name: str, code: int) -> None:
    expected = {"KILL": -signal.SIGKILL, "TERM": 128 + signal.SIGTERM, "INT": 1}
    assert code == expected[name]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_a_stopped_sharded_run_leaves_no_worker_and_resumes_to_the_same_bytes(
    shards, uninterrupted, tmp_path, name, seed
):
    out = tmp_path / "run"
    code = _interrupt(
        [str(shards) + "/", "-o", str(out) + "/"], SIGNALS[name], seed, out
    )
    _expected_code(name, code)
    listed = _parts(out) if (out / "manifest.json").exists() else {}
    assert len(listed) < SHARDS, "the run was not stopped mid-way"
    for part, data in listed.items():  # what the manifest lists is complete
        assert data == uninterrupted[part]
    _score(str(shards) + "/", "-o", str(out) + "/", "--resume", check=True)
    assert _parts(out) == uninterrupted


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_a_stopped_single_file_run_leaves_no_worker_and_no_output(
    one_file, tmp_path, name, seed
):
    out = tmp_path / "out.jsonl"
    code = _interrupt([str(one_file), "-o", str(out)], SIGNALS[name], seed, tmp_path)
    _expected_code(name, code)
    left = sorted(p.name for p in tmp_path.iterdir())
    if name == "KILL":  # nothing can clean up after SIGKILL: a hidden temporary
        assert all(n.startswith(".out.jsonl.") and n.endswith(".tmp") for n in left)
    else:
        assert left == []
