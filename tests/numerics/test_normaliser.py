"""Relative precision of the log-normaliser step and of everything built on it.

Every log-probability seqscore computes goes through
:mod:`seqscore.numerics._normaliser` (``log Z = log1p(rest)``). These tests measure the
error of ``logsumexp``, ``log_softmax``, cross-entropy and its gradient, the
token kernel's log-probs, top-k log-probs and entropies, and Plackett-Luce
log-likelihoods against mpmath at 50 significant digits, on rows built to
break the plain ``log(sum)``: one dominant entry with gaps of 1 to 740 nats
(float64) or 1 to 100 (float32, float16), tied maxima, near ties, ``-inf``
entries, long tails and huge magnitudes.

Errors are counted in ulps of the compute dtype (float64 for float64 input,
float32 for float32 and float16) at the exact value: ``|computed - exact| /
spacing(exact)``, with the subnormal spacing below the normal range. That is
a relative measure: an answer of 0 for ``-4.2e-18`` is 10**16 ulps off, not
"within 1e-15". The rows are built so that every shifted logit ``z_k - max``
is exact in the dtype (checked when a row is made): a rounded shift moves
the answer by ``p_k |z_k - max| u``, the problem's own sensitivity, which
no method computing in the dtype avoids.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

import seqscore.numerics.kernels as kernels
import seqscore.plackett_luce._stages as stages_module
from seqscore import (
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    logsumexp,
    token_logprobs,
    token_stats,
)
from seqscore import plackett_luce as pl
from seqscore.numerics._normaliser import log_normaliser, merge_rests, rest_sum
from tests.strategies import dominated_rows, padded_rankings

mp.dps = 50

# A few ulps: what the step promises for log-probs, normalisers and entropies.
ULPS = 4.0
# Largest gaps tried: past them every exp of the compute dtype is 0 (745 nats
# in float64, 104 in float32).
GAPS = {np.float64: 740, np.float32: 100, np.float16: 100}
# Eighths up to +-1000 (their differences are exact), and far-off values.
_EIGHTHS = st.integers(-8000, 8000).map(lambda k: k / 8)
_LOGITS = st.one_of(_EIGHTHS, st.sampled_from([1e300, -1e300]))


# ------------------------------------------------------------------ reference


def exact_parts(row):
    return _exact_parts(tuple(float(v) for v in row))


@functools.cache
def _exact_parts(row: tuple[float, ...]):
    """``(m, log Z)`` of the exact row, ``log Z = log sum_k e^{z_k - m}``.

    ``log Z`` is ``mpmath.log1p`` of the sum of the non-maximal terms: at 50
    digits ``log(1 + s)`` would itself lose an ``s`` below 1e-50 (a gap of
    116 nats). :func:`test_the_reference_agrees_with_a_plain_log_at_high_precision`
    checks it against ``log`` of the whole sum at 400 digits.
    """
    values = [mp.mpf(float(v)) for v in row if np.isfinite(v)]
    peak = max(values)
    terms = sorted((mp.exp(v - peak) for v in values), reverse=True)
    return peak, mp.log1p(mp.fsum(terms[1:]))


def exact_log_softmax(row, k):
    peak, log_z = exact_parts(row)
    return (mp.mpf(float(row[k])) - peak) - log_z


def exact_logsumexp(row):
    peak, log_z = exact_parts(row)
    return peak + log_z


def exact_entropy(row):
    return _exact_entropy(tuple(float(v) for v in row))


@functools.cache
def _exact_entropy(row: tuple[float, ...]):
    r""":math:`H = -\sum_k p_k \log p_k`, every term >= 0."""
    peak, log_z = exact_parts(row)
    logs = [(mp.mpf(float(v)) - peak) - log_z for v in row if np.isfinite(v)]
    return -mp.fsum(mp.exp(a) * a for a in logs)


def ulps(computed, exact, dtype) -> float:
    """``|computed - exact|`` in units of the spacing of ``dtype`` at ``exact``."""
    computed = float(computed)
    if exact == 0:
        return 0.0 if computed == 0 else np.inf
    info = np.finfo(dtype)
    magnitude = abs(float(exact))
    if magnitude > float(info.max):
        # rounds to an infinity of its sign, or is kept in a float64 result
        if computed == np.copysign(np.inf, float(exact)):
            return 0.0
        return ulps(computed, exact, np.float64) if dtype != np.float64 else np.inf
    spacing = max(float(np.spacing(dtype(magnitude))), float(info.smallest_subnormal))
    return float(abs(mp.mpf(computed) - exact) / spacing)


def compute_dtype(dtype):
    return np.float32 if dtype == np.float16 else dtype


def input_rounding(row, dtype) -> float:
    """Ulps a log-prob of ``row`` may carry beyond :data:`ULPS` because the
    row's shifted logits round or its terms are subnormal in ``dtype``.

    A shifted logit ``d = z_k - m`` rounded in ``dtype`` is off by up to
    ``u |d|``, which moves its term ``e^d`` (and a log-prob made of it) by
    that relative amount: up to ``|d|`` ulps. A subnormal term is off by up
    to half the smallest subnormal: an ulp of a result that small.
    """
    narrow = row.astype(dtype)
    peak = narrow.max()
    tiny = np.log(float(np.finfo(dtype).tiny))
    extra = 0.0
    for value in narrow[np.isfinite(narrow)]:
        with np.errstate(over="ignore"):
            d = value - peak  # as the dtype computes it
        exact = Fraction(float(value)) - Fraction(float(peak))
        if not np.isfinite(d) or Fraction(float(d)) != exact:
            extra = max(extra, abs(float(exact)))
        if float(exact) < tiny:
            extra += 1
    return extra


# ----------------------------------------------------------------------- rows


def exact_row(offset, diffs, dtype):
    """``offset + diffs`` in ``dtype``, checked to shift back to ``diffs``
    exactly (a test row whose shifted logits round would measure rounding of
    the input, not the method)."""
    diffs = np.asarray(diffs, dtype=np.float64)
    row = (offset + diffs).astype(dtype)
    back = row.astype(np.float64) - np.max(row.astype(np.float64))
    if not np.array_equal(back, diffs - np.max(diffs)):
        raise ValueError(f"offset {offset} + {diffs} is not exact in {dtype}")
    return row


def gaps(dtype):
    """Every whole gap from 1 to the dtype's limit, and some fractional ones."""
    top = GAPS[dtype]
    return [*range(1, top + 1), *(g + 0.375 for g in range(0, top, 7))]


