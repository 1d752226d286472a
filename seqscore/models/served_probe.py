"""Checking a server before trusting its numbers.

Servers have alignment bugs that make every score silently wrong:
llama-cpp-python 0.3.x pairs each echoed prompt token with the log-prob
row *after* it when the prompt does not start with BOS (its issues #1276,
#1983). One probe catches that class of bug without knowing the model:

1. the probe text is echoed with its log-probs; its tokens must spell the
   text exactly (else the split between context and continuation cannot
   be trusted without ``--tokenizer``);
2. at two word boundaries ``k``, the server *generates* one token after
   the first ``k`` tokens' text: the distribution it reports for that
   token is the model's next-token distribution after that prefix, which
   the echo must report at step ``k`` too. A shifted echo reports the
   distribution one step later: different tokens, different numbers;
3. with ``--tokenizer``, the server's prompt-token count must equal the
   local tokenizer's.

The probe costs three small requests, never cached (a server upgraded
under a cache is probed afresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seqscore.errors import SeqScoreError, ServerError
from seqscore.models.served_echo import read_echo

__all__ = ["PROBE_TEXT", "ProbeReport", "probe_server"]

PROBE_TEXT = (
    "The old lighthouse keeper climbed the stairs every evening, lit the lamp, "
    "and watched the ships pass slowly through the narrow channel."
)

#: Alternatives asked per step in the probe (OpenAI's legacy API allows 5).
PROBE_LOGPROBS = 5

#: Largest difference (nats) between the echoed and generated log-prob of a
#: token at the same step. The two come from different passes (the whole
#: probe, then a prefix), which agree to ~1e-5 in float32 and ~1e-2 in
#: bfloat16; a shifted echo is off by whole nats.
ALIGNMENT_TOLERANCE = 0.1


@dataclass(frozen=True)
class ProbeReport:
    """What the probe found: the positions checked and the largest
    difference between echoed and generated log-probs there."""

    tokens: int
    positions: tuple[int, ...]
    largest_difference: float

    @property
    def summary(self) -> str:
        return (
            f"probe: {self.tokens} tokens echoed, next-token distributions at "
            f"steps {', '.join(map(str, self.positions))} agree within "
            f"{self.largest_difference:.1e} nats"
        )


def probe_server(model) -> ProbeReport:
    """Check ``model`` (a :class:`~seqscore.models.served.ServedModel`) on
    :data:`PROBE_TEXT`; a :class:`ServerError` says what is wrong."""
    where = f"{model.url} ({model.name})"
    body = _echoed(model, where)
    echo = read_echo(body, PROBE_TEXT, f"{where}: probe")
    start = None if echo.starts is None else echo.starts.count(-1)
    if start is None:
        raise ServerError(
            f"{where}: the probe's echoed tokens do not spell its text "
            f"({''.join(echo.tokens)[:80]!r}...): the server's echo cannot be "
            "trusted to split context from continuation"
        )
    _check_count(model, echo, where)
    positions = _word_starts(echo.tokens, start)
    largest = max(_difference(model, echo, start, k, where) for k in positions)
    return ProbeReport(len(echo.tokens) - start, tuple(positions), largest)


def _echoed(model, where: str) -> Any:
    try:
        return model.client.post(
            "completions", model.payload(PROBE_TEXT, echo=True, logprobs=PROBE_LOGPROBS)
        )
    except SeqScoreError as exc:  # a 404, or a 400 refusing echo or logprobs
        raise ServerError(
            f"{where}: this server does not echo prompt log-probs on "
            f"/v1/completions ({exc}). seqscore needs the log-prob of every "
            "prompt token, which chat endpoints (/v1/chat/completions) do not "
            "give: serve the model with vLLM, SGLang or llama-cpp-python, "
            "whose /v1/completions echo them, or score it locally with "
            "--model hf:PATH"
        ) from None


def _check_count(model, echo, where: str) -> None:
    if model.tokens is None or echo.prompt_tokens is None:
        return
    local = len(model.tokens.encode(PROBE_TEXT))
    if local != echo.prompt_tokens:
        raise ServerError(
            f"{where}: the server counts {echo.prompt_tokens} tokens in the probe "
            f"text, --tokenizer counts {local}: give the served model's own "
            "tokenizer"
        )


def _word_starts(tokens, start: int) -> list[int]:
    """Two steps to check: tokens that begin a word (so the prefix's text
    ends without a space, as the server will tokenise it alone), one early
    and one late."""
    steps = [
        k
        for k in range(start + 2, len(tokens))
        if tokens[k].startswith(" ") and tokens[k].strip()
    ]
    if not steps:
        raise ServerError(
            "the probe text's tokens have no word starts: is this a text model?"
        )
    return sorted({steps[0], steps[-1]})


def _difference(model, echo, start: int, step: int, where: str) -> float:
    """The largest difference between the echo's alternatives at ``step``
    and those the server generates after the text before it."""
    prefix = "".join(echo.tokens[start:step])
    body = model.client.post(
        "completions", model.payload(prefix, echo=False, logprobs=PROBE_LOGPROBS)
    )
    generated = _generated_alternatives(body, where)
    echoed = echo.top[step]
    if not echoed:
        raise ServerError(
            f"{where}: the probe's echo lists no alternatives at step {step}"
        )
    shared = set(echoed) & set(generated)
    best = max(generated, key=generated.__getitem__)
    if best not in echoed or not shared:
        raise _misaligned(where, step, echo.tokens[step], echoed, generated)
    difference = max(abs(echoed[t] - generated[t]) for t in shared)
    if difference > ALIGNMENT_TOLERANCE:
        raise _misaligned(where, step, echo.tokens[step], echoed, generated)
    return difference


def _generated_alternatives(body: Any, where: str) -> dict[str, float]:
    try:
        top = body["choices"][0]["logprobs"]["top_logprobs"][0]
    except (KeyError, IndexError, TypeError):
        raise ServerError(
            f"{where}: a one-token completion with logprobs came back without "
            "top_logprobs"
        ) from None
    if not isinstance(top, dict) or not top:
        raise ServerError(f"{where}: a generated token has no alternatives")
    return {str(k): float(v) for k, v in top.items()}


def _misaligned(where, step, token, echoed, generated) -> ServerError:
    def show(alternatives):
        best = sorted(alternatives.items(), key=lambda kv: -kv[1])[:3]
        return ", ".join(f"{t!r}: {v:.3f}" for t, v in best)

    return ServerError(
        f"{where}: the echoed log-probs are misaligned: before token {step} "
        f"({token!r}) the echo lists {{{show(echoed)}}} but the server itself "
        f"predicts {{{show(generated)}}}. Its prompt log-probs would be "
        "silently wrong (llama-cpp-python 0.3.x shifts them by one token when "
        "the prompt does not start with BOS: serve a model whose tokenizer adds "
        "BOS, or use another server)"
    )
