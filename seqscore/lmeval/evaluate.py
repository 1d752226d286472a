"""Re-derive, check and report the accuracies of lm-eval runs.

:func:`evaluate` reads lm-eval samples files (``samples_<task>_<date>.jsonl``
or a folder of them), re-derives every document's ``acc``, ``acc_norm``,
``acc_bytes`` and ``acc_mutual_info`` from its logged log-likelihoods
(:mod:`.verdicts`) and gives, per task and filter, a
:class:`TaskEvaluation`: each accuracy with lm-eval's standard error and a
bootstrap interval (:mod:`.statistics`), the documents where normalisations
disagree, ties, and the consistency of the run -- per-document metrics that
do not follow from the log-likelihoods, hashes that do not match, and the
results file's aggregates (``results_<date>.json``, found beside the
samples unless another is given) against its samples.

Files are streamed: chunks are read and tallied in worker processes
(:func:`seqscore.formats.inputs.map_chunks`), so memory holds counts and the
first ``listed`` documents of each kind, never the file.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import hashlib
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from ..errors import DataFormatError
from ..formats.inputs import map_chunks
from ..formats.lmeval import loads_samples_line, read_document
from ..formats.lmeval_results import (
    RunResults,
    TaskResults,
    lmeval_settings,
    read_results,
    results_beside,
    samples_task,
)
from ..formats.records import Rejected
from ..report.rejects import rejection_error
from .statistics import Interval, bootstrap_accuracy, sample_stderr
from .tally import PAIRS, Disagreement, DocumentNote, Listing, Mismatch, Tally
from .verdicts import METRICS, REDUCTIONS, judge

__all__ = [
    "Accuracy",
    "AggregateCheck",
    "Disagreement",
    "DocumentNote",
    "Listed",
    "Mismatch",
    "PairTable",
    "TaskEvaluation",
    "evaluate",
    "samples_files",
]

#: A results-file figure matches its samples within this relative tolerance
#: (lm-eval sums in another order; accuracies k / n agree exactly).
REL_TOL = 1e-9
ABS_TOL = 1e-12
#: Samples are read in chunks of about this many bytes: a chunk's judgement
#: costs a few dozen numpy calls whatever its size (4 MiB: about 1,600
#: lm-eval lines of 2.5 kB).
CHUNK_BYTES = 4 << 20
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
    """Everything :func:`evaluate` found about one task and filter."""

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


def samples_files(paths: Iterable[str]) -> list[str]:
    """The samples files named: files as given, folders by their
    ``samples_*.jsonl`` (sorted); a results file is an error."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(
                glob.glob(os.path.join(glob.escape(path), "samples_*.jsonl"))
            )
            if not found:
                raise DataFormatError(f"{path}: no samples_*.jsonl in this folder")
            files.extend(found)
        elif os.path.basename(path).startswith("results_") and path.endswith(".json"):
            raise DataFormatError(
                f"{path}: is an lm-eval results file; give the samples files "
                "(samples_<task>_<date>.jsonl) or their folder, and the results "
                "file with --results if it is not beside them"
            )
        else:
            files.append(path)
    return files


