"""The maximum-likelihood temperature of fixed scores for observed rankings."""

import numpy as np
import pytest
from hypothesis import given

from seqscore import InvalidInputError, NoEstimateError
from seqscore.plackett_luce import fit_temperature, log_likelihood, sample
from tests.strategies import pl_problems


def test_recovers_the_temperature_of_sampled_rankings():
    # 40 prompts x 6 candidates, each prompt's candidates its own items; the
    # people rank the top 3 of each prompt by the scores at temperature 2.5.
    rng = np.random.default_rng(8)
    scores = rng.normal(size=240) * 2.0
    rankings, universe = [], np.zeros((400, 240), bool)
    for row in range(400):
        prompt = row % 40
        items = np.arange(6 * prompt, 6 * prompt + 6)
        top = sample(scores[items] / 2.5, 1, k=3, rng=rng)[0]
        rankings.append(items[top])
        universe[row, items] = True
    result = fit_temperature(scores, np.array(rankings), universe=universe)
    z = (result.inverse_temperature - 1 / 2.5) / result.inverse_temperature_stderr
    assert abs(z) < 4 and result.converged
    assert result.temperature == pytest.approx(1 / result.inverse_temperature)
    assert result.gain > 0
    assert result.log_likelihood > result.log_likelihood_uniform


def test_the_fit_is_a_stationary_maximum():
    scores = np.array([1.2, 0.3, -0.5, 0.0, 2.0])
    rankings = [[4, 0, 1, 3, 2], [0, 4, 3, 1, 2], [1, 4, 0, 2, 3]]
    result = fit_temperature(scores, rankings)
    beta = result.inverse_temperature
    for step in (1e-5, 1e-3, 1e-1):
        for moved in (beta - step, beta + step):
            assert log_likelihood(moved * scores, rankings) <= result.log_likelihood
    h = 1e-6
    slope = (
        log_likelihood((beta + h) * scores, rankings)
        - log_likelihood((beta - h) * scores, rankings)
    ) / (2 * h)
    assert abs(slope) < 1e-6
    assert result.log_likelihood_at_one == pytest.approx(
        log_likelihood(scores, rankings)
    )


def test_reversed_preferences_give_a_negative_temperature():
    # Closed form for two items: 1 win for the higher score, 3 for the lower
    # gives sigmoid(beta) = 1/4, beta = -log 3.
    result = fit_temperature([1.0, 0.0], [[0, 1]] + [[1, 0]] * 3)
    assert result.inverse_temperature == pytest.approx(-np.log(3), abs=1e-9)
    assert result.temperature < 0


@pytest.mark.parametrize(
    ("rankings", "message"),
    [
        ([[0, 1, 2], [0, 1, 2]], "every observed choice picks a highest-scored"),
        ([[2, 1, 0]], "every observed choice picks a lowest-scored"),
    ],
)
def test_no_finite_temperature(rankings, message):
    with pytest.raises(NoEstimateError, match=message):
        fit_temperature([3.0, 2.0, 1.0], rankings)


def test_tied_scores_make_the_temperature_meaningless():
    with pytest.raises(NoEstimateError, match="the temperature has no effect"):
        fit_temperature([1.0, 1.0, 1.0], [[0, 1, 2], [2, 1, 0]])


def test_bad_tolerance():
    with pytest.raises(InvalidInputError, match="tol must be"):
        fit_temperature([1.0, 0.0], [[0, 1], [1, 0]], tol=-1.0)


@given(pl_problems(max_items=5, magnitude=5.0))
def test_gain_is_never_negative(problem):
    scores, rankings, universe = problem
    try:
        result = fit_temperature(scores, rankings, universe=universe)
    except NoEstimateError:
        return  # documented: optimum at T = 0 or no effect
    assert result.gain >= -1e-9
    assert result.log_likelihood >= result.log_likelihood_uniform - 1e-9


@pytest.mark.parametrize(
    "scores", [[1e10, 0.0], [1e300, 0.0], [1e6 + 1, 1e6], [1.0, 0.0], [2e-10, 0.0]]
)
def test_temperature_of_scores_at_any_scale(scores):
    # two items, 2:1 for item 0: the MLE has beta * gap = log 2, and
    # l''(beta) = -N p (1 - p) gap^2 = -(2/3) gap^2, so the stderr is
    # sqrt(3/2) / gap (closed forms). Before: 0.9947 unconverged at 1e10,
    # 5.8e-11 at 1e300, an infinite stderr at 1e6 + 1
    gap = scores[0] - scores[1]
    result = fit_temperature(scores, [[0, 1], [0, 1], [1, 0]])
    assert result.converged
    assert result.inverse_temperature == pytest.approx(np.log(2) / gap, rel=1e-9)
    assert result.inverse_temperature_stderr == pytest.approx(
        np.sqrt(1.5) / gap, rel=1e-6
    )


@pytest.mark.parametrize("bad", [0, -1, 1.5, "5", None, True])
def test_temperature_max_iter_must_be_a_positive_integer(bad):
    with pytest.raises(InvalidInputError, match="max_iter"):
        fit_temperature([1.0, 0.0], [[0, 1], [1, 0], [0, 1]], max_iter=bad)


@pytest.mark.parametrize("bad", ["x", None, 0.0, float("nan"), True])
def test_temperature_tol_must_be_a_positive_number(bad):
    with pytest.raises(InvalidInputError, match="tol"):
        fit_temperature([1.0, 0.0], [[0, 1], [1, 0], [0, 1]], tol=bad)
