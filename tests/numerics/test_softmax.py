"""The softmax layer: laws (hypothesis), golden values and each edge case."""

import itertools

import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st

from seqscore import (
    InvalidInputError,
    ShapeError,
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    logsumexp,
    softmax,
    token_stats,
)
from tests.strategies import FLOAT_DTYPES, logit_vectors

# ------------------------------------------------------------------ laws


@given(st.sampled_from(FLOAT_DTYPES).flatmap(lambda d: logit_vectors(dtype=d)))
def test_probabilities_sum_to_one_in_every_dtype(z):
    p = softmax(z)
    assert p.dtype == (np.float32 if z.dtype == np.float16 else z.dtype)
    assert np.all(p >= 0)
    assert np.isclose(np.sum(p, dtype=np.float64), 1.0, atol=1e-5)


@given(logit_vectors(magnitude=1e3), st.floats(-1e3, 1e3))
def test_adding_a_constant_changes_nothing(z, c):
    np.testing.assert_allclose(softmax(z + c), softmax(z), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(log_softmax(z + c), log_softmax(z), atol=1e-9)


@given(logit_vectors(magnitude=1e3), st.floats(1e-3, 1e3))
def test_positive_scaling_keeps_the_argmax(z, scale):
    # logits closer than float resolution get equal probabilities, so the law
    # is: the argmax token still has the largest probability
    p = softmax(z * scale)
    assert p[np.argmax(z)] == p.max()


@given(st.integers(1, 1000))
def test_all_zero_logits_give_the_uniform_distribution(k):
    np.testing.assert_allclose(softmax(np.zeros(k)), np.full(k, 1 / k), rtol=1e-12)


@given(logit_vectors(magnitude=1e4))
def test_exp_of_log_softmax_is_softmax(z):
    np.testing.assert_allclose(np.exp(log_softmax(z)), softmax(z), atol=1e-12)


@given(logit_vectors(magnitude=1e300))
def test_logsumexp_is_at_least_the_max_and_at_most_max_plus_log_k(z):
    value = logsumexp(z)
    assert value >= z.max()
    assert value <= z.max() + np.log(len(z)) * (1 + 1e-12)


@given(logit_vectors(magnitude=1e4), st.floats(0.05, 20))
def test_temperature_divides_the_logits(z, t):
    np.testing.assert_allclose(softmax(z, temperature=t), softmax(z / t), atol=1e-12)


@given(logit_vectors(magnitude=700))
def test_agrees_with_scipy_on_finite_input(z):
    np.testing.assert_allclose(softmax(z), scipy.special.softmax(z), atol=1e-14)
    np.testing.assert_allclose(
        log_softmax(z), scipy.special.log_softmax(z), rtol=1e-12, atol=1e-12
    )
    assert np.isclose(logsumexp(z), scipy.special.logsumexp(z), rtol=1e-14)


def test_works_along_any_axis():
    z = np.random.default_rng(0).normal(size=(3, 4, 5))
    for axis in range(3):
        np.testing.assert_allclose(
            log_softmax(z, axis=axis), scipy.special.log_softmax(z, axis=axis)
        )
        np.testing.assert_allclose(
            logsumexp(z, axis=axis), scipy.special.logsumexp(z, axis=axis)
        )


# ------------------------------------------------------------ golden values


def test_softmax_golden_values():
    # exp(2), exp(1), exp(0.1) normalised; by hand to 3 d.p.
    np.testing.assert_array_equal(
        np.round(softmax([2.0, 1.0, 0.1]), 3), [0.659, 0.242, 0.099]
    )


def test_log_softmax_of_a_huge_gap_is_exact():
    # 1 - logsumexp(1000, 1) = 1 - 1000 - log1p(e^-999) = -999 in float64
    np.testing.assert_array_equal(log_softmax([1000.0, 1.0]), [0.0, -999.0])


def test_cross_entropy_golden_value():
    # -log softmax([2, 1, 0.1])[0] = log(e^2 + e + e^0.1) - 2 = 0.41703
    assert cross_entropy([[2.0, 1.0, 0.1]], [0]) == pytest.approx(
        0.4170300162778, 1e-12
    )


# --------------------------------------------------------------- edge cases


def test_all_masked_row_logsumexp_is_minus_inf():
    assert logsumexp([-np.inf, -np.inf]) == -np.inf


def test_all_masked_row_softmax_raises_naming_the_row():
    z = np.zeros((3, 2))
    z[1] = -np.inf
    with pytest.raises(InvalidInputError, match=r"logits\[1, :\] is entirely -inf"):
        softmax(z)
    with pytest.raises(InvalidInputError, match=r"logits\[1, :\]"):
        log_softmax(z)


def test_masked_entries_get_probability_zero():
    p = softmax([0.0, -np.inf, 0.0])
    np.testing.assert_array_equal(p, [0.5, 0.0, 0.5])
    assert log_softmax([0.0, -np.inf])[1] == -np.inf


def test_nan_raises_naming_the_position():
    z = np.zeros((2, 3))
    z[1, 2] = np.nan
    for function in (softmax, log_softmax, logsumexp):
        with pytest.raises(InvalidInputError, match=r"logits\[1, 2\] is NaN"):
            function(z)


def test_plus_inf_raises_naming_the_position():
    with pytest.raises(InvalidInputError, match=r"logits\[0\] is \+inf"):
        softmax([np.inf, 0.0])


@pytest.mark.parametrize("t", [0.0, -1.0, np.nan, np.inf])
def test_bad_temperature_raises(t):
    with pytest.raises(InvalidInputError, match="temperature"):
        softmax([1.0, 2.0], temperature=t)


def test_empty_vocabulary():
    assert logsumexp(np.zeros(0)) == -np.inf
    with pytest.raises(InvalidInputError, match="empty vocabulary"):
        softmax(np.zeros(0))


def test_scalar_input_is_a_shape_error():
    with pytest.raises(ShapeError):
        softmax(3.0)


def test_float16_is_computed_in_float32():
    z = np.array([60000.0, -60000.0, 0.0], dtype=np.float16)
    p = softmax(z)
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p, [1.0, 0.0, 0.0])


