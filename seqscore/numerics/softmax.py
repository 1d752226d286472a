r"""The softmax layer: logsumexp, softmax, log-softmax and cross-entropy.

All functions work along one axis of an array of logits ``z`` (the vocabulary
axis, last by default) and are exact to the precision of the compute dtype:

* float64 in, float64 out; float32 in, float32 out (``exp`` in float32, sums
  accumulated in float64); float16 in, float32 out; integers in, float64 out.
* ``-inf`` means *masked*: that token has probability exactly 0.
* NaN or ``+inf`` anywhere raises :class:`~seqscore.errors.InvalidInputError`
  naming the position. (scipy propagates NaN silently.)
* A temperature ``T`` divides the logits: ``softmax(z / T)``. ``T`` must be
  finite and > 0; anything else raises. It is applied after shifting by the
  maximum, ``(z - max z) / T``, so a small ``T`` cannot overflow.

Precision: the log-normaliser is ``log1p`` of the sum of the non-maximal
terms (:mod:`seqscore.numerics._normaliser`), so a log-probability near 0 keeps its
*relative* precision: ``log_softmax([0, -40])[0]`` is ``-4.248e-18``, not 0,
and ``logsumexp([0, -20])`` is right in every digit. Measured against mpmath
(``tests/test_normaliser.py``, which allows 4): under 2 ulps of the compute
dtype for every log-prob and ``logsumexp`` of rows with one dominant entry at
gaps of 1 to 740 nats (float64) or 1 to 100 (float32, float16), tied maxima,
near ties, ``-inf`` entries, long tails and huge magnitudes (ulps of
subnormals in the subnormal range). A shifted
logit ``z_k - max`` that rounds (it is exact when the two are within a factor
2) moves the result by ``p_k |z_k - max|`` units of roundoff, the problem's
own sensitivity. ``logsumexp = max + log1p(rest)`` is relatively exact
unless ``max < 0`` cancels ``log1p(rest)``, as ``logsumexp([-log 2, -log 2])``
does.

Edge cases, decided once for every function here:

============================  ==================  ============================
input along the axis          ``logsumexp``        ``softmax`` / ``log_softmax``
============================  ==================  ============================
all entries ``-inf``          ``-inf`` (log 0)     raises: no distribution
empty (vocabulary of size 0)  ``-inf`` (log 0)     raises: no distribution
NaN or ``+inf`` entry         raises               raises
finite, spread wider than     exact                the far tail rounds to
the dtype's range                                  probability 0, log-prob
                                                   ``-inf``
============================  ==================  ============================

scipy.special is inconsistent here (``log_softmax([-inf, -inf])`` is NaN while
``logsumexp`` of the same is ``-inf``); seqscore never returns NaN.

scipy's own test cases (``scipy/special/tests/test_logsumexp.py``), each
decided; ``tests/test_softmax.py`` runs them with expected values recomputed
with mpmath:

=====================================  ============================================
scipy case                             seqscore
=====================================  ============================================
empty input: ``-inf``                  same
``arange(200)``, ``[1000, 1000]``,     same, within 4 ulps
1000 x ``10000`` (ints)
``[1e-40] * 10**6`` in the log         same, along axis 0 or 1
domain
``[[1e10, 1e-10], [-1e10, -inf]]``,    same
``keepdims``
``[-inf]``, ``[-inf, -inf]``           ``-inf``, same
``[inf]``, ``[inf, -inf]``, ``[nan]``  raises (scipy: ``inf``, ``nan``): not a logit
gh-18295: ``[0, -40]`` to full         same: ``4.248354255291589e-18`` (the reason
relative precision                     for ``log1p``; the kernel and Plackett-Luce
                                       too)
dtypes: float32 stays float32,         same (float16: computed and returned in
integers become float64                float32)
complex input (gh-21610, gh-21709,     raises: a logit is real, and a log-probability
gh-22601, the complex sign)            has no phase
``b=`` weights (``test_logsumexp_b``,  not offered: a weight ``b > 0`` is ``log b``
``b_zero``, ``b_shape``, gh-22903)     added to its logit, ``b = 0`` is a ``-inf``
                                       logit (``[1, -inf]`` gives 1, as scipy's
                                       ``b = [1, 0]``); negative weights make a
                                       signed sum, not a normaliser
``return_sign`` (sign, sign zero,      not offered: the sum of positive terms has
sign shape, gh-23548)                  sign +1, and a function's return type never
                                       depends on a flag
``axis=None`` or a tuple of axes       raises: one integer axis, the vocabulary's
(scipy's ``softmax`` default)          (softmax of a 2-D array is per row, not over
                                       the whole array)
scalar input (``logsumexp(1)``,        raises ``ShapeError``: no vocabulary axis
``softmax(1000)``, ``log_softmax(1)``)
array-likes (lists)                    same
no write-back to the input             same (kernel too)
device propagation                     not applicable (numpy only)
softmax / log_softmax fixtures         same, within 4 ulps of mpmath
(``[1000, 0, 0, 0]``, ``arange(4)``
and ``+ 100``, two axes, ``[1, 325,
749, 750]``)
=====================================  ============================================
"""

