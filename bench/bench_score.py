"""Benchmark of ``seqscore score`` end to end (issue: sequence scorer).

1. JSON Lines: 100,000 candidates x 64 tokens with 5 top alternatives each
   (25,000 prompts of 4 candidates), in seqscore's own JSONL and as OpenAI
   chat-completion responses. ``seqscore score FILE --format jsonl`` is timed
   as a whole process against a process that only parses the same file with
   the standard library's ``json.loads`` line by line (target: within 2x), and
   its peak resident memory is reported (it streams: it must not grow with
   the file).
2. ``.npz``: 256 candidates x 128 steps x 32,000 vocabulary, float32, stored
   uncompressed. ``seqscore score FILE`` as a whole process against a process
   that loads the same array into memory first and then runs ``token_stats``
   on it (both include interpreter start-up), and against the issue's
   reference, ``token_stats`` alone on the array already in memory, timed in
   this process right after each ``seqscore score`` run; the ratio is taken
   pair by pair (target: within 1.5x).

Each pair runs interleaved, ``--repeats`` times; medians are printed.
Run: ``python bench/bench_score.py`` (``--quick`` for a 10x smaller run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TOP = 5


WORDS = [f" w{i}" for i in range(5000)]


def random_candidates(rng, per_prompt, n_tokens):
    """Per candidate: chosen log-probs, (n, 5) alternatives, (n, 5) word ids.

    The chosen token is the best alternative 70% of the time, else the second.
    """
    for _ in range(per_prompt):
        top = np.sort(-rng.exponential(2.0, (n_tokens, TOP)), axis=1)[:, ::-1]
        chosen = np.where(rng.random(n_tokens) < 0.7, top[:, 0], top[:, 1])
        names = rng.integers(0, len(WORDS), (n_tokens, TOP))
        yield np.round(chosen, 7), np.round(top, 7), names


def write_seqscore(path, n_prompts, per_prompt, n_tokens, rng):
    with open(path, "w") as out:
        for p in range(n_prompts):
            candidates = [
                {
                    "id": f"c{c}",
                    "text": "".join(WORDS[i] for i in names[:, 0]),
                    "tokens": [WORDS[i] for i in names[:, 0]],
                    "logprobs": chosen.tolist(),
                    "top_tokens": [[WORDS[i] for i in row] for row in names],
                    "top_logprobs": top.tolist(),
                }
                for c, (chosen, top, names) in enumerate(
                    random_candidates(rng, per_prompt, n_tokens)
                )
            ]
            out.write(json.dumps({"id": f"p{p}", "candidates": candidates}) + "\n")


def write_openai(path, n_prompts, per_prompt, n_tokens, rng):
    def item(word, logprob, top=None):
        entry = {
            "token": WORDS[word],
            "logprob": float(logprob),
            "bytes": list(WORDS[word].encode()),
        }
        if top is not None:
            entry["top_logprobs"] = top
        return entry

    with open(path, "w") as out:
        for p in range(n_prompts):
            choices = []
            for c, (chosen, top, names) in enumerate(
                random_candidates(rng, per_prompt, n_tokens)
            ):
                content = [
                    item(
                        names[t, 0],
                        chosen[t],
                        [item(names[t, k], top[t, k]) for k in range(TOP)],
                    )
                    for t in range(n_tokens)
                ]
                choices.append(
                    {
                        "index": c,
                        "logprobs": {"content": content},
                        "message": {"role": "assistant", "content": None},
                    }
                )
            out.write(json.dumps({"id": f"chatcmpl-{p}", "choices": choices}) + "\n")


# Peak memory is read through this launcher: it forks from its own small
# address space and execs the command, so the command's high-water mark
# cannot inherit this (large) benchmark process's, as it can when subprocess
# uses vfork. wait4's figure covers the command's own children (workers).
LAUNCH = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {status}')\n"
)


def run_timed(command):
    """Wall seconds and peak RSS (MB) of one child process."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", LAUNCH, report.name, *command],
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
            check=True,
        )
        elapsed = time.perf_counter() - start
        peak_kib, status = map(int, report.read().split())
    if status != 0:
        raise SystemExit(f"command failed ({status}): {' '.join(command)}")
    return elapsed, peak_kib / 1024


