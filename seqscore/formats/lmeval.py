"""lm-evaluation-harness samples files: one multiple-choice document a line.

``lm_eval ... --log_samples`` writes ``samples_<task>_<date>.jsonl`` (0.4.3
on; 0.4.0-0.4.2 wrote one JSON array of the same records)::

    {"doc_id": 0, "doc": {...}, "target": "0",
     "arguments": {"gen_args_0": {"arg_0": "Question: ...\\nAnswer:",
                                  "arg_1": " Paris"}, ...},
     "resps": [[["-4.06", "False"]], ...],
     "filtered_resps": [["-4.06", "False"], ...],
     "filter": "none", "metrics": ["acc", "acc_norm"],
     "doc_hash": "...", "prompt_hash": "...", "target_hash": "...",
     "acc": 1.0, "acc_norm": 0.0}

One request per choice: ``arg_0`` is the context, ``arg_1`` the
continuation, which is lm-eval's target delimiter (``" "`` unless the task
says otherwise) followed by the choice; ``filtered_resps`` holds each
request's ``[loglikelihood, is_greedy]`` (lm-eval 0.4.3 on writes both as
strings, ``"-4.06"`` and ``"False"``; earlier versions as JSON values).
With ``acc_mutual_info`` the requests go on with one unconditional request
per choice (context ``""``). The older layout gives ``arguments`` as a list
of ``[context, continuation]`` pairs; lm-eval 0.4.0-dev (July 2023) gave the
first request's pair only, ``["Question: ...", " Paris"]``, with every
choice's response in ``resps`` (``[[[-4.06, false]], ...]``) and
``filtered_resps``, and ``target`` the gold choice's text (the gold index
came from the task's ``gold_alias``, not logged). Such a line tells the
first choice's text only, and the gold only when ``target`` is an index;
where it does not, the document says so (``gold_unread``) and whether the
target names the first choice, against which the logged ``acc`` of a
document predicting that choice can still be checked. A multiple-input
task (winogrande: one context per choice, one continuation) logs no gold
index either; winogrande's is its ``doc.answer``, read when the requests
are lm-eval's for that document.

``target`` is ``str()`` of what the task's ``doc_to_target`` returned: a
choice index, a choice's text or a list of indices (several right answers).
A digit string is an index, as lm-eval reads a template that renders one;
when the task's target field is known (the results file's task config), the
document's own typed value decides instead, exactly as lm-eval did.

Every number is checked (a log-likelihood is a number or a numeric string,
<= 0 or -inf, or above 0 by at most float32 rounding, kept as logged so
that the argmax is lm-eval's); errors name the file, line, document and
field.

One rule, two readers. :func:`careful_document` reads parsed JSON one field
at a time: it is the rule. With msgspec installed, the lines of lm-eval
0.4.3+ are also decoded into typed records (:func:`loads_samples_line`) and
read by :func:`_typed_document`, several times faster. The fast path is
not a second rule but a subset of the first: it gives a document only
where it is sure the careful reader gives that same document, and hands
everything else to it (the same record as JSON), so errors are always the
careful reader's. At the line, msgspec's typed decoder accepts only what
``json`` accepts too, or the line is parsed as JSON (``json`` raises
its own error): what the decoder does not build it only scans, without
checking UTF-8 or the length of integers, so :func:`_json_reads` checks
those. Both readers are kept, and proven equal by a property test over
broken lines of every layout (``tests/formats/test_lmeval_one_rule.py``):
the same line gives the same document or the same error, with msgspec
or without. (The one place they may differ is nesting within a few levels
of Python's recursion limit, where msgspec reads a little deeper than
``json``, and each still reads the line or names what is wrong with it.)
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from collections.abc import Iterator
from typing import Any, Literal, NamedTuple

from seqscore.errors import DataFormatError
from seqscore.formats.records import as_id, as_number, loads_line
from seqscore.formats.records import field as required
from seqscore.lmeval.logged import Document
from seqscore.numerics.clamp import POSITIVE_TOLERANCE
from seqscore.scoring.candidates import Candidate, Prompt

__all__ = [
    "DEFAULT_DELIMITER",
    "LOGGED_METRICS",
    "careful_document",
    "convert_record",
    "is_samples_record",
    "loads_samples_line",
    "read_document",
]

#: lm-eval's default target delimiter (TaskConfig.target_delimiter).
DEFAULT_DELIMITER = " "
#: Per-document metrics this reader keeps as logged.
LOGGED_METRICS = ("acc", "acc_norm", "acc_bytes", "acc_mutual_info", "exact_match")

_INTEGER = re.compile(r"-?[0-9]+")


def is_samples_record(record: Any) -> bool:
    """Whether a parsed record looks like a line of an lm-eval samples file."""
    return (
        isinstance(record, dict)
        and "doc_id" in record
        and ("filtered_resps" in record or "resps" in record)
    )


def read_document(
    record: Any,
    location: str,
    delimiter: str = DEFAULT_DELIMITER,
    target_field: str | None = None,
) -> Document:
    """The :class:`Document` of one samples record.

    ``record`` is the parsed JSON of a line, or the typed record
    :func:`loads_samples_line` makes of a line in lm-eval 0.4.3+'s layout.
    ``delimiter`` is the task's target delimiter; ``target_field`` the name
    of the ``doc`` field its ``doc_to_target`` reads, when known.
    """
    if _Sample is not None and type(record) is _Sample:
        try:
            document = _typed_document(record, location, delimiter, target_field)
        except (
            ValueError,  # DataFormatError too: the careful reader words it
            TypeError,
            KeyError,
            IndexError,
            OverflowError,
            RecursionError,  # a doc nested nearly too deeply to parse
        ):
            document = None
        if document is not None:
            return document
        record = _as_json(record)
    return careful_document(record, location, delimiter, target_field)


def careful_document(
    record: Any,
    location: str,
    delimiter: str = DEFAULT_DELIMITER,
    target_field: str | None = None,
) -> Document:
    """:func:`read_document` of parsed JSON, one field at a time: the reference.

    It reads every layout and names the field of any error.
    """
    if not isinstance(record, dict):
        raise DataFormatError("record: expected a JSON object")
    doc_id = as_id(required(record, "doc_id", ""), "doc_id", None)
    try:
        return _document(record, location, doc_id, delimiter, target_field)
    except DataFormatError as exc:
        raise DataFormatError(f"doc_id {doc_id}: {exc}") from None


class _Reading(NamedTuple):
    """What a line says of its choices' texts and of its gold (the fields of
    :class:`Document` of those names)."""

    choices: tuple[str, ...]
    gold: tuple[int, ...]
    gold_problem: str | None
    gold_unread: str | None = None
    first_is_gold: bool | None = None


def _document(record, location, doc_id, delimiter, target_field) -> Document:
    arguments = required(record, "arguments", "", (dict, list))
    if _is_first_request(arguments):
        return _first_request_document(
            record, location, doc_id, delimiter, target_field
        )
    requests = _requests(arguments)
    responses = _responses(record, len(requests))
    metrics = _logged(record)
    n = _conditional_count(record, requests, metrics)
    if [context for context, _ in requests[:n]].count(requests[0][0]) != n:
        reading = _multiple_input(record, requests[:n], delimiter)
    else:
        choices = tuple(_choice(requests[i][1], i, delimiter) for i in range(n))
        target, lossy = _target(record, target_field)
        reading = _Reading(choices, *_gold(target, choices, lossy))
    context = requests[0][0]
    return _built(record, location, doc_id, reading, context, responses, n, metrics)


def _built(record, location, doc_id, reading, context, responses, n, metrics):
    """The :class:`Document` of a record read: ``n`` of its ``responses``
    are the choices', the rest unconditional; ``metrics`` as logged."""
    return Document(
        doc_id=doc_id,
        location=location,
        context=context,
        choices=reading.choices,
        loglikelihoods=tuple(ll for ll, _ in responses[:n]),
        is_greedy=tuple(greedy for _, greedy in responses[:n]),
        unconditional=(
            None if n == len(responses) else tuple(ll for ll, _ in responses[n:])
        ),
        gold=reading.gold,
        gold_problem=reading.gold_problem,
        target=_logged_target(record.get("target")),
        filter=_string(record.get("filter", "none"), "filter"),
        logged=metrics,
        doc_hash=_hash(record, "doc_hash"),
        prompt_hash=_hash(record, "prompt_hash"),
        target_hash=_hash(record, "target_hash"),
        doc=record.get("doc"),
        gold_unread=reading.gold_unread,
        first_is_gold=reading.first_is_gold,
    )


