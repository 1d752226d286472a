"""The audit's tolerance model, detection of rounding, and half-precision emulation."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqscore import InvalidInputError
from seqscore.audit.noise import NoiseModel, Prediction, compare, detect_noise
from seqscore.audit.precision import to_bfloat16, to_float16

# the gallery's scorers carry an independent bfloat16 rounding to compare with
sys.path.insert(0, str(Path(__file__).parents[2] / "fixtures" / "audit"))
import scorers


@given(st.lists(st.floats(-500, 500, allow_nan=False), min_size=1, max_size=20))
def test_rounded_reports_reveal_their_decimals(values):
    values = np.array(values)
    nonzero = np.round(values, 4)
    if not np.any(nonzero):
        return
    noise = detect_noise(nonzero)
    assert noise.decimals is not None and noise.decimals <= 4
    # and the tolerance covers the rounding that was done
    exact = Prediction(values, np.zeros_like(values))
    assert compare(exact, nonzero, noise).within.all()


def test_float32_storage_is_detected_and_allowed_for():
    values = np.array([-12.3456789, -0.000123456, -345.678912])
    stored = values.astype(np.float32).astype(np.float64)
    noise = detect_noise(stored)
    assert noise.reported_dtype == "float32"
    exact = Prediction(values, np.zeros(3))
    assert compare(exact, stored, noise).within.all()
    assert not compare(exact, stored, NoiseModel(compute_dtype="float64")).within.all()


def test_zeros_say_nothing_about_rounding_and_overrides_win():
    # every finite report 0: any rounding is possible, so the coarsest is used
    zeros = detect_noise([0.0, 0.0, -np.inf])
    assert zeros.rounding_unknown and zeros.decimals == 0
    assert "rounding is unknown" in zeros.describe()
    assert not detect_noise([0.0, -1.25]).rounding_unknown  # -1.25 tells
    noise = detect_noise([0.0, 0.0], decimals=4, reported_dtype="float32")
    assert (noise.decimals, noise.reported_dtype) == (4, "float32")
    assert not noise.rounding_unknown  # an explicit rounding wins


def test_the_tolerance_adds_up_its_documented_parts():
    noise = NoiseModel(decimals=3, reported_dtype="float32", compute_dtype="float32")
    prediction = Prediction(np.array([-10.0]), np.array([100.0]), absolute=0.25)
    expected = (
        0.5e-3  # half a unit in the third decimal
        + 2 * 2.0**-24 * 10  # float32 storage
        + (2 * 2.0**-24 + 16 * 2.0**-53) * 100  # float32 arithmetic, our own
        + 0.25  # the hypothesis's own allowance
        + float(np.finfo(np.float32).smallest_subnormal)
    )
    assert noise.tolerance(prediction)[0] == pytest.approx(expected, rel=1e-12)


def test_infinities_match_only_themselves_unless_allowed():
    prediction = Prediction(np.array([-np.inf, -50.0, 1.0]), np.zeros(3))
    reported = np.array([-np.inf, -np.inf, np.nan])
    assert compare(prediction, reported, NoiseModel()).within.tolist() == [
        True,
        False,
        False,
    ]
    allowed = Prediction(
        prediction.values, np.zeros(3), inf_ok=np.array([0, 1, 0], bool)
    )
    assert compare(allowed, reported, NoiseModel()).within.tolist() == [
        True,
        True,
        False,
    ]


def test_bad_noise_models_are_refused():
    with pytest.raises(InvalidInputError, match="reported_dtype"):
        NoiseModel(reported_dtype="bfloat16")
    with pytest.raises(InvalidInputError, match="compute_dtype"):
        NoiseModel(compute_dtype="float16")  # storage may be float16, not maths
    with pytest.raises(InvalidInputError, match="decimals"):
        NoiseModel(decimals=-1)


NORMAL_32 = st.floats(-1e4, 1e4, allow_nan=False, width=32).filter(
    lambda x: x == 0 or abs(x) >= 2.0**-126
)


@given(NORMAL_32)
def test_bfloat16_rounding_agrees_with_an_independent_implementation(x):
    # (the gallery's frexp rounding keeps 8 significant bits even for float32
    # subnormals, where bfloat16 has fewer; log-probs never live there)
    ours = to_bfloat16(np.array([x]))[0]
    theirs = float(scorers._to_bfloat16(np.array([x], np.float32))[0])
    assert ours == theirs


@given(st.floats(-6e4, 6e4, allow_nan=False, width=32))
def test_float16_rounding_is_numpys(x):
    assert to_float16(np.array([x]))[0] == float(np.float16(np.float32(x)))


def test_float16_storage_rounds_and_overflows_as_float16_does():
    exact = np.array([-12.3456789, -70000.0, -1e-6])
    with np.errstate(over="ignore"):
        stored = exact.astype(np.float16).astype(np.float64)  # -12.34, -inf, ...
    assert np.isneginf(stored[1])
    prediction = Prediction(exact, np.zeros(3))
    as16 = compare(prediction, stored, NoiseModel(reported_dtype="float16"))
    assert as16.within.all()
    as32 = compare(prediction, stored, NoiseModel(reported_dtype="float32"))
    assert not as32.within.any()
    # an infinity of the other sign is no overflow
    other = compare(prediction, -stored, NoiseModel(reported_dtype="float16"))
    assert not other.within[1]


def test_float16_storage_is_said_not_guessed():
    values = np.float16([-12.34, -3.5]).astype(np.float64)
    assert detect_noise(values).reported_dtype != "float16"
    assert detect_noise(values, reported_dtype="float16").reported_dtype == "float16"
