"""Exact rank marginals, top-k probabilities and expected ranks."""

import decimal
import itertools
import warnings

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
from tests import plackett_luce_reference as ref
from tests.strategies import pl_scores

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


# --- Widely spread scores (QA: NaN beyond 20 items once the spread passed 709,
# MemoryError at 1e6, "Maximum allowed size exceeded" at 1e308) ----------------


def _exact_marginals(scores, digits=60):
    """``P[i, r]`` over all ``n!`` orderings in 60-digit decimal arithmetic.

    Independent of seqscore and of float64: the worths are ``exp(s)`` to 60
    digits (``decimal`` handles ``e^-1500`` exactly as well as ``e^0``), and
    each denominator is summed afresh (never by subtracting a chosen worth,
    which would cancel catastrophically). Correctly rounded to float64.
    """
    context = decimal.Context(prec=digits)
    worths = [context.exp(decimal.Decimal(float(s))) for s in scores]
    n = len(worths)
    out = [[decimal.Decimal(0)] * n for _ in range(n)]
    for perm in itertools.permutations(range(n)):
        prob = decimal.Decimal(1)
        for r, item in enumerate(perm):
            left = sum((worths[j] for j in perm[r:]), decimal.Decimal(0))
            prob = context.divide(context.multiply(prob, worths[item]), left)
        for r, item in enumerate(perm):
            out[item][r] += prob
    return np.array([[float(x) for x in row] for row in out])


@pytest.mark.parametrize("spread", [750.0, 1e6, 1e308])
def test_one_item_far_above_twenty_others(spread):
    # The top item beats each other with probability 1 - e^-spread (1 in
    # float64), so it is first for sure; the 20 tied items are exchangeable,
    # so each takes each of the places 2..21 with probability 1/20.
    scores = np.zeros(21)
    scores[0] = spread
    expected = np.zeros((21, 21))
    expected[0, 0] = 1.0
    expected[1:, 1:] = 1 / 20
    P = marginal_rank_probabilities(scores)
    np.testing.assert_allclose(P, expected, rtol=0, atol=1e-14)
    np.testing.assert_allclose(
        top_k_probabilities(scores, 3), [1.0] + [2 / 20] * 20, atol=1e-14
    )
    race = marginal_rank_probabilities(scores, method="race")
    np.testing.assert_allclose(race, expected, rtol=0, atol=1e-13)


SEPARATED = [
    np.array([0.0, -700.0, -1400.0]),
    np.array([0.0, -5.0, -700.0, -705.0, -1500.0, 3.0, -2.0]),
    np.array([750.0, 0.0, 0.0, 1.0, -760.0, -761.5, -1521.0]),
    np.array([1e6, 0.0, -1e6, 2.5, 1.5]),
    np.array([0.0, -40.0, -80.0, -120.0, -160.0, -200.0, -240.0]),
    np.array([-909.09814996, -927.18830021, -733.1, -682.39, -1000.5, -1020.25]),
]


@pytest.mark.parametrize("scores", SEPARATED)
def test_separated_scores_match_exact_enumeration(scores):
    # The reference enumerates the n! orderings in 60-digit arithmetic. The
    # subset recursion is relatively exact: it never subtracts two large
    # log-worths (s_i - log R(T) at -909 was off by 8e-14).
    expected = _exact_marginals(scores)
    subsets = marginal_rank_probabilities(scores, method="subsets")
    np.testing.assert_allclose(subsets, expected, rtol=1e-14, atol=1e-300)
    race = marginal_rank_probabilities(scores, method="race")
    np.testing.assert_allclose(race, expected, rtol=0, atol=1e-14)


def test_a_long_chain_of_700_nat_gaps_by_both_methods():
    # 20 items 700 apart (a spread of 13,300, one group: no gap is 760) and
    # 5 clusters of 4 near-equal items 700 apart. The subset recursion is
    # exact to rounding (checked against enumeration above); the race
    # integral must agree with it to its absolute accuracy.
    rng = np.random.default_rng(700)
    chain = -700.0 * np.arange(20) + rng.normal(size=20)
    clusters = -700.0 * np.repeat(np.arange(5), 4) + rng.normal(size=20)
    for scores in (chain, clusters):
        exact = marginal_rank_probabilities(scores, method="subsets")
        race = marginal_rank_probabilities(scores, method="race")
        np.testing.assert_allclose(race, exact, rtol=0, atol=1e-13)
        for k in (1, 3, 7):  # the first positions only (products, not division)
            np.testing.assert_allclose(
                marginal_rank_probabilities(scores, method="race", positions=k),
                exact[:, :k],
                rtol=0,
                atol=1e-13,
            )


def test_thirty_items_in_clusters_700_apart():
    # Six clusters of five near-equal items, 700 nats apart (one group of 30:
    # the race integral). An item of a lower cluster is ranked above one of a
    # higher cluster with probability below 25 e^-690 (0 in float64), so P is
    # block-diagonal and each block is its cluster's marginals, enumerated
    # exactly over 5! orderings.
    rng = np.random.default_rng(30)
    offsets = rng.normal(size=(6, 5))
    scores = (-700.0 * np.arange(6)[:, None] + offsets).ravel()
    expected = np.zeros((30, 30))
    for c in range(6):
        block = slice(5 * c, 5 * c + 5)
        expected[block, block] = _exact_marginals(offsets[c])
    P = marginal_rank_probabilities(scores)
    np.testing.assert_allclose(P, expected, rtol=0, atol=1e-13)


def test_hundreds_of_widely_spread_items_are_cheap_and_doubly_stochastic():
    # Scores 1e4 apart on average: the old grid had ~(spread + 42) / h nodes
    # (about 10^8 here). The first column is the softmax in closed form.
    scores = np.random.default_rng(5).normal(size=300) * 1e4
    P = marginal_rank_probabilities(scores)
    np.testing.assert_allclose(P[:, 0], softmax(scores), atol=1e-13)
    np.testing.assert_allclose(P.sum(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)


def test_first_positions_only_are_the_first_columns():
    scores = np.random.default_rng(8).normal(size=60)
    full = marginal_rank_probabilities(scores)
    for k in (1, 4, 20, 60):
        first = marginal_rank_probabilities(scores, positions=k)
        assert first.shape == (60, k)
        np.testing.assert_allclose(first, full[:, :k], rtol=0, atol=1e-13)
    for bad in (0, 61, 2.5, "3", True):
        with pytest.raises(InvalidInputError, match=r"positions must be an integer"):
            marginal_rank_probabilities(scores, positions=bad)


def test_expected_ranks_past_the_float_range_without_warnings():
    # s_j - s_i overflows to +-inf for scores +-1e308; sigma of it is 1 or 0,
    # so the top item is first and the bottom one last for sure.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(expected_ranks([1e308, -1e308, 0.0]), [1, 3, 2])