# ------------------------------------------------------- the typed fast path

#: lm-eval's names of the requests of a document, in order.
_GEN_ARGS = tuple(f"gen_args_{i}" for i in range(1024))

#: msgspec's typed record of a line (None without msgspec: every line is
#: parsed JSON, read carefully).
_Sample: type | None = None
try:
    import msgspec
except ImportError:  # the stdlib path
    pass
else:

    class _Request(msgspec.Struct):
        arg_0: str
        arg_1: str

    class _TypedSample(msgspec.Struct):
        """A line in lm-eval 0.4.3+'s layout, as msgspec decodes it (typed:
        anything else fails to decode and is parsed as plain JSON)."""

        doc_id: int | str
        arguments: dict[str, _Request]
        filtered_resps: msgspec.Raw  # decoded by _decode_responses
        target: str
        filter: str = "none"
        metrics: list[str] | msgspec.UnsetType = msgspec.UNSET
        doc_hash: str | None = None
        prompt_hash: str | None = None
        target_hash: str | None = None
        acc: float | msgspec.UnsetType = msgspec.UNSET
        acc_norm: float | msgspec.UnsetType = msgspec.UNSET
        acc_bytes: float | msgspec.UnsetType = msgspec.UNSET
        acc_mutual_info: float | msgspec.UnsetType = msgspec.UNSET
        exact_match: float | msgspec.UnsetType = msgspec.UNSET
        doc: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET

    _Sample = _TypedSample
    _typed_decode = msgspec.json.Decoder(_TypedSample).decode
    # lm-eval 0.4.3+ writes [str(loglikelihood), str(is_greedy)]: msgspec reads
    # the numbers' strings as float() does (JSON number syntax, inf, nan) and
    # refuses anything else, booleans included
    _decode_responses = msgspec.json.Decoder(
        list[tuple[float, Literal["True", "False"]]], strict=False
    ).decode
    _refused = msgspec.MsgspecError
    _UNSET = msgspec.UNSET
    _NULL = msgspec.Raw(b"null")


