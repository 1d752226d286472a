#!/usr/bin/env python3
"""Decoder overhead and exact-search reach on the built-in model.

    python bench/bench_decoding.py               # full run (about 12 minutes)
    python bench/bench_decoding.py --beam-only   # beam search only (about a minute)
    python bench/bench_decoding.py --quick       # smaller, for a smoke test

1. Beam search: the time per generated token (one batched model call per
   step), against the model's own next-token computation for the same
   batches. Every batch of prefixes the beam search sends to the model is
   recorded with the model's answer; then the same batches go to the model
   alone (model us/step), and the beam search is rerun against the recorded
   answers (decoder us/step: the decoder's own work). The overhead factor is
   beam search time / model time (target <= 1.3). Best of several repeats.
   A random tiny GPT-2 (if transformers is installed) shows the same decoder
   on a model with a realistic per-step cost. glibc's malloc is set to keep
   freed memory (``steady_allocator``; ``--default-malloc`` to skip), so that
   page faults on the model's temporaries do not land on one side only.
2. Exact search: nodes expanded per second, and for each prompt the largest
   ``max_tokens`` for which the search proves the optimum within 100,000
   nodes.

Prompts are the packaged example prompts (sentence starts from the corpus).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import sys
import time
from contextlib import nullcontext

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from seqscore.decoding import PrefixBatch, beam_search, beam_search_batch, exact_search
from seqscore.decoding.selection import compiled_available, numpy_selection
from seqscore.models.builtin import load_builtin
from seqscore.models.corpus import sentence_starts
from seqscore.models.examples import example_prompts


class Recorder:
    """Wraps a model; keeps every batch of prefixes it is sent and the answer.

    With ``replay`` on, it answers from the record instead of the model, which
    times the decoder alone.
    """

    def __init__(self, model):
        self.model, self.batches, self.answers = model, [], []
        self.vocab, self.eos_id = model.vocab, model.eos_id
        self.replay, self.position = False, 0

    def next_logprobs(self, prefixes):
        if self.replay:
            self.position += 1
            return self.answers[self.position - 1]
        if not isinstance(prefixes, PrefixBatch):  # a PrefixBatch is never reused
            prefixes = np.array(prefixes, copy=True)
        self.batches.append(prefixes)
        self.answers.append(self.model.next_logprobs(prefixes))
        return self.answers[-1]


def interleaved_best(fns: dict, repeats: int) -> dict:
    """The best time of each function, timed in rounds (each function once a
    round), so that a slow spell of the shared machine hits all of them."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def selection_context(selection: str):
    """``numpy`` / ``python``: without numba's kernels; ``compiled``: with."""
    return nullcontext() if selection == "compiled" else numpy_selection()


def bench_beam(
    model, prompts, widths, max_tokens, repeats, *, batched=False, selections=()
):
    """Per width: full beam search, the model alone, the decoder alone.

    ``batched``: all prompts in one :func:`beam_search_batch` (one model call
    per step for every prompt); otherwise one :func:`beam_search` per prompt,
    with the plain Python step ("python") and with each of ``selections``.
    Each search runs once per step implementation in ``selections``:
    "numpy" (batched numpy step), "compiled" (numba's kernels). The model
    alone is timed once, on the recorded batches (every implementation sends
    the same ones), in the same rounds as the searches.
    """
    rows = []
    for width in widths:

        def decode(target, width=width):
            if batched:
                beam_search_batch(target, prompts, max_tokens, width)
                return
            for ids in prompts:
                beam_search(target, ids, max_tokens, width, length_penalty=1.0)

        recorder = Recorder(model)
        decode(recorder)
        steps = len(recorder.batches)

        def model_only(batches=recorder.batches):
            for batch in batches:
                model.next_logprobs(batch)

        def replay(recorder=recorder):
            recorder.replay, recorder.position = True, 0
            decode(recorder)

        def under(selection, fn):
            def run():
                with selection_context(selection):
                    fn()

            return run

        labels = list(selections) if batched else ["python", *selections]
        fns = {"model": model_only}
        for label in labels:
            fns[("full", label)] = under(label, lambda: decode(model))
            fns[("decoder", label)] = under(label, replay)
        best = interleaved_best(fns, repeats)
        for label in labels:
            full = best[("full", label)]
            rows.append(
                {
                    "prompts": len(prompts),
                    "width": width,
                    "selection": label,
                    "steps": steps,
                    "us_per_step": 1e6 * full / steps,
                    "model_us_per_step": 1e6 * best["model"] / steps,
                    "decoder_us_per_step": 1e6 * best[("decoder", label)] / steps,
                    "ratio": full / best["model"],
                }
            )
    return rows