def test_integers_are_computed_in_float64():
    assert log_softmax([3, 1]).dtype == np.float64


def test_magnitudes_near_the_float32_maximum():
    big = np.finfo(np.float32).max
    z = np.array([big, big, -big], dtype=np.float32)
    np.testing.assert_allclose(softmax(z), [0.5, 0.5, 0.0])
    assert np.isfinite(logsumexp(z))
    # log(2) above the max, rounded to float32
    assert logsumexp(z) == np.float32(big)
    # the third log-prob is -2 * max: below float32's range, so it rounds to -inf
    assert log_softmax(z)[2] == -np.inf


def test_tiny_temperature_does_not_overflow():
    np.testing.assert_allclose(softmax([1e300, 0.0], temperature=1e-10), [1.0, 0.0])


# ------------------------------------------------------- cross-entropy grad


@given(
    st.integers(1, 4).flatmap(
        lambda n: st.tuples(
            st.lists(logit_vectors(3, 3, magnitude=5), min_size=n, max_size=n),
            st.lists(st.integers(0, 2), min_size=n, max_size=n),
        )
    )
)
def test_gradient_equals_finite_differences(data):
    logits, labels = np.array(data[0]), np.array(data[1])
    analytic = cross_entropy_grad(logits, labels)
    numeric = np.zeros_like(logits)
    h = 1e-6
    for index in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (cross_entropy(up, labels) - cross_entropy(down, labels)) / (
            2 * h
        )
    np.testing.assert_allclose(analytic, numeric, atol=1e-7)


def test_gradient_rows_sum_to_zero_and_match_softmax_minus_one_hot():
    z = np.array([[2.0, 1.0, 0.1], [0.0, 0.0, 5.0]])
    g = cross_entropy_grad(z, [0, 2])
    expected = (scipy.special.softmax(z, axis=1) - np.eye(3)[[0, 2]]) / 2
    np.testing.assert_allclose(g, expected, atol=1e-15)
    np.testing.assert_allclose(g.sum(axis=1), 0, atol=1e-15)


def test_gradient_is_largest_when_confidently_wrong():
    margins = [0.0, 1.0, 3.0, 10.0]
    # label 0, the model puts `margin` more logit on class 1: ever more wrong
    wrong = [np.linalg.norm(cross_entropy_grad([[0.0, m]], [0])) for m in margins]
    right = [np.linalg.norm(cross_entropy_grad([[m, 0.0]], [0])) for m in margins]
    assert all(a < b for a, b in itertools.pairwise(wrong))
    assert all(a > b for a, b in itertools.pairwise(right))
    assert wrong[-1] > 0.99 * np.sqrt(2)  # the bound |p - y| -> sqrt(2)
    assert right[-1] < 1e-4


def test_cross_entropy_of_a_masked_label_is_infinite():
    assert cross_entropy([[0.0, -np.inf]], [1]) == np.inf


