"""seqscore.numerics.totals: one sum rule for every total, and the laws it keeps.

The reference is written here, independently of numpy: a Python loop that
adds float64 values left to right from ``0.0``.
"""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from seqscore.decoding.beam import beam_search
from seqscore.decoding.greedy import greedy
from seqscore.decoding.sampling import sample
from seqscore.models.builtin import load_builtin
from seqscore.numerics.totals import row_totals, sequence_logprob
from seqscore.scoring.candidates import Candidate, TokenScores

logprob = st.floats(
    max_value=0.0, allow_nan=False, allow_infinity=True
) | st.sampled_from([-0.0, -1e-300, -5e-324, -1e308])
logprobs = st.lists(logprob, max_size=60)


def left_to_right(values) -> float:
    total = 0.0
    for x in values:
        total += x
    return total


@given(logprobs)
def test_the_total_is_the_left_to_right_sum_from_zero(values):
    assert _same(sequence_logprob(values), left_to_right(values))


@given(logprobs, logprob)
def test_extending_a_path_adds_its_step_to_the_total_bit_for_bit(values, step):
    with np.errstate(over="ignore"):
        assert _same(sequence_logprob([*values, step]), sequence_logprob(values) + step)


@given(logprobs)
def test_a_total_is_never_a_negative_zero(values):
    total = sequence_logprob(values)
    assert total != 0.0 or math.copysign(1.0, total) == 1.0


@given(st.lists(logprobs, min_size=1, max_size=6))
def test_row_totals_are_the_totals_of_each_row_bit_for_bit(rows):
    width = max(len(r) for r in rows)
    padded = np.full((len(rows), width), 7.0)  # padding must never be read
    for i, r in enumerate(rows):
        padded[i, : len(r)] = r
    got = row_totals(padded, np.array([len(r) for r in rows]))
    assert all(_same(g, sequence_logprob(r)) for g, r in zip(got, rows, strict=True))


def test_float32_steps_are_summed_in_float64():
    steps = np.full(10, -0.1, dtype=np.float32)
    assert sequence_logprob(steps) == left_to_right(steps.astype(np.float64).tolist())


def test_the_scorer_total_is_the_rule_from_eight_tokens_on():
    # numpy's pairwise np.sum gives -1.0 here: the scorer no longer uses it
    steps = [-0.1] * 10
    assert Candidate("c", TokenScores(steps)).total == -0.9999999999999999
    assert float(np.sum(steps)) == -1.0


def test_every_decoder_total_is_the_rule_over_its_steps():
    model = load_builtin()
    prompt = model.encode("if the")
    paths = [
        *sample(model, prompt, 30, rng=np.random.default_rng(0), num_samples=8),
        *beam_search(model, prompt, 12, width=3, length_penalty=0.0).hypotheses,
    ]
    assert any(len(d.ids) >= 8 for d in paths)  # where pairwise and this part
    for decoded in paths:
        assert decoded.total == left_to_right(decoded.logprobs)


def test_a_decoded_path_totalled_by_the_scorer_gets_the_same_bits():
    """Greedy and sampled paths of 8+ tokens: the scorer's total of the
    decoder's step log-probs is the decoder's total, bit for bit.

    (Teacher forcing the same path reads each step again through the token
    kernel, which renormalises the model's float32 row in float64: its step
    values may differ from the decoder's in the float32 rounding.)"""
    model = load_builtin()
    prompt = model.encode("if the")
    paths = [
        greedy(model, prompt, 20),
        *sample(model, prompt, 30, rng=np.random.default_rng(1), num_samples=6),
    ]
    paths = [p for p in paths if len(p.ids) >= 8]
    assert paths
    for path in paths:
        assert Candidate("c", TokenScores(path.logprobs)).total == path.total


def _same(a: float, b: float) -> bool:
    """Equal as bits: ``-0.0`` is not ``0.0``, and NaN never occurs."""
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
