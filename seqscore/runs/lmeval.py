"""The file-level work of ``seqscore evaluate`` and ``seqscore compare-runs``.

:func:`evaluate` reads lm-eval samples files (``samples_<task>_<date>.jsonl``
or a folder of them) and their results files and gives a
:class:`~seqscore.lmeval.evaluation.TaskEvaluation` per task and filter;
:func:`compare_runs` reads two runs of one task and gives a
:class:`~seqscore.lmeval.comparison.RunComparison` per filter.

Files are streamed: chunks are read and judged in worker processes
(:func:`seqscore.formats.inputs.map_chunks`), so memory holds counts and the
first ``listed`` documents of each kind, never the file.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import numpy as np

from seqscore.errors import DataFormatError, Rejected, rejection_error
from seqscore.formats.inputs import map_chunks, open_binary
from seqscore.formats.lmeval import loads_samples_line, read_document
from seqscore.formats.lmeval_results import (
    is_results_file,
    lmeval_settings,
    read_results,
    results_beside,
    samples_task,
)
from seqscore.lmeval.comparison import JudgedRun, RunComparison, compare_judged, few
from seqscore.lmeval.evaluation import (
    CONFIDENCE,
    RESAMPLES,
    TaskEvaluation,
    task_evaluation,
)
from seqscore.lmeval.logged import RunResults
from seqscore.lmeval.tally import Tally
from seqscore.lmeval.verdicts import judge

__all__ = ["compare_runs", "evaluate", "read_tally", "samples_files", "task_name"]

#: Samples are read in chunks of about this many bytes: a chunk's judgement
#: costs a few dozen numpy calls whatever its size (4 MiB: about 1,600
#: lm-eval lines of 2.5 kB).
CHUNK_BYTES = 4 << 20


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
        elif is_results_file(path):
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
        first_at: dict[str, dict[str, str]] = {}  # filter -> doc_id -> where
        for chunk, places in chunks:
            for filter_key, (doc_ids, locations) in places.items():
                _check_once(first_at.setdefault(filter_key, {}), doc_ids, locations)
            tally.merge(chunk)
    return task_results, settings, tally


def _check_once(first_at: dict[str, str], doc_ids: list, locations: list) -> None:
    """Record where each of a filter's documents is, refusing a ``doc_id``
    seen before: a run scores each document once, and a repeat would be
    counted twice (``compare-runs`` refuses it too)."""
    if first_at.keys().isdisjoint(doc_ids) and len(set(doc_ids)) == len(doc_ids):
        first_at.update(zip(doc_ids, locations, strict=True))
        return
    for doc_id, where in zip(doc_ids, locations, strict=True):
        first = first_at.setdefault(doc_id, where)
        if first != where:
            raise DataFormatError(
                f"{where}: doc_id {doc_id} again (first at {first}); a run logs "
                "each document of a task and filter once"
            )


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
    return tally, _places(documents)


def _places(documents) -> dict[str, tuple[list, list]]:
    """Per filter, the chunk's doc_ids and where each is (for the check that
    each appears once in the file)."""
    places: dict[str, tuple[list, list]] = {}
    for document in documents:
        doc_ids, locations = places.setdefault(document.filter, ([], []))
        doc_ids.append(document.doc_id)
        locations.append(document.location)
    return places


def _evaluate_file(path, run, *, listed, bootstrap, **options) -> list[TaskEvaluation]:
    task_results, settings, tally = read_tally(path, run, listed=listed, **options)
    if not tally.filters:
        raise DataFormatError(f"{path}: no documents")
    task_hash = tally.digest.hexdigest() if tally.complete_hashes else None
    return [
        task_evaluation(
            task_name(path),
            path,
            run.path if run is not None else None,
            task_results,
            settings["delimiter"],
            filter_key,
            counts,
            task_hash,
            bootstrap,
        )
        for filter_key, counts in tally.filters.items()
    ]


# ------------------------------------------------------------ two runs


def compare_runs(
    a: str,
    b: str,
    *,
    results_a: str | None = None,
    results_b: str | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    listed: int = 20,
    workers: int | str = "auto",
) -> tuple[RunComparison, ...]:
    """Compare runs ``a`` and ``b`` per task and filter: two samples files of
    one task, or two run folders (each task of one against the same task of
    the other).

    Each run is read with its task's settings from its results file
    (``results_a`` / ``results_b``, else the one beside it, if any).
    Raises :class:`~seqscore.errors.DataFormatError` when the two runs do not
    hold the same tasks or documents, listing what does not match.
    """
    bootstrap = {"resamples": resamples, "seed": seed, "confidence": confidence}
    return tuple(
        comparison
        for file_a, file_b in _same_tasks(a, b)
        for comparison in _compare_files(
            file_a, file_b, results_a, results_b, bootstrap, listed, workers
        )
    )


def _same_tasks(a: str, b: str) -> list[tuple[str, str]]:
    """The samples files of ``a`` and ``b`` paired by task."""
    if not (os.path.isdir(a) or os.path.isdir(b)):
        return [(a, b)]
    tasks_a, tasks_b = _files_by_task(a), _files_by_task(b)
    if set(tasks_a) != set(tasks_b):
        raise DataFormatError(
            f"{a} has tasks {sorted(tasks_a)} and {b} has {sorted(tasks_b)}: "
            "compare runs of the same tasks (or give two samples files)"
        )
    return [(tasks_a[task], tasks_b[task]) for task in sorted(tasks_a)]


def _files_by_task(path: str) -> dict[str, str]:
    """A run's samples files by task; two of one task are two runs."""
    by_task: dict[str, str] = {}
    for file in samples_files([path]):
        other = by_task.setdefault(task_name(file), file)
        if other != file:
            raise DataFormatError(
                f"{path}: holds two runs of task {task_name(file)!r} ({other} "
                f"and {file}): give the samples files to compare"
            )
    return by_task


