#!/usr/bin/env python3
"""seqscore's Hugging Face path on a GPU, against float32 on the CPU (issue 26).

    python bench/gpu_check.py                        # a CUDA machine: minutes
    python bench/gpu_check.py --device cpu --small   # the same code, on the CPU

Nothing is downloaded. The tokenizer is bench_model_score's 50,257-token BPE,
trained offline on the standard library's sources (seconds; cached in
``bench/out/``); the model a random GPT-2 of GPT-2 small's size
(``--small``: 4 layers x 256), saved to ``bench/out/`` and loaded with
``load_hf(DIR, dtype=..., device=...)``, the path of ``seqscore score FILE
--model hf:DIR --device cuda --dtype bfloat16``. The workloads are
bench_model_score's: 200 multiple-choice prompts x 4 candidates (contexts of
about 30 tokens) and 5-shot MMLU-shaped prompts (3 subjects x 20 questions,
contexts of about 440 tokens, answers " A" to " D"); ``--small``: 10
prompts, and 1 subject x 4 questions.

Runs, on the same requests:

* CPU float32: the reference (timed once);
* DEVICE in each of ``--dtypes`` (float32, bfloat16, float16): seqscore's
  log-likelihoods (packed rows, shared prefixes, the head on scored
  positions), the median of ``--repeats`` timed runs after an untimed
  warm-up, ``torch.cuda.synchronize()`` before and after each; and decoding:
  next-token log-probs along the CPU's greedy continuations of 8 prompts,
  one call a step, so every step after the first reads the kept keys and
  values;
* lm-eval's ``hf`` model (``HFLM``, batch size ``--batch-size``, its default
  log-softmax dtype) on DEVICE in the same dtypes, when ``lm_eval`` imports
  (``pip install lm-eval==0.4.13``; skipped with a note otherwise);
* one ``seqscore score`` process on the 5-shot pairs, ``--device DEVICE
  --dtype bfloat16``: the command line's scores must be the library's.

Printed for each: seconds, max |log-likelihood - CPU float32's| over the
requests, max |token log-prob - CPU float32's|, greedy flags equal, and the
scoring route the adapter chose on that device (packed rows need the probe
to pass there). Exit status 1 when seqscore on DEVICE differs from the CPU
in float32 by more than 1e-4 (a request's log-likelihood, or a decoding
step's log-prob), or in half precision by more than HALF_TOLERANCE a token
(about 4x the largest difference that dtype made on the CPU for the GPT-2
small-sized model: 0.024 bfloat16, 0.0027 float16;
tests/models/test_dtypes.py derives a bound from the dtype's epsilon); 2
when DEVICE is not there.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import bench_model_score as bench  # noqa: E402

FLOAT32_TOLERANCE = 1e-4
HALF_TOLERANCE = {"bfloat16": 0.1, "float16": 0.01}
DECODE_PROMPTS, DECODE_STEPS = 8, 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtypes", default="float32,bfloat16,float16")
    parser.add_argument("--small", action="store_true", help="a 4-layer model")
    parser.add_argument("--repeats", type=int, default=None, help="3; --small 1")
    parser.add_argument("--batch-size", type=int, default=32, help="lm-eval's")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.small else 3)
    dtypes = args.dtypes.split(",")

    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights"
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"no CUDA device here (torch {torch.__version__}): nothing to check")
        return 2
    tok = bench.tokenizer()
    folder = saved_model(tok, args.small)
    workloads = {
        "multiple choice": bench.workload(tok, 10 if args.small else 200, 4),
        "5-shot": bench.few_shot_workload(tok, *((1, 4) if args.small else (3, 20))),
    }
    print(describe(torch, transformers, device, folder, workloads))

    clock = Clock(torch, device)
    reference = Run.of(folder, "cpu", "float32", workloads, clock, repeats=0)
    paths = reference.decode_paths
    table = [reference]
    failures: list[str] = []
    for dtype in dtypes:
        try:
            run = Run.of(folder, args.device, dtype, workloads, clock, repeats, paths)
        except Exception:  # one prepared run: report it, go on with the rest
            traceback.print_exc()
            failures.append(f"seqscore {args.device} {dtype} raised")
            _free_device()
            continue
        table.append(run)
        failures += run.check(reference)
    table += lm_eval_runs(
        folder, tok, workloads, device, dtypes, args.batch_size, repeats, clock
    )
    print_table(table, reference)
    failures += command_line(folder, workloads["5-shot"], args.device, table)
    for failure in failures:
        print(f"FAIL {failure}")
    print("ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


# ------------------------------------------------------------------ setup


def saved_model(tok, small: bool) -> str:
    """The random model (and the tokenizer) saved once under bench/out/."""
    folder = os.path.join(bench.OUT, "gpu-check-small" if small else "gpu-check")
    if not os.path.exists(os.path.join(folder, "config.json")):
        build = bench.small_gpt2 if small else bench.gpt2_small
        build(max(bench.VOCAB, len(tok))).save_pretrained(folder)
        tok.save_pretrained(folder)
    return folder


def describe(torch, transformers, device, folder, workloads) -> str:
    if device.type == "cuda":
        index = device.index or 0
        name = f"{torch.cuda.get_device_name(index)} (cuda:{index})"
    else:
        name = bench.cpu_name()
    config = transformers.AutoConfig.from_pretrained(folder)
    sizes = ", ".join(
        f"{name}: {len(pairs)} pairs, "
        f"contexts of {_median_length(pairs)} characters (median)"
        for name, pairs in workloads.items()
    )
    return (
        f"device {name}; torch {torch.__version__}, transformers "
        f"{transformers.__version__}, float32 matmul precision "
        f"{torch.get_float32_matmul_precision()}, {torch.get_num_threads()} CPU "
        f"threads\nGPT-2 {config.n_layer} layers x {config.n_embd}, vocab "
        f"{config.vocab_size} (random, offline); {sizes}"
    )


def _median_length(pairs) -> int:
    return int(statistics.median(len(c) for c, _ in pairs))


class Clock:
    """Wall time of a call, the device's queue drained before and after."""

    def __init__(self, torch, device):
        cuda = device.type == "cuda"
        self.sync = (lambda: torch.cuda.synchronize(device)) if cuda else None

    def time(self, function):
        if self.sync:
            self.sync()
        start = time.perf_counter()
        result = function()
        if self.sync:
            self.sync()
        return time.perf_counter() - start, result


