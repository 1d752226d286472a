r"""Scoring requests: how a context and a continuation become token ids.

A :class:`Request` is what a language model scores: the ids of a context and
of a continuation. Its score is :math:`\sum_t \log p(x_t \mid c, x_{<t})`
over the continuation's ids :math:`x`, read from one forward pass over
``context + continuation[:-1]`` (the logits at position ``i`` predict token
``i + 1``).

:func:`encode_request` follows lm-evaluation-harness's ``loglikelihood``
rule exactly (``lm_eval/api/model.py``, ``TemplateLM``, 0.4.x):

1. whitespace at the end of the context moves to the start of the
   continuation (``"Question: ... Answer: "`` + ``"Paris"`` is scored as
   ``"... Answer:"`` + ``" Paris"``, the way a BPE tokenizer sees the word);
2. context and continuation are encoded *jointly*:
   ``whole = encode(context + continuation)``, ``ctx = encode(context)``,
   continuation ids = ``whole[len(ctx):]``, so a token that straddles the
   boundary is tokenised as the model would see it in running text;
3. ``encode`` adds whatever special tokens the tokenizer adds by itself
   (Llama's BOS, nothing for GPT-2), as lm-eval's ``tok_encode`` does,
   except that a text that already starts with the BOS string gets none;
4. an empty context becomes the model's prefix token (lm-eval's
   ``prefix_token_id``: BOS, else EOS) and the continuation is encoded
   without special tokens; if it already starts with that token, the token
   is the context. Models without a prefix token (the built-in model, logit
   trees) condition on the empty prefix itself.

:func:`fit_request` then truncates the context from the left so that the
model's input, ``context + continuation[:-1]``, fits its positions, keeping
the whole continuation (lm-eval's ``(context + continuation)[-(max_length +
1):][:-1]``); a continuation longer than the model's positions is an error.

:func:`rolling_requests` cuts a long document into windows that score every
token exactly once (lm-eval's ``loglikelihood_rolling`` windows when
``stride == window``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from seqscore.errors import InvalidInputError
from seqscore.numerics._arrays import check_integer

__all__ = [
    "Request",
    "continuation_offsets",
    "encode_request",
    "fit_request",
    "move_whitespace",
    "rolling_requests",
]


@dataclass(frozen=True)
class Request:
    """The token ids of a context and of the continuation to score after it.

    ``truncated`` counts the context ids that :func:`fit_request` dropped
    from the left to fit the model.
    """

    context: tuple[int, ...]
    continuation: tuple[int, ...]
    truncated: int = 0

    @property
    def input_length(self) -> int:
        """Positions the model reads: ``context + continuation[:-1]``."""
        return len(self.context) + len(self.continuation) - 1


def encode_request(model, context: str, continuation: str, where: str = "") -> Request:
    """The :class:`Request` for scoring ``continuation`` after ``context``,
    by lm-evaluation-harness's rule (see the module notes).

    ``where`` names the record in errors.

    >>> from seqscore.models.tree import textbook_tree
    >>> tree = textbook_tree()
    >>> encode_request(tree, "A ", "C <eos>")  # the space moves to the continuation
    Request(context=(0,), continuation=(2, 5), truncated=0)
    >>> encode_request(tree, "", "B C")  # no prefix token: the empty prefix
    Request(context=(), continuation=(1, 2), truncated=0)
    """
    prefix = _where(where)
    try:
        return _encode(model, context, continuation, prefix)
    except InvalidInputError as exc:  # the tokenizer's own complaint
        if prefix and not str(exc).startswith(prefix):
            raise InvalidInputError(f"{prefix}{exc}") from None
        raise


def _encode(model, context: str, continuation: str, prefix: str) -> Request:
    if not continuation:
        raise InvalidInputError(
            f"{prefix}the continuation is empty: an empty text has no score"
        )
    context, continuation = move_whitespace(context, continuation)
    if context:
        whole = list(model.encode(context + continuation))
        context_ids = list(model.encode(context))
        ids = whole[len(context_ids) :]
        if context_ids:
            return _request(context_ids, ids, prefix)
    else:
        ids = _encode_plain(model, continuation)
    start = getattr(model, "prefix_id", None)
    if start is None:
        return _request([], ids, prefix)
    if ids and ids[0] == start:
        return _request(ids[:1], ids[1:], prefix)
    return _request([start], ids, prefix)


def move_whitespace(context: str, continuation: str) -> tuple[str, str]:
    """Step 1 of lm-eval's rule: whitespace at the end of ``context`` moves
    to the start of ``continuation``.

    >>> move_whitespace("Answer: ", "Paris")
    ('Answer:', ' Paris')
    """
    spaces = len(context) - len(context.rstrip())
    if not spaces:
        return context, continuation
    return context[:-spaces], context[-spaces:] + continuation


def _encode_plain(model, text: str) -> list[int]:
    """``text``'s ids without special tokens, for models that add them
    (those with a ``prefix_id``); other models' ``encode`` adds none."""
    if getattr(model, "prefix_id", None) is None:
        return list(model.encode(text))
    return list(model.encode(text, add_special_tokens=False))


