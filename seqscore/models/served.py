"""A model behind an OpenAI-compatible server: ``--model openai:URL``.

vLLM, SGLang, llama-cpp-python, TGI and hosted APIs serve the legacy
``/v1/completions`` endpoint; asked with ``echo: true, logprobs: K,
max_tokens: 1, temperature: 0`` it returns the log-prob of every token of
the prompt. seqscore sends ``context + continuation`` as text (every server
takes text; llama-cpp-python refuses lists of ids) and reads the
continuation's log-probs from the echo (:mod:`.served_echo`), so a served
model scores candidates exactly as ``--model hf:`` does:

* the context/continuation split is lm-eval's rule: whitespace moves to the
  continuation, and the continuation is the last ``len(encode(context +
  continuation)) - len(encode(context))`` tokens, counted by the model's
  own tokenizer where ``--tokenizer PATH`` gives it, else found by spelling
  the prompt with the server's tokens (a token spanning the boundary is
  then an error, never a guess);
* ``is_greedy`` comes from each step's alternatives (``logprobs >= 1``:
  the best listed one is the argmax); ranks are unknown (a server lists
  only K alternatives), entropies too;
* before scoring, :func:`~seqscore.models.served_probe.probe_server` checks
  that the echoed log-probs line up with the server's own next-token
  distribution and refuses a server that fails.

Requests run ``concurrency`` at a time with retries (:mod:`.served_http`);
``cache`` keeps answers on disk so that an interrupted run resumes without
asking again (:mod:`.served_cache`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from seqscore.errors import InvalidInputError, SeqScoreError, ServerError
from seqscore.models._torch import transformers
from seqscore.models.hf_tokens import HFTokens
from seqscore.models.requests import encode_request, move_whitespace
from seqscore.models.served_cache import ResponseCache, request_key
from seqscore.models.served_echo import read_echo, split_echo
from seqscore.models.served_http import ServerClient, api_key_from_env, in_order
from seqscore.models.served_probe import probe_server
from seqscore.scoring.candidates import TokenScores

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ServedModel",
    "ServedOptions",
    "TextRequest",
    "load_served",
]

#: Requests in flight at once. A local server (llama-cpp-python) takes them
#: one by one, so more only queue there; vLLM and SGLang batch whatever is
#: in flight, and 8 keeps one GPU's batches full for short prompts.
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT = 120.0  # seconds per try
DEFAULT_RETRIES = 5

Progress = Callable[[int, int], None]

#: Why a pair whose context and continuation share a token is refused.
BOUNDARY_SPANNED = (
    "a token spans the end of the context and the start of the continuation, "
    "so lm-eval's input (the context's own tokens, then the continuation's) "
    "is not the prompt's tokens, and a server that tokenises the prompt "
    "whole cannot score it as lm-eval does: end the context at a word "
    "boundary, or score with --model hf:PATH"
)


@dataclass(frozen=True)
class ServedOptions:
    """How to reach and use a served model (the ``--served-model``,
    ``--api-key-env``, ``--tokenizer``, ``--concurrency``,
    ``--request-timeout``, ``--retries`` and ``--cache`` flags; None: the
    default)."""

    served_model: str | None = None
    api_key_env: str | None = None
    tokenizer: str | None = None
    concurrency: int | None = None
    request_timeout: float | None = None
    retries: int | None = None
    cache: str | None = None

    @property
    def given(self) -> list[str]:
        """The flags set (an error for models that are not served)."""
        return [
            "--" + name.replace("_", "-")
            for name, value in vars(self).items()
            if value is not None
        ]


@dataclass(frozen=True)
class TextRequest:
    """A continuation to score after a context, as the server will see it:
    ``prompt = context + continuation`` after lm-eval's whitespace move;
    ``start``: where the candidate's own text begins in the prompt.
    ``count`` and ``length`` are the continuation's and the prompt's token
    counts by the local tokenizer (None without one)."""

    context: str
    continuation: str
    start: int
    count: int | None = None
    length: int | None = None
    truncated: int = 0  # a served prompt is never cut: it fits or fails

    @property
    def prompt(self) -> str:
        return self.context + self.continuation


class ServedModel:
    """A model at ``url`` (``http://host:port/v1``) that scores
    :class:`TextRequest` s; build it with :func:`load_served`."""

    max_length = None  # the server says when a prompt is too long

    def __init__(self, url: str, options: ServedOptions, tokens=None):
        self.url = url.rstrip("/")
        self.options = options
        self.tokens = tokens  # HFTokens of --tokenizer, or None
        self.client = ServerClient(
            self.url,
            api_key=api_key_from_env(options.api_key_env),
            timeout=options.request_timeout or DEFAULT_TIMEOUT,
            retries=DEFAULT_RETRIES if options.retries is None else options.retries,
            connections=self.concurrency,
        )
        self.cache = None if options.cache is None else ResponseCache(options.cache)
        self.name = options.served_model or served_model_name(self.client)
        self.probe: Any = None  # the ProbeReport, set by load_served

    @property
    def tokenizer(self):
        """The ``--tokenizer`` (a Hugging Face tokenizer), or None: it renders
        chat templates (:mod:`seqscore.models.chat`)."""
        return None if self.tokens is None else self.tokens.tokenizer

    @property
    def concurrency(self) -> int:
        return self.options.concurrency or DEFAULT_CONCURRENCY

    # ------------------------------------------------------------ requests

    def text_request(self, context: str, continuation: str, where: str) -> TextRequest:
        """The request for ``continuation`` after ``context`` (lm-eval's rule;
        the local tokenizer's counts where there is one)."""
        if not continuation:
            raise InvalidInputError(
                f"{where}: the continuation is empty: an empty text has no score"
            )
        moved_context, moved = move_whitespace(context, continuation)
        if self.tokens is None:
            return TextRequest(moved_context, moved, len(context))
        ids = encode_request(self.tokens, context, continuation, where)
        sent = _without_bos_text(self.tokens, moved_context)
        _check_joint(self.tokens, sent + moved, ids, where)
        start = len(context) - (len(moved_context) - len(sent))
        size = len(ids.context + ids.continuation)
        return TextRequest(sent, moved, start, len(ids.continuation), size)

    def payload(self, prompt: str, *, echo: bool, logprobs: int) -> dict:
        """The body of a one-token completion of ``prompt``."""
        return {
            "model": self.name,
            "prompt": prompt,
            "echo": echo,
            "logprobs": logprobs,
            # never 0: llama-cpp-python reads max_tokens 0 as "no limit"
            "max_tokens": 1,
            "temperature": 0,
        }

    def completion(self, prompt: str, *, echo: bool, logprobs: int) -> Any:
        """The server's answer to a one-token completion of ``prompt``
        (from the cache when it has it)."""
        payload = self.payload(prompt, echo=echo, logprobs=logprobs)
        key = None if self.cache is None else request_key(self.url, self.name, payload)
        if key is not None and (found := self.cache.get(key)) is not None:  # type: ignore[union-attr]
            return found
        body = self.client.post("completions", payload)
        if key is not None:
            self.cache.put(key, body)  # type: ignore[union-attr]
        return body

    def request_scores(
        self,
        requests: Sequence[TextRequest],
        *,
        top_k: int = 0,
        labels: Sequence[str] | None = None,
        on_progress: Progress | None = None,
        refused: dict[int, str] | None = None,
    ) -> list[TokenScores | None]:
        """Each request's :class:`~seqscore.scoring.TokenScores`, in order;
        an error names the request's label (its record and candidate). With
        ``refused``, a request refused for what it is (an
        :class:`~seqscore.errors.InvalidInputError`: a token across the
        boundary, a prompt too long for the server) goes there as
        ``{index: reason}``, its scores None; the run goes on."""
        names = labels or [f"request {i}" for i in range(len(requests))]

        def score(index: int) -> TokenScores | None:
            try:
                return self._scores(requests[index], top_k, names[index])
            except InvalidInputError as exc:
                if refused is None:
                    raise InvalidInputError(f"{names[index]}: {exc}") from None
                refused[index] = str(exc)
                return None
            except SeqScoreError as exc:  # named by its record and candidate
                raise type(exc)(f"{names[index]}: {exc}") from None

        return in_order(score, len(requests), self.concurrency, on_progress)

    def _scores(self, request: TextRequest, top_k: int, where: str) -> TokenScores:
        body = self.completion(request.prompt, echo=True, logprobs=max(1, top_k))
        echo = read_echo(body, request.prompt, "the server's answer")
        if request.length is not None and echo.prompt_tokens not in (
            None,
            request.length,
        ):
            raise ServerError(
                f"the server counts {echo.prompt_tokens} prompt tokens where "
                f"--tokenizer counts {request.length}: they are not the same "
                "tokenizer"
            )
        tokens, logprobs, tops, starts = split_echo(
            echo, request.prompt, request.context, request.count, "the server's answer"
        )
        scores = _token_scores(tokens, logprobs, tops, top_k)
        if starts is None:
            return scores
        return replace(scores, offsets=_offsets(tokens, starts, request.start))

    def document_logprobs(
        self, documents: Sequence[tuple[str, str]], on_progress: Progress | None = None
    ) -> list[np.ndarray]:
        """Each ``(id, text)`` document's token log-probs, the document sent
        whole as one prompt (a served model takes text, not the token
        windows of a rolling pass): lm-eval's ``loglikelihood_rolling`` for
        a document that fits the server's context, where the server gives
        the first token's log-prob after BOS."""

        def score(index: int) -> np.ndarray:
            name, text = documents[index]
            try:
                return self._document(text)
            except SeqScoreError as exc:
                raise type(exc)(f"document {name!r}: {exc}") from None

        return in_order(score, len(documents), self.concurrency, on_progress)

    def _document(self, text: str) -> np.ndarray:
        if not text:
            raise InvalidInputError("the document is empty: it has no tokens")
        body = self.completion(text, echo=True, logprobs=1)
        echo = read_echo(body, text, "the server's answer")
        if echo.starts is None:
            raise ServerError(
                "the server's tokens and offsets do not locate the document's "
                "characters, so its tokens cannot be told from special ones"
            )
        values = echo.logprobs[echo.starts.count(-1) :]
        if values and values[0] is None:
            raise ServerError(
                "the server gives no log-prob for the document's first token "
                "(llama-cpp-python leaves it out even after BOS; a model that "
                "adds no BOS has none), which lm-eval's rolling log-likelihood "
                "scores after the prefix token: score documents with --model "
                "hf:PATH, or serve the model with vLLM, which gives it"
            )
        if any(v is None for v in values):
            raise ServerError("the server's echo has a token without a log-prob")
        return np.array(values, dtype=np.float64)

    def scoring_route(self, share_contexts: bool = True) -> str:
        """How requests are scored (for ``--verbose``)."""
        split = (
            "counted by --tokenizer"
            if self.tokens is not None
            else "found by spelling the prompt with the server's tokens"
        )
        cache = "" if self.cache is None else f"; answers cached in {self.cache.folder}"
        probe = f"; {self.probe.summary}" if self.probe is not None else ""
        return (
            f"served model {self.name!r} at {self.url}: one echoed completion per "
            f"candidate, {self.concurrency} at a time; continuation tokens "
            f"{split}{cache}{probe}"
        )

    def close(self) -> None:
        self.client.close()
        if self.cache is not None:
            self.cache.close()


def _without_bos_text(tokens, context: str) -> str:
    """``context`` without a leading BOS string (a chat template's
    ``{{ bos_token }}``) where the tokenizer adds BOS itself: the server adds
    its own, and would read the string as a second one."""
    if tokens.bos_id is None:
        return context
    text = tokens.decode([tokens.bos_id])
    adds = tokens.encode("a", add_special_tokens=True)[:1] == [tokens.bos_id]
    return (
        context[len(text) :] if adds and text and context.startswith(text) else context
    )


def _check_joint(tokens, prompt: str, request, where: str) -> None:
    """The server tokenises the prompt whole; lm-eval's input is the
    context's own ids then the continuation's. Where the two differ (a token
    spans the boundary, or an empty context's prefix token is not one the
    tokenizer adds), the server would condition on other tokens: refused."""
    if list(tokens.encode(prompt)) == [*request.context, *request.continuation]:
        return
    if request.context and request.context != (tokens.prefix_id,):
        raise InvalidInputError(f"{where}: {BOUNDARY_SPANNED}")
    raise InvalidInputError(
        f"{where}: lm-eval scores an empty context after the prefix token "
        f"(id {tokens.prefix_id}), which this tokenizer does not add to a "
        "prompt: a served model cannot score it as lm-eval does; give the "
        "record a context"
    )


def _token_scores(tokens, logprobs, tops, top_k: int) -> TokenScores:
    """TokenScores of the continuation: ``is_argmax`` from each step's best
    listed alternative, where every step lists some and names its token
    (else None: greediness unknown, never guessed)."""
    best = [max(step.values()) if step else None for step in tops]
    # a token echoed as "" (part of a multi-byte character) shares its key
    # with other such tokens, and llama-cpp-python writes the token's own
    # log-prob over theirs: its step's best alternative is unknown
    known = all(b is not None for b in best) and all(tokens)
    is_argmax = (
        np.array([lp >= b for lp, b in zip(logprobs, best, strict=True)])
        if known
        else None
    )
    top_tokens = top_logprobs = None
    if top_k and known:
        ranked = [sorted(step.items(), key=lambda kv: -kv[1])[:top_k] for step in tops]
        top_tokens = tuple(tuple(k for k, _ in step) for step in ranked)
        top_logprobs = tuple(np.array([v for _, v in step]) for step in ranked)
    return TokenScores(
        logprob=logprobs,
        token=tuple(tokens),
        is_argmax=is_argmax,
        argmax_logprob=np.maximum(np.array(best, dtype=float), logprobs)
        if known
        else None,
        top_tokens=top_tokens,
        top_logprobs=top_logprobs,
    )


def _offsets(tokens, starts, text_start: int) -> np.ndarray:
    """Each token's characters ``[start, end)`` in the candidate's text
    (which begins at ``text_start`` in the prompt; a token may start before
    it: the context's space)."""
    begin = np.array(starts, dtype=np.int64) - text_start
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    return np.stack([begin, begin + lengths], axis=1)


def served_model_name(client: ServerClient) -> str:
    """The server's only model (``GET /models``); several is an error that
    lists them."""
    body = client.get("models")
    data = body.get("data") if isinstance(body, dict) else None
    listed = [m.get("id") for m in data or [] if isinstance(m, dict)]
    names: list[str] = [n for n in listed if isinstance(n, str)]
    if len(names) == 1:
        return names[0]
    if not names:
        raise ServerError(
            f"GET {client.base_url}/models lists no models: name one with "
            "--served-model"
        )
    shown = ", ".join(names[:10])
    raise ServerError(
        f"the server serves {len(names)} models ({shown}): choose one with "
        "--served-model NAME"
    )


def load_served(url: str, options: ServedOptions | None = None) -> ServedModel:
    """The served model at ``url``, probed (see
    :func:`~seqscore.models.served_probe.probe_server`)."""
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(
            f"openai:{url}: give the server's URL, e.g. openai:http://127.0.0.1:8000/v1"
        )
    options = options or ServedOptions()
    model = ServedModel(url, options, _local_tokens(options.tokenizer))
    model.probe = probe_server(model)
    return model


def _local_tokens(path: str | None):
    """The tokenizer at ``path`` (``--tokenizer``) as seqscore's HFTokens."""
    if path is None:
        return None
    try:
        tokenizer = transformers().AutoTokenizer.from_pretrained(
            path, local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"--tokenizer {path}: {exc}") from None
    return HFTokens(None, tokenizer)
