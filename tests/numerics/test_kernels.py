"""The token kernel against a direct float64 numpy/scipy computation."""

import contextlib
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

from seqscore import InvalidInputError, ShapeError, token_logprobs, token_stats
from seqscore.numerics import kernels
from tests.strategies import logit_arrays


def reference(logits, targets, top_k=0):
    """Every statistic computed directly: full log-softmax in float64."""
    z = np.asarray(logits).astype(np.float64)
    t = np.asarray(targets)[..., None]
    log_p = scipy.special.log_softmax(z, axis=-1)
    p = np.exp(log_p)
    target_logit = np.take_along_axis(z, t, -1)
    order = np.lexsort((np.broadcast_to(np.arange(z.shape[-1]), z.shape), -z), axis=-1)
    top_ids = order[..., :top_k]
    return {
        "logprob": np.take_along_axis(log_p, t, -1)[..., 0],
        "rank": 1 + np.sum(z > target_logit, axis=-1),
        "argmax": np.argmax(z, axis=-1),
        "argmax_logprob": np.max(log_p, axis=-1),
        "entropy": -np.sum(np.where(p > 0, p * np.where(p > 0, log_p, 0), 0), axis=-1),
        "top_ids": top_ids,
        "top_logprobs": np.take_along_axis(log_p, top_ids, -1),
    }


def tolerance(logits) -> float:
    """Float32 arithmetic on logits of magnitude m is exact to ~m * eps32."""
    z = np.asarray(logits, dtype=np.float64)
    finite = z[np.isfinite(z)]
    scale = 1 + (np.abs(finite).max() if finite.size else 0)
    eps = 1e-15 if np.asarray(logits).dtype == np.float64 else 1e-7
    return 64 * eps * scale


def assert_matches(stats, expected, tol):
    for key in ("logprob", "argmax_logprob", "entropy", "top_logprobs"):
        np.testing.assert_allclose(getattr(stats, key), expected[key], atol=tol, rtol=0)
    for key in ("rank", "argmax", "top_ids"):
        np.testing.assert_array_equal(getattr(stats, key), expected[key])
    np.testing.assert_array_equal(stats.is_argmax, expected["rank"] == 1)
    np.testing.assert_array_equal(stats.target_masked, np.isneginf(expected["logprob"]))


@given(logit_arrays(), st.integers(0, 3))
def test_token_stats_equals_a_direct_computation(case, top_k):
    logits, targets = case
    top_k = min(top_k, logits.shape[-1])
    stats = token_stats(logits, targets, top_k=top_k)
    assert stats.logprob.shape == targets.shape
    assert stats.top_ids.shape == (*targets.shape, top_k)
    assert_matches(stats, reference(logits, targets, top_k), tolerance(logits))


@given(logit_arrays())
def test_token_logprobs_equals_log_softmax_then_gather(case):
    logits, targets = case
    expected = reference(logits, targets)["logprob"]
    got = token_logprobs(logits, targets)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, atol=tolerance(logits), rtol=0)


@settings(max_examples=25)
@given(
    logit_arrays(dtypes=(np.float32, np.float64), max_vocab=3000, magnitude=50),
    st.integers(0, 5),
)
def test_column_tiles_merge_exactly(case, top_k):
    """Rows wider than a tile are split into 1024-column tiles and merged."""
    logits, targets = case
    top_k = min(top_k, logits.shape[-1])
    with small_tiles():
        stats = token_stats(logits, targets, top_k=top_k)
    assert_matches(stats, reference(logits, targets, top_k), tolerance(logits))


@contextlib.contextmanager
def small_tiles():
    original = kernels._TILE_BYTES
    kernels._TILE_BYTES = 1024  # forces 1024-column tiles
    try:
        yield
    finally:
        kernels._TILE_BYTES = original


@pytest.fixture
def monkeypatch_tiles():
    with small_tiles():
        yield


def test_column_tiles_with_a_masked_first_tile(monkeypatch_tiles):
    z = np.random.default_rng(1).normal(size=(2, 2500)) * 3
    z[:, :1024] = -np.inf  # the first tile of each row is entirely masked
    z[1, 2000] = z[1, 2001] = 40.0  # a tie for the max in a later tile
    targets = np.array([5, 2001])
    stats = token_stats(z, targets, top_k=3)
    assert_matches(stats, reference(z, targets, 3), 1e-12)
    assert stats.target_masked.tolist() == [True, False]
    assert stats.argmax[1] == 2000 and stats.rank[1] == 1