# ------------------------------------------------------------------- runs


class Run:
    """One tool on one device and dtype: per workload its seconds and
    ``(log-likelihood, token log-probs or None, greedy)`` per request."""

    def __init__(self, label, dtype, route=""):
        self.label, self.dtype, self.route = label, dtype, route
        self.seconds: dict[str, float] = {}
        self.results: dict[str, list] = {}
        self.decode_rows = None
        self.decode_paths = None
        self.decode_seconds = None

    @classmethod
    def of(cls, folder, device, dtype, workloads, clock, repeats, paths=None):
        """seqscore loaded with ``load_hf`` on ``device`` in ``dtype``; each
        workload timed ``repeats`` times (0: once, without a warm-up)."""
        from seqscore.models.hf import load_hf

        model = load_hf(folder, dtype=dtype, device=device)
        label = f"seqscore {device} {dtype}" if repeats else "CPU float32 (reference)"
        run = cls(label, dtype, model.scoring_route())
        for name, pairs in workloads.items():
            run.seconds[name], run.results[name] = timed(
                clock, functools.partial(_loglikelihoods, model), pairs, repeats
            )
        prompts = [model.encode(c) for c, _ in workloads["multiple choice"]]
        prompts = list(dict.fromkeys(map(tuple, prompts)))[:DECODE_PROMPTS]
        run.decode_seconds, (run.decode_rows, run.decode_paths) = clock.time(
            functools.partial(decode, model, prompts, paths)
        )
        model = None
        _free_device()
        return run

    def check(self, reference) -> list[str]:
        """What differs from the reference by more than this dtype allows."""
        out = []
        for name, results in self.results.items():
            request, token, _ = differences(results, reference.results[name])
            if self.dtype == "float32" and request > FLOAT32_TOLERANCE:
                out.append(f"{self.label} {name}: log-likelihoods off by {request:.2e}")
            if self.dtype != "float32" and token > HALF_TOLERANCE[self.dtype]:
                out.append(f"{self.label} {name}: token log-probs off by {token:.2e}")
        step = float(np.abs(self.decode_rows - reference.decode_rows).max())
        limit = HALF_TOLERANCE.get(self.dtype, FLOAT32_TOLERANCE)
        if step > limit:
            out.append(f"{self.label} decoding: log-probs off by {step:.2e}")
        return out


def timed(clock, score, items, repeats: int):
    """``(median seconds, results)`` of ``score(items)`` run ``repeats``
    times after a warm-up on 8 items (kernels, allocator); once, cold, for
    ``repeats`` 0."""
    if repeats:
        score(items[:8])
    times = []
    for _ in range(max(repeats, 1)):
        seconds, results = clock.time(functools.partial(score, items))
        times.append(seconds)
    return statistics.median(times), results


def _loglikelihoods(model, pairs) -> list:
    from seqscore.models.loglikelihood import loglikelihoods

    return [
        (r.logprob, np.asarray(r.token_logprobs), r.is_greedy)
        for r in loglikelihoods(model, pairs)
    ]


def decode(model, prompts, paths=None):
    """Next-token log-probs ``(steps, prompts, V)`` along ``paths`` (token
    ids, ``(prompts, steps)``; None: the greedy ones, returned too), one
    call a step: each call extends the last call's prefixes by a token."""
    prefixes = [list(p) for p in prompts]
    rows, chosen = [], []
    for step in range(DECODE_STEPS):
        logprobs = model.next_logprobs([tuple(p) for p in prefixes])
        rows.append(logprobs)
        tokens = logprobs.argmax(axis=1) if paths is None else paths[:, step]
        chosen.append(tokens)
        for prefix, token in zip(prefixes, tokens, strict=True):
            prefix.append(int(token))
    return np.stack(rows), np.stack(chosen, axis=1)


