"""One entry point for every input: detect the format, then read prompts.

The format is told from the content, not the file name: a zip archive is an
``.npz``; JSON is classified by the keys of its first record (``candidates``:
seqscore's own JSONL; ``choices``: an OpenAI response, chat or legacy, also
inside a Batch API line; ``outputs`` or ``prompt_logprobs``: vLLM;
``doc_id`` with ``resps`` or ``filtered_resps``: lm-eval samples). JSON may
come as JSON Lines (streamed, one record per line), as one document holding a
single response, or as a document holding an array of them.
``input_format`` overrides the detection, except that a zip archive is
never read as JSON: naming a JSON format for one is an error.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import mmap
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, TypeVar

import numpy as np

from seqscore.errors import DataFormatError, rejection_error
from seqscore.formats import jsonl, lmeval, openai, vllm
from seqscore.formats.lmeval_results import lmeval_settings
from seqscore.formats.npz import ZIP_SIGNATURES, read_npz
from seqscore.formats.records import (
    Rejected,
    json_document,
    json_lines,
    records_to_prompts,
    repeated_id,
)
from seqscore.numerics._pages import release_range
from seqscore.numerics.parallel import cpu_count, ordered_map
from seqscore.scoring.candidates import Prompt

__all__ = [
    "INPUT_FORMATS",
    "PARALLEL_MIN_BYTES",
    "map_chunks",
    "map_prompts",
    "open_binary",
    "read_prompts",
]

INPUT_FORMATS = ("auto", "seqscore", "openai", "vllm", "lmeval", "npz")
#: Auto-detection looks this many lines into JSON Lines for a record whose
#: format it can tell.
DETECTION_LINES = 1000
#: JSON Lines at least this large are parsed on every processor.
PARALLEL_MIN_BYTES = 16 << 20
#: Lines are handed to worker processes in chunks of about this size.
CHUNK_BYTES = 1 << 20

Progress = Callable[[int, int], None]
T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def read_prompts(
    path: str, input_format: str = "auto", on_progress: Progress | None = None
) -> Iterator[tuple[str, Iterator[Prompt | Rejected]]]:
    """``(format, prompts)`` for ``path`` (``-`` for stdin), as a context.

    ``prompts`` yields :class:`Prompt` or :class:`Rejected` records lazily;
    the file stays open until the context ends.
    """
    with map_prompts(path, _same, input_format, on_progress, workers=1) as result:
        yield result


@contextlib.contextmanager
def map_prompts(
    path: str,
    transform: Callable[[Prompt | Rejected], T],
    input_format: str = "auto",
    on_progress: Progress | None = None,
    workers: int | str = "auto",
    source: str | None = None,
) -> Iterator[tuple[str, Iterator[T]]]:
    """``(format, results)``: ``transform`` of every prompt or rejection, in order.

    For JSON Lines, chunks of lines are parsed, converted and transformed in
    ``workers`` processes (``"auto"``: every processor, for inputs over
    :data:`PARALLEL_MIN_BYTES`), so ``transform`` must be picklable and should
    return something small. Other inputs are read in this process. ``source``
    names the input in errors and rejections (default: ``path``).

    Prompt ids are unique in an input: a prompt whose id an earlier one has
    is a :class:`Rejected` naming the id and both places (its candidates
    would otherwise be ranked against each other's twins under one id).
    """
    job = partial(_transform_all, transform=partial(_with_id, transform))
    with map_chunks(path, job, input_format, on_progress, workers, source=source) as (
        kind,
        chunks,
    ):
        yield kind, _first_of_each_id(itertools.chain.from_iterable(chunks), transform)


def _with_id(transform: Callable[[Prompt | Rejected], T], item) -> tuple:
    """``(id, where, transform(item))`` in a worker; no id for a rejection."""
    if isinstance(item, Prompt):
        return item.id, item.source, transform(item)
    return None, None, transform(item)


def _first_of_each_id(results: Iterable[tuple], transform) -> Iterator:
    """The results in order, a repeated prompt id's transformed as a
    :class:`Rejected`. Holds one entry per prompt id seen."""
    first_at: dict[str, str] = {}
    for prompt_id, where, result in results:
        if prompt_id is None or first_at.setdefault(prompt_id, where) == where:
            yield result
            continue
        yield transform(repeated_id(prompt_id, where, first_at[prompt_id]))


@contextlib.contextmanager
def map_chunks(
    path: str,
    job: Callable[[Iterator], R],
    input_format: str = "auto",
    on_progress: Progress | None = None,
    workers: int | str = "auto",
    convert: Callable[[Any, str], Iterable] | None = None,
    parse: Callable[[bytes], Any] | None = None,
    chunk_bytes: int | None = None,
    source: str | None = None,
) -> Iterator[tuple[str, Iterator[R]]]:
    """``(format, results)``: ``job`` of each chunk of input records, in order.

    ``job`` receives an iterator over a chunk's prompts and rejections (of
    about :data:`CHUNK_BYTES` of JSON Lines, parsed and converted in a worker
    process; one prompt per chunk from an ``.npz``), so it can reduce them
    where they are read. ``convert(record, location)`` replaces the format's
    converter (JSON only): it may yield other things than prompts, such as
    lm-eval documents; ``parse(line)`` replaces ``json.loads`` for the lines
    read in workers (see :func:`~.records.json_lines`). All must be picklable.
    ``chunk_bytes`` (default :data:`CHUNK_BYTES`) sizes the chunks: larger
    ones spread a job's fixed cost per chunk over more records. ``source``
    names the input in errors and rejections (default: ``path``, or
    ``<stdin>`` for ``-``).
    """
    if input_format not in INPUT_FORMATS:
        raise DataFormatError(
            f"unknown input format {input_format!r}; choose one of "
            f"{', '.join(INPUT_FORMATS)}"
        )
    source = source or ("<stdin>" if path == "-" else path)
    with open_binary(path, source) as (stream, real_path):
        head = stream.peek(4)[:4]
        if head in ZIP_SIGNATURES and input_format not in ("auto", "npz"):
            raise DataFormatError(
                f"{source}: is a zip archive (an .npz?), not {input_format} JSON",
                remedy="input_format_npz",
            )
        if input_format == "npz" or head in ZIP_SIGNATURES:
            with _seekable(stream, real_path) as file_path:
                prompts = read_npz(file_path, source, on_progress)
                yield "npz", (job(iter((prompt,))) for prompt in prompts)
            return
        if head.startswith(b"\x93NUM"):
            raise DataFormatError(
                f"{source}: a .npy holds logits alone; put them in an .npz with "
                "targets and lengths, or reference it from seqscore JSONL "
                "(token_ids + logits_file)"
            )
        size = os.path.getsize(real_path) if real_path else 0
        if workers == "auto":
            workers = cpu_count() if size >= PARALLEL_MIN_BYTES else 1
        first, parsed, rest = _json_input(stream, source)
        kind = input_format if input_format != "auto" else _classify(first, source)
        convert = convert or _converter(kind, real_path)
        options = {"source": source, "convert": convert, "job": job, "parse": parse}
        if int(workers) > 1 and real_path and isinstance(rest, enumerate):
            # JSON Lines in a file: workers read their own byte ranges of it
            # (from the start: the lines parsed here are parsed again)
            ranges = _ranges(real_path, size, on_progress, chunk_bytes)
            range_job = partial(_range_job, path=real_path, **options)
            yield kind, ordered_map(range_job, ranges, int(workers))
            return
        in_order = itertools.chain(
            (job(records_to_prompts(parsed, convert)) for _ in range(1)),  # lazily
            ordered_map(
                partial(_chunk_job, **options),
                _chunks(rest, size, on_progress, chunk_bytes),
                int(workers),
            ),
        )
        yield kind, in_order


def _same(item):
    return item


def _transform_all(items: Iterator, *, transform) -> list:
    return [transform(item) for item in items]


def _chunk_job(chunk, *, source, convert, job, parse=None):
    """Parse, convert and reduce a chunk of numbered lines (in a worker)."""
    return job(records_to_prompts(json_lines(chunk, source, parse), convert))


def _range_job(span, *, path, source, convert, job, parse=None):
    """:func:`_chunk_job` of the lines in a byte range of ``path`` (in a
    worker): ``span`` is ``(start, end, number of the first line)``."""
    start, end, first = span
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    # the lines as iterating over the file gives them here (split after each
    # "\n" only, which they keep): a bad line gets the same message
    return _chunk_job(
        enumerate(io.BytesIO(data), first),
        source=source,
        convert=convert,
        job=job,
        parse=parse,
    )


def _ranges(path: str, size: int, on_progress: Progress | None, chunk_bytes=None):
    """``(start, end, first line number)`` of spans of about
    :data:`CHUNK_BYTES` of ``path`` that end at a line's end (or at the end
    of the file). The file is memory-mapped, not read: line ends are found
    by ``find`` and counted by numpy, in place."""
    step = chunk_bytes or CHUNK_BYTES
    if not size:
        return
    with (
        open(path, "rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
    ):
        size = len(mapped)
        start = len(_UTF8_BOM) if mapped[:3] == _UTF8_BOM else 0
        line = 1
        while start < size:
            newline = mapped.find(b"\n", min(start + step, size) - 1)
            end = size if newline < 0 else newline + 1
            yield start, end, line
            line += _count_newlines(mapped, start, end)
            release_range(mapped, start, end - start)  # RSS stays flat
            start = end
            if on_progress is not None:
                on_progress(start, size)


def _count_newlines(mapped, start: int, end: int) -> int:
    # the view must be gone before the map closes
    view = np.frombuffer(mapped, dtype=np.uint8, count=end - start, offset=start)
    return int(np.count_nonzero(view == 10))


def _chunks(numbered, size: int, on_progress: Progress | None, chunk_bytes=None):
    """Lists of numbered lines of about :data:`CHUNK_BYTES` each."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    chunk, done, filled = [], 0, 0
    for number, line in numbered:
        chunk.append((number, line))
        filled += len(line)
        if filled >= chunk_bytes:
            yield chunk
            done += filled
            if on_progress is not None and size:
                on_progress(done, size)
            chunk, filled = [], 0
    if chunk:
        yield chunk
    if on_progress is not None and size:
        on_progress(size, size)


