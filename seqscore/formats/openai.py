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
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import DataFormatError
from ..scoring import Candidate, Prompt
from .jsonl import token_scores
from .records import as_number, as_numbers, field

__all__ = ["convert_record", "unwrap"]


def unwrap(record: Any) -> tuple[Any, str | None]:
    """The completion inside a Batch API line (and its custom id), or as is."""
    if isinstance(record, dict) and "custom_id" in record and "response" in record:
        body = field(field(record, "response", "", dict), "body", "response", dict)
        return body, str(record["custom_id"])
    return record, None


def convert_record(record: Any, location: str) -> Iterator[Prompt]:
    """The prompt of one OpenAI response (chat or legacy completions)."""
    outer = record
    record, custom_id = unwrap(record)
    choices = field(record, "choices", "", list)
    if not choices:
        raise DataFormatError("choices: empty")
    candidates = tuple(
        _choice(choice, f"choices[{i}]", outer) for i, choice in enumerate(choices)
    )
    prompt_id = custom_id or record.get("id") or f"line {location.rsplit(':', 1)[-1]}"
    yield Prompt(
        id=str(prompt_id),
        candidates=candidates,
        text=outer.get("prompt") if isinstance(outer.get("prompt"), str) else None,
        source=location,
    )


def _choice(choice: Any, where: str, outer: dict) -> Candidate:
    logprobs = field(choice, "logprobs", where)
    if logprobs is None:
        raise DataFormatError(
            f"{where}.logprobs: null -- request the completion with logprobs "
            "(chat: logprobs=true; legacy: logprobs=N)"
        )
    if not isinstance(logprobs, dict):
        raise DataFormatError(f"{where}.logprobs: expected an object")
    index = choice.get("index", where)
    if "content" in logprobs:
        return _chat_choice(choice, logprobs, f"{where}.logprobs", index)
    return _legacy_choice(choice, logprobs, f"{where}.logprobs", index, outer)


def _chat_choice(choice: dict, logprobs: dict, where: str, index) -> Candidate:
    content = field(logprobs, "content", where, list)
    if not content:
        raise DataFormatError(f"{where}.content: empty -- the completion has no tokens")
    try:
        tokens, values, top_names, top_values, n_bytes = _chat_fast(content)
    except (KeyError, TypeError, ValueError, AttributeError):
        # something is off: walk the fields one by one to name it
        tokens, values, top_names, top_values, n_bytes = _chat_checked(content, where)
    message = choice.get("message") or {}
    text = message.get("content") if isinstance(message, dict) else None
    return Candidate(
        id=f"choice {index}",
        tokens=token_scores(
            values, token=tokens, top_tokens=top_names, top_logprobs=top_values
        ),
        text=text if isinstance(text, str) else "".join(tokens),
        n_bytes=n_bytes,
    )


def _chat_fast(content: list):
    """Bulk extraction; raises on anything unusual, so the caller re-checks."""
    tokens = [item["token"] for item in content]
    values = np.array([item["logprob"] for item in content])
    top_names = [[alt["token"] for alt in item["top_logprobs"]] for item in content]
    top_values = np.array(
        [[alt["logprob"] for alt in item["top_logprobs"]] for item in content]
    )
    ok = (
        values.dtype.kind in "fi"
        and top_values.dtype.kind in "fi"
        and top_values.ndim == 2
        and set(map(type, tokens)) == {str}
        and not np.isnan(values.sum() + top_values.sum())
    )
    if not ok:
        raise ValueError("needs the field-by-field check")
    byte_lists = [item.get("bytes") for item in content]
    n_bytes = None if None in byte_lists else sum(map(len, byte_lists))
    values, top_values = values.astype(float), top_values.astype(float)
    return tuple(tokens), values, top_names, top_values, n_bytes


def _chat_checked(content: list, where: str):
    tokens, values, n_bytes, top_names, top_values = [], [], 0, [], []
    for t, item in enumerate(content):
        at = f"{where}.content[{t}]"
        tokens.append(field(item, "token", at, str))
        values.append(as_number(field(item, "logprob", at), f"{at}.logprob"))
        raw = item.get("bytes")
        n_bytes = None if raw is None or n_bytes is None else n_bytes + len(raw)
        names, numbers = _chat_top(item.get("top_logprobs"), f"{at}.top_logprobs")
        top_names.append(names)
        top_values.append(numbers)
    return tuple(tokens), np.array(values), tuple(top_names), tuple(top_values), n_bytes


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
            as_number(field(item, "logprob", f"{where}[{k}]"), f"{where}[{k}].logprob")
            for k, item in enumerate(items)
        ]
    )
    return names, values


def _legacy_choice(choice: dict, logprobs: dict, where: str, index, outer) -> Candidate:
    tokens = field(logprobs, "tokens", where, list)
    values = field(logprobs, "token_logprobs", where, list)
    if len(values) != len(tokens):
        raise DataFormatError(f"{where}: tokens and token_logprobs differ in length")
    start = _completion_start(logprobs, values, where, outer)
    if start >= len(tokens):
        raise DataFormatError(f"{where}: no completion tokens after the prompt")
    scored = as_numbers(values[start:], f"{where}.token_logprobs[{start}:]")
    top = logprobs.get("top_logprobs")
    top_names = top_values = None
    if isinstance(top, list) and len(top) == len(tokens):
        steps = [
            _legacy_top(top[t], f"{where}.top_logprobs[{t}]")
            for t in range(start, len(tokens))
        ]
        top_names = tuple(s[0] for s in steps)
        top_values = tuple(s[1] for s in steps)
    completion = tuple(str(t) for t in tokens[start:])
    return Candidate(
        id=f"choice {index}",
        tokens=token_scores(
            scored, token=completion, top_tokens=top_names, top_logprobs=top_values
        ),
        text="".join(completion),
    )


def _legacy_top(step: Any, where: str):
    if step is None:
        return (), np.zeros(0)
    if not isinstance(step, dict):
        raise DataFormatError(f"{where}: expected an object {{token: logprob}}")
    return tuple(step), as_numbers(list(step.values()), where)


def _completion_start(logprobs: dict, values: list, where: str, outer: dict) -> int:
    """Index of the first completion token (past an echoed prompt)."""
    if "n_context" in outer:
        n_context = field(outer, "n_context", "", int)
        if not 0 <= n_context <= len(values):
            raise DataFormatError(
                f"n_context: {n_context} is outside [0, {len(values)}]"
            )
        return n_context
    if isinstance(outer.get("prompt"), str):
        offsets = field(logprobs, "text_offset", where, list)
        boundary = len(outer["prompt"])
        return next((t for t, o in enumerate(offsets) if o >= boundary), len(offsets))
    if values and values[0] is None:
        raise DataFormatError(
            f"{where}.token_logprobs[0]: null -- this looks like an echoed prompt; "
            "give the record a 'prompt' (text) or 'n_context' (tokens) field so "
            "that only the completion is scored"
        )
    return 0
