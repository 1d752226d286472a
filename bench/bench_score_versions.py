#!/usr/bin/env python3
"""``seqscore score`` of two checkouts, whole processes, in alternating pairs.

    git worktree add /tmp/before <commit>
    python bench/bench_score_versions.py /tmp/before . --pairs 7

A refactoring must not make the scorer slower. This times ``python cli.py
score FILE --format jsonl -o OUT`` from each checkout (``PYTHONPATH`` set to
it) on three inputs written by :mod:`bench_score`'s writers at a tenth of
its size: seqscore JSONL and OpenAI chat JSONL (10,000 candidates x 64
tokens x 5 alternatives) and an ``.npz`` of 64 candidates x 128 steps x
32,000 float32 logits (1 GB). The checkouts alternate, A B A B, so that
drifts of this shared machine fall on both; for each input it prints each
checkout's median wall time and the per-pair ratio (second over first):
its median and range.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from bench_score import write_openai, write_seqscore


def write_npz(path: str, rng, n: int = 64, steps: int = 128, vocab: int = 32_000):
    """Random float32 logits, stored uncompressed, written through a memmap."""
    scratch = path + ".npy"
    logits = np.lib.format.open_memmap(scratch, "w+", np.float32, (n, steps, vocab))
    for i in range(n):
        logits[i] = rng.standard_normal((steps, vocab), np.float32) * 3
    targets = rng.integers(0, vocab, (n, steps))
    np.savez(path, logits=logits, targets=targets, lengths=np.full(n, steps))
    del logits
    os.remove(scratch)


def wall_seconds(checkout: str, path: str, out: str) -> float:
    command = [sys.executable, os.path.join(checkout, "cli.py"), "score", path]
    env = dict(os.environ, PYTHONPATH=checkout)
    start = time.perf_counter()
    subprocess.run(
        [*command, "--format", "jsonl", "-o", out],
        env=env,
        cwd="/",
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def compare(checkouts: list[str], path: str, pairs: int, folder: str) -> None:
    out = os.path.join(folder, "scores.jsonl")
    for checkout in checkouts:  # warm the page cache and numba's disk cache
        wall_seconds(checkout, path, out)
    times: list[list[float]] = [[], []]
    for _ in range(pairs):
        for side, checkout in enumerate(checkouts):
            times[side].append(wall_seconds(checkout, path, out))
    ratios = [b / a for a, b in zip(*times, strict=True)]
    print(
        f"{os.path.basename(path):16s} "
        + "  ".join(
            f"{name}: {statistics.median(t):6.2f} s"
            for name, t in zip(checkouts, times, strict=True)
        )
        + f"  ratio median {statistics.median(ratios):.3f}"
        f" (range {min(ratios):.3f} .. {max(ratios):.3f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs=2, help="two folders holding cli.py")
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    checkouts = [os.path.abspath(c) for c in args.checkouts]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        inputs = {
            "seqscore.jsonl": lambda p: write_seqscore(p, 2_500, 4, 64, rng),
            "openai.jsonl": lambda p: write_openai(p, 2_500, 4, 64, rng),
            "logits.npz": lambda p: write_npz(p, rng),
        }
        for name, write in inputs.items():
            path = os.path.join(folder, name)
            write(path)
            compare(checkouts, path, args.pairs, folder)


if __name__ == "__main__":
    main()
