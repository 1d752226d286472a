"""Benchmark of sharded runs (issue: scale out on Dask).

40 shards of seqscore JSONL (by default 600 prompts x 4 candidates x 64
tokens x 5 alternatives each, about 21 MB a shard, 850 MB in all) are scored
into a folder of parts, ``seqscore score SHARDS/ -o OUT/ --format jsonl``,
each run a whole process (start-up, the LocalCluster's start and stop
included), with 1 and 2 workers on the local process pool
(``--scheduler local``) and on a Dask LocalCluster (``--scheduler dask``).
Targets on a 2-core machine: 2 workers >= 1.7x the throughput of 1 worker,
and Dask within 1.15x of the local pool's time at the same worker count.
Every run's parts must be the same bytes (checked).

The four configurations run interleaved, ``--repeats`` times; medians
printed, ratios taken from the medians. ``--stream`` times the one-stream
output (``--format jsonl > /dev/null``) instead of parts.
Run: ``python bench/bench_shards.py`` (``--small`` for a few seconds' check).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench_score import write_seqscore  # noqa: E402 (the same generator)

CONFIGS = [("local", 1), ("local", 2), ("dask", 1), ("dask", 2)]


def make_shards(folder, shards, prompts, tokens):
    """``shards`` files of ``prompts`` prompts x 4 candidates x ``tokens``
    tokens; kept between runs (remade when the sizes change)."""
    stamp = os.path.join(folder, f".made-{shards}-{prompts}-{tokens}")
    if os.path.exists(stamp):
        return
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for shard in range(shards):
        path = os.path.join(folder, f"shard-{shard:03d}.jsonl")
        write_seqscore(path, prompts, 4, tokens, np.random.default_rng(shard))
    open(stamp, "w").close()


def command(shards_dir, out, scheduler, workers, stream):
    base = [sys.executable, "-m", "seqscore.cli", "score", shards_dir]
    base += ["--format", "jsonl", "--scheduler", scheduler, "--workers", str(workers)]
    return base if stream else [*base, "-o", out + os.sep]


def run_timed(argv):
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(argv, cwd=ROOT, stdout=sink, check=True)
    return time.perf_counter() - start


def same_parts(a, b):
    names = sorted(os.listdir(a))
    if names != sorted(os.listdir(b)):
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    return not mismatch and not errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="a few seconds' run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shards", type=int, default=40)
    parser.add_argument("--prompts", type=int, default=600, help="per shard")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument(
        "--data",
        default=os.path.join(tempfile.gettempdir(), "seqscore-bench-shards"),
        help="where the shards are written (and kept for the next run)",
    )
    args = parser.parse_args()
    if args.small:
        args.prompts, args.tokens, args.repeats = 20, 16, 1
    shards_dir = os.path.join(args.data, f"shards-{args.prompts}-{args.tokens}")
    make_shards(shards_dir, args.shards, args.prompts, args.tokens)
    size = sum(
        os.path.getsize(os.path.join(shards_dir, name))
        for name in os.listdir(shards_dir)
    )
    mode = "one stream" if args.stream else "parts"
    print(
        f"{args.shards} shards, {args.prompts} prompts x 4 candidates x "
        f"{args.tokens} tokens each, {size / 1e6:.0f} MB in all; output: {mode}; "
        f"{args.repeats} repeats, interleaved; {os.cpu_count()} processors"
    )
    times = {config: [] for config in CONFIGS}
    with tempfile.TemporaryDirectory(dir=args.data) as scratch:
        reference = None
        for _ in range(args.repeats):
            for scheduler, workers in CONFIGS:
                out = os.path.join(scratch, f"{scheduler}-{workers}")
                shutil.rmtree(out, ignore_errors=True)
                argv = command(shards_dir, out, scheduler, workers, args.stream)
                times[scheduler, workers].append(run_timed(argv))
                if not args.stream:
                    if reference is None:
                        reference = out
                    elif not same_parts(reference, out):
                        raise SystemExit(f"{out}: parts differ from {reference}")
    median = {config: statistics.median(t) for config, t in times.items()}
    print(f"\n  {'scheduler':<10}{'workers':>8}{'median':>10}{'MB/s':>8}   runs")
    for (scheduler, workers), seconds in median.items():
        runs = ", ".join(f"{t:.2f}" for t in times[scheduler, workers])
        print(
            f"  {scheduler:<10}{workers:>8}{seconds:>9.2f}s{size / 1e6 / seconds:>8.1f}"
            f"   {runs}"
        )
    print()
    for scheduler in ("local", "dask"):
        speedup = median[scheduler, 1] / median[scheduler, 2]
        print(
            f"  {scheduler}: 2 workers / 1 worker throughput {speedup:.2f}x "
            "(target >= 1.7x)"
        )
    for workers in (1, 2):
        ratio = median["dask", workers] / median["local", workers]
        print(
            f"  {workers} worker{'s' if workers > 1 else ''}: dask / local time "
            f"{ratio:.2f}x (target <= 1.15x)"
        )
    if not args.stream:
        print("  parts: the same bytes in every run")


if __name__ == "__main__":
    main()
