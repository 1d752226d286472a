"""Sharded runs on Dask: the same bytes as the local pool, faults, errors.

One LocalCluster of 2 worker processes serves the module (the tests pass
its address, as ``--scheduler tcp://...`` would on a real cluster); the test
that kills a worker starts a cluster of its own.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqscore.cli import main
from seqscore.errors import InvalidInputError
from seqscore.runs.schedulers import check_scheduler, open_scheduler
from tests.shard_files import FIXTURES, write_shards

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).parents[2]


def local_cluster():
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # no dashboard; its HTTP server on a free port
        scheduler_kwargs={"dashboard": False},
        silence_logs=logging.ERROR,
    )


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as running:
        yield running


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Six shards of three input formats (JSONL, OpenAI chat, .npz)."""
    folder = tmp_path_factory.mktemp("shards")
    write_shards(folder, 4)
    shutil.copy(FIXTURES / "openai_chat.jsonl", folder / "shard-04.jsonl")
    shutil.copy(FIXTURES / "raw.npz", folder / "shard-05.npz")
    return folder


def score(*args):
    result = CliRunner().invoke(main, ["score", *map(str, args)])
    return result


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "table"])
def test_local_and_a_local_cluster_give_the_same_bytes_in_the_same_order(
    cluster, shards, fmt
):
    local = score(shards, "--format", fmt, "--workers", "2")
    on_dask = score(shards, "--format", fmt, "--scheduler", cluster.scheduler_address)
    assert local.exit_code == 0, local.output
    assert on_dask.exit_code == 0, on_dask.output
    assert on_dask.stdout_bytes == local.stdout_bytes
    if fmt == "jsonl":  # shard order, then record order: each shard's own rows
        one_by_one = b"".join(
            score(path, "--format", "jsonl").stdout_bytes
            for path in sorted(shards.iterdir())
        )
        assert local.stdout_bytes == one_by_one


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_parts_and_manifest_are_the_same_bytes_locally_and_on_dask(
    cluster, shards, tmp_path, fmt
):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    local = score(shards, "-o", f"{tmp_path / 'local'}/", "--format", fmt)
    on_dask = score(
        shards,
        "-o",
        f"{tmp_path / 'dask'}/",
        "--format",
        fmt,
        "--scheduler",
        cluster.scheduler_address,
    )
    assert local.exit_code == 0, local.output
    assert on_dask.exit_code == 0, on_dask.output
    parts = folder_bytes(tmp_path / "local")
    assert len(parts) == 7  # six parts and the manifest
    assert folder_bytes(tmp_path / "dask") == parts


def test_a_local_cluster_started_for_the_run(shards, tmp_path):
    started = score(shards, "--scheduler", "dask", "--workers", "2", "--format", "csv")
    assert started.exit_code == 0, started.output
    assert started.stdout_bytes == score(shards, "--format", "csv").stdout_bytes


def test_a_bad_line_on_a_worker_names_the_shard_and_the_line(cluster, tmp_path):
    paths = write_shards(tmp_path, 3)
    lines = paths[2].read_text().splitlines()
    paths[2].write_text(lines[0] + "\n" + lines[1][:40] + "\n")
    result = score(*paths, "--scheduler", cluster.scheduler_address)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"seqscore: error: {paths[2]}:2: malformed JSON")


