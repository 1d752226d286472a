"""Sharded runs: many input files, one task per file, results in shard order.

The shards of a run are named like files on the command line: a file, a
directory (its ``*.jsonl``, ``*.json`` and ``*.npz`` files, sorted by name,
not recursively) or a glob (``'shards/*.jsonl'``; its matches sorted by
name, ``**`` for subfolders). Shard order is the order of the names, each
glob or directory expanded in place.

A shard is scored where it is read -- a process of the local pool, or a Dask
worker (:mod:`seqscore.runs.schedulers`) -- by the same functions as a single
file (:func:`~seqscore.formats.inputs.map_prompts` and
:func:`~seqscore.runs.candidate_records.score_item`), so a shard's records are
exactly those of ``seqscore score SHARD``, and its rejections name the shard
and the line. Two ways back:

* :func:`score_shards`: each shard's records come back, in shard order, for
  one output stream;
* :func:`write_parts`: each task writes its shard's part into a folder (to a
  temporary name, renamed into place when complete) and sends back only its
  :class:`~seqscore.runs.manifest.Part` entry: counts and checksum. The manifest
  is rewritten as each part completes, so an interrupted run loses nothing
  complete, and a task run twice (its worker died) writes the same part.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial

from seqscore.errors import DataFormatError, InvalidInputError, Rejected
from seqscore.formats.inputs import map_prompts
from seqscore.report.parquet import write_parquet
from seqscore.report.rejects import rejection_record
from seqscore.report.scores import RECORD_FIELDS
from seqscore.report.writers import Column, atomic_path, open_output, write_records
from seqscore.runs.candidate_records import collect_records, score_item
from seqscore.runs.manifest import Manifest, Part, read_manifest, sha256_file
from seqscore.runs.schedulers import LocalScheduler, Scheduler

__all__ = [
    "PART_FORMATS",
    "SHARD_SUFFIXES",
    "PartJob",
    "PartsRun",
    "ScoreSettings",
    "Shard",
    "ShardScores",
    "check_resumable",
    "list_shards",
    "part_name",
    "rejects_name",
    "score_shard",
    "score_shards",
    "write_part",
    "write_parts",
]

#: The files of a directory that are shards.
SHARD_SUFFIXES = (".jsonl", ".json", ".npz")
#: Formats of output parts.
PART_FORMATS = ("jsonl", "csv", "parquet")
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Shard:
    """One input file of a run: its place, its path (absolute, for workers
    anywhere) and its name as given (for messages)."""

    index: int
    path: str
    name: str


@dataclass(frozen=True)
class ScoreSettings:
    """Everything that decides a shard's records (the options of
    ``seqscore score`` that a part's content depends on)."""

    input_format: str = "auto"
    normalize: str = "sum"
    alpha: float = 1.0
    sort: bool = False
    top: int | None = None
    detail: tuple[str, ...] = ()
    on_error: str = "fail"

    def transform(self) -> Callable:
        """The per-prompt transform: :func:`score_item` with these options."""
        return partial(
            score_item,
            normalize=self.normalize,
            alpha=self.alpha,
            sort=self.sort,
            top=self.top,
            detail=self.detail,
        )

    def to_json(self) -> dict:
        settings = asdict(self)
        settings["detail"] = list(self.detail)
        return settings


@dataclass(frozen=True)
class ShardScores:
    """A shard's records (in input order), its rejections and its format."""

    shard: Shard
    input_format: str
    records: tuple[dict, ...]
    rejects: tuple[Rejected, ...]
    prompts: int


def list_shards(names: Sequence[str]) -> tuple[Shard, ...]:
    """The shards ``names`` (files, directories, globs) stand for, in order.

    A glob that matches no file and a directory without shards are
    :class:`DataFormatError` (as a missing file is, when it is opened);
    naming a file twice, or ``-``, is an :class:`InvalidInputError`.
    """
    found: list[str] = []
    for name in names:
        if name == "-":
            raise InvalidInputError("- (standard input) cannot be one of several files")
        if os.path.isdir(name):
            files = sorted(
                entry.path
                for entry in os.scandir(name)
                if entry.name.endswith(SHARD_SUFFIXES)
                and not entry.name.startswith(".")
                and entry.is_file()
            )
            if not files:
                suffixes = ", ".join(f"*{s}" for s in SHARD_SUFFIXES)
                raise DataFormatError(f"{name}: a directory with no {suffixes} file")
        elif os.path.exists(name) or not _GLOB_CHARACTERS & set(name):
            files = [name]  # a missing file is named when it is opened
        else:
            matches = glob.glob(name, recursive=True)
            files = sorted(p for p in matches if os.path.isfile(p))
            if not files:
                raise DataFormatError(f"{name}: no file matches")
        found.extend(files)
    seen: dict[str, str] = {}
    for name in found:
        key = os.path.realpath(name)
        if key in seen:
            raise InvalidInputError(
                f"{name}: named twice (also as {seen[key]}); its records would "
                "be scored twice"
            )
        seen[key] = name
    return tuple(Shard(i, os.path.abspath(n), n) for i, n in enumerate(found))


