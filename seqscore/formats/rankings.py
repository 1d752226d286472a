"""Reading rankings and candidate scores for the Plackett-Luce commands.

Rankings (``seqscore fit-rankings``), two layouts:

* **lines** -- one ranking per line, item names best first, separated by
  whitespace or commas, or a JSON array of names. Blank lines and lines
  starting with ``#`` are skipped. Example: ``gpt-a gpt-c gpt-b`` or
  ``["gpt-a", "gpt-c", "gpt-b"]``.
* **long** -- a table with a header and one row per (item, ranking):
  ``item,ranking_id,position`` as CSV, or whitespace-separated like the
  NASCAR file ``DriverID Race Place``. Positions are whole numbers >= 1;
  within a ranking only their order matters (``1, 2, 5`` is fine). The three
  columns are found by name (``item``/``ranking_id``/``position``, ``ranking``
  for the id, or ``DriverID``/``Race``/``Place``, any case) or named with
  ``columns=``.

``layout="auto"`` picks *long* when the first line is such a header (or
``columns`` is given) and *lines* otherwise. A first line naming the item and
ranking columns of a long table but no position column is an error, not a
ranking of the words ``item`` and ``ranking``.

Ties: Plackett-Luce has none, so a tie is an error that says what to do. In
the long layout two items of one ranking with the same position are a tie; in
the lines layout ``a=b`` is read as an attempted tie. Break the tie
explicitly, or cut the ranking before it and read it as a top-k ranking.

Candidate scores (``seqscore rank``): JSON Lines (one object per line), a
JSON array of objects, or CSV with a header; a numeric ``score`` field, an
``id`` field naming the candidate (on every record or on none), and an
optional group field to rank several candidate sets in one file.

A leading UTF-8 byte-order mark (written by Excel and Notepad) is dropped: it
is not part of the first item or column name.

Every error names the file, the line and the field.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Sequence

import numpy as np

from seqscore.errors import DataFormatError
from seqscore.formats.records import json_document
from seqscore.plackett_luce import pad_rankings
from seqscore.plackett_luce.data import RankingData, ScoreGroup

__all__ = [
    "LAYOUTS",
    "read_candidate_scores",
    "read_rankings",
]

LAYOUTS = ("auto", "lines", "long")
_KNOWN_HEADERS = (
    ("item", "ranking_id", "position"),
    ("item", "ranking", "position"),
    ("driverid", "race", "place"),
)
_SEPARATORS = re.compile(r"[\s,]+")
_BYTE_ORDER_MARK = "\ufeff"


def _read_text(path: str) -> tuple[str, str]:
    """The text of ``path`` (``-``: standard input) and its name for messages.

    Every rankings and scores input is read here, so this is the one place
    that drops a byte-order mark (else it would be glued to the first item,
    or to the first column name, which then matches nothing).
    """
    source = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            text = sys.stdin.buffer.read().decode("utf-8")
        else:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8")
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise DataFormatError(
            f"{source}:{line}: not UTF-8 text (byte 0x{error.object[error.start]:02x} "
            f"at offset {error.start}); rankings and scores files are UTF-8 "
            "JSON, CSV or plain text"
        ) from None
    return text.removeprefix(_BYTE_ORDER_MARK), source


def _content_lines(text: str):
    """``(line number, stripped line)`` for non-blank, non-comment lines."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, stripped


def _split_header(line: str) -> tuple[list[str], bool]:
    """Header fields and whether the table is comma-separated."""
    if "," in line:
        return [f.strip() for f in next(csv.reader([line]))], True
    return line.split(), False


def _column_positions(fields: list[str], columns, where: str) -> tuple[int, ...]:
    lowered = [f.lower() for f in fields]
    wanted = [c.lower() for c in columns] if columns else None
    candidates = [wanted] if wanted else [list(h) for h in _KNOWN_HEADERS]
    for names in candidates:
        if all(name in lowered for name in names):
            return tuple(lowered.index(name) for name in names)
    if wanted:
        missing = [c for c, w in zip(columns, wanted, strict=True) if w not in lowered]
        raise DataFormatError(
            f"{where}: the header has no column {', '.join(map(repr, missing))} "
            f"(it has {', '.join(map(repr, fields))})"
        )
    raise DataFormatError(
        f"{where}: cannot tell which column is the item, the ranking and the "
        f"position in the header {', '.join(map(repr, fields))}",
        remedy="columns",
    )


