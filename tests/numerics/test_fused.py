"""The compiled log-prob pass of the token kernel (numba, float32).

These tests need the extra ``seqscore[fast]``, which the README's test
command and CI install: they are not skipped without it. The compiled pass
serves only large arrays, so most tests lower the size threshold
(``compiled``) to run it on small ones; the precision tests are those of
``test_normaliser.py`` (ulps against mpmath, the same bound :data:`ULPS`)
on rows long enough to fill the pass's blocks.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys

import numba  # the extra under test; fail loudly without it
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqscore import InvalidInputError, token_logprobs
from seqscore.numerics import _fused, kernels
from tests.numerics.test_kernels import _resident_kib, reference
from tests.numerics.test_normaliser import (
    ULPS,
    adversarial_rows,
    exact_log_softmax,
    exact_row,
    huge_rows,
    input_rounding,
    ulps,
    underflows,
)
from tests.strategies import dominated_rows

# Measured over every float32 d in [-112, 0] (all 1.1e9 of them): 1.0104
# ulps at most, a subnormal result 0.7503 of the smallest subnormal at most
# (numpy's float32 exp: 2.541 and 1.536).
EXP_ULPS = 1.02
EXP_SUBNORMAL = 0.76


@contextlib.contextmanager
def compiled(chunk_bytes: int | None = None):
    """``token_logprobs`` takes the compiled pass at any size."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernels, "_FUSED_MIN_ELEMENTS", 0)
        if chunk_bytes is not None:
            patch.setattr(kernels, "_FUSED_CHUNK_BYTES", chunk_bytes)
        yield


@numba.njit
def _exp_all(d, out):
    for i in range(d.size):
        out[i] = _fused.exp_f32(d[i])


def exp_f32(d) -> np.ndarray:
    d = np.ascontiguousarray(d, dtype=np.float32)
    out = np.empty_like(d)
    _exp_all(d, out)
    return out


def exp_errors(d) -> tuple[float, float]:
    """Worst error of :func:`_fused.exp_f32` on ``d``: in float32 ulps where
    ``e^d`` is normal, in smallest subnormals where it is not (float64
    ``exp`` is the reference: its error is 2**-29 of a float32 ulp)."""
    exact = np.exp(d.astype(np.float64))
    error = np.abs(exp_f32(d).astype(np.float64) - exact)
    info = np.finfo(np.float32)
    sub = exact < float(info.tiny)
    spacing = np.spacing(exact.astype(np.float32)).astype(np.float64)
    normal = error[~sub] / spacing[~sub]
    subnormal = error[sub] / float(info.smallest_subnormal)
    return float(normal.max(initial=0)), float(subnormal.max(initial=0))


def padded(rows: np.ndarray, width: int, at: int) -> np.ndarray:
    """``rows`` placed at column ``at`` of rows of ``width`` entries of
    ``-inf`` (each adds an exact 0), so that they fall inside the pass's
    blocks and not only in its tail."""
    out = np.full((len(rows), width), -np.inf, dtype=rows.dtype)
    out[:, at : at + rows.shape[1]] = rows
    return out


def worst_logprob_error(rows, dtype) -> float:
    """Worst ulps of ``token_logprobs`` (compiled) over every finite column."""
    columns = [np.flatnonzero(np.isfinite(row)) for row in rows]
    repeated = np.repeat(rows, [len(c) for c in columns], axis=0)
    targets = np.concatenate(columns)
    with compiled():
        got = token_logprobs(repeated, targets)
    worst = 0.0
    for i, (row, t) in enumerate(zip(repeated, targets, strict=True)):
        worst = max(worst, ulps(got[i], exact_log_softmax(row, t), dtype))
    return worst


# ------------------------------------------------------------------- exp