def _converter(kind: str, real_path: str | None):
    folder = os.path.dirname(os.path.abspath(real_path)) if real_path else "."
    if kind == "seqscore":
        return partial(jsonl.convert_record, folder=folder)
    if kind == "lmeval":  # the task's settings, from the results file beside
        return partial(lmeval.convert_record, **lmeval_settings(real_path))
    return {"openai": openai.convert_record, "vllm": vllm.convert_record}[kind]


def _classify(first: tuple[str, Any] | None, source: str) -> str:
    if first is None:
        raise DataFormatError(f"{source}: no records (the input is empty)")
    location, record = first
    if isinstance(record, Rejected):
        raise rejection_error(record)
    kind = _kind(record)
    if kind is None:
        raise _unknown_format(location, record)
    return kind


def _kind(record: Any) -> str | None:
    """The input format a parsed record is in; None when it cannot be told."""
    record = _unwrapped(record)
    if not isinstance(record, dict):
        return None
    if "candidates" in record:
        return "seqscore"
    if "choices" in record:
        return "openai"
    if "outputs" in record or "prompt_logprobs" in record:
        return "vllm"
    if lmeval.is_samples_record(record):
        return "lmeval"
    return None


def _unwrapped(record: Any) -> Any:
    """A one-line JSON array's first record; an OpenAI Batch line's response."""
    if isinstance(record, list) and record:
        record = record[0]
    return openai.unwrap(record)[0] if isinstance(record, dict) else record


