"""``seqscore score`` over shards: several files, a folder of parts, or Dask.

A run is sharded when it names several files (or a directory, or a glob),
writes ``-o DIR/``, or names a ``--scheduler`` other than ``local``. Each
shard is one task (:mod:`seqscore.runs.shards`); the records come back in shard
order to one output, or each task writes its shard's part into ``DIR/``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass
from functools import partial

import click

from seqscore.commands.hints import HINTS
from seqscore.commands.options import progress_callback
from seqscore.commands.score_output import note_truncation, report_rejects
from seqscore.errors import InvalidInputError, MissingExtraError
from seqscore.formats.inputs import PARALLEL_MIN_BYTES
from seqscore.formats.texts import read_text_prompts
from seqscore.models.examples import example_text_prompts
from seqscore.models.loglikelihood import Tally
from seqscore.numerics.parallel import cpu_count
from seqscore.report.parquet import import_pyarrow
from seqscore.report.scores import LMEVAL_NOTE, columns, table_row
from seqscore.report.writers import open_output, write_records
from seqscore.runs import model_tasks
from seqscore.runs.candidate_records import collect_records
from seqscore.runs.model_tasks import ModelJob, score_text_batch
from seqscore.runs.schedulers import (
    DaskScheduler,
    Scheduler,
    check_scheduler,
    import_distributed,
    open_scheduler,
)
from seqscore.runs.shards import (
    PART_FORMATS,
    ScoreSettings,
    Shard,
    check_resumable,
    list_shards,
    score_shards,
    write_parts,
)

__all__ = [
    "ShardedRun",
    "check_single",
    "is_folder",
    "is_sharded",
    "run_model_tasks",
    "run_sharded",
    "text_prompts_of",
    "write_scores",
]


@dataclass(frozen=True)
class ShardedRun:
    """The options of a sharded ``seqscore score``."""

    settings: ScoreSettings
    fmt: str
    output: str
    scheduler: str
    workers: int | None
    resume: bool
    rejects: str | None
    #: what was scored, in words (the title of --format html's page)
    source: str = ""


def is_folder(output: str) -> bool:
    """``-o`` names a folder: it ends with a slash, or is a directory."""
    return output != "-" and (output.endswith(("/", os.sep)) or os.path.isdir(output))


def is_sharded(files: tuple[str, ...], output: str, scheduler: str) -> bool:
    """Whether ``seqscore score`` runs shard by shard (see the module)."""
    several = len(files) > 1 or any(map(_names_several, files))
    return several or scheduler != "local" or is_folder(output)


def _names_several(name: str) -> bool:
    if name == "-" or os.path.exists(name):
        return os.path.isdir(name)
    return bool(set("*?[") & set(name))


def check_single(fmt: str, resume: bool) -> None:
    """Usage errors of options that only a sharded run takes."""
    if fmt == "parquet":
        raise click.UsageError(
            "--format parquet writes one part per input file: give -o DIR/"
        )
    if resume:
        raise click.UsageError("--resume needs -o DIR/")


def run_sharded(files: tuple[str, ...], run: ShardedRun, progress) -> None:
    """Score every shard ``files`` names and write the records or parts."""
    folder = is_folder(run.output)
    _check_usage(files, run, folder)
    try:
        shards = list_shards(files)
        if folder and run.resume:
            check_resumable(run.output, run.settings, run.fmt)
    except InvalidInputError as exc:
        raise click.UsageError(str(exc)) from None
    if folder:
        _check_apart(run.output, shards)
    sizes = [_size(shard) for shard in shards]
    with open_scheduler(run.scheduler, _workers(run, shards, sizes)) as scheduler:
        if folder:
            _write_folder(shards, sizes, run, scheduler, progress)
        else:
            _write_stream(shards, sizes, run, scheduler, progress)


def _check_usage(files, run: ShardedRun, folder: bool) -> None:
    if not files:
        raise click.UsageError("-o DIR/ and --scheduler need input files")
    if "-" in files:
        raise click.UsageError(
            "- (standard input) is read on this machine alone: give files for "
            "-o DIR/, --scheduler or several inputs"
        )
    if folder and run.fmt not in PART_FORMATS:
        raise click.UsageError(
            f"-o DIR/ writes parts as {', '.join(PART_FORMATS)}: give --format "
            f"(not {run.fmt})"
        )
    if not folder:
        check_single(run.fmt, run.resume)
    _check_scheduler(run)
    try:
        if run.fmt == "parquet":
            import_pyarrow()
    except MissingExtraError as exc:
        raise click.UsageError(str(exc)) from None


def _check_apart(folder: str, shards) -> None:
    """The parts' folder holds no shard: its parts would be overwritten, or
    read as shards by the next run of the same command."""
    where = os.path.realpath(folder)
    for shard in shards:
        if os.path.dirname(os.path.realpath(shard.path)) == where:
            raise click.UsageError(
                f"{folder}: holds input shards ({shard.name}); write the parts "
                "to a folder of their own"
            )


def _check_scheduler(run: ShardedRun) -> None:
    try:
        check_scheduler(run.scheduler)
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc), param_hint="--scheduler") from None
    if "://" in run.scheduler and run.workers is not None:
        raise click.UsageError(
            "--workers sizes a local pool or a LocalCluster; a running Dask "
            "cluster has the workers it has"
        )
    if run.scheduler != "local":
        try:
            import_distributed()
        except MissingExtraError as exc:
            raise click.UsageError(str(exc)) from None


def _workers(run: ShardedRun, shards, sizes) -> int | None:
    """Processes of the local pool or LocalCluster: as asked, or every
    processor (``local``: for inputs over 16 MB in all), at most one per
    shard when there are several."""
    if "://" in run.scheduler:
        return None
    workers = run.workers
    if workers is None:
        large = sum(sizes) >= PARALLEL_MIN_BYTES
        workers = cpu_count() if run.scheduler == "dask" or large else 1
    return workers if len(shards) == 1 else min(workers, len(shards))


def _size(shard: Shard) -> int:
    try:
        return os.path.getsize(shard.path)
    except OSError:
        return 0  # its task names it


def write_scores(records, run: ShardedRun, kind: str, out) -> None:
    """Score records (of inputs in format ``kind``) to ``out``, in the run's
    ``--format``."""
    if run.fmt == "html":
        # here, not at the top: the page's module loads lm-eval's statistics
        # and scipy.special (0.2 s of every score run's start-up)
        from seqscore.report.pages import write_scores_page

        write_scores_page(
            records, out, normalize=run.settings.normalize, source=run.source
        )
        return
    if run.fmt == "table":
        records = map(table_row, records)
    write_records(records, columns(run.fmt, run.settings.normalize, kind), run.fmt, out)


def _write_stream(shards, sizes, run: ShardedRun, scheduler, progress) -> None:
    """Every shard's records, in shard order, to one output."""
    rejected: list = []
    counts = {"prompts": 0, "candidates": 0}
    kinds: set[str] = set()
    total, done = sum(sizes), 0
    with (
        progress_callback(progress, "scoring") as on_progress,
        open_output(run.output) as out,
    ):
        results = score_shards(shards, run.settings, scheduler)
        first = next(results)

        def records():
            nonlocal done
            for result in itertools.chain([first], results):
                rejected.extend(result.rejects)
                counts["prompts"] += result.prompts
                counts["candidates"] += len(result.records)
                kinds.add(result.input_format)
                yield from result.records
                done += sizes[result.shard.index]
                if on_progress is not None:
                    on_progress(done, total)

        write_scores(records(), run, first.input_format, out)
    if "lmeval" in kinds:
        click.echo(LMEVAL_NOTE, err=True)
    report_rejects(rejected, run.rejects, counts)


