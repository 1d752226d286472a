"""Benchmark of ``seqscore evaluate`` on a large lm-eval samples file.

Writes a synthetic ``samples_bench_<date>.jsonl`` of 1,000,000 documents x 4
choices in lm-eval 0.4.13's layout (a HellaSwag-like ``doc``, ``gen_args_N``
arguments, ``resps`` and ``filtered_resps`` as strings, the three SHA-256
hashes, ``acc`` and ``acc_norm``; about 1.7 KB a line) and its
``results_<date>.json``, then times, as whole processes, interleaved:

* each available fast JSON parser (orjson, msgspec, simdjson) parsing every
  line into Python objects and doing nothing else -- the fastest one's
  median is the reference;
* ``seqscore evaluate FILE --format json`` (every check, the results file
  included).

Prints the medians, the ratio of the medians and the ratios run by run
(each seqscore run against the fastest parser's run just before it; target:
within 2x), and the peak resident memory of each (target: bounded, not
growing with the file).

Run: ``python bench/bench_evaluate.py`` (``--documents 100000`` for a smaller
run, ``--repeats N``, ``--folder DIR`` to keep the file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile

from bench_score import run_timed

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATE = "2026-01-01T00-00-00.000000"
WORDS = [
    "the",
    "a",
    "man",
    "woman",
    "dog",
    "is",
    "are",
    "was",
    "on",
    "in",
    "at",
    "of",
    "with",
    "to",
    "from",
    "then",
    "he",
    "she",
    "they",
    "roof",
    "ball",
    "water",
    "kitchen",
    "camera",
    "sits",
    "stands",
    "runs",
    "jumps",
    "holds",
    "pours",
    "cuts",
    "slowly",
    "quickly",
    "again",
    "together",
    "while",
    "after",
    "before",
    "bright",
    "small",
    "large",
]

PARSERS = {
    "orjson": "import orjson as j, sys\nloads = j.loads\n",
    "msgspec": "import msgspec, sys\nloads = msgspec.json.Decoder().decode\n",
    "simdjson": (
        "import simdjson, sys\np = simdjson.Parser()\n"
        "loads = lambda b: p.parse(b, True)\n"
    ),
}
PARSE_LOOP = "for line in open(sys.argv[1], 'rb'):\n    loads(line)\n"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def sample(doc_id: int, rng: random.Random) -> tuple[dict, float, float]:
    """One samples line as lm-eval 0.4.13 writes it, with its acc, acc_norm."""
    endings = [sentence(rng, rng.randint(6, 22)) + "." for _ in range(4)]
    label = rng.randrange(4)
    context = sentence(rng, rng.randint(15, 40))
    doc = {
        "ind": doc_id,
        "activity_label": sentence(rng, 3).title(),
        "ctx_a": context,
        "ctx_b": sentence(rng, 2),
        "ctx": context,
        "endings": endings,
        "source_id": f"activitynet~v_{doc_id:011d}",
        "split": "val",
        "split_type": "indomain",
        "label": str(label),
    }
    prompt = f"{doc['activity_label']}: {context}"
    lls = [-rng.uniform(5.0, 80.0) for _ in endings]
    greedy = [rng.random() < 0.02 for _ in endings]
    acc = float(lls.index(max(lls)) == label)
    norm = [ll / len(e) for ll, e in zip(lls, endings, strict=True)]
    acc_norm = float(norm.index(max(norm)) == label)
    target = str(label)
    record = {
        "doc_id": doc_id,
        "doc": doc,
        "target": target,
        "arguments": {
            f"gen_args_{i}": {"arg_0": prompt, "arg_1": " " + e}
            for i, e in enumerate(endings)
        },
        "resps": [[[str(ll), str(g)]] for ll, g in zip(lls, greedy, strict=True)],
        "filtered_resps": [
            [str(ll), str(g)] for ll, g in zip(lls, greedy, strict=True)
        ],
        "filter": "none",
        "metrics": ["acc", "acc_norm"],
        "doc_hash": sha256(json.dumps(doc, indent=2, ensure_ascii=False)),
        "prompt_hash": sha256(prompt),
        "target_hash": sha256(target),
        "acc": acc,
        "acc_norm": acc_norm,
    }
    return record, acc, acc_norm


def write_run(folder: str, n: int) -> str:
    """The samples file and its results file; returns the samples path."""
    rng = random.Random(0)
    path = os.path.join(folder, f"samples_bench_{DATE}.jsonl")
    sums = {"acc": 0.0, "acc_norm": 0.0}
    task_hash = hashlib.sha256()
    with open(path, "w", encoding="utf-8") as out:
        for doc_id in range(n):
            record, acc, acc_norm = sample(doc_id, rng)
            sums["acc"] += acc
            sums["acc_norm"] += acc_norm
            task_hash.update(
                (
                    record["doc_hash"] + record["prompt_hash"] + record["target_hash"]
                ).encode()
            )
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    results = {"results": {"bench": {"alias": "bench"}}, "configs": {"bench": {}}}
    for metric, total in sums.items():
        p = total / n
        results["results"]["bench"][f"{metric},none"] = p
        results["results"]["bench"][f"{metric}_stderr,none"] = (
            p * (1 - p) / (n - 1)
        ) ** 0.5
    results["n-samples"] = {"bench": {"original": n, "effective": n}}
    results["task_hashes"] = {"bench": task_hash.hexdigest()}
    with open(os.path.join(folder, f"results_{DATE}.json"), "w") as out:
        json.dump(results, out, indent=2)
    return path


def available_parsers() -> list[str]:
    found = []
    for name in PARSERS:
        module = "simdjson" if name == "simdjson" else name
        try:
            __import__(module)
        except ImportError:
            continue
        found.append(name)
    if not found:
        raise SystemExit("install orjson, msgspec or pysimdjson for the reference")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", help="write (or reuse) the files here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or scratch
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"samples_bench_{DATE}.jsonl")
        if not os.path.exists(path):
            write_run(folder, args.documents)
        size = os.path.getsize(path)
        print(
            f"samples: {args.documents:,} documents x 4 choices, {size / 1e6:,.0f} MB "
            f"({size / args.documents:,.0f} bytes a line)"
        )
        parsers = available_parsers()
        ours = [
            sys.executable,
            os.path.join(ROOT, "cli.py"),
            "evaluate",
            path,
            "--format",
            "json",
        ]
        runs = {name: [] for name in [*parsers, "seqscore evaluate"]}
        for _ in range(args.repeats):
            for name in parsers:
                script = PARSERS[name] + PARSE_LOOP
                runs[name].append(run_timed([sys.executable, "-c", script, path]))
            runs["seqscore evaluate"].append(run_timed(ours))
        medians = {
            name: statistics.median(r[0] for r in rs) for name, rs in runs.items()
        }
        for name, rs in runs.items():
            times = ", ".join(f"{r[0]:.2f}" for r in rs)
            print(
                f"  {name:18} median {medians[name]:7.2f} s  (runs {times})  "
                f"peak RSS {max(r[1] for r in rs):6.0f} MB"
            )
        fastest = min(parsers, key=medians.get)
        ratio = medians["seqscore evaluate"] / medians[fastest]
        paired = sorted(
            ours[0] / ref[0]
            for ours, ref in zip(runs["seqscore evaluate"], runs[fastest], strict=True)
        )
        print(
            f"  fastest parser: {fastest}; ratio of medians {ratio:.2f}x, paired run "
            f"by run: median {statistics.median(paired):.2f}x "
            f"({', '.join(f'{r:.2f}' for r in paired)}) (target <= 2x)"
        )


if __name__ == "__main__":
    main()
