"""What every reader shares: record locations, rejects, JSON field access.

A reader turns one input record into a :class:`~seqscore.scoring.Prompt` or,
when the record is bad, a :class:`Rejected` that says where (file, line,
field) and why. Readers never stop at a bad record; the caller decides whether
the first rejection is fatal (``--on-error fail``) or is written to a rejects
file (``--on-error skip``), so every record is either scored or reported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataFormatError, SeqScoreError
from ..scoring import Prompt

__all__ = [
    "Rejected",
    "as_number",
    "as_numbers",
    "field",
    "json_document",
    "json_lines",
    "records_to_prompts",
]


@dataclass(frozen=True)
class Rejected:
    """A record that could not be scored: where it is, why, and its text."""

    location: str
    reason: str
    raw: str | None = None

    def message(self) -> str:
        return f"{self.location}: {self.reason}"

    def record(self) -> dict:
        return {"location": self.location, "reason": self.reason, "record": self.raw}


def json_lines(
    numbered: Iterable[tuple[int, bytes]], source: str
) -> Iterator[tuple[str, Any]]:
    """``(location, parsed JSON or Rejected)`` for each non-blank numbered line."""
    for number, raw in numbered:
        if not raw or raw.isspace():  # strip() would copy every long line
            continue
        location = f"{source}:{number}"
        try:
            yield location, json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            reason = f"malformed JSON ({getattr(exc, 'msg', exc)}"
            if isinstance(exc, json.JSONDecodeError):
                reason += f" at column {exc.colno}"
                if exc.pos >= len(raw.rstrip()) - 1:
                    reason += "; the line looks truncated"
            yield location, Rejected(location, reason + ")", _text(raw))


def json_document(text: str | bytes, source: str) -> Iterator[tuple[str, Any]]:
    """``(location, record)`` of a JSON document: each element of an array
    (``file:[i]``), or the one object (``file``)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            f"{source}:{exc.lineno}: malformed JSON ({exc.msg} at column {exc.colno})"
        ) from None
    if isinstance(document, list):
        return ((f"{source}:[{i}]", item) for i, item in enumerate(document))
    return iter([(source, document)])


def records_to_prompts(
    records: Iterable[tuple[str, Any]],
    convert: Callable[[Any, str], Iterable[Prompt]],
) -> Iterator[Prompt | Rejected]:
    """Apply a reader's ``convert(record, location)`` and catch what it rejects."""
    for location, record in records:
        if isinstance(record, Rejected):
            yield record
            continue
        try:
            yield from list(convert(record, location))
        except SeqScoreError as exc:
            yield Rejected(location, str(exc), _dump(record))


def field(record: Any, key: str, where: str, kind: type | tuple = object) -> Any:
    """``record[key]``, required and of type ``kind``; errors name the field."""
    if not isinstance(record, dict):
        raise DataFormatError(f"{where or 'record'}: expected a JSON object")
    if key not in record:
        raise DataFormatError(f"{_join(where, key)}: missing")
    value = record[key]
    if not isinstance(value, kind):
        raise DataFormatError(
            f"{_join(where, key)}: expected {_kind_name(kind)}, got "
            f"{'null' if value is None else type(value).__name__}"
        )
    return value


def as_number(value: Any, where: str) -> float:
    """A JSON number as a float; null, strings, booleans and NaN are errors."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        what = "null" if value is None else repr(value)
        raise DataFormatError(f"{where}: {what} where a number belongs")
    if math.isnan(value):
        raise DataFormatError(f"{where}: NaN where a number belongs")
    return float(value)


def as_numbers(values: Any, where: str, ndim: int = 1) -> np.ndarray:
    """A JSON list (of lists, for ``ndim=2``) of numbers as float64.

    One conversion and one reduction on good input; on bad input (null, a
    string, NaN, ragged rows) the first bad entry is named. Strings are never
    converted, even when they spell a number.
    """
    if not isinstance(values, list):
        raise DataFormatError(f"{where}: expected a list of numbers")
    try:
        array = np.array(values)
    except ValueError:  # ragged
        array = None
    if array is not None and array.ndim == ndim and array.dtype.kind in "fiu":
        array = array.astype(np.float64, copy=False)
        if not array.size or not np.isnan(array.max()):  # a NaN makes the max NaN
            return array
    _raise_first_bad(values, where, ndim)
    raise DataFormatError(
        f"{where}: expected {'a flat list' if ndim == 1 else 'rows'} of numbers"
    )


def _raise_first_bad(values: list, where: str, ndim: int) -> None:
    for i, value in enumerate(values):
        if ndim == 1:
            as_number(value, f"{where}[{i}]")
        else:
            as_numbers(value, f"{where}[{i}]")


def _join(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def _kind_name(kind) -> str:
    names = {
        list: "a list",
        dict: "an object",
        str: "a string",
        int: "an integer",
        float: "a number",
        (int, float): "a number",
    }
    return names.get(kind, getattr(kind, "__name__", str(kind)))


def _text(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace").rstrip("\n")
    return raw.rstrip("\n")


def _dump(record: Any) -> str:
    try:
        return json.dumps(record, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(record)
