"""What every reader shares: record locations, rejects, JSON field access.

A reader turns one input record into a :class:`~seqscore.scoring.Prompt` or,
when the record is bad, a :class:`Rejected` that says where (file, line,
field) and why. Readers never stop at a bad record; the caller decides whether
the first rejection is fatal (``--on-error fail``) or is written to a rejects
file (``--on-error skip``), so every record is either scored or reported.

Every value a reader takes from JSON goes through one of the ``as_*`` checks
below, so the rules are the same in every format:

* a number is a JSON number: never a string, null, NaN or a boolean (Python's
  ``json`` reads ``true`` as ``True``, which numpy would take for 1);
* a log-prob is a number <= 0 or -inf. Values above 0 by at most
  :data:`~seqscore.numerics.clamp.POSITIVE_TOLERANCE` (float32 rounding in the tool
  that wrote them) are read as 0, so no score is ever positive; anything
  larger (or +inf) is rejected as not a log-prob;
* an integer (a count, an offset, a rank, a token id) is a JSON integer in
  range, never a float or a boolean;
* an id is a string or an integer; null or absent means the reader's default.

JSON Lines are parsed with msgspec when it is installed (``seqscore[fast]``,
about 2.7x faster than ``json``); a line msgspec refuses, or finds nested
too deeply, is parsed again by ``json``, which decides. msgspec only ever
refuses what it does not read exactly as ``json`` does (``NaN``, ``1e400``,
lone surrogates, a byte-order mark), so the values are always ``json``'s and
so are the error messages.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from seqscore.errors import DataFormatError, Rejected, SeqScoreError
from seqscore.numerics.clamp import (
    POSITIVE_TOLERANCE,
    clamped,
    first_too_positive,
    not_a_logprob,
)
from seqscore.scoring.candidates import Prompt

__all__ = [
    "INT64_MAX",
    "as_id",
    "as_integer",
    "as_integers",
    "as_logprob",
    "as_logprobs",
    "as_number",
    "as_numbers",
    "as_string",
    "as_strings",
    "as_text",
    "field",
    "json_document",
    "json_lines",
    "loads_line",
    "optional",
    "records_to_prompts",
    "repeated_id",
]

#: The largest integer an int64 array holds: the bound for ids and ranks.
INT64_MAX = int(np.iinfo(np.int64).max)


def _stdlib_loads(raw: bytes):
    return json.loads(raw)


def _fast_loads():
    """msgspec's decoder with ``json`` as the judge of what it refuses."""
    try:
        import msgspec
    except ImportError:
        return _stdlib_loads
    decode = msgspec.json.Decoder().decode
    refused = msgspec.MsgspecError

    def loads(raw: bytes):
        try:
            return decode(raw)
        # msgspec stops at nesting too deep before it reads on to bad UTF-8
        # or bad syntax further along: json decides what the line's error is
        except (refused, RecursionError):
            return json.loads(raw)

    return loads


#: ``json.loads`` of one line, by msgspec when installed (see the docstring).
loads_line = _fast_loads()


def json_lines(
    numbered: Iterable[tuple[int, bytes]],
    source: str,
    loads: Callable[[bytes], Any] | None = None,
) -> Iterator[tuple[str, Any]]:
    """``(location, parsed JSON or Rejected)`` for each non-blank numbered line.

    ``loads`` (default :data:`loads_line`) parses a line; a reader may give
    one that returns its own typed records, raising ``ValueError`` exactly
    where ``json.loads`` does.
    """
    loads = loads or loads_line
    for number, raw in numbered:
        if not raw or raw.isspace():  # strip() would copy every long line
            continue
        location = f"{source}:{number}"
        try:
            yield location, loads(raw)
        # ValueError: also an integer literal too long to convert (4300+ digits)
        except RecursionError:
            reason = "malformed JSON (nested too deeply)"
            yield location, Rejected(location, reason, _text(raw))
        except ValueError as exc:
            reason = f"malformed JSON ({_decode_error(exc)}"
            if _looks_truncated(exc, raw):
                reason += "; the line looks truncated"
            yield location, Rejected(location, reason + ")", _text(raw))


def _looks_truncated(exc: ValueError, raw: bytes) -> bool:
    """The error is at the line's end, or is a string that never ends (json
    reports where that string starts). Positions count characters of the
    decoded line (``exc.doc``), not bytes."""
    if not isinstance(exc, json.JSONDecodeError):
        return False
    return (
        exc.pos >= len(exc.doc.rstrip()) - 1
        or exc.msg == "Unterminated string starting at"
    )


