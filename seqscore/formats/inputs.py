"""One entry point for every input: detect the format, then read prompts.

The format is told from the content, not the file name: a zip archive is an
``.npz``; JSON is classified by the keys of its first record (``candidates``:
seqscore's own JSONL; ``choices``: an OpenAI response, chat or legacy, also
inside a Batch API line; ``outputs`` or ``prompt_logprobs``: vLLM). JSON may
come as JSON Lines (streamed, one record per line), as one document holding a
single response, or as a document holding an array of them.
``input_format`` overrides the detection.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from typing import IO, Any

from ..errors import DataFormatError
from ..scoring import Prompt
from . import jsonl, openai, vllm
from .npz import read_npz
from .records import Rejected, json_lines, records_to_prompts

__all__ = ["INPUT_FORMATS", "read_prompts"]

INPUT_FORMATS = ("auto", "seqscore", "openai", "vllm", "npz")

Progress = Callable[[int, int], None]


@contextlib.contextmanager
def read_prompts(
    path: str, input_format: str = "auto", on_progress: Progress | None = None
) -> Iterator[tuple[str, Iterator[Prompt | Rejected]]]:
    """``(format, prompts)`` for ``path`` (``-`` for stdin), as a context.

    ``prompts`` yields :class:`Prompt` or :class:`Rejected` records lazily;
    the file stays open until the context ends.
    """
    if input_format not in INPUT_FORMATS:
        raise DataFormatError(
            f"unknown input format {input_format!r}; choose one of "
            f"{', '.join(INPUT_FORMATS)}"
        )
    source = "<stdin>" if path == "-" else path
    with _binary(path) as (stream, real_path):
        head = stream.peek(4)[:4]
        if input_format == "npz" or head.startswith(b"PK\x03\x04"):
            with _seekable(stream, real_path) as file_path:
                yield "npz", read_npz(file_path, source, on_progress)
            return
        if head.startswith(b"\x93NUM"):
            raise DataFormatError(
                f"{source}: a .npy holds logits alone; put them in an .npz with "
                "targets and lengths, or reference it from seqscore JSONL "
                "(token_ids + logits_file)"
            )
        size = os.path.getsize(real_path) if real_path else 0
        records = _json_records(stream, source, size, on_progress)
        first, records = _first_good(records)
        kind = input_format if input_format != "auto" else _classify(first, source)
        folder = os.path.dirname(os.path.abspath(real_path)) if real_path else "."
        yield kind, records_to_prompts(records, _converter(kind, folder))


def _converter(kind: str, folder: str):
    if kind == "seqscore":
        return partial(jsonl.convert_record, folder=folder)
    return {"openai": openai.convert_record, "vllm": vllm.convert_record}[kind]


def _classify(first: tuple[str, Any] | None, source: str) -> str:
    if first is None:
        raise DataFormatError(f"{source}: no records (the input is empty)")
    location, record = first
    if isinstance(record, Rejected):
        raise DataFormatError(record.message())
    record, _ = openai.unwrap(record) if isinstance(record, dict) else (record, None)
    if isinstance(record, dict):
        if "candidates" in record:
            return "seqscore"
        if "choices" in record:
            return "openai"
        if "outputs" in record or "prompt_logprobs" in record:
            return "vllm"
        keys = ", ".join(list(record)[:8])
    else:
        keys = type(record).__name__
    raise DataFormatError(
        f"{location}: cannot tell the input format from this record (keys: {keys}); "
        "expected seqscore JSONL ('candidates'), an OpenAI response ('choices') or a "
        "vLLM output ('outputs'); use --input-format to say which"
    )


def _json_records(stream, source, size, on_progress) -> Iterator[tuple[str, Any]]:
    """Records of JSON Lines, or of one JSON document spread over lines.

    A first line that is not JSON by itself but opens an object or array
    starts a multi-line document -- unless the next line is a JSON value of
    its own, which makes the file JSON Lines with a broken first line.
    """
    head = _through_content(stream, [])
    first_line = head[-1] if head else b""
    if not first_line.strip():
        return iter(())
    if not _parses(first_line) and first_line.lstrip()[:1] in (b"{", b"["):
        _through_content(stream, head)
        if not _parses(head[-1]):
            return _document(b"".join(head) + stream.read(), source)
    lines = itertools.chain(head, stream)
    if on_progress is not None and size:
        lines = _counting(lines, size, on_progress)
    return json_lines(lines, source)


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
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return bool(line.strip())


def _document(text: bytes, source: str) -> Iterator[tuple[str, Any]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            f"{source}:{exc.lineno}: malformed JSON ({exc.msg} at column {exc.colno})"
        ) from None
    if isinstance(document, list):
        return ((f"{source}:[{i}]", item) for i, item in enumerate(document))
    return iter([(source, document)])


def _counting(lines, size: int, on_progress: Progress):
    done = 0
    for number, line in enumerate(lines):
        done += len(line)
        if number % 512 == 0:
            on_progress(done, size)
        yield line
    on_progress(size, size)


def _first_good(records):
    """The first parseable record (to classify by) and all records, unconsumed."""
    records = iter(records)
    seen = []
    for location, record in records:
        seen.append((location, record))
        if not isinstance(record, Rejected):
            return (location, record), itertools.chain(seen, records)
    return (seen[0] if seen else None), iter(seen)


@contextlib.contextmanager
def _binary(path: str) -> Iterator[tuple[IO[bytes], str | None]]:
    if path == "-":
        stream = sys.stdin.buffer
        # format detection peeks at the first bytes without consuming them
        yield (stream if hasattr(stream, "peek") else io.BufferedReader(stream)), None
        return
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot open ({exc.strerror})") from None
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