def test_exp_is_within_an_ulp_over_a_sample_of_every_float32():
    # every 4099th float32 from -0 to -112 (their bit patterns), and the
    # subnormal range densely
    bits = np.arange(0x80000000, 0xC2E00001, 4099, dtype=np.uint32)
    normal, subnormal = exp_errors(bits.view(np.float32))
    assert normal <= EXP_ULPS
    assert subnormal <= EXP_SUBNORMAL
    dense = np.linspace(-104.0, -87.0, 1_000_001, dtype=np.float32)
    normal, subnormal = exp_errors(dense)
    assert normal <= EXP_ULPS
    assert subnormal <= EXP_SUBNORMAL


def test_exp_edges():
    # e^0 = 1 exactly (a maximal term); below -103.97 (2^-150) it rounds to 0
    d = np.array([0.0, -0.0, -np.inf, -112.0, -1e30, -103.98, -103.0], np.float32)
    got = exp_f32(d)
    assert got[:2].tolist() == [1.0, 1.0]
    assert got[2:6].tolist() == [0.0] * 4
    assert got[6] == np.float32(math.exp(-103.0))  # 2^-148.6: a subnormal


# ------------------------------------------------------------------ peak


@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=600))
def test_peak_is_the_largest_entry(values):
    row = np.array(values, dtype=np.float32)
    assert _fused.peak_f32(row) == row.max()  # (the sign of a zero may differ)


def test_peak_of_a_row_with_a_nan_is_nan_wherever_it_is():
    for where in (0, 255, 256, 599):
        for nan in (np.float32(np.nan), -np.float32(np.nan)):
            row = np.zeros(600, np.float32)
            row[where] = nan
            assert np.isnan(_fused.peak_f32(row))


def test_plus_zero_is_above_minus_zero():
    assert not np.signbit(_fused.peak_f32(np.array([-0.0, 0.0, -0.0], np.float32)))


# -------------------------------------------------------------- precision


@pytest.mark.parametrize("at", [0, 300, 1020])  # in a block, across one, in the tail
def test_relative_precision_of_adversarial_rows(at):
    for name, rows in adversarial_rows(np.float32).items():
        assert worst_logprob_error(padded(rows, 1030, at), np.float32) <= ULPS, name


def test_relative_precision_of_huge_magnitudes():
    assert worst_logprob_error(padded(huge_rows(np.float32), 600, 254), np.float32) <= (
        ULPS
    )


def test_a_long_tail_keeps_relative_precision():
    # 5,000 entries: twenty blocks of small terms below one dominant entry
    tail = -np.arange(4999) / 64.0
    rows = np.array(
        [exact_row(0.0, [0.0, *(tail - g)], np.float32) for g in (1, 20, 60)]
    )
    with compiled():
        got = token_logprobs(rows, np.zeros(3, dtype=int))
    for row, logprob in zip(rows, got, strict=True):
        assert ulps(logprob, exact_log_softmax(row, 0), np.float32) <= ULPS


def test_tied_maxima_in_different_blocks_each_count_once():
    # three maxima at 0, one in each of three blocks, and a rest of e^-30
    row = np.full(800, -np.inf, np.float32)
    row[[3, 300, 799]] = 0.0
    row[500] = -30.0
    with compiled():
        got = token_logprobs(row[None], [300])[0]
    assert ulps(got, exact_log_softmax(row, 300), np.float32) <= ULPS


@given(dominated_rows(dtypes=(np.float32,), max_size=8), st.integers(0, 700))
def test_the_maximal_entry_keeps_its_relative_precision(row, at):
    wide = padded(row[None], 710, at)
    top = int(np.argmax(row))
    exact = exact_log_softmax(row, top)
    with compiled():
        got = token_logprobs(wide, [at + top])[0]
    if not np.isfinite(np.delete(row, top)).any():
        assert got == 0
    elif not underflows(exact, np.float32):
        assert got < 0
        assert ulps(got, exact, np.float32) <= ULPS + input_rounding(row, np.float32)


# ---------------------------------------------------- the same as the tiles


