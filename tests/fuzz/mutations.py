"""Mutations of valid records: the fuzz suite's operators (issue #24).

One set of operators, two drivers. Every operator takes a :class:`Draws`, a
source of choices: hypothesis in the tests (:func:`drawing`: failures
shrink) or a seeded ``random.Random`` in ``bench/fuzz.py`` (millions of
records, each replayed by its seed). ``random.Random`` is a :class:`Draws`
as it is.

Structure level, on parsed JSON (:func:`mutate_value`): a value flipped to
another JSON type or an odd value of its own (null, a boolean, 2**64, NaN,
a positive log-prob, a numeric string), a key dropped, renamed or given a
second value later in its object, a list or string emptied, a shape changed
(an element dropped or repeated, a value wrapped in a list, a list replaced
by its first element), raw JSON text ``json.dumps`` cannot write (NaN,
Infinity, 1e400, integers too long for ``int()``, lone surrogates, bad
UTF-8 inside a string, nesting shallow or past the recursion limit).

Byte level, on a serialized line or file (:func:`mutate_bytes`): bytes cut,
inserted or replaced (bad UTF-8, control bytes, a bare carriage return,
JSON punctuation), the line truncated, a number replaced by a raw token.
Text level (:func:`mutate_text_lines`): lines dropped, repeated, swapped,
joined, or split by a bare carriage return.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from tests.strategies import LMEVAL_RAW_VALUES, LMEVAL_STRAY_BYTES

T = TypeVar("T")

__all__ = [
    "ODD_VALUES",
    "RAW_VALUES",
    "Draws",
    "HypothesisDraws",
    "drawing",
    "mutate_bytes",
    "mutate_text_lines",
    "mutate_value",
    "mutated_document",
    "mutated_line",
]


class Draws(Protocol):
    """A source of choices (``random.Random`` is one)."""

    def choice(self, seq: Sequence[T]) -> T: ...

    def randint(self, a: int, b: int) -> int: ...


class HypothesisDraws:
    """:class:`Draws` from a hypothesis ``draw``: every choice shrinks."""

    def __init__(self, draw: Callable):
        self._draw = draw

    def choice(self, seq: Sequence[T]) -> T:
        return self._draw(st.sampled_from(seq))

    def randint(self, a: int, b: int) -> int:
        return self._draw(st.integers(a, b))


def drawing(build: Callable[..., T], *args: Any) -> st.SearchStrategy[T]:
    """The strategy of ``build(draws, *args)`` with hypothesis' draws."""

    @st.composite
    def strategy(draw):
        return build(HypothesisDraws(draw), *args)

    return strategy()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


#: Odd values a JSON value may be flipped to: every type, and the values
#: that break naive readers (booleans read as numbers, 2**64, NaN, a
#: positive log-prob, numbers spelled as strings, ragged rows).
ODD_VALUES: tuple = (
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    0.5,
    1e-7,
    3e-7,
    -0.5,
    1.5,
    2**31,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    1e308,
    -1e308,
    5e-324,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    " ",
    "0",
    "1",
    "-1.5",
    "nan",
    "-inf",
    "True",
    "x",
    "\x00",
    "\ud800",
    "é\u2028",
    [],
    {},
    [0],
    [-1.0],
    [None],
    [[]],
    [-1.0, "x"],
    [[-1.0, -2.0], [-3.0]],
    [True, False],
    {"": None},
    {"logprob": -1.0},
    {"0": {"logprob": 0.5}},
)

#: Raw JSON text put where a value belongs (what ``json.dumps`` cannot
#: write): lm-eval's list, nesting at the depths that matter (a few levels,
#: just under Python's recursion limit, far past it), duplicate keys.
RAW_VALUES: tuple[bytes, ...] = (
    *LMEVAL_RAW_VALUES,
    _nested(400),
    _nested(950),
    _nested(5000),
    b'{"a": 1, "a": [2]}',
    b"-0.0",
    b"1e-400",
)

#: Bytes a broken line may gain (bad UTF-8 first).
STRAY_BYTES: tuple[bytes, ...] = (*LMEVAL_STRAY_BYTES, b"\r", b"\r\n", b"\n")