def loads_samples_line(raw: bytes):
    """One samples line: a typed record when msgspec is installed and the
    line has lm-eval 0.4.3+'s layout (most of ``doc`` is then only
    scanned, not built), else :func:`~.records.loads_line`'s parsed JSON.

    A line is typed only when ``json`` would read it too (see
    :func:`_json_reads`): otherwise it is parsed by
    :func:`~.records.loads_line`, which raises ``json``'s error.
    """
    if _Sample is not None:
        try:
            sample = _typed_decode(raw)
        except _refused:
            pass
        else:
            if _json_reads(raw):
                return sample
    return loads_line(raw)


def _json_reads(raw: bytes) -> bool:
    """Whether ``json.loads`` surely reads a line that msgspec's typed
    decoder has read, as it reads it (cheap; False: ask ``json``).

    The typed decoder checks the JSON syntax of everything and refuses
    NaN, infinities, numbers out of range and lone surrogates; but what it
    does not build (``doc``, ``filtered_resps``, unknown fields) it only
    *scans*: there it checks neither that the bytes are UTF-8 nor that an
    integer is short enough for ``int()``, both of which ``json`` refuses.
    UTF-8 is decoded only when the line is not ASCII, and digits are looked
    at only on lines longer than ``int()``'s limit.
    """
    if not raw.isascii():
        try:
            raw.decode("utf-8", "surrogatepass")  # as json.loads decodes bytes
        except UnicodeDecodeError:
            return False
    return len(raw) <= _INT_DIGITS or not _maybe_long_integer(raw, _INT_DIGITS)


