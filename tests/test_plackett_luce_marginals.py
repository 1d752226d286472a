"""Exact rank marginals, top-k probabilities and expected ranks."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqscore import InvalidInputError, softmax
from seqscore.plackett_luce import (
    expected_ranks,
    marginal_rank_probabilities,
    ranking_log_likelihoods,
    top_k_probabilities,
)

from . import plackett_luce_reference as ref
from .strategies import pl_scores

SCORE_SETS = [
    np.array([0.0]),
    np.array([0.4, -0.3]),
    np.log([3.0, 2.0, 1.0]),
    np.array([2.0, 2.0, 2.0, 2.0]),  # ties: every position 1/4
    np.array([1.5, -0.2, 0.3, 0.0, -2.0]),
    np.array([30.0, 0.0, -25.0, 5.0, 1.0, -3.0]),  # wide spread
]


@pytest.mark.parametrize("scores", SCORE_SETS)
def test_exact_recursion_matches_enumeration_relatively(scores):
    expected = ref.marginals(scores)
    got = marginal_rank_probabilities(scores, method="subsets")
    # relative accuracy even for tiny entries such as e^-55
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=0)


@pytest.mark.parametrize("scores", SCORE_SETS)
def test_race_integral_matches_enumeration_absolutely(scores):
    expected = ref.marginals(scores)
    got = marginal_rank_probabilities(scores, method="race")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13)


def test_twenty_items_both_methods_agree_and_rows_and_columns_sum_to_one():
    scores = np.random.default_rng(20).normal(size=20) * 1.5
    exact = marginal_rank_probabilities(scores)  # auto: the subset recursion
    race = marginal_rank_probabilities(scores, method="race")
    np.testing.assert_allclose(race, exact, atol=1e-13)
    np.testing.assert_allclose(exact.sum(axis=0), 1.0, atol=1e-13)
    np.testing.assert_allclose(exact.sum(axis=1), 1.0, atol=1e-13)
    np.testing.assert_allclose(exact[:, 0], softmax(scores), rtol=1e-12)


@pytest.mark.parametrize("n", [40, 150])
def test_many_items_by_the_race_integral(n):
    # Near-equal scores make the sharpest integrands; the first column is the
    # softmax in closed form, and the matrix is doubly stochastic.
    scores = np.random.default_rng(n).normal(size=n) * 0.05
    P = marginal_rank_probabilities(scores)
    np.testing.assert_allclose(P[:, 0], softmax(scores), atol=1e-13)
    np.testing.assert_allclose(P.sum(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    expected = (P * np.arange(1, n + 1)).sum(axis=1)
    np.testing.assert_allclose(expected_ranks(scores), expected, atol=1e-9)


@pytest.mark.parametrize(("n", "k"), [(4, 1), (4, 2), (5, 3), (6, 6)])
def test_top_k_matches_enumeration_of_prefixes(n, k):
    scores = np.random.default_rng(n * 10 + k).normal(size=n) * 2
    prefixes = np.array(list(itertools.permutations(range(n), k)))
    probs = np.exp(ranking_log_likelihoods(scores, prefixes, universe="all"))
    expected = np.array([probs[(prefixes == i).any(axis=1)].sum() for i in range(n)])
    for method in ("subsets", "race"):
        got = top_k_probabilities(scores, k, method=method)
        np.testing.assert_allclose(got, expected, atol=1e-13)
        assert got.sum() == pytest.approx(k, abs=1e-12)


@given(pl_scores(1, 7, magnitude=30.0), st.floats(-1e3, 1e3))
def test_shift_invariance_and_permutation_equivariance(scores, shift):
    P = marginal_rank_probabilities(scores)
    np.testing.assert_allclose(
        marginal_rank_probabilities(scores + shift), P, rtol=1e-9, atol=1e-15
    )
    order = np.argsort(-scores, kind="stable")
    np.testing.assert_allclose(
        marginal_rank_probabilities(scores[order]), P[order], rtol=1e-9, atol=1e-15
    )


@given(pl_scores(1, 7, magnitude=30.0))
def test_expected_ranks_are_the_marginal_means(scores):
    P = (
        ref.marginals(scores)
        if len(scores) <= 5
        else marginal_rank_probabilities(scores)
    )
    ranks = np.arange(1, len(scores) + 1)
    np.testing.assert_allclose(expected_ranks(scores), P @ ranks, rtol=1e-10)


def test_methods_and_sizes_are_checked():
    with pytest.raises(InvalidInputError, match="method must be one of"):
        marginal_rank_probabilities([0.0, 1.0], method="sampling")
    with pytest.raises(InvalidInputError, match="'subsets' handles up to 24 items"):
        marginal_rank_probabilities(np.zeros(25), method="subsets")
    with pytest.raises(InvalidInputError, match=r"k must be an integer in \[1, 2\]"):
        top_k_probabilities([0.0, 1.0], 3)
    with pytest.raises(InvalidInputError, match=r"scores\[0\] is -inf"):
        marginal_rank_probabilities([-np.inf, 0.0])
