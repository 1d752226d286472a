r"""Two lm-eval runs on the same documents: is A really better than B?

:func:`compare_judged` takes the judged documents of two runs of one task
(read by :func:`seqscore.runs.lmeval.compare_runs`), matches their documents
by ``doc_id`` (and ``doc_hash``, when logged: the same ``doc_id`` with
another ``doc_hash`` is another document), and gives per metric:

* the accuracies of A and B and their difference :math:`\Delta = \hat p_A -
  \hat p_B`, with its paired standard error (of the per-document
  differences :math:`d_i \in \{-1, 0, 1\}`: sample sd / :math:`\sqrt n`) and
  a paired bootstrap interval (:func:`.statistics.paired_bootstrap`);
* McNemar's exact test on the :math:`b` documents only A gets right and the
  :math:`c` only B does (:func:`.statistics.mcnemar_exact`);
* the documents that flip (right in one run, wrong in the other).

And how alike the two runs rank each document's choices by log-likelihood:

* top-1 agreement: the share of documents whose best choice is the same;
* Kendall's :math:`\tau_b` between the two runs' log-likelihoods, averaged
  over documents;
* Plackett-Luce agreement: with A's log-likelihoods as log-worths, the
  log-probability of B's ranking of the choices (best first),
  :math:`\log P_A(\pi_B)`, averaged over documents, set between what a
  uniformly random ranking gets on average, :math:`E_\pi[\log P_A(\pi)]`,
  and what A's own ranking (the most probable one) gets:
  :math:`(\overline{\log P_A(\pi_B)} - \overline{E}) /
  (\overline{\log P_A(\pi_A)} - \overline{E})` -- 1 when B ranks every
  document's choices as A does, 0 when no better than chance, below 0 when
  worse; and the same with A and B exchanged. The expectation is exact:
  every choice is picked once, so :math:`E_\pi[\log P(\pi)] = \sum_i s_i -
  \sum_{m=1}^{k} \overline{\mathrm{LSE}}_m`, the mean log-sum-exp of the
  scores over the subsets of :math:`m` choices (all :math:`2^k - 1` subsets
  are enumerated, so documents of more than :data:`MAX_RANKED` choices are
  left out of the Plackett-Luce figures). Documents with one choice or a
  log-likelihood of -inf are left out of every ranking figure (and counted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqscore.errors import DataFormatError
from seqscore.lmeval.evaluation import Listed
from seqscore.lmeval.statistics import (
    Interval,
    kendall_tau_b,
    mcnemar_exact,
    paired_bootstrap,
)
from seqscore.lmeval.verdicts import METRICS
from seqscore.numerics.softmax import logsumexp
from seqscore.plackett_luce import ranking_log_likelihoods

__all__ = [
    "MAX_RANKED",
    "Flip",
    "JudgedRun",
    "MetricComparison",
    "RankAgreement",
    "RunComparison",
    "compare_judged",
    "few",
]


#: Documents of at most this many choices get Plackett-Luce figures.
MAX_RANKED = 12


@dataclass(frozen=True)
class MetricComparison:
    """One metric in runs A and B over their ``n`` shared documents."""

    metric: str
    n: int
    accuracy_a: float
    accuracy_b: float
    difference: float
    stderr: float | None
    interval: Interval | None
    both: int
    only_a: int
    only_b: int
    neither: int
    p_value: float


@dataclass(frozen=True)
class Flip:
    """A document right in one run and wrong in the other."""

    doc_id: str
    gold: tuple[int, ...]
    predicted_a: int
    predicted_b: int
    right: str  # "A" or "B"


@dataclass(frozen=True)
class RankAgreement:
    """How alike the two runs rank the choices (see the module docstring).

    Over the ``n`` documents used (``left_out`` were not): ``pl_b_given_a``
    is the mean :math:`\\log P_A(\\pi_B)`, ``pl_a_given_a`` the mean
    :math:`\\log P_A(\\pi_A)`, ``pl_random_a`` the mean
    :math:`E_\\pi[\\log P_A(\\pi)]`; ``agreement_b_to_a`` sets the first
    between the other two (1: the same rankings, 0: chance). The
    Plackett-Luce figures cover the ``n_ranked`` documents of at most
    :data:`MAX_RANKED` choices.
    """

    n: int
    left_out: int
    n_ranked: int
    top1: float | None
    kendall_tau: float | None
    pl_b_given_a: float | None
    pl_a_given_a: float | None
    pl_a_given_b: float | None
    pl_b_given_b: float | None
    pl_random_a: float | None
    pl_random_b: float | None
    agreement_b_to_a: float | None
    agreement_a_to_b: float | None


@dataclass(frozen=True)
class RunComparison:
    """Runs A and B of one task and filter, document by document."""

    task: str
    filter: str
    a: str
    b: str
    n_documents: int
    matched_by: str
    metrics: tuple[MetricComparison, ...]
    flips: tuple[tuple[str, Listed], ...]
    ranking: RankAgreement

    def metric(self, name: str) -> MetricComparison:
        return next(m for m in self.metrics if m.metric == name)


@dataclass(frozen=True)
class JudgedRun:
    """One filter's judged documents of a run, concatenated."""

    doc_id: list[str]
    doc_hash: list[str | None]
    gold: list[tuple[int, ...]]
    predicted: np.ndarray
    correct: np.ndarray
    scores: list[tuple[float, ...]]