def _maybe_long_integer(raw: bytes, limit: int) -> bool:
    """Whether ``raw`` may hold more than ``limit`` digits in a row (an
    integer ``int()`` refuses; 0: no limit).

    Such a run covers two successive bytes of every ``(limit + 1) // 2``-th
    and all the bytes between them: those are looked at only where both
    probes are digits.
    """
    if not limit or len(raw) <= limit:
        return False
    step = (limit + 1) // 2
    probes = raw[::step].translate(_DIGIT_FLAGS)
    i = probes.find(b"11")
    while i >= 0:
        if raw[i * step : (i + 1) * step + 1].isdigit():
            return True  # half the limit in a row: json decides
        i = probes.find(b"11", i + 1)
    return False


#: ``int()``'s limit on digits, as the interpreter started (0: none, as
#: before Python 3.10.7); read once, as reading it costs as much as the
#: rest of the check (a later ``sys.set_int_max_str_digits`` is not seen).
_INT_DIGITS = getattr(sys, "get_int_max_str_digits", lambda: 0)()
#: ``bytes.translate`` table: b"1" for an ASCII digit, b"0" else.
_DIGIT_FLAGS = bytes(49 if 48 <= b <= 57 else 48 for b in range(256))


def _as_json(sample) -> Any:
    """A typed record as the plain JSON it was read from (every field the
    careful reader reads; the raw ``doc`` and ``filtered_resps`` as they
    were), parsed as :func:`~.records.loads_line` parses the line."""
    try:
        return loads_line(msgspec.json.encode(sample))
    except RecursionError:  # as json_lines words it
        raise DataFormatError("malformed JSON (nested too deeply)") from None


def _typed_document(s, location, delimiter, target_field) -> Document | None:
    """The document of a typed record, or None for what the careful reader
    must decide (it then gives the same document, or the error). Written for
    speed (it runs once per line of files of millions): whole-list
    operations, no call per choice."""
    requests = _typed_requests(s.arguments)
    if requests is None:
        return None
    contexts, continuations = requests
    n = len(contexts)
    responses = _decode_responses(s.filtered_resps)
    if len(responses) != n:
        return None
    lls = [r[0] for r in responses]
    total = sum(lls)
    if not max(lls) <= POSITIVE_TOLERANCE or total != total:  # positive, NaN
        return None
    logged = {
        name: float(value)
        for name in LOGGED_METRICS
        if (value := getattr(s, name)) is not _UNSET
    }
    k = _typed_choice_count(s.metrics, logged, contexts, continuations)
    if contexts[:k].count(contexts[0]) != k:  # one context for the choices
        return None
    heads = continuations[:k]
    if not all(map(str.startswith, heads, itertools.repeat(delimiter, k))):
        return None
    width = len(delimiter)
    choices = tuple([c[width:] for c in heads]) if width else tuple(heads)
    target, lossy = _typed_target(s, target_field)
    gold, problem = _gold(target, choices, lossy)
    return Document(
        str(s.doc_id),
        location,
        contexts[0],
        choices,
        tuple(lls[:k]),
        tuple([r[1] == "True" for r in responses[:k]]),  # "True" or "False"
        None if k == n else tuple(lls[k:]),
        gold,
        problem,
        s.target,
        s.filter,
        logged,
        s.doc_hash,
        s.prompt_hash,
        s.target_hash,
        None if s.doc is _UNSET or s.doc == _NULL else s.doc,  # as .get("doc")
    )


