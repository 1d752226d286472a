#!/usr/bin/env python3
"""Scoring beside a CPU-bound neighbour (issue 25, item 4: shared cores).

    python bench/bench_shared_cores.py                 # 5-shot, GPT-2 small size
    python bench/bench_shared_cores.py --small         # a 4-layer, 256-wide model
    python bench/bench_shared_cores.py --only floor,seqscore --repeats 5

On a host where other jobs run, a scorer's time grows; this measures by how
much, for each method, in one run: every round times each method alone and
then beside ``--neighbours`` busy processes (each one thread of
pure-Python arithmetic: a CPU-bound job that allocates nothing),
started before the method and stopped after it. The figure per method is
the median of (time beside the neighbour) / (time alone) over the rounds,
next to the medians themselves.

Methods and workload are those of ``bench_model_score.py`` (``--few-shot``:
3 subjects x 20 questions after 400-token 5-shot prefixes): ``floor`` (plain
torch, one forward pass per whole sequence, batches of 8), ``seqscore``,
``seqscore-noprefix`` and ``lm-eval`` (0.4.13, where installed: a
benchmark-only dependency).
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import bench_model_score as base  # noqa: E402


def _spin(ready) -> None:
    """Busy arithmetic forever (one core's worth: one thread, no memory)."""
    ready.set()
    x = 1.0
    while True:
        for _ in range(10_000):
            x = x * 1.0000001 + 1e-9


class Neighbour:
    """``count`` processes, each keeping a core busy, while the block runs."""

    def __init__(self, count: int):
        self.count = count

    def __enter__(self):
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        self.processes = [
            context.Process(target=_spin, args=(ready,), daemon=True)
            for _ in range(self.count)
        ]
        for process in self.processes:
            process.start()
        ready.wait()
        time.sleep(0.2)  # every neighbour running before the clock starts
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.kill()
            process.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="a 4-layer model")
    parser.add_argument("--plain", action="store_true", help="plain multiple choice")
    parser.add_argument("--neighbours", type=int, default=1, help="busy processes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="floor,seqscore,seqscore-noprefix,lm-eval")
    args = parser.parse_args()
    import torch

    tok = base.tokenizer()
    model = (base.small_gpt2 if args.small else base.gpt2_small)(
        max(base.VOCAB, len(tok))
    )
    pairs = base.workload(tok, 100, 4) if args.plain else base.few_shot_workload(tok)
    requests = base.encoded(tok, pairs)
    print(base.cpu_name())
    print(
        f"GPT-2 {model.config.n_layer} layers x {model.config.n_embd}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; "
        f"{len(pairs)} requests ({'plain' if args.plain else '5-shot'}); "
        f"{args.neighbours} busy neighbour process(es)"
    )
    methods = {
        "floor": functools.partial(base.floor, model, requests, 8),
        "seqscore": lambda: base.seqscore_method(True)(model, tok, pairs, 32),
        "seqscore-noprefix": lambda: base.seqscore_method(True, 0)(
            model, tok, pairs, 32
        ),
        "lm-eval": lambda: base.lm_eval_method(model, tok, pairs, 32),
    }
    chosen = [m for m in args.only.split(",") if m]
    base.warm_up(model, requests)
    alone = {m: [] for m in chosen}
    shared = {m: [] for m in chosen}
    for _ in range(args.repeats):
        for name in chosen:
            seconds, _ = base.timed(methods[name])
            alone[name].append(seconds)
            with Neighbour(args.neighbours):
                seconds, _ = base.timed(methods[name])
            shared[name].append(seconds)
            print(
                f"  {name:18s} alone {alone[name][-1]:7.2f} s   beside "
                f"{shared[name][-1]:7.2f} s",
                flush=True,
            )
    print("\nmedians: alone, beside the neighbour, and the median ratio")
    for name in chosen:
        ratios = [b / a for a, b in zip(alone[name], shared[name], strict=True)]
        print(
            f"  {name:18s} {statistics.median(alone[name]):7.2f} s "
            f"{statistics.median(shared[name]):7.2f} s  "
            f"{statistics.median(ratios):5.2f}x"
        )


if __name__ == "__main__":
    main()
