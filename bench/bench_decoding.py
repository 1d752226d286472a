#!/usr/bin/env python3
"""Decoder overhead and exact-search reach on the built-in model.

    python bench/bench_decoding.py            # full run (about a minute)
    python bench/bench_decoding.py --quick    # smaller, for a smoke test

1. Beam search: the time per generated token, against the model's own
   next-token computation for the same batches. Every batch of prefixes the
   beam search sends to the model is recorded, and the same batches are then
   sent to the model alone; the ratio (beam search time / model time) is the
   decoder's overhead factor (target <= 1.3). Best of several repeats.
2. Exact search: nodes expanded per second, and for each prompt the largest
   ``max_tokens`` for which the search proves the optimum within 100,000
   nodes.

Prompts are the packaged example prompts (sentence starts from the corpus).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from seqscore.decoding import beam_search, exact_search
from seqscore.models.builtin import load_builtin
from seqscore.models.examples import example_prompts


class Recorder:
    """Wraps a model and keeps a copy of every batch of prefixes it is sent."""

    def __init__(self, model):
        self.model, self.batches = model, []
        self.vocab, self.eos_id = model.vocab, model.eos_id

    def next_logprobs(self, prefixes):
        self.batches.append(np.array(prefixes, copy=True))
        return self.model.next_logprobs(prefixes)


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_beam(model, prompts, widths, max_tokens, repeats):
    rows = []
    for width in widths:
        recorder = Recorder(model)
        for ids in prompts:
            beam_search(recorder, ids, max_tokens, width, length_penalty=1.0)
        batches = recorder.batches
        steps = len(batches)

        def decode(width=width):
            for ids in prompts:
                beam_search(model, ids, max_tokens, width, length_penalty=1.0)

        def model_only(batches=batches):
            for batch in batches:
                model.next_logprobs(batch)

        decoder = best_time(decode, repeats)
        alone = best_time(model_only, repeats)
        rows.append(
            {
                "width": width,
                "steps": steps,
                "us_per_step": 1e6 * decoder / steps,
                "model_us_per_step": 1e6 * alone / steps,
                "ratio": decoder / alone,
            }
        )
    return rows


def bench_exact(model, prompts, budget, max_length):
    per_prompt, nodes, seconds = [], 0, 0.0
    for text, ids in prompts:
        proven_up_to, last = 0, None
        for length in range(1, max_length + 1):
            start = time.perf_counter()
            result = exact_search(model, ids, length, node_budget=budget)
            seconds += time.perf_counter() - start
            nodes += result.nodes_expanded
            if not result.proven_optimal:
                last = result
                break
            proven_up_to, last = length, result
        per_prompt.append((text, proven_up_to, last))
    return per_prompt, nodes / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    model = load_builtin()
    load_ms = 1e3 * (time.perf_counter() - start)
    examples = example_prompts()
    prompts = [model.encode(e.prompt) for e in examples]
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} cores; built-in model: V = {len(model.vocab)}, "
        f"cold load {load_ms:.0f} ms"
    )
    widths = (4, 16) if args.quick else (1, 4, 8, 16, 32)
    repeats = 2 if args.quick else 5
    print(
        "\nbeam search, length_penalty 1.0, max_tokens 20, "
        f"{len(prompts)} prompts (best of {repeats})"
    )
    print("width  steps  us/step  model us/step  overhead factor")
    for row in bench_beam(model, prompts, widths, 20, repeats):
        print(
            f"{row['width']:5d}  {row['steps']:5d}  {row['us_per_step']:7.1f}  "
            f"{row['model_us_per_step']:13.1f}  {row['ratio']:15.2f}"
        )
    budget = 100_000
    chosen = examples[:3] if args.quick else examples
    per_prompt, rate = bench_exact(
        model,
        [(e.prompt, model.encode(e.prompt)) for e in chosen],
        budget,
        max_length=6 if args.quick else 30,
    )
    print(f"\nexact search, node budget {budget:,}: {rate:,.0f} nodes/s")
    print("prompt                longest proven  (next length: nodes, gap to bound)")
    for text, proven, last in per_prompt:
        tail = ""
        if last is not None and not last.proven_optimal:
            gap = last.bound - last.best.total
            tail = f"({last.nodes_expanded:,} nodes, gap {gap:.2f} nats)"
        print(f"{text!r:22s}  {proven:14d}  {tail}")


if __name__ == "__main__":
    main()