def _typed_requests(arguments: dict) -> tuple[list[str], list[str]] | None:
    """``(contexts, continuations)`` of ``gen_args_0`` on, in order; None
    for any other keys."""
    n = len(arguments)
    if not 0 < n <= len(_GEN_ARGS) or tuple(arguments) != _GEN_ARGS[:n]:
        return None
    requests = list(arguments.values())
    return [r.arg_0 for r in requests], [r.arg_1 for r in requests]


def _typed_choice_count(listed, logged: dict, contexts: list, continuations: list):
    """:func:`_conditional_count` of a typed record (only asked when
    ``acc_mutual_info`` is named)."""
    if "acc_mutual_info" in logged or (
        listed is not _UNSET and "acc_mutual_info" in listed
    ):
        pairs = list(zip(contexts, continuations, strict=True))
        return _conditional_count({"metrics": listed}, pairs, logged)
    return len(contexts)


def _typed_target(s, target_field: str | None) -> tuple[Any, bool]:
    """:func:`_target` of a typed record."""
    if target_field is not None and s.doc is not _UNSET:
        doc = msgspec.json.decode(s.doc)
        if isinstance(doc, dict) and target_field in doc:
            return doc[target_field], False
    return s.target, True


# ----------------------------------------------------------------- requests


def _requests(arguments) -> list[tuple[str, str]]:
    """``(context, continuation)`` per request, in order."""
    if isinstance(arguments, dict):
        pairs = []
        for i, (key, request) in enumerate(arguments.items()):
            if key != f"gen_args_{i}":
                raise DataFormatError(
                    f"arguments: key {key!r} where gen_args_{i} belongs"
                )
            if not isinstance(request, dict) or "arg_0" not in request:
                raise DataFormatError(f"arguments.{key}: expected arg_0 and arg_1")
            pairs.append(
                _request(request.get("arg_0"), request.get("arg_1"), f"arguments.{key}")
            )
    else:
        pairs = [_listed_request(request, i) for i, request in enumerate(arguments)]
    if not pairs:
        raise DataFormatError("arguments: no requests (a document with no choices)")
    return pairs


def _is_first_request(arguments) -> bool:
    """Whether ``arguments`` is one ``[context, continuation]`` pair, as
    lm-eval 0.4.0-dev wrote it (July 2023: the first request's only)."""
    return (
        isinstance(arguments, list)
        and len(arguments) == 2
        and isinstance(arguments[0], str)
    )


def _listed_request(request, i: int) -> tuple[str, str]:
    if not isinstance(request, list) or len(request) < 2:
        raise DataFormatError(f"arguments[{i}]: expected [context, continuation]")
    return _request(request[0], request[1], f"arguments[{i}]")


def _request(context, continuation, where: str) -> tuple[str, str]:
    """A request's ``(context, continuation)``; ``where`` names it in errors."""
    if type(context) is str and type(continuation) is str:
        return context, continuation
    if isinstance(continuation, dict):
        raise DataFormatError(
            f"{where}: a generation request (generate_until), not a "
            "log-likelihood of a choice: only multiple-choice runs can be read"
        )
    raise DataFormatError(f"{where}: context and continuation must be strings")


def _responses(record: dict, n: int | None) -> list[tuple[float, bool]]:
    """``(loglikelihood, is_greedy)`` per request: ``filtered_resps`` (what
    lm-eval's metrics read), else the only response of each ``resps``;
    ``n`` of them (``None``: as many as there are, at least one)."""
    name = "filtered_resps" if "filtered_resps" in record else "resps"
    responses = required(record, name, "", list)
    if n is None and not responses:
        raise DataFormatError(f"{name}: no responses (a document with no choices)")
    if n is not None and len(responses) != n:
        raise DataFormatError(
            f"{name}: {len(responses)} responses for {n} requests (arguments)"
        )
    return [_response(r, f"{name}[{i}]", name) for i, r in enumerate(responses)]