from __future__ import annotations

import numpy as np

from seqscore.errors import InvalidInputError, ShapeError
from seqscore.numerics._arrays import (
    as_float_array,
    as_targets,
    check_temperature,
    raise_for_bad_logit,
    row_label,
)
from seqscore.numerics._normaliser import log_normaliser, rest_sum
from seqscore.numerics.kernels import token_logprobs

__all__ = [
    "cross_entropy",
    "cross_entropy_grad",
    "log_softmax",
    "logsumexp",
    "softmax",
]


def _shifted(z, axis: int, temperature: float, *, need_distribution: bool):
    """Validate ``z`` and return ``(z - max) / T``, the max, its index and the dtype.

    The shifted logits are <= 0 with a 0 at every row's maximum, so ``exp``
    cannot overflow and the maximal term is exactly 1. ``top`` is the index
    of the first maximum along ``axis`` (kept, length 1), found in the same
    pass as the maximum itself. Rows that are entirely ``-inf`` get a shift
    of 0 (their ``exp`` is all zeros); with ``need_distribution`` they raise
    instead.
    """
    z = as_float_array(z)
    if z.ndim == 0:
        raise ShapeError("logits must have at least one dimension (the vocabulary)")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise InvalidInputError(f"axis must be an integer, got {axis!r}")
    if not -z.ndim <= axis < z.ndim:
        raise ShapeError(f"axis {axis} is out of range for logits of shape {z.shape}")
    if z.shape[axis] == 0:
        if need_distribution:
            raise InvalidInputError(
                "empty vocabulary: the softmax axis has length 0, so there is no "
                "distribution"
            )
        return z, None, None, z.dtype
    t = check_temperature(temperature)
    # argmax finds the first NaN or +inf too, so the peak doubles as the check
    top = np.argmax(z, axis=axis, keepdims=True)
    peak = np.take_along_axis(z, top, axis=axis)
    if not np.all(np.isfinite(peak)):
        if np.isnan(peak).any() or np.isposinf(peak).any():
            raise_for_bad_logit(z)
        if need_distribution:
            row = tuple(np.argwhere(np.isneginf(np.squeeze(peak, axis=axis)))[0])
            raise InvalidInputError(
                f"{row_label(row, axis, z.ndim, 'logits')} is entirely -inf "
                "(every token masked): there is no distribution to normalise"
            )
        peak = np.where(np.isneginf(peak), 0, peak)
    # a spread beyond the dtype's range (or blown up by a tiny temperature)
    # rounds to -inf: probability 0, which is the correctly rounded answer
    with np.errstate(over="ignore"):
        shifted = z - peak
        if t != 1.0:
            shifted /= np.asarray(t, dtype=z.dtype)
    return shifted, peak, top, z.dtype


def _log_normaliser(shifted: np.ndarray, top: np.ndarray, axis: int) -> np.ndarray:
    """``log sum exp(shifted)`` along ``axis``: ``log1p`` of the rest, summed in
    float64 (:mod:`seqscore.numerics._normaliser`)."""
    return log_normaliser(rest_sum(np.exp(shifted), top, axis, dtype=np.float64))


def logsumexp(z, axis: int = -1, *, keepdims: bool = False) -> np.ndarray:
    r"""Stable :math:`\log \sum_k \exp z_k` along ``axis``.

    Computed as :math:`m + \operatorname{log1p}(s)` with :math:`m = \max_k
    z_k` and :math:`s = \sum_k e^{z_k - m} - 1`, summed over every entry but
    one maximal one (:mod:`seqscore.numerics._normaliser`), so a dominant entry's
    small excess keeps its relative precision. A row that is entirely
    ``-inf``, or empty, gives ``-inf`` (the log of an empty sum). NaN or
    ``+inf`` raises ``InvalidInputError``.

    Unlike ``scipy.special.logsumexp`` (see the module notes): real input
    only, one integer axis, no ``b=`` weights (add ``log b`` to the logits;
    ``-inf`` for a zero weight) and no ``return_sign`` (the sum is positive).

    >>> float(logsumexp([1000.0, 1000.0]))  # naive exp overflows
    1000.6931471805599
    >>> float(logsumexp([0.0, -40.0]))  # log1p(e^-40); log(1 + e^-40) is 0
    4.248354255291589e-18
    >>> float(logsumexp([-np.inf, -np.inf]))
    -inf
    >>> logsumexp(np.zeros((2, 4)))
    array([1.38629436, 1.38629436])
    """
    shifted, peak, top, dtype = _shifted(z, axis, 1.0, need_distribution=False)
    if peak is None:  # empty axis
        out = np.full(np.sum(shifted, axis=axis, keepdims=True).shape, -np.inf)
    else:
        out = _log_normaliser(shifted, top, axis) + peak
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return out.astype(dtype, copy=False)