def families(g):
    """Rows (as shifted logits) around one dominant entry at a gap ``g``."""
    inf = np.inf
    return {
        "one rival": [0.0, -g],
        "a tail": [0.0, -g, -g - 1.0, -g - 2.5, -g - 40.0],
        "tied maxima": [0.0, 0.0, -g],
        "three tied": [0.0, -g, 0.0, -g - 0.5, 0.0],
        "near tie": [0.0, -(2.0**-8), -g],
        "masked": [-inf, 0.0, -inf, -g, -inf],
    }


OFFSETS = {
    np.float64: (0.0, 1.0, -(2.0**16), 2.0**40 + 0.5),
    np.float32: (0.0, 1.0, -(2.0**12), 2.0**12 + 0.5),
    np.float16: (0.0, -8.0),
}


def adversarial_rows(dtype):
    """``{family: (rows, description)}``: 2-D arrays of rows of one length."""
    out = {}
    offsets = OFFSETS[dtype]
    for i, g in enumerate(gaps(dtype)):
        if dtype == np.float16 and g != int(g):
            continue  # float16 holds whole gaps only, near 100
        offset = offsets[i % len(offsets)]  # each gap with one offset, in turn
        for name, diffs in families(g).items():
            if dtype == np.float16 and name == "near tie":
                continue
            out.setdefault(name, []).append(exact_row(offset, diffs, dtype))
    return {name: np.array(rows) for name, rows in out.items()}


def huge_rows(dtype):
    """Magnitudes near the dtype's range: ties, and gaps of an ulp of 1e300."""
    big = 1e300 if dtype == np.float64 else 3e38
    below = np.nextafter(dtype(big), dtype(0))
    return np.array(
        [
            [big, big, -np.inf],
            [-big, -big, -big],
            [big, below, big],
            [below, big, -big],
        ],
        dtype=dtype,
    )


# ---------------------------------------------------------------- the checks


def worst_log_softmax_error(rows, dtype) -> float:
    out = log_softmax(rows)
    worst = 0.0
    for row, got in zip(rows, out, strict=True):
        for k in np.flatnonzero(np.isfinite(row)):
            worst = max(worst, ulps(got[k], exact_log_softmax(row, k), dtype))
        assert np.all(np.isneginf(got[np.isneginf(row)]))
    return worst


