"""Reading a pipeline run for ``seqscore audit``: logits, tokens, reported scores.

Two forms, told apart by content (a zip archive is an ``.npz``):

* **.npz** -- the raw layout ``seqscore score`` reads (``logits`` (N, T, V)
  over whole sequences, ``input_ids`` (N, T), ``lengths`` (N,), ``n_context``
  (N,), optional ``group`` (N,)) plus ``reported`` (N,), the pipeline's score
  per candidate. ``logits`` is memory-mapped (see :mod:`.npz`).
* **JSON Lines** -- one candidate per line::

      {"id": "q1/a", "group": "q1", "input_ids": [5, 17, 42, 9],
       "n_context": 2, "reported": -7.31,
       "logits_file": "run.npy", "logits_row": 0}

  ``input_ids`` is the whole sequence (prompt then continuation), so the
  sequence length is its length; ``n_context`` counts the prompt's tokens;
  ``reported`` is a number, or ``"-inf"``, ``"inf"`` or ``"nan"`` (strict
  JSON has no literal for them). The logits over the sequence (row ``p``
  predicts token ``p + 1``) come inline as ``logits`` (a list of rows), or
  from ``logits_file``: a ``.npy`` of shape ``(>= L, V)``, or ``(N, T, V)``
  with ``logits_row`` choosing the candidate -- relative to the JSONL's
  folder and memory-mapped. ``id`` defaults to the line number and must
  be unique; ``group`` (a string or an integer) is given on every line or
  on none, which puts every candidate in one group.

Every candidate is needed (an audit of a subset would mislead), so the first
bad record stops the reading with its file, line and field.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from seqscore.audit.run import PipelineRun, group_label
from seqscore.errors import DataFormatError, Rejected, SeqScoreError, rejection_error
from seqscore.formats.npz import ZIP_SIGNATURES, open_npz
from seqscore.formats.records import as_number, as_numbers, field, json_lines

__all__ = ["PIPELINE_FORMATS", "read_pipeline_run"]

PIPELINE_FORMATS = ("auto", "npz", "jsonl")
_NONFINITE = {"-inf": -math.inf, "inf": math.inf, "nan": math.nan}


@contextlib.contextmanager
def read_pipeline_run(path: str, input_format: str = "auto") -> Iterator[PipelineRun]:
    """The :class:`~seqscore.audit.PipelineRun` stored at ``path`` (``-``: stdin)."""
    if input_format not in PIPELINE_FORMATS:
        raise DataFormatError(
            f"unknown input format {input_format!r}; choose one of "
            f"{', '.join(PIPELINE_FORMATS)}"
        )
    source = "<stdin>" if path == "-" else path
    with _file(path) as real:
        with open(real, "rb") as handle:
            is_zip = handle.read(4) in ZIP_SIGNATURES
        if is_zip and input_format == "jsonl":
            raise DataFormatError(
                f"{source}: is a zip archive (an .npz?), not JSON Lines",
                remedy="input_format_npz",
            )
        if input_format == "npz" or is_zip:
            with open_npz(real, source, extra=("reported",)) as arrays:
                yield _from_npz(arrays, source)
            return
        folder = os.path.dirname(os.path.abspath(real)) if path != "-" else os.getcwd()
        with open(real, "rb") as handle:
            yield _from_jsonl(json_lines(enumerate(handle, 1), source), folder, source)


@contextlib.contextmanager
def _file(path: str) -> Iterator[str]:
    """A real file for ``path``: itself, or a spooled copy of stdin."""
    if path != "-":
        if not os.path.isfile(path):
            raise DataFormatError(f"{path}: cannot open (no such file)")
        yield path
        return
    with tempfile.NamedTemporaryFile(suffix=".audit") as copy:
        shutil.copyfileobj(sys.stdin.buffer, copy)
        copy.flush()
        yield copy.name


def _from_npz(arrays, source: str) -> PipelineRun:
    small = arrays.small
    if arrays.layout != "raw":
        raise DataFormatError(
            f"{source}: the audit needs the raw layout (logits over whole sequences, "
            "input_ids, lengths, n_context), not aligned logits"
        )
    if "reported" not in small:
        raise DataFormatError(
            f"{source}: no 'reported' array: the audit needs the pipeline's reported "
            "score for every candidate"
        )
    try:
        return PipelineRun.from_arrays(
            arrays.logits,
            small["input_ids"],
            small["lengths"],
            small["n_context"],
            small["reported"],
            small.get("group"),
        )
    except SeqScoreError as exc:
        raise type(exc)(f"{source}: {exc}") from None


def _from_jsonl(records, folder: str, source: str) -> PipelineRun:
    files: dict[str, np.ndarray] = {}
    columns: dict[str, list] = {
        k: [] for k in ("logits", "ids", "context", "reported", "group", "name")
    }
    lines: dict[str, str] = {}  # candidate id -> where it was first seen
    for location, record in records:
        if isinstance(record, Rejected):
            raise rejection_error(record)
        try:
            _candidate(record, location, folder, files, columns)
        except SeqScoreError as exc:
            raise type(exc)(f"{location}: {exc}") from None
        name = columns["name"][-1]
        if lines.setdefault(name, location) != location:
            raise DataFormatError(
                f"{location}: id {name!r} is used again (first at {lines[name]}); "
                "every candidate needs its own id"
            )
    if not columns["ids"]:
        raise DataFormatError(f"{source}: no records (the input is empty)")
    groups = columns["group"]
    if None in groups and any(g is not None for g in groups):
        where = lines[columns["name"][groups.index(None)]]
        raise DataFormatError(
            f"{where}: group: missing, but other candidates have one (which "
            "prompt does this one answer?)"
        )
    try:
        return PipelineRun.from_sequences(
            columns["logits"],
            columns["ids"],
            np.array(columns["context"], np.int64),
            np.array(columns["reported"]),
            None if all(g is None for g in groups) else groups,
            columns["name"],
        )
    except SeqScoreError as exc:
        raise type(exc)(f"{source}: {exc}") from None


def _candidate(record: Any, location: str, folder: str, files, columns) -> None:
    raw_ids = field(record, "input_ids", "", list)
    if any(isinstance(i, bool) for i in raw_ids):
        raise DataFormatError("input_ids: true/false where a token id belongs")
    ids = as_numbers(raw_ids, "input_ids")
    context = _integer(record, "n_context")
    columns["logits"].append(_logits(record, folder, files, len(ids)))
    columns["ids"].append(ids)
    columns["context"].append(context)
    columns["reported"].append(_reported(field(record, "reported", "")))
    group = record.get("group")
    columns["group"].append(None if group is None else _group(group))
    columns["name"].append(str(record.get("id", location.rsplit(":", 1)[-1])))


def _group(value: Any) -> str:
    try:
        return group_label(value)
    except SeqScoreError as exc:
        raise DataFormatError(f"group: {exc}") from None


def _integer(record: dict, key: str) -> int:
    # JSON true is a Python int: refused here, not read as 1
    value = field(record, key, "", int)
    if isinstance(value, bool):
        raise DataFormatError(f"{key}: expected an integer, got {str(value).lower()}")
    return value


def _reported(value: Any) -> float:
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, float) and math.isnan(value):
        return value  # a NaN is a legitimate (wrong) report
    return as_number(value, "reported")


def _logits(record: dict, folder: str, files: dict, length: int) -> np.ndarray:
    if "logits" in record:
        return as_numbers(record["logits"], "logits", ndim=2)
    name = field(record, "logits_file", "", str)
    path = name if os.path.isabs(name) else os.path.join(folder, name)
    if path not in files:
        try:
            files[path] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"logits_file: cannot read {path}: {exc}") from None
    logits = files[path]
    if "logits_row" in record:
        row = _integer(record, "logits_row")
        if logits.ndim != 3 or not 0 <= row < logits.shape[0]:
            raise DataFormatError(
                f"logits_row: {row} does not index logits of shape {logits.shape}"
            )
        logits = logits[row]
    if logits.ndim != 2 or logits.shape[0] < length:
        raise DataFormatError(
            f"logits of shape {logits.shape} cannot cover the {length} positions of "
            "input_ids (expected (>= L, V), one row per position)"
        )
    return logits