def test_cross_entropy_rejects_bad_labels():
    with pytest.raises(InvalidInputError, match=r"labels\[1\] = 3 is outside"):
        cross_entropy([[0.0, 1.0], [1.0, 0.0]], [0, 3])
    with pytest.raises(ShapeError, match="do not match"):
        cross_entropy([[0.0, 1.0]], [0, 1])
    with pytest.raises(InvalidInputError, match="integer"):
        cross_entropy([[0.0, 1.0]], [0.5])


@pytest.mark.parametrize("function", [softmax, log_softmax, logsumexp])
def test_an_axis_out_of_range_is_a_shape_error(function):
    with pytest.raises(ShapeError, match="axis 5 is out of range"):
        function([1.0, 2.0], axis=5)
    with pytest.raises(InvalidInputError, match="axis must be an integer"):
        function([1.0, 2.0], axis=0.5)


def test_a_masked_array_is_refused_rather_than_unmasked():
    # np.asarray drops the mask: the masked entry would get probability
    masked = np.ma.array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    with pytest.raises(InvalidInputError, match=r"masked array.*-inf"):
        softmax(masked)
    with pytest.raises(InvalidInputError, match="masked array"):
        token_stats(np.ma.array([[1.0, 2.0]], mask=[[0, 1]]), [0])
    assert softmax(np.ma.filled(masked, -np.inf))[1] == 0.0


@pytest.mark.parametrize("top_k", [1.5, "2", True, -1])
def test_top_k_must_be_a_whole_number(top_k):
    with pytest.raises(InvalidInputError, match="top_k must be an integer"):
        token_stats(np.zeros((1, 3)), [0], top_k=top_k)


# ------------------------------------------------ scipy.special's cases, decided
# The cases of scipy's special/tests/test_logsumexp.py, each decided (the table
# is in the seqscore.numerics.softmax module notes). Inputs are scipy's; the expected
# values are recomputed here with mpmath at 50 digits, or by hand.

INF = np.inf


def assert_within_ulps(got, expected, ulps=4):
    """Every entry within ``ulps`` spacings of its own expected value (of the
    result's dtype): relative, not absolute; zeros and infinities exactly."""
    got, expected = np.asarray(got), np.asarray(expected, dtype=np.float64)
    spacing = np.spacing(np.abs(expected).astype(got.dtype)).astype(np.float64)
    exact = (expected == 0) | ~np.isfinite(expected)
    assert np.array_equal(got[exact], expected[exact])
    assert np.all(np.abs(got[~exact] - expected[~exact]) <= ulps * spacing[~exact])


@pytest.mark.parametrize(
    ("z", "expected"),
    [
        ([], -INF),  # the log of an empty sum
        (np.arange(200.0), 199.45867514538708),  # mpmath: log sum_{k<200} e^k
        ([1000.0, 1000.0], 1000.6931471805599),  # 1000 + log 2
        (np.full(1000, 10000), 10006.907755278982),  # ints in float64; mpmath
        ([-INF], -INF),
        ([-INF, -INF], -INF),
        ([0.0, -40.0], 4.248354255291589e-18),  # gh-18295; mpmath log1p(e^-40)
        ([1.0, -INF], 1.0),  # scipy's b = [1, 0]: a zero weight is a -inf logit
    ],
)
def test_scipy_logsumexp_cases_seqscore_shares(z, expected):
    assert_within_ulps(logsumexp(z), expected)


def test_scipy_logsumexp_cases_along_an_axis():
    a = np.array([[1e10, 1e-10], [-1e10, -INF]])
    assert_within_ulps(logsumexp(a, axis=-1), [1e10, -1e10])
    assert logsumexp(a, axis=-1, keepdims=True).shape == (2, 1)
    # a million terms of 1e-40: log(1e6) + fl(log 1e-40) and log 2 + the same
    # (mpmath, 50 digits, from the float log of 1e-40)
    log_x = np.log(1e-40)
    block = np.full((2, 1_000_000), log_x)
    assert_within_ulps(logsumexp(block, axis=1), [-78.28789316179756] * 2)
    assert_within_ulps(logsumexp(block, axis=0)[:3], [log_x + np.log(2.0)] * 3)


@pytest.mark.parametrize(
    ("dtype", "result"),
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int32, np.float64),
        (np.int64, np.float64),
    ],
)
def test_scipy_logsumexp_dtypes(dtype, result):
    got = logsumexp(np.array([1000, 1000], dtype=dtype))
    assert got.dtype == result
    assert_within_ulps(got, 1000.6931471805599)