def kernel_errors(rows, dtype) -> dict:
    """Worst ulps of every kernel output, each row scored at every column."""
    n, vocab = rows.shape
    repeated = np.repeat(rows, vocab, axis=0)
    targets = np.tile(np.arange(vocab), n)
    k = min(3, vocab)
    stats = token_stats(repeated, targets, top_k=k)
    assert np.array_equal(token_logprobs(repeated, targets), stats.logprob)
    worst = dict.fromkeys(("logprob", "argmax", "top", "entropy"), 0.0)
    for i, row in enumerate(repeated):
        t = targets[i]
        if np.isfinite(row[t]):
            exact = exact_log_softmax(row, t)
            worst["logprob"] = max(
                worst["logprob"], ulps(stats.logprob[i], exact, dtype)
            )
        exact = exact_log_softmax(row, int(stats.argmax[i]))
        worst["argmax"] = max(
            worst["argmax"], ulps(stats.argmax_logprob[i], exact, dtype)
        )
        for j in range(k):
            column = int(stats.top_ids[i, j])
            if np.isfinite(row[column]):
                exact = exact_log_softmax(row, column)
                error = ulps(stats.top_logprobs[i, j], exact, dtype)
                worst["top"] = max(worst["top"], error)
        error = ulps(stats.entropy[i], exact_entropy(row), dtype)
        worst["entropy"] = max(worst["entropy"], error - entropy_slack(row, dtype))
    return worst


