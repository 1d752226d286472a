"""Prompts to score records: the library function a reader maps over them.

One implementation for every way a file is scored (a single file, each shard
of a sharded run, on this machine or on Dask workers): :func:`score_item`
scores a prompt and reports it (:mod:`seqscore.report.scores`) where it is
read, :func:`collect_records` stops at or sets aside the rejections, in
input order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

from seqscore.errors import DataFormatError, Rejected, rejection_error
from seqscore.report.scores import score_record, token_detail
from seqscore.scoring.candidates import Prompt, score_prompt
from seqscore.scoring.words import word_surprisals

__all__ = ["collect_records", "score_item"]


def collect_records(results, on_error, rejected, counts):
    """The output records of :func:`score_item` results, stopping at the first
    rejection (``on_error="fail"``: a :class:`DataFormatError` naming it) or
    setting each aside in ``rejected``; ``counts`` tallies prompts and
    candidates."""
    for result in results:
        if isinstance(result, Rejected):
            if on_error == "fail":
                raise rejection_error(result)
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
        record = score_record(scored)
        tokens = candidate.tokens  # None: only the total was logged
        if "tokens" in detail:
            record["tokens"] = None if tokens is None else token_detail(tokens)
        if "words" in detail:
            words = None if tokens is None else word_surprisals(candidate)
            record["words"] = None if words is None else [asdict(w) for w in words]
        yield record
