#!/usr/bin/env python3
"""Scoring candidate texts with a GPT-2-small-sized model (issue: model scoring).

    python bench/bench_model_score.py            # everything (about 30 minutes)
    python bench/bench_model_score.py --quick    # 40 prompts, no peers
    python bench/bench_model_score.py --only floor,seqscore
    python bench/bench_model_score.py --memory   # peak RSS of 10,000 candidates
    python bench/bench_model_score.py --decode   # greedy and beam vs generate()
    python bench/bench_model_score.py --few-shot # 5-shot prompts (issue 25)
    python bench/bench_model_score.py --few-shot --small  # a 4-layer, 256-wide model

The model: a randomly initialised GPT-2 of GPT-2 small's size (12 layers,
768 wide, 12 heads, vocabulary 50,257, 1,024 positions), float32, on the CPU
with torch's default threads (2 here). The tokenizer: a byte-level BPE
trained offline on the standard library's own sources and documentation to
50,257 tokens (cached in ``bench/out/``), so the texts tokenise into real
subwords. The workload: 200 prompts x 4 candidates, contexts of about 30
tokens, continuations of 5 to 40 tokens (uniform), cut from the docs.

What is timed, on the same requests, in one run, interleaved ``--repeats``
times (medians):

* ``floor``: plain torch, the lower bound of the lm-eval layout: the
  context+continuation ids sorted by length, batches of right-padded
  sequences, one forward each, ``log_softmax``, ``gather``, sum, greedy
  check; run at each of ``--floor-batch-sizes`` (8 and 32: large batches
  of 50,257-wide logits cost memory traffic), the fastest is the reference;
* ``seqscore``: :func:`seqscore.models.loglikelihood.loglikelihoods` (texts in,
  tokenisation by lm-eval's rule included) with the default shared contexts
  and prefixes; ``seqscore-noprefix`` without shared prefixes
  (``max_prefix_cache=0``: each distinct context whole, as before issue 25);
  ``seqscore-whole`` with ``share_contexts=False``;
* ``lm-eval``: ``lm_eval.models.huggingface.HFLM(pretrained=model,
  tokenizer=..., batch_size=N).loglikelihood`` (0.4.13) on the same pairs;
* ``minicons``: ``scorer.IncrementalLMScorer(model, tokenizer=...)
  .conditional_score(contexts, continuations, separator="",
  reduction=sum)`` in batches of ``--batch-size`` (separator "" joins the
  texts as lm-eval does, so the tokens scored are the same).

``--few-shot`` (issue 25) replaces the workload by MMLU's shape: 3
subjects x 20 questions, every question of a subject after the same 5
shots (about 400 tokens: a question of about 40 tokens, four options,
"Answer: X" each), answers " A" to " D"; ``--small`` replaces the model by
a 4-layer, 256-wide GPT-2 with the same vocabulary (small models expose
per-request overheads).

Every method's scores are compared with the fastest floor's (max
|difference|). An untimed floor pass warms torch up first.
lm-eval and minicons are benchmark-only dependencies (``pip install
lm-eval==0.4.13 minicons``), never the package's.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import resource
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

OUT = os.path.join(HERE, "out")
VOCAB = 50257


# ----------------------------------------------------------------- setup


def corpus_texts() -> list[str]:
    """The standard library's Python sources and pydoc topics (offline text)."""
    import sysconfig
    from pydoc_data.topics import topics

    texts = [topics[k] for k in sorted(topics)]
    root = sysconfig.get_paths()["stdlib"]
    for folder, _, files in sorted(os.walk(root)):
        if "site-packages" in folder or "test" in folder:
            continue
        for name in sorted(files):
            if name.endswith(".py"):
                with open(
                    os.path.join(folder, name), encoding="utf-8", errors="replace"
                ) as f:
                    texts.append(f.read())
    return texts


def tokenizer():
    """A 50,257-token byte-level BPE, trained once and cached."""
    import transformers

    folder = os.path.join(OUT, "bpe50257")
    if not os.path.exists(os.path.join(folder, "tokenizer.json")):
        from tests.tiny_lm import bpe_tokenizer  # the test suite's recipe

        bpe_tokenizer(VOCAB, corpus_texts()).save_pretrained(folder)
    return transformers.AutoTokenizer.from_pretrained(folder)