def entropy_slack(row, dtype) -> float:
    """Ulps an entropy may carry beyond :data:`ULPS` from subnormal terms.

    A term ``e = exp(d)`` in the subnormal range is off by up to half the
    smallest subnormal, and the entropy multiplies it by ``|d|``: at most
    ``(1 + |d|) / 2`` of the smallest subnormal per term, which is that many
    ulps only where the entropy itself is subnormal (and nothing elsewhere).
    """
    d = row.astype(np.float64) - np.max(row.astype(np.float64))
    tiny = np.log(float(np.finfo(dtype).tiny))
    terms = d[np.isfinite(d) & (d < tiny)]
    if not len(terms):
        return 0.0
    entropy = float(exact_entropy(row))
    absolute = float(np.sum(1 + np.abs(terms)) / 2 * np.finfo(dtype).smallest_subnormal)
    return absolute / float(
        max(np.spacing(dtype(entropy)), np.finfo(dtype).smallest_subnormal)
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_log_softmax_and_logsumexp_keep_relative_precision(dtype):
    work = compute_dtype(dtype)
    for name, rows in adversarial_rows(dtype).items():
        assert worst_log_softmax_error(rows, work) <= ULPS, name
        got = logsumexp(rows, axis=1)
        worst = max(
            ulps(v, exact_logsumexp(r), work) for r, v in zip(rows, got, strict=True)
        )
        assert worst <= ULPS, name


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_magnitudes_keep_relative_precision(dtype):
    rows = huge_rows(dtype)
    assert worst_log_softmax_error(rows, dtype) <= ULPS
    assert kernel_errors(rows, dtype)["logprob"] <= ULPS
    got = logsumexp(rows, axis=1)
    assert (
        max(ulps(v, exact_logsumexp(r), dtype) for r, v in zip(rows, got, strict=True))
        <= ULPS
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_kernel_keeps_relative_precision(dtype):
    work = compute_dtype(dtype)
    for name, rows in adversarial_rows(dtype).items():
        worst = kernel_errors(rows, work)
        assert max(worst.values()) <= ULPS, (name, worst)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_long_tail_keeps_relative_precision(dtype):
    # 1,000 entries: a pairwise sum of 999 small terms, and one dominant entry
    tail = -np.arange(999) / 8.0
    rows = np.array([exact_row(0.0, [0.0, *(tail - g)], dtype) for g in (1, 20, 60)])
    assert worst_log_softmax_error(rows, dtype) <= ULPS
    stats = token_stats(rows, np.zeros(3, dtype=int))
    for row, logprob, entropy in zip(rows, stats.logprob, stats.entropy, strict=True):
        assert ulps(logprob, exact_log_softmax(row, 0), dtype) <= ULPS
        assert ulps(entropy, exact_entropy(row), dtype) <= ULPS


def test_column_tiles_merge_without_losing_the_rest(monkeypatch):
    # tiles of 1,024 columns: the first all masked, the maximum in the third,
    # tied with a maximum in the first row's second tile
    monkeypatch.setattr(kernels, "_TILE_BYTES", 1024 * 8)
    rows = np.full((3, 3000), -np.inf)
    rows[:, 1500:1600] = -45.0
    rows[:, 2500] = 0.0
    rows[:, 2600:2610] = -30.0
    rows[0, 1200] = 0.0
    rows[2, 10] = -3.0  # a first tile that is not masked
    targets = np.array([1200, 2500, 2605])
    stats = token_stats(rows, targets, top_k=2)
    for row, t, got, top, h in zip(
        rows, targets, stats.logprob, stats.argmax_logprob, stats.entropy, strict=True
    ):
        assert ulps(got, exact_log_softmax(row, t), np.float64) <= ULPS
        assert ulps(top, exact_log_softmax(row, 2500), np.float64) <= ULPS
        assert ulps(h, exact_entropy(row), np.float64) <= ULPS
    assert stats.argmax.tolist() == [1200, 2500, 2500]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_and_its_gradient_keep_relative_precision(dtype):
    for g in gaps(dtype)[::5]:
        row = exact_row(0.0, [0.0, -g, -g - 1.5], dtype)
        exact = exact_log_softmax(row, 0)
        assert ulps(-cross_entropy(row[None], [0]), exact, dtype) <= ULPS
        # the true class's entry is -(1 - p) = expm1(log p), not p - 1
        grad = cross_entropy_grad(row[None], [0])[0, 0]
        assert ulps(grad, mp.expm1(exact), dtype) <= ULPS


def exact_ranking_log_likelihood(scores, ranking, unranked=()):
    """Sum over stages of the chosen item's exact log-softmax in its choice
    set: the listed items from its position on, plus ``unranked``."""
    total = mp.mpf(0)
    listed = list(ranking)
    stages = len(listed) if len(unranked) else len(listed) - 1
    for r in range(stages):
        choice = [scores[listed[r]], *scores[listed[r + 1 :]], *scores[list(unranked)]]
        total += exact_log_softmax(np.array(choice), 0)
    return total


def test_plackett_luce_log_likelihoods_keep_relative_precision():
    worst = 0.0
    for g in gaps(np.float64)[::3]:
        for diffs in (
            [0.0, -g],
            [0.0, -g, -g - 1.0],
            [5.0, 5.0 - g, 2.0 - g, 1.5 - g],
            [0.0, -g, -g - 1.0, -g - 2.5, -g - 40.0],  # spans past 650: grown
        ):
            s = np.array(diffs)
            order = np.argsort(-s, kind="stable")
            got = pl.ranking_log_likelihoods(s, [order])[0]
            exact = exact_ranking_log_likelihood(s, order)
            worst = max(worst, ulps(got, exact, np.float64))
            got = pl.ranking_log_likelihoods(s, [order[:1]], universe="all")[0]
            exact = exact_ranking_log_likelihood(s, order[:1], order[1:])
            worst = max(worst, ulps(got, exact, np.float64))
    assert worst <= ULPS


@pytest.mark.parametrize("path", ["suffix sums", "grown choice sets"])
@given(data=st.data())
def test_plackett_luce_log_likelihoods_of_any_rankings(path, data):
    # padded rankings, universes 'listed', 'all' or a mask, and scores in
    # eighths up to +-1000: spans past 650 nats take the grown choice sets,
    # which "grown choice sets" forces for every ranking
    n = data.draw(st.integers(1, 6))
    scores = np.array(data.draw(st.lists(_EIGHTHS, min_size=n, max_size=n)))
    rankings = data.draw(padded_rankings(n))
    kind = data.draw(st.sampled_from(["listed", "all", "mask"]))
    universe = kind
    if kind == "mask":
        universe = data.draw(hnp.arrays(np.bool_, (len(rankings), n)))
        for i, row in enumerate(rankings):
            universe[i, row[row >= 0]] = True
    widest = -1.0 if path == "grown choice sets" else stages_module._WIDEST
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stages_module, "_WIDEST", widest)
        got = pl.ranking_log_likelihoods(scores, rankings, universe=universe)
    for i, row in enumerate(rankings):
        listed = row[row >= 0]
        if kind == "listed":
            unranked = []
        else:
            pool = np.ones(n, bool) if kind == "all" else universe[i]
            unranked = [k for k in range(n) if pool[k] and k not in listed]
        exact = exact_ranking_log_likelihood(scores, listed, unranked)
        assert ulps(got[i], exact, np.float64) <= ULPS


def test_a_universe_far_below_the_listed_peak_keeps_every_bit():
    # found by the property test above in CI: listed [340.375, -15.875] and
    # an unranked -370.5; taken relative to the peak, the universe's weight
    # e^-710.875 is subnormal and lost 7 ulps of the last stage's surprisal
    scores = np.array([-15.875, -370.5, 340.375])
    got = pl.ranking_log_likelihoods(scores, [[2, 0]], universe="all")[0]
    exact = exact_ranking_log_likelihood(scores, [2, 0], [1])
    assert ulps(got, exact, np.float64) <= ULPS


def test_the_reference_agrees_with_a_plain_log_at_high_precision():
    for row in ([0.0, -40.0], [0.0, -700.0, -701.5], [3.0, 3.0, -200.0]):
        with mp.workdps(400):
            values = [mp.mpf(v) for v in row]
            plain = mp.log(mp.fsum(mp.exp(v) for v in values))
        assert (
            abs(exact_logsumexp(np.array(row)) - plain)
            <= abs(plain) * mp.mpf(10) ** -48
        )


# --------------------------------------------------------- golden values


def test_the_cases_of_the_issue():
    # log1p(exp(-40)) = 4.248354255291589e-18 and log1p(exp(-20)) =
    # 2.0611536203143810e-09 (mpmath, 50 digits; the plain form gave 0.0 and
    # 2.06115369e-09)
    assert logsumexp([0.0, -40.0]) == 4.248354255291589e-18
    assert log_softmax([0.0, -40.0])[0] == -4.248354255291589e-18
    assert token_logprobs([[0.0, -40.0]], [0])[0] == -4.248354255291589e-18
    assert float(logsumexp([0.0, -20.0])) == 2.061153620314381e-09


# ------------------------------------------------------- the one step itself


@given(
    st.lists(_LOGITS, min_size=1, max_size=6),
    st.lists(st.one_of(_LOGITS, st.just(-np.inf)), max_size=6),
)
def test_merged_parts_have_the_rest_of_the_whole_row(a, b):
    # two parts' (peak, rest) merged equal the whole row's, to a few ulps of
    # its log1p (the tiles of the kernel, the choice sets of Plackett-Luce)
    row = np.array([*a, *b])
    parts = [np.array(a), np.array(b) if b else np.array([-np.inf])]
    peaks, rests = [], []
    for part in parts:
        top = np.argmax(part)
        peak = part[top]
        shift = 0.0 if np.isneginf(peak) else peak
        with np.errstate(invalid="ignore"):
            expd = np.exp(part - shift)[None, :]
        rests.append(rest_sum(expd, np.array([[top]]))[0, 0])
        peaks.append(peak)
    merged = merge_rests(
        *(np.array([v]) for v in (peaks[0], rests[0])),
        *(np.array([v]) for v in (peaks[1], rests[1])),
    )
    assert merged.peak[0] == row.max()
    exact = exact_parts(row)[1]
    assert ulps(log_normaliser(merged.rest)[0], exact, np.float64) <= ULPS


def test_rest_sum_of_an_empty_row_is_minus_one_and_its_log_minus_inf():
    expd = np.zeros((1, 3))
    rest = rest_sum(expd, np.zeros((1, 1), dtype=int))
    assert rest.tolist() == [[-1.0]]
    assert log_normaliser(rest).tolist() == [[-np.inf]]


# ------------------------------------------------------------------ property


def underflows(exact, dtype) -> bool:
    """Whether the exact value is below the dtype's smallest subnormal (a
    computed 0 is then within a few ulps)."""
    return abs(exact) < ULPS * float(np.finfo(dtype).smallest_subnormal)


@given(dominated_rows())
def test_the_maximal_entry_has_probability_below_one_if_anything_else_is_possible(
    row,
):
    top = int(np.argmax(row))
    others_finite = np.isfinite(np.delete(row, top)).any()
    work = compute_dtype(row.dtype.type)
    exact = exact_log_softmax(row, top)
    for got in (log_softmax(row)[top], token_logprobs(row, top)):
        if not others_finite:
            assert got == 0  # probability exactly 1
        elif not underflows(exact, work):
            assert got < 0
            assert ulps(got, exact, work) <= ULPS + input_rounding(row, work)
