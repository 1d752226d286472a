"""The file-level work of ``seqscore evaluate`` and ``seqscore compare-runs``.

:func:`evaluate` reads lm-eval samples files (``samples_<task>_<date>.jsonl``
or a folder of them) and their results files and gives a
:class:`~seqscore.lmeval.evaluation.TaskEvaluation` per task and filter;
:func:`compare_runs` reads two runs of one task and gives a
:class:`~seqscore.lmeval.comparison.RunComparison` per filter.

A samples file's task is what its name says (:func:`task_name`): lm-eval
0.4.3+ names it, earlier versions name it only against their results file
(``<model_args>_<task>.jsonl``); where the name does not say it, the caller
can (``task``).

Files are streamed: chunks are read and judged in worker processes
(:func:`seqscore.formats.inputs.map_chunks`), so memory holds counts and the
first ``listed`` documents of each kind, never the file.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import hashlib
import json
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
    named_task,
    read_results,
    results_beside,
)
from seqscore.lmeval.comparison import JudgedRun, RunComparison, compare_judged, few
from seqscore.lmeval.evaluation import (
    CONFIDENCE,
    RESAMPLES,
    TaskEvaluation,
    task_evaluation,
)
from seqscore.lmeval.logged import Document, RunResults
from seqscore.lmeval.tally import Tally
from seqscore.lmeval.verdicts import judge

__all__ = [
    "compare_runs",
    "evaluate",
    "listed_documents",
    "read_tally",
    "samples_files",
    "task_name",
]

#: Samples are read in chunks of about this many bytes: a chunk's judgement
#: costs a few dozen numpy calls whatever its size (4 MiB: about 1,600
#: lm-eval lines of 2.5 kB).
CHUNK_BYTES = 4 << 20


def samples_files(paths: Iterable[str]) -> list[str]:
    """The samples files named: files as given, folders by their
    ``samples_*.jsonl`` (sorted; else, as lm-eval before 0.4.3 named them,
    their ``*.jsonl``); a results file is an error."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(_folder_samples(path))
        elif is_results_file(path):
            raise DataFormatError(
                f"{path}: is an lm-eval results file; give the samples files "
                "(samples_<task>_<date>.jsonl) or their folder, and the results "
                "file with --results if it is not beside them"
            )
        else:
            files.append(path)
    return files


def _folder_samples(path: str) -> list[str]:
    folder = glob.escape(path)
    found = glob.glob(os.path.join(folder, "samples_*.jsonl"))
    found = found or glob.glob(os.path.join(folder, "*.jsonl"))
    if not found:
        raise DataFormatError(
            f"{path}: no samples_*.jsonl in this folder (nor, as lm-eval before "
            "0.4.3 named them, <model_args>_<task>.jsonl)"
        )
    return sorted(found)