@contextlib.contextmanager
def _shard_records(shard: Shard, settings: ScoreSettings, rejected, counts, workers):
    """``(input format, records)`` of a shard, as a context (see
    :func:`~seqscore.runs.candidate_records.collect_records`)."""
    try:
        with map_prompts(
            shard.path,
            settings.transform(),
            settings.input_format,
            workers=workers,
            source=shard.name,
        ) as (kind, results):
            yield kind, collect_records(results, settings.on_error, rejected, counts)
    except OSError as exc:
        if exc.filename:  # it names its file already
            raise
        raise DataFormatError(f"{shard.name}: cannot read ({exc})") from None


def score_shard(shard: Shard, settings: ScoreSettings, workers: int = 1) -> ShardScores:
    """A shard's records and rejections (run by a scheduler's worker).

    ``workers``: processes that parse the shard (1 in a pool's worker).
    With ``on_error="fail"`` the first bad record raises a
    :class:`DataFormatError` naming the shard and the line.
    """
    rejected: list[Rejected] = []
    counts = {"prompts": 0, "candidates": 0}
    with _shard_records(shard, settings, rejected, counts, workers) as (kind, records):
        kept = tuple(records)
    return ShardScores(shard, kind, kept, tuple(rejected), counts["prompts"])


def score_shards(
    shards: Sequence[Shard], settings: ScoreSettings, scheduler: Scheduler
) -> Iterator[ShardScores]:
    """Every shard's :class:`ShardScores`, in shard order.

    One shard on a local scheduler is read in this process by ``workers``
    processes (byte ranges of JSON Lines, as for a single file); otherwise
    each shard is one task.
    """
    if len(shards) == 1 and _is_local(scheduler):
        yield score_shard(shards[0], settings, workers=scheduler.workers)
        return
    yield from scheduler.ordered(partial(score_shard, settings=settings), shards)


@dataclass(frozen=True)
class PartJob:
    """A task of :func:`write_parts`: which shard, to which file."""

    shard: Shard
    folder: str
    part: str
    format: str

    @property
    def name(self) -> str:
        return self.shard.name


def part_name(shard: Shard, count: int, fmt: str) -> str:
    """``part-00003.jsonl``: the shard's place, zero-padded to sort in order.

    >>> part_name(Shard(3, "/d/a.jsonl", "a.jsonl"), 40, "csv")
    'part-00003.csv'
    """
    digits = max(5, len(str(count - 1)))
    return f"part-{shard.index:0{digits}d}.{fmt}"


def write_part(
    job: PartJob,
    settings: ScoreSettings,
    workers: int = 1,
    hints: Mapping[str, str] | None = None,
) -> Part:
    """Score a shard into its part file (run by a scheduler's worker).

    The part goes to a temporary name beside its place and is renamed into
    place when complete; the returned :class:`Part` has its record count and
    checksum. ``workers``: processes that parse the shard. ``hints``: the
    caller's words for a rejection's remedy, appended to its reason in the
    part's rejects file (:func:`~seqscore.report.rejects.rejection_record`).
    """
    shard = job.shard
    try:
        status = os.stat(shard.path)
    except OSError as exc:
        raise DataFormatError(f"{shard.name}: cannot open ({exc.strerror})") from None
    rejected: list[Rejected] = []
    counts = {"prompts": 0, "candidates": 0}
    target = os.path.join(job.folder, job.part)
    rejects = rejects_name(job.part)
    with _shard_records(shard, settings, rejected, counts, workers) as (kind, records):
        if job.format == "parquet":
            with atomic_path(target) as temporary:
                write_parquet(records, temporary)
        else:
            columns = [Column(name) for name in RECORD_FIELDS]
            with open_output(target) as out:
                write_records(records, columns, job.format, out)
    if rejected:  # before the part is listed, so a listed part has its rejects
        with open_output(os.path.join(job.folder, rejects)) as out:
            records = (rejection_record(r, hints) for r in rejected)
            write_records(records, [], "jsonl", out)
    return Part(
        part=job.part,
        shard=shard.name,
        path=shard.path,
        shard_bytes=status.st_size,
        shard_mtime_ns=status.st_mtime_ns,
        input_format=kind,
        format=job.format,
        records=counts["candidates"],
        prompts=counts["prompts"],
        sha256=sha256_file(target),
        rejected=len(rejected),
        rejects=rejects if rejected else None,
    )


def rejects_name(part: str) -> str:
    """The file of a part's rejected records.

    >>> rejects_name("part-00003.csv")
    'part-00003.rejects.jsonl'
    """
    return f"{part.rsplit('.', 1)[0]}.rejects.jsonl"