def skeleton_step(answer: np.ndarray, prefixes: np.ndarray):
    """A step of single-prompt beam search reduced to what no real step can
    skip: check the model's output (one max per row), one call of the
    compiled selection kernel (outputs allocated once, no thread hand-off),
    build the next prefixes. No sums, no finished hypotheses, no stopping."""
    from seqscore.decoding._compiled import best_per_prompt

    width = len(prefixes)
    sums, starts, ends = np.zeros(width), np.zeros(1, np.int64), np.array([width])
    total, flat = np.full((1, 2 * width), -np.inf), np.full((1, 2 * width), -1)
    count = np.zeros(1, dtype=np.int64)

    def step():
        out = np.asarray(answer)
        peaks = out.max(axis=1)
        if not (peaks.min() > -np.inf and peaks.max() <= 1e-6):
            raise ValueError("bad row")
        best_per_prompt(out, sums, peaks, starts, ends, total, flat, count, 0, 1)
        parent, token = np.divmod(flat[0, :width], out.shape[1])
        grown = np.empty((width, prefixes.shape[1] + 1), prefixes.dtype)
        grown[:, :-1] = prefixes[parent]
        grown[:, -1] = token
        return grown

    return step


def bench_floor(model, widths=(1, 4), calls=20_000):
    """:func:`skeleton_step` against the model's own call on the same
    prefixes: the least a single-prompt step can cost in Python. Needs numba."""
    rows = []
    for width in widths:
        prefixes = np.array([model.encode("if the")] * width)
        step = skeleton_step(
            np.ascontiguousarray(model.next_logprobs(prefixes)), prefixes
        )

        def skeleton(step=step):
            for _ in range(calls):
                step()

        def model_calls(prefixes=prefixes):
            for _ in range(calls):
                model.next_logprobs(prefixes)

        best = interleaved_best({"step": skeleton, "model": model_calls}, 3)
        rows.append((width, 1e6 * best["step"] / calls, 1e6 * best["model"] / calls))
    return rows


def tiny_gpt2():
    """A random 2-layer GPT-2 (vocabulary 2,000), or None without transformers."""
    try:
        import torch
        import transformers
    except ImportError:
        return None
    from seqscore.models.hf import HFModel

    torch.manual_seed(0)
    torch.set_num_threads(1)  # steadier timings on a shared 2-core machine
    config = transformers.GPT2Config(
        vocab_size=2000,
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=1,
    )
    return HFModel(transformers.GPT2LMHeadModel(config).eval())


def print_beam(rows):
    print(
        "prompts  width  selection  steps  us/step  model us/step  "
        "decoder us/step  overhead factor"
    )
    for row in rows:
        print(
            f"{row['prompts']:7d}  {row['width']:5d}  "
            f"{row['selection']:>9s}  {row['steps']:5d}  "
            f"{row['us_per_step']:7.1f}  "
            f"{row['model_us_per_step']:13.1f}  {row['decoder_us_per_step']:15.1f}  "
            f"{row['ratio']:15.2f}"
        )


def bench_exact(model, prompts, budget, lengths, batch_size=1):
    """Per prompt: the longest ``max_tokens`` proven, its result, the next one's."""
    per_prompt, nodes, seconds = [], 0, 0.0
    for text, ids in prompts:
        proven_up_to, proven, unproven = 0, None, None
        for length in lengths:
            start = time.perf_counter()
            result = exact_search(
                model, ids, length, node_budget=budget, batch_size=batch_size
            )
            seconds += time.perf_counter() - start
            nodes += result.nodes_expanded
            if not result.proven_optimal:
                unproven = result
                break
            proven_up_to, proven = length, result
        per_prompt.append((text, proven_up_to, proven, unproven))
    return per_prompt, nodes / seconds


class NoEOS:
    """The model with ``<eos>`` forbidden (log-prob -inf, the rest renormalised).

    Every leaf then has exactly ``max_tokens`` tokens, so the exact search has
    to prove the best full-length continuation: the hard case.
    """

    def __init__(self, model):
        self.model, self.vocab, self.eos_id = model, model.vocab, model.eos_id
        self.encode = model.encode

    def next_logprobs(self, prefixes):
        from seqscore.numerics.softmax import log_softmax

        rows = np.array(self.model.next_logprobs(prefixes))
        rows[:, self.eos_id] = -np.inf
        return log_softmax(rows)


def print_exact(title, per_prompt):
    print(title)
    print("prompt                longest proven   nodes  its best sequence (log-prob)")
    for text, length, proven, unproven in per_prompt:
        tokens = " ".join(proven.best.tokens) if proven else "-"
        total = f"({proven.best.total:.2f})" if proven else ""
        used = proven.nodes_expanded if proven else 0
        note = ""
        if unproven is not None:
            gap = unproven.bound - unproven.best.total
            note = f"  [next length: budget out, gap to bound {gap:.2f} nats]"
        print(f"{text!r:22s}  {length:14d}  {used:6d}  {tokens} {total}{note}")