def log_softmax(z, axis: int = -1, *, temperature: float = 1.0) -> np.ndarray:
    r"""Log-probabilities :math:`z_k/T - \log \sum_j \exp(z_j/T)` along ``axis``.

    Computed from the shifted logits, never as ``log(softmax(z))``, so a large
    gap gives a large negative number, not ``-inf``; the normaliser is
    ``log1p`` of the non-maximal terms, so a near-certain token's log-prob
    keeps its relative precision (it is ``< 0`` whenever another token is
    possible, unless it underflows). Masked (``-inf``) entries give ``-inf``.
    An all-``-inf`` or empty row raises (see the module notes). Unlike
    scipy's, the default axis is the last, never the whole array.

    >>> log_softmax([1000.0, 1.0])
    array([   0., -999.])
    >>> float(log_softmax([0.0, -40.0])[0])  # 1 - p = 4.2e-18 is not 0
    -4.248354255291589e-18
    >>> np.round(log_softmax([2.0, 1.0, 0.1]), 4).tolist()
    [-0.417, -1.417, -2.317]
    """
    shifted, _, top, dtype = _shifted(z, axis, temperature, need_distribution=True)
    return (shifted - _log_normaliser(shifted, top, axis)).astype(dtype, copy=False)


def softmax(z, axis: int = -1, *, temperature: float = 1.0) -> np.ndarray:
    r"""Probabilities :math:`\exp(z_k/T) / \sum_j \exp(z_j/T)` along ``axis``.

    Adding a constant to every logit changes nothing; multiplying by a
    positive scalar keeps the argmax; all zeros give the uniform ``1/K``.
    Masked (``-inf``) entries get exactly 0. An all-``-inf`` or empty row
    raises (see the module notes).

    >>> np.round(softmax([2.0, 1.0, 0.1]), 3)
    array([0.659, 0.242, 0.099])
    >>> softmax([0.0, 0.0, 0.0, 0.0])
    array([0.25, 0.25, 0.25, 0.25])
    >>> softmax([1.0, -np.inf])
    array([1., 0.])
    """
    shifted, _, _, dtype = _shifted(z, axis, temperature, need_distribution=True)
    unnormalised = np.exp(shifted)
    total = np.sum(unnormalised, axis=axis, keepdims=True, dtype=np.float64)
    return (unnormalised / total).astype(dtype, copy=False)


def _batch_rows(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """Logits as ``(N, K)`` and labels as ``(N,)``, checked against each other."""
    logits = as_float_array(logits)
    labels = np.asarray(labels)
    if logits.ndim < 1 or logits.shape[:-1] != labels.shape:
        raise ShapeError(
            f"labels of shape {labels.shape} do not match logits of shape "
            f"{logits.shape}: expected labels of shape {logits.shape[:-1]}"
        )
    if labels.size == 0:
        raise InvalidInputError("cross-entropy of an empty batch is undefined")
    k = logits.shape[-1]
    labels = as_targets(labels, k, name="labels")
    return logits.reshape(-1, k), labels.reshape(-1)


def cross_entropy(logits, labels) -> float:
    r"""Mean cross-entropy :math:`-\frac1N \sum_n \log\mathrm{softmax}(z_n)_{y_n}`.

    ``logits`` has shape ``(..., K)`` and ``labels`` the integer shape
    ``(...)``; the mean is over every labelled row. A label whose logit is
    ``-inf`` has probability 0, so the loss is ``+inf`` (not an error).

    >>> round(cross_entropy([[2.0, 1.0, 0.1]], [0]), 4)
    0.417
    >>> round(cross_entropy([[0.0, 0.0]], [1]), 4)  # log 2
    0.6931
    """
    z, y = _batch_rows(logits, labels)
    return float(-np.mean(token_logprobs(z, y)))


def cross_entropy_grad(logits, labels) -> np.ndarray:
    r"""Gradient of :func:`cross_entropy` with respect to the logits.

    :math:`\partial L / \partial z_{nk} = (\mathrm{softmax}(z_n)_k -
    [k = y_n]) / N`. Each row sums to 0; the entry of the true class is the
    most negative, and its size grows toward ``1/N`` as the model becomes
    confidently wrong. Returned (float64) with the shape of ``logits``.

    The true class's entry, :math:`-(1 - p_y)`, is taken as
    :math:`\operatorname{expm1}(\log p_y)` from the log-probability (see
    :mod:`seqscore.numerics._normaliser`), not as :math:`p_y - 1`: for a confidently
    right model :math:`1 - p_y` is far below the float spacing at 1, and the
    difference would be 0.

    >>> cross_entropy_grad([[0.0, 0.0]], [0])
    array([[-0.5,  0.5]])
    >>> cross_entropy_grad([[0.0, -40.0]], [0])  # 1 - p = e^-40 / (1 + e^-40)
    array([[-4.24835426e-18,  4.24835426e-18]])
    """
    shape = np.shape(logits)
    z, y = _batch_rows(logits, labels)
    shifted, _, top, _ = _shifted(z, -1, 1.0, need_distribution=True)
    shifted = shifted.astype(np.float64, copy=False)
    log_total = _log_normaliser(shifted, top, -1)
    grad = np.exp(shifted - log_total)
    rows = np.arange(len(y))
    grad[rows, y] = np.expm1(shifted[rows, y] - log_total[:, 0])
    grad /= len(y)
    return grad.reshape(shape)