def _unknown_format(location: str, record: Any) -> DataFormatError:
    record = _unwrapped(record)
    if isinstance(record, dict) and "context" in record and "continuation" in record:
        return DataFormatError(
            f"{location}: a context and a continuation are texts for a model to score",
            remedy="model",
        )
    keys = ", ".join(list(record)[:8]) if isinstance(record, dict) else None
    return DataFormatError(
        f"{location}: cannot tell the input format from this record "
        f"(keys: {keys or type(record).__name__}); expected seqscore JSONL "
        "('candidates'), an OpenAI response ('choices'), a vLLM output ('outputs') "
        "or lm-eval samples ('doc_id', 'resps')",
        remedy="input_format",
    )


def _first_telling(records: list[tuple[str, Any]]) -> tuple[str, Any] | None:
    """The first record whose format can be told, else the first that parsed,
    else the first (a rejection): what the format is detected from. Records
    before it are read as that format, and rejected by it if they are not."""
    good = [r for r in records if not isinstance(r[1], Rejected)]
    telling = (r for r in good if _kind(r[1]) is not None)
    return next(telling, good[0] if good else (records[0] if records else None))


def _json_input(stream, source):
    """``(first good record, parsed records, numbered raw lines left)``.

    JSON Lines are parsed here only up to the first record whose format can
    be told (at most :data:`DETECTION_LINES`), so that a bad first line is
    one bad record, not a bad file; the rest stay raw for :func:`_chunk_job`. A first
    line that is not JSON by itself but opens an object or array starts a
    multi-line document -- unless the next line is a JSON value of its own,
    which makes the file JSON Lines with a broken first line.
    """
    head = _through_content(stream, [])
    if head[0].startswith(_UTF8_BOM):  # else the document's "{" is not seen
        head[0] = head[0][len(_UTF8_BOM) :]
        if len(head) == 1 and not head[0].strip():  # the BOM stood alone
            head = _through_content(stream, head)
    if not head[-1].strip():
        return None, iter(()), iter(())
    if not _parses(head[-1]) and head[-1].lstrip()[:1] in (b"{", b"["):
        _through_content(stream, head)
        if not _parses(head[-1]):
            records = list(json_document(b"".join(head) + stream.read(), source))
            return _first_telling(records), iter(records), iter(())
    numbered = enumerate(itertools.chain(head, stream), 1)
    parsed = []
    for location, record in json_lines(numbered, source):
        parsed.append((location, record))
        telling = not isinstance(record, Rejected) and _kind(record) is not None
        if telling or len(parsed) >= DETECTION_LINES:
            return _first_telling(parsed), iter(parsed), numbered
    return _first_telling(parsed), iter(parsed), iter(())


