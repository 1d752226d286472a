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

:func:`read_echo` checks that shape, drops the generated token and finds
where each prompt token starts in the prompt (:func:`token_starts`): by
spelling the prompt with the tokens' own texts, from the end (servers
differ in what they echo before it: vLLM echoes a BOS token,
llama-cpp-python does not), else from ``text_offset`` where those offsets
agree with the text (a token holding part of a multi-byte character is
echoed as ``""`` by llama-cpp-python, so its tokens do not spell the
prompt, but its offsets are right). :func:`split_echo` then takes the
continuation's tokens: the last ``n`` of the prompt when a local tokenizer
counted them (lm-eval's rule, exactly), else those that start at or after
the end of the context; a token that spans that boundary is an error,
never a guess.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqscore.errors import InvalidInputError, ServerError

__all__ = ["Echo", "read_echo", "spelled_start", "split_echo", "token_starts"]


@dataclass(frozen=True)
class Echo:
    """The prompt's echoed tokens (without the generated one): each token's
    text, log-prob (None where the server gives none: the first), and
    alternatives ``{token: log-prob}`` (None where none); ``starts``: each
    token's first character in the prompt (-1 for tokens before it, such as
    an echoed BOS), None where neither spelling nor offsets tell."""

    tokens: tuple[str, ...]
    logprobs: tuple[float | None, ...]
    top: tuple[dict[str, float] | None, ...]
    starts: tuple[int, ...] | None
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
    tokens = [
        _text(t, f"{where}: tokens[{i}]") for i, t in enumerate(logprobs["tokens"])
    ]
    values = _aligned(logprobs, "token_logprobs", len(tokens), where, required=True)
    top = _aligned(logprobs, "top_logprobs", len(tokens), where)
    offsets = _offsets(logprobs.get("text_offset"), len(tokens))
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    end, starts = _prompt_end(
        tokens, offsets, prompt, _count(usage.get("completion_tokens")), where
    )
    return Echo(
        tokens=tuple(tokens[:end]),
        logprobs=tuple(
            _logprob(v, f"{where}: token_logprobs[{i}]")
            for i, v in enumerate(values[:end])
        ),
        top=tuple(
            _top(s, f"{where}: top_logprobs[{i}]") for i, s in enumerate(top[:end])
        ),
        starts=starts,
        prompt_tokens=_count(usage.get("prompt_tokens")),
    )


def _first_choice(body: Any, where: str) -> dict:
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ServerError(f"{where}: the answer has no choices: {str(body)[:200]}")
    return choices[0]


def _aligned(logprobs: dict, name: str, size: int, where: str, required=False):
    """``logprobs[name]``: a list with one entry per token (a missing
    ``top_logprobs`` is a list of None)."""
    values = logprobs.get(name)
    if values is None and not required:
        return [None] * size
    if not isinstance(values, list) or len(values) != size:
        raise ServerError(f"{where}: tokens and {name} differ in length")
    return values


def _offsets(values: Any, size: int) -> list[int] | None:
    """``text_offset`` when it is one integer per token, else None (it is
    then not used)."""
    if not isinstance(values, list) or len(values) != size:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return values


def _prompt_end(tokens, offsets, prompt: str, generated: int | None, where: str):
    """``(end, starts)``: where the prompt's tokens end and where each
    starts. The generated tokens come after them when the server echoes
    them at all (llama-cpp-python leaves them out unless it added BOS,
    while still counting them in ``usage``), and there may be more than
    the one ``max_tokens`` asks for (llama-cpp-python goes on while the
    first is part of a character). Of ``usage.completion_tokens``, 1 and 0,
    the first count that leaves tokens whose starts can be found wins;
    without one, ``usage`` is believed."""
    for count in dict.fromkeys([c for c in (generated, 1, 0) if c is not None]):
        if count > len(tokens):
            continue
        end = len(tokens) - count
        starts = token_starts(
            tokens[:end], None if offsets is None else offsets[:end], prompt
        )
        if starts is not None:
            return end, starts
    count = 1 if generated is None else generated
    if count > len(tokens):
        raise ServerError(
            f"{where}: usage.completion_tokens ({count}) exceeds the tokens echoed "
            f"({len(tokens)})"
        )
    return len(tokens) - count, None


def token_starts(tokens: Sequence[str], offsets, prompt: str) -> tuple[int, ...] | None:
    """Each token's first character in ``prompt`` (-1 for tokens echoed
    before it): by spelling, else from ``offsets`` where they agree with
    the text; None where neither works.

    >>> token_starts(["<s>", "The", " cat"], None, "The cat")
    (-1, 0, 3)
    >>> token_starts(["caf", "", "é"], [0, 3, 3], "café")  # "é" split in two
    (0, 3, 3)
    >>> token_starts(["caf", "x"], [0, 3], "café") is None  # "x" is not there
    True
    """
    start = spelled_start(tokens, prompt)
    if start is not None:
        lengths = np.cumsum([0, *map(len, tokens[start:])])[:-1]
        return (-1,) * start + tuple(int(x) for x in lengths)
    if offsets is None or not _offsets_agree(tokens, offsets, prompt):
        return None
    return tuple(offsets)


def _offsets_agree(tokens, offsets, prompt: str) -> bool:
    """Offsets that rise, put every token's text (those that have one)
    where the prompt has it, and reach the prompt's end: the last token
    ends there (a token echoed as ``""``, part of a character, covers the
    character it starts at)."""
    if not tokens or offsets[0] != 0:
        return False
    if any(b < a for a, b in itertools.pairwise(offsets)):
        return False
    if not all(
        prompt.startswith(t, o) for t, o in zip(tokens, offsets, strict=True) if t
    ):
        return False
    ends = (o + (len(t) or 1) for t, o in zip(tokens, offsets, strict=True))
    return max(ends) == len(prompt) and offsets[-1] < len(prompt)


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
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        raise ServerError(f"{where}: {value} is not a log-probability") from None
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
    """The continuation's ``(tokens, log-probs, alternatives, starts)``: the
    last ``count`` prompt tokens where a local tokenizer counted them, else
    the tokens that start at or after ``len(context)``.

    >>> echo = Echo(("The", " cat", " sat"), (None, -1.0, -2.0),
    ...             (None, {" cat": -1.0}, {" sat": -2.0}), (0, 3, 7), None)
    >>> split_echo(echo, "The cat sat", "The", None, "r")[0]
    (' cat', ' sat')
    >>> split_echo(echo, "The cat sat", "The ca", None, "r")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqscore.errors.InvalidInputError: r: the server's token ' cat' spans ...
    """
    if count is None:
        count = _count_after(echo, len(context), where)
    if not 0 < count <= len(echo.tokens):
        raise ServerError(
            f"{where}: the server echoed {len(echo.tokens)} prompt tokens, fewer "
            f"than the {count} of the continuation"
        )
    first = len(echo.tokens) - count
    values = echo.logprobs[first:]
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:  # this record's problem: the server can score others
        raise InvalidInputError(
            f"{where}: the server gives no log-prob for continuation token "
            f"{missing[0]} ({echo.tokens[first + missing[0]]!r}); servers leave out "
            "the first token of a prompt, so an empty context cannot be scored "
            "this way: give the record a context"
        )
    starts = None if echo.starts is None else echo.starts[first:]
    return (
        echo.tokens[first:],
        np.array(values, dtype=np.float64),
        echo.top[first:],
        starts,
    )


def _count_after(echo: Echo, boundary: int, where: str) -> int:
    """How many prompt tokens start at or after ``boundary``; a token that
    starts before it and ends after it is an error."""
    if echo.starts is None:
        raise ServerError(
            f"{where}: the server's tokens and offsets do not locate the prompt's "
            "characters: give --tokenizer PATH (the model's tokenizer) to find "
            "the continuation's tokens by count"
        )
    first = next(
        (i for i, s in enumerate(echo.starts) if s >= boundary), len(echo.starts)
    )
    # the continuation is not empty, so a last token that starts before the
    # boundary ends after it, as does one followed by a token after it
    if first > 0 and (first == len(echo.starts) or echo.starts[first] > boundary):
        raise InvalidInputError(
            f"{where}: the server's token {echo.tokens[first - 1]!r} spans the "
            "end of the context and the start of the continuation, so lm-eval's "
            "input (the context's own tokens, then the continuation's) is not "
            "the prompt's tokens: a server that tokenises the prompt whole "
            "cannot score it as lm-eval does; end the context at a word "
            "boundary, or score with --model hf:PATH"
        )
    return len(echo.starts) - first