@pytest.mark.parametrize("offset", [0.0, -80.0, 150.0])
def test_the_compiled_pass_agrees_with_the_tiles(offset):
    rng = np.random.default_rng(6)
    z = (rng.normal(size=(40, 3, 5003)) * 3 + offset).astype(np.float32)
    z[0, 1, 17] = -np.inf
    t = rng.integers(0, 5003, size=(40, 3))
    t[0, 1] = 17  # a masked target: -inf
    with compiled():
        got = token_logprobs(z, t)
    with kernels.numpy_kernel():
        tiles = token_logprobs(z, t)
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(tiles))
    finite = np.isfinite(tiles)
    # both within a few float32 ulps of the truth: of each other too
    np.testing.assert_allclose(got[finite], tiles[finite], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got, reference(z, t)["logprob"], rtol=1e-6, atol=1e-5)


def test_both_threads_give_the_same_answer():
    rng = np.random.default_rng(7)
    z = rng.normal(size=(300, 4000)).astype(np.float32)  # above the parallel cutoff
    t = rng.integers(0, 4000, size=300)
    with compiled(chunk_bytes=4000 * 4 * 7):  # chunks of 7 rows
        one = token_logprobs(z, t, workers=1)
        two = token_logprobs(z, t, workers=2)
    np.testing.assert_array_equal(one, two)


def test_large_float32_arrays_take_the_compiled_pass(monkeypatch):
    calls = []
    rows = _fused.logprob_rows

    def counted(*args):
        calls.append(args[3:])
        return rows(*args)

    monkeypatch.setattr(_fused, "logprob_rows", counted)
    size = kernels._FUSED_MIN_ELEMENTS
    z = np.zeros((2, size // 2), np.float32)
    token_logprobs(z, [0, 1])
    assert calls
    calls.clear()
    token_logprobs(z[:1], [0])  # too small
    for other in (
        z.astype(np.float64),
        z.astype(">f4"),  # big-endian
        z.astype(np.float16),
        np.zeros((2, size), np.float32)[:, ::2],  # strided
    ):
        token_logprobs(other, [0, 1])
    with kernels.numpy_kernel():
        token_logprobs(z, [0, 1])
    assert not calls


def test_the_compiled_pass_is_used_when_numba_is_installed():
    assert kernels.fused_available()
    with kernels.numpy_kernel():
        assert not kernels.fused_available()
    assert kernels.fused_available()


def test_seqscore_numba_0_turns_it_off():
    code = "from seqscore.numerics.kernels import fused_available as f; print(f())"
    env = {**os.environ, "SEQSCORE_NUMBA": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "False", out.stderr


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (np.nan, r"logits\[5, 1, 3001\] is NaN"),
        (np.inf, r"logits\[5, 1, 3001\] is \+inf"),
        (-np.inf, r"logits\[5, 1, :\] is entirely -inf"),
    ],
)
def test_errors_name_the_step_and_token_as_the_tiles_do(fault, message):
    z = np.zeros((9, 2, 4000), np.float32)
    if fault == -np.inf:
        z[5, 1] = fault
    else:
        z[5, 1, 3001] = fault
    z[7, 0] = -np.inf  # a later bad row: the first is named
    with (
        compiled(chunk_bytes=4000 * 4 * 3),
        pytest.raises(InvalidInputError, match=message),
    ):
        token_logprobs(z, np.zeros((9, 2), dtype=int), workers=1)


def test_a_memmap_gives_the_same_answer_and_releases_its_pages(tmp_path):
    rng = np.random.default_rng(8)
    z = rng.normal(size=(200, 40_000)).astype(np.float32)  # 30 MiB
    t = rng.integers(0, 40_000, size=200)
    path = tmp_path / "logits.npy"
    np.save(path, z)
    mapped = np.load(path, mmap_mode="r")
    with compiled(chunk_bytes=1 << 20):
        got = token_logprobs(mapped, t)
        assert np.array_equal(got, token_logprobs(z, t))
    assert _resident_kib(path) < z.nbytes / 1024 / 10
