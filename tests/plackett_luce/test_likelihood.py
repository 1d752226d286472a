"""Plackett-Luce probabilities, log-likelihood, gradient and Hessian."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqscore import InvalidInputError, ShapeError, softmax
from seqscore.plackett_luce import (
    gradient,
    hessian,
    hessian_vector_product,
    log_likelihood,
    pad_rankings,
    ranking_log_likelihoods,
    selection_probabilities,
)
from tests import plackett_luce_reference as ref
from tests.strategies import pl_problems, pl_scores


def _rng(seed=0):
    return np.random.default_rng(seed)


# --- enumeration ------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_all_full_orderings_sum_to_one(n):
    scores = _rng(n).normal(size=n) * 3
    orderings = np.array(list(itertools.permutations(range(n))))
    total = np.exp(ranking_log_likelihoods(scores, orderings)).sum()
    assert total == pytest.approx(1.0, abs=1e-13)


@pytest.mark.parametrize(("n", "k"), [(4, 1), (4, 2), (5, 3), (5, 4)])
def test_top_k_prefixes_sum_to_one_and_marginalise_full_orderings(n, k):
    scores = _rng(10 + n).normal(size=n) * 2
    prefixes = np.array(list(itertools.permutations(range(n), k)))
    probs = np.exp(ranking_log_likelihoods(scores, prefixes, universe="all"))
    assert probs.sum() == pytest.approx(1.0, abs=1e-13)
    full = ref.ordering_probabilities(scores)
    for prefix, p in zip(prefixes, probs, strict=True):
        extending = sum(q for perm, q in full.items() if perm[:k] == tuple(prefix))
        assert p == pytest.approx(extending, rel=1e-12)


def test_sub_ranking_is_the_order_of_its_items_within_full_orderings():
    # Luce's choice axiom: the order of a subset inside a full PL ranking is
    # itself PL on the subset, which is what universe="listed" computes.
    scores = np.array([0.3, -1.2, 2.0, 0.0, 0.9])
    full = ref.ordering_probabilities(scores)
    for subset in ([4, 1, 2], [2, 0], [3, 1, 0, 4]):
        expected = sum(
            p for perm, p in full.items() if [i for i in perm if i in subset] == subset
        )
        got = np.exp(ranking_log_likelihoods(scores, [subset], universe="listed"))[0]
        assert got == pytest.approx(expected, rel=1e-12)


def test_closed_forms_and_huge_scores():
    # Worths 3, 2, 1: P(0, 1, 2) = 3/6 * 2/3 and P(2 first) = 1/6 (top-1).
    s = np.log([3.0, 2.0, 1.0])
    assert np.exp(ranking_log_likelihoods(s, [[0, 1, 2]]))[0] == pytest.approx(1 / 3)
    assert np.exp(
        ranking_log_likelihoods(s, [[2]], universe="all")[0]
    ) == pytest.approx(1 / 6)
    # Scores 1000 apart: log P(1 before 0) = -1000 - log(1 + e^-1000) = -1000,
    # and the next stage is a certainty (log 1 = 0), never inf - inf.
    assert ranking_log_likelihoods([1000.0, 0.0], [[1, 0]])[0] == -1000.0
    assert ranking_log_likelihoods([0.0, -1e5, -2e5], [[0, 1, 2]])[0] == 0.0
    worst = ranking_log_likelihoods([0.0, -1e5, -2e5], [[2, 1, 0]])[0]
    assert worst == pytest.approx(-3e5, rel=1e-15)  # -2e5 - 1e5 exactly


def test_single_item_and_empty_rankings_have_probability_one():
    out = ranking_log_likelihoods([1.0, 2.0], [[1, -1], [-1, -1]], universe="listed")
    assert out.tolist() == [0.0, 0.0]


@given(pl_problems())
def test_matches_reference_implementation(problem):
    scores, rankings, universe = problem
    got = ranking_log_likelihoods(scores, rankings, universe=universe)
    expected = [
        ref.log_prob(scores, r, ref.universe_of(r, len(scores), universe, i))
        for i, r in enumerate(rankings)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-9)


@given(pl_problems(), st.floats(-1e4, 1e4))
def test_shift_invariance(problem, shift):
    scores, rankings, universe = problem
    a = ranking_log_likelihoods(scores, rankings, universe=universe)
    b = ranking_log_likelihoods(scores + shift, rankings, universe=universe)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-7)


@given(pl_scores(2, 8), st.floats(1e-3, 1e3))
def test_selection_probabilities_are_the_softmax(scores, temperature):
    got = selection_probabilities(scores, temperature)
    np.testing.assert_array_equal(got, softmax(scores, temperature=temperature))
    assert got.sum() == pytest.approx(1.0)


def test_weights_count_rankings():
    scores = np.array([0.5, -0.2, 0.1, 0.0])
    rankings = np.array([[0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2]])
    weighted = log_likelihood(scores, rankings, weights=[2.0, 0.0, 3.0])
    repeated = log_likelihood(scores, rankings[[0, 0, 2, 2, 2]])
    assert weighted == pytest.approx(repeated, rel=1e-14)


def test_ragged_lists_equal_padded_arrays():
    lists = [[2, 0, 1], [1], []]
    padded = pad_rankings(lists)
    scores = [0.1, 0.2, 0.3]
    a = ranking_log_likelihoods(scores, lists, universe="all")
    b = ranking_log_likelihoods(scores, padded, universe="all")
    np.testing.assert_array_equal(a, b)


def test_mask_universes_agree_with_named_universes():
    scores = _rng(3).normal(size=5)
    rankings = np.array([[4, 2, -1], [0, 1, 3]])
    everything = np.ones((2, 5), bool)
    only_listed = np.zeros((2, 5), bool)
    only_listed[0, [4, 2]] = only_listed[1, [0, 1, 3]] = True
    np.testing.assert_allclose(
        ranking_log_likelihoods(scores, rankings, universe=everything),
        ranking_log_likelihoods(scores, rankings, universe="all"),
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        ranking_log_likelihoods(scores, rankings, universe=only_listed),
        ranking_log_likelihoods(scores, rankings, universe="listed"),
        rtol=1e-14,
    )


# --- derivatives ------------------------------------------------------------


def _derivative_problem(universe_kind):
    rng = _rng(42)
    n = 6
    scores = rng.normal(size=n) * 1.5
    rankings = pad_rankings(
        [[0, 1, 2, 3, 4, 5], [3, 1], [5, 4, 2], [1], [2, 0, 4, 1, 3], []]
    )
    weights = rng.uniform(0.2, 2.0, size=len(rankings))
    if universe_kind == "mask":
        universe = rng.random((len(rankings), n)) < 0.6
        for i, row in enumerate(rankings):
            universe[i, row[row >= 0]] = True
    else:
        universe = universe_kind
    return scores, rankings, weights, universe


@pytest.mark.parametrize("kind", ["listed", "all", "mask"])
def test_gradient_matches_central_differences(kind):
    scores, rankings, weights, universe = _derivative_problem(kind)
    g = gradient(scores, rankings, weights, universe=universe)
    h = 1e-6
    numeric = [
        (
            log_likelihood(scores + h * e, rankings, weights, universe=universe)
            - log_likelihood(scores - h * e, rankings, weights, universe=universe)
        )
        / (2 * h)
        for e in np.eye(len(scores))
    ]
    np.testing.assert_allclose(g, numeric, atol=1e-7)
    assert abs(g.sum()) < 1e-12  # shift invariance


@pytest.mark.parametrize("kind", ["listed", "all", "mask"])
def test_hessian_matches_differences_of_the_gradient(kind):
    scores, rankings, weights, universe = _derivative_problem(kind)
    H = hessian(scores, rankings, weights, universe=universe)
    h = 1e-6
    numeric = np.array(
        [
            (
                gradient(scores + h * e, rankings, weights, universe=universe)
                - gradient(scores - h * e, rankings, weights, universe=universe)
            )
            / (2 * h)
            for e in np.eye(len(scores))
        ]
    )
    np.testing.assert_allclose(H, numeric, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-15)
    np.testing.assert_allclose(H.sum(axis=1), 0.0, atol=1e-12)
    assert np.linalg.eigvalsh(H).max() < 1e-12  # concave


@pytest.mark.parametrize("kind", ["listed", "all", "mask"])
def test_hessian_vector_product_matches_dense_hessian(kind):
    scores, rankings, weights, universe = _derivative_problem(kind)
    H = hessian(scores, rankings, weights, universe=universe)
    for v in _rng(7).normal(size=(4, len(scores))):
        hv = hessian_vector_product(scores, rankings, v, weights, universe=universe)
        np.testing.assert_allclose(hv, H @ v, atol=1e-13)


@given(pl_problems(magnitude=1e4))
def test_derivatives_stay_finite_and_consistent_at_any_magnitude(problem):
    scores, rankings, universe = problem
    g = gradient(scores, rankings, universe=universe)
    H = hessian(scores, rankings, universe=universe)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(H))
    v = np.linspace(-1.0, 1.0, len(scores))
    hv = hessian_vector_product(scores, rankings, v, universe=universe)
    np.testing.assert_allclose(hv, H @ v, atol=1e-9)
    # every entry is a sum of probabilities or their products: bounded
    assert np.abs(H).max() <= len(rankings) * rankings.shape[1] + 1e-9


# --- input checks -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rankings", "universe", "message"),
    [
        ([[0, 3]], "listed", r"rankings\[0, 1\] = 3 is not an item id in \[0, 3\)"),
        ([[0, -1, 1]], "listed", r"rankings\[0, 2\] = 1 follows a -1"),
        ([[0, 1, 0]], None, r"rankings\[0\] lists item 0 more than once"),
        ([[0, 1]], None, r"rankings\[0\] lists 2 of 3 items.*universe='listed'"),
        ([[0, 1]], "some", r"universe must be 'listed', 'all'"),
        ([[0.5, 1.0]], "listed", "integer item ids"),
    ],
)
def test_bad_rankings_are_named(rankings, universe, message):
    with pytest.raises(InvalidInputError, match=message):
        log_likelihood([0.0, 1.0, 2.0], rankings, universe=universe)


def test_bad_scores_weights_and_masks_are_named():
    with pytest.raises(InvalidInputError, match=r"scores\[1\] is nan"):
        log_likelihood([0.0, np.nan], [[0, 1]])
    with pytest.raises(InvalidInputError, match=r"scores\[0\] is inf"):
        selection_probabilities([np.inf, 0.0])
    with pytest.raises(InvalidInputError, match=r"weights\[1\] = -1.0"):
        log_likelihood([0.0, 1.0], [[0, 1], [1, 0]], weights=[1.0, -1.0])
    with pytest.raises(ShapeError, match="one entry per ranking"):
        log_likelihood([0.0, 1.0], [[0, 1]], weights=[1.0, 1.0])
    with pytest.raises(ShapeError, match=r"shape \(rankings, items\) = \(1, 2\)"):
        log_likelihood([0.0, 1.0], [[0]], universe=np.ones((2, 2), bool))
    with pytest.raises(InvalidInputError, match=r"not in universe\[0\]"):
        log_likelihood([0.0, 1.0], [[0]], universe=np.array([[False, True]]))
    with pytest.raises(ShapeError, match="scores must be 1-D"):
        log_likelihood([[0.0, 1.0]], [[0, 1]])


def test_hessian_of_huge_scores_is_that_of_the_centred_scores():
    # the Hessian is unchanged by adding a constant to every score; scores
    # near 1e308 would overflow its terms, so they are centred first.
    # Expected values are closed forms: scores 1e300 apart make every choice
    # probability exactly 0 or 1, so the Hessian is 0; scores closer than
    # the float spacing at 1e308 are equal, so it is that of equal scores.
    rankings = [[0, 1, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0]]
    spread = 1e308 - np.array([0.0, 1.0, 2.0, 3.0]) * 1e300
    # (to 1e-12: see test_curvature_of_widely_spread_scores_is_exact)
    np.testing.assert_allclose(hessian(spread, rankings), 0, rtol=0, atol=1e-12)
    vector = np.array([1.0, -2.0, 0.5, 3.0])
    np.testing.assert_allclose(
        hessian_vector_product(spread, rankings, vector), 0, rtol=0, atol=1e-12
    )
    equal = np.full(4, 1e308)
    np.testing.assert_array_equal(
        hessian(equal, rankings), hessian(np.zeros(4), rankings)
    )
    np.testing.assert_array_equal(
        hessian_vector_product(equal, rankings, vector),
        hessian_vector_product(np.zeros(4), rankings, vector),
    )


@pytest.mark.parametrize("scale", [1e4, 1e12, 1e20, 1e300])
def test_curvature_of_widely_spread_scores_is_exact(scale):
    # before: NaN everywhere at 1e300; H v of [0, 2, 0.5, 0] instead of 0 at
    # 1e300, and errors of 2e-6 at a spread of 1e10, from cancellation in
    # exp(s_a + s_b - 2 D). Expected (closed form): items a gap of `scale`
    # apart are chosen with probability exactly 0 or 1, so within each group
    # of equal scores the Hessian is that of equal scores and 0 across groups
    rankings = [[0, 1, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0], [1, 0, 3, 2]]
    scores = np.array([1.0, 1.0, 0.0, 0.0]) * scale
    vector = np.array([1.0, -2.0, 0.5, 3.0])
    # a stage holding two equal items and nothing else of their score adds
    # -p(1 - p) = -1/4 to their diagonal and +1/4 off it; counting stages,
    # ranking by ranking (stage sets in order): {0, 1} is such a pair in
    # 1 + 2 + 3 + 1 = 7 stages, {2, 3} in 1 + 0 + 0 + 1 = 2
    pair = np.array([[-0.25, 0.25], [0.25, -0.25]])
    want = np.zeros((4, 4))
    want[:2, :2] = 7 * pair
    want[2:, 2:] = 2 * pair
    # tolerance: the terms are exponents of sums of scores up to 3,000 apart
    # after the gaps are capped, exact to about 3000 * 2**-52 = 7e-13
    np.testing.assert_allclose(hessian(scores, rankings), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        hessian_vector_product(scores, rankings, vector),
        want @ vector,
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    "scores, rankings, want",
    [
        # expected: per-stage softmax by hand. Before: [0, 1, 0] (the 1e300
        # case), gradients not summing to 0 at 1e15, [0, -1] at 1e16
        ([1e300, -1e300, -1e300], [[1, 0, 2]], [-1.0, 1.0, 0.0]),
        ([1e15 + 1, 1e15], [[0, 1]], [1 - 1 / (1 + np.exp(-1)), -0.2689414213699951]),
        ([1e16, 1e16], [[0, 1]], [0.5, -0.5]),
        ([2e10, 2e10], [[0, 1]], [0.5, -0.5]),
    ],
)
def test_gradient_of_large_scores(scores, rankings, want):
    np.testing.assert_allclose(gradient(scores, rankings), want, rtol=1e-12, atol=0)


def test_log_likelihood_of_large_equal_scores_is_that_of_equal_scores():
    # shift invariance: equal scores of any size give -log(n!) for a full
    # ranking. Before: 0 at 1e16 and 1e300, an error of 1.4e-6 at 2e10
    for size in (2e10, 1e16, 1e300):
        got = ranking_log_likelihoods([size] * 3, [[0, 1, 2]])
        np.testing.assert_allclose(got, [-np.log(6)], rtol=1e-15)
    assert log_likelihood([2e10, 2e10], [[0, 1]]) == pytest.approx(-np.log(2), 1e-15)


@pytest.mark.parametrize(
    "rankings, message",
    [
        # before: [2.9] in a ragged list was read as [2] (a rectangular
        # float array was already an error); the others raised a bare
        # TypeError or ValueError
        ([[0, 1, 2], [2.9]], r"rankings\[1\] holds float64 values"),
        ([[1.7]], r"integer item ids, got dtype float64"),  # rectangular
        ([[0, None], [1]], r"rankings\[0\] holds object values"),
        ([[0, 10**30], [1]], r"rankings\[0\] holds object values"),
        ([[True, 0], [1]], r"rankings\[0\] holds object values"),
        (["ab", [0]], r"rankings\[0\] = 'ab' is not a sequence"),
        ([[[1, 2]], [0]], r"rankings\[0\] must be a flat sequence"),
        (None, "rankings must be a sequence of rankings"),
        ({0: 1}, "rankings must be a sequence of rankings"),
    ],
)
def test_ragged_rankings_of_non_integers_are_errors(rankings, message):
    with pytest.raises(InvalidInputError, match=message):
        log_likelihood([0.0, 1.0, 2.0], rankings, universe="all")


def test_pad_rankings_rejects_fractional_ids():
    # before: pad_rankings([[1.7]]) returned [[1]]
    with pytest.raises(InvalidInputError, match=r"rankings\[0\] holds float64"):
        pad_rankings([[1.7]])


def test_rankings_may_come_from_a_generator():
    # expected: the same as the list they would make
    want = log_likelihood([0.0, 1.0], [[0, 1], [1, 0]])
    assert log_likelihood([0.0, 1.0], ([0, 1], [1, 0])) == want
    assert log_likelihood([0.0, 1.0], (r for r in ([0, 1], [1, 0]))) == want


def test_an_empty_list_is_no_rankings():
    # before: read as one empty ranking ("rankings[0] lists 0 of 3 items");
    # expected: the empty sum, 0
    assert log_likelihood([0.0, 1.0, 2.0], []) == 0.0
    assert ranking_log_likelihoods([0.0, 1.0, 2.0], []).shape == (0,)