@dataclass(frozen=True)
class PartsRun:
    """What :func:`write_parts` did: the final manifest and how many parts it
    wrote (the others were complete already)."""

    manifest: Manifest
    written: int

    @property
    def reused(self) -> int:
        return len(self.manifest.parts) - self.written


def write_parts(
    shards: Sequence[Shard],
    settings: ScoreSettings,
    folder: str,
    fmt: str,
    scheduler: Scheduler,
    resume: bool = False,
    on_part: Callable[[Part], None] | None = None,
    hints: Mapping[str, str] | None = None,
) -> PartsRun:
    """One part per shard in ``folder`` (made if need be) plus its manifest
    (see :mod:`seqscore.runs.manifest`).

    ``resume``: keep the parts the folder's manifest lists as complete for
    the same shard (path, size, modification time), format and settings, and
    whose files still have their checksums; write the others. The manifest is
    rewritten as each part completes. ``on_part`` is called with each part
    as it completes (written or kept). A task that fails stops the run with
    its error; the parts complete by then stay listed. ``hints``: see
    :func:`write_part` (the command line passes its flags).
    """
    if fmt not in PART_FORMATS:
        raise InvalidInputError(
            f"parts are written as {', '.join(PART_FORMATS)}, not {fmt}"
        )
    names = {shard.index: part_name(shard, len(shards), fmt) for shard in shards}
    done: dict[int, Part] = {}
    if resume:
        check_resumable(folder, settings, fmt)
        done = _complete_parts(shards, names, folder)
    os.makedirs(folder, exist_ok=True)
    manifest = _manifest(fmt, settings, shards, done)
    manifest.write(folder)
    for part in done.values():
        if on_part is not None:
            on_part(part)
    jobs = [
        PartJob(shard, os.path.abspath(folder), names[shard.index], fmt)
        for shard in shards
        if shard.index not in done
    ]
    written = 0
    if len(shards) == 1 and jobs and _is_local(scheduler):
        tasks = iter([(0, write_part(jobs[0], settings, scheduler.workers, hints))])
    else:
        task = partial(write_part, settings=settings, hints=hints)
        tasks = scheduler.completed(task, jobs)
    for index, part in tasks:
        done[jobs[index].shard.index] = part
        written += 1
        manifest = _manifest(fmt, settings, shards, done)
        manifest.write(folder)
        if on_part is not None:
            on_part(part)
    _remove_leftovers(folder, names.values())
    return PartsRun(manifest, written)


def _remove_leftovers(folder: str, parts) -> None:
    """Delete the temporary files that tasks killed mid-write left behind
    (``.part-00003.jsonl.<random>.tmp``, see
    :func:`~seqscore.report.writers.atomic_path`): every task is done."""
    names = {*parts, *map(rejects_name, parts)}
    for entry in os.scandir(folder):
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            continue
        target, _, random = entry.name[1 : -len(".tmp")].rpartition(".")
        if target in names and random and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def _manifest(fmt, settings, shards, done: dict[int, Part]) -> Manifest:
    return Manifest(
        format=fmt,
        settings=settings.to_json(),
        shards=len(shards),
        parts=tuple(done[i] for i in sorted(done)),
    )


def check_resumable(folder: str, settings: ScoreSettings, fmt: str) -> None:
    """An :class:`InvalidInputError` when ``folder``'s manifest was written
    with other settings or another format (its parts cannot be kept)."""
    previous = read_manifest(folder)
    if previous is None:
        return
    now = settings.to_json()
    changed = sorted(
        key
        for key in {*previous.settings, *now}
        if previous.settings.get(key) != now.get(key)
    )
    if previous.format != fmt:
        changed.insert(0, "format")
    if changed:
        raise InvalidInputError(
            f"{folder}: its parts were written with other options (changed: "
            f"{', '.join(changed)}); run without --resume to write every part "
            "again, or use another folder"
        )


def _complete_parts(shards, names, folder) -> dict[int, Part]:
    """The parts of ``folder``'s manifest that a resumed run keeps, by shard."""
    previous = read_manifest(folder)
    if previous is None:
        return {}
    listed = {part.path: part for part in previous.parts}
    kept = {}
    for shard in shards:
        part = listed.get(shard.path)
        if part is None or part.part != names[shard.index]:
            continue
        try:
            status = os.stat(shard.path)
        except OSError:
            continue  # the task names the missing shard
        unchanged = (status.st_size, status.st_mtime_ns) == (
            part.shard_bytes,
            part.shard_mtime_ns,
        )
        if unchanged and part.intact(folder):
            kept[shard.index] = part
    return kept


def _is_local(scheduler: Scheduler) -> bool:
    return isinstance(scheduler, LocalScheduler)
