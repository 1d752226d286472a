#!/usr/bin/env python3
"""How large ``seqscore score --format html`` is for a run of N candidates.

Writes a synthetic seqscore JSONL (N candidates, 4 to a prompt, 8 tokens
each: the length of a short multiple-choice answer; with ``--top K``, K
alternatives listed at every step, as an API dump with ``top_logprobs=K``
has), scores it to a page and says the page's size and how long it took.
The README's figure for 10,000 candidates comes from this script.

Usage: python tools/html_size.py [N] [--top K] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
COMMAND = (sys.executable, str(ROOT / "cli.py"), "score")
WORDS = (
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "that",
    "with",
    "as",
    "on",
    "by",
    "at",
    "from",
    "it",
    "an",
    "be",
    "this",
    "which",
    "or",
    "are",
    "were",
    "have",
    "has",
    "had",
    "not",
    "but",
    "all",
    "can",
    "one",
    "more",
    "their",
    "also",
    "time",
    "first",
    "new",
    "after",
    "year",
    "two",
    "may",
    "would",
    "only",
    "other",
    "such",
    "some",
    "into",
    "most",
    "city",
)


def synthetic(path: Path, candidates: int, top: int, seed: int = 0) -> None:
    """Prompts of 4 candidates of 8 tokens, log-probs of a peaked model."""
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="utf-8") as out:
        for p in range(0, candidates, 4):
            group = []
            for c in range(min(4, candidates - p)):
                words = rng.choice(WORDS, 8)
                logprobs = -rng.gamma(0.6, 2.0, 8)
                candidate = {
                    "id": f"c{c}",
                    "text": "".join(f" {w}" for w in words),
                    "tokens": [f" {w}" for w in words],
                    "logprobs": logprobs.tolist(),
                }
                if top:
                    alternatives = [
                        rng.choice(WORDS, top, replace=False) for _ in words
                    ]
                    listed = np.sort(-rng.gamma(0.8, 2.5, (8, top)), axis=1)[:, ::-1]
                    candidate["top_tokens"] = [
                        [f" {w}" for w in a] for a in alternatives
                    ]
                    candidate["top_logprobs"] = listed.tolist()
                group.append(candidate)
            record = {"id": f"q{p // 4}", "prompt": "Question:", "candidates": group}
            out.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the input and page here")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = options.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / f"synthetic_{options.n}_top{options.top}.jsonl"
        page = source.with_suffix(".html")
        synthetic(source, options.n, options.top)
        started = time.perf_counter()
        subprocess.run(
            [*COMMAND, str(source), "--format", "html", "-o", str(page)],
            check=True,
        )
        seconds = time.perf_counter() - started
        size = os.path.getsize(page)
        print(
            f"{options.n:,} candidates, top {options.top}: input "
            f"{os.path.getsize(source) / 1e6:.1f} MB, page {size / 1e6:.1f} MB "
            f"({size / options.n:,.0f} bytes a candidate), written in {seconds:.1f} s"
        )


if __name__ == "__main__":
    main()
