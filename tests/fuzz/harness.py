"""What the fuzz suite checks of a mutated input (issue #24).

Of the library reader (:func:`read_outcome`, :func:`check_reading`): it
raises nothing but seqscore's errors (:class:`~seqscore.errors.SeqScoreError`),
an error names the file, every rejection names its record, and in JSON
Lines every non-blank line is read or rejected. Of a command, run in
process (:func:`invoke`, :func:`check_command`): exit code 0, 1 or 2, no
exception but ``SystemExit``, an error message that names the file, and
with ``--on-error skip`` every record the reader read in the output and
every record it rejected in the rejects file.

:class:`Escape` is what breaks these rules: ``bench/fuzz.py`` counts them,
the tests fail on them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from click.testing import CliRunner
from hypothesis import reject, settings

from seqscore.cli import main
from seqscore.errors import Rejected, SeqScoreError
from seqscore.formats import lmeval, records
from tests.fuzz.formats import Format

__all__ = [
    "Escape",
    "Invocation",
    "KnownEscape",
    "Outcome",
    "canonical",
    "check_command",
    "check_reading",
    "fill",
    "invoke",
    "read_outcome",
    "run_command",
    "scaled",
    "skipping_known",
    "without_msgspec",
    "write_case",
]


class Escape(AssertionError):
    """A rule of the fuzz suite broken: a traceback, an exit code outside
    0/1/2, a record neither read nor rejected, readers that disagree."""


class KnownEscape(Escape):
    """An escape of a bug that is known and not fixed yet: pinned by a
    strict ``xfail`` test (:data:`KNOWN`), skipped by the fuzz tests and
    counted apart by ``bench/fuzz.py``."""


#: Known escapes, ``(format, exception class, function it escapes from,
#: the strict-xfail test that pins it)``: remove an entry when its test
#: passes (then it fails, as XPASS(strict)).
KNOWN: tuple[tuple[str, type, str, str], ...] = ()


def _escape(fmt: Format | None, exc: BaseException, where: str) -> Escape:
    """The escape of ``exc`` (known, or not), with its traceback's end."""
    known = None if fmt is None else _known(fmt, exc)
    if known:
        return KnownEscape(f"{where}: known, pinned by {known}: {exc!r}")
    return Escape(f"{where}: {_traceback(exc)}")


def scaled(factor: float) -> settings:
    """Settings of ``factor`` times the loaded profile's examples (the
    "ci" profile's 60 by default, see tests/conftest.py): each test's share
    of the fuzz suite's time in CI, kept in proportion under another
    profile."""
    return settings(max_examples=max(1, round(factor * settings().max_examples)))


@contextlib.contextmanager
def skipping_known() -> Iterator[None]:
    """In a hypothesis test: an example that hits a known escape is left
    out (its strict-xfail test pins it); any other escape fails."""
    try:
        yield
    except KnownEscape:
        reject()


def _known(fmt: Format, exc: BaseException) -> str | None:
    """The test pinning ``exc`` of ``fmt``'s reader, if it is known."""
    names = {frame.name for frame in traceback.extract_tb(exc.__traceback__)}
    for name, kind, function, test in KNOWN:
        if fmt.name == name and isinstance(exc, kind) and function in names:
            return test
    return None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a reader made of a file: its items in a comparable form
    (:func:`canonical`), rejections as ``("rejected", location, reason)``,
    or the error that stopped it (``"Class: message"``)."""

    items: tuple = ()
    error: str | None = None

    @property
    def rejected(self) -> list[tuple]:
        return [item for item in self.items if item[0] == "rejected"]

    @property
    def accepted(self) -> list:
        return [item for item in self.items if item[0] != "rejected"]


def canonical(value: Any) -> Any:
    """``value`` as plain, comparable data: dataclasses and named tuples as
    tagged dicts, arrays as ``(dtype, shape, values)``, NaN as ``"nan"``."""
    if isinstance(value, Rejected):
        return ("rejected", value.location, value.reason)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = [f.name for f in dataclasses.fields(value)]
        return (type(value).__name__, {k: canonical(getattr(value, k)) for k in names})
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        fields = value._asdict().items()
        return (type(value).__name__, {k: canonical(v) for k, v in fields})
    if isinstance(value, np.ndarray):
        return (str(value.dtype), value.shape, canonical(value.tolist()))
    if isinstance(value, np.generic):
        return canonical(value.item())
    if isinstance(value, (list, tuple)):
        return tuple(canonical(v) for v in value)
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def read_outcome(fmt: Format, path: str) -> Outcome:
    """``fmt``'s reader on ``path``; an exception outside seqscore's
    hierarchy is an :class:`Escape` (with its traceback)."""
    try:
        items = list(fmt.read(path))
    except SeqScoreError as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        raise _escape(fmt, exc, f"{fmt.name} reader") from exc
    with _recursion_limit(10_000):  # values nested as deep as json reads
        return Outcome(tuple(canonical(item) for item in items))


@contextlib.contextmanager
def _recursion_limit(limit: int) -> Iterator[None]:
    """Python's recursion limit raised to ``limit`` (never lowered)."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)[-6:])


