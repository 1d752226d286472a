#!/usr/bin/env python3
"""lm-eval with ``--model seqscore`` against ``--model hf`` (issue 27).

    python bench/bench_lmeval_backend.py                  # both models, both tasks
    python bench/bench_lmeval_backend.py --models small --repeats 1  # a quick look

What is timed: lm-eval 0.4.13's own command line, ``seqscore lm-eval run
--model hf|seqscore --model_args pretrained=FOLDER --tasks TASK
--batch_size 8 --device cpu --log_samples``, one fresh process per run, as
a user runs it. The figure is lm-eval's own ``total_evaluation_time_seconds``
(its results file), net of its fixed costs: the same command with
``--limit 3`` (start-up, model and task loading, three documents) is
subtracted. Every run of one repeat is made before the next repeat begins
(interleaved), ``--repeats`` times; the figures are medians.

The tasks (lm-eval YAML over local JSON Lines, written to ``bench/out/``):

* ``bench_mmlu_5shot``: MMLU's shape, ``--documents`` questions (default
  200) after the same 5 shots from ``dev`` (``first_n``), a subject line as
  the description, options A-D, the letters as choices: every request's
  context is about 450 tokens, its continuation one;
* ``bench_plain_mc``: a plain multiple-choice task, the same number of
  questions of about 30 tokens, 4 choices of 2 to 12 words each.

The models (``bench/bench_model_score.py``'s builders, saved once to
``bench/out/lmeval-models/``): a random GPT-2 of GPT-2 small's size (12
layers, 768 wide, vocabulary 50,257) and a 4-layer, 256-wide one, float32,
with the 50,257-token byte-level BPE trained offline on the standard
library. Offline throughout (``HF_HUB_OFFLINE=1``, ``HF_DATASETS_OFFLINE=1``).

Each task's per-request log-likelihoods (``resps``) and per-document
``acc`` / ``acc_norm`` of the two backends' full runs are compared too.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from bench_model_score import (  # noqa: E402
    OUT,
    VOCAB,
    cpu_name,
    gpt2_small,
    small_gpt2,
    tokenizer,
)

TASKS_DIR = os.path.join(OUT, "lmeval-tasks")
MODELS_DIR = os.path.join(OUT, "lmeval-models")
MODELS = {"small": "gpt2-4x256", "gpt2": "gpt2-small"}
TASKS = ("bench_mmlu_5shot", "bench_plain_mc")
BACKENDS = ("hf", "seqscore")

MMLU_YAML = """\
task: bench_mmlu_5shot
dataset_path: json
dataset_kwargs:
  data_files:
    dev: mmlu_dev.jsonl
    test: mmlu_test.jsonl
test_split: test
fewshot_split: dev
fewshot_config:
  sampler: first_n
num_fewshot: 5
description: "The following are multiple choice questions about Python.\\n\\n"
output_type: multiple_choice
doc_to_text: "{{question.strip()}}\\nA. {{choices[0]}}\\nB. {{choices[1]}}\\nC. \
{{choices[2]}}\\nD. {{choices[3]}}\\nAnswer:"
doc_to_choice: ["A", "B", "C", "D"]
doc_to_target: answer
metric_list:
  - metric: acc
  - metric: acc_norm
metadata:
  version: 1.0
"""

PLAIN_YAML = """\
task: bench_plain_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: plain.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_choice: choices
doc_to_target: answer
metric_list:
  - metric: acc
  - metric: acc_norm
metadata:
  version: 1.0
"""


# ----------------------------------------------------------------- setup


def write_tasks(documents: int, seed: int = 0) -> None:
    """The two tasks' YAML and data under :data:`TASKS_DIR`."""
    from pydoc_data.topics import topics

    rng = np.random.default_rng(seed)
    words = " ".join(topics[k] for k in sorted(topics)).split()

    def span(low: int, high: int) -> str:
        at = int(rng.integers(0, len(words) - high))
        return " ".join(words[at : at + int(rng.integers(low, high + 1))])

    def mmlu() -> dict:
        return {
            "question": span(22, 30),
            "choices": [span(1, 3) for _ in range(4)],
            "answer": int(rng.integers(0, 4)),
        }

    def plain() -> dict:
        return {
            "question": span(18, 24),
            "choices": [span(2, 12) for _ in range(4)],
            "answer": int(rng.integers(0, 4)),
        }

    os.makedirs(TASKS_DIR, exist_ok=True)
    rows = {
        "mmlu_dev.jsonl": [mmlu() for _ in range(5)],
        "mmlu_test.jsonl": [mmlu() for _ in range(documents)],
        "plain.jsonl": [plain() for _ in range(documents)],
    }
    for name, items in rows.items():
        with open(os.path.join(TASKS_DIR, name), "w", encoding="utf-8") as f:
            f.writelines(json.dumps(row) + "\n" for row in items)
    for name, text in (("mmlu.yaml", MMLU_YAML), ("plain.yaml", PLAIN_YAML)):
        with open(os.path.join(TASKS_DIR, name), "w", encoding="utf-8") as f:
            f.write(text)