def steady_allocator() -> str:
    """Keep glibc's malloc from returning freed memory to the OS between calls.

    The model allocates a few MB of temporaries a call. With glibc's default
    thresholds those are mapped and unmapped (or the heap trimmed) call after
    call, so the model timed alone pays page faults on every call, while inside
    a search the decoder's own allocations keep the heap from being trimmed:
    the model alone then ran up to 3.5x slower than the same calls inside the
    search (64 prompts x width 4), which makes the overhead factor look better
    than it is -- or worse, when the search is the one that faults. Large
    thresholds make every measurement reuse memory the same way.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return "default allocator (not glibc)"
    m_trim_threshold, m_mmap_threshold = -1, -3
    if libc.mallopt(m_mmap_threshold, 64 << 20) and libc.mallopt(
        m_trim_threshold, 256 << 20
    ):
        return "glibc malloc: mmap threshold 64 MiB, trim threshold 256 MiB"
    return "default allocator (mallopt refused)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--beam-only", action="store_true", help="skip exact search")
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="keep glibc's default malloc thresholds (see steady_allocator)",
    )
    args = parser.parse_args()
    allocator = "glibc defaults" if args.default_malloc else steady_allocator()
    start = time.perf_counter()
    model = load_builtin()
    load_ms = 1e3 * (time.perf_counter() - start)
    examples = example_prompts()
    prompts = [model.encode(e.prompt) for e in examples]
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} cores; built-in model: V = {len(model.vocab)}, "
        f"cold load {load_ms:.0f} ms; {allocator}"
    )
    widths = (4, 16) if args.quick else (1, 4, 8, 16, 32)
    repeats = 2 if args.quick else 7
    print(
        "\nbeam search, length_penalty 1.0, max_tokens 20, "
        f"{len(prompts)} prompts (best of {repeats})"
    )
    compiled = ["compiled"] if compiled_available() else []
    print_beam(bench_beam(model, prompts, widths, 20, repeats, selections=compiled))
    counts = (16, 256) if args.quick else (16, 64, 256)
    print(
        "\nthe same, many prompts decoded together (beam_search_batch: one model "
        "call per step for all of them); prompts: sentence starts from the corpus"
    )
    selections = ["numpy", *compiled]
    rows = []
    for count in counts:
        starts = sentence_starts(count, rng=np.random.default_rng(0), max_words=2)
        batch = [model.encode(text) for text in starts]
        rows += bench_beam(
            model, batch, (4, 16), 20, repeats, batched=True, selections=selections
        )
    print_beam(rows)
    if selections == ["numpy"]:
        print("(numba is not installed: no compiled selection; pip install numba)")
    if compiled_available():
        print(
            "\nthe floor of a single-prompt step in Python: check the model's "
            "output, one compiled selection, the next prefixes (nothing else)"
        )
        print("width  skeleton us/step  model us/step  floor factor")
        for width, step_us, model_us in bench_floor(model):
            factor = (step_us + model_us) / model_us
            print(f"{width:5d}  {step_us:16.1f}  {model_us:13.1f}  {factor:12.2f}")
    gpt2 = tiny_gpt2()
    if gpt2 is not None:
        gpt2_prompts = [[5 + i, 17 + i] for i in range(4)]
        print(
            "\nfor comparison, a random 2-layer GPT-2 (V = 2,000, no KV cache), "
            f"{len(gpt2_prompts)} prompts, max_tokens 20"
        )
        gpt2_widths = (4,) if args.quick else (4, 16)
        print_beam(
            bench_beam(
                gpt2,
                gpt2_prompts,
                gpt2_widths,
                20,
                2 if args.quick else 3,
                selections=compiled,
            )
        )

    if args.beam_only:
        return
    budget = 100_000
    chosen = examples[:3] if args.quick else examples
    encoded = [(e.prompt, model.encode(e.prompt)) for e in chosen]
    lengths = (5, 10, 20) if args.quick else (5, 10, 20, 40, 80, 160, 320)
    per_prompt, _ = bench_exact(model, encoded, budget, lengths)
    print(f"\nexact search, node budget {budget:,}, max_tokens in {lengths}")
    print_exact("with <eos> allowed (the best sequences are short):", per_prompt)
    lengths = (1, 2, 3, 4) if args.quick else tuple(range(1, 13))
    per_prompt, rate = bench_exact(NoEOS(model), encoded, budget, lengths)
    _, batched = bench_exact(NoEOS(model), encoded, budget, lengths, batch_size=16)
    print(
        "\nthe same with <eos> forbidden (every leaf has exactly max_tokens words), "
        f"max_tokens 1, 2, ...: {rate:,.0f} nodes/s expanding one node per model "
        f"call, {batched:,.0f} nodes/s sixteen per call"
    )
    print_exact("", per_prompt)


if __name__ == "__main__":
    main()
