"""Fitting worths: maximality, recovery within error bars, priors, NASCAR."""

import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit

from seqscore import InvalidInputError, NoEstimateError
from seqscore.formats.rankings import read_rankings
from seqscore.plackett_luce import _information as information
from seqscore.plackett_luce import (
    fit,
    fitting,
    gradient,
    hessian,
    log_likelihood,
    pad_rankings,
    sample,
)
from seqscore.plackett_luce.priors import make_prior
from tests import plackett_luce_reference as ref

NASCAR = Path(__file__).resolve().parents[2] / "fixtures" / "nascar2002.txt"


@pytest.fixture(scope="module")
def nascar():
    return read_rankings(str(NASCAR))


@pytest.fixture(scope="module")
def nascar_fit(nascar):
    return fit(
        nascar.rankings, len(nascar.items), universe="listed", items=nascar.items
    )


def _synthetic(seed=1, n=8, count=400, k=None):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    return truth - truth.mean(), sample(truth, count, k, rng=rng)


def _assert_is_maximum(result, rankings, universe, weights=None):
    best = log_likelihood(result.log_worth, rankings, weights, universe=universe)
    assert best == pytest.approx(result.log_likelihood, rel=1e-13)
    g = gradient(result.log_worth, rankings, weights, universe=universe)
    assert np.abs(g).max() < 1e-7
    rng = np.random.default_rng(0)
    n = len(result.log_worth)
    directions = np.vstack([np.eye(n), rng.normal(size=(20, n))])
    for d in directions:
        d = d / np.linalg.norm(d)
        for size in (1e-4, 1e-2, 1e-1, 1.0):
            for sign in (1.0, -1.0):
                moved = result.log_worth + sign * size * d
                value = log_likelihood(moved, rankings, weights, universe=universe)
                assert value <= best + 1e-9 * abs(best)


def test_synthetic_fit_is_a_maximum():
    _, rankings = _synthetic()
    result = fit(rankings)
    assert result.converged and result.prior is None
    assert abs(result.log_worth.mean()) < 1e-12
    _assert_is_maximum(result, rankings, None)


def test_nascar_fit_is_a_maximum(nascar, nascar_fit):
    assert nascar_fit.converged
    _assert_is_maximum(nascar_fit, nascar.rankings, "listed")


@pytest.mark.parametrize(
    ("name", "k", "universe", "subset"),
    [
        ("full rankings", None, None, None),
        ("top-3 of 8", 3, "all", None),
        ("sub-rankings of 4", None, "listed", 4),
    ],
)
def test_recovers_known_worths_within_error_bars(name, k, universe, subset):
    truth, rankings = _synthetic(seed=11, count=3000, k=k)
    if subset is not None:
        # The order of a random subset inside a PL ranking is PL on the subset.
        rng = np.random.default_rng(5)
        keep = np.argsort(rng.random(rankings.shape), axis=1)[:, :subset]
        rankings = np.take_along_axis(rankings, np.sort(keep, axis=1), axis=1)
    result = fit(rankings, 8, universe=universe)
    z = (result.log_worth - truth) / result.stderr
    assert np.abs(z).max() < 4.0, (name, z)
    assert result.stderr.max() < 0.1  # and the error bars are informative


def test_standard_errors_are_calibrated_over_replicates():
    # 60 independent data sets of 150 full rankings of 6 items: the z-scores
    # of all 360 estimates should have standard deviation near 1 (a 2x error
    # in the standard errors would give 0.5 or 2).
    rng = np.random.default_rng(99)
    truth = np.array([0.8, 0.4, 0.0, -0.1, -0.4, -0.7])
    truth = truth - truth.mean()
    z = []
    for _ in range(60):
        result = fit(sample(truth, 150, rng=rng))
        z.append((result.log_worth - truth) / result.stderr)
    spread = np.std(np.concatenate(z))
    assert 0.85 < spread < 1.15