@contextlib.contextmanager
def without_msgspec() -> Iterator[None]:
    """The readers as they are without msgspec: ``json`` parses every line
    (the careful path)."""
    plain = records._stdlib_loads
    with (
        mock.patch.object(lmeval, "_Sample", None),
        mock.patch.object(lmeval, "loads_line", plain),
        mock.patch.object(records, "loads_line", plain),
    ):
        yield


def write_case(fmt: Format, data: bytes, folder: str) -> str:
    """Write ``data`` (and ``fmt``'s files beside) into ``folder``; the
    input's path."""
    for name, source in fmt.beside:
        Path(folder, name).write_bytes(source.read_bytes())
    path = os.path.join(folder, fmt.filename)
    Path(path).write_bytes(data)
    return path


# ------------------------------------------------------------- the reader


def _line_of(location: str, source: str) -> int | None:
    """The line number a location names (``src:3``, ``src:3[1]``)."""
    found = re.fullmatch(rf"{re.escape(source)}:(\d+)(?:\[\d+\])*", location)
    return int(found.group(1)) if found else None


def _record_lines(data: bytes) -> set[int]:
    """The numbers of the lines a JSON Lines reader reads as records (not
    blank; a lone byte-order mark on the first is blank)."""
    lines = data.split(b"\n")
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = lines[0][3:]
    return {n for n, line in enumerate(lines, 1) if line and not line.isspace()}


def _locations(item: tuple) -> list[str]:
    if item[0] == "rejected":
        return [item[1]]
    source = item[1].get("source") or item[1].get("location")
    return [source] if isinstance(source, str) else []


def check_reading(fmt: Format, path: str, data: bytes, outcome: Outcome) -> None:
    """An error names the file; every rejection names a place in it; in
    JSON Lines, every record line is read or rejected."""
    if outcome.error is not None:
        if path not in outcome.error:
            raise Escape(f"{fmt.name}: the error does not name {path}: {outcome.error}")
        return
    for _, location, _ in outcome.rejected:
        if not location.startswith(path):
            raise Escape(f"{fmt.name}: a rejection not located in {path}: {location}")
    if not fmt.lines(data) or _is_document(outcome, path):
        return
    seen = {_line_of(at, path) for item in outcome.items for at in _locations(item)}
    missing = _record_lines(data) - seen
    if missing:
        raise Escape(f"{fmt.name}: lines {sorted(missing)} neither read nor rejected")


def _is_document(outcome: Outcome, path: str) -> bool:
    """The file was read as one JSON document (locations ``src:[i]``)."""
    return any(
        where == path or where.startswith(f"{path}:[")
        for item in outcome.items
        for where in _locations(item)
    )


# ------------------------------------------------------------ the command