def gpt2_small(vocab_size: int, seed: int = 0, layers: int = 12, width: int = 768):
    """A random GPT-2 of GPT-2 small's size (or ``layers`` x ``width``, one
    head per 64), float32, in eval mode."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=vocab_size,
        n_positions=1024,
        n_embd=width,
        n_layer=layers,
        n_head=width // 64,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.GPT2LMHeadModel(config).eval()


def workload(tok, n_prompts: int, per_prompt: int, seed: int = 0):
    """``(context, continuation)`` pairs cut from the pydoc topics: contexts
    of 26-34 tokens ending before a word, continuations of 5-40 tokens each
    starting with a space and a word (as multiple-choice answers do), so
    that no token straddles the boundary and every tool sees the same ids."""
    from pydoc_data.topics import topics

    rng = np.random.default_rng(seed)
    text = " ".join(" ".join(topics[k].split()) for k in sorted(topics))
    ids = tok.encode(text)
    spaced = np.flatnonzero(
        [t.startswith("Ġ") for t in tok.convert_ids_to_tokens(ids)]
    )  # positions of tokens that open a word
    spaced = spaced[(spaced > 40) & (spaced < len(ids) - 50)]
    pairs = []
    while len(pairs) < n_prompts * per_prompt:
        end = int(rng.choice(spaced))
        context = tok.decode(ids[end - int(rng.integers(26, 35)) : end])
        answers = []
        for at in rng.choice(spaced, per_prompt):
            answers.append(tok.decode(ids[at : at + int(rng.integers(5, 41))]))
        whole = [tok.encode(context + a) for a in answers]
        if all(w[: len(tok.encode(context))] == tok.encode(context) for w in whole):
            pairs.extend((context, a) for a in answers)
    return pairs


def few_shot_workload(tok, subjects: int = 3, questions: int = 20, seed: int = 0):
    """MMLU-shaped ``(context, continuation)`` pairs: per subject 5 shots
    (each a ~40-token question, options A-D and its answer), then each
    question with its options and "Answer:", continued by " A" ... " D"."""
    from pydoc_data.topics import topics

    rng = np.random.default_rng(seed)
    words = " ".join(topics[k] for k in sorted(topics)).split()

    def question() -> str:
        at = int(rng.integers(0, len(words) - 60))
        stem = " ".join(words[at : at + int(rng.integers(22, 30))])
        options = "".join(
            f"\n{letter}. {words[int(rng.integers(0, len(words)))]}"
            for letter in "ABCD"
        )
        return f"Question: {stem}{options}\nAnswer:"

    pairs = []
    for s in range(subjects):
        shots = "".join(
            f"{question()} {'ABCD'[int(rng.integers(0, 4))]}\n\n" for _ in range(5)
        )
        head = f"The following are multiple choice questions about subject {s}.\n\n"
        for _ in range(questions):
            context = head + shots + question()
            pairs.extend((context, f" {letter}") for letter in "ABCD")
    return pairs


def small_gpt2(vocab_size: int, seed: int = 0):
    """A 4-layer, 256-wide GPT-2 with GPT-2's vocabulary."""
    return gpt2_small(vocab_size, seed, layers=4, width=256)


# --------------------------------------------------------------- methods


def encoded(tok, pairs):
    """lm-eval's ids for each pair (the floor and the peers use the same)."""
    from seqscore.models.requests import encode_request

    class _Encoder:  # the HF adapter's encode without loading a model
        prefix_id = tok.bos_token_id

        @staticmethod
        def encode(text, add_special_tokens=None):
            options = (
                {}
                if add_special_tokens is None
                else {"add_special_tokens": add_special_tokens}
            )
            return tok.encode(text, **options)

    return [encode_request(_Encoder, c, x) for c, x in pairs]


