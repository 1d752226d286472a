r"""The token kernel's log-prob pass for float32 rows, compiled (numba).

Imported only when numba is installed (the extra ``seqscore[fast]``), by
:func:`seqscore.numerics.kernels.token_logprobs` for large float32 arrays.
It computes what the numpy tiles compute, per row :math:`z`:

.. math:: m = \max_k z_k, \quad s = \sum_{k:\, z_k < m} e^{z_k - m}
          + (\#\{k : z_k = m\} - 1), \quad
          \log p_t = (z_t - m) - \operatorname{log1p}(s),

in two passes over the row instead of five: one for :math:`m` (read from
memory), one for :math:`s` (the row is still in the core's cache). The
numpy tiles need an ``argmax``, a subtraction, an ``exp``, a zeroing of the
maximal term and a sum, each a pass over the tile; numpy's float32 ``exp``
alone costs what this whole kernel costs.

Numerics, against the numpy path:

* :math:`d_k = z_k - m` is formed in float32, as there.
* :math:`e^{d}` is :func:`exp_f32`: within 1.011 float32 ulps of
  :math:`e^d` over every float32 :math:`d \le 0` (all 1.1e9 of them
  checked against float64; numpy's float32 ``exp``: 2.541), and a
  subnormal result within 0.751 of the smallest subnormal (numpy: 1.537).
* The rest :math:`s` leaves out the maximal terms and adds the other tied
  maxima as whole ones (so a dominated row's :math:`s` keeps its relative
  precision, as :mod:`seqscore.numerics._normaliser` requires): blocks of
  :data:`BLOCK` terms are summed in float32 in the SIMD lanes, the blocks'
  sums in float64. As LLVM vectorises a block on an AVX-512 host (four
  interleaved vectors of 16 lanes: 4 terms a lane, then a 6-level tree
  across the lanes), a term goes through at most 10 float32 roundings (13
  with AVX2's 8 lanes, interleaved alike), against about 25 in numpy's
  pairwise sum of a 50,257-entry row; the float64 sum of the blocks adds
  nothing measurable.

Rows holding a NaN or ``+inf``, or entirely ``-inf``, are not scored: the
pass stops and returns the row, which the caller hands to the numpy path
for its error.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["BLOCK", "exp_f32", "logprob_rows", "peak_f32"]

# exp: e^d = 2^n e^r, n = round(d log2 e), r = d - n ln 2 in two parts
# (Cody and Waite; _LN2_HI has 9 significant bits, so n * _LN2_HI is exact)
_ROUND = np.float32(1.5 * 2.0**23)  # x + _ROUND - _ROUND rounds x to an integer
_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
# e^r = 1 + r + r^2 P(r) on |r| <= ln(2) / 2 (Cephes expf)
_P = tuple(
    np.float32(c)
    for c in (
        1.9875691500e-4,
        1.3981999507e-3,
        8.3334519073e-3,
        4.1665795894e-2,
        1.6666665459e-1,
        5.0000001201e-1,
    )
)
# below -112, e^d rounds to 0 in float32 (its smallest subnormal is e^-103.3)
_FLOOR = np.float32(-112.0)
# 2^n = 2^(n + 64) 2^-64: both factors normal for n >= -190
_BIAS = 127 + 64
_TWO_M64 = np.float32(2.0**-64)
_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)
_ABS = np.int32(0x7FFFFFFF)  # every bit but the sign
_INF_BITS = np.int32(0x7F800000)  # above it (sign cleared): a NaN

#: Terms summed in float32 before their sum joins the float64 total.
BLOCK = 256


@numba.njit(cache=True, fastmath={"contract"})
def exp_f32(d):
    r""":math:`e^d` for a float32 :math:`d \le 0` (``-inf`` gives 0).

    :math:`d = n \ln 2 + r` with :math:`n` the integer nearest
    :math:`d \log_2 e` and :math:`|r| \le \ln(2)/2`; :math:`e^r` from a
    degree-7 polynomial, then scaled by :math:`2^n` in two exact steps, so
    that a subnormal result is rounded once. No branch and no table: the
    loops that call it run in SIMD lanes. Compiled on its own, without its
    callers' ``reassoc``: with it, ``(x + R) - R`` may be folded to ``x``,
    which undoes the rounding of :math:`n` (LLVM keeps each instruction's
    flags when it inlines the function).

    >>> float(exp_f32(np.float32(-1.0)))  # e^-1 rounded to float32
    0.3678794503211975
    >>> float(np.exp(np.float32(-1.0)))  # numpy's, one ulp below
    0.3678794205188751
    >>> float(exp_f32(np.float32(-np.inf)))
    0.0
    """
    x = d if d > _FLOOR else _FLOOR
    n = (x * _LOG2E + _ROUND) - _ROUND
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = ((((_P[0] * r + _P[1]) * r + _P[2]) * r + _P[3]) * r + _P[4]) * r + _P[5]
    e_r = p * (r * r) + r + _ONE
    scale = np.int32((np.int32(n) + _BIAS) << 23).view(np.float32)
    return (e_r * scale) * _TWO_M64


@numba.njit(cache=True, nogil=True)
def peak_f32(row):
    """The largest entry of a float32 row; NaN if the row holds a NaN.

    Compared as integers (float32 bits with the sign's order turned, which
    orders them as floats: ``-0.0`` just below ``+0.0``), which run in SIMD
    lanes where a float ``max`` loop does not; a second integer maximum of
    the bits without their sign finds a NaN.

    >>> float(peak_f32(np.array([-3.0, 2.5, -np.inf], np.float32)))
    2.5
    >>> float(peak_f32(np.array([1.0, np.nan], np.float32)))
    nan
    """
    top = np.int32(-(2**31))
    magnitude = np.int32(0)
    for i in range(row.size):
        bits = np.float32(row[i]).view(np.int32)
        top = max(top, np.int32(bits ^ ((bits >> 31) & _ABS)))
        magnitude = max(magnitude, np.int32(bits & _ABS))
    if magnitude > _INF_BITS:
        return np.float32(np.nan)
    return np.int32(top ^ ((top >> 31) & _ABS)).view(np.float32)


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _rest_parts(row, peak):
    """``(others, ties)``: the float64 sum of :math:`e^{z - m}` over the
    entries below ``peak``, and the count of entries equal to it.

    ``reassoc`` lets each block's float32 sum run in SIMD lanes; the two
    parts are combined by the caller, where nothing may be reassociated
    (``others + (ties - 1)``, not ``(others + ties) - 1``).
    """
    others = 0.0
    ties = 0.0
    whole = row.size - row.size % BLOCK
    for lo in range(0, whole, BLOCK):
        block = _ZERO
        tied = _ZERO  # at most BLOCK: exact in float32
        for j in range(lo, lo + BLOCK):
            d = row[j] - peak
            term = exp_f32(d)
            block += term if d < 0 else _ZERO
            tied += _ONE if d == 0 else _ZERO
        others += np.float64(block)
        ties += np.float64(tied)
    for j in range(whole, row.size):
        d = row[j] - peak
        if d < 0:
            others += np.float64(exp_f32(d))
        elif d == 0:
            ties += 1.0
    return others, ties


@numba.njit(cache=True, nogil=True)
def logprob_rows(rows, targets, out, lo, hi):
    r"""``out[r] = (z_t - m) - log1p(s)`` for rows ``lo`` to ``hi - 1`` of
    the float32 ``(n, V)`` array ``rows`` (C order), ``t = targets[r]``.

    Returns -1, or the first row holding a NaN or ``+inf`` or entirely
    ``-inf`` (its log-prob and those after it are not written). Runs
    without the GIL, so threads can share the rows.

    >>> out = np.empty(2)
    >>> z = np.array([[2.0, 1.0, 0.1], [0.0, -40.0, -np.inf]], np.float32)
    >>> logprob_rows(z, np.array([0, 0]), out, 0, 2), out.round(4).tolist()
    (-1, [-0.417, -0.0])
    >>> float(out[1])  # -log1p(e^-40): a dominated row keeps its precision
    -4.24835413113866e-18
    >>> float(np.float32(math.exp(-40.0)))  # e^-40 rounded to float32
    4.24835413113866e-18
    """
    for r in range(lo, hi):
        row = rows[r]
        peak = peak_f32(row)
        if not (-np.inf < peak < np.inf):
            return r
        others, ties = _rest_parts(row, peak)
        rest = others + (ties - 1.0)
        target = np.float64(row[targets[r]])
        out[r] = (target - np.float64(peak)) - math.log1p(rest)
    return -1
