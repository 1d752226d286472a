"""An lm-eval task's accuracies, re-derived and checked: the results.

The tally of a samples file's documents (:mod:`.tally`, from the verdicts of
:mod:`.verdicts`) and its results file's figures become a
:class:`TaskEvaluation` per task and filter (:func:`task_evaluation`): each
accuracy with lm-eval's standard error and a bootstrap interval
(:mod:`.statistics`), the documents where normalisations disagree, ties, and
the consistency of the run -- per-document metrics that do not follow from
the log-likelihoods, hashes that do not match, and the results file's
aggregates against its samples. Reading the files is
:func:`seqscore.runs.lmeval.evaluate`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from seqscore.lmeval.logged import TaskResults
from seqscore.lmeval.statistics import Interval, bootstrap_accuracy, sample_stderr
from seqscore.lmeval.tally import (
    PAIRS,
    Disagreement,
    DocumentNote,
    Listing,
    Mismatch,
)
from seqscore.lmeval.verdicts import METRICS, REDUCTIONS

__all__ = [
    "CONFIDENCE",
    "RESAMPLES",
    "Accuracy",
    "AggregateCheck",
    "Disagreement",
    "DocumentNote",
    "Listed",
    "Mismatch",
    "PairTable",
    "TaskEvaluation",
    "task_evaluation",
]

#: A results-file figure matches its samples within this relative tolerance
#: (lm-eval sums in another order; accuracies k / n agree exactly).
REL_TOL = 1e-9
ABS_TOL = 1e-12
#: Bootstrap defaults.
RESAMPLES = 10_000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Accuracy:
    """One metric of a task: re-derived, logged and reported.

    ``n`` documents could be scored by it, ``correct`` of them right;
    ``value``, ``stderr`` (lm-eval's) and ``interval`` (bootstrap) are
    ``None`` when it cannot be computed (``unavailable`` says why) or, for
    the stderr, with fewer than two documents. ``logged`` is the mean of the
    per-document values the samples logged, ``reported`` and
    ``reported_stderr`` what the results file says.
    """

    metric: str
    reduction: str
    n: int
    correct: int
    value: float | None
    stderr: float | None
    interval: Interval | None
    unavailable: str | None
    logged: float | None
    reported: float | None
    reported_stderr: float | None


@dataclass(frozen=True)
class PairTable:
    """Two metrics document by document: who is right."""

    first: str
    second: str
    both: int
    only_first: int
    only_second: int
    neither: int


@dataclass(frozen=True)
class Listed:
    """How many there are, and the first of them (at most the ``listed``
    asked for)."""

    total: int
    items: tuple


@dataclass(frozen=True)
class AggregateCheck:
    """A figure of the results file against what its samples give."""

    what: str
    reported: float | int | str
    expected: float | int | str
    ok: bool


@dataclass(frozen=True)
class TaskEvaluation:
    """Everything :func:`evaluate` found about one task and filter.

    ``gold_unread`` lists the documents whose lines do not say which choice
    is gold (no accuracy is re-derived from them); ``unchecked`` counts the
    logged per-document values the log-likelihoods cannot check.
    """

    task: str
    filter: str
    samples: str
    results: str | None
    delimiter: str
    n_documents: int
    fewest_choices: int
    most_choices: int
    accuracies: tuple[Accuracy, ...]
    pairs: tuple[PairTable, ...]
    disagreements: Listed
    ties: tuple[tuple[str, Listed], ...]
    mismatches: Listed
    aggregate: tuple[AggregateCheck, ...]
    gold_problems: Listed
    hash_problems: Listed
    gold_unread: Listed
    unchecked: int

    @property
    def consistent(self) -> bool:
        """No logged metric, hash or results-file figure contradicts the
        log-likelihoods."""
        return (
            not self.mismatches.total
            and not self.hash_problems.total
            and all(check.ok for check in self.aggregate)
        )

    def accuracy(self, metric: str) -> Accuracy:
        """The :class:`Accuracy` of ``metric`` (one of :data:`METRICS`)."""
        return next(a for a in self.accuracies if a.metric == metric)


def task_evaluation(
    task,
    samples,
    results,
    task_results,
    delimiter,
    filter_key,
    counts,
    task_hash,
    bootstrap,
) -> TaskEvaluation:
    """One task and filter of a samples file, from its tally (``counts``), its
    results file's figures (``task_results``, or None) and its task hash."""
    accuracies = tuple(
        _accuracy(m, counts, task_results, filter_key, bootstrap)
        for m in range(len(METRICS))
    )
    return TaskEvaluation(
        task=task,
        filter=filter_key,
        samples=samples,
        results=results,
        delimiter=delimiter,
        n_documents=counts.n,
        fewest_choices=counts.fewest_choices,
        most_choices=counts.most_choices,
        accuracies=accuracies,
        pairs=_pairs(counts),
        disagreements=_listed(counts.disagreements),
        ties=tuple(
            (metric, _listed(counts.ties[m]))
            for m, metric in enumerate(METRICS)
            if accuracies[m].n
        ),
        mismatches=_listed(counts.mismatches),
        aggregate=_aggregate(task_results, filter_key, counts, accuracies, task_hash),
        gold_problems=_listed(counts.gold_problems),
        hash_problems=_listed(counts.hash_problems),
        gold_unread=_listed(counts.gold_unread),
        unchecked=counts.unchecked,
    )


def _accuracy(m, counts, task_results, filter_key, bootstrap) -> Accuracy:
    metric = METRICS[m]
    n, correct = int(counts.computable[m]), int(counts.correct[m])
    logged_n, logged_sum = int(counts.logged_count[m]), float(counts.logged_sum[m])
    reported = (
        task_results.metrics.get((metric, filter_key), (None, None))
        if task_results is not None
        else (None, None)
    )
    return Accuracy(
        metric=metric,
        reduction=REDUCTIONS[metric],
        n=n,
        correct=correct,
        value=correct / n if n else None,
        stderr=sample_stderr(correct, n) if n else None,
        interval=bootstrap_accuracy(correct, n, **bootstrap) if n else None,
        unavailable=None if n else _unavailable(metric, counts),
        logged=logged_sum / logged_n if logged_n else None,
        reported=reported[0],
        reported_stderr=reported[1],
    )


def _unavailable(metric: str, counts) -> str:
    """Why no document gives ``metric``."""
    if metric == "acc_mutual_info":
        return (
            "no unconditional requests in the run (lm-eval makes them only for "
            "acc_mutual_info)"
        )
    if metric in ("acc_norm", "acc_bytes") and counts.partial == counts.n:
        return (
            "the samples do not hold the choices' texts (lm-eval 0.4.0-dev logged "
            "the first request only; a multiple-input task's choices are contexts)"
        )
    if counts.gold_unread.total == counts.n:
        return "the samples do not say which choice is gold"
    return "no document could be scored"


def _pairs(counts) -> tuple[PairTable, ...]:
    computable = counts.computable
    return tuple(
        PairTable(METRICS[a], METRICS[b], *map(int, counts.pairs[p]))
        for p, (a, b) in enumerate(PAIRS)
        if computable[a] and computable[b]
    )


def _listed(listing: Listing) -> Listed:
    return Listed(listing.total, tuple(listing.items))


# ------------------------------------------------------------ results file


def _aggregate(
    task_results: TaskResults | None, filter_key, counts, accuracies, task_hash
) -> tuple[AggregateCheck, ...]:
    """The results file's figures for this task and filter against the samples."""
    if task_results is None:
        return ()
    checks = []
    reported_filters = {f for _, f in task_results.metrics}
    if filter_key not in reported_filters:
        checks.append(
            AggregateCheck(f"filter {filter_key}", "absent", "reported", False)
        )
    for m, metric in enumerate(METRICS):
        if (metric, filter_key) not in task_results.metrics:
            continue
        value, stderr = task_results.metrics[metric, filter_key]
        expected, expected_stderr = _from_samples(m, counts, accuracies[m])
        if expected is not None:
            checks.append(
                AggregateCheck(metric, value, expected, _close(value, expected))
            )
        if stderr is not None and expected_stderr is not None:
            ok = _close(stderr, expected_stderr)
            checks.append(
                AggregateCheck(f"{metric} stderr", stderr, expected_stderr, ok)
            )
    if task_results.n_samples is not None:
        checks.append(
            AggregateCheck(
                "n-samples (effective)",
                task_results.n_samples,
                counts.n,
                task_results.n_samples == counts.n,
            )
        )
    if task_results.task_hash is not None and task_hash is not None:
        checks.append(
            AggregateCheck(
                "task hash",
                task_results.task_hash,
                task_hash,
                task_results.task_hash == task_hash,
            )
        )
    return tuple(checks)


def _from_samples(m, counts, accuracy) -> tuple[float | None, float | None]:
    """A metric's mean and stderr as lm-eval aggregates the samples: over the
    logged per-document values when every document logged one, else over
    the re-derived ones."""
    n = int(counts.logged_count[m])
    total, squares = float(counts.logged_sum[m]), float(counts.logged_squares[m])
    if n and n == counts.n:
        mean = total / n
        variance = max(squares - total * mean, 0.0) / (n - 1) if n > 1 else None
        return mean, None if variance is None else math.sqrt(variance / n)
    return accuracy.value, accuracy.stderr


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