def floor(model, requests, batch_size):
    import torch

    inputs = [list(r.context) + list(r.continuation[:-1]) for r in requests]
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]), reverse=True)
    out = [None] * len(inputs)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = len(inputs[batch[0]])
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, : len(inputs[i])] = torch.tensor(inputs[i])
            logp = torch.log_softmax(model(input_ids=ids).logits, dim=-1)
            for row, i in enumerate(batch):
                n = len(requests[i].continuation)
                stop = len(inputs[i])
                span = logp[row, stop - n : stop]
                target = torch.tensor(requests[i].continuation)
                ll = span.gather(1, target[:, None]).double().sum()
                out[i] = (float(ll), bool((span.argmax(-1) == target).all()))
    return out


def seqscore_method(share, prefix_cache=None):
    def run(model, tok, pairs, batch_size):
        from seqscore.models.hf import HFModel
        from seqscore.models.loglikelihood import loglikelihoods

        scorer = HFModel(model, tok, max_prefix_cache=prefix_cache)
        results = loglikelihoods(scorer, pairs, share_contexts=share)
        return [(r.logprob, r.is_greedy) for r in results]

    return run


def lm_eval_method(model, tok, pairs, batch_size):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=batch_size, device="cpu")
    requests = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    return [
        (float(ll), bool(g)) for ll, g in lm.loglikelihood(requests, disable_tqdm=True)
    ]


def minicons_method(model, tok, pairs, batch_size):
    from minicons import scorer

    lm = scorer.IncrementalLMScorer(model, tokenizer=tok, device="cpu")
    out = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        # separator "": the texts are joined as they are, as lm-eval joins them
        scores = lm.conditional_score(
            [c for c, _ in chunk],
            [x for _, x in chunk],
            separator="",
            reduction=lambda x: x.sum(0).item(),
        )
        out.extend((float(s), None) for s in scores)
    return out


# ---------------------------------------------------------------- decoding


def decode_benchmark(model, tok, repeats: int, n_prompts: int = 8, new: int = 20):
    """Greedy and beam search (width 4) through the adapter, against
    ``model.generate`` with the same settings, on the same prompts."""
    import torch

    from seqscore.decoding import beam_search, greedy
    from seqscore.models.hf import HFModel

    adapter = HFModel(model, tok)
    contexts = sorted({c for c, _ in workload(tok, n_prompts, 1, seed=1)})
    prompts = [tok.encode(c) for c in contexts]
    eos = model.config.eos_token_id

    def generate(prompt, beams):
        options = dict(do_sample=False, max_new_tokens=new, pad_token_id=eos)
        if beams > 1:
            options.update(
                num_beams=beams,
                num_return_sequences=beams,
                length_penalty=1.0,
                early_stopping=False,
            )
        with torch.inference_mode():
            return model.generate(torch.tensor([prompt]), **options)

    runs = {
        "greedy seqscore": lambda: [greedy(adapter, p, new).ids for p in prompts],
        "greedy generate": lambda: [
            tuple(generate(p, 1)[0, len(p) :].tolist()) for p in prompts
        ],
        "beam-4 seqscore": lambda: [
            beam_search(adapter, p, new, 4).best.ids for p in prompts
        ],
        "beam-4 generate": lambda: [
            tuple(generate(p, 4)[0, len(p) :].tolist()) for p in prompts
        ],
    }
    times = {name: [] for name in runs}
    outputs = {}
    for _ in range(repeats):
        for name, run in runs.items():
            seconds, outputs[name] = timed(run)
            times[name].append(seconds)
    print(f"\ndecoding {len(prompts)} prompts x {new} new tokens; median of {repeats}")
    for kind in ("greedy", "beam-4"):
        ours = statistics.median(times[f"{kind} seqscore"])
        theirs = statistics.median(times[f"{kind} generate"])
        same = _same_sequences(
            outputs[f"{kind} seqscore"], outputs[f"{kind} generate"], eos
        )
        print(
            f"  {kind:7s} seqscore {ours:6.2f} s  generate {theirs:6.2f} s  "
            f"ratio {ours / theirs:4.2f}x  same sequences: {same}"
        )


def _same_sequences(ours, theirs, eos) -> bool:
    """generate() pads sequences that ended early: compare up to EOS."""

    def cut(ids):
        ids = list(ids)
        return ids[: ids.index(eos) + 1] if eos in ids else ids

    return all(cut(a) == cut(b) for a, b in zip(ours, theirs, strict=True))


