"""Reading rankings and candidate scores for the Plackett-Luce commands.

Rankings (``seqscore fit-rankings``), two layouts:

* **lines** -- one ranking per line, item names best first, separated by
  whitespace or commas. Blank lines and lines starting with ``#`` are
  skipped. Example: ``gpt-a gpt-c gpt-b``.
* **long** -- a table with a header and one row per (item, ranking):
  ``item,ranking_id,position`` as CSV, or whitespace-separated like the
  NASCAR file ``DriverID Race Place``. Within a ranking only the order of the
  positions matters (``1, 2, 5`` is fine). The three columns are found by
  name (``item``/``ranking_id``/``position``, ``ranking`` for the id, or
  ``DriverID``/``Race``/``Place``, any case) or named with ``columns=``.

``layout="auto"`` picks *long* when the first line is such a header (or
``columns`` is given) and *lines* otherwise.

Ties: Plackett-Luce has none, so a tie is an error that says what to do. In
the long layout two items of one ranking with the same position are a tie; in
the lines layout ``a=b`` is read as an attempted tie. Break the tie
explicitly, or cut the ranking before it and read it as a top-k ranking.

Candidate scores (``seqscore rank``): JSON Lines (one object per line), a
JSON array of objects, or CSV with a header; a numeric ``score`` field, an
optional ``id`` field naming the candidate, and an optional group field to
rank several candidate sets in one file.

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
from dataclasses import dataclass

import numpy as np

from ..errors import DataFormatError
from ..plackett_luce import pad_rankings
from .records import json_document

__all__ = [
    "LAYOUTS",
    "RankingData",
    "ScoreGroup",
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


@dataclass(frozen=True)
class RankingData:
    """Rankings read from a file.

    ``rankings`` is the ``(N, L)`` ``-1``-padded array of ids into ``items``
    (names in order of first appearance); ``labels[i]`` says where ranking
    ``i`` came from (``"line 3"`` or ``"ranking 'R7'"``).
    """

    items: tuple[str, ...]
    rankings: np.ndarray
    labels: tuple[str, ...]
    layout: str
    source: str

    @property
    def lengths(self) -> np.ndarray:
        return (self.rankings >= 0).sum(axis=1)


@dataclass(frozen=True)
class ScoreGroup:
    """One set of candidates to rank: their names and scores."""

    name: str | None
    items: tuple[str, ...]
    scores: np.ndarray


def _read_text(path: str) -> tuple[str, str]:
    """The text of ``path`` (``-``: standard input) and its name for messages."""
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    with open(path, encoding="utf-8") as handle:
        return handle.read(), path


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
        f"position in the header {', '.join(map(repr, fields))}; name them with "
        "--columns ITEM,RANKING,POSITION"
    )


def _looks_long(first: str) -> bool:
    fields, _ = _split_header(first)
    lowered = {f.lower() for f in fields}
    return any(set(header) <= lowered for header in _KNOWN_HEADERS)


def _intern(names: dict[str, int], name: str) -> int:
    return names.setdefault(name, len(names))


def _read_lines(lines, source: str):
    names: dict[str, int] = {}
    rankings, labels = [], []
    for number, line in lines:
        tokens = [t for t in _SEPARATORS.split(line) if t]
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
        try:
            position = float(raw)
        except ValueError:
            position = math.nan
        if not math.isfinite(position):
            raise DataFormatError(
                f"{source}:{number}: field {titles[2]!r} is {raw!r}, not a number"
            )
        yield number, item, ranking, position


def _read_long(lines, source: str, columns):
    names: dict[str, int] = {}
    groups: dict[str, list[tuple[float, int, str]]] = {}
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
                f"and {item!r} share position {position:g} in ranking "
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
        layout = "long" if columns or _looks_long(lines[0][1]) else "lines"
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
            except json.JSONDecodeError as exc:
                raise DataFormatError(
                    f"{source}:{number}: not JSON: {exc.msg}"
                ) from None
    else:
        reader = csv.DictReader(io.StringIO(text))
        for record in reader:
            yield f"{source}:{reader.line_num}", record


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
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise DataFormatError(
            f"{where}: field {field!r} is {raw!r}; a score must be a finite number"
        )
    return value


def read_candidate_scores(
    path: str,
    *,
    score_field: str = "score",
    id_field: str = "id",
    group_field: str | None = None,
) -> list[ScoreGroup]:
    """Candidate scores from ``path``, one :class:`ScoreGroup` per group.

    Without ``group_field`` there is one group. A candidate without the
    ``id_field`` is named by its 0-based index within its group.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("id,score\\ngood,-1.5\\nbad,-9\\n")
    >>> (group,) = read_candidate_scores(f.name)
    >>> group.items, group.scores.tolist()
    (('good', 'bad'), [-1.5, -9.0])
    >>> os.unlink(f.name)
    """
    text, source = _read_text(path)
    groups: dict[str | None, tuple[list[str], list[float]]] = {}
    for where, record in _score_records(text, source):
        score = _score_value(record, score_field, where)
        group = None
        if group_field is not None:
            if record.get(group_field) in (None, ""):
                raise DataFormatError(f"{where}: field {group_field!r} is missing")
            group = str(record[group_field])
        names, scores = groups.setdefault(group, ([], []))
        name = record.get(id_field)
        name = str(len(names)) if name in (None, "") else str(name)
        if name in names:
            raise DataFormatError(
                f"{where}: candidate {name!r} appears twice"
                + (f" in group {group!r}" if group is not None else "")
            )
        names.append(name)
        scores.append(score)
    if not groups:
        raise DataFormatError(f"{source}: no candidates (the input is empty)")
    return [
        ScoreGroup(name, tuple(names), np.array(scores))
        for name, (names, scores) in groups.items()
    ]
