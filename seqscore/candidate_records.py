"""The output records of ``seqscore score``: one flat dict per candidate.

One implementation for every way a file is scored (a single file, each shard
of a sharded run, on this machine or on Dask workers): :func:`score_item`
turns a prompt into its records where it is read, :func:`collect_records`
stops at or sets aside the rejections, in input order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

from .errors import DataFormatError
from .formats.records import Rejected
from .scoring import Prompt, score_prompt
from .words import word_surprisals

__all__ = ["RECORD_FIELDS", "RECORD_TYPES", "collect_records", "score_item"]

#: Every field of a record, in output order (the csv and parquet columns).
RECORD_FIELDS = (
    "prompt",
    "candidate",
    "rank",
    "score",
    "mean",
    "char",
    "byte",
    "length_penalty",
    "gnmt",
    "perplexity",
    "bits_per_byte",
    "pmi",
    "probability",
    "n_tokens",
    "n_chars",
    "n_bytes",
    "is_greedy",
    "weakest_position",
    "weakest_token",
    "weakest_logprob",
    "ranked_by",
    "text",
)


#: The type of each field's non-null values (the parquet columns' types).
RECORD_TYPES = {
    **dict.fromkeys(("prompt", "candidate", "weakest_token", "ranked_by", "text"), str),
    **dict.fromkeys(
        ("rank", "n_tokens", "n_chars", "n_bytes", "weakest_position"), int
    ),
    "is_greedy": bool,
    **dict.fromkeys(
        (
            "score",
            "mean",
            "char",
            "byte",
            "length_penalty",
            "gnmt",
            "perplexity",
            "bits_per_byte",
            "pmi",
            "probability",
            "weakest_logprob",
        ),
        float,
    ),
}


def collect_records(results, on_error, rejected, counts):
    """The output records of :func:`score_item` results, stopping at the first
    rejection (``on_error="fail"``: a :class:`DataFormatError` naming it) or
    setting each aside in ``rejected``; ``counts`` tallies prompts and
    candidates."""
    for result in results:
        if isinstance(result, Rejected):
            if on_error == "fail":
                raise DataFormatError(result.message())
            rejected.append(result)
            continue
        counts["prompts"] += 1
        counts["candidates"] += len(result)
        yield from result


def score_item(item, *, normalize, alpha, sort, top, detail=()):
    """A prompt's output records (or its rejection); ``detail`` names the
    extras each record gets ("tokens", "words"). Runs in worker processes."""
    if isinstance(item, Rejected):
        return item
    return list(_prompt_records(item, normalize, alpha, sort, top, detail))


def _prompt_records(
    prompt: Prompt, normalize, alpha, sort, top, detail
) -> Iterator[dict]:
    try:
        scores = score_prompt(prompt, normalize, alpha)
    except DataFormatError:
        raise
    except ValueError as exc:
        raise DataFormatError(f"{prompt.source or prompt.id}: {exc}") from None
    pairs = list(zip(scores, prompt.candidates, strict=True))
    if sort or top:
        pairs.sort(key=lambda pair: pair[0].rank)
    if top:
        pairs = [pair for pair in pairs if pair[0].rank <= top]
    for scored, candidate in pairs:
        record = scored.record()
        tokens = candidate.tokens  # None: only the total was logged
        if "tokens" in detail:
            record["tokens"] = None if tokens is None else _token_detail(tokens)
        if "words" in detail:
            words = None if tokens is None else word_surprisals(candidate)
            record["words"] = None if words is None else [asdict(w) for w in words]
        yield record


def _token_detail(tokens) -> list[dict]:
    detail = []
    for t, logprob in enumerate(tokens.logprob):
        step = {"logprob": float(logprob)}
        if tokens.token is not None:
            step["token"] = tokens.token[t]
        if tokens.token_id is not None:
            step["token_id"] = int(tokens.token_id[t])
        for name in ("rank", "is_argmax", "argmax_id", "argmax_logprob", "entropy"):
            values = getattr(tokens, name)
            if values is not None:
                step[name] = values[t].item()
        if tokens.top_logprobs is not None:
            step["top"] = [
                [name, float(value)]
                for name, value in zip(
                    tokens.top_tokens[t], tokens.top_logprobs[t], strict=True
                )
            ]
        detail.append(step)
    return detail
