"""Word surprisal: tokens grouped into whitespace-separated words."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from seqscore.cli import main
from seqscore.models.hf import HFModel
from seqscore.models.loglikelihood import TextCandidate, TextPrompt, forced_prompts
from seqscore.scoring.candidates import Candidate, TokenScores
from seqscore.scoring.words import word_surprisals
from tests.tiny_lm import bpe_tokenizer, save_tiny_gpt2, tiny_gpt2


@st.composite
def tokenised_texts(draw):
    """A text of words and spaces cut into contiguous tokens at random."""
    words = draw(
        st.lists(st.text("abcé", min_size=1, max_size=5), min_size=1, max_size=6)
    )
    gaps = draw(
        st.lists(
            st.sampled_from([" ", "  ", "\n"]), min_size=len(words), max_size=len(words)
        )
    )
    text = "".join(g + w for g, w in zip(gaps, words, strict=True))
    cuts = sorted(draw(st.sets(st.integers(1, len(text) - 1), max_size=len(text) - 1)))
    bounds = [0, *cuts, len(text)]
    spans = list(itertools.pairwise(bounds))
    logprobs = draw(
        st.lists(st.floats(-20, 0), min_size=len(spans), max_size=len(spans))
    )
    return text, spans, logprobs


@given(tokenised_texts())
def test_words_partition_the_tokens_and_their_surprisal(case):
    text, spans, logprobs = case
    tokens = TokenScores(logprobs, offsets=np.array(spans))
    words = word_surprisals(Candidate("c", tokens, text=text))
    # in order, each word once (words a token spans share one entry)
    assert [x for w in words for x in w.word.split()] == text.split()
    assert sum(w.n_tokens for w in words) == len(spans)
    assert math.fsum(w.surprisal for w in words) == pytest.approx(
        -math.fsum(logprobs), abs=1e-9
    )
    for w in words:
        assert w.bits == pytest.approx(w.surprisal / math.log(2))


def test_a_space_token_belongs_to_the_next_word():
    # GPT-2-style: " York" may be "Ġ" + "York"; the space token opens "York"
    tokens = TokenScores([-1.0, -2.0, -3.0], offsets=np.array([[0, 3], [3, 4], [4, 8]]))
    words = word_surprisals(Candidate("c", tokens, text="New York"))
    assert [(w.word, w.n_tokens, w.surprisal) for w in words] == [
        ("New", 1, 1.0),
        ("York", 2, 5.0),
    ]


def test_words_of_a_bpe_model_add_up_to_the_score():
    tokenizer = bpe_tokenizer()
    model = HFModel(tiny_gpt2(tokenizer), tokenizer)
    text = " the attribute value, of an object"
    prompt = TextPrompt("q", "Return ", (TextCandidate("a", text),))
    (scored,) = forced_prompts(model, [prompt], offsets=True)
    (candidate,) = scored.candidates
    words = word_surprisals(candidate)
    assert [w.word for w in words] == [
        "the",
        "attribute",
        "value,",
        "of",
        "an",
        "object",
    ]
    total = -float(np.sum(candidate.tokens.logprob))
    assert math.fsum(w.surprisal for w in words) == pytest.approx(total, abs=1e-9)
    # the context's trailing space moved to the continuation: a token starts before 0
    assert candidate.tokens.offsets[0][0] <= 0


def test_cli_words(tmp_path):
    folder = save_tiny_gpt2(tmp_path / "m")
    pairs = tmp_path / "p.jsonl"
    pairs.write_text(
        json.dumps({"context": "If the", "continuation": " value is"}) + "\n"
    )
    result = CliRunner().invoke(
        main,
        [
            "score",
            str(pairs),
            "--model",
            f"hf:{folder}",
            "--words",
            "--format",
            "jsonl",
        ],
    )
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)
    assert [w["word"] for w in row["words"]] == ["value", "is"]
    assert sum(w["surprisal"] for w in row["words"]) == pytest.approx(-row["score"])
    table = CliRunner().invoke(
        main, ["score", str(pairs), "--model", "builtin", "--words"]
    )
    assert (
        table.exit_code == 2 and "--words needs --format json or jsonl" in table.stderr
    )
