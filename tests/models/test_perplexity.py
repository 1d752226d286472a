"""Rolling perplexity: windows, every token once, against a per-token loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from seqscore.cli import main
from seqscore.errors import InvalidInputError
from seqscore.models.hf import HFModel
from seqscore.models.perplexity import corpus_perplexity, rolling_perplexity
from seqscore.models.requests import rolling_requests
from tests.tiny_lm import bpe_tokenizer, tiny_gpt2


def test_windows_are_lm_evals_docstring_example():
    # lm_eval/api/model.py, LM.loglikelihood_rolling: tokens 0..9, prefix
    # BOS, max context length 4 -> inputs [BOS 0 1 2], [3 4 5 6], [5 6 7 8]
    # predicting [0 1 2 3], [4 5 6 7], [8 9]
    windows = rolling_requests(range(10), 4, prefix_id=-1)
    inputs = [r.context + r.continuation[:-1] for r in windows]
    assert inputs == [(-1, 0, 1, 2), (3, 4, 5, 6), (5, 6, 7, 8)]
    assert [r.continuation for r in windows] == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)]


@given(
    st.integers(1, 60),
    st.integers(1, 12),
    st.data(),
    st.sampled_from([None, 99]),
)
def test_every_token_is_scored_once_and_every_input_fits(n, window, data, prefix):
    stride = data.draw(st.integers(1, window))
    windows = rolling_requests(range(n), window, stride, prefix_id=prefix)
    scored = [t for r in windows for t in r.continuation]
    assert scored == list(range(n))
    for i, r in enumerate(windows):
        assert r.input_length <= window
        if i:  # a later window reads exactly the window, ending before its last token
            assert r.input_length == window
            assert r.context + r.continuation == tuple(
                range(r.continuation[-1] - window, r.continuation[-1] + 1)
            )


def test_a_stride_above_the_window_is_an_error():
    with pytest.raises(InvalidInputError, match="must not exceed the window"):
        rolling_requests(range(5), 2, 3)


@pytest.fixture(scope="module")
def tiny():
    tokenizer = bpe_tokenizer()
    return tiny_gpt2(tokenizer, n_positions=64), tokenizer


TEXT = (
    "The value of an object is the set of its attributes. If the class defines "
    "a method, the method is called with the instance as its first argument."
)


def _per_token_loop(model, ids, window, stride, prefix):
    """Each token scored by its own forward pass over the context the window
    scheme gives it: after the prefix token in the first window, else the
    window's input from its start (the window ending at token b reads ids
    b - 1 - window .. b - 2)."""
    total = []
    with torch.no_grad():
        for t in range(len(ids)):
            if t < window:
                context = [prefix, *ids[:t]]
            else:
                k = (t - window) // stride
                stop = min(window + (k + 1) * stride, len(ids))
                context = ids[stop - 1 - window : t]
            logits = model(torch.tensor([context])).logits[0, -1]
            total.append(float(torch.log_softmax(logits, -1)[ids[t]]))
    return total


@pytest.mark.parametrize("window, stride", [(16, 16), (16, 5), (64, 64)])
def test_rolling_loglikelihood_equals_a_per_token_loop(tiny, window, stride):
    model, tokenizer = tiny
    ids = tokenizer.encode(TEXT)
    assert len(ids) > 2 * window or window == 64
    adapter = HFModel(model, tokenizer)
    (doc,) = rolling_perplexity(adapter, [("d", TEXT)], window=window, stride=stride)
    expected = _per_token_loop(model, ids, window, stride, adapter.prefix_id)
    assert doc.n_tokens == len(ids) == len(expected)
    assert doc.loglikelihood == pytest.approx(math.fsum(expected), abs=1e-4)
    assert doc.token_perplexity == pytest.approx(
        math.exp(-math.fsum(expected) / len(ids)), rel=1e-5
    )
    assert doc.n_bytes == len(TEXT.encode()) and doc.n_words == len(TEXT.split())
    assert doc.bits_per_byte == pytest.approx(
        -math.fsum(expected) / doc.n_bytes / math.log(2), rel=1e-5
    )


def test_the_window_defaults_to_the_models_length_and_may_not_exceed_it(tiny):
    model, tokenizer = tiny
    adapter = HFModel(model, tokenizer)
    text = " ".join([TEXT] * 3)
    (doc,) = rolling_perplexity(adapter, [("d", text)])
    assert doc.windows == math.ceil(len(tokenizer.encode(text)) / 64)
    with pytest.raises(InvalidInputError, match="exceeds the model's 64 positions"):
        rolling_perplexity(adapter, [("d", text)], window=65)


def test_the_corpus_sums_log_likelihoods_and_counts():
    from seqscore.models.builtin import load_builtin

    docs = [("a", "If the value is not."), ("b", "This is a list. It is.")]
    results = rolling_perplexity(load_builtin(), docs)
    corpus = corpus_perplexity(results)
    total = sum(r.loglikelihood for r in results)
    assert corpus.loglikelihood == pytest.approx(total, abs=1e-12)
    words = sum(r.n_words for r in results)
    assert corpus.word_perplexity == pytest.approx(np.exp(-total / words))


def test_cli_table_csv_and_errors(tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "If the value is not."}\n{"text": "It is."}\n')
    runner = CliRunner()
    table = runner.invoke(main, ["perplexity", str(docs)])
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines()[-1].startswith("(all)")
    out = tmp_path / "ppl.csv"
    csv = runner.invoke(
        main, ["perplexity", str(docs), "--format", "csv", "-o", str(out)]
    )
    assert csv.exit_code == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,loglikelihood,n_tokens") and len(lines) == 3
    assert lines[2].startswith("line 2,")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "fine."}\n{"id": "b"}\n')
    result = runner.invoke(
        main, ["perplexity", str(bad), "-o", str(tmp_path / "x.csv")]
    )
    assert result.exit_code == 1
    assert "bad.jsonl:2: text: missing" in result.stderr
    assert not (tmp_path / "x.csv").exists()
    usage = runner.invoke(
        main, ["perplexity", str(docs), "--window", "2", "--stride", "3"]
    )
    assert usage.exit_code == 2