def json_document(text: str | bytes, source: str) -> Iterator[tuple[str, Any]]:
    """``(location, record)`` of a JSON document: each element of an array
    (``file:[i]``), or the one object (``file``)."""
    try:
        document = json.loads(text)
    except RecursionError:
        raise DataFormatError(f"{source}: malformed JSON (nested too deeply)") from None
    except ValueError as exc:
        line = (
            f":{_error_place(exc)[0]}" if isinstance(exc, json.JSONDecodeError) else ""
        )
        raise DataFormatError(
            f"{source}{line}: malformed JSON ({_decode_error(exc)})"
        ) from None
    if isinstance(document, list):
        return ((f"{source}:[{i}]", item) for i, item in enumerate(document))
    return iter([(source, document)])


def records_to_prompts(
    records: Iterable[tuple[str, Any]],
    convert: Callable[[Any, str], Iterable[Prompt]],
) -> Iterator[Prompt | Rejected]:
    """Apply a reader's ``convert(record, location)`` and catch what it rejects.

    A JSON array where a record belongs (``json.dump([r1, r2], f)`` writes one
    line) holds records: each element is converted on its own, located
    ``file:N[i]`` (the elements of a multi-line array document are ``file:[i]``);
    an empty array is rejected (it holds no record to read).
    """
    for location, record in records:
        if isinstance(record, Rejected):
            yield record
        elif record == []:  # nothing to read: said, not passed over
            yield Rejected(location, "an empty JSON array where a record belongs", "[]")
        elif isinstance(record, list):
            for i, item in enumerate(record):
                yield from _convert(convert, item, f"{location}[{i}]")
        else:
            yield from _convert(convert, record, location)


def _convert(convert, record: Any, location: str) -> list[Prompt | Rejected]:
    try:
        return list(convert(record, location))
    except SeqScoreError as exc:
        return [Rejected(location, str(exc), _dump(record), exc.remedy)]


def repeated_id(prompt_id: str, where: str, first: str) -> Rejected:
    """The rejection of a prompt at ``where`` whose id the prompt at
    ``first`` has (its candidates would be ranked with the other's)."""
    return Rejected(
        where,
        f"prompt id {prompt_id!r} again (first at {first}); ids must be unique "
        "in a file",
    )


def field(record: Any, key: str, where: str, kind: type | tuple = object) -> Any:
    """``record[key]``, required and of type ``kind``; errors name the field."""
    if not isinstance(record, dict):
        raise DataFormatError(f"{where or 'record'}: expected a JSON object")
    if key not in record:
        raise DataFormatError(f"{_join(where, key)}: missing")
    value = record[key]
    if not _is_kind(value, kind):
        raise DataFormatError(
            f"{_join(where, key)}: expected {_kind_name(kind)}, got {_json_type(value)}"
        )
    return value


def optional(read: Callable[[Any, str], Any], record: dict, key: str, where: str):
    """``read(record[key], path)``, or None when the field is absent or null."""
    value = record.get(key)
    return None if value is None else read(value, _join(where, key))


def as_string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DataFormatError(f"{where}: expected a string, got {_json_type(value)}")
    return value


def as_text(value: Any, where: str) -> str:
    """A string that is text: a lone surrogate, which JSON can spell
    (``"\\ud800"``) and ``json`` reads, has no UTF-8 bytes to count or
    tokenise."""
    text = as_string(value, where)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataFormatError(
            f"{where}: a lone surrogate ({text[exc.start]!r} at {exc.start}) "
            "is not a character"
        ) from None
    return text


def as_strings(values: Any, where: str) -> tuple[str, ...]:
    """A JSON list of strings as a tuple (checked in C: one per token)."""
    if not isinstance(values, list) or not set(map(type, values)) <= {str}:
        raise DataFormatError(f"{where}: expected a list of strings")
    return tuple(values)


def as_id(value: Any, where: str, default: Any) -> str:
    """An id: a string, or an integer spelled in decimal; null means ``default``.

    Anything else (an object, a list, a float, a boolean) is rejected rather
    than shown as a Python repr that no other tool would match.
    """
    if value is None:
        return str(default)
    if isinstance(value, str):
        return value
    if type(value) is int:  # not bool
        return str(value)
    raise DataFormatError(
        f"{where}: {_show(value)} is not an id (expected a string or an integer)"
    )


def as_integer(
    value: Any, where: str, minimum: int = 0, maximum: float = math.inf
) -> int:
    """A JSON integer in ``[minimum, maximum]``; floats and booleans are errors."""
    if type(value) is int and minimum <= value <= maximum:  # type(): not a bool
        return value
    raise DataFormatError(f"{where}: {_integer_error(value, minimum, maximum)}")


def as_integers(
    values: Any, where: str, minimum: int = 0, maximum: float = math.inf
) -> list[int]:
    """A JSON list of integers in range, checked in C when all is well."""
    if not isinstance(values, list):
        raise DataFormatError(f"{where}: expected a list of integers")
    in_range = not values or (
        set(map(type, values)) == {int}
        and minimum <= min(values)
        and max(values) <= maximum
    )
    if not in_range:  # name the first bad one
        for i, value in enumerate(values):
            as_integer(value, f"{where}[{i}]", minimum, maximum)
    return values


