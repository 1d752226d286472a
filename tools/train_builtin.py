#!/usr/bin/env python3
"""Train the built-in language model and write seqscore/data/builtin_lm.npz.

    python tools/train_builtin.py            # writes the weights, prints figures
    python tools/train_builtin.py --check    # retrains, compares with the file

Deterministic: the corpus is read in a fixed order, the vocabulary is sorted
by (count, word), and SoftmaxRegression's minibatch order comes from a seeded
generator. The same Python (whose ``pydoc_data.topics`` is the corpus), numpy
and BLAS give the same weights bit for bit; the file records the corpus
fingerprint and a SHA-256 of the weights, and ``--check`` compares both.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import time
from collections import Counter

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from seqscore.models.builtin import EOS, UNK, BuiltinLM, context_slots
from seqscore.models.corpus import (
    corpus_fingerprint,
    heldout_sentences,
    training_sentences,
)
from seqscore.numerics.regression import SoftmaxRegression

VOCAB_WORDS = 1000  # words with their own id; the rest are <unk>
SECOND_WORDS = 300  # words with their own row of W2 (two back)
L2 = 1e-5
EPOCHS = 100
SEED = 20240601
OUT = os.path.join(
    os.path.dirname(__file__), "..", "seqscore", "data", "builtin_lm.npz"
)


def build_vocab(sentences):
    counts = Counter(w for s in sentences for w in s)
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = (*ranked[:VOCAB_WORDS], UNK, EOS)
    second_map = np.full(len(vocab), SECOND_WORDS, dtype=np.intp)  # "other"
    second_map[: min(SECOND_WORDS, len(ranked))] = np.arange(
        min(SECOND_WORDS, len(ranked))
    )
    second_map[vocab.index(EOS)] = SECOND_WORDS + 1  # "start"
    return vocab, second_map


def token_ids(sentences, vocab):
    index = {w: i for i, w in enumerate(vocab)}
    unk, eos = index[UNK], index[EOS]
    return [[index.get(w, unk) for w in s] + [eos] for s in sentences]


def examples(id_sentences, eos_id):
    """(prev1, prev2, target) for every token, sentence start = eos."""
    prev1, prev2, target = [], [], []
    for ids in id_sentences:
        context = [eos_id, eos_id]
        for token in ids:
            prev1.append(context[-1])
            prev2.append(context[-2])
            target.append(token)
            context.append(token)
    return np.array(prev1), np.array(prev2), np.array(target)


def features(prev1, prev2, vocab_size, second_map):
    first, second = context_slots(
        prev1, prev2, eos_id=vocab_size - 1, second_map=second_map
    )
    n = len(first)
    rows = np.repeat(np.arange(n), 2)
    cols = np.stack([first, vocab_size + second], axis=1).reshape(-1)
    width = vocab_size + int(second_map.max()) + 1
    return sp.csr_matrix((np.ones(2 * n), (rows, cols)), shape=(n, width))


def step_size(X) -> float:
    """SoftmaxRegression's default step ``1 / (max ||x||^2 / 2 + 1/2 + l2)``.

    Computed here, with the same arithmetic, because the layer's own "auto"
    failed on sparse features in the version this model was trained with.
    Every row has exactly two ones, so ``max ||x||^2 = 2``.
    """
    squared = float(np.asarray(X.multiply(X).sum(axis=1)).max())
    return 1.0 / (0.5 * (squared + 1.0) + L2)


def perplexity(model: BuiltinLM, id_sentences) -> float:
    prev1, prev2, target = examples(id_sentences, model.eos_id)
    prefixes = np.stack([prev2, prev1], axis=1)
    logprobs = model.next_logprobs(prefixes)
    return math.exp(-float(np.mean(logprobs[np.arange(len(target)), target])))


def unigram_perplexity(train_ids, heldout_ids, vocab_size) -> float:
    counts = np.bincount(np.concatenate(train_ids), minlength=vocab_size) + 1.0
    logp = np.log(counts / counts.sum())
    return math.exp(-float(np.mean(logp[np.concatenate(heldout_ids)])))


def train():
    train_s, held_s = training_sentences(), heldout_sentences()
    vocab, second_map = build_vocab(train_s)
    eos_id = vocab.index(EOS)
    train_ids, held_ids = token_ids(train_s, vocab), token_ids(held_s, vocab)
    prev1, prev2, target = examples(train_ids, eos_id)
    X = features(prev1, prev2, len(vocab), second_map)
    started = time.perf_counter()
    fit = SoftmaxRegression(
        l2=L2,
        learning_rate=step_size(X),
        max_epochs=EPOCHS,
        batch_size=512,
        rng=SEED,
    )
    fit.fit(X, target, n_classes=len(vocab))
    seconds = time.perf_counter() - started
    coef = fit.coef_.astype(np.float16)
    w1, w2 = coef[: len(vocab)], coef[len(vocab) :]
    bias = fit.intercept_.astype(np.float32)
    info = {
        "corpus": "pydoc_data.topics prose sentences (seqscore.models.corpus)",
        "corpus_fingerprint": corpus_fingerprint(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "vocab_words": VOCAB_WORDS,
        "second_words": SECOND_WORDS,
        "l2": L2,
        "epochs": fit.n_epochs_,
        "seed": SEED,
        "train_tokens": len(target),
        "train_sentences": len(train_s),
        "heldout_sentences": len(held_s),
        "heldout_tokens": int(sum(map(len, held_ids))),
        "train_objective": fit.loss_curve_[-1],
        "train_seconds": round(seconds, 1),
    }
    model = BuiltinLM(
        vocab=vocab,
        eos_id=eos_id,
        unk_id=vocab.index(UNK),
        w1=w1.astype(np.float32),
        w2=w2.astype(np.float32),
        bias=bias,
        second_map=second_map,
        info=info,
    )
    info["heldout_perplexity"] = round(perplexity(model, held_ids), 2)
    info["train_perplexity"] = round(perplexity(model, train_ids), 2)
    info["unigram_heldout_perplexity"] = round(
        unigram_perplexity(train_ids, held_ids, len(vocab)), 2
    )
    digest = hashlib.sha256()
    for array in (w1, w2, bias, second_map.astype(np.int32)):
        digest.update(np.ascontiguousarray(array).tobytes())
    info["weights_sha256"] = digest.hexdigest()[:16]
    return dict(
        vocab=np.array(vocab),
        w1=w1,
        w2=w2,
        bias=bias,
        second_map=second_map.astype(np.int32),
        info=np.array(json.dumps(info)),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with the shipped file"
    )
    parser.add_argument("-o", "--output", default=OUT)
    args = parser.parse_args()
    arrays = train()
    info = json.loads(str(arrays["info"]))
    print(json.dumps(info, indent=2))
    if args.check:
        with np.load(args.output, allow_pickle=False) as shipped:
            old = json.loads(str(shipped["info"]))
        same = old["weights_sha256"] == info["weights_sha256"]
        print(
            "weights identical to the shipped file"
            if same
            else f"weights differ: shipped {old['weights_sha256']}, "
            f"now {info['weights_sha256']}"
        )
        sys.exit(0 if same else 1)
    np.savez_compressed(args.output, **arrays)
    print(
        f"wrote {os.path.normpath(args.output)} "
        f"({os.path.getsize(args.output):,} bytes)"
    )


if __name__ == "__main__":
    main()
