"""The built-in model: packaged weights, tokenisation, documented figures."""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

from seqscore.decoding import exact_search, greedy
from seqscore.models.builtin import load_builtin
from seqscore.models.corpus import corpus_fingerprint, heldout_sentences, words
from seqscore.models.examples import example_prompts


def test_loads_fast_and_small():
    start = time.perf_counter()
    model = load_builtin.__wrapped__()  # bypass the per-process cache
    assert time.perf_counter() - start < 1.0
    path = os.path.join(
        os.path.dirname(__file__), "..", "..", "seqscore", "data", "builtin_lm.npz"
    )
    assert os.path.getsize(path) < 4_000_000
    assert len(model.vocab) == 1002 and model.vocab[-1] == "<eos>"


def test_rows_are_normalised_and_both_prefix_forms_agree():
    model = load_builtin()
    prefixes = [[], model.encode("the"), model.encode("if the object")]
    rows = model.next_logprobs(prefixes)
    np.testing.assert_allclose(np.logaddexp.reduce(rows, axis=1), 0, atol=1e-5)
    same_length = np.array([model.encode("if the"), model.encode("it is")])
    np.testing.assert_array_equal(
        model.next_logprobs(same_length), model.next_logprobs(same_length.tolist())
    )
    # an empty prefix and one ending a sentence are both "sentence start"
    np.testing.assert_array_equal(rows[0], model.next_logprobs([[model.eos_id]])[0])


def test_encoding_unknown_words_and_sentence_ends():
    model = load_builtin()
    ids = model.encode("The zyzzyva. It")
    assert ids[1] == model.unk_id and ids[2] == model.eos_id
    assert model.decode(ids) == "the <unk> . it"
    assert words("Don’t PANIC") == ["don't", "panic"]


def test_documented_heldout_perplexity():
    model = load_builtin()
    info = model.info
    assert info["heldout_perplexity"] < 0.5 * info["unigram_heldout_perplexity"]
    if info["corpus_fingerprint"] != corpus_fingerprint():
        return  # another Python's pydoc_data: the figures are for the recorded one
    index = {w: i for i, w in enumerate(model.vocab)}
    total, count = 0.0, 0
    for sentence in heldout_sentences():
        ids = [index.get(w, model.unk_id) for w in sentence] + [model.eos_id]
        prefixes = [ids[:t] for t in range(len(ids))]
        rows = model.next_logprobs(prefixes)
        total += float(rows[np.arange(len(ids)), ids].sum())
        count += len(ids)
    assert count == info["heldout_tokens"]
    assert math.isclose(
        math.exp(-total / count), info["heldout_perplexity"], abs_tol=0.01
    )


def test_decoders_run_on_the_builtin_model():
    model = load_builtin()
    prompt = model.encode("if the")
    g = greedy(model, prompt, 8)
    result = exact_search(model, prompt, 8, node_budget=20_000)
    assert result.best.total >= g.total
    assert result.proven_optimal
    assert result.best.finished


def test_example_prompts_are_corpus_text():
    from seqscore.models.corpus import corpus_sentences

    examples = example_prompts()
    sentences = {" ".join(s) for s in corpus_sentences()}
    assert len(examples) == 12
    for example in examples:
        assert 2 <= len(example.candidates) <= 4
        for candidate in example.candidates:
            assert candidate.endswith(".")
            assert f"{example.prompt} {candidate[:-1]}" in sentences


def test_vocabulary_is_rebuilt_by_the_training_script():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
    try:
        import train_builtin
    finally:
        sys.path.pop(0)
    model = load_builtin()
    if model.info["corpus_fingerprint"] != corpus_fingerprint():
        return  # another Python's pydoc_data: a different corpus
    from seqscore.models.corpus import training_sentences

    vocab, second_map = train_builtin.build_vocab(training_sentences())
    assert vocab == model.vocab
    np.testing.assert_array_equal(second_map, model.second_map)
    assert {"l2", "epochs", "seed", "weights_sha256"} <= set(model.info)
    assert json.dumps(model.info)  # plain JSON, no pickles