def as_number(value: Any, where: str) -> float:
    """A JSON number as a float; null, strings, booleans and NaN are errors."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataFormatError(f"{where}: {_show(value)} where a number belongs")
    try:
        number = float(value)
    except OverflowError:  # an integer literal beyond the float range
        raise DataFormatError(
            f"{where}: an integer of {len(str(abs(value)))} digits is too large to "
            "be a number"
        ) from None
    if math.isnan(number):
        raise DataFormatError(f"{where}: NaN where a number belongs")
    return number


def as_numbers(values: Any, where: str, ndim: int = 1) -> np.ndarray:
    """A JSON list (of lists, for ``ndim=2``) of numbers as float64.

    One conversion and one reduction in C on good input; on bad input (null,
    a string, a boolean, NaN, ragged rows) the first bad entry is named.
    Strings are never converted, even when they spell a number.
    """
    if not isinstance(values, list):
        raise DataFormatError(f"{where}: expected a list of numbers")
    array = _fast_numbers(values, ndim)
    if array is not None:
        return array
    if ndim == 1:  # something is off: name it, or convert one by one
        return np.array([as_number(v, f"{where}[{i}]") for i, v in enumerate(values)])
    rows = [as_numbers(row, f"{where}[{i}]") for i, row in enumerate(values)]
    if len({len(row) for row in rows}) == 1:  # an integer past 64 bits, say
        return np.array(rows)
    raise DataFormatError(f"{where}: expected rows of numbers of one length")


def _fast_numbers(values: list, ndim: int) -> np.ndarray | None:
    """float64 of ``values`` when that is plainly right, else None."""
    try:
        array = np.array(values)
    except ValueError:  # ragged rows
        return None
    if array.ndim != ndim or array.dtype.kind not in "fiu":
        return None  # strings, null, integers beyond 64 bits (object dtype)
    top = array.max() if array.size else -1
    if np.isnan(top):  # one reduction finds a NaN: it makes the max NaN
        return None
    # json reads true/false as Python booleans, which a numeric array holds
    # as 1 and 0; with every value negative (most log-probs) there is none
    if top >= 0 and _has_booleans(values, ndim):
        return None
    return array.astype(np.float64, copy=False)


def _has_booleans(values: list, ndim: int) -> bool:
    items = itertools.chain.from_iterable(values) if ndim == 2 else values
    return bool in set(map(type, items))


def as_logprob(value: Any, where: str) -> float:
    """A log-prob: a number <= 0 or -inf (see the module docstring)."""
    number = as_number(value, where)
    if number > POSITIVE_TOLERANCE:
        raise DataFormatError(not_a_logprob(where, number))
    return min(number, 0.0)


def as_logprobs(values: Any, where: str, ndim: int = 1) -> np.ndarray:
    """:func:`as_numbers`, each a log-prob; tiny positive values read as 0."""
    array = as_numbers(values, where, ndim)
    if not (array.size and array.max() > 0):
        return array
    bad = first_too_positive(array)
    if bad is not None:
        index = "".join(f"[{i}]" for i in bad)
        raise DataFormatError(not_a_logprob(where + index, array[bad]))
    return clamped(array)


def _is_kind(value: Any, kind: type | tuple) -> bool:
    """``isinstance``, except that a boolean is no integer or number."""
    if isinstance(value, bool):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        return object in kinds or bool in kinds
    return isinstance(value, kind)


def _json_type(value: Any) -> str:
    names = {type(None): "null", bool: "a boolean", dict: "an object", list: "a list"}
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """A value as written in JSON (true, null, [1]), briefly; strings quoted."""
    text = repr(value) if isinstance(value, str) else _dump(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _integer_error(value: Any, minimum: int, maximum: float) -> str:
    if maximum < 2**53:  # a real bound (not a guard against int64 overflow)
        return f"{_show(value)} where an integer in [{minimum}, {maximum}] belongs"
    if type(value) is int and value > maximum:
        return f"{_show(value)} is too large"
    return f"{_show(value)} where an integer >= {minimum} belongs"


def _decode_error(exc: ValueError) -> str:
    """``json``'s message with its column ("... starting at" has its own "at")."""
    if not isinstance(exc, json.JSONDecodeError):
        return str(exc).split(";")[0]  # UnicodeDecodeError, huge integer literal
    glue = " " if exc.msg.endswith(" at") else " at "
    return f"{exc.msg}{glue}column {_error_place(exc)[1]}"


def _error_place(exc: json.JSONDecodeError) -> tuple[int, int]:
    """Line and column of a JSON error. An error past the last character (a
    truncated line or document) is placed just after that character, not
    at column 1 of the line ``json`` counts after a trailing newline."""
    end = len(exc.doc.rstrip())
    if exc.pos < end:
        return exc.lineno, exc.colno
    line_start = exc.doc.rfind("\n", 0, end) + 1
    return exc.doc.count("\n", 0, end) + 1, end - line_start + 1


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