def few(items: Sequence[str], at_most: int = 5) -> str:
    shown = ", ".join(map(str, items[:at_most]))
    return shown + (f" and {len(items) - at_most} more" if len(items) > at_most else "")


def _align(
    a: str, b: str, run_a: JudgedRun, run_b: JudgedRun
) -> tuple[np.ndarray, str]:
    """For each of A's documents, the index of the same document in B."""
    where_b = {doc_id: i for i, doc_id in enumerate(run_b.doc_id)}
    only_a = [d for d in run_a.doc_id if d not in where_b]
    only_b = sorted(set(run_b.doc_id) - set(run_a.doc_id), key=run_b.doc_id.index)
    order = np.array([where_b.get(d, -1) for d in run_a.doc_id], dtype=np.int64)
    hashed = all(h is not None for h in run_a.doc_hash + run_b.doc_hash)
    other = []
    if hashed:
        other = [
            d
            for i, d in enumerate(run_a.doc_id)
            if order[i] >= 0 and run_a.doc_hash[i] != run_b.doc_hash[order[i]]
        ]
    choices = [
        d
        for i, d in enumerate(run_a.doc_id)
        if order[i] >= 0 and len(run_a.scores[i]) != len(run_b.scores[order[i]])
    ]
    problems = []
    if only_a:
        problems.append(f"{len(only_a)} doc_id only in A ({few(only_a)})")
    if only_b:
        problems.append(f"{len(only_b)} doc_id only in B ({few(only_b)})")
    if other:
        problems.append(f"{len(other)} with another doc_hash ({few(other)})")
    if choices:
        problems.append(
            f"{len(choices)} with other numbers of choices ({few(choices)})"
        )
    if problems:
        raise DataFormatError(
            f"the runs do not hold the same documents: A = {a}, B = {b}: "
            + "; ".join(problems)
        )
    return order, "doc_id and doc_hash" if hashed else "doc_id (no doc_hash logged)"