def _looks_long(first: str, where: str) -> bool:
    """Whether ``first`` is a long table's header.

    Item and ranking columns without a position column are an error: read
    as a ranking, the header would silently become data.
    """
    fields, _ = _split_header(first)
    lowered = {f.lower() for f in fields}
    if any(set(header) <= lowered for header in _KNOWN_HEADERS):
        return True
    for item, ranking, position in _KNOWN_HEADERS:
        if {item, ranking} <= lowered:
            raise DataFormatError(
                f"{where}: long table has no position column: the header "
                f"{', '.join(map(repr, fields))} names the item and the ranking "
                f"but not the position (e.g. {position!r})",
                remedy="columns_or_layout",
            )
    return False


def _intern(names: dict[str, int], name: str) -> int:
    return names.setdefault(name, len(names))


def _read_lines(lines, source: str):
    names: dict[str, int] = {}
    rankings, labels = [], []
    for number, line in lines:
        tokens = _line_items(line, f"{source}:{number}")
        seen: dict[str, int] = {}
        for position, token in enumerate(tokens, start=1):
            if "=" in token:
                raise DataFormatError(
                    f"{source}:{number}: item {position} {token!r} looks like a tie "
                    "('='): Plackett-Luce rankings have no ties; break the tie, or "
                    "cut the ranking before it and fit it as a top-k ranking"
                )
            if token in seen:
                raise DataFormatError(
                    f"{source}:{number}: item {token!r} appears twice in this "
                    f"ranking (positions {seen[token]} and {position})"
                )
            seen[token] = position
        rankings.append([_intern(names, t) for t in tokens])
        labels.append(f"line {number}")
    return names, rankings, labels


def _line_items(line: str, where: str) -> list[str]:
    """A ranking line's item names: a JSON array of strings (``["a", "b"]``,
    as many tools write a list) or names separated by whitespace or commas.

    >>> _line_items('["gpt a", "gpt-b"]', "x:1"), _line_items("a, b c", "x:1")
    (['gpt a', 'gpt-b'], ['a', 'b', 'c'])
    """
    if not line.startswith("["):
        return [t for t in _SEPARATORS.split(line) if t]
    try:
        items = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise DataFormatError(
            f"{where}: not a JSON array: {_json_error(exc)}"
        ) from None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise DataFormatError(f"{where}: a JSON ranking lists item names (strings)")
    return items


def _json_error(exc: ValueError | RecursionError) -> str:
    """What ``json.loads`` found wrong with a line: its message, or an
    integer too long for ``int()``, or nesting too deep to parse."""
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]


def _long_rows(lines, source: str, columns):
    """Yield ``(line, item, ranking id, position)`` from a long table."""
    number, header = next(lines)
    fields, comma = _split_header(header)
    where = f"{source}:{number}"
    item_at, ranking_at, position_at = _column_positions(fields, columns, where)
    titles = (fields[item_at], fields[ranking_at], fields[position_at])
    for number, line in lines:
        row = next(csv.reader([line])) if comma else line.split()
        row = [cell.strip() for cell in row]
        if len(row) != len(fields):
            raise DataFormatError(
                f"{source}:{number}: {len(row)} fields, but the header has "
                f"{len(fields)}"
            )
        item, ranking, raw = row[item_at], row[ranking_at], row[position_at]
        if not item:
            raise DataFormatError(f"{source}:{number}: field {titles[0]!r} is empty")
        yield number, item, ranking, _position(raw, f"{source}:{number}", titles[2])