def test_logits_in_every_numeric_regime():
    """Unshifted fast path, shifted path (very negative, very positive)."""
    rng = np.random.default_rng(2)
    for offset in (0.0, -200.0, 150.0, -1e4):
        z = (rng.normal(size=(4, 6, 700)) * 4 + offset).astype(np.float32)
        t = rng.integers(0, 700, size=(4, 6))
        assert_matches(token_stats(z, t, top_k=2), reference(z, t, 2), tolerance(z))


@pytest.mark.parametrize(
    ("dtype", "big"), [(np.float64, 1e308), (np.float32, 3e38), (np.float64, 1e16)]
)
def test_tied_maxima_of_huge_magnitude_each_get_minus_log_two(dtype, big):
    """Two tied maxima at any magnitude have log-prob -log 2 each (closed form:
    the third entry is at least ``big`` below them, so its share underflows).
    A logsumexp formed as ``big + log 2`` rounds back to ``big`` at these
    magnitudes (the error that gave 0 here)."""
    z = np.array([[big, big, -big]], dtype=dtype)
    stats = token_stats(z, [1], top_k=2)
    assert stats.logprob[0] == pytest.approx(-np.log(2), abs=1e-15)
    assert stats.argmax_logprob[0] == pytest.approx(-np.log(2), abs=1e-15)
    np.testing.assert_allclose(stats.top_logprobs[0], [-np.log(2)] * 2, atol=1e-15)
    assert stats.entropy[0] == pytest.approx(np.log(2), abs=1e-15)
    assert stats.rank[0] == 1 and stats.is_argmax[0]
    assert token_logprobs(z, [1])[0] == pytest.approx(-np.log(2), abs=1e-15)


def test_both_threads_give_the_same_answer():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(300, 4000)).astype(np.float32)  # above the parallel cutoff
    t = rng.integers(0, 4000, size=300)
    one = token_stats(z, t, top_k=4, workers=1)
    two = token_stats(z, t, top_k=4, workers=2)
    for key in ("logprob", "rank", "argmax", "entropy", "top_ids", "top_logprobs"):
        np.testing.assert_array_equal(getattr(one, key), getattr(two, key))
    assert_matches(two, reference(z, t, 4), tolerance(z))


def test_float16_is_widened():
    z = np.array([[60000.0, 0.0, -60000.0]], dtype=np.float16)
    stats = token_stats(z, [1])
    assert stats.logprob[0] == -60000.0 - np.log1p(np.exp(-60000.0 - 60000.0))
    assert stats.argmax[0] == 0


def test_unusual_strides_are_handled():
    z = np.random.default_rng(4).normal(size=(50, 3, 7))
    view = np.transpose(z, (1, 0, 2))  # leading axes cannot be merged without a copy
    t = np.zeros((3, 50), dtype=int)
    np.testing.assert_allclose(token_logprobs(view, t), reference(view, t)["logprob"])


def test_ties_in_top_k_go_to_the_smaller_id():
    z = np.array([[1.0, 3.0, 3.0, 3.0, 0.0]])
    stats = token_stats(z, [0], top_k=2)
    assert stats.top_ids.tolist() == [[1, 2]]
    assert stats.rank[0] == 4  # three logits strictly above the target's


def test_a_target_tied_with_the_max_has_rank_one():
    stats = token_stats([[3.0, 3.0, 1.0]], [1])
    assert stats.rank[0] == 1 and stats.is_argmax[0] and stats.argmax[0] == 0


def test_empty_batch():
    stats = token_stats(np.zeros((0, 5)), np.zeros(0, dtype=int), top_k=2)
    assert stats.logprob.shape == (0,) and stats.top_ids.shape == (0, 2)


def test_single_row_with_scalar_target():
    assert token_logprobs([0.0, 0.0], 1) == pytest.approx(-np.log(2))


# ------------------------------------------------------------------ errors