def test_scipy_no_writeback():
    a = np.array([5.0, 4.0])
    logsumexp(a), log_softmax(a), softmax(a), token_stats(a[None], [0])
    assert a.tolist() == [5.0, 4.0]


@pytest.mark.parametrize(
    "z",
    [
        [1 + 1j, 2 - 1j],  # complex: no phase to keep for a log-probability
        [INF],  # scipy: +inf; seqscore: not a logit
        [INF, -INF],
        [np.nan],  # scipy: NaN, silently
    ],
)
def test_scipy_logsumexp_cases_seqscore_refuses(z):
    with pytest.raises(InvalidInputError):
        logsumexp(z)


def test_scipy_arguments_seqscore_leaves_out():
    # b= weights and return_sign: a weight is log b added to its logit, and a
    # signed sum is no log-probability; one integer axis (the vocabulary), no
    # None or tuple; a scalar has no vocabulary axis
    with pytest.raises(TypeError):
        logsumexp([1.0, 1.0], b=[1.0, -1.0])
    with pytest.raises(TypeError):
        logsumexp([1.0, 1.0], return_sign=True)
    for axis in (None, (0, 1)):
        with pytest.raises(InvalidInputError, match="axis must be an integer"):
            logsumexp(np.ones((2, 2)), axis=axis)
    for function in (logsumexp, softmax, log_softmax):
        with pytest.raises(ShapeError):
            function(1000.0)


def test_scipy_softmax_cases():
    assert_within_ulps(softmax([1000.0, 0.0, 0.0, 0.0]), [1.0, 0.0, 0.0, 0.0])
    assert_within_ulps(softmax([1000, 0, 0, 0]), [1.0, 0.0, 0.0, 0.0])
    assert_within_ulps(softmax([1.0, 1.0]), [0.5, 0.5])
    assert_within_ulps(softmax([0.0, 1.0]), np.array([1.0, np.e]) / (1 + np.e))
    # mpmath, 50 digits: e^k / sum_j e^j for k < 4
    expected = [
        0.03205860328008499,
        0.08714431874203257,
        0.23688281808991013,
        0.6439142598879724,
    ]
    for shift in (0.0, 100.0):  # adding a constant changes nothing
        assert_within_ulps(softmax(np.arange(4.0) + shift), expected)
    # per row, never over the whole array (scipy's axis=None default)
    assert_within_ulps(softmax(np.arange(4.0).reshape(1, 4)), [expected])
    two = np.array([[1000.0, 0.0], [1000.0, 0.0]])
    assert_within_ulps(softmax(two, axis=0), [[0.5, 0.5], [0.5, 0.5]])
    assert_within_ulps(softmax(two, axis=1), [[1.0, 0.0], [1.0, 0.0]])
    x = np.array([[-25.0, 0.0, 25.0, 50.0], [1.0, 325.0, 749.0, 750.0]])
    expected = [  # mpmath, 50 digits; e^-749.3 underflows to 0
        [2.678636961770877e-33, 1.9287498479371314e-22, 1.3887943864771146e-11,
         0.9999999999861121],
        [0.0, 1.9444526359919375e-185, 0.2689414213699951, 0.7310585786300049],
    ]  # fmt: skip
    assert_within_ulps(softmax(x, axis=1), expected)
    assert_within_ulps(softmax(x.T, axis=0), np.array(expected).T)


def test_scipy_log_softmax_cases():
    for z in ([1000.0, 1.0], [1000, 1]):
        assert_within_ulps(log_softmax(z), [0.0, -999.0])
    # mpmath, 50 digits: k - log sum_j e^j for k < 4
    expected = [
        -3.4401896985611953,
        -2.4401896985611953,
        -1.4401896985611953,
        -0.44018969856119533,
    ]
    for shift in (0.0, 100.0):
        assert_within_ulps(log_softmax(np.arange(4.0) + shift), expected)
    two = np.arange(8.0).reshape(2, 4)
    assert_within_ulps(log_softmax(two, axis=1), [expected, expected])
    assert_within_ulps(log_softmax(two.T, axis=0), np.array([expected] * 2).T)
    x = np.array([[1000.0, 1.0], [1000.0, 1.0]])
    assert_within_ulps(log_softmax(x, axis=0), np.full((2, 2), np.log(0.5)))
    assert_within_ulps(log_softmax(x, axis=1), [[0.0, -999.0], [0.0, -999.0]])