def _response(response, where: str, name: str) -> tuple[float, bool]:
    if name == "resps":
        if not isinstance(response, list) or len(response) != 1:
            raise DataFormatError(f"{where}: expected one response")
        response, where = response[0], f"{where}[0]"
    if not isinstance(response, list) or len(response) != 2:
        raise DataFormatError(
            f"{where}: expected [loglikelihood, is_greedy], got {_show(response)} "
            "(a generation task?)"
        )
    return _loglikelihood(response[0], f"{where}[0]"), _greedy(
        response[1], f"{where}[1]"
    )


def _loglikelihood(value, where: str) -> float:
    """A number, or a string that spells one (lm-eval 0.4.3+), <= 0 or -inf."""
    if type(value) is str:
        try:
            number = float(value)
        except ValueError:
            raise DataFormatError(
                f"{where}: {_show(value)} is not a log-likelihood"
            ) from None
    else:
        number = as_number(value, where)
    if number > POSITIVE_TOLERANCE or math.isnan(number):
        raise DataFormatError(
            f"{where}: {_show(value)} is not a log-likelihood (NaN or positive)"
        )
    return number  # as logged, even a rounding above 0: lm-eval's argmax saw it


def _greedy(value, where: str) -> bool:
    if value == "True" or value is True:
        return True
    if value == "False" or value is False:
        return False
    raise DataFormatError(
        f"{where}: {_show(value)} where is_greedy (a boolean) belongs"
    )


def _mutual_info(record: dict, metrics: dict) -> bool:
    """Whether the run computed ``acc_mutual_info`` (logged or listed)."""
    listed = record.get("metrics")
    return "acc_mutual_info" in metrics or (
        isinstance(listed, list) and "acc_mutual_info" in listed
    )


def _conditional_count(record: dict, requests: list, metrics: dict) -> int:
    """How many requests are the choices; the rest, with ``acc_mutual_info``,
    are the same continuations without the context."""
    n = len(requests)
    if not _mutual_info(record, metrics):
        return n
    half = n // 2
    paired = n % 2 == 0 and all(
        requests[half + i] == ("", requests[i][1]) for i in range(half)
    )
    if not paired:
        raise DataFormatError(
            "arguments: acc_mutual_info is logged, but the requests are not the "
            "choices followed by the same continuations without context"
        )
    return half


def _choice(continuation: str, i: int, delimiter: str) -> str:
    if not continuation.startswith(delimiter):
        raise DataFormatError(
            f"arguments request {i}: continuation {continuation!r} does not start "
            f"with the target delimiter {delimiter!r}"
        )
    return continuation[len(delimiter) :]


# ------------------------------------------------------------ partial lines

#: Why a line of lm-eval 0.4.0-dev does not tell its gold choice.
_FIRST_ONLY = (
    "lm-eval 0.4.0-dev logged only the first request, and the target is not an index"
)
#: Why a line of a multiple-input task does not.
_MULTIPLE_INPUT = (
    "a multiple-input task (the choices are in the contexts): lm-eval took "
    "the gold from doc_to_text, which is not logged"
)


def _first_request_document(
    record, location, doc_id, delimiter, target_field
) -> Document:
    """A line of lm-eval 0.4.0-dev (July 2023): ``arguments`` is the first
    request's ``[context, continuation]`` only; every choice's response is
    in ``resps`` and ``filtered_resps``, and ``target`` is what the task's
    ``doc_to_target`` gave (lm-eval took the gold from ``gold_alias``)."""
    first = record["arguments"]
    context, continuation = _request(first[0], first[1], "arguments")
    responses = _responses(record, None)
    metrics = _logged(record)
    if _mutual_info(record, metrics):
        raise DataFormatError(
            "arguments: acc_mutual_info is logged, but the line holds the first "
            "request only (lm-eval 0.4.0-dev): which responses are unconditional "
            "cannot be told"
        )
    n = len(responses)
    reading = _winogrande(record, [context], [continuation], n, delimiter)
    if reading is None:
        reading = _first_choice(record, continuation, n, delimiter, target_field)
    return _built(record, location, doc_id, reading, context, responses, n, metrics)


