"""Scoring: agreement with lm-evaluation-harness and Hugging Face definitions,
reductions against their closed forms, and independence from the batch."""

import math

import numpy as np
import pytest
import scipy.special
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seqscore import InvalidInputError, ShapeError
from seqscore.numerics.reductions import reduce
from seqscore.scoring.candidates import (
    Candidate,
    Prompt,
    TokenScores,
    loglikelihood,
    score_prompt,
    token_scores_from_logits,
)

# ------------------------------------------------- reference implementations


def lm_eval_loglikelihood(sequence_logits, context, continuation):
    """lm-evaluation-harness ``_loglikelihood_tokens``, written in numpy.

    The model is fed ``(context + continuation)[:-1]``; its log-softmaxed
    output is sliced to the last ``len(continuation)`` positions; the answer is
    the sum of the continuation tokens' log-probs and whether the argmax
    equals the continuation at every position.
    """
    whole = list(context) + list(continuation)
    model_input = whole[:-1]
    log_p = scipy.special.log_softmax(sequence_logits[: len(model_input)], axis=-1)
    inplen, contlen = len(model_input), len(continuation)
    log_p = log_p[inplen - contlen : inplen]
    greedy = log_p.argmax(axis=-1)
    max_equal = bool((greedy == np.array(continuation)).all())
    return float(log_p[np.arange(contlen), continuation].sum()), max_equal


def hf_transition_scores(step_scores, generated):
    """``model.compute_transition_scores(seqs, scores, normalize_logits=True)``.

    ``step_scores`` is the tuple of per-step (batch, V) score tensors that
    ``generate(output_scores=True)`` returns; normalisation is a log-softmax
    per step, then the generated token's entry is gathered.
    """
    stacked = np.stack(step_scores, axis=1)  # (batch, steps, V)
    log_p = scipy.special.log_softmax(stacked, axis=-1)
    return np.take_along_axis(log_p, generated[..., None], axis=-1)[..., 0]


@st.composite
def causal_cases(draw):
    vocab = draw(st.integers(2, 30))
    length = draw(st.integers(2, 12))
    logits = draw(
        hnp.arrays(
            np.float64, (length, vocab), elements=st.floats(-30, 30, allow_nan=False)
        )
    )
    ids = draw(hnp.arrays(np.int64, length, elements=st.integers(0, vocab - 1)))
    n_context = draw(st.integers(1, length - 1))
    return logits, ids, n_context


def resolvable(logits) -> bool:
    """No logit below a row's maximum merges with it after log-softmax rounding.

    lm-eval takes the argmax of the log-softmax, seqscore of the logits; they
    differ only where rounding merges a logit with the maximum (e.g. 0 and
    5e-116) -- including one below a tie for the top, such as -4e-24 beside
    two zeros, which a top-two check misses.
    """
    peak = logits.max(axis=-1, keepdims=True)
    gap = peak - logits
    return bool(np.all((gap == 0) | (gap > 1e-9 * (1 + np.abs(peak)))))


@given(causal_cases())
def test_loglikelihood_agrees_with_lm_evaluation_harness(case):
    logits, ids, n_context = case
    assume(resolvable(logits))
    ours = loglikelihood(logits, ids, n_context)
    expected, greedy = lm_eval_loglikelihood(logits, ids[:n_context], ids[n_context:])
    assert ours.logprob == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert ours.is_greedy == greedy
    assert len(ours.token_logprobs) == len(ids) - n_context