def compare_judged(
    task, a, b, filter_key, run_a, run_b, bootstrap, listed
) -> RunComparison:
    """Runs ``a`` and ``b`` of ``task`` (one filter's judged documents each)."""
    order, matched_by = _align(a, b, run_a, run_b)
    predicted_b, correct_b = run_b.predicted[order], run_b.correct[order]
    metrics, flips = [], []
    for m, metric in enumerate(METRICS):
        both_known = (run_a.predicted[:, m] >= 0) & (predicted_b[:, m] >= 0)
        if not both_known.any():
            continue
        ra, rb = run_a.correct[both_known, m], correct_b[both_known, m]
        metrics.append(_metric(metric, ra, rb, bootstrap))
        flipped = np.flatnonzero(both_known & (run_a.correct[:, m] != correct_b[:, m]))
        flips.append(
            (
                metric,
                Listed(
                    len(flipped),
                    tuple(
                        Flip(
                            run_a.doc_id[i],
                            run_a.gold[i],
                            int(run_a.predicted[i, m]),
                            int(predicted_b[i, m]),
                            "A" if run_a.correct[i, m] else "B",
                        )
                        for i in flipped[:listed].tolist()
                    ),
                ),
            )
        )
    scores_b = [run_b.scores[i] for i in order.tolist()]
    return RunComparison(
        task=task,
        filter=filter_key,
        a=a,
        b=b,
        n_documents=len(order),
        matched_by=matched_by,
        metrics=tuple(metrics),
        flips=tuple(flips),
        ranking=rank_agreement(run_a.scores, scores_b),
    )


def _metric(metric: str, ra: np.ndarray, rb: np.ndarray, bootstrap) -> MetricComparison:
    n = len(ra)
    both, only_a = int(np.sum(ra & rb)), int(np.sum(ra & ~rb))
    only_b, neither = int(np.sum(~ra & rb)), int(np.sum(~ra & ~rb))
    difference = (only_a - only_b) / n
    return MetricComparison(
        metric=metric,
        n=n,
        accuracy_a=float(ra.mean()),
        accuracy_b=float(rb.mean()),
        difference=difference,
        stderr=paired_stderr(only_a, only_b, n),
        interval=paired_bootstrap(both, only_a, only_b, neither, **bootstrap),
        both=both,
        only_a=only_a,
        only_b=only_b,
        neither=neither,
        p_value=mcnemar_exact(only_a, only_b),
    )


def paired_stderr(only_a: int, only_b: int, n: int) -> float | None:
    r"""Standard error of :math:`\Delta`: the sample sd of :math:`d_i` over
    :math:`\sqrt n` (``None`` for :math:`n < 2`).

    With :math:`b` ones and :math:`c` minus ones among :math:`n`:
    :math:`\mathrm{var} = (b + c - (b - c)^2 / n) / (n - 1)`.

    >>> round(paired_stderr(3, 1, 10), 6)  # d = [1, 1, 1, -1, 0 x 6]: sqrt(0.4 / 10)
    0.2
    """
    if n < 2:
        return None
    variance = (only_a + only_b - (only_a - only_b) ** 2 / n) / (n - 1)
    return math.sqrt(max(variance, 0.0) / n)


def rank_agreement(scores_a, scores_b) -> RankAgreement:
    """The ranking figures of the module docstring for paired per-document
    log-likelihoods (``scores_a[i]`` and ``scores_b[i]``: one document).

    B ranks (0, 2, 1), A (0, 1, 2); worked by hand: log P_A(B's) = -1.7209,
    log P_A(A's) = -0.7209, E[log P_A] = -6 + 3.6746 = -2.3254:

    >>> r = rank_agreement([(-1.0, -2.0, -3.0)], [(-1.5, -2.5, -2.0)])
    >>> r.top1, r.kendall_tau, round(r.agreement_b_to_a, 4)
    (1.0, 0.3333333333333333, 0.3768)
    """
    usable = [
        i
        for i, (sa, sb) in enumerate(zip(scores_a, scores_b, strict=True))
        if len(sa) > 1 and math.isfinite(sum(sa)) and math.isfinite(sum(sb))
    ]
    left_out = len(scores_a) - len(usable)
    a = [scores_a[i] for i in usable]
    b = [scores_b[i] for i in usable]
    ranked = [i for i, s in enumerate(a) if len(s) <= MAX_RANKED]
    if not ranked:
        return RankAgreement(len(usable), left_out, 0, *([None] * 10))
    best_a = np.array([s.index(max(s)) for s in a])
    best_b = np.array([s.index(max(s)) for s in b])
    taus = _kendall(a, b)
    a, b = [a[i] for i in ranked], [b[i] for i in ranked]
    means = {
        (x, y): float(np.mean(_pl_log_likelihoods(sx, sy)))
        for x, sx in (("a", a), ("b", b))
        for y, sy in (("a", a), ("b", b))
    }  # (x, y): mean log P_x(ranking of y)
    random_a, random_b = (
        float(np.mean(random_ranking(a))),
        float(np.mean(random_ranking(b))),
    )
    return RankAgreement(
        n=len(usable),
        left_out=left_out,
        n_ranked=len(ranked),
        top1=float(np.mean(best_a == best_b)),
        kendall_tau=None if np.isnan(taus).all() else float(np.nanmean(taus)),
        pl_b_given_a=means["a", "b"],
        pl_a_given_a=means["a", "a"],
        pl_a_given_b=means["b", "a"],
        pl_b_given_b=means["b", "b"],
        pl_random_a=random_a,
        pl_random_b=random_b,
        agreement_b_to_a=_between(means["a", "b"], random_a, means["a", "a"]),
        agreement_a_to_b=_between(means["b", "a"], random_b, means["b", "b"]),
    )