def _first_choice(record, continuation, n, delimiter, target_field) -> _Reading:
    """A line with the first request only: its choice's text; the gold when
    the target (or the task's target field) is an index or a list of them,
    else unread, and whether the target is the first choice's text."""
    first = _choice(continuation, 0, delimiter)
    target, _ = _target(record, target_field)
    if type(target) is int:
        return _Reading((first,), *_indices([target], n))
    if isinstance(target, list) and target and all(type(i) is int for i in target):
        return _Reading((first,), *_indices(target, n))
    return _Reading((first,), (), None, _FIRST_ONLY, _names_first(target, first))


def _names_first(target, first: str) -> bool | None:
    """Whether ``target``, the gold choice's text as lm-eval 0.4.0-dev's
    tasks logged it (some with the delimiter before it), is the first
    choice's; ``None`` when it may be an index."""
    if not isinstance(target, str) or (target.isdigit() and target.isascii()):
        return None
    return target.strip() == first.strip()


def _multiple_input(record, requests, delimiter) -> _Reading:
    """A document whose choices are contexts, one continuation for all."""
    contexts = [context for context, _ in requests]
    continuations = [continuation for _, continuation in requests]
    reading = _winogrande(record, contexts, continuations, len(requests), delimiter)
    return reading or _Reading((), (), None, _MULTIPLE_INPUT)


def _winogrande(record, contexts, continuations, n, delimiter) -> _Reading | None:
    """A winogrande document's gold, ``doc.answer`` ("1" or "2": lm-eval's
    ``doc_to_text``, the gold index plus one), when the requests are
    lm-eval's for it: each context ends with the sentence up to its blank
    and that choice's option, the continuation is the rest of the sentence
    after the delimiter (None: not winogrande's)."""
    doc = record.get("doc")
    if n != 2 or not isinstance(doc, dict):
        return None
    sentence = doc.get("sentence")
    options = [o for o in (doc.get("option1"), doc.get("option2")) if type(o) is str]
    if type(sentence) is not str or "_" not in sentence or len(options) != 2:
        return None
    blank = sentence.index("_")
    rest = delimiter + sentence[blank + 1 :].strip()
    partials = [sentence[:blank] + option for option in options]
    if any(continuation != rest for continuation in continuations) or not all(
        context.endswith(partial)
        for context, partial in zip(contexts, partials, strict=False)
    ):
        return None
    answer = doc.get("answer")
    if type(answer) is not str or answer not in ("1", "2"):
        unread = f"doc.answer {_show(answer)} is not winogrande's '1' or '2'"
        return _Reading((), (), None, unread)
    return _Reading((), (int(answer) - 1,), None)


# ------------------------------------------------------------------- target


def _target(record: dict, target_field: str | None):
    """``(target, lossy)``: the doc's own value of the task's target field
    when known, else the logged ``target``; ``lossy`` when that is
    ``str(target)`` (the ``gen_args`` layout), whose digits may have been an
    index or a text."""
    doc = record.get("doc")
    if target_field is not None and isinstance(doc, dict) and target_field in doc:
        return doc[target_field], False
    if "target" not in record:
        raise DataFormatError("target: missing")
    target = record["target"]
    return target, isinstance(record["arguments"], dict) and isinstance(target, str)


def _gold(target, choices: tuple[str, ...], lossy: bool):
    """``(gold indices, problem)`` as lm-eval's ``process_results`` finds
    them: an integer is an index, a list holds indices, a string is matched
    against the choices' texts -- except that in ``str(target)`` a list or a
    number stands for itself, as lm-eval reads a template that renders one."""
    if lossy and type(target) is str and target.isdigit() and target.isascii():
        index = int(target)  # the usual case first: str(an index) that is no text
        if index < len(choices) and target not in choices:
            return (index,), None
    if type(target) is int:
        return _indices([target], len(choices))
    if isinstance(target, list):
        if not all(type(i) is int for i in target):
            raise DataFormatError(f"target: {_show(target)} is not a list of indices")
        return _indices(target, len(choices))
    if not isinstance(target, str):
        raise DataFormatError(f"target: {_show(target)} is not an index or a text")
    return _text_gold(target, choices, lossy)