@dataclasses.dataclass(frozen=True)
class Invocation:
    """A command's exit code and what it printed."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


def invoke(
    args: list[str], fmt: Format | None = None, stdin: bytes | None = None
) -> Invocation:
    """``seqscore ARGS`` in this process, reading a ``fmt`` input (``-``:
    ``stdin``); an exception other than ``SystemExit`` or an exit code
    outside 0/1/2 is an :class:`Escape`."""
    result = CliRunner().invoke(main, args, input=stdin)
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        raise _escape(fmt, exc, f"seqscore {' '.join(args)}")
    if result.exit_code not in (0, 1, 2):
        raise Escape(f"seqscore {' '.join(args)}: exit code {result.exit_code}")
    return Invocation(tuple(args), result.exit_code, result.stdout, result.stderr)


def fill(args: tuple[str, ...], path: str, rejects: str) -> list[str]:
    """A format's command with its input (``{stdin}``: ``-``), folder and
    rejects file."""
    folder = os.path.dirname(path)
    return [
        a.format(input=path, stdin="-", folder=folder, rejects=rejects) for a in args
    ]


def run_command(fmt: Format, args: tuple[str, ...], path: str, rejects: str):
    """One of ``fmt``'s commands on the input at ``path`` (given on stdin
    for ``{stdin}``), checked (:func:`check_command` against ``outcome``)."""
    filled = fill(args, path, rejects)
    stdin = Path(path).read_bytes() if "-" in filled else None
    return invoke(filled, fmt, stdin)


#: Errors of a whole run that name no file (each rejection was named first).
_RUN_ERRORS = ("every record was rejected; nothing was scored",)


def check_command(
    fmt: Format, run: Invocation, path: str, rejects: str, outcome: Outcome
) -> None:
    """Exit 1 names the file (or is a run's error); with ``--on-error
    skip``, records in the output and rejects are the reader's."""
    if "Traceback" in run.stderr:
        raise Escape(f"seqscore {' '.join(run.args)}: a traceback\n{run.stderr}")
    if run.exit_code == 1:
        message = _error_message(run)
        named = os.path.dirname(path) in message or "<stdin>" in message
        if not named and not message.endswith(_RUN_ERRORS):
            if "--check" in run.args and not message:  # an inconsistent run
                return
            raise Escape(f"seqscore {' '.join(run.args)}: names no file: {message}")
    if "skip" in run.args and run.args[0] == "score":
        _check_skipped(run, path, rejects, outcome)


def _error_message(run: Invocation) -> str:
    errors = [x for x in run.stderr.splitlines() if x.startswith("seqscore: error:")]
    if not errors and "--check" not in run.args:
        raise Escape(f"seqscore {' '.join(run.args)}: exit 1 without an error line")
    return errors[-1] if errors else ""


def _check_skipped(run: Invocation, path: str, rejects: str, outcome: Outcome):
    """Every record the reader read (from ``path``) is in the output or
    rejected when scored (a model may not score a text), every one it
    rejected is in the rejects file, and the exit code says whether
    anything was scored."""
    where = f"seqscore {' '.join(run.args)}"
    source = "<stdin>" if "-" in run.args else path
    if outcome.error is not None:
        message = outcome.error.split(": ", 1)[1].replace(path, source)
        # stderr spells a lone surrogate as Python escapes it
        shown = message.encode("utf-8", "backslashreplace").decode()
        if run.exit_code != 1 or shown not in run.stderr:
            raise Escape(f"{where}: the reader's error {outcome.error!r} not given")
        return
    prompts = {record["prompt"] for record in _json_lines(run.stdout)}
    text = Path(rejects).read_text() if os.path.exists(rejects) else ""
    found = [record["location"] for record in _json_lines(text)]
    expected = [location.replace(path, source) for _, location, _ in outcome.rejected]
    later = [location for location in found if location not in expected]
    if [location for location in found if location in expected] != expected:
        raise Escape(f"{where}: rejects {found}, the reader rejected {expected}")
    if len(prompts) + len(later) != len(outcome.accepted):
        raise Escape(
            f"{where}: {len(prompts)} prompts scored and {len(later)} rejected "
            f"when scored, of {len(outcome.accepted)} read"
        )
    if run.exit_code != (0 if prompts else 1):
        raise Escape(f"{where}: exit code {run.exit_code}")


def _json_lines(text: str) -> list:
    """The records of JSON Lines text (split at newlines only: a record's
    strings may hold other line breaks, U+2028 or a form feed)."""
    return [json.loads(line) for line in text.split("\n") if line]