def _request(context: Sequence[int], continuation: Sequence[int], where: str):
    if not continuation:
        raise InvalidInputError(
            f"{where}the continuation encodes to no tokens (the tokenizer merged "
            "it into the context or dropped it): there is nothing to score"
        )
    return Request(tuple(map(int, context)), tuple(map(int, continuation)))


def continuation_offsets(
    model, context: str, continuation: str, request: Request
) -> list[tuple[int, int]] | None:
    """Each continuation token's characters ``[start, end)`` in
    ``continuation``, for a model whose tokenizer reports offsets
    (``encode_offsets``); None for other models.

    The ids of :func:`encode_request` are the last ones of the encoding of
    ``context + continuation`` (or of the continuation alone after an empty
    context), so their offsets are read from the same encoding, shifted to
    start at the continuation: a token that took the context's trailing
    space starts before 0.
    """
    encode = getattr(model, "encode_offsets", None)
    if encode is None:
        return None
    whole = context + continuation
    specials = None if context.rstrip() else False
    offsets = encode(whole, add_special_tokens=specials)[1]
    size = len(request.continuation)
    return [(a - len(context), b - len(context)) for a, b in offsets[-size:]]


def fit_request(request: Request, max_length: int | None, where: str = "") -> Request:
    """``request`` with its context cut from the left so that the model's
    input (``context + continuation[:-1]``) has at most ``max_length`` ids.

    At least one context id is kept whenever the request has one (it
    predicts the first continuation token).

    >>> fit_request(Request((1, 2, 3, 4), (5, 6)), 4)
    Request(context=(2, 3, 4), continuation=(5, 6), truncated=1)
    >>> fit_request(Request((1,), (5, 6, 7)), 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqscore.errors.InvalidInputError: the continuation has 3 tokens, more than ...
    """
    if max_length is None or request.input_length <= max_length:
        return request
    size = len(request.continuation)
    if size > max_length:
        raise InvalidInputError(
            f"{_where(where)}the continuation has {size} tokens, more than the "
            f"model's {max_length} positions: it cannot be scored whole"
        )
    keep = max_length + 1 - size
    return Request(
        request.context[-keep:],
        request.continuation,
        request.truncated + len(request.context) - keep,
    )


def rolling_requests(
    ids: Sequence[int], window: int, stride: int | None = None, prefix_id=None
) -> list[Request]:
    """Windows that score every token of ``ids`` exactly once.

    The first window scores ``ids[:window]`` after the prefix token (or the
    empty prefix when ``prefix_id`` is None); each later window scores the
    next ``stride`` tokens (default ``window``) conditioned on as many
    preceding tokens as fit: the model reads exactly ``window`` ids. With
    ``stride == window`` these are lm-eval's ``loglikelihood_rolling``
    windows (``get_rolling_token_windows`` with ``context_len=1``, made
    disjoint); with a smaller stride every token after the first window sees
    at least ``window - stride + 1`` tokens of context, like Hugging Face's
    strided perplexity (which gives each window one context token fewer and
    leaves the very first token unscored).

    >>> windows = rolling_requests(range(10), 4, prefix_id=99)
    >>> [(r.context, r.continuation) for r in windows]
    [((99,), (0, 1, 2, 3)), ((3,), (4, 5, 6, 7)), ((5, 6, 7), (8, 9))]
    >>> [(r.context, r.continuation) for r in rolling_requests(range(7), 4, 2)]
    [((), (0, 1, 2, 3)), ((1, 2, 3), (4, 5)), ((2, 3, 4, 5), (6,))]
    """
    window = check_integer(window, "window", minimum=1)
    stride = window if stride is None else check_integer(stride, "stride", minimum=1)
    if stride > window:
        raise InvalidInputError(
            f"stride ({stride}) must not exceed the window ({window}): tokens "
            "between windows would never be scored"
        )
    ids = tuple(map(int, ids))
    if not ids:
        return []
    start = () if prefix_id is None else (int(prefix_id),)
    end = min(window, len(ids))
    out = [Request(start, ids[:end])]
    while end < len(ids):
        stop = min(end + stride, len(ids))
        out.append(Request(ids[max(0, stop - 1 - window) : end], ids[end:stop]))
        end = stop
    return out


def _where(where: str) -> str:
    return f"{where}: " if where else ""
