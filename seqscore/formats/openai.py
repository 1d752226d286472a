"""OpenAI responses: chat completions and legacy completions with logprobs.

Chat completions (``logprobs=true``, optionally ``top_logprobs=k``)::

    {"id": "chatcmpl-1", "choices": [{"index": 0,
      "message": {"role": "assistant", "content": "Hello!"},
      "logprobs": {"content": [{"token": "Hello", "logprob": -0.31,
                                "bytes": [72, 101, 108, 108, 111],
                                "top_logprobs": [{"token": "Hello",
                                                  "logprob": -0.31, ...}]}]}}]}

Legacy completions (``logprobs=k``, optionally ``echo=true``)::

    {"id": "cmpl-1", "choices": [{"text": "...", "logprobs": {
        "tokens": [...], "token_logprobs": [null, -2.1, ...],
        "top_logprobs": [null, {"tok": -2.1}, ...], "text_offset": [0, 3, ...]}}]}

Every choice of a response is a candidate of the same prompt (the response's
``id``, or ``custom_id`` in a Batch API output line, whose ``response.body``
holds the completion). With ``echo``, the tokens begin with the prompt, whose
first token has a null log-prob; seqscore scores only the completion, so it
needs to know where the prompt ends: put the prompt text in the record's
``prompt`` field (tokens starting before ``len(prompt)`` are the prompt) or its
token count in ``n_context``. Without either, an echoed response is rejected
rather than scored with its prompt included.

A token that is no character on its own (part of a UTF-8 character split
between tokens) is spelled by OpenAI as ``bytes:`` and its bytes escaped,
``bytes:\\xe6\\x97``; seqscore reads it as those bytes, carried as Python's
``surrogateescape`` code points like every token text of partial characters
(:mod:`seqscore.models.token_text`), and a candidate's text made of its
tokens joins such bytes back into their characters.

Every number is checked as :mod:`.records` says (a log-prob is <= 0 or
-inf; booleans are not numbers); a chat token's ``bytes`` is null or a list
of integers 0..255, and ``text_offset`` has one integer per token.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from seqscore.errors import DataFormatError
from seqscore.formats.records import (
    as_id,
    as_integer,
    as_integers,
    as_logprob,
    as_logprobs,
    as_string,
    as_strings,
    field,
    optional,
)
from seqscore.scoring.candidates import (
    Candidate,
    Prompt,
    token_scores_from_alternatives,
)

__all__ = ["convert_record", "token_text", "unwrap"]

#: OpenAI's spelling of a token that is bytes, not text.
_BYTES_TOKEN = re.compile(r"bytes:((?:\\x[0-9a-fA-F]{2})+)")


def token_text(token: str) -> str:
    r"""A token's text: ``bytes:\xe6\x97`` as its bytes (``surrogateescape``
    code points), any other token as it is.

    >>> token_text("bytes:\\xe6\\x97") == "\udce6\udc97", token_text(" the")
    (True, ' the')
    """
    match = _BYTES_TOKEN.fullmatch(token) if token.startswith("bytes:") else None
    if match is None:
        return token
    raw = bytes.fromhex(match.group(1).replace("\\x", ""))
    return raw.decode("utf-8", "surrogateescape")


def _texts(tokens: Sequence[str]) -> tuple[str, ...]:
    """:func:`token_text` of each token (one scan in C when none is bytes:
    ``\x00`` joins them, and cannot be part of ``bytes:``)."""
    if "bytes:" not in "\x00".join(tokens):
        return tuple(tokens)
    return tuple(map(token_text, tokens))


def _alternatives_texts(steps: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    """:func:`_texts` of each step's alternatives, with one scan of them all
    for the usual case of no bytes (a reader's hot path: 5 names a token)."""
    if "bytes:" not in "\x00".join(itertools.chain.from_iterable(steps)):
        return [tuple(names) for names in steps]
    return [_texts(names) for names in steps]


def _joined(spelled: Sequence[str]) -> str:
    r"""The text of consecutive tokens as the API spelled them: bytes split
    between ``bytes:`` tokens joined back into their characters (a
    character cut off at the end is U+FFFD); without such tokens, the
    tokens as they are (a lone surrogate JSON spelled stays, for the
    candidate's check to name).

    >>> _joined([" 東", "bytes:\\xe4", "bytes:\\xba\\xac"])
    ' 東京'
    """
    text = "".join(spelled)
    if "bytes:" not in text:
        return text
    text = "".join(_texts(spelled))
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate besides the bytes
        return text
    return raw.decode("utf-8", "replace")


#: What :func:`unwrap` gives for a Batch line whose request failed: an OpenAI
#: record still (so format detection picks this reader even when the failure
#: is on line 1), with nothing to score; :func:`convert_record` rejects the
#: line itself, naming the file, line and field.
_FAILED_REQUEST = {"choices": None}


def unwrap(record: Any) -> tuple[Any, Any]:
    """The completion inside a Batch API line (and its custom id), or as is.

    Never raises: it serves format detection, which has no line to name.
    """
    if not _is_batch_line(record):
        return record, None
    response = record["response"]
    body = response.get("body") if isinstance(response, dict) else None
    ok = isinstance(body, dict) and "choices" in body
    return (body if ok else _FAILED_REQUEST), record["custom_id"]


def _is_batch_line(record: Any) -> bool:
    return isinstance(record, dict) and "custom_id" in record and "response" in record


def _batch_body(record: dict) -> dict:
    """``response.body`` of a Batch line; a failed request is rejected."""
    if record["response"] is None and isinstance(record.get("error"), dict):
        raise DataFormatError(f"response: null -- {_failure(record['error'])}")
    response = field(record, "response", "", dict)
    body = field(response, "body", "response", dict)
    if "choices" not in body and isinstance(body.get("error"), dict):
        raise DataFormatError(
            f"response.body.error: {_failure(body['error'])} "
            f"(status {response.get('status_code')})"
        )
    return body


def _failure(error: dict) -> str:
    return f"the request failed: {error.get('message')!r}"


def convert_record(record: Any, location: str) -> Iterator[Prompt]:
    """The prompt of one OpenAI response (chat or legacy completions)."""
    if not isinstance(record, dict):
        raise DataFormatError("record: expected a JSON object")
    outer = record
    if _is_batch_line(record):
        record, prompt_id = _batch_body(record), outer["custom_id"]
        id_field = "custom_id"
    else:
        prompt_id, id_field = record.get("id"), "id"
    choices = field(record, "choices", "", list)
    if not choices:
        raise DataFormatError("choices: empty")
    candidates = tuple(_choice(choice, i, outer) for i, choice in enumerate(choices))
    yield Prompt(
        id=as_id(prompt_id, id_field, f"line {location.rsplit(':', 1)[-1]}"),
        candidates=candidates,
        text=optional(as_string, outer, "prompt", ""),
        source=location,
    )


def _choice(choice: Any, position: int, outer: dict) -> Candidate:
    where = f"choices[{position}]"
    logprobs = field(choice, "logprobs", where)
    if logprobs is None:
        raise DataFormatError(
            f"{where}.logprobs: null -- request the completion with logprobs "
            "(chat: logprobs=true; legacy: logprobs=N)"
        )
    if not isinstance(logprobs, dict):
        raise DataFormatError(f"{where}.logprobs: expected an object")
    index = as_id(choice.get("index"), f"{where}.index", position)
    if "content" in logprobs:
        return _chat_choice(choice, logprobs, f"{where}.logprobs", index)
    return _legacy_choice(logprobs, f"{where}.logprobs", index, outer)


def _chat_choice(choice: dict, logprobs: dict, where: str, index: str) -> Candidate:
    content = field(logprobs, "content", where, list)
    if not content:
        raise DataFormatError(f"{where}.content: empty -- the completion has no tokens")
    try:
        tokens, values, top_names, top_values, n_bytes = _chat_fast(content)
    except (KeyError, TypeError, ValueError, AttributeError):
        # something is off (DataFormatError is a ValueError too): walk the
        # fields one by one to name it
        tokens, values, top_names, top_values, n_bytes = _chat_checked(content, where)
    spelled, tokens = tokens, _texts(tokens)
    top_names = _alternatives_texts(top_names)
    message = choice.get("message") or {}
    text = message.get("content") if isinstance(message, dict) else None
    return Candidate(
        id=f"choice {index}",
        tokens=token_scores_from_alternatives(
            values, token=tokens, top_tokens=top_names, top_logprobs=top_values
        ),
        text=text if isinstance(text, str) else _joined(spelled),
        n_bytes=n_bytes,
    )


def _chat_fast(content: list):
    """Bulk extraction and checks in C; raises on anything unusual, so the
    caller re-checks field by field."""
    tokens = as_strings([item["token"] for item in content], "")
    values = as_logprobs([item["logprob"] for item in content], "")
    tops = [item["top_logprobs"] for item in content]
    if set(map(type, tops)) != {list}:  # "" or {} would pass as no alternatives
        raise TypeError("top_logprobs must be lists")
    top_names = [[alt["token"] for alt in top] for top in tops]
    as_strings(list(itertools.chain.from_iterable(top_names)), "")
    top_values = as_logprobs([[alt["logprob"] for alt in top] for top in tops], "", 2)
    n_bytes = _byte_total([item.get("bytes") for item in content])
    return tokens, values, top_names, top_values, n_bytes


def _byte_total(byte_lists: list):
    """The bytes of every token, or None when some token has none listed (a
    token without a byte representation); every list given is checked."""
    listed = [b for b in byte_lists if b is not None]
    if set(map(type, listed)) - {list}:
        raise TypeError("bytes must be lists")
    flat = list(itertools.chain.from_iterable(listed))
    n_bytes = len(as_integers(flat, "", 0, 255))
    return n_bytes if len(listed) == len(byte_lists) else None


def _chat_checked(content: list, where: str):
    tokens, values, top_names, top_values = [], [], [], []
    n_bytes: int | None = 0  # None once a token lists no bytes
    for t, item in enumerate(content):
        at = f"{where}.content[{t}]"
        tokens.append(field(item, "token", at, str))
        values.append(as_logprob(field(item, "logprob", at), f"{at}.logprob"))
        count = optional(_byte_count, item, "bytes", at)
        n_bytes = None if count is None or n_bytes is None else n_bytes + count
        names, numbers = _chat_top(item.get("top_logprobs"), f"{at}.top_logprobs")
        top_names.append(names)
        top_values.append(numbers)
    return tuple(tokens), np.array(values), tuple(top_names), tuple(top_values), n_bytes


def _byte_count(values: Any, where: str) -> int:
    """How many bytes a token's ``bytes`` (its UTF-8 bytes, 0..255) lists."""
    return len(as_integers(values, where, 0, 255))


def _chat_top(items: Any, where: str):
    if items is None:
        return (), np.zeros(0)
    if not isinstance(items, list):
        raise DataFormatError(f"{where}: expected a list")
    names = tuple(
        field(item, "token", f"{where}[{k}]", str) for k, item in enumerate(items)
    )
    values = np.array(
        [
            as_logprob(field(item, "logprob", f"{where}[{k}]"), f"{where}[{k}].logprob")
            for k, item in enumerate(items)
        ]
    )
    return names, values


def _legacy_choice(logprobs: dict, where: str, index: str, outer: dict) -> Candidate:
    tokens = as_strings(field(logprobs, "tokens", where), f"{where}.tokens")
    values = field(logprobs, "token_logprobs", where, list)
    if len(values) != len(tokens):
        raise DataFormatError(f"{where}: tokens and token_logprobs differ in length")
    start = _completion_start(logprobs, values, where, outer)
    if start >= len(tokens):
        raise DataFormatError(f"{where}: no completion tokens after the prompt")
    scored = as_logprobs(values[start:], f"{where}.token_logprobs[{start}:]")
    top_names, top_values = _legacy_tops(logprobs, len(tokens), start, where)
    spelled = tokens[start:]
    completion = _texts(spelled)
    if top_names is not None:
        top_names = tuple(_alternatives_texts(top_names))
    return Candidate(
        id=f"choice {index}",
        tokens=token_scores_from_alternatives(
            scored, token=completion, top_tokens=top_names, top_logprobs=top_values
        ),
        text=_joined(spelled),
    )


def _legacy_tops(logprobs: dict, n_tokens: int, start: int, where: str):
    """The completion's alternatives: ``top_logprobs[start:]``, or none."""
    top = logprobs.get("top_logprobs")
    if top is None:
        return None, None
    if not isinstance(top, list) or len(top) != n_tokens:
        raise DataFormatError(
            f"{where}.top_logprobs: expected a list with one entry per token"
        )
    steps = [
        _legacy_top(top[t], f"{where}.top_logprobs[{t}]")
        for t in range(start, n_tokens)
    ]
    return tuple(s[0] for s in steps), tuple(s[1] for s in steps)


def _legacy_top(step: Any, where: str):
    if step is None:
        return (), np.zeros(0)
    if not isinstance(step, dict):
        raise DataFormatError(f"{where}: expected an object {{token: logprob}}")
    return tuple(step), as_logprobs(list(step.values()), where)


def _completion_start(logprobs: dict, values: list, where: str, outer: dict) -> int:
    """Index of the first completion token (past an echoed prompt)."""
    if "n_context" in outer:
        return as_integer(outer["n_context"], "n_context", 0, len(values))
    prompt = optional(as_string, outer, "prompt", "")
    if prompt is not None:
        offsets = as_integers(
            field(logprobs, "text_offset", where), f"{where}.text_offset"
        )
        if len(offsets) != len(values):
            raise DataFormatError(
                f"{where}: text_offset and tokens differ in length "
                f"({len(offsets)} and {len(values)})"
            )
        # the first token that starts at or past the end of the prompt
        return next((t for t, o in enumerate(offsets) if o >= len(prompt)), len(values))
    if values and values[0] is None:
        raise DataFormatError(
            f"{where}.token_logprobs[0]: null -- this looks like an echoed prompt; "
            "give the record a 'prompt' (text) or 'n_context' (tokens) field so "
            "that only the completion is scored"
        )
    return 0