_UTF8_BOM = b"\xef\xbb\xbf"


def _through_content(stream, lines: list[bytes]) -> list[bytes]:
    """Append lines up to and including the next non-blank one (kept for
    line numbering)."""
    line = stream.readline()
    lines.append(line)
    while line and not line.strip():
        line = stream.readline()
        lines.append(line)
    return lines


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    # bad JSON, bad UTF-8, an integer too long to parse, nesting too deep
    except (ValueError, RecursionError):
        return False
    return bool(line.strip())


@contextlib.contextmanager
def open_binary(
    path: str, name: str | None = None
) -> Iterator[tuple[io.BufferedReader, str | None]]:
    """``(binary stream, path or None for stdin)``; an unopenable file is a
    :class:`~seqscore.errors.DataFormatError` naming it (as ``name``, if
    given)."""
    if path == "-":
        # typed BinaryIO: a BufferedReader in practice, else wrapped in one
        stream: Any = sys.stdin.buffer
        # format detection peeks at the first bytes without consuming them
        yield (stream if hasattr(stream, "peek") else io.BufferedReader(stream)), None
        return
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise DataFormatError(f"{name or path}: cannot open ({exc.strerror})") from None
    with handle:
        yield handle, path


@contextlib.contextmanager
def _seekable(stream, real_path: str | None) -> Iterator[str]:
    """A file path for ``stream``: itself, or a spooled copy of stdin."""
    if real_path is not None:
        yield real_path
        return
    with tempfile.NamedTemporaryFile(suffix=".npz") as copy:
        shutil.copyfileobj(stream, copy)
        copy.flush()
        yield copy.name
