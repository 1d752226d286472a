#!/usr/bin/env python3
"""Preference pairs with a reference model (issue: chat models and preference
pairs): ``seqscore preference`` against plain torch.

    python bench/bench_preference.py                  # 1,000 pairs, 1 round
    python bench/bench_preference.py --pairs 200 --repeats 3
    python bench/bench_preference.py --small          # 4 layers x 256 wide

The models: two random GPT-2s of GPT-2 small's size (12 layers, 768 wide,
vocabulary 50,257; seeds 0 and 1: the policy and the reference), float32 on
the CPU, the model-scoring benchmark's tokenizer (``bench/out/``). The
pairs: prompts of about 200 tokens cut from the standard library's
documentation, each shared by 4 pairs (``--shared 4``; 1 makes every prompt
distinct), responses of 5 to 40 tokens starting at a word.

What is timed, on the same pairs, interleaved (medians):

* ``torch``: the issue's reference, two plain torch forward passes per pair
  (the policy's, then the reference's), each over the batch ``[prompt +
  chosen, prompt + rejected]`` right-padded, ``log_softmax`` of the
  response positions' logits, ``gather``, sums: the response log-probs DPO
  needs;
* ``seqscore``: the library path of ``seqscore preference --model M
  --reference-model R`` (:func:`seqscore.runs.preference.scored_pairs` and
  :func:`~seqscore.runs.preference.pair_scores`), texts in: tokenisation,
  packed rows, shared prompts, the summary's inputs.

The per-pair reward margins of both are compared (largest difference).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_kernels import cpu_name
from bench_model_score import VOCAB, gpt2_small, tokenizer


def make_pairs(tok, count: int, shared: int, seed: int = 0):
    """``count`` (prompt, chosen, rejected) triples, ``shared`` per prompt."""
    from pydoc_data.topics import topics

    rng = np.random.default_rng(seed)
    text = " ".join(" ".join(topics[k].split()) for k in sorted(topics))
    words = text.split(" ")
    pairs = []
    while len(pairs) < count:
        start = int(rng.integers(0, len(words) - 400))
        prompt = " ".join(words[start : start + 150])  # about 200 tokens
        for _ in range(shared):
            responses = []
            for _ in range(2):
                at = int(rng.integers(0, len(words) - 40))
                size = int(rng.integers(3, 25))
                responses.append(" " + " ".join(words[at : at + size]))
            pairs.append((prompt, *responses))
    return pairs[:count]


def torch_rewards(policy, reference, tok, pairs, beta: float):
    import torch

    def logprobs(model, prompt, chosen, rejected):
        context = tok.encode(prompt)
        rows = [tok.encode(prompt + response) for response in (chosen, rejected)]
        width = max(map(len, rows))
        ids = torch.zeros((2, width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        sums = []
        with torch.inference_mode():
            logits = model(input_ids=ids).logits
            for i, row in enumerate(rows):  # log_softmax on response rows only
                target = torch.tensor(row[len(context) :])
                span = torch.log_softmax(logits[i, len(context) - 1 : len(row) - 1], -1)
                sums.append(float(span.gather(1, target[:, None]).double().sum()))
        return sums

    out = []
    for prompt, chosen, rejected in pairs:
        pc, pr = logprobs(policy, prompt, chosen, rejected)
        rc, rr = logprobs(reference, prompt, chosen, rejected)
        out.append(beta * ((pc - rc) - (pr - rr)))
    return out


def seqscore_rewards(policy, reference, pairs, beta: float):
    from seqscore.models.loglikelihood import TextCandidate, TextPrompt, TextScoring
    from seqscore.runs.preference import pair_scores, scored_pairs

    prompts = [
        TextPrompt(
            f"p{i}", prompt, (TextCandidate("chosen", c), TextCandidate("rejected", r))
        )
        for i, (prompt, c, r) in enumerate(pairs)
    ]
    scored = scored_pairs(policy, reference, prompts, TextScoring())
    return [pair_scores(a, b, beta=beta).reward_margin for a, b in scored]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--shared", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()

    from seqscore.models.hf import HFModel

    tok = tokenizer()
    size = {"layers": 4, "width": 256} if args.small else {}
    policy_torch = gpt2_small(VOCAB, seed=0, **size)
    reference_torch = gpt2_small(VOCAB, seed=1, **size)
    policy = HFModel(policy_torch, tok)
    reference = HFModel(reference_torch, tok)
    pairs = make_pairs(tok, args.pairs, args.shared)
    beta = 0.1
    seqscore_rewards(policy, reference, pairs[:8], beta)  # warm up both
    torch_rewards(policy_torch, reference_torch, tok, pairs[:8], beta)
    times: dict[str, list[float]] = {"torch": [], "seqscore": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours = seqscore_rewards(policy, reference, pairs, beta)
        times["seqscore"].append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs = torch_rewards(policy_torch, reference_torch, tok, pairs, beta)
        times["torch"].append(time.perf_counter() - start)
    model = "4 x 256" if args.small else "GPT-2 small size (12 x 768)"
    print(
        f"# {args.pairs} pairs, {args.shared} per prompt, {model}, policy + "
        f"reference, {args.repeats} round(s); {cpu_name()}, {os.cpu_count()} cores"
    )
    reference_time = statistics.median(times["torch"])
    for key, values in times.items():
        median = statistics.median(values)
        print(
            f"{key:9s} {median:8.2f} s  (min {min(values):.2f}, max "
            f"{max(values):.2f})  {median / reference_time:.2f}x torch"
        )
    difference = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
    print(f"largest |reward margin difference|: {difference:.2e}")


if __name__ == "__main__":
    main()