def evaluate(
    paths: Sequence[str],
    *,
    results: str | None = None,
    use_results: bool = True,
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    listed: int = 20,
    check_doc_hash: bool = False,
    workers: int | str = "auto",
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[TaskEvaluation, ...]:
    """Evaluate the samples files (or folders of them) in ``paths``.

    ``results`` names the results file for all of them; by default each
    samples file's own (``results_<date>.json`` beside it) is used if it
    exists, and none with ``use_results=False``. ``listed`` caps the
    documents named in each list (counts are always complete). The
    bootstrap draws ``resamples`` from ``numpy.random.default_rng(seed)``.
    Raises :class:`~seqscore.errors.DataFormatError` naming file, line,
    document and field for bad input.
    """
    given = read_results(results) if results and use_results else None
    evaluations = []
    for path in samples_files(paths):
        run = given if given is not None or not use_results else _beside(path)
        evaluations.extend(
            _evaluate_file(
                path,
                run,
                listed=listed,
                check_doc_hash=check_doc_hash,
                workers=workers,
                on_progress=on_progress,
                bootstrap={
                    "resamples": resamples,
                    "seed": seed,
                    "confidence": confidence,
                },
            )
        )
    return tuple(evaluations)


def _beside(path: str) -> RunResults | None:
    beside = results_beside(path)
    return read_results(beside) if beside else None


def task_name(path: str) -> str:
    """The task of a samples file: from lm-eval's file name, else its stem."""
    task, _ = samples_task(path)
    return task or os.path.splitext(os.path.basename(path))[0]


def read_tally(
    path: str,
    run: RunResults | None,
    *,
    listed: int,
    check_doc_hash: bool = False,
    keep_scores: bool = False,
    collect: bool = False,
    workers: int | str = "auto",
    on_progress=None,
    chunk_bytes: int | None = None,
):
    """``(task results, reading settings, tally)`` of one samples file.

    With ``collect`` the third is the list of the chunks' :class:`Judgements`
    (in file order), for comparing two runs; else the chunks are tallied
    where they are read.
    """
    task = task_name(path)
    task_results = run.task(task, path) if run is not None else None
    settings = lmeval_settings(path, run) if run is not None else lmeval_settings(None)
    job = partial(
        _judge_chunk,
        listed=None if collect else listed,
        check_doc_hash=check_doc_hash,
        keep_scores=keep_scores,
    )
    with map_chunks(
        path,
        job,
        "auto",
        on_progress,
        workers,
        convert=partial(_documents, **settings),
        parse=loads_samples_line,
        chunk_bytes=chunk_bytes or CHUNK_BYTES,
    ) as (kind, chunks):
        if kind != "lmeval":
            raise DataFormatError(
                f"{path}: holds {kind} input, not an lm-eval samples file "
                "(lm-eval --log_samples writes samples_<task>_<date>.jsonl)"
            )
        if collect:
            return task_results, settings, [c for c in chunks if len(c)]
        tally = Tally(listed, digest=hashlib.sha256())
        for chunk in chunks:
            tally.merge(chunk)
    return task_results, settings, tally


def _documents(record, location, *, delimiter, target_field):
    """The converter for :func:`map_chunks`: a record's document (a tuple of
    one: cheaper than a generator, once per line)."""
    return (read_document(record, location, delimiter, target_field),)


@contextlib.contextmanager
def _no_cyclic_gc():
    """The cyclic garbage collector paused (it would rescan a chunk's many
    young objects again and again, and find nothing)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _judge_chunk(items, *, listed, check_doc_hash, keep_scores):
    """Judge a chunk's documents and tally them (``listed`` None: return the
    judgements); a bad record stops the run (in a worker)."""
    with _no_cyclic_gc():  # a chunk's objects hold no cycles: nothing to find
        documents = []
        for item in items:
            if isinstance(item, Rejected):
                raise rejection_error(item)
            documents.append(item)
    judged = judge(documents, check_doc_hash=check_doc_hash, keep_scores=keep_scores)
    if listed is None:
        return judged
    tally = Tally(listed)
    tally.add(judged)
    return tally


def _evaluate_file(path, run, *, listed, bootstrap, **options) -> list[TaskEvaluation]:
    task_results, settings, tally = read_tally(path, run, listed=listed, **options)
    if not tally.filters:
        raise DataFormatError(f"{path}: no documents")
    task_hash = tally.digest.hexdigest() if tally.complete_hashes else None
    return [
        _task_evaluation(
            path,
            run,
            task_results,
            settings["delimiter"],
            filter_key,
            counts,
            task_hash,
            bootstrap,
        )
        for filter_key, counts in tally.filters.items()
    ]


def _task_evaluation(
    path, run, task_results, delimiter, filter_key, counts, task_hash, bootstrap
) -> TaskEvaluation:
    accuracies = tuple(
        _accuracy(m, counts, task_results, filter_key, bootstrap)
        for m in range(len(METRICS))
    )
    return TaskEvaluation(
        task=task_name(path),
        filter=filter_key,
        samples=path,
        results=run.path if run is not None else None,
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
        unavailable=None if n else _unavailable(metric),
        logged=logged_sum / logged_n if logged_n else None,
        reported=reported[0],
        reported_stderr=reported[1],
    )


def _unavailable(metric: str) -> str:
    if metric == "acc_mutual_info":
        return (
            "no unconditional requests in the run (lm-eval makes them only for "
            "acc_mutual_info)"
        )
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