#: Tokens that replace a number literal.
NUMBER_TOKENS: tuple[bytes, ...] = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b"-1e400",
    b"9" * 4301,
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1.5",
    b"0.0001",
    b"true",
    b"null",
    b'"-1.5"',
    _nested(5000),
)

#: Names a key may be renamed to: the fields of every format.
KEYS: tuple[str, ...] = (
    "",
    "id",
    "prompt",
    "candidates",
    "text",
    "tokens",
    "logprobs",
    "top_logprobs",
    "top_tokens",
    "ranks",
    "bytes",
    "unconditional",
    "logits_file",
    "token_ids",
    "choices",
    "logprob",
    "token",
    "content",
    "token_logprobs",
    "text_offset",
    "index",
    "custom_id",
    "response",
    "body",
    "outputs",
    "prompt_logprobs",
    "prompt_token_ids",
    "n_context",
    "request_id",
    "rank",
    "decoded_token",
    "doc_id",
    "resps",
    "filtered_resps",
    "arguments",
    "context",
    "continuation",
    "score",
    "results",
)

_PLACEHOLDER = "@@raw{}@@"


def _paths(value: Any, path: tuple = ()):
    """Every place in a parsed JSON value, ``(path, value)``, outer first."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*path, i))


def _at(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


def _emptied(value: Any) -> Any:
    """The empty value of ``value``'s type (0 for a number)."""
    if isinstance(value, (list, dict, str)):
        return type(value)()
    return 0


def _reshaped(draws: Draws, value: Any) -> Any:
    """``value`` in a wrong shape: a list shorter, longer or unwrapped; any
    value wrapped in a list."""
    if isinstance(value, list) and value:
        how = draws.choice(["shorter", "longer", "first", "wrap"])
        if how == "shorter":
            return value[:-1]
        if how == "longer":
            return [*value, copy.deepcopy(value[-1])]
        if how == "first":
            return value[0]
    return [value]


