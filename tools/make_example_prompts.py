#!/usr/bin/env python3
"""Write seqscore/data/example_prompts.json: corpus prompts with candidate endings.

    python tools/make_example_prompts.py

Each prompt is the first two words of sentences of the corpus
(:mod:`seqscore.models.corpus`) that start the same way; its candidates are
the real rests of up to four such sentences, each ending with ".", of one to
eight words, chosen to differ in length (the shortest, the longest, and the
two around the middle), so that length normalisation has something to flip.
The twelve starts with the most such sentences are used. Deterministic:
corpus order, ties broken by text.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from seqscore.models.corpus import corpus_fingerprint, corpus_sentences

OUT = os.path.join(
    os.path.dirname(__file__), "..", "seqscore", "data", "example_prompts.json"
)
PROMPTS, CANDIDATES, MAX_WORDS = 12, 4, 8


def main():
    rests = defaultdict(set)
    for sentence in corpus_sentences():
        rest = sentence[2:]
        if 1 <= len(rest) <= MAX_WORDS:
            rests[" ".join(sentence[:2])].add(" ".join(rest))
    starts = sorted(rests, key=lambda s: (-len(rests[s]), s))
    prompts = []
    for start in [s for s in starts if len(rests[s]) >= CANDIDATES][:PROMPTS]:
        ranked = sorted(rests[start], key=lambda r: (len(r.split()), r))
        middle = len(ranked) // 2
        picks = [ranked[0], ranked[middle - 1], ranked[middle], ranked[-1]]
        unique = list(dict.fromkeys(picks))
        prompts.append({"prompt": start, "candidates": [f"{c}." for c in unique]})
    data = {
        "description": "Sentence starts from CPython's pydoc_data.topics with real "
        "endings of corpus sentences that start the same way; each candidate "
        "ends with '.', which the built-in model reads as <eos>.",
        "corpus_fingerprint": corpus_fingerprint(),
        "made_by": "tools/make_example_prompts.py",
        "prompts": prompts,
    }
    with open(OUT, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    print(f"wrote {len(prompts)} prompts to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