def test_standard_errors_are_the_pseudo_inverse_of_the_information():
    _, rankings = _synthetic(seed=3, count=200)
    result = fit(rankings)
    information = -hessian(result.log_worth, rankings)
    covariance = np.linalg.pinv(information)  # mean-zero: the pseudo-inverse
    np.testing.assert_allclose(result.covariance, covariance, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(result.stderr, np.sqrt(np.diag(covariance)), rtol=1e-6)


def test_weights_are_repetitions():
    _, rankings = _synthetic(seed=4, count=60)
    weights = np.arange(60) % 3
    weighted = fit(rankings, weights=weights)
    repeated = fit(np.repeat(rankings, weights, axis=0))
    np.testing.assert_allclose(weighted.log_worth, repeated.log_worth, atol=1e-9)
    assert weighted.log_likelihood == pytest.approx(repeated.log_likelihood)


def test_agrees_with_choix_on_nascar(nascar, nascar_fit):
    # Computed once with choix 0.4.1: p = choix.ilsr_rankings(83, races);
    # p - p.mean() for drivers 58, 51 and 1, and our log_likelihood at p.
    choix_log_worth = {
        "58": 3.226139691321621,
        "51": 1.154733918465262,
        "1": -0.9215215271599846,
    }
    for driver, value in choix_log_worth.items():
        i = nascar.items.index(driver)
        assert nascar_fit.log_worth[i] == pytest.approx(value, abs=1e-7)
    assert nascar_fit.log_likelihood == pytest.approx(-4191.097284597257, abs=1e-8)


def test_nascar_one_race_drivers_are_finite_but_uncertain(nascar, nascar_fit):
    appearances = np.bincount(nascar.rankings[nascar.rankings >= 0], minlength=83)
    assert (appearances == 1).sum() == 15
    # Driver 58 finished 4th in his only race: the MLE ranks him first, with
    # a standard error six times that of a full-season driver (51).
    top = nascar_fit.items[nascar_fit.ranking()[0]]
    assert top == "58"
    i58, i51 = nascar.items.index("58"), nascar.items.index("51")
    assert nascar_fit.stderr[i58] > 6 * nascar_fit.stderr[i51]
    ghost = fit(
        nascar.rankings, 83, universe="listed", items=nascar.items, prior="ghost"
    )
    # The ghost prior pulls the one-race driver in and leaves 51 almost alone.
    assert ghost.log_worth[i58] < nascar_fit.log_worth[i58] - 0.5
    assert abs(ghost.log_worth[i51] - nascar_fit.log_worth[i51]) < 0.05


def test_a_driver_who_only_ever_finishes_last_has_no_estimate(nascar):
    # Append one race in which a new driver "X" is last behind three others.
    items = (*nascar.items, "X")
    extra = pad_rankings([[0, 1, 2, 83]])
    width = max(nascar.rankings.shape[1], extra.shape[1])
    rankings = np.full((37, width), -1)
    rankings[:36, : nascar.rankings.shape[1]] = nascar.rankings
    rankings[36, : extra.shape[1]] = extra[0]
    only_x = r"\(against the other 83 items\), so .* log-worth is -inf: 'X'\. Fit"
    with pytest.raises(NoEstimateError, match=only_x):
        fit(rankings, 84, universe="listed", items=items)
    result = fit(rankings, 84, universe="listed", items=items, prior="ghost")
    assert result.converged and np.isfinite(result.log_worth).all()


@pytest.mark.parametrize(
    ("rankings", "n_items", "message"),
    [
        ([[0, 1], [0, 2], [1, 2]], 3, r"log-worth is \+inf: 'a'"),
        ([[0, 1], [1, 0], [2, 3], [3, 2]], 4, "fall into 2 groups"),
        ([[0, 1], [1, 0]], 3, "never compared with another item: 'c'"),
    ],
)
def test_no_estimate_names_the_items(rankings, n_items, message):
    names = ["a", "b", "c", "d"][:n_items]
    with pytest.raises(NoEstimateError, match=message):
        fit(rankings, n_items, universe="listed", items=names)


@pytest.mark.parametrize("prior", ["ghost", "l2"])
def test_priors_make_any_data_finite_and_are_stationary(prior):
    rankings = pad_rankings([[0, 1], [0, 2], [3, 4]])  # winners, losers, apart
    result = fit(rankings, 6, universe="listed", prior=prior)  # item 5 unseen
    assert result.converged and np.isfinite(result.stderr).all()
    the_prior = make_prior(prior, None)
    s = result.log_worth
    if prior == "ghost":
        # The ghost anchors the scale, and the report is centred: find the
        # shift c that puts the prior's gradient sum at 0 (the data gradient
        # always sums to 0), then the whole gradient must vanish there.
        c = brentq(lambda c: the_prior.gradient(s + c).sum(), -50, 50, xtol=1e-14)
        s = s + c
    g = gradient(s, rankings, universe="listed") + the_prior.gradient(s)
    assert np.abs(g).max() < 1e-8
    assert result.objective < result.log_likelihood  # the prior's term is < 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tol": 0.0}, "tol must be a finite number > 0"),
        ({"max_iter": 0}, "max_iter must be an integer >= 1"),
        ({"prior": "flat"}, "prior must be None, 'ghost' or 'l2'"),
        ({"prior_strength": 1.0}, "prior_strength needs a prior"),
        ({"prior": "l2", "prior_strength": -1.0}, "prior_strength must be"),
        ({"items": ["a"]}, "items names 1 items but the rankings use 2"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        fit([[0, 1], [1, 0]], **kwargs)


def test_result_is_frozen_and_reports_worths():
    result = fit([[0, 1], [0, 1], [1, 0]])
    with pytest.raises(AttributeError):
        result.log_likelihood = 0.0
    np.testing.assert_allclose(result.worth, [2 / 3, 1 / 3])  # MLE: win rates
    assert result.ranking().tolist() == [0, 1]
    assert result.items == ("0", "1") and result.n_rankings == 3


def _many_items(seed=21, n=300, count=1500, length=6):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    subsets = np.argsort(rng.random((count, n)), axis=1)[:, :length]
    keys = truth[subsets] + rng.gumbel(size=subsets.shape)  # Gumbel-max trick
    return np.take_along_axis(subsets, np.argsort(-keys, axis=1), axis=1)


def test_sparse_conjugate_gradient_path_matches_the_dense_path(monkeypatch):
    # Sub-rankings of more than 200 items take the sparse CG path.
    rankings = _many_items()
    sparse = fit(rankings, 300, universe="listed")
    assert sparse.converged
    _assert_is_maximum(sparse, rankings, "listed")
    monkeypatch.setattr(fitting, "_DENSE_MAX_ITEMS", 10_000)
    dense = fit(rankings, 300, universe="listed")
    np.testing.assert_allclose(sparse.log_worth, dense.log_worth, atol=1e-9)
    np.testing.assert_allclose(sparse.stderr, dense.stderr, rtol=1e-7)


def test_a_stalled_conjugate_gradient_hands_over_to_the_dense_solve(monkeypatch):
    rankings = _many_items(seed=22)
    reference = fit(rankings, 300, universe="listed", prior="l2")
    monkeypatch.setattr(information, "_CG_MAX_ITER", 1)  # CG always stalls
    result = fit(rankings, 300, universe="listed", prior="l2")
    assert result.converged
    np.testing.assert_allclose(result.log_worth, reference.log_worth, atol=1e-9)


def test_converges_when_only_rounding_is_left():
    # Found by hypothesis: the last Newton step (1.3e-8 > tol) predicts a gain
    # of 2e-16, below the objective's rounding, so no line search can verify
    # it; the fit used to spin to max_iter without moving.
    rankings = pad_rankings(
        [
            [0, 3, 4, 1, 2],
            [0, 2],
            [0, 3, 2, 4],
            [3, 2],
            [0, 2],
            [0, 2],
            [3, 4, 2, 1, 0],
            [],
        ]
    )
    result = fit(rankings, 5, universe="listed")
    assert result.converged and result.n_iter < 10
    assert result.gradient_norm < 1e-12


# --- Standard errors under a prior of any strength (QA: a stderr of 0.0000 at
# strength 1e-16, unequal stderrs for symmetric items at 1e-14) ---------------

# a beats b and c twice; b and c are symmetric (each 1 win over the other,
# each 1 win over a): their standard errors must be equal.
SYMMETRIC = pad_rankings([[0, 1, 2], [1, 0, 2], [2, 0, 1], [0, 2, 1]])
TINY_TO_STRONG = [1e-300, 1e-100, 1e-16, 1e-14, 1e-8, 1e-2, 1.0, 1e2]


def _fd_data_hessian(s, rankings, step=1e-4):
    """Central second differences of the reference log-likelihood."""
    n = len(s)
    value = lambda x: ref.log_likelihood(x, rankings, "listed")  # noqa: E731
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            ei, ej = np.eye(n)[i] * step, np.eye(n)[j] * step
            out[i, j] = (
                value(s + ei + ej)
                - value(s + ei - ej)
                - value(s - ei + ej)
                + value(s - ei - ej)
            ) / (4 * step * step)
    return (out + out.T) / 2


def _exact_inverse(matrix):
    """Gauss-Jordan in exact rational arithmetic (``Fraction``)."""
    n = len(matrix)
    rows = [
        list(row) + [Fraction(int(i == k)) for k in range(n)]
        for i, row in enumerate(matrix)
    ]
    for c in range(n):
        pivot = next(r for r in range(c, n) if rows[r][c] != 0)
        rows[c], rows[pivot] = rows[pivot], rows[c]
        lead = rows[c][c]
        rows[c] = [x / lead for x in rows[c]]
        for r in range(n):
            if r != c and rows[r][c] != 0:
                factor = rows[r][c]
                rows[r] = [
                    x - factor * y for x, y in zip(rows[r], rows[c], strict=True)
                ]
    return [row[n:] for row in rows]


def _reference_stderr(data_hessian, prior_curvature):
    """``sqrt(diag(C J^-1 C))``, ``J = -C H C + diag(d)``, exactly.

    ``C`` centres: the data's information has the all-ones null vector (the
    likelihood ignores a shift) exactly once projected, which finite
    differences only give to ~1e-8. In rationals a strength of 1e-300 is as
    easy as 1: nothing cancels.
    """
    n = len(prior_curvature)
    frac = [[Fraction(float(x)) for x in row] for row in data_hessian]
    centre = [
        [Fraction(int(i == j)) - Fraction(1, n) for j in range(n)] for i in range(n)
    ]

    def mul(a, b):
        return [
            [sum(a[i][k] * b[k][j] for k in range(n)) for j in range(n)]
            for i in range(n)
        ]

    info = mul(mul(centre, [[-x for x in row] for row in frac]), centre)
    for i in range(n):
        info[i][i] += Fraction(float(prior_curvature[i]))
    covariance = mul(mul(centre, _exact_inverse(info)), centre)
    return np.sqrt([float(covariance[i][i]) for i in range(n)])


def _map_scores(result, prior, strength):
    """The uncentred MAP log-worths: the prior alone fixes the shift."""
    if prior == "l2":  # -a/2 sum (s + c)^2 is largest at mean 0
        return result.log_worth
    the_prior = make_prior(prior, strength)
    c = brentq(lambda c: the_prior.gradient(result.log_worth + c).sum(), -50, 50)
    return result.log_worth + c


@pytest.mark.parametrize("prior", ["ghost", "l2"])
@pytest.mark.parametrize("strength", TINY_TO_STRONG)
def test_stderr_is_the_exact_inverse_of_a_finite_difference_hessian(prior, strength):
    # Reference: the data Hessian by central differences of the brute-force
    # likelihood, the prior's curvature from its formula (ghost
    # -2a sigma(s)(1 - sigma(s)), l2 -a) at the MAP point, inverted exactly.
    rankings = np.vstack([SYMMETRIC, _synthetic(seed=6, n=4, count=12)[1][:, :3]])
    result = fit(rankings, 4, universe="listed", prior=prior, prior_strength=strength)
    s = _map_scores(result, prior, strength)
    if prior == "ghost":
        p = expit(s)
        curvature = 2 * strength * p * (1 - p)
    else:
        curvature = np.full(4, strength)
    expected = _reference_stderr(_fd_data_hessian(s, rankings), curvature)
    np.testing.assert_allclose(result.stderr, expected, rtol=1e-5)


@pytest.mark.parametrize("prior", ["ghost", "l2"])
def test_a_negligible_prior_gives_the_unpenalised_stderr(prior):
    # As the strength goes to 0 the MAP estimate and its covariance tend to
    # the maximum-likelihood ones: no blow-up, no zero, symmetric items equal.
    plain = fit(SYMMETRIC)
    for strength in TINY_TO_STRONG[:5]:
        result = fit(SYMMETRIC, prior=prior, prior_strength=strength)
        np.testing.assert_allclose(result.log_worth, plain.log_worth, atol=1e-7)
        np.testing.assert_allclose(result.stderr, plain.stderr, rtol=1e-6)
        assert result.stderr[1] == pytest.approx(result.stderr[2], rel=1e-9)


def test_a_single_item_fits_without_warnings():
    # A lone item never wins or loses: the warm-up used to compute
    # log(0) - log(0) (a RuntimeWarning) before leaving it alone.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fit([[0]])
        ghost = fit([[0, 1], [2, -1]], universe="listed", prior="ghost")
    assert result.log_worth.tolist() == [0.0] and result.stderr.tolist() == [0.0]
    assert np.isfinite(ghost.stderr).all()


@pytest.mark.parametrize("weight", [1e-16, 1.0, 1e8, 1e9])
def test_standard_errors_scale_with_the_amount_of_data(weight):
    # two items, 2:1, every ranking weighted w: the log-worth difference has
    # variance 1 / (3 w p (1 - p)) with p = 2/3, so each centred log-worth
    # has sd sqrt(3/8 / w) = 0.61237 / sqrt(w) (closed form). Before: 22%
    # high at w = 1e8 and 0 at 1e9 (a fixed 1/n shift next to an information
    # of 1e8), and 10% low at 1e-16
    result = fit([[0, 1], [1, 0], [0, 1]], weights=[weight] * 3)
    np.testing.assert_allclose(
        result.stderr, np.sqrt(3 / 8 / weight), rtol=1e-6, atol=0
    )


@pytest.mark.parametrize(
    "options, message",
    [
        # before: bare ValueError / TypeError from numpy or float()
        ({"weights": ["a", 1.0]}, "weights must be real numbers"),
        ({"weights": [1j, 1.0]}, "weights must be real numbers"),
        ({"n_items": float("nan")}, "n_items must be an integer >= 1"),
        ({"n_items": 2.5}, "n_items must be an integer >= 1"),
        ({"n_items": "2"}, "n_items must be an integer >= 1"),
        ({"tol": "a"}, "tol must be a finite number > 0"),
        ({"tol": None}, "tol must be a finite number > 0"),
        ({"items": 5}, "items must be a sequence of item names"),
        ({"prior": "ghost", "prior_strength": "x"}, "prior_strength must be"),
        ({"prior": "ghost", "prior_strength": 10**400}, "prior_strength must be"),
        ({"universe": [[True, True], [True]]}, "universe mask must be a boolean"),
        ({"universe": [[2, 1], [1, 1]]}, "universe mask must be a boolean"),
    ],
)
def test_fit_arguments_of_the_wrong_type_are_errors(options, message):
    with pytest.raises(InvalidInputError, match=message):
        fit([[0, 1], [1, 0]], **options)


def test_a_universe_mask_of_zeros_and_ones_is_a_boolean_mask():
    # expected: the same fit as with the boolean mask
    flags = [[1, 1, 0], [0, 1, 1], [1, 0, 1]]
    rankings = [[0, 1], [1, 2], [2, 0]]
    want = fit(rankings, universe=np.array(flags, dtype=bool)).log_worth
    np.testing.assert_array_equal(fit(rankings, universe=flags).log_worth, want)


@pytest.mark.parametrize("weight", [5e-324, 1e-200, 1e200, 1e308])
def test_weights_too_extreme_for_float64_sums_are_an_error(weight):
    # before: NaN log-worths with overflow warnings
    with pytest.raises(InvalidInputError, match=r"must lie in \[1e-150, 1e\+150\]"):
        fit([[0, 1], [1, 0], [0, 1]], weights=[weight, 1.0, 1.0])


@pytest.mark.parametrize("weight", [1e-150, 1e150])
def test_weights_at_the_ends_of_the_range_fit(weight):
    # expected: the closed form of test_standard_errors_scale_with_the_amount_of_data
    result = fit([[0, 1], [1, 0], [0, 1]], weights=[weight] * 3)
    np.testing.assert_allclose(result.stderr, np.sqrt(3 / 8 / weight), rtol=1e-6)
