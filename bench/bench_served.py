#!/usr/bin/env python3
"""Scoring with a served model (issue: served models): seqscore against the
server's own time and against lm-eval's ``local-completions``.

    python bench/bench_served.py                 # 500 pairs, 3 repeats
    python bench/bench_served.py --pairs 100 --repeats 1
    python bench/bench_served.py --choices       # 125 contexts x 4 candidates

Needs llama-cpp-python[server] (the ``server-tests`` extra), httpx (the
``serve`` extra) and, for the lm-eval row, lm-eval 0.4.13 in the same
environment. The server: llama-cpp-python 0.3.36 on the tiny Llama of
``fixtures/served/tiny-llama-bos`` (float32 weights and KV cache), started
here on 127.0.0.1, as in the tests. The workload: ``--pairs`` (context,
continuation) pairs cut from the standard library's documentation at word
boundaries: contexts of 20 to 60 words, continuations of 1 to 8 words;
with ``--choices``, multiple choice: a quarter as many contexts, each with
its true continuation and three cut from elsewhere.

What is timed, on the same pairs, interleaved ``--repeats`` times (medians):

* ``server``: the server's own time, the issue's reference: the very
  requests seqscore sends (``echo``, ``logprobs: 1``, ``max_tokens: 1``,
  ``temperature: 0``), sent back to back over one connection, each timed
  from send to answer, summed;
* ``seqscore``: :func:`seqscore.models.loglikelihood.loglikelihoods` on a
  :func:`seqscore.models.served.load_served` model (the probe's three
  requests included), at the default concurrency (8) and at 1;
* ``seqscore CLI``: the whole ``seqscore score PAIRS.jsonl --model
  openai:URL --format jsonl`` process (Python's start and imports included);
* ``lm-eval``: ``LocalCompletionsAPI(base_url=.../completions,
  tokenizer_backend="huggingface", tokenizer=FOLDER,
  tokenized_requests=False)`` (llama-cpp-python refuses token ids) and its
  ``loglikelihood`` on the same pairs, at its defaults (one request at a
  time, batch size 1).

Numbers: each method's per-pair log-likelihoods are compared with
seqscore's (largest absolute difference).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_kernels import cpu_name  # noqa: E402 (bench/ is on the path)

from tests.served_server import gguf_path, model_folder, start_server, stop_server  # noqa: E402


def make_pairs(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """``count`` (context, continuation) pairs from pydoc_data.topics, cut
    at word boundaries (the continuation takes the space before it)."""
    from pydoc_data.topics import topics

    words = " ".join(topics[k] for k in sorted(topics)).split()
    words = [w for w in words if w.isascii()]
    rng = random.Random(seed)
    pairs = []
    while len(pairs) < count:
        start = rng.randrange(len(words) - 80)
        n_context, n_continuation = rng.randint(20, 60), rng.randint(1, 8)
        context = " ".join(words[start : start + n_context])
        continuation = " " + " ".join(
            words[start + n_context : start + n_context + n_continuation]
        )
        pairs.append((context, continuation))
    return pairs


def make_choices(count: int, per_context: int = 4, seed: int = 0):
    """``count`` pairs as multiple choice: ``count / per_context`` contexts,
    each followed by its true continuation and ``per_context - 1`` others
    cut from elsewhere (a context's candidates are consecutive pairs)."""
    base = make_pairs(count // per_context, seed)
    others = make_pairs(count, seed + 1)
    pairs = []
    for i, (context, truth) in enumerate(base):
        pairs.append((context, truth))
        for j in range(per_context - 1):
            pairs.append((context, others[i * per_context + j][1]))
    return pairs


def time_server(url: str, name: str, pairs) -> float:
    """Sum of per-request times of seqscore's requests, sent back to back."""
    import httpx

    total = 0.0
    with httpx.Client(timeout=120) as client:
        for context, continuation in pairs:
            payload = {
                "model": name,
                "prompt": context + continuation,
                "echo": True,
                "logprobs": 1,
                "max_tokens": 1,
                "temperature": 0,
            }
            start = time.perf_counter()
            client.post(f"{url}/completions", json=payload).raise_for_status()
            total += time.perf_counter() - start
    return total


def time_seqscore(url: str, pairs, concurrency: int):
    from seqscore.models.loglikelihood import loglikelihoods
    from seqscore.models.served import ServedOptions, load_served

    start = time.perf_counter()
    model = load_served(url, ServedOptions(concurrency=concurrency))
    results = loglikelihoods(model, pairs)
    elapsed = time.perf_counter() - start
    model.close()
    return elapsed, [r.logprob for r in results]


def time_cli(url: str, file: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "seqscore.cli",
            "score",
            file,
            "--model",
            f"openai:{url}",
            "--format",
            "jsonl",
            "-o",
            os.devnull,
        ],
        check=True,
    )
    return time.perf_counter() - start


def time_lmeval(url: str, name: str, folder: str, pairs):
    from lm_eval.api.instance import Instance
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    requests = [
        Instance("loglikelihood", {}, (c, x), i) for i, (c, x) in enumerate(pairs)
    ]
    start = time.perf_counter()
    lm = LocalCompletionsAPI(
        base_url=f"{url}/completions",
        model=name,
        tokenizer_backend="huggingface",
        tokenizer=folder,
        tokenized_requests=False,
    )
    results = lm.loglikelihood(requests, disable_tqdm=True)
    return time.perf_counter() - start, [float(r[0]) for r in results]


def count_off(numbers, tolerance: float = 1e-4) -> int:
    """Pairs where lm-eval's log-likelihood is not seqscore's."""
    pairs = zip(numbers["seqscore"], numbers["lm-eval"], strict=True)
    return sum(abs(a - b) > tolerance for a, b in pairs)


def largest_difference(a, b) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-lmeval", action="store_true")
    parser.add_argument(
        "--choices",
        action="store_true",
        help="multiple choice: 4 candidates per context (pairs / 4 contexts)",
    )
    args = parser.parse_args()

    pairs = make_choices(args.pairs) if args.choices else make_pairs(args.pairs)
    folder = str(model_folder("bos"))
    url, process = start_server(gguf_path("bos"), n_ctx=512)
    try:
        import httpx

        name = httpx.get(f"{url}/models").json()["data"][0]["id"]
        with tempfile.TemporaryDirectory() as tmp:
            file = os.path.join(tmp, "pairs.jsonl")
            with open(file, "w", encoding="utf-8") as out:
                for c, x in pairs:
                    out.write(json.dumps({"context": c, "continuation": x}) + "\n")
            times: dict[str, list[float]] = {}
            numbers: dict[str, list[float]] = {}

            def record(key, value):
                times.setdefault(key, []).append(value)

            for _ in range(args.repeats):
                record(
                    "server (sum of per-request times)", time_server(url, name, pairs)
                )
                elapsed, numbers["seqscore"] = time_seqscore(url, pairs, 8)
                record("seqscore (concurrency 8)", elapsed)
                elapsed, numbers["seqscore c1"] = time_seqscore(url, pairs, 1)
                record("seqscore (concurrency 1)", elapsed)
                record("seqscore CLI (whole process)", time_cli(url, file))
                if not args.no_lmeval:
                    elapsed, numbers["lm-eval"] = time_lmeval(url, name, folder, pairs)
                    record("lm-eval local-completions", elapsed)
    finally:
        stop_server(process)

    reference = statistics.median(times["server (sum of per-request times)"])
    shape = "4 candidates per context" if args.choices else "one per context"
    print(
        f"# {args.pairs} pairs ({shape}), {args.repeats} repeats, {cpu_name()}, "
        f"{os.cpu_count()} cores; llama-cpp-python server, tiny-llama-bos"
    )
    print("| method | median s | min s | max s | / server |")
    print("|---|---|---|---|---|")
    for key, values in times.items():
        median = statistics.median(values)
        print(
            f"| {key} | {median:.2f} | {min(values):.2f} | {max(values):.2f} "
            f"| {median / reference:.2f}x |"
        )
    if "lm-eval" in numbers:
        lm = statistics.median(times["lm-eval local-completions"])
        ours = statistics.median(times["seqscore (concurrency 8)"])
        print(f"\nlm-eval / seqscore: {lm / ours:.2f}x")
        print(
            "largest |seqscore - lm-eval| per pair: "
            f"{largest_difference(numbers['seqscore'], numbers['lm-eval']):.2e}; "
            f"pairs off by more than 1e-4: {count_off(numbers)} of {len(pairs)}"
        )
    print(
        "largest |concurrency 8 - concurrency 1|: "
        f"{largest_difference(numbers['seqscore'], numbers['seqscore c1']):.2e}"
    )


if __name__ == "__main__":
    main()