def _position(raw: str, where: str, title: str) -> int:
    """A long table's position: a whole number >= 1 (``3`` or ``3.0``)."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DataFormatError(f"{where}: field {title!r} is {raw!r}, not a number")
    if value < 1 or not value.is_integer():
        raise DataFormatError(
            f"{where}: field {title!r} is {raw!r}; a position must be a whole "
            "number >= 1"
        )
    return int(value)


def _read_long(lines, source: str, columns):
    names: dict[str, int] = {}
    groups: dict[str, list[tuple[int, int, str]]] = {}
    for number, item, ranking, position in _long_rows(lines, source, columns):
        groups.setdefault(ranking, []).append((position, number, item))
    rankings, labels = [], []
    for ranking, rows in groups.items():
        rows.sort()
        _check_long_ranking(rows, ranking, source)
        rankings.append([_intern(names, item) for _, _, item in rows])
        labels.append(f"ranking {ranking!r}")
    return names, rankings, labels


def _check_long_ranking(rows, ranking: str, source: str) -> None:
    """No repeated item and no shared position within one ranking."""
    first_line: dict[str, int] = {}
    for (position, number, item), previous in zip(
        rows, [None, *rows[:-1]], strict=True
    ):
        if item in first_line:
            raise DataFormatError(
                f"{source}:{number}: item {item!r} appears twice in ranking "
                f"{ranking!r} (also line {first_line[item]})"
            )
        first_line[item] = number
        if previous is not None and previous[0] == position:
            raise DataFormatError(
                f"{source}:{number}: items {previous[2]!r} (line {previous[1]}) "
                f"and {item!r} share position {position} in ranking "
                f"{ranking!r}: Plackett-Luce rankings have no ties; break the "
                "tie, or cut the ranking before it and fit it as a top-k ranking"
            )


def read_rankings(
    path: str, *, layout: str = "auto", columns: Sequence[str] | None = None
) -> RankingData:
    """Read rankings from ``path`` (``-`` for standard input).

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
    ...     _ = f.write("# best first\\na b c\\nc, a\\n")
    >>> data = read_rankings(f.name)
    >>> data.items, data.rankings.tolist(), data.labels
    (('a', 'b', 'c'), [[0, 1, 2], [2, 0, -1]], ('line 2', 'line 3'))
    >>> os.unlink(f.name)
    """
    if layout not in LAYOUTS:
        raise DataFormatError(f"layout must be one of {', '.join(LAYOUTS)}")
    text, source = _read_text(path)
    lines = list(_content_lines(text))
    if not lines:
        raise DataFormatError(f"{source}: no rankings (the file is empty)")
    if layout == "auto":
        first_number, first_line = lines[0]
        header_at = f"{source}:{first_number}"
        layout = "long" if columns or _looks_long(first_line, header_at) else "lines"
    if layout == "long":
        names, rankings, labels = _read_long(iter(lines), source, columns)
    else:
        names, rankings, labels = _read_lines(lines, source)
    if not rankings:
        raise DataFormatError(f"{source}: a header but no rankings")
    return RankingData(
        items=tuple(names),
        rankings=pad_rankings(rankings),
        labels=tuple(labels),
        layout=layout,
        source=source,
    )


def _score_records(text: str, source: str):
    """Yield ``(location, record)`` from JSON Lines, a JSON array or CSV."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        yield from json_document(text, source)
    elif stripped.startswith("{"):
        for number, line in _content_lines(text):
            try:
                yield f"{source}:{number}", json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise DataFormatError(
                    f"{source}:{number}: not JSON: {_json_error(exc)}"
                ) from None
    else:
        # universal newlines: a bare carriage return ends a line, as it does
        # for the other layouts (str.splitlines), instead of failing csv
        reader = csv.DictReader(io.StringIO(text, newline=None))
        try:
            for record in reader:
                yield f"{source}:{reader.line_num}", record
        except csv.Error as exc:
            raise DataFormatError(
                f"{source}:{reader.line_num}: not CSV: {exc}"
            ) from None


