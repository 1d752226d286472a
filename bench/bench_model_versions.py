#!/usr/bin/env python3
"""Model scoring of two checkouts, whole processes, in alternating pairs.

    git worktree add /tmp/before <commit>
    python bench/bench_model_versions.py /tmp/before . --pairs 3

A refactoring must not make model scoring slower. Each run is one process
with ``PYTHONPATH`` set to a checkout: it builds the workload of
:mod:`bench_model_score` (the GPT-2-small-sized random model, its 50,257-token
BPE, ``--prompts`` x 4 candidates) and times seqscore's ``loglikelihoods``
over it (packed rows, shared contexts), model building excluded. The
checkouts alternate, A B A B, so that drifts of this shared machine fall on
both; it prints each checkout's median seconds, each pair's ratio (second
over first), their median and range, and the largest difference between the
two checkouts' scores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))

# Run in the child: the bench helpers of this folder, seqscore of the
# checkout (its model-scoring module moved in the models/ layout).
CHILD = """
import json, sys, time
sys.path.insert(0, {bench!r})
import torch
from bench_model_score import VOCAB, gpt2_small, tokenizer, workload
try:
    from seqscore.models.loglikelihood import loglikelihoods
except ImportError:  # a checkout from before the models/ layout
    from seqscore.model_scoring import loglikelihoods
from seqscore.models.hf import HFModel

torch.set_num_threads(2)
tok = tokenizer()
model = gpt2_small(max(VOCAB, len(tok)))
pairs = workload(tok, {prompts}, 4)
start = time.perf_counter()
results = loglikelihoods(HFModel(model, tok), pairs)
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "scores": [r.logprob for r in results]}}))
"""


def run(checkout: str, prompts: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    code = CHILD.format(bench=BENCH, prompts=prompts)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(f"{checkout}: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs=2, help="two folders holding seqscore/")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=100)
    args = parser.parse_args()
    first, second = args.checkouts
    times: dict[str, list[float]] = {first: [], second: []}
    ratios, largest = [], 0.0
    for pair in range(args.pairs):
        a, b = run(first, args.prompts), run(second, args.prompts)
        times[first].append(a["seconds"])
        times[second].append(b["seconds"])
        ratios.append(b["seconds"] / a["seconds"])
        gap = max(abs(x - y) for x, y in zip(a["scores"], b["scores"], strict=True))
        largest = max(largest, gap)
        print(
            f"pair {pair + 1}: {a['seconds']:.2f} s  {b['seconds']:.2f} s  "
            f"ratio {ratios[-1]:.3f}",
            flush=True,
        )
    for checkout, values in times.items():
        print(f"{checkout}: median {statistics.median(values):.2f} s")
    print(
        f"ratio (second / first): median {statistics.median(ratios):.3f}, "
        f"range {min(ratios):.3f}-{max(ratios):.3f}; largest score difference "
        f"{largest:.2e}"
    )


if __name__ == "__main__":
    main()