def test_loglikelihood_greedy_uses_the_first_argmax_like_lm_eval():
    # a tie at step 0 between tokens 0 and 1: argmax is 0, the continuation is 1
    logits = np.array([[2.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    ours = loglikelihood(logits, [0, 1], n_context=1)
    assert ours.is_greedy is False
    assert lm_eval_loglikelihood(logits, [0], [1])[1] is False
    assert ours.tokens.rank[0] == 1  # yet its rank, counting strictly larger, is 1


@given(st.integers(1, 3), st.integers(1, 6), st.integers(2, 20), st.integers(0, 10**6))
def test_per_token_scores_agree_with_hf_compute_transition_scores(
    batch, steps, vocab, seed
):
    rng = np.random.default_rng(seed)
    step_scores = tuple(rng.normal(0, 5, (batch, vocab)) for _ in range(steps))
    generated = rng.integers(0, vocab, (batch, steps))
    expected = hf_transition_scores(step_scores, generated)
    for b in range(batch):
        rows = np.stack([s[b] for s in step_scores])
        ours = token_scores_from_logits(rows, generated[b]).logprob
        np.testing.assert_allclose(ours, expected[b], rtol=1e-12, atol=1e-12)


def test_loglikelihood_rejects_bad_arguments():
    with pytest.raises(InvalidInputError, match="n_context must be an integer in"):
        loglikelihood(np.zeros((3, 4)), [0, 1, 2], 0)
    with pytest.raises(InvalidInputError, match="n_context must be an integer in"):
        loglikelihood(np.zeros((3, 4)), [0, 1, 2], 3)
    with pytest.raises(ShapeError, match="expected logits"):
        loglikelihood(np.zeros((3, 4)), [0, 1], 1)
    # named in the caller's terms, input_ids[1] (before: the continuation's targets[0])
    with pytest.raises(InvalidInputError, match=r"input_ids\[1\] = 9 is outside"):
        loglikelihood(np.zeros((3, 4)), [0, 9, 1], 1)


# ----------------------------------------------------------- reductions


@given(
    st.lists(st.floats(-50, 0, allow_nan=False), min_size=1, max_size=20),
    st.text(min_size=1, max_size=30),
    st.floats(0, 3),
)
def test_reductions_match_their_definitions(logprobs, text, alpha):
    total, n = math.fsum(logprobs), len(logprobs)
    n_bytes = len(text.encode())
    r = reduce(
        total, n, n_chars=len(text), n_bytes=n_bytes, unconditional=-7.0, alpha=alpha
    )
    assert r.sum == total
    assert r.mean == pytest.approx(total / n)
    assert r.char == pytest.approx(total / len(text))
    assert r.byte == pytest.approx(total / n_bytes)
    assert r.length_penalty == pytest.approx(total / n**alpha)  # HF beam search
    assert r.gnmt == pytest.approx(total / ((5 + n) / 6) ** alpha)  # Wu et al. 2016
    assert r.perplexity == pytest.approx(math.exp(-total / n))
    assert r.bits_per_byte == pytest.approx(-total / n_bytes / math.log(2))
    assert r.pmi == pytest.approx(total + 7.0)


def test_reduction_edge_cases():
    assert reduce(-np.inf, 2).perplexity == math.inf
    assert reduce(-2000.0, 1).perplexity == math.inf  # no OverflowError
    assert reduce(-1.0, 1, n_chars=0).char is None
    with pytest.raises(InvalidInputError, match="no tokens"):
        reduce(0.0, 0)
    with pytest.raises(InvalidInputError, match="needs the text"):
        reduce(-1.0, 1).value("char")
    with pytest.raises(InvalidInputError, match="needs an unconditional"):
        reduce(-1.0, 1).value("pmi")


def test_length_penalties_past_the_float_range_are_zero_or_infinite():
    """``S / L**alpha`` where ``L**alpha`` overflows (-> 0, the sign kept) or
    underflows to 0 (-> -inf): the limits, not an OverflowError or a
    ZeroDivisionError."""
    large, small = reduce(-3.0, 40, alpha=1000.0), reduce(-3.0, 40, alpha=-1000.0)
    assert large.length_penalty == 0.0 and large.gnmt == 0.0
    assert small.length_penalty == -math.inf and small.gnmt == -math.inf
    assert reduce(0.0, 40, alpha=-1000.0).length_penalty == 0.0
    assert reduce(-3.0, 40, alpha=2.0).length_penalty == -3.0 / 1600  # unchanged


# ----------------------------------------------------------------- ranking


def candidate(cid, logprobs, text=None, **extra):
    return Candidate(
        cid, TokenScores(np.array(logprobs, dtype=float)), text=text, **extra
    )


def test_probabilities_are_a_softmax_of_the_totals():
    prompt = Prompt(
        "q",
        (candidate("a", [-1.0, -2.0]), candidate("b", [-0.5]), candidate("c", [-4.0])),
    )
    scores = score_prompt(prompt)
    expected = scipy.special.softmax([-3.0, -0.5, -4.0])
    np.testing.assert_allclose([s.probability for s in scores], expected)
    assert [s.rank for s in scores] == [2, 1, 3]


def test_ties_share_a_rank_and_impossible_candidates_have_no_probability():
    tied = score_prompt(Prompt("q", (candidate("a", [-1.0]), candidate("b", [-1.0]))))
    assert [s.rank for s in tied] == [1, 1]
    impossible = score_prompt(Prompt("q", (candidate("a", [-np.inf]),)))
    assert impossible[0].probability is None and impossible[0].score == -np.inf


def test_length_normalisation_can_flip_the_winner():
    long = candidate("long", [-0.5, -0.5, -0.5], text="abcdefghijkl")
    short = candidate("short", [-1.0], text="ab")
    by_sum = {s.candidate_id: s.rank for s in score_prompt(Prompt("q", (long, short)))}
    by_mean = {
        s.candidate_id: s.rank
        for s in score_prompt(Prompt("q", (long, short)), normalize="mean")
    }
    by_char = {
        s.candidate_id: s.rank
        for s in score_prompt(Prompt("q", (long, short)), normalize="char")
    }
    assert by_sum == {"long": 2, "short": 1}
    assert by_mean == {"long": 1, "short": 2}
    assert by_char == {"long": 1, "short": 2}


def test_weakest_token_and_greedy():
    tokens = TokenScores(
        np.array([-0.1, -3.0, -0.2]),
        token=("a", "b", "c"),
        is_argmax=np.array([True, False, True]),
    )
    (scored,) = score_prompt(Prompt("q", (Candidate("x", tokens),)))
    assert (scored.weakest_position, scored.weakest_token) == (1, "b")
    assert scored.weakest_logprob == -3.0 and scored.is_greedy is False
    (unknown,) = score_prompt(Prompt("q", (candidate("y", [-1.0]),)))
    assert unknown.is_greedy is None


def test_bad_candidates_are_rejected_with_names():
    with pytest.raises(InvalidInputError, match="has no tokens"):
        candidate("empty", [])
    with pytest.raises(InvalidInputError, match=r"logprobs\[1\] is NaN"):
        candidate("nan", [-1.0, np.nan])
    with pytest.raises(InvalidInputError, match="raw logits"):
        candidate("pos", [-1.0, 2.5])
    with pytest.raises(InvalidInputError, match="two candidates with id 'a'"):
        Prompt("q", (candidate("a", [-1.0]), candidate("a", [-2.0])))
    with pytest.raises(InvalidInputError, match="no candidates"):
        Prompt("q", ())
    with pytest.raises(InvalidInputError, match="needs the text"):
        score_prompt(Prompt("q", (candidate("a", [-1.0]),)), normalize="char")


# ----------------------------------------------------- batch independence


@given(
    st.integers(1, 6),
    st.integers(0, 10**6),
    st.sampled_from([np.nan, 1e30, -np.inf, 0.0]),
)
def test_a_score_does_not_depend_on_the_batch_or_its_padding(n, seed, pad):
    """Scored alone, or among others with any padding, a candidate scores the same."""
    rng = np.random.default_rng(seed)
    vocab, width = 7, 9
    lengths = rng.integers(1, width + 1, n)
    logits = np.full((n, width, vocab), pad)
    targets = rng.integers(0, vocab, (n, width))
    for i, length in enumerate(lengths):
        logits[i, :length] = rng.normal(0, 3, (length, vocab))
    batch = [
        token_scores_from_logits(logits[i, : lengths[i]], targets[i, : lengths[i]])
        for i in range(n)
    ]
    for i in rng.permutation(n):
        alone = token_scores_from_logits(
            logits[i, : lengths[i]].copy(), targets[i, : lengths[i]].copy()
        )
        np.testing.assert_array_equal(alone.logprob, batch[i].logprob)
    # and the prompt-level score of a candidate ignores its companions
    candidates = [Candidate(str(i), t) for i, t in enumerate(batch)]
    together = score_prompt(Prompt("q", tuple(candidates)))
    for i, c in enumerate(candidates):
        (single,) = score_prompt(Prompt("q", (c,)))
        assert single.reductions == together[i].reductions


def test_perplexity_is_finite_up_to_the_float_range():
    # before: cut off at exp(709.0), so exp(709.5) = 1.355e308 came out inf
    assert reduce(-709.5, 1).perplexity == math.exp(709.5)
    assert reduce(-710.0, 1).perplexity == math.inf


def test_pmi_of_a_continuation_impossible_with_and_without_context():
    # -inf - -inf is undefined: None (never NaN), and ranking by it says why
    r = reduce(-math.inf, 1, unconditional=-math.inf)
    assert r.pmi is None
    with pytest.raises(InvalidInputError, match="impossible both with and without"):
        r.value("pmi")
    assert reduce(-math.inf, 1, unconditional=-2.0).pmi == -math.inf


def test_char_normalisation_of_an_empty_text_says_so():
    # before: "needs the text", though the text ("") was given
    with pytest.raises(InvalidInputError, match="the text has no characters"):
        reduce(-1.0, 1, n_chars=0).value("char")
    with pytest.raises(InvalidInputError, match="needs the text"):
        reduce(-1.0, 1).value("char")


@pytest.mark.parametrize("bad", [1.5, "2", True, None, float("nan")])
def test_loglikelihood_n_context_must_be_an_integer(bad):
    # before: 1.5 was scored as 1, "2" and True accepted, None/nan bare errors
    with pytest.raises(InvalidInputError, match="n_context must be an integer in"):
        loglikelihood(np.zeros((3, 4)), [0, 1, 2], bad)


def test_first_choice_probabilities_refuse_a_nan_beside_a_finite_total():
    """No finite total gives no probabilities; a NaN or +inf beside a finite
    one is an error, never a silent None."""
    from seqscore.scoring.candidates import _first_choice

    assert _first_choice(np.array([-np.inf, -np.inf])) == [None, None]
    assert _first_choice(np.array([-1.0, -np.inf])) == [1.0, 0.0]
    for bad in (np.nan, np.inf):
        with pytest.raises(InvalidInputError, match=r"scores\[1\]"):
            _first_choice(np.array([-1.0, bad]))
