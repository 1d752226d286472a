r"""Uncertainty of accuracies: standard errors, bootstrap intervals, McNemar.

An accuracy is the mean of :math:`n` per-document 0/1 outcomes with
:math:`k` ones, :math:`\hat p = k / n`.

* **Standard error**, as lm-eval reports it (``mean_stderr``: the sample
  standard deviation, with :math:`n - 1`, over :math:`\sqrt n`):
  :math:`\sqrt{\hat p (1 - \hat p) / (n - 1)}`; undefined for :math:`n < 2`.
* **Bootstrap percentile interval**: resample the :math:`n` documents with
  replacement, recompute the accuracy, and take the
  :math:`(1 \pm c)/2` quantiles (numpy's linear interpolation) of the
  resampled accuracies. Resampling 0/1 outcomes only matters through how
  many ones are drawn, which is exactly Binomial(:math:`n, \hat p`), so that
  count is drawn directly: the same distribution as resampling the
  documents, in O(resamples) time and memory for any :math:`n`.
* **Paired bootstrap** of the difference of two runs on the same documents:
  each document falls in one of four cells (both right, only A, only B,
  neither); resampling documents draws the cell counts from
  Multinomial(:math:`n`, observed cell frequencies), and the difference of
  accuracies is (only A - only B) / :math:`n`.
* **McNemar's exact test**: with :math:`b` documents only A gets right and
  :math:`c` only B, under the null hypothesis (equal accuracy) each of the
  :math:`b + c` discordant documents goes either way with probability 1/2:
  :math:`p = \min(1, 2 P[X \le \min(b, c)])` for :math:`X \sim`
  Binomial(:math:`b + c`, 1/2), the binomial tail being the regularised
  incomplete beta function :math:`I_{1/2}(b + c - m, m + 1)`.

All randomness comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc

from seqscore.errors import InvalidInputError

__all__ = [
    "Interval",
    "bootstrap_accuracy",
    "kendall_tau_b",
    "mcnemar_exact",
    "paired_bootstrap",
    "sample_stderr",
]


@dataclass(frozen=True)
class Interval:
    """A bootstrap percentile interval and how it was drawn."""

    low: float
    high: float
    confidence: float
    resamples: int
    seed: int


def sample_stderr(correct: int, n: int) -> float | None:
    r"""lm-eval's standard error of an accuracy: :math:`\sqrt{\hat p(1-\hat p)/(n-1)}`.

    ``None`` for fewer than two documents (lm-eval writes ``"N/A"``).

    >>> round(sample_stderr(3, 4), 6)  # sqrt(0.75 * 0.25 / 3)
    0.25
    >>> sample_stderr(1, 1) is None
    True
    """
    _check_counts(correct, n)
    if n < 2:
        return None
    return math.sqrt(correct * (n - correct) / (n * n * (n - 1)))


def _check_counts(correct: int, n: int) -> None:
    if not 0 <= correct <= n:
        raise InvalidInputError(f"{correct} correct of {n} documents")


def _check_bootstrap(confidence: float, resamples: int) -> None:
    if not 0 < confidence < 1:
        raise InvalidInputError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise InvalidInputError(f"resamples must be >= 1, got {resamples}")


def _interval(draws: np.ndarray, confidence, resamples, seed) -> Interval:
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return Interval(float(low), float(high), confidence, resamples, seed)


def bootstrap_accuracy(
    correct: int,
    n: int,
    *,
    resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval | None:
    """Bootstrap percentile interval of the accuracy ``correct / n``.

    ``None`` when there are no documents. The same ``seed`` gives the same
    interval.

    >>> ci = bootstrap_accuracy(30, 40, seed=1)
    >>> ci.low < 0.75 < ci.high, ci == bootstrap_accuracy(30, 40, seed=1)
    (True, True)
    """
    _check_counts(correct, n)
    _check_bootstrap(confidence, resamples)
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.binomial(n, correct / n, size=resamples) / n
    return _interval(draws, confidence, resamples, seed)


def paired_bootstrap(
    both: int,
    only_a: int,
    only_b: int,
    neither: int,
    *,
    resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval | None:
    """Bootstrap interval of accuracy(A) - accuracy(B) over paired documents.

    The four counts classify the documents by which run got them right.

    >>> ci = paired_bootstrap(50, 12, 3, 35, seed=0)
    >>> ci.low < 0.09 < ci.high
    True
    """
    counts = np.array([both, only_a, only_b, neither])
    if (counts < 0).any():
        raise InvalidInputError(f"negative document counts {counts.tolist()}")
    _check_bootstrap(confidence, resamples)
    n = int(counts.sum())
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    cells = rng.multinomial(n, counts / n, size=resamples)
    draws = (cells[:, 1] - cells[:, 2]) / n
    return _interval(draws, confidence, resamples, seed)


def mcnemar_exact(b: int, c: int) -> float:
    r"""Two-sided exact McNemar p-value of ``b`` vs ``c`` discordant documents.

    :math:`\min(1, 2 I_{1/2}(b + c - m, m + 1))` with :math:`m = \min(b, c)`:
    scipy's ``binomtest(b, b + c, 0.5).pvalue``. No discordant documents
    give 1.

    >>> mcnemar_exact(0, 5)  # 2 / 2**5
    0.0625
    >>> mcnemar_exact(4, 4), mcnemar_exact(0, 0)
    (1.0, 1.0)
    """
    if b < 0 or c < 0:
        raise InvalidInputError(f"discordant counts must be >= 0, got {b} and {c}")
    n, m = b + c, min(b, c)
    if 2 * m >= n:  # includes n == 0: the most likely split
        return 1.0
    return min(1.0, 2.0 * float(betainc(n - m, m + 1, 0.5)))


def kendall_tau_b(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""Kendall's :math:`\tau_b` of each row of ``a`` against the same row of ``b``.

    :math:`\tau_b = (C - D) / \sqrt{(P - T_a)(P - T_b)}` over the
    :math:`P = k(k-1)/2` pairs of a row's ``k`` entries, :math:`C` and
    :math:`D` counting concordant and discordant pairs and :math:`T` pairs
    tied within a row; NaN where a row is constant (as scipy's
    ``kendalltau``).

    >>> kendall_tau_b(np.array([[1.0, 2.0, 3.0]]), np.array([[3.0, 2.0, 1.0]]))
    array([-1.])
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise InvalidInputError(f"expected two (N, k) arrays, got {a.shape}, {b.shape}")
    i, j = np.triu_indices(a.shape[1], k=1)
    sa, sb = _order(a, i, j), _order(b, i, j)
    pairs = len(i)
    tied_a = np.sum(sa == 0, axis=1)
    tied_b = np.sum(sb == 0, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(sa * sb, axis=1) / np.sqrt((pairs - tied_a) * (pairs - tied_b))


def _order(x: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """+1, -1 or 0 per pair: compared, not subtracted, so that two equal
    infinities tie (their difference would be NaN)."""
    left, right = x[:, i], x[:, j]
    return (left > right).astype(np.int8) - (left < right).astype(np.int8)