def _write_folder(shards, sizes, run: ShardedRun, scheduler, progress) -> None:
    """One part per shard in the folder, and its manifest."""
    folder = run.output
    total, done = sum(sizes), 0
    path_sizes = {shard.path: size for shard, size in zip(shards, sizes, strict=True)}
    with progress_callback(progress, "scoring") as on_progress:

        def on_part(part):
            nonlocal done
            done += path_sizes.get(part.path, 0)
            if on_progress is not None:
                on_progress(done, total)

        result = write_parts(
            shards,
            run.settings,
            folder,
            run.fmt,
            scheduler,
            resume=run.resume,
            on_part=on_part,
            hints=HINTS,
        )
    parts = result.manifest.parts
    if any(part.input_format == "lmeval" for part in parts):
        click.echo(LMEVAL_NOTE, err=True)
    if run.resume:
        click.echo(
            f"seqscore: {folder}: wrote {result.written} parts, kept "
            f"{result.reused} complete from an earlier run ({result.manifest.records} "
            f"records in {len(parts)} parts)",
            err=True,
        )
    counts = {
        "prompts": sum(part.prompts for part in parts),
        "candidates": sum(part.records for part in parts),
    }
    rejected = [r for part in parts for r in part.read_rejects(folder)]
    report_rejects(rejected, run.rejects, counts)


def run_model_tasks(file: str | None, job: ModelJob, run: ShardedRun, progress):
    """``seqscore score FILE --model MODEL --scheduler dask|tcp://...``: the
    texts read here, sent to the workers in batches, the model loaded once
    per worker (:mod:`seqscore.runs.model_tasks`); records in input order."""
    if file == "-":
        raise click.UsageError("--scheduler with --model reads a FILE, not -")
    check_single(run.fmt, run.resume)
    _check_scheduler(run)
    tally = Tally()
    limits: set[int] = set()
    rejected: list = []
    counts = {"prompts": 0, "candidates": 0}
    with (
        progress_callback(progress, "scoring") as on_progress,
        text_prompts_of(file, on_progress) as texts,
        open_scheduler(run.scheduler, run.workers) as scheduler,
        _model_on_workers(_client(scheduler), job.model),
        open_output(run.output) as out,
    ):

        def results():
            task = partial(score_text_batch, job=job)
            for scored in scheduler.ordered(task, _batches(texts)):
                tally.requests += scored.requests
                tally.truncated += scored.truncated
                if scored.max_length is not None:
                    limits.add(scored.max_length)
                yield from scored.results

        records = collect_records(results(), run.settings.on_error, rejected, counts)
        write_scores(records, run, "model", out)
    report_rejects(rejected, run.rejects, counts)
    note_truncation(tally, max(limits, default=None))


@contextlib.contextmanager
def text_prompts_of(file: str | None, on_progress):
    """Text prompts of FILE, or the packaged examples (--model alone)."""
    if file is None:  # the packaged examples
        yield iter(example_text_prompts())
        return
    with read_text_prompts(file, on_progress) as texts:
        yield texts


def _client(scheduler: Scheduler):
    """The Dask client of a ``--scheduler dask|tcp://...`` run."""
    if not isinstance(scheduler, DaskScheduler):
        raise TypeError(f"--model tasks run on Dask, not on {scheduler!r}")
    return scheduler.client


def _batches(items):
    while batch := list(itertools.islice(items, model_tasks.PROMPTS_PER_TASK)):
        yield batch


def _model_on_workers(client, model):
    # the Dask plugin's module imports distributed (a fifth of a second):
    # only a run on Dask pays for it, not every command's start-up
    from seqscore.runs.dask_model import model_on_workers

    return model_on_workers(client, model)