# ------------------------------------------------------------------ memory


def memory_benchmark(tok, n_candidates: int = 10_000, few_shot: bool = False):
    """Peak RSS of ``seqscore score FILE --model hf:DIR`` on 10,000
    candidates (``few_shot``: the 5-shot workload, whose shared prefixes'
    keys and values count against the budget too), against processes that
    only import the libraries (torch and transformers' top level; everything
    a run imports, with the tokenizer) and only load the model (its weights
    stay on disk until first read)."""
    import json

    model = gpt2_small(max(VOCAB, len(tok)))
    folder = os.path.join(OUT, "gpt2-small-random")
    if not os.path.exists(os.path.join(folder, "config.json")):
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
    model_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    del model
    label = "few-shot" if few_shot else f"pairs-{n_candidates}"
    pairs = os.path.join(OUT, f"{label}.jsonl")
    if not os.path.exists(pairs):
        chosen = (
            few_shot_workload(tok)
            if few_shot
            else workload(tok, n_candidates // 4, 4, seed=2)
        )
        with open(pairs, "w") as out:
            for context, text in chosen:
                out.write(json.dumps({"context": context, "continuation": text}) + "\n")
    python = sys.executable
    root = os.path.join(HERE, "..")
    commands = {
        "import torch + transformers": [python, "-c", "import torch, transformers"],
        "import what a run imports, no weights": [
            python,
            "-c",
            "import torch, transformers, seqscore.cli, seqscore.models.loglikelihood; "
            "from transformers.models.gpt2 import modeling_gpt2; "
            f"transformers.AutoTokenizer.from_pretrained({folder!r})",
        ],
        "load the model": [
            python,
            "-c",
            f"from seqscore.models.hf import load_hf; load_hf({folder!r})",
        ],
        f"seqscore score ({label})": [
            python,
            os.path.join(root, "cli.py"),
            "score",
            pairs,
            "--model",
            f"hf:{folder}",
            "--format",
            "jsonl",
            "-o",
            os.path.join(OUT, "scores.jsonl"),
        ],
    }
    from bench_score import run_timed  # forks from a small address space

    peaks = {}
    for name, command in commands.items():
        seconds, peak_mb = run_timed(command)
        peaks[name] = peak_mb * 2**20
        print(f"  {name:36s} peak RSS {peak_mb:7.0f} MB  {seconds:7.1f} s", flush=True)
    from seqscore.models.hf import DEFAULT_PREFIX_CACHE_MB, LOGITS_BUDGET

    peak = peaks[f"seqscore score ({label})"]
    cache = (DEFAULT_PREFIX_CACHE_MB << 20) if few_shot else 0
    budget = model_bytes + LOGITS_BUDGET + cache
    print(
        f"  model {model_bytes / 2**20:.0f} MB, one batch's logits at most "
        f"{LOGITS_BUDGET / 2**20:.0f} MB, prefix cache bound {cache >> 20} MB "
        f"(target: peak above the libraries <= 1.5x of their sum, "
        f"{1.5 * budget / 2**20:.0f} MB)"
    )
    for library in list(peaks)[:2]:  # the two libraries-only processes
        above = peak - peaks[library]
        print(
            f"  above '{library}': {above / 2**20:.0f} MB = {above / budget:.2f}x "
            "of that sum"
        )


def cpu_name() -> str:
    """The CPU's model name, and whether it has AVX-512 (figures differ)."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "unknown CPU"
    name = next(
        (
            line.split(":", 1)[1].strip()
            for line in info.splitlines()
            if "model name" in line
        ),
        "unknown CPU",
    )
    return f"{name} ({'AVX-512' if 'avx512f' in info else 'AVX2, no AVX-512'})"


def warm_up(model, requests) -> None:
    """One untimed pass, so that the first method timed does not pay for
    torch's thread pool and first allocations."""
    floor(model, requests[:8], 8)


def timed(function, *args):
    gc.collect()
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--per-prompt", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32, help="the peers'")
    parser.add_argument(
        "--floor-batch-sizes",
        default="8,32",
        help="the floor runs at each; the fastest is the reference",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--only",
        default="floor,seqscore,seqscore-noprefix,seqscore-whole,lm-eval,minicons",
    )  # "floor": every size of --floor-batch-sizes
    parser.add_argument("--memory", action="store_true", help="peak RSS only")
    parser.add_argument("--few-shot", action="store_true", help="5-shot prompts")
    parser.add_argument("--small", action="store_true", help="a 4-layer model")
    parser.add_argument("--decode", action="store_true", help="decoding only")
    args = parser.parse_args()
    if args.memory:
        memory_benchmark(tokenizer(), few_shot=args.few_shot)
        return
    if args.decode:
        tok = tokenizer()
        decode_benchmark(gpt2_small(max(VOCAB, len(tok))), tok, args.repeats)
        return
    if args.quick:
        args.prompts, args.repeats = 40, 1
        args.only = "floor,seqscore,seqscore-whole"
    import torch

    floor_sizes = [int(b) for b in args.floor_batch_sizes.split(",")]
    tok = tokenizer()
    model = (small_gpt2 if args.small else gpt2_small)(max(VOCAB, len(tok)))
    if args.few_shot:
        pairs = few_shot_workload(tok)
        args.prompts, args.per_prompt = len(pairs) // 4, 4
    else:
        pairs = workload(tok, args.prompts, args.per_prompt)
    requests = encoded(tok, pairs)
    n_tokens = [len(r.continuation) for r in requests]
    n_context = sorted({len(r.context) for r in requests})
    print(cpu_name())
    print(
        f"GPT-2 {model.config.n_layer} layers x {model.config.n_embd}, vocab "
        f"{model.config.vocab_size}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; {args.prompts} "
        f"prompts x {args.per_prompt} "
        f"candidates, contexts {n_context[0]}-{n_context[-1]} tokens, continuations "
        f"{min(n_tokens)}-{max(n_tokens)} (mean {np.mean(n_tokens):.1f}); batch size "
        f"{args.batch_size} for the peers"
    )
    methods = {
        **{
            f"floor-{size}": functools.partial(floor, model, requests, size)
            for size in floor_sizes
        },
        "seqscore": lambda: seqscore_method(True)(model, tok, pairs, args.batch_size),
        "seqscore-noprefix": lambda: seqscore_method(True, 0)(
            model, tok, pairs, args.batch_size
        ),
        "seqscore-whole": lambda: seqscore_method(False)(
            model, tok, pairs, args.batch_size
        ),
        "lm-eval": lambda: lm_eval_method(model, tok, pairs, args.batch_size),
        "minicons": lambda: minicons_method(model, tok, pairs, args.batch_size),
    }
    chosen = []
    for name in filter(None, args.only.split(",")):
        chosen += [f"floor-{b}" for b in floor_sizes] if name == "floor" else [name]
    warm_up(model, requests)
    times = {m: [] for m in chosen}
    results = {}
    for _ in range(args.repeats):
        for name in chosen:
            seconds, results[name] = timed(methods[name])
            times[name].append(seconds)
            print(f"  {name:15s} {seconds:8.2f} s", flush=True)
    floors = [m for m in chosen if m.startswith("floor-")]
    fastest = min(floors, key=lambda m: statistics.median(times[m]), default=None)
    reference = results.get(fastest)
    base = statistics.median(times[fastest]) if fastest else None
    print(
        f"\nmedian seconds, ratio to the fastest floor ({fastest}), max |score - "
        "its|, greedy flags equal"
    )
    for name in chosen:
        median = statistics.median(times[name])
        line = f"  {name:15s} {median:8.2f} s"
        if base:
            line += f"  {median / base:5.2f}x"
        if reference is not None:
            diff = max(
                abs(a[0] - b[0]) for a, b in zip(results[name], reference, strict=True)
            )
            same = all(
                a[1] is None or a[1] == b[1]
                for a, b in zip(results[name], reference, strict=True)
            )
            line += f"  {diff:.2e}  {same}"
        print(line)
    if "seqscore" in times:
        ours = statistics.median(times["seqscore"])
        for peer in ("lm-eval", "minicons"):
            if peer in times:
                factor = statistics.median(times[peer]) / ours
                print(f"  seqscore is {factor:.2f}x faster than {peer}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