def _between(value: float, low: float, high: float) -> float | None:
    return None if high == low else (value - low) / (high - low)


def random_ranking(scores) -> np.ndarray:
    r"""Per document, :math:`E_\pi[\log P(\pi)]` for a uniformly random
    ranking :math:`\pi` of its choices under Plackett-Luce with ``scores``.

    :math:`\sum_i s_i` minus, for each size :math:`m`, the mean log-sum-exp
    over the subsets of :math:`m` choices (the choices left at each stage
    are a uniformly random subset).

    >>> bool(np.allclose(random_ranking([(0.0, 0.0, 0.0)]), -np.log(6)))
    True
    """
    out = np.empty(len(scores))
    sizes = np.array([len(s) for s in scores])
    for k in np.unique(sizes).tolist():
        rows = np.flatnonzero(sizes == k)
        out[rows] = _random_ranking(np.array([scores[i] for i in rows.tolist()]))
    return out


def _random_ranking(s: np.ndarray, rows: int = 1 << 14) -> np.ndarray:
    """:func:`random_ranking` of an ``(n, k)`` array, ``rows`` at a time."""
    k = s.shape[1]
    masks = np.array([[(m >> i) & 1 for i in range(k)] for m in range(1, 1 << k)], bool)
    size = masks.sum(axis=1)
    weight = 1.0 / np.bincount(size)[size]  # a mean per subset size
    out = np.empty(len(s))
    for start in range(0, len(s), rows):
        block = s[start : start + rows]
        subsets = np.where(masks[None], block[:, None, :], -np.inf)
        out[start : start + rows] = block.sum(axis=1) - logsumexp(subsets) @ weight
    return out


def _kendall(a, b) -> np.ndarray:
    """Kendall's tau-b per document, grouped by number of choices."""
    taus = np.empty(len(a))
    sizes = np.array([len(s) for s in a])
    for k in np.unique(sizes).tolist():
        rows = np.flatnonzero(sizes == k)
        taus[rows] = kendall_tau_b(
            np.array([a[i] for i in rows]), np.array([b[i] for i in rows])
        )
    return taus


def _pl_log_likelihoods(worths, ranked_by) -> np.ndarray:
    """Per document, log P(ranking of ``ranked_by``) under Plackett-Luce with
    ``worths`` as log-worths: every document's choices are items of one
    scored set, each ranking listing its own document's (``universe``
    "listed"), so one call scores them all."""
    sizes = np.array([len(s) for s in worths])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rankings = np.full((len(worths), sizes.max()), -1, dtype=np.int64)
    for i, (scores, offset) in enumerate(zip(ranked_by, offsets.tolist(), strict=True)):
        order = np.argsort(-np.asarray(scores), kind="stable")
        rankings[i, : len(order)] = order + offset
    flat = np.fromiter((x for s in worths for x in s), dtype=np.float64)
    return ranking_log_likelihoods(flat, rankings, universe="listed")
