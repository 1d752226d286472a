"""Gumbel-top-k sampling of Plackett-Luce rankings."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqscore import InvalidInputError
from seqscore.plackett_luce import ranking_log_likelihoods, sample
from tests.strategies import pl_scores


@given(pl_scores(1, 9, magnitude=1e3), st.integers(0, 20), st.data())
def test_rows_are_distinct_items(scores, size, data):
    n = len(scores)
    k = data.draw(st.integers(1, n))
    drawn = sample(scores, size, k, rng=data.draw(st.integers(0, 2**32)))
    assert drawn.shape == (size, k) and drawn.dtype == np.int64
    assert np.all((drawn >= 0) & (drawn < n))
    for row in drawn:
        assert len(set(row.tolist())) == k


def test_same_seed_same_rankings_and_generators_are_accepted():
    scores = np.linspace(-1, 1, 6)
    a = sample(scores, 50, rng=123)
    b = sample(scores, 50, rng=np.random.default_rng(123))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, sample(scores, 50, rng=124))


def _chi_square(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = counts.sum() * probs
    return float(((counts - expected) ** 2 / expected).sum())


def test_full_rankings_follow_plackett_luce():
    # 6 orderings of worths 3, 2, 1: the frequencies of 60,000 samples (seed
    # fixed) must fit the exact probabilities. chi2 with 5 df exceeds 25 with
    # probability 1.4e-4, so a wrong sampler fails and a right one passes.
    scores = np.log([3.0, 2.0, 1.0])
    orderings = list(itertools.permutations(range(3)))
    drawn = sample(scores, 60_000, rng=2024)
    codes = drawn @ np.array([9, 3, 1])
    counts = np.array([np.sum(codes == 9 * a + 3 * b + c) for a, b, c in orderings])
    probs = np.exp(ranking_log_likelihoods(scores, orderings))
    assert _chi_square(counts, probs) < 25.0


def test_top_k_prefixes_follow_plackett_luce():
    # 12 ordered pairs out of 4 items; chi2 with 11 df exceeds 40 with
    # probability 3e-5.
    scores = np.array([1.0, 0.0, -0.5, 0.7])
    pairs = list(itertools.permutations(range(4), 2))
    drawn = sample(scores, 60_000, k=2, rng=7)
    codes = drawn[:, 0] * 4 + drawn[:, 1]
    counts = np.array([np.sum(codes == 4 * a + b) for a, b in pairs])
    probs = np.exp(ranking_log_likelihoods(scores, pairs, universe="all"))
    assert _chi_square(counts, probs) < 40.0


def test_shift_of_scores_changes_nothing():
    scores = np.array([0.2, -1.0, 3.0])
    np.testing.assert_array_equal(
        sample(scores, 100, rng=5), sample(scores + 7.0, 100, rng=5)
    )


@pytest.mark.parametrize(
    ("size", "k", "rng", "message"),
    [
        (-1, None, 0, "size must be an integer >= 0"),
        (2.5, None, 0, "size must be an integer >= 0"),
        (3, 0, 0, r"k must be an integer in \[1, 3\]"),
        (3, 4, 0, r"k must be an integer in \[1, 3\]"),
        (3, None, None, "rng must be a numpy Generator or an integer seed"),
        (3, None, 1.5, "rng must be a numpy Generator or an integer seed"),
        # numpy's own ValueError for a negative seed used to escape raw
        (3, None, -1, "rng: a seed must be an integer >= 0, got -1"),
        (3, None, np.int64(-5), "a seed must be an integer >= 0"),
    ],
)
def test_bad_arguments(size, k, rng, message):
    with pytest.raises(InvalidInputError, match=message):
        sample([0.0, 1.0, 2.0], size, k, rng=rng)


def test_rng_is_required():
    with pytest.raises(TypeError):
        sample([0.0, 1.0], 3)  # no hidden global randomness


def test_sampling_large_scores_keeps_the_noise():
    # before: 1e20 + gumbel == 1e20, so equal scores always ranked item 0
    # first. Expected: 1/3 each (binomial sd 82 of 30,000: allow 5 sd), and
    # P(0 first) = sigmoid(2) = 0.8808 for scores 2 apart at 1e16 (sd 0.001)
    first = np.bincount(sample([1e20] * 3, 30_000, rng=0)[:, 0], minlength=3)
    assert np.all(np.abs(first - 10_000) < 5 * 82), first
    top = sample([1e16 + 2, 1e16], 100_000, rng=0)[:, 0]
    assert abs((top == 0).mean() - 1 / (1 + np.exp(-2))) < 0.005
