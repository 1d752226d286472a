"""Writing results: table, JSON, JSON Lines or CSV, atomically.

Every command renders a stream of records (dicts) through :func:`write_records`
and a list of :class:`Column`. Records are written as they come, so a command
that streams its input also streams its output; nothing is held but the
current record.

Conventions shared by every format:

* Booleans are ``yes``/``no`` in tables and ``true``/``false`` elsewhere.
* Non-finite floats are written as the strings ``"-inf"``, ``"inf"`` and
  ``"nan"`` in JSON and JSON Lines (strict JSON has no literal for them), and
  as ``-inf`` / ``inf`` / ``nan`` in CSV and tables. A log-probability of
  ``-inf`` (a masked token) is a legal value and survives every format.
* JSON is one array of records; JSON Lines one record per line; CSV has a
  header row; the table is aligned for a terminal by display width (a
  CJK character takes two columns) and truncates long text with an
  ellipsis.
* :func:`open_output` writes a named file through a temporary file in the same
  folder, renamed into place only when the command succeeds, so a failed run
  never leaves a file that looks complete. ``-`` means standard output.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

import numpy as np

from seqscore.report.readable import fit

__all__ = [
    "FORMATS",
    "Column",
    "atomic_path",
    "cell_text",
    "json_value",
    "open_output",
    "write_records",
]

FORMATS = ("table", "json", "jsonl", "csv")


@dataclass(frozen=True)
class Column:
    """One output field: its record key, its table header, width and format.

    ``spec`` is a format spec for numbers in the table (``".4f"``); JSON and
    CSV always carry the full value.
    """

    key: str
    header: str | None = None
    width: int = 10
    spec: str = ""
    align: str = ">"

    @property
    def title(self) -> str:
        return self.header if self.header is not None else self.key


def json_value(value: Any) -> Any:
    """A record value as plain JSON data (numpy scalars and arrays included).

    >>> json_value(np.float32(0.5)), json_value(-np.inf), json_value([np.int64(3)])
    (0.5, '-inf', [3])
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else _nonfinite(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_value(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else _nonfinite(number)
    return value


def _nonfinite(number: float) -> str:
    return "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")


def cell_text(value: Any, spec: str = "") -> str:
    """A value as table/CSV text (numbers in a table by the column's ``spec``)."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            return "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")
        if spec.endswith("f") and abs(number) >= 1e15:
            # fixed point would print hundreds of digits, most of them noise
            return format(number, ".6e")
        return format(number, spec) if spec else repr(number)
    if isinstance(value, (int, np.integer)):
        return format(
            int(value), spec.replace("f", "d") if spec.endswith("f") else spec
        )
    if isinstance(value, (list, tuple, np.ndarray)):
        return " ".join(cell_text(v, spec) for v in value)
    return str(value)


def _fit(text: str, width: int, align: str) -> str:
    """A cell of ``width`` terminal columns (a CJK character takes two, a
    combining mark none: :mod:`.readable`), cut with an ellipsis.

    >>> _fit("北京", 6, "<") + "|", _fit("東京都庁舎", 7, ">") + "|"
    ('北京  |', '東京都…|')
    """
    # one table row per record: line breaks inside a value are shown escaped
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return fit(text, width, align)


def _table(records: Iterable[dict], columns: list[Column], out: IO[str]) -> None:
    out.write(
        " ".join(_fit(c.title, c.width, c.align) for c in columns).rstrip() + "\n"
    )
    for record in records:
        cells = (_cell(record.get(c.key), c) for c in columns)
        out.write(" ".join(cells).rstrip() + "\n")


def _cell(value: Any, column: Column) -> str:
    """A table cell: text is cut to the column with an ellipsis; a number is
    never cut (7841162089269 is not 784116208…): too wide for its column, it
    is written in as few significant digits of scientific notation as fit,
    and past that it overflows the column.

    >>> _cell(7_841_162_089_269.0, Column("ppl", width=9, spec=".3f"))
    '7.841e+12'
    >>> _cell(12.5, Column("ppl", width=9, spec=".3f"))
    '   12.500'
    """
    text = cell_text(value, column.spec)
    if not _is_number(value) or len(text) <= column.width:
        return _fit(text, column.width, column.align)
    return f"{_narrow_number(float(value), column.width):{column.align}{column.width}}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _narrow_number(number: float, width: int) -> str:
    """``number`` in scientific notation with the most digits that fit
    ``width`` (at least one)."""
    for digits in range(max(width - 6, 0), -1, -1):
        text = format(number, f".{digits}e")
        if len(text) <= width:
            return text
    return text


def _json(records: Iterable[dict], columns: list[Column], out: IO[str]) -> None:
    out.write("[")
    for i, record in enumerate(records):
        out.write(",\n " if i else "\n ")
        out.write(json.dumps(json_value(_select(record, columns)), ensure_ascii=False))
    out.write("\n]\n")


def _jsonl(records: Iterable[dict], columns: list[Column], out: IO[str]) -> None:
    for record in records:
        out.write(json.dumps(json_value(_select(record, columns)), ensure_ascii=False))
        out.write("\n")


def _csv(records: Iterable[dict], columns: list[Column], out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for record in records:
        writer.writerow([_csv_text(record.get(c.key)) for c in columns])


def _csv_text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return cell_text(value)


def _select(record: dict, columns: list[Column]) -> dict:
    """JSON carries every key of the record; columns only fix the order."""
    ordered = {c.key: record[c.key] for c in columns if c.key in record}
    ordered.update((k, v) for k, v in record.items() if k not in ordered)
    return ordered


_WRITERS: dict[str, Callable[[Iterable[dict], list[Column], IO[str]], None]] = {
    "table": _table,
    "json": _json,
    "jsonl": _jsonl,
    "csv": _csv,
}


def write_records(
    records: Iterable[dict], columns: list[Column], fmt: str, out: IO[str]
) -> None:
    """Write ``records`` to ``out`` in format ``fmt`` (one of :data:`FORMATS`).

    >>> import io
    >>> buffer = io.StringIO()
    >>> write_records([{"id": 0, "p": 0.25}], [Column("id", width=2),
    ...               Column("p", width=6, spec=".3f")], "table", buffer)
    >>> print(buffer.getvalue(), end="")
    id      p
     0  0.250
    """
    if fmt not in _WRITERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    _WRITERS[fmt](_first_read(records), columns, out)


def _first_read(records: Iterable[dict]) -> Iterable[dict]:
    """``records`` with the first one already read: a stream that fails on
    its first record fails before a header or ``[`` is written, so standard
    output holds nothing that looks like the start of a result."""
    stream = iter(records)
    first = next(stream, None)
    return stream if first is None else itertools.chain([first], stream)


def _file_mode(path: str) -> int:
    """The mode ``path`` keeps if it exists, else what the umask allows."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """A temporary path beside ``path`` that becomes ``path`` on success.

    For writers that want a file name (a plotting library, ``np.save``).
    The file appears, with the mode ``path`` had or the umask allows, only
    when the block ends without an exception; otherwise it is deleted.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{os.path.basename(target)}.", suffix=suffix, dir=folder
        )
    except OSError as exc:  # name the user's path, not the temporary one
        raise OSError(exc.errno, f"cannot write here: {exc.strerror}", target) from None
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, _file_mode(target))  # mkstemp made it owner-only
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def open_output(path: str | os.PathLike | None) -> Iterator[IO[str]]:
    """A text stream for ``path`` that becomes the file only on success.

    ``None`` or ``"-"`` is standard output. For a file, the text goes to a
    temporary file beside it (see :func:`atomic_path`). A character UTF-8
    cannot encode (a lone surrogate from a JSON ``"\ud800"``) is written as
    its escape, ``\ud800``, which JSON reads back as the same string.
    """
    if path is None or str(path) == "-":
        # typed TextIO, which has no reconfigure: a stream that is not a
        # TextIOWrapper raises AttributeError, suppressed
        with contextlib.suppress(AttributeError, ValueError):
            cast(io.TextIOWrapper, sys.stdout).reconfigure(errors="backslashreplace")
        yield sys.stdout
        sys.stdout.flush()
        return
    with (
        atomic_path(path) as temporary,
        open(
            temporary, "w", encoding="utf-8", errors="backslashreplace", newline=""
        ) as handle,
    ):
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