def compare(label, ours, reference, repeats, target, *, alongside=None):
    """Interleaved runs of ``reference`` and ``ours`` (and ``alongside()``,
    timed in this process, after each of ours); medians printed."""
    ours_runs, ref_runs, side = [], [], []
    for _ in range(repeats):
        ref_runs.append(run_timed(reference))
        ours_runs.append(run_timed(ours))
        if alongside is not None:
            side.append(alongside())
    t_ours = statistics.median(r[0] for r in ours_runs)
    t_ref = statistics.median(r[0] for r in ref_runs)
    mem_ours = max(r[1] for r in ours_runs)
    mem_ref = max(r[1] for r in ref_runs)
    print(f"\n{label}")
    print(f"  reference       {t_ref:7.2f} s   peak RSS {mem_ref:7.0f} MB")
    print(f"  seqscore score  {t_ours:7.2f} s   peak RSS {mem_ours:7.0f} MB")
    print(f"  ratio {t_ours / t_ref:.2f}x (target <= {target}x)")
    return [run[0] for run in ours_runs], side


def stats_alone(path):
    """A timer of token_stats alone on the array already in memory (no load,
    no start-up): the issue's reference for ``.npz``."""
    sys.path.insert(0, ROOT)
    from seqscore import token_stats

    data = np.load(path)
    logits, targets = np.array(data["logits"]), data["targets"]

    def timed():
        start = time.perf_counter()
        token_stats(logits, targets)
        return time.perf_counter() - start

    return timed


def print_paired(ours, alone):
    """seqscore score / token_stats alone, run by run (each pair back to back)."""
    ratios = sorted(a / b for a, b in zip(ours, alone, strict=True))
    print(
        f"  token_stats alone on the in-memory array: median "
        f"{statistics.median(alone):.2f} s; seqscore score end to end / that, "
        f"paired run by run: median {statistics.median(ratios):.2f}x "
        f"(runs {', '.join(f'{r:.2f}' for r in ratios)}; target <= 1.5x)"
    )


PARSE_ONLY = "import json,sys\nfor line in open(sys.argv[1], 'rb'): json.loads(line)"
STATS_IN_MEMORY = (
    "import sys, numpy as np\nsys.path.insert(0, sys.argv[2])\n"
    "from seqscore import token_stats\n"
    "d = np.load(sys.argv[1]); z = np.array(d['logits']); t = d['targets']\n"
    "token_stats(z, t)"
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--only",
        choices=["seqscore", "openai", "npz"],
        action="append",
        help="run only these parts (repeatable)",
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    rng = np.random.default_rng(0)
    seqscore = [sys.executable, os.path.join(ROOT, "cli.py"), "score"]
    with tempfile.TemporaryDirectory() as folder:
        parts = set(args.only or ["seqscore", "openai", "npz"])
        for name, writer in (("seqscore", write_seqscore), ("openai", write_openai)):
            if name not in parts:
                continue
            path = os.path.join(folder, f"{name}.jsonl")
            writer(path, 25_000 // scale, 4, 64, rng)
            size = os.path.getsize(path) / 1e6
            compare(
                f"{name} JSONL: {100_000 // scale:,} candidates x 64 tokens x {TOP} "
                f"alternatives ({size:,.0f} MB)",
                [*seqscore, path, "--format", "jsonl"],
                [sys.executable, "-c", PARSE_ONLY, path],
                args.repeats,
                2.0,
            )
        if "npz" not in parts:
            return
        path = os.path.join(folder, "logits.npz")
        n, steps, vocab = 256 // scale, 128, 32_000
        logits = np.lib.format.open_memmap(
            os.path.join(folder, "l.npy"), "w+", np.float32, (n, steps, vocab)
        )
        for i in range(n):
            logits[i] = rng.standard_normal((steps, vocab), np.float32) * 3
        np.savez(
            path,
            logits=logits,
            targets=rng.integers(0, vocab, (n, steps)),
            lengths=np.full(n, steps),
        )
        del logits
        os.remove(os.path.join(folder, "l.npy"))
        ours, alone = compare(
            f"npz: {n} candidates x {steps} steps x {vocab:,} vocabulary float32 "
            f"({os.path.getsize(path) / 1e9:.1f} GB)",
            [*seqscore, path, "--format", "jsonl"],
            [sys.executable, "-c", STATS_IN_MEMORY, path, ROOT],
            args.repeats,
            1.5,
            alongside=stats_alone(path),
        )
        print_paired(ours, alone)


if __name__ == "__main__":
    main()