def model_folder(name: str) -> str:
    """The model saved with its tokenizer (built once)."""
    folder = os.path.join(MODELS_DIR, MODELS[name])
    if not os.path.exists(os.path.join(folder, "config.json")):
        build = small_gpt2 if name == "small" else gpt2_small
        build(VOCAB).save_pretrained(folder)
        tokenizer().save_pretrained(folder)
    return folder


# ------------------------------------------------------------------ runs


def run(backend: str, folder: str, task: str, batch_size: int, limit=None):
    """One lm-eval run in a fresh process: ``(seconds, results, samples)``."""
    out = tempfile.mkdtemp(prefix="bench-lmeval-")
    command = [
        sys.executable,
        "-m",
        "seqscore.cli",
        "lm-eval",
        "run",
        "--model",
        backend,
        "--model_args",
        f"pretrained={folder}",
        "--tasks",
        task,
        "--include_path",
        TASKS_DIR,
        "--batch_size",
        str(batch_size),
        "--device",
        "cpu",
        "--output_path",
        out,
        "--log_samples",
    ]
    if limit is not None:
        command += ["--limit", str(limit)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(
        command, cwd=TASKS_DIR, env=env, capture_output=True, text=True
    )
    try:
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}\n{done.stderr[-4000:]}")
        (path,) = glob.glob(os.path.join(out, "*", "results_*.json"))
        with open(path) as f:
            results = json.load(f)
        (samples_path,) = glob.glob(os.path.join(out, "*", f"samples_{task}_*.jsonl"))
        with open(samples_path) as f:
            samples = [json.loads(line) for line in f]
        return float(results["total_evaluation_time_seconds"]), results, samples
    finally:
        shutil.rmtree(out, ignore_errors=True)


def compare(reference, ours):
    """Largest |difference| of a request's log-likelihood; documents whose
    acc or acc_norm differ; is_greedy differences."""
    largest, acc, greedy = 0.0, 0, 0
    for a, b in zip(reference, ours, strict=True):
        assert a["doc_id"] == b["doc_id"]
        for (x,), (y,) in zip(a["resps"], b["resps"], strict=True):
            largest = max(largest, abs(float(x[0]) - float(y[0])))
            greedy += str(x[1]) != str(y[1])
        acc += a["acc"] != b["acc"] or a["acc_norm"] != b["acc_norm"]
    return largest, acc, greedy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="small,gpt2")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    write_tasks(args.documents)
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; lm-eval 0.4.13")
    print(
        f"{args.documents} documents a task, --batch_size {args.batch_size}, "
        f"{args.repeats} repeats (medians)\n"
    )
    tasks = args.tasks.split(",")
    for name in args.models.split(","):
        folder = model_folder(name)
        times: dict = {}
        samples: dict = {}
        for _ in range(args.repeats):
            for task in tasks:
                for backend in BACKENDS:
                    for limit in (None, 3):
                        seconds, results, logged = run(
                            backend, folder, task, args.batch_size, limit
                        )
                        times.setdefault((task, backend, limit), []).append(seconds)
                        if limit is None:
                            samples[(task, backend)] = (results, logged)
        print(f"model {MODELS[name]}")
        print(
            f"  {'task':18} {'backend':9} {'total s':>8} {'limit 3':>8} "
            f"{'net s':>8} {'speed-up':>8}"
        )
        for task in tasks:
            net = {}
            for backend in BACKENDS:
                full = statistics.median(times[(task, backend, None)])
                fixed = statistics.median(times[(task, backend, 3)])
                net[backend] = statistics.median(
                    a - b
                    for a, b in zip(
                        times[(task, backend, None)],
                        times[(task, backend, 3)],
                        strict=True,
                    )
                )
                ratio = f"{net['hf'] / net[backend]:7.2f}x" if backend != "hf" else ""
                print(
                    f"  {task:18} {backend:9} {full:8.2f} {fixed:8.2f} "
                    f"{net[backend]:8.2f} {ratio:>8}"
                )
            (_, ref), (_, ours) = (samples[(task, b)] for b in BACKENDS)
            largest, acc, greedy = compare(ref, ours)
            figures = {
                b: {
                    k: round(v, 4)
                    for k, v in samples[(task, b)][0]["results"][task].items()
                    if k in ("acc,none", "acc_norm,none")
                }
                for b in BACKENDS
            }
            print(
                f"    {len(ref)} documents: max |log-likelihood difference| "
                f"{largest:.2e}, documents whose acc/acc_norm differ: {acc}, "
                f"is_greedy differences: {greedy}; {figures}"
            )
        print()


if __name__ == "__main__":
    main()
