"""Word surprisal: tokens grouped into whitespace-separated words, and the
word's own surprisal (Pimentel & Meister 2024) from the boundary masses.

The model-backed values are checked against plain torch and the paper's
package in tests/models/test_word_probability.py; here, the grouping and
the laws of the correction on drawn numbers."""

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
from seqscore.errors import ShapeError
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
    assert math.fsum(w.subword_sum for w in words) == pytest.approx(
        -math.fsum(logprobs), abs=1e-9
    )
    for w in words:
        assert w.subword_sum_bits == pytest.approx(w.subword_sum / math.log(2))
        assert w.word_surprisal is None  # no boundary masses given


@given(tokenised_texts(), st.data())
def test_word_surprisals_telescope(case, data):
    """Each word's correction is the log-mass of a boundary before it less
    the one after it; over consecutive words these cancel, so the words'
    surprisals add up to the subword total plus the mass before the first
    word less the mass after the last (cut as a bow tokenizer cuts, every
    word starts with a whitespace token: each start uses the begin column)."""
    text, cut_spans, logprobs = case
    # a bow tokenizer's cuts: none between a space and the word it opens
    bounds = [
        a
        for a, _ in cut_spans
        if not (a and text[a - 1].isspace() and not text[a].isspace())
    ]
    spans = list(itertools.pairwise([*bounds, len(text)]))
    logprobs = logprobs[: len(spans)]
    n = len(spans)
    masses = data.draw(
        st.lists(st.floats(-30, 0), min_size=2 * (n + 1), max_size=2 * (n + 1))
    )
    mass = np.array(masses).reshape(n + 1, 2)
    starts = np.array([text[a].isspace() for a, _ in spans])
    tokens = TokenScores(
        logprobs,
        offsets=np.array(spans),
        word_start=starts,
        boundary_logmass=mass,
    )
    words = word_surprisals(Candidate("c", tokens, text=text))
    assert math.fsum(w.word_surprisal for w in words) == pytest.approx(
        -math.fsum(logprobs) + mass[0, 0] - mass[n, 0], abs=1e-9
    )
    for w in words:
        assert w.word_bits == pytest.approx(w.word_surprisal / math.log(2))


@given(tokenised_texts())
def test_a_certain_boundary_changes_nothing(case):
    """Where the next token surely begins a word (a word-level vocabulary:
    log-mass 0), a word's surprisal is its subword sum, exactly."""
    text, spans, logprobs = case
    n = len(spans)
    tokens = TokenScores(
        logprobs,
        offsets=np.array(spans),
        word_start=np.ones(n, dtype=bool),
        boundary_logmass=np.zeros((n + 1, 2)),
    )
    for w in word_surprisals(Candidate("c", tokens, text=text)):
        assert w.word_surprisal == w.subword_sum


def test_a_word_without_a_space_starts_in_the_other_class():
    # a text's first word, no space before it: divided by P(no word start)
    mass = np.log([[0.3, 0.7], [0.5, 0.5], [0.6, 0.4]])
    tokens = TokenScores(
        [-1.0, -2.0],
        offsets=np.array([[0, 3], [3, 7]]),
        word_start=np.array([False, True]),
        boundary_logmass=mass,
    )
    first, second = word_surprisals(Candidate("c", tokens, text="New York"))
    assert first.word_surprisal == pytest.approx(1.0 - math.log(0.5) + math.log(0.7))
    assert second.word_surprisal == pytest.approx(2.0 - math.log(0.6) + math.log(0.5))


def test_no_row_after_the_candidate_leaves_its_last_word_unknown():
    mass = np.log([[0.3, 0.7], [0.5, 0.5], [np.nan, np.nan]])
    tokens = TokenScores(
        [-1.0, -2.0],
        offsets=np.array([[0, 4], [4, 9]]),
        word_start=np.array([True, True]),
        boundary_logmass=mass,
    )
    first, last = word_surprisals(Candidate("c", tokens, text=" New York"))
    assert first.word_surprisal == pytest.approx(1.0 - math.log(0.5) + math.log(0.3))
    assert last.word_surprisal is None and last.subword_sum == 2.0


def test_boundary_masses_need_one_row_per_prefix():
    with pytest.raises(ShapeError, match=r"not \(3, 2\)"):
        TokenScores([-1.0, -2.0], boundary_logmass=np.zeros((2, 2)))


def test_a_space_token_belongs_to_the_next_word():
    # GPT-2-style: " York" may be "Ġ" + "York"; the space token opens "York"
    tokens = TokenScores([-1.0, -2.0, -3.0], offsets=np.array([[0, 3], [3, 4], [4, 8]]))
    words = word_surprisals(Candidate("c", tokens, text="New York"))
    assert [(w.word, w.n_tokens, w.subword_sum) for w in words] == [
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
    assert math.fsum(w.subword_sum for w in words) == pytest.approx(total, abs=1e-9)
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
            "--verbose",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "tokens begin a word (byte-level pieces" in result.stderr
    row = json.loads(result.stdout)
    assert [w["word"] for w in row["words"]] == ["value", "is"]
    assert sum(w["subword_sum"] for w in row["words"]) == pytest.approx(-row["score"])
    assert all(w["word_surprisal"] is not None for w in row["words"])
    assert set(row["words"][0]) == {
        "word",
        "n_tokens",
        "word_surprisal",
        "word_bits",
        "subword_sum",
        "subword_sum_bits",
    }
    table = CliRunner().invoke(
        main, ["score", str(pairs), "--model", "builtin", "--words"]
    )
    assert (
        table.exit_code == 2 and "--words needs --format json or jsonl" in table.stderr
    )