def test_target_outside_the_vocabulary_names_the_position():
    with pytest.raises(InvalidInputError, match=r"targets\[1, 0\] = 7 is outside"):
        token_logprobs(np.zeros((2, 1, 5)), [[0], [7]])
    with pytest.raises(InvalidInputError, match=r"targets\[0\] = -1"):
        token_logprobs(np.zeros((1, 5)), [-1])


@pytest.mark.parametrize(
    ("targets", "shown"),
    [
        (np.array([0, 2**63 + 5], np.uint64), "9223372036854775813"),
        ([0.0, 1e20], "100000000000000000000"),
    ],
)
def test_a_huge_target_is_reported_as_given_not_wrapped(targets, shown):
    with pytest.raises(
        InvalidInputError, match=rf"targets\[1\] = {re.escape(shown)} is"
    ):
        token_stats(np.zeros((2, 3)), targets)


def test_nan_names_step_and_token():
    z = np.zeros((2, 3, 5), dtype=np.float32)
    z[1, 2, 4] = np.nan
    with pytest.raises(InvalidInputError, match=r"logits\[1, 2, 4\] is NaN"):
        token_stats(z, np.zeros((2, 3), dtype=int))


def test_plus_inf_names_step_and_token(monkeypatch_tiles):
    z = np.zeros((2, 3000))
    z[1, 2500] = np.inf  # in the third column tile
    with pytest.raises(InvalidInputError, match=r"logits\[1, 2500\] is \+inf"):
        token_logprobs(z, [0, 0])


def test_fully_masked_step_names_the_step():
    z = np.zeros((2, 3, 4))
    z[0, 2] = -np.inf
    with pytest.raises(InvalidInputError, match=r"logits\[0, 2, :\] is entirely -inf"):
        token_logprobs(z, np.zeros((2, 3), dtype=int))


def test_shape_mismatch():
    with pytest.raises(ShapeError, match=r"expected targets of shape \(2, 3\)"):
        token_logprobs(np.zeros((2, 3, 4)), np.zeros((2, 4), dtype=int))


def test_bad_top_k_and_dtypes():
    with pytest.raises(InvalidInputError, match="top_k"):
        token_stats(np.zeros((1, 3)), [0], top_k=4)
    with pytest.raises(InvalidInputError, match="integer token ids"):
        token_logprobs(np.zeros((1, 3)), [0.5])
    with pytest.raises(InvalidInputError, match="real numbers"):
        token_logprobs(np.array([["a", "b"]]), [0])
    with pytest.raises(InvalidInputError, match="empty vocabulary"):
        token_logprobs(np.zeros((1, 0)), [0])


# ------------------------------------------------------------------ memmap


def _resident_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of ``path`` (Linux smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_memmap_input_gives_the_same_answer_and_releases_its_pages(tmp_path):
    rng = np.random.default_rng(5)
    z = rng.normal(size=(64, 3, 40_000)).astype(np.float32)  # 30 MiB
    t = rng.integers(0, 40_000, size=(64, 3))
    path = tmp_path / "logits.npy"
    np.save(path, z)
    mapped = np.load(path, mmap_mode="r")
    stats = token_stats(mapped, t, top_k=2)
    assert_matches(stats, reference(z, t, 2), tolerance(z))
    # every page was read, yet almost none stays resident
    assert _resident_kib(path) < z.nbytes / 1024 / 10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 40.0, 70.0, -25.0])
def test_entropy_of_a_peaked_row_does_not_depend_on_an_offset(dtype, offset):
    # logits [m, m - 19]: p = (1 - e, e) with e = sigmoid(-19), entropy
    # 1.1206e-7 (closed form, computed below in float64). Before: the shift
    # by the row maximum was skipped for maxima in [-30, 80 - ln V], and
    # float32 gave 0.0 at m = 40 and 2.29e-6 at m = 70. float32 now keeps
    # the entropy to about 1e-8 absolute (float32's resolution of log(total)
    # near log 1), float64 to about 1e-16
    e = 1.0 / (1.0 + np.exp(19.0))
    want = -(1 - e) * np.log1p(-e) - e * np.log(e)
    z = np.array([[offset, offset - 19.0]], dtype=dtype)
    got = token_stats(z, [0]).entropy[0]
    tolerance = 1e-8 if dtype == np.float32 else 1e-16
    assert abs(got - want) <= tolerance, (got, want)