def differences(results, reference) -> tuple[float, float, int]:
    """Max |log-likelihood difference|, max |token log-prob difference| (nan
    without token log-probs) and how many greedy flags differ."""
    request = max(abs(a[0] - b[0]) for a, b in zip(results, reference, strict=True))
    token = max(
        (
            float(np.abs(a[1] - b[1]).max())
            for a, b in zip(results, reference, strict=True)
            if a[1] is not None
        ),
        default=float("nan"),
    )
    flips = sum(a[2] != b[2] for a, b in zip(results, reference, strict=True))
    return request, token, flips


def _free_device() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def lm_eval_runs(
    folder, tok, workloads, device, dtypes, batch_size, repeats, clock
) -> list[Run]:
    """lm-eval's ``hf`` model on ``device`` in each dtype, on the same pairs
    (none, with a note, where lm_eval does not import)."""
    try:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM
    except ImportError as exc:
        print(f"lm-eval skipped: {exc} (pip install lm-eval==0.4.13)")
        return []
    import torch
    import transformers

    runs = []
    for dtype in dtypes:
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(
                folder, local_files_only=True, dtype=getattr(torch, dtype)
            )
            lm = HFLM(
                pretrained=model.to(device).eval(),
                tokenizer=tok,
                batch_size=batch_size,
            )
            run = Run(f"lm-eval {device} {dtype}", dtype)
            for name, pairs in workloads.items():
                requests = [
                    Instance("loglikelihood", {}, pair, i)
                    for i, pair in enumerate(pairs)
                ]
                run.seconds[name], run.results[name] = timed(
                    clock,
                    functools.partial(_lm_eval_loglikelihoods, lm),
                    requests,
                    repeats,
                )
            runs.append(run)
        except Exception as exc:  # a peer's failure is reported, not ours
            print(f"lm-eval {dtype} failed: {type(exc).__name__}: {exc}")
        finally:
            model = lm = None
            _free_device()
    return runs


def _lm_eval_loglikelihoods(lm, requests) -> list:
    out = lm.loglikelihood(requests, disable_tqdm=True)
    return [(float(ll), None, bool(g)) for ll, g in out]


def command_line(folder, pairs, device, table) -> list[str]:
    """``seqscore score`` on ``pairs`` in bfloat16 on ``device``, as a
    process: its scores must be the library's bfloat16 scores."""
    library = next((r for r in table if r.label == f"seqscore {device} bfloat16"), None)
    if library is None:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "pairs.jsonl")
        with open(source, "w") as out:
            for context, text in pairs:
                out.write(json.dumps({"context": context, "continuation": text}))
                out.write("\n")
        target = os.path.join(tmp, "scores.jsonl")
        command = [
            sys.executable,
            os.path.join(ROOT, "cli.py"),
            "score",
            source,
            "--model",
            f"hf:{folder}",
            "--device",
            device,
            "--dtype",
            "bfloat16",
            "--format",
            "jsonl",
            "-o",
            target,
        ]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            return [f"seqscore score exited {done.returncode}: {done.stderr[-2000:]}"]
        with open(target) as f:
            records = [json.loads(line) for line in f]
    scores = [r["score"] for r in records]
    texts = [r["text"] for r in records]
    if texts != [text for _, text in pairs]:
        return ["seqscore score: records not in the pairs' order"]
    ours = [ll for ll, _, _ in library.results["5-shot"]]
    gap = max(abs(a - b) for a, b in zip(scores, ours, strict=True))
    print(
        f"\nseqscore score (a process, load included) on the 5-shot pairs, "
        f"{device} bfloat16: {seconds:.1f} s, max |score - the library's| {gap:.2e}"
    )
    return [] if gap <= 1e-3 else [f"seqscore score: scores off by {gap:.2e}"]


def print_table(table, reference) -> None:
    print(
        "\nseconds (median), x: CPU float32's time over this, max |log-likelihood "
        "- CPU float32's|, max |token log-prob - its|, greedy flags that differ"
    )
    for name in reference.results:
        print(f"  {name}")
        for run in table:
            if name not in run.results:
                continue
            seconds = run.seconds[name]
            line = f"    {run.label:28s} {seconds:8.2f} s"
            line += f" {reference.seconds[name] / seconds:6.1f}x"
            if run is not reference:
                request, token, flips = differences(
                    run.results[name], reference.results[name]
                )
                line += f"  {request:.2e}  {token:.2e}  {flips}"
            print(line)
    print(
        f"  decoding: {DECODE_PROMPTS} prompts x {DECODE_STEPS} steps, max "
        "|log-prob - CPU float32's|"
    )
    for run in table:
        if run.decode_rows is not None:
            step = float(np.abs(run.decode_rows - reference.decode_rows).max())
            print(f"    {run.label:28s} {run.decode_seconds:8.2f} s  {step:.2e}")
    print("  scoring routes")
    for run in table:
        if run.route:
            print(f"    {run.label:28s} {run.route}")


if __name__ == "__main__":
    sys.exit(main())