def test_skip_collects_every_rejected_record_from_every_worker(cluster, tmp_path):
    paths = write_shards(tmp_path, 4)
    for path in paths[1], paths[3]:
        lines = path.read_text().splitlines()
        lines[2] = '{"id": "bad", "candidates": [{"logprobs": [0.5]}]}'
        path.write_text("\n".join(lines) + "\n")
    rejects = tmp_path / "rejects.jsonl"
    out = tmp_path / "out"
    result = score(
        *paths,
        "--scheduler",
        cluster.scheduler_address,
        "--on-error",
        "skip",
        "--rejects",
        rejects,
        "-o",
        f"{out}/",
        "--format",
        "jsonl",
    )
    assert result.exit_code == 0, result.output
    locations = [json.loads(line)["location"] for line in rejects.open()]
    assert locations == [f"{paths[1]}:3", f"{paths[3]}:3"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [part["rejected"] for part in manifest["parts"]] == [0, 1, 0, 1]
    assert "skipped 2 bad records" in result.stderr


def test_an_existing_cluster_has_its_own_workers(cluster):
    with (
        pytest.raises(InvalidInputError, match="has the workers it has"),
        open_scheduler(cluster.scheduler_address, workers=2),
    ):
        pass
    with open_scheduler(cluster.scheduler_address) as scheduler:
        assert scheduler.workers == 2


def test_unknown_schedulers_are_usage_errors(shards):
    with pytest.raises(InvalidInputError):
        check_scheduler("tcp:")
    result = score(shards, "--scheduler", "kubernetes")
    assert result.exit_code == 2 and "unknown scheduler" in result.output


def test_an_unreachable_scheduler_exits_1(shards, monkeypatch):
    monkeypatch.setattr("seqscore.runs.schedulers.CONNECT_TIMEOUT", 0.5)
    result = score(shards, "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr


def _wait(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _running_on(client, fragment: str):
    """The worker running the task whose key holds ``fragment``, if one is."""
    for worker, keys in client.processing().items():
        for key in keys:
            if fragment in str(key) and client.call_stack(keys=[key]):
                return worker
    return None


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _feed(fifo: Path, data: bytes) -> bool:
    """Write ``data`` to the FIFO once a process reads it (False until then)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no reader yet
            return False
        raise
    os.set_blocking(fd, True)
    with os.fdopen(fd, "wb") as writer:
        writer.write(data)
    return True


def _feed_until(fifo: Path, data: bytes, run: subprocess.Popen) -> None:
    """Feed every process that opens ``fifo`` until ``run`` ends. After a
    feed the reader is given a second to see the end of the data: a writer
    opened before it does would append a second copy."""
    while run.poll() is None:
        time.sleep(1.0 if _feed(fifo, data) else 0.02)


def _kill_the_worker_of_shard_2(paths, command) -> bytes:
    """Run ``command`` (ending in ``--scheduler``) on a cluster of its own;
    kill the worker that runs shard 2's task, a FIFO that blocks the task
    until the test writes it; then feed the shard to the task's second run.
    The command's stdout."""
    data = paths[2].read_bytes()
    paths[2].unlink()
    os.mkfifo(paths[2])
    with local_cluster() as cluster, distributed.Client(cluster) as client:
        run = subprocess.Popen(
            [*command, cluster.scheduler_address],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            worker = _wait(
                lambda: _running_on(client, "-00002-"), what="shard 2 to start"
            )
            pid = client.run(os.getpid, workers=[worker])[worker]
            os.kill(pid, signal.SIGKILL)
            _wait(lambda: _gone(pid), what="the killed worker to exit")
            # the shard's data exist only from now on: the task that reads
            # them is a later run of it, on a worker still alive. Every
            # opener is fed until the command ends: Dask may start the
            # retried task more than once, and a run left without data
            # would block the command for good.
            feeding = threading.Thread(
                target=_feed_until, args=(paths[2], data, run), daemon=True
            )
            feeding.start()
            try:
                stdout, stderr = run.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                run.kill()
                _, stderr = run.communicate()
                raise AssertionError(  # what the command was waiting for
                    stderr.decode()[-3000:]
                ) from None
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert run.returncode == 0, stderr.decode()
    return stdout


SCORE = [sys.executable, "-m", "seqscore.cli", "score"]


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(tmp_path):
    paths = write_shards(tmp_path / "in", 4)
    expected = [score(p, "--format", "jsonl").stdout_bytes for p in paths]
    out = tmp_path / "out"
    command = [*SCORE, *map(str, paths), "-o", f"{out}/", "--format", "jsonl"]
    _kill_the_worker_of_shard_2(paths, [*command, "--scheduler"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["records"] == 4 * 8
    assert [p["shard"] for p in manifest["parts"]] == [str(p) for p in paths]
    parts = [(out / p["part"]).read_bytes() for p in manifest["parts"]]
    assert parts == expected  # every record once, none twice
    assert sorted(os.listdir(out)) == sorted(
        ["manifest.json", *(p["part"] for p in manifest["parts"])]
    )
