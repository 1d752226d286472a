"""Reading a served model's echoed prompt: tokens, log-probs, the split.

A legacy completion asked with ``echo: true, logprobs: K, max_tokens: 1``
answers with the prompt's tokens and their log-probs, then the one token it
generated::

    {"choices": [{"text": "...", "logprobs": {
        "tokens": ["The", " cat", " sat", "."],
        "token_logprobs": [null, -5.1, -3.2, -0.9],
        "top_logprobs": [null, {" cat": -5.1, " dog": -4.0}, ...],
        "text_offset": [0, 3, 7, 11]}}],
     "usage": {"prompt_tokens": 3, "completion_tokens": 1}}

:func:`read_echo` checks that shape and drops the generated tokens
(``usage.completion_tokens`` of them, at the end). :func:`split_echo` then
finds the continuation's tokens: the last ``n`` of the prompt when a local
tokenizer counted them (lm-eval's rule, exactly), else those that start at
or after the context's last character, found by spelling the prompt with
the tokens' own texts. Servers differ in what they echo before the prompt
(vLLM echoes a BOS token, llama-cpp-python does not), so the tokens that
spell the prompt are found from the end, never assumed from offsets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqscore.errors import ServerError

__all__ = ["Echo", "read_echo", "spelled_start", "split_echo"]


@dataclass(frozen=True)
class Echo:
    """The prompt's echoed tokens (without the generated ones): each token's
    text, log-prob (None where the server gives none: the first), and
    alternatives ``{token: log-prob}`` (None where none)."""

    tokens: tuple[str, ...]
    logprobs: tuple[float | None, ...]
    top: tuple[dict[str, float] | None, ...]
    prompt_tokens: int | None  # usage.prompt_tokens, where given


def read_echo(body: Any, prompt: str, where: str) -> Echo:
    """The echoed ``prompt`` of the first choice of ``body``, checked."""
    choice = _first_choice(body, where)
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("tokens"), list):
        raise ServerError(
            f"{where}: the answer has no logprobs.tokens: this server does not "
            "echo prompt log-probs (echo + logprobs on /v1/completions)"
        )
    tokens = logprobs["tokens"]
    values = logprobs.get("token_logprobs")
    top = logprobs.get("top_logprobs")
    if not isinstance(values, list) or len(values) != len(tokens):
        raise ServerError(f"{where}: tokens and token_logprobs differ in length")
    if top is None:
        top = [None] * len(tokens)
    if not isinstance(top, list) or len(top) != len(tokens):
        raise ServerError(f"{where}: tokens and top_logprobs differ in length")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    end = _prompt_end(tokens, prompt, _count(usage.get("completion_tokens")), where)
    return Echo(
        tokens=tuple(
            _text(t, f"{where}: tokens[{i}]") for i, t in enumerate(tokens[:end])
        ),
        logprobs=tuple(
            _logprob(v, f"{where}: token_logprobs[{i}]")
            for i, v in enumerate(values[:end])
        ),
        top=tuple(
            _top(s, f"{where}: top_logprobs[{i}]") for i, s in enumerate(top[:end])
        ),
        prompt_tokens=_count(usage.get("prompt_tokens")),
    )


def _first_choice(body: Any, where: str) -> dict:
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ServerError(f"{where}: the answer has no choices: {str(body)[:200]}")
    return choices[0]


def _prompt_end(tokens: list, prompt: str, generated: int | None, where: str) -> int:
    """Where the prompt's tokens end: the generated token (at most one,
    ``max_tokens`` is 1) comes after them, when the server echoes it at all
    (llama-cpp-python leaves it out unless it added BOS, while still
    counting it in ``usage``). The count that leaves tokens spelling the
    prompt wins; without one that does, ``usage`` is believed."""
    texts = [t if isinstance(t, str) else "" for t in tokens]
    counts = dict.fromkeys([c for c in (generated, 1, 0) if c is not None])
    for count in counts:
        if (
            count <= len(texts)
            and spelled_start(texts[: len(texts) - count], prompt) is not None
        ):
            return len(texts) - count
    count = 1 if generated is None else generated
    if count > len(texts):
        raise ServerError(
            f"{where}: usage.completion_tokens ({count}) exceeds the tokens echoed "
            f"({len(texts)})"
        )
    return len(texts) - count


def _count(value: Any) -> int | None:
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0
        else None
    )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ServerError(f"{where}: expected a string, got {value!r}")
    return value


def _logprob(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ServerError(f"{where}: expected a number, got {value!r}")
    number = float(value)
    if math.isnan(number) or number > 1e-4:
        raise ServerError(f"{where}: {number!r} is not a log-probability")
    return min(number, 0.0)


def _top(value: Any, where: str) -> dict[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ServerError(f"{where}: expected an object {{token: logprob}}")
    out = {}
    for token, lp in value.items():
        number = _logprob(lp, f"{where}[{token!r}]")
        if number is None:
            raise ServerError(f"{where}[{token!r}]: null")
        out[str(token)] = number
    return out


def spelled_start(tokens: Sequence[str], text: str) -> int | None:
    """The index from which ``tokens`` spell ``text`` exactly (tokens
    before it, such as an echoed BOS, are not part of the text); None when
    no suffix of ``tokens`` spells it.

    >>> spelled_start(["<s>", "The", " cat"], "The cat")
    1
    >>> spelled_start(["The", " cat"], "The cat")
    0
    >>> spelled_start(["The", " ca"], "The cat") is None
    True
    """
    end = len(text)
    for index in range(len(tokens) - 1, -1, -1):
        if end == 0:
            return index + 1
        if not text.endswith(tokens[index], 0, end):
            return None
        end -= len(tokens[index])
    return 0 if end == 0 else None


def split_echo(echo: Echo, prompt: str, context: str, count: int | None, where: str):
    """The continuation's ``(tokens, log-probs, alternatives)``: the last
    ``count`` prompt tokens where a local tokenizer counted them, else the
    tokens that start at or after ``len(context)`` in the spelled prompt.

    >>> echo = Echo(("The", " cat", " sat"), (None, -1.0, -2.0),
    ...             (None, {" cat": -1.0}, {" sat": -2.0}), None)
    >>> split_echo(echo, "The cat sat", "The", None, "r")[0]
    (' cat', ' sat')
    >>> split_echo(echo, "The cat sat", "The ca", None, "r")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqscore.errors.ServerError: r: the server's token ' cat' spans ...
    """
    if count is None:
        count = _counted_by_spelling(echo.tokens, prompt, len(context), where)
    if not 0 < count <= len(echo.tokens):
        raise ServerError(
            f"{where}: the server echoed {len(echo.tokens)} prompt tokens, fewer "
            f"than the {count} of the continuation"
        )
    start = len(echo.tokens) - count
    values = echo.logprobs[start:]
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:
        raise ServerError(
            f"{where}: the server gives no log-prob for continuation token "
            f"{missing[0]} ({echo.tokens[start + missing[0]]!r}); servers leave out "
            "the first token of a prompt, so an empty context cannot be scored "
            "this way: give the record a context"
        )
    return echo.tokens[start:], np.array(values, dtype=np.float64), echo.top[start:]


def _counted_by_spelling(tokens, prompt: str, boundary: int, where: str) -> int:
    start = spelled_start(tokens, prompt)
    if start is None:
        raise ServerError(
            f"{where}: the server's tokens do not spell the prompt (bytes split "
            "between tokens?): give --tokenizer PATH (the model's tokenizer) to "
            "find the continuation's tokens by count"
        )
    position = 0
    for index in range(start, len(tokens)):
        if position >= boundary:
            return len(tokens) - index
        following = position + len(tokens[index])
        if following > boundary:
            raise ServerError(
                f"{where}: the server's token {tokens[index]!r} spans the end of "
                "the context and the start of the continuation; lm-eval's rule "
                "needs the context's own token count: give --tokenizer PATH"
            )
        position = following
    return 0
