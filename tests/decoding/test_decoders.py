"""Decoders against brute-force enumeration, and against each other."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqscore.decoding import (
    beam_search,
    exact_search,
    greedy,
    sample,
    sampling_distribution,
)
from seqscore.errors import InvalidInputError, ShapeError
from seqscore.models.forced import teacher_force
from seqscore.models.tree import textbook_tree
from seqscore.numerics.softmax import softmax
from tests.strategies import HashedLM, enumerate_sequences, hashed_models

# ------------------------------------------------------------- exact search


@given(hashed_models())
def test_exact_search_equals_brute_force(case):
    model, prompt, max_tokens = case
    leaves = enumerate_sequences(model, prompt, max_tokens)
    best_total = max(total for total, _ in leaves)
    result = exact_search(model, prompt, max_tokens)
    assert result.proven_optimal
    assert result.best.total == best_total  # bit for bit: same summation order
    assert (best_total, result.best.ids) in leaves
    assert result.bound == result.best.total


@given(hashed_models(), st.integers(1, 6))
def test_exact_search_batched_still_exact(case, batch_size):
    model, prompt, max_tokens = case
    best_total = max(t for t, _ in enumerate_sequences(model, prompt, max_tokens))
    result = exact_search(model, prompt, max_tokens, batch_size=batch_size)
    assert result.proven_optimal and result.best.total == best_total


@given(hashed_models(max_vocab=4, masked=False))
def test_exact_search_budget_is_honest(case):
    model, prompt, max_tokens = case
    best_total = max(t for t, _ in enumerate_sequences(model, prompt, max_tokens))
    result = exact_search(model, prompt, max_tokens, node_budget=1)
    assert result.nodes_expanded <= 1
    assert result.bound >= best_total >= result.best.total
    if result.proven_optimal:
        assert result.best.total == best_total
    else:
        assert result.bound > result.best.total


def test_exact_search_runs_out_of_budget_on_a_flat_model():
    # 5 tokens, nearly uniform, EOS (almost) never: proving which of the
    # 4**6 full-length sequences is best takes far more than 10 nodes
    model = HashedLM(5, seed=3, scale=0.05, eos_bias=-50.0)
    result = exact_search(model, [], 6, node_budget=10)
    assert not result.proven_optimal
    assert result.nodes_expanded <= 10
    assert result.bound > result.best.total


# -------------------------------------------------------------------- beam


@given(hashed_models())
def test_beam_wide_enough_for_every_prefix_equals_exact(case):
    model, prompt, max_tokens = case
    width = len(model.vocab) ** max_tokens
    best_total = max(t for t, _ in enumerate_sequences(model, prompt, max_tokens))
    for early_stopping in (False, "never"):
        result = beam_search(
            model,
            prompt,
            max_tokens,
            width,
            length_penalty=0.0,
            early_stopping=early_stopping,
        )
        assert result.best.total == best_total


@given(hashed_models(), st.sampled_from([0.0, 1.0, 2.0, -1.0]))
def test_beam_width_one_is_greedy(case, length_penalty):
    model, prompt, max_tokens = case
    g = greedy(model, prompt, max_tokens)
    b = beam_search(model, prompt, max_tokens, 1, length_penalty=length_penalty)
    assert b.best.ids == g.ids
    assert b.best.total == g.total
    assert len(b.hypotheses) == 1


@given(hashed_models(), st.integers(1, 5), st.sampled_from([0.0, 1.0]))
def test_beam_scores_follow_the_length_penalty(case, width, length_penalty):
    model, prompt, max_tokens = case
    result = beam_search(
        model, prompt, max_tokens, width, length_penalty=length_penalty
    )
    leaves = dict(
        (ids, total) for total, ids in enumerate_sequences(model, prompt, max_tokens)
    )
    scores = [h.score for h in result.hypotheses]
    assert scores == sorted(scores, reverse=True)
    assert 1 <= len(result.hypotheses) <= width
    for h in result.hypotheses:
        assert leaves[h.ids] == h.total  # every hypothesis is a real leaf
        assert h.score == h.total / len(h.ids) ** length_penalty


# ------------------------------------------------------------------ greedy


@given(hashed_models())
def test_greedy_never_beats_the_best(case):
    model, prompt, max_tokens = case
    g = greedy(model, prompt, max_tokens)
    best = max(t for t, _ in enumerate_sequences(model, prompt, max_tokens))
    assert g.total <= best
    assert g.finished or len(g) == max_tokens


@given(hashed_models())
def test_teacher_forcing_reads_greedy_back(case):
    model, prompt, max_tokens = case
    g = greedy(model, prompt, max_tokens)
    (forced,) = teacher_force(model, prompt, [g.ids])
    assert forced.is_greedy
    np.testing.assert_allclose(forced.logprob, g.logprobs, atol=1e-12)
    assert forced.argmax_id.tolist() == list(g.ids)


# -------------------------------------------------------- the textbook tree


def test_textbook_tree_greedy_versus_best():
    tree = textbook_tree()
    g = greedy(tree, [], 5)
    best = exact_search(tree, [], 5).best
    # 0.6 x 1/3 x 1 = 0.2 and 0.4 x 0.9 x 1 = 0.36, by hand
    assert g.tokens == ("A", "C", "<eos>") and math.isclose(g.probability, 0.2)
    assert best.tokens == ("B", "C", "<eos>") and math.isclose(best.probability, 0.36)


def test_textbook_tree_beam_of_two_finds_the_best_and_normalises():
    result = beam_search(textbook_tree(), [], 5, 2)  # length_penalty 1.0
    best = result.best
    assert best.tokens == ("B", "C", "<eos>")
    assert math.isclose(best.score, math.log(0.36) / 3)  # sum / length incl. EOS


def test_a_near_certain_token_keeps_its_log_prob_through_every_decoder():
    # the model normalises its logits [-40, 0] with log_softmax; no decoder
    # normalises again: the EOS step is log p = -log1p(e^-40) =
    # -4.248354255291589e-18 (mpmath, 50 digits; the plain log(1 + s) gave 0)
    from seqscore.decoding.selection import compiled_available, numpy_selection
    from seqscore.models.tree import tree_from_dict

    tree = tree_from_dict(
        {"vocab": ["a", "<eos>"], "eos": "<eos>", "logits": {"": [-40.0, 0.0]}}
    )
    near_certain = -4.248354255291589e-18
    beams = [beam_search(tree, [], 1, 2)]
    with numpy_selection():
        beams.append(beam_search(tree, [], 1, 2))
    assert compiled_available() or len(beams) == 2
    decoded = [
        greedy(tree, [], 1),
        exact_search(tree, [], 1).best,
        *(result.best for result in beams),
        *sample(tree, [], 1, rng=np.random.default_rng(0), top_k=1),
    ]
    for d in decoded:
        assert d.tokens == ("<eos>",) and d.logprobs == (near_certain,)
        assert d.total == near_certain
    (forced,) = teacher_force(tree, [], [[1]])
    assert forced.logprob.tolist() == [near_certain]
    # entropy log1p(e^-40) + 40 e^-40 / (1 + e^-40) = 1.74182524466955148e-16
    # (mpmath, 50 digits)
    assert math.isclose(forced.entropy[0], 1.7418252446695514e-16, rel_tol=4e-16)


# ---------------------------------------------------------------- sampling


def test_sampling_frequencies_match_the_model():
    draws = sample(
        textbook_tree(), [], 5, rng=np.random.default_rng(7), num_samples=4000
    )
    share = np.mean([d.tokens == ("B", "C", "<eos>") for d in draws])
    # binomial(4000, 0.36): standard deviation 0.0076; allow 4 of them
    assert abs(share - 0.36) < 0.031
    assert all(d.finished and math.isclose(d.total, sum(d.logprobs)) for d in draws)


def test_sampling_is_reproducible_and_depends_on_the_rng():
    model = HashedLM(6, seed=1, scale=1.0)

    def draw(seed):
        return [
            d.ids
            for d in sample(
                model,
                [0],
                6,
                rng=np.random.default_rng(seed),
                num_samples=8,
                temperature=1.5,
            )
        ]

    assert draw(0) == draw(0)
    assert draw(0) != draw(1)


def test_temperature_and_truncation_distribution():
    lp = np.log([[0.5, 0.25, 0.15, 0.1]])
    np.testing.assert_allclose(
        sampling_distribution(lp, temperature=0.5), softmax(lp / 0.5)
    )
    # top-p 0.75: 0.5 and 0.25 reach 0.75 exactly, so 0.15 is dropped
    np.testing.assert_allclose(
        sampling_distribution(lp, top_p=0.75), [[2 / 3, 1 / 3, 0, 0]]
    )
    np.testing.assert_allclose(
        sampling_distribution(lp, top_k=3, top_p=1.0),
        [[0.5 / 0.9, 0.25 / 0.9, 0.15 / 0.9, 0]],
    )


@pytest.mark.parametrize("temperature", [1e-3, 1e-300, 1e-320])
def test_a_tiny_temperature_is_the_greedy_limit(temperature):
    # softmax(x / T) tends, as T -> 0, to the uniform distribution over the
    # row's maxima (closed form); before: at 1e-320 every entry overflowed to
    # -inf and sampling failed with "entirely -inf", with an overflow warning
    rows = np.log([[0.5, 0.3, 0.2], [0.4, 0.4, 0.2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = sampling_distribution(rows, temperature=temperature)
    np.testing.assert_allclose(got, [[1, 0, 0], [0.5, 0.5, 0]], atol=1e-80)
    draws = sample(
        textbook_tree(),
        [],
        3,
        rng=np.random.default_rng(1),
        num_samples=12,
        temperature=temperature,
    )
    assert {d.tokens[0] for d in draws} == {"A"}  # 0.6 against B's 0.4


def test_sampling_rejects_bad_settings():
    tree = textbook_tree()
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidInputError, match="rng must be"):
        sample(tree, [], 3, rng=0)
    with pytest.raises(InvalidInputError, match="temperature"):
        sample(tree, [], 3, rng=rng, temperature=0)
    with pytest.raises(InvalidInputError, match="top_p"):
        sample(tree, [], 3, rng=rng, top_p=1.5)
    with pytest.raises(InvalidInputError, match="top_k"):
        sample(tree, [], 3, rng=rng, top_k=0)


# ------------------------------------------------------------------ errors


def test_decoders_reject_bad_arguments():
    tree = textbook_tree()
    with pytest.raises(InvalidInputError, match=r"prompt\[1\] = 9 is outside"):
        greedy(tree, [0, 9], 3)
    with pytest.raises(InvalidInputError, match="max_tokens"):
        exact_search(tree, [], 0)
    with pytest.raises(InvalidInputError, match="beam width"):
        beam_search(tree, [], 3, 0)
    with pytest.raises(InvalidInputError, match="early_stopping"):
        beam_search(tree, [], 3, 2, early_stopping="sometimes")
    with pytest.raises(InvalidInputError, match="node_budget"):
        exact_search(tree, [], 3, node_budget=0)


class _Broken(HashedLM):
    def __init__(self, fault):
        super().__init__(3, seed=0)
        self.fault = fault

    def next_logprobs(self, prefixes):
        rows = super().next_logprobs(prefixes)
        if self.fault == "shape":
            return rows[:, :2]
        rows[:, 0] = np.nan
        return rows


def test_a_broken_model_is_named_with_its_prefix():
    with pytest.raises(ShapeError, match=r"shape \(1, 2\).*expected \(1, 3\)"):
        greedy(_Broken("shape"), [1], 2)
    with pytest.raises(InvalidInputError, match=r"prefix \[1\]"):
        greedy(_Broken("nan"), [1], 2)


def test_unlisted_prefix_of_a_tree_without_default_names_the_prefix():
    from seqscore.models.tree import tree_from_dict

    tree = tree_from_dict(
        {"vocab": ["a", "<eos>"], "eos": "<eos>", "logits": {"": [0.0, 0.0]}}
    )
    with pytest.raises(InvalidInputError, match="no entry for prefix 'a'"):
        greedy(tree, [], 3)


def test_a_broken_model_in_beam_search_names_the_prefix_plainly():
    with pytest.raises(InvalidInputError, match=r"for prefix \[1, 0\] have"):
        beam_search(_Broken("nan"), [1, 0], 2, 2)


@given(
    st.integers(1, 6),
    st.integers(0, 7),
    st.data(),
)
def test_make_decoded_rows_equals_make_decoded_row_by_row(count, length, data):
    # the batched builder that beam_search_batch uses against the one every
    # other decoder uses; expected: equal Decoded objects, totals bit for bit
    # (log-probs include -0.0, -inf and values whose sum depends on order),
    # also for rows shorter than the block (padding past them ignored)
    from seqscore.decoding.protocol import make_decoded, make_decoded_rows

    model = textbook_tree()
    token = st.integers(0, len(model.vocab) - 1)
    logprob = st.sampled_from([-0.0, -1e-17, -0.1, -0.7, -1e16, -np.inf, -3.25])

    def grid(element):
        row = st.lists(element, min_size=length, max_size=length)
        rows = data.draw(st.lists(row, min_size=count, max_size=count))
        return np.array(rows).reshape(count, length)

    ids = grid(token).astype(np.int64)
    steps = grid(logprob)
    scores = data.draw(st.lists(st.floats(-50, 0), min_size=count, max_size=count))
    # rows of their own lengths (the rest of a row is padding, ignored) or full
    lengths = data.draw(
        st.none() | st.lists(st.integers(0, length), min_size=count, max_size=count)
    )
    got = make_decoded_rows(model, ids, steps, scores, lengths)
    used = [length] * count if lengths is None else lengths
    want = [
        make_decoded(model, i[:n], x[:n], score=s)
        for i, x, n, s in zip(ids.tolist(), steps.tolist(), used, scores, strict=True)
    ]
    assert got == want
    for g, w in zip(got, want, strict=True):
        assert math.copysign(1.0, g.total) == math.copysign(1.0, w.total)


class _NearTies:
    """3 tokens, EOS last and only likely at the end; log-probs near -3 that
    differ by about 0.05, returned in ``dtype`` (so sums of them tie closely)."""

    vocab, eos_id = ("a", "b", "<eos>"), 2

    def __init__(self, seed, dtype):
        self.seed, self.dtype = seed, dtype

    def next_logprobs(self, prefixes):
        rows = []
        for prefix in prefixes:
            key = [self.seed, len(prefix), *(int(i) for i in prefix)]
            z = -np.abs(np.random.default_rng(key).normal(size=3)) * 0.05 - 3
            z[2] = -40.0 if len(prefix) < 6 else -0.01
            rows.append(z)
        return np.array(rows).astype(self.dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_exact_search_sums_float16_and_float32_rows_in_float64(dtype):
    # before: path costs were summed in the model's dtype (NumPy 2 promotion
    # of float - float16), so 77 of 400 float16 models got a worse sequence
    # marked proven optimal. Expected: the brute-force best, summed in float64
    for seed in range(40):
        model = _NearTies(seed, dtype)
        result = exact_search(model, [], max_tokens=7)
        want_total, want_ids = max(enumerate_sequences(model, [], 7))
        assert result.proven_optimal
        assert (result.best.total, result.best.ids) == (want_total, want_ids), seed


class _FlatTwo:
    """Two tokens at 1/2 each; ``eos_id`` and the output type are set per test."""

    vocab = ("a", "b")

    def __init__(self, eos_id=1, convert=None):
        self.eos_id, self.convert = eos_id, convert

    def next_logprobs(self, prefixes):
        rows = np.log(np.full((len(prefixes), 2), 0.5))
        return rows if self.convert is None else self.convert(rows)


@pytest.mark.parametrize(
    "eos_id, message",
    [
        # before: IndexError / TypeError, or (out of range) accepted silently
        # so that no sequence could finish
        (1.0, r"model.eos_id must be a token id, got 1.0"),
        (None, r"model.eos_id must be a token id, got None"),
        ("1", r"model.eos_id must be a token id, got '1'"),
        (-1, r"model.eos_id = -1 is outside the vocabulary \[0, 2\)"),
        (2, r"model.eos_id = 2 is outside the vocabulary \[0, 2\)"),
    ],
)
def test_a_bad_eos_id_is_an_error_for_every_decoder(eos_id, message):
    model = _FlatTwo(eos_id)
    for decode in (
        lambda: greedy(model, [], 3),
        lambda: beam_search(model, [], 3, 2),
        lambda: exact_search(model, [], 3),
        lambda: sample(model, [], 3, rng=np.random.default_rng(0)),
    ):
        with pytest.raises(InvalidInputError, match=message):
            decode()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: beam_search(m, [], 3, length_penalty="x"), "length_penalty must"),
        (lambda m: beam_search(m, [], 3, length_penalty=None), "length_penalty must"),
        (
            lambda m: sample(m, [], 3, top_p="a", rng=np.random.default_rng(0)),
            r"top_p must be in \(0, 1\]",
        ),
    ],
)
def test_decoder_settings_of_the_wrong_type_are_errors(call, message):
    # before: bare ValueError / TypeError from float()
    with pytest.raises(InvalidInputError, match=message):
        call(_FlatTwo())


def test_an_output_numpy_cannot_read_is_an_error():
    # e.g. a torch bfloat16 tensor; before: a bare TypeError
    class Unreadable:
        def __array__(self, dtype=None, copy=None):
            raise TypeError("Got unsupported ScalarType BFloat16")

    model = _FlatTwo(convert=lambda rows: Unreadable())
    with pytest.raises(InvalidInputError, match="could not be read as an array"):
        greedy(model, [], 3)


def test_finished_is_a_python_bool_with_a_numpy_eos_id():
    # before: np.True_ from the single-prompt decoders, bool from the batch
    model = _FlatTwo(np.int64(1))
    assert type(greedy(model, [], 3).finished) is bool
    assert type(beam_search(model, [], 3, 2).best.finished) is bool
