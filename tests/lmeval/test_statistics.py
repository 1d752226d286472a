"""Accuracy statistics against independent references: scipy's binomtest and
kendalltau, statistics.stdev (lm-eval's sample stderr), and plain document
resampling for the bootstrap shortcuts."""

import math
import statistics

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from seqscore.errors import InvalidInputError
from seqscore.lmeval.statistics import (
    bootstrap_accuracy,
    kendall_tau_b,
    mcnemar_exact,
    paired_bootstrap,
    sample_stderr,
)
from tests.strategies import pl_scores


@given(st.integers(0, 400), st.integers(0, 400))
def test_mcnemar_is_scipys_binomial_test_on_the_discordant_pairs(b, c):
    expected = 1.0 if b + c == 0 else scipy.stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("b", "c"), [(0, 1), (5, 5), (120_000, 118_500), (10**6, 0)])
def test_mcnemar_for_large_counts(b, c):
    expected = scipy.stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(InvalidInputError):
        mcnemar_exact(-1, 3)


@given(st.lists(st.booleans(), min_size=2, max_size=200))
def test_sample_stderr_is_lm_evals_mean_stderr(outcomes):
    # lm-eval: sample_stddev (n - 1) / sqrt(n), over the 0/1 values
    values = [float(o) for o in outcomes]
    expected = statistics.stdev(values) / math.sqrt(len(values))
    got = sample_stderr(sum(outcomes), len(outcomes))
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_sample_stderr_of_one_document_is_undefined():
    assert sample_stderr(1, 1) is None
    with pytest.raises(InvalidInputError):
        sample_stderr(3, 2)


@given(st.integers(1, 500), st.data(), st.integers(0, 2**32 - 1))
def test_a_bootstrap_interval_is_reproducible_from_its_seed(n, data, seed):
    k = data.draw(st.integers(0, n))
    first = bootstrap_accuracy(k, n, resamples=500, seed=seed)
    assert first == bootstrap_accuracy(k, n, resamples=500, seed=seed)
    assert first.low <= first.high
    assert first.low >= 0.0 and first.high <= 1.0
    assert (first.resamples, first.seed, first.confidence) == (500, seed, 0.95)


def test_different_seeds_give_different_draws():
    intervals = {bootstrap_accuracy(517, 1000, resamples=200, seed=s) for s in range(5)}
    assert len(intervals) > 1


def resampled_documents(outcomes, resamples, rng):
    """The textbook bootstrap: draw n documents with replacement."""
    outcomes = np.asarray(outcomes, dtype=float)
    n = len(outcomes)
    draws = rng.integers(0, n, size=(resamples, n))
    return outcomes[draws].mean(axis=1)


def test_the_binomial_shortcut_is_the_document_bootstrap():
    outcomes = [1] * 37 + [0] * 23
    textbook = resampled_documents(outcomes, 40_000, np.random.default_rng(1))
    low, high = np.quantile(textbook, [0.025, 0.975])
    ci = bootstrap_accuracy(37, 60, resamples=40_000, seed=2)
    # two independent 40,000-draw estimates of the same quantiles of a
    # distribution on multiples of 1/60
    assert ci.low == pytest.approx(low, abs=1 / 60 + 1e-12)
    assert ci.high == pytest.approx(high, abs=1 / 60 + 1e-12)
    shortcut = np.random.default_rng(3).binomial(60, 37 / 60, 40_000) / 60
    assert shortcut.mean() == pytest.approx(textbook.mean(), abs=0.002)
    assert shortcut.std() == pytest.approx(textbook.std(), rel=0.03)


def test_the_multinomial_shortcut_is_the_paired_document_bootstrap():
    a = np.array([1] * 50 + [1] * 12 + [0] * 3 + [0] * 35, dtype=bool)
    b = np.array([1] * 50 + [0] * 12 + [1] * 3 + [0] * 35, dtype=bool)
    rng = np.random.default_rng(4)
    draws = rng.integers(0, 100, size=(40_000, 100))
    textbook = a[draws].mean(axis=1) - b[draws].mean(axis=1)
    ci = paired_bootstrap(50, 12, 3, 35, resamples=40_000, seed=5)
    low, high = np.quantile(textbook, [0.025, 0.975])
    assert ci.low == pytest.approx(low, abs=0.01 + 1e-12)
    assert ci.high == pytest.approx(high, abs=0.01 + 1e-12)
    assert ci == paired_bootstrap(50, 12, 3, 35, resamples=40_000, seed=5)


def test_bootstrap_arguments_are_checked():
    with pytest.raises(InvalidInputError):
        bootstrap_accuracy(1, 2, confidence=1.0)
    with pytest.raises(InvalidInputError):
        paired_bootstrap(1, 1, 1, 1, resamples=0)
    assert bootstrap_accuracy(0, 0) is None
    assert paired_bootstrap(0, 0, 0, 0) is None


@given(st.integers(2, 6).flatmap(lambda k: st.tuples(pl_scores(k, k), pl_scores(k, k))))
def test_kendall_tau_b_is_scipys(pair):
    a, b = (np.asarray(x, dtype=float) for x in pair)
    expected = scipy.stats.kendalltau(a, b).statistic
    got = kendall_tau_b(a[None], b[None])[0]
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_kendall_tau_b_ties_equal_infinities():
    got = kendall_tau_b(
        np.array([[-np.inf, -np.inf, 0.0]]), np.array([[1.0, 2.0, 3.0]])
    )
    expected = scipy.stats.kendalltau([0, 0, 1], [1, 2, 3]).statistic
    assert got[0] == pytest.approx(expected)