def _text_gold(target: str, choices: tuple[str, ...], lossy: bool):
    """:func:`_gold` of a string: a choice's text, or (``lossy``) what
    ``str()`` made of a list of indices or of an index."""
    text = choices.index(target) if target in choices else None
    if lossy and target.startswith("[") and target.endswith("]"):
        return _indices(_index_list(target), len(choices))
    if lossy and _INTEGER.fullmatch(target):
        return _integer_gold(target, text, len(choices))
    if text is None:
        return (), f"target {target!r} is not one of the choices"
    return (text,), None


def _integer_gold(target: str, text: int | None, n: int):
    """:func:`_gold` of ``str(an integer)``: that index, unless it is also
    the text of another choice (then which it was is lost)."""
    index = int(target)
    if text is not None and text != index:
        raise DataFormatError(
            f"target: {target!r} is the index of choice {index} and the text of "
            f"choice {text}; lm-eval logged str(target), so which it was is "
            "lost (give the run's results file: its task config names the "
            "target field)"
        )
    return _indices([index], n)


def _logged_target(target) -> str:
    """The target as lm-eval hashes it (``str(target)``)."""
    if isinstance(target, str):
        return target
    return str(target)  # the typed layout: hashes are not logged there anyway


def _index_list(target: str) -> list:
    try:
        values = [int(part) for part in target[1:-1].split(",") if part.strip()]
    except ValueError:
        raise DataFormatError(
            f"target: {target!r} is not a list of choice indices"
        ) from None
    return values


def _indices(indices: list[int], n: int) -> tuple[tuple[int, ...], str | None]:
    """The indices in range; lm-eval counts one out of range as never right."""
    inside = tuple(i for i in indices if 0 <= i < n)
    if len(inside) == len(indices):
        return inside, None
    bad = next(i for i in indices if not 0 <= i < n)
    return inside, f"target index {bad} is not a choice (there are {n})"


# ------------------------------------------------------------------ metrics


def _logged(record: dict) -> dict[str, float]:
    """The per-document metrics of :data:`LOGGED_METRICS` the record holds."""
    return {
        name: as_number(record[name], name) for name in LOGGED_METRICS if name in record
    }


def _hash(record: dict, key: str) -> str | None:
    value = record.get(key)
    return None if value is None else _string(value, key)


def _string(value, where: str) -> str:
    if not isinstance(value, str):
        raise DataFormatError(f"{where}: expected a string, got {_show(value)}")
    return value


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------ seqscore score


def convert_record(
    record: Any,
    location: str,
    delimiter: str = DEFAULT_DELIMITER,
    target_field: str | None = None,
) -> Iterator[Prompt]:
    """The prompt of one samples record, for ``seqscore score``.

    One candidate per choice (id: its index, text: the choice, if the line
    holds it), scored by its logged total log-likelihood, greedy as logged;
    the token count is unknown, so per-token reductions are ``None``.
    """
    document = read_document(record, location, delimiter, target_field)
    n = len(document.loglikelihoods)
    texts = document.choices + (None,) * (n - len(document.choices))
    unconditional = document.unconditional or (None,) * n
    yield Prompt(
        id=document.doc_id,
        candidates=tuple(
            Candidate(
                id=str(i),
                tokens=None,
                text=choice,
                unconditional=None if u is None else min(u, 0.0),
                logged_total=min(ll, 0.0),  # float32 rounding above 0 reads as 0
                logged_greedy=greedy,
            )
            for i, (choice, ll, greedy, u) in enumerate(
                zip(
                    texts,
                    document.loglikelihoods,
                    document.is_greedy,
                    unconditional,
                    strict=True,
                )
            )
        ),
        text=document.context,
        source=location,
    )
