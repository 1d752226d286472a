#!/usr/bin/env python3
"""The token kernel of two checkouts, timed in alternating processes.

    git worktree add /tmp/before <commit>
    python bench/bench_kernel_versions.py /tmp/before . --pairs 2

Each process imports ``seqscore`` from its checkout (``PYTHONPATH``) and
times ``token_logprobs`` and ``token_stats(top_k=0)`` on float32 logits of
shape (2048, 50257), centred ``N(0, 3^2)`` and very negative ``N(-80,
3^2)``, medians of 11, both cores. Processes alternate between the two
checkouts, so that drifts of this shared machine fall on both; the summary
gives, for each measure, the second checkout's time over the first's in
each pair (the median of those ratios, and their range).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict

TIMING = """
import statistics, time
import numpy as np
from seqscore import token_logprobs, token_stats
rng = np.random.default_rng(0)
for label, mean in (("centred", 0.0), ("negative", -80.0)):
    z = rng.standard_normal((2048, 50257), dtype=np.float32) * 3 + np.float32(mean)
    t = rng.integers(0, 50257, 2048)
    token_logprobs(z, t)
    a, b = [], []
    for _ in range(11):
        s = time.perf_counter(); token_logprobs(z, t); a.append(time.perf_counter() - s)
        s = time.perf_counter(); token_stats(z, t); b.append(time.perf_counter() - s)
    print(f"  {label:8s} token_logprobs {statistics.median(a) * 1e3:6.1f} ms"
          f"  token_stats {statistics.median(b) * 1e3:6.1f} ms", flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs=2, help="two folders holding seqscore/")
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    ratios = defaultdict(list)
    for pair in range(1, args.pairs + 1):
        times = []
        for folder in args.checkouts:
            print(f"pair {pair}: {folder}", flush=True)
            env = dict(os.environ, PYTHONPATH=os.path.abspath(folder))
            out = subprocess.run(
                [sys.executable, "-c", TIMING],
                env=env,
                check=True,
                cwd="/",
                capture_output=True,
                text=True,
            ).stdout
            print(out, end="", flush=True)
            times.append(_measures(out))
        for name, first in times[0].items():
            ratios[name].append(times[1][name] / first)
    print(f"{args.checkouts[1]} / {args.checkouts[0]}, per pair:")
    for name, values in ratios.items():
        print(
            f"  {name:32s} median {statistics.median(values):.3f}"
            f"  range {min(values):.3f} .. {max(values):.3f}"
        )


def _measures(out: str) -> dict[str, float]:
    """``{"centred token_stats": ms, ...}`` from the timing code's lines."""
    found = {}
    for line in out.splitlines():
        label, *rest = line.split()
        for name, ms in re.findall(r"(token_\w+)\s+([\d.]+) ms", " ".join(rest)):
            found[f"{label} {name}"] = float(ms)
    return found


if __name__ == "__main__":
    main()