def _signed(value: Any) -> Any:
    """A number with its sign flipped (a positive log-prob, a negative
    count); anything else unchanged."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return -value if value else 1e-3
    return value


def mutate_value(draws: Draws, record: Any, raws: list[bytes]) -> Any:
    """``record`` with one place changed (see the module notes); raw JSON
    text is left as a placeholder string, :func:`dump_line` writes it."""
    places = [path for path, _ in _paths(record) if path]
    if not places:
        return copy.deepcopy(draws.choice(ODD_VALUES))
    path = draws.choice(places)
    parent, last = _at(record, path[:-1]), path[-1]
    how = draws.choice(
        ["flip", "flip", "drop", "empty", "shape", "sign", "rename", "twice", "raw"]
    )
    if how == "drop":
        del parent[last]
    elif how == "rename" and isinstance(parent, dict):
        new = draws.choice(KEYS)
        items = [(new if key == last else key, item) for key, item in parent.items()]
        parent.clear()
        parent.update(items)
    elif how == "twice" and isinstance(parent, dict):  # the key again, later
        raws.append(json.dumps(last).encode())
        parent[_PLACEHOLDER.format(len(raws) - 1)] = copy.deepcopy(
            draws.choice(ODD_VALUES)
        )
    elif how == "raw":
        raws.append(draws.choice(RAW_VALUES))
        parent[last] = _PLACEHOLDER.format(len(raws) - 1)
    elif how == "empty":
        parent[last] = _emptied(parent[last])
    elif how == "shape":
        parent[last] = _reshaped(draws, parent[last])
    elif how == "sign":
        parent[last] = _signed(parent[last])
    else:  # a copy: the odd values are shared between draws
        parent[last] = copy.deepcopy(draws.choice(ODD_VALUES))
    return record


def dump_line(draws: Draws, record: Any, raws: list[bytes], indent=None) -> bytes:
    """``record`` as JSON bytes (``ensure_ascii`` drawn), placeholders
    replaced by their raw text."""
    text = json.dumps(record, ensure_ascii=draws.choice([True, False]), indent=indent)
    line = text.encode("utf-8", "surrogatepass")
    for i, raw in enumerate(raws):
        line = line.replace(f'"{_PLACEHOLDER.format(i)}"'.encode(), raw)
    return line


#: A number literal where a value starts (its digits are group 1).
_NUMBER = re.compile(rb"[:\[,] ?(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)")


def mutate_bytes(draws: Draws, data: bytes) -> bytes:
    """``data`` with bytes cut, inserted or replaced, truncated, or one
    number literal replaced by a raw token (NaN, 1e400, a 4301-digit
    integer, nesting past the recursion limit)."""
    how = draws.choice(["cut", "truncate", "insert", "insert", "replace", "token"])
    if how == "token":
        numbers = list(_NUMBER.finditer(data))
        if numbers:
            found = draws.choice(numbers)
            token = draws.choice(NUMBER_TOKENS)
            return data[: found.start(1)] + token + data[found.end(1) :]
        how = "insert"
    where = draws.randint(0, len(data))
    if how == "truncate":
        return data[:where]
    if how == "cut":
        return data[:where] + data[where + draws.randint(1, 8) :]
    stray = draws.choice(draws.choice([STRAY_BYTES[:7], STRAY_BYTES]))
    if how == "insert":
        return data[:where] + stray + data[where:]
    return data[:where] + stray + data[where + len(stray) :]


#: How badly a line is broken, weighted: most lines keep one flaw, so that
#: the reader goes past the first check.
_FLAWS = ("none", "value", "value", "value", "values", "bytes", "bytes", "both", "line")
_VALUES = {"none": 0, "value": 1, "values": 3, "bytes": 0, "both": 2, "line": 0}


def _whole_line(draws: Draws, record: Any) -> Any:
    """The line's value as a whole replaced: the record in a JSON array
    (one line holding records), twice, an empty array, or an odd value."""
    how = draws.choice(["one", "two", "empty", "odd"])
    if how == "one":
        return [record]
    if how == "two":
        return [record, copy.deepcopy(record)]
    if how == "empty":
        return []
    return copy.deepcopy(draws.choice(ODD_VALUES))


def mutated_line(draws: Draws, record: Any) -> bytes:
    """A JSON line (no newline) from a valid ``record``: unchanged, with one
    or a few values changed, with bytes changed, or both; or the line's
    value replaced as a whole (:func:`_whole_line`)."""
    flaw = draws.choice(_FLAWS)
    record = copy.deepcopy(record)
    raws: list[bytes] = []
    values = _VALUES[flaw]
    for _ in range(draws.randint(1, values) if values else 0):
        record = mutate_value(draws, record, raws)
    if flaw == "line":
        record = _whole_line(draws, record)
    line = dump_line(draws, record, raws)
    if flaw in ("bytes", "both"):
        for _ in range(draws.randint(1, 2)):
            line = mutate_bytes(draws, line)
    return line.replace(b"\n", b" ")


def mutated_document(draws: Draws, record: Any, indent=None) -> bytes:
    """A JSON document (``json.dump``'s file) from a valid ``record``."""
    flaw = draws.choice(_FLAWS)
    record = copy.deepcopy(record)
    raws: list[bytes] = []
    values = _VALUES[flaw]
    for _ in range(draws.randint(1, values) if values else 0):
        record = mutate_value(draws, record, raws)
    if flaw == "line":
        record = _whole_line(draws, record)
    data = dump_line(draws, record, raws, indent=indent)
    if flaw in ("bytes", "both"):
        data = mutate_bytes(draws, data)
    return data


def mutate_text_lines(draws: Draws, text: bytes) -> bytes:
    """Text with a line dropped, repeated, swapped with another, joined to
    the next, or ended by a bare carriage return; or bytes changed."""
    lines = text.split(b"\n")
    how = draws.choice(["drop", "repeat", "swap", "join", "cr", "bytes", "bytes"])
    if how == "bytes" or len(lines) < 2:
        return mutate_bytes(draws, text)
    i = draws.randint(0, len(lines) - 2)
    if how == "drop":
        del lines[i]
    elif how == "repeat":
        lines.insert(i, lines[i])
    elif how == "swap":
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    elif how == "join":
        lines[i : i + 2] = [lines[i] + b" " + lines[i + 1]]
    else:
        lines[i : i + 2] = [lines[i] + b"\r" + lines[i + 1]]
    return b"\n".join(lines)