def _compare_files(a, b, results_a, results_b, bootstrap, listed, workers):
    for path in (a, b):  # a missing run is that, not another task
        with open_binary(path):
            pass
    if task_name(a) != task_name(b):
        raise DataFormatError(
            f"{a} is task {task_name(a)!r} and {b} is task {task_name(b)!r}: "
            "compare runs of one task"
        )
    run_a = _read(a, results_a, workers)
    run_b = _read(b, results_b, workers)
    if set(run_a) != set(run_b):
        raise DataFormatError(
            f"{a} has filters {sorted(run_a)} and {b} has {sorted(run_b)}"
        )
    return [
        compare_judged(
            task_name(a), a, b, name, run_a[name], run_b[name], bootstrap, listed
        )
        for name in run_a
    ]


def _read(path: str, results: str | None, workers) -> dict[str, JudgedRun]:
    run: RunResults | None = read_results(results) if results else _beside(path)
    _, _, chunks = read_tally(
        path, run, listed=0, keep_scores=True, collect=True, workers=workers
    )
    if not chunks:
        raise DataFormatError(f"{path}: no documents")
    filters = [f for chunk in chunks for f in chunk.filter]
    runs = {}
    for name in dict.fromkeys(filters):
        rows = np.flatnonzero(np.array(filters) == name)
        runs[name] = _select(chunks, rows)
        _check_unique(path, name, runs[name].doc_id)
    return runs


def _select(chunks, rows: np.ndarray) -> JudgedRun:
    def flat(name):
        values = [v for chunk in chunks for v in getattr(chunk, name)]
        return [values[i] for i in rows.tolist()]

    return JudgedRun(
        doc_id=flat("doc_id"),
        doc_hash=flat("doc_hash"),
        gold=flat("gold"),
        predicted=np.concatenate([c.predicted for c in chunks])[rows],
        correct=np.concatenate([c.correct for c in chunks])[rows],
        scores=flat("scores"),
    )


def _check_unique(path: str, filter_key: str, doc_ids: list[str]) -> None:
    if len(set(doc_ids)) == len(doc_ids):
        return
    seen, repeated = set(), []
    for doc_id in doc_ids:
        if doc_id in seen:
            repeated.append(doc_id)
        seen.add(doc_id)
    raise DataFormatError(
        f"{path} (filter {filter_key}): doc_id {few(repeated)} appear more than "
        "once: documents cannot be matched"
    )