def _score_value(record, field: str, where: str) -> float:
    if not isinstance(record, dict):
        raise DataFormatError(f"{where}: expected an object with a {field!r} field")
    if field not in record or record[field] in (None, ""):
        raise DataFormatError(f"{where}: field {field!r} is missing")
    raw = record[field]
    if isinstance(raw, bool):
        raise DataFormatError(f"{where}: field {field!r} is {raw!r}, not a number")
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 10**400
        value = math.nan
    if not math.isfinite(value):
        raise DataFormatError(
            f"{where}: field {field!r} is {raw!r}; a score must be a finite number"
        )
    return value


class _CandidateNames:
    """Names candidates from ``field``: on every record, or on none.

    ``required`` (a field the caller named): every record must have it.
    Otherwise (the default ``id``) candidates are numbered within their group
    when no record has it; some records with it and some without is an
    error, since numbering the others would mix names and indices.
    """

    def __init__(self, field: str, required: bool, source: str):
        self.field, self.required, self.source = field, required, source
        self.first_named: str | None = None
        self.first_unnamed: str | None = None

    def name(self, record: dict, where: str, index: int) -> str:
        value = record.get(self.field)
        here = _record_label(where, self.source)
        if value not in (None, ""):
            if self.first_unnamed is not None:
                raise DataFormatError(
                    f"{where}: field {self.field!r} is given, but not at "
                    f"{self.first_unnamed}: name every candidate or none"
                )
            self.first_named = self.first_named or here
            return str(value)
        if self.required:
            raise DataFormatError(f"{where}: field {self.field!r} is missing")
        if self.first_named is not None:
            raise DataFormatError(
                f"{where}: field {self.field!r} is missing, but "
                f"{self.first_named} has one: name every candidate or none"
            )
        self.first_unnamed = self.first_unnamed or here
        return str(index)


def _record_label(where: str, source: str) -> str:
    """``line 3`` (or ``record [2]`` of a JSON array) from ``source:3``."""
    place = where.removeprefix(f"{source}:")
    return f"line {place}" if place.isdigit() else f"record {place}"


def _group_name(record: dict, field: str | None, where: str) -> str | None:
    if field is None:
        return None
    if record.get(field) in (None, ""):
        raise DataFormatError(f"{where}: field {field!r} is missing")
    return str(record[field])


def read_candidate_scores(
    path: str,
    *,
    score_field: str = "score",
    id_field: str | None = None,
    group_field: str | None = None,
) -> list[ScoreGroup]:
    """Candidate scores from ``path``, one :class:`ScoreGroup` per group.

    Without ``group_field`` there is one group. ``id_field`` names the field
    naming each candidate, which must then be on every record; left out,
    the ``id`` field is used when the records have it (all of them) and
    candidates are otherwise named by their 0-based index within their group.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("id,score\\ngood,-1.5\\nbad,-9\\n")
    >>> (group,) = read_candidate_scores(f.name)
    >>> group.items, group.scores.tolist()
    (('good', 'bad'), [-1.5, -9.0])
    >>> os.unlink(f.name)
    """
    text, source = _read_text(path)
    naming = _CandidateNames(id_field or "id", id_field is not None, source)
    # Per group: name -> where it was first seen (a dict: O(1) duplicate checks).
    groups: dict[str | None, tuple[dict[str, str], list[float]]] = {}
    for where, record in _score_records(text, source):
        score = _score_value(record, score_field, where)
        group = _group_name(record, group_field, where)
        names, scores = groups.setdefault(group, ({}, []))
        name = naming.name(record, where, len(names))
        if name in names:
            raise DataFormatError(
                f"{where}: candidate {name!r} appears twice"
                + (f" in group {group!r}" if group is not None else "")
                + f" (also {names[name]})"
            )
        names[name] = _record_label(where, source)
        scores.append(score)
    if not groups:
        raise DataFormatError(f"{source}: no candidates (the input is empty)")
    return [
        ScoreGroup(name, tuple(names), np.array(scores))
        for name, (names, scores) in groups.items()
    ]