def evaluate(
    paths: Sequence[str],
    *,
    results: str | None = None,
    use_results: bool = True,
    task: str | None = None,
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
    exists, and none with ``use_results=False``. ``task`` names the task
    of every samples file (else each one's name says it, :func:`task_name`).
    ``listed`` caps the
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
                task=task,
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


def task_name(path: str, run: RunResults | None = None, task: str | None = None) -> str:
    """The task of a samples file: ``task`` when given, else what its name
    says (:func:`~seqscore.formats.lmeval_results.named_task`, against the
    run's results ``run``), else its name less ``.jsonl``."""
    if task:
        return task
    named = named_task(path, run)
    if named is not None:
        return named
    name = os.path.basename(path)
    return name[: -len(".jsonl")] if name.endswith(".jsonl") else name


def _task_results(run: RunResults, task: str, path: str, given: bool):
    """``run``'s results of ``task``; where it has none and the name of
    ``path`` did not say the task, the error says how to name it."""
    if given or task in run.tasks or named_task(path, run) is not None:
        return run.task(task, path)
    try:
        return run.task(task, path)
    except DataFormatError as exc:
        raise DataFormatError(str(exc), remedy="task") from None


def read_tally(
    path: str,
    run: RunResults | None,
    *,
    listed: int,
    task: str | None = None,
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
    where they are read. ``task`` is the task (default: :func:`task_name`).
    """
    name = task_name(path, run, task)
    task_results = (
        _task_results(run, name, path, bool(task)) if run is not None else None
    )
    settings = lmeval_settings(path, run, name) if run else lmeval_settings(None)
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


def _evaluate_file(
    path, run, *, task, listed, bootstrap, **options
) -> list[TaskEvaluation]:
    task_results, settings, tally = read_tally(
        path, run, listed=listed, task=task, **options
    )
    if not tally.filters:
        raise DataFormatError(f"{path}: no documents")
    task_hash = tally.digest.hexdigest() if tally.complete_hashes else None
    return [
        task_evaluation(
            task_name(path, run, task),
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


def listed_documents(
    evaluations: Sequence[TaskEvaluation], locations: Iterable[str]
) -> dict[str, Document]:
    """The documents at ``locations`` (``file:line``, as the evaluations name
    them), read again from their samples files with each task's settings.

    An evaluation keeps counts and the first documents of each list, not
    their log-likelihoods (memory holds no file); a report that shows a
    listed document's choices reads those few lines again, one pass over
    each file. A line that no longer reads (the file changed since) is
    left out: the report says it cannot show it.
    """
    wanted: dict[str, set[int]] = {}
    for location in locations:
        path, _, line = location.rpartition(":")
        if line.isdigit():
            wanted.setdefault(path, set()).add(int(line))
    settings = {}
    for e in evaluations:
        if e.samples in wanted and e.samples not in settings:
            run = read_results(e.results) if e.results else None
            settings[e.samples] = lmeval_settings(e.samples, run, e.task)
    found: dict[str, Document] = {}
    for path, lines in wanted.items():
        if path not in settings:
            continue
        left = set(lines)
        with open_binary(path) as (stream, _):
            for number, raw in enumerate(stream, start=1):
                if number not in left:
                    continue
                location = f"{path}:{number}"
                with contextlib.suppress(ValueError):  # DataFormatError too
                    found[location] = read_document(
                        json.loads(raw), location, **settings[path]
                    )
                left.discard(number)
                if not left:
                    break
    return found


# ------------------------------------------------------------ two runs


def compare_runs(
    a: str,
    b: str,
    *,
    results_a: str | None = None,
    results_b: str | None = None,
    task: str | None = None,
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
    ``task`` names the task of both (then each run is one samples file);
    else each file's name says it (:func:`task_name`).
    Raises :class:`~seqscore.errors.DataFormatError` when the two runs do not
    hold the same tasks or documents, listing what does not match.
    """
    bootstrap = {"resamples": resamples, "seed": seed, "confidence": confidence}
    return tuple(
        comparison
        for file_a, file_b in _same_tasks(a, b, results_a, results_b, task)
        for comparison in _compare_files(
            file_a,
            file_b,
            _results(file_a, results_a),
            _results(file_b, results_b),
            task,
            bootstrap,
            listed,
            workers,
        )
    )


def _results(path: str, results: str | None) -> RunResults | None:
    """The results given for a samples file, else those beside it, if any."""
    return read_results(results) if results else _beside(path)


def _same_tasks(a, b, results_a, results_b, task) -> list[tuple[str, str]]:
    """The samples files of ``a`` and ``b`` paired by task."""
    if not (os.path.isdir(a) or os.path.isdir(b)):
        return [(a, b)]
    if task:
        return [(_only_file(a, task), _only_file(b, task))]
    tasks_a, tasks_b = _files_by_task(a, results_a), _files_by_task(b, results_b)
    if set(tasks_a) != set(tasks_b):
        unsaid = _unsaid(tasks_a, results_a) or _unsaid(tasks_b, results_b)
        raise DataFormatError(
            f"{a} has tasks {sorted(tasks_a)} and {b} has {sorted(tasks_b)}: "
            "compare runs of the same tasks (or give two samples files)",
            remedy="task" if unsaid else None,
        )
    return [(tasks_a[name], tasks_b[name]) for name in sorted(tasks_a)]


def _only_file(path: str, task: str) -> str:
    """A run's one samples file, of the task the caller names."""
    files = samples_files([path])
    if len(files) != 1:
        raise DataFormatError(
            f"{path}: holds {len(files)} samples files; task {task!r} can be "
            "named for one"
        )
    return files[0]


def _files_by_task(path: str, results: str | None) -> dict[str, str]:
    """A run's samples files by task; two of one task are two runs."""
    by_task: dict[str, str] = {}
    for file in samples_files([path]):
        name = task_name(file, _results(file, results))
        other = by_task.setdefault(name, file)
        if other != file:
            raise DataFormatError(
                f"{path}: holds two runs of task {name!r} ({other} and {file}): "
                "give the samples files to compare"
            )
    return by_task


def _unsaid(files_by_task: dict[str, str], results: str | None) -> bool:
    """Whether the name of one of the files does not say its task."""
    return any(
        named_task(file, _results(file, results)) is None
        for file in files_by_task.values()
    )


def _compare_files(a, b, run_a, run_b, task, bootstrap, listed, workers):
    for path in (a, b):  # a missing run is that, not another task
        with open_binary(path):
            pass
    name_a, name_b = task_name(a, run_a, task), task_name(b, run_b, task)
    if name_a != name_b:
        unsaid = named_task(a, run_a) is None or named_task(b, run_b) is None
        raise DataFormatError(
            f"{a} is task {name_a!r} and {b} is task {name_b!r}: compare runs of "
            "one task",
            remedy="task" if unsaid else None,
        )
    judged_a = _read(a, run_a, task, workers)
    judged_b = _read(b, run_b, task, workers)
    if set(judged_a) != set(judged_b):
        raise DataFormatError(
            f"{a} has filters {sorted(judged_a)} and {b} has {sorted(judged_b)}"
        )
    return [
        compare_judged(
            name_a, a, b, name, judged_a[name], judged_b[name], bootstrap, listed
        )
        for name in judged_a
    ]


def _read(path: str, run: RunResults | None, task, workers) -> dict[str, JudgedRun]:
    _, _, chunks = read_tally(
        path,
        run,
        listed=0,
        task=task,
        keep_scores=True,
        collect=True,
        workers=workers,
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
        # -1 where not computable: no prediction, or no gold to judge it by
        predicted=np.concatenate(
            [np.where(c.computable, c.predicted, -1) for c in chunks]
        )[rows],
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
