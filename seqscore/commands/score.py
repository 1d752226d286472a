"""``seqscore score``: sequence scores, reductions and ranks of candidates."""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Iterator
from functools import partial

import click

from ..diagnostics import diagnose
from ..errors import DataFormatError
from ..formats.inputs import map_prompts
from ..formats.output import Column, open_output, write_records
from ..formats.records import Rejected
from ..models.builtin import load_builtin
from ..models.examples import example_prompts, scored_examples
from ..reductions import RANKABLE
from ..scoring import Prompt, score_prompt
from .options import (
    alpha_option,
    format_option,
    input_format_option,
    output_option,
    progress_callback,
    progress_option,
)

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


def _columns(fmt: str, normalize: str, kind: str = "") -> list[Column]:
    """Every field for programs; a readable subset for the table."""
    if fmt != "table":
        return [Column(name) for name in RECORD_FIELDS]
    return _table_columns(normalize, kind)


def _table_columns(normalize: str, kind: str = "") -> list[Column]:
    """Table columns; the ranking reduction is shown when it is not the sum
    (else the mean, or for lm-eval samples, which have no token counts, the
    per-character score: lm-eval's acc_norm)."""
    extra = normalize
    if normalize == "sum":
        extra = "char" if kind == "lmeval" else "mean"
    return [
        Column("prompt", width=11, align="<"),
        Column("label", "candidate", width=14, align="<"),
        Column("rank", width=4),
        Column("score", width=9, spec=".3f"),
        Column(extra, extra[:8], width=8, spec=".3f"),
        Column("probability", "p", width=6, spec=".3f"),
        Column("n_tokens", "tok", width=4),
        Column("is_greedy", "greedy", width=6),
        Column("weakest", width=10),
    ]


@click.command("score")
@click.argument(
    "file", required=False, type=click.Path(allow_dash=True, dir_okay=False)
)
@input_format_option()
@click.option(
    "--normalize",
    type=click.Choice(RANKABLE),
    default="sum",
    show_default=True,
    help="The reduction that ranks candidates: sum (total log-prob), mean (per "
    "token), char / byte (per character / UTF-8 byte, as lm-eval acc_norm / "
    "acc_bytes), length_penalty (sum / L^alpha, as Hugging Face), gnmt, pmi.",
)
@alpha_option()
@click.option("--sort", is_flag=True, help="List each prompt's candidates best first.")
@click.option("--top", type=click.IntRange(min=1), help="Keep the N best per prompt.")
@click.option(
    "--tokens",
    "with_tokens",
    is_flag=True,
    help="Add per-token detail (json and jsonl output).",
)
@format_option()
@output_option()
@click.option(
    "--on-error",
    type=click.Choice(["fail", "skip"]),
    default="fail",
    show_default=True,
    help="fail: stop at the first bad record (exit 1). skip: score the rest and "
    "report each bad record (to --rejects, or stderr).",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, writable=True),
    help="With --on-error skip: write rejected records and reasons here (JSONL).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that parse JSON Lines [default: every processor for inputs "
    "over 16 MB, else 1].",
)
@progress_option()
def score_command(
    file,
    input_format,
    normalize,
    alpha,
    sort,
    top,
    with_tokens,
    fmt,
    output,
    on_error,
    rejects,
    workers,
    progress,
):
    """Score candidate completions: total log-prob, reductions, rank, probability.

    FILE holds prompts with candidates, in any supported format: seqscore JSONL,
    OpenAI chat or legacy completions (with logprobs), vLLM outputs, or .npz
    logits (aligned, or raw causal-LM output scored with the shift rule). Use
    - for stdin. Without FILE, the built-in model scores packaged prompts with
    real sentence endings as candidates, and the table ends with one
    explanation of why greedy decoding misses the most probable sentence.

    \b
    Each candidate gets:
      score        sum of token log-probs: log P(candidate | prompt)
      rank         among its prompt's candidates, by --normalize
      p            softmax of the scores over the prompt's candidates
      greedy       every token was the most probable at its step
      weakest      position:log-prob of the least likely token

    \b
    Examples:
      seqscore score responses.jsonl --sort
      seqscore score run.npz --normalize mean --format csv -o scores.csv
      cat api_dump.jsonl | seqscore score - --on-error skip --rejects bad.jsonl
    """
    if rejects and on_error != "skip":
        raise click.UsageError("--rejects needs --on-error skip")
    if with_tokens and fmt not in ("json", "jsonl"):
        raise click.UsageError("--tokens needs --format json or jsonl")
    if rejects and output != "-" and _same_file(rejects, output):
        raise click.UsageError("--rejects and --output name the same file")
    rejected: list[Rejected] = []
    counts = {"prompts": 0, "candidates": 0}
    transform = partial(
        score_item,
        normalize=normalize,
        alpha=alpha,
        sort=sort,
        top=top,
        with_tokens=with_tokens,
    )
    with (
        progress_callback(progress, "scoring") as on_progress,
        _inputs(file, transform, input_format, on_progress, workers) as (
            kind,
            results,
        ),
        open_output(output) as out,
    ):
        records = _records(results, on_error, rejected, counts)
        if fmt == "table":
            records = map(_table_row, records)
        write_records(records, _columns(fmt, normalize, kind), fmt, out)
        if file is None and fmt == "table":
            out.write("\n" + _greedy_story() + "\n")
    if kind == "lmeval":
        click.echo(LMEVAL_NOTE, err=True)
    _report(rejected, rejects, counts)


LMEVAL_NOTE = (
    "seqscore: lm-eval samples log each choice's total log-likelihood, not its "
    "tokens: mean, length_penalty, gnmt, perplexity and the weakest token are "
    "unavailable (empty / null)"
)


@contextlib.contextmanager
def _inputs(file, transform, input_format, on_progress, workers):
    """``(format, transformed prompts)`` of FILE, or of the built-in example."""
    if file is None:
        yield "builtin", map(transform, scored_examples(load_builtin()))
        return
    with map_prompts(
        file, transform, input_format, on_progress, workers or "auto"
    ) as found:
        yield found


def _greedy_story() -> str:
    """Why greedy misses the best sentence, for the first example prompt
    where greedy and the best sequence both end and differ."""
    model = load_builtin()
    for example in example_prompts():
        d = diagnose(model, example.prompt, max_tokens=12)
        ended = d.greedy.decoded.finished and d.best.decoded.finished
        if d.diverge_step is not None and ended:
            heading = (
                f"Why greedy decoding misses the most probable sentence after "
                f"{example.prompt!r} (the built-in model; for the step table: "
                f"seqscore diagnose --prompt {example.prompt!r}):"
            )
            return "\n\n".join(
                textwrap.fill(text, 79) for text in (heading, d.explanation)
            )
    return "Greedy decoding finds the most probable sentence for every example."


def _records(results, on_error, rejected, counts):
    """The output records, stopping at or setting aside each rejection."""
    for result in results:
        if isinstance(result, Rejected):
            if on_error == "fail":
                raise DataFormatError(result.message())
            rejected.append(result)
            continue
        counts["prompts"] += 1
        counts["candidates"] += len(result)
        yield from result


def _same_file(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) or (
        os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    )


def score_item(item, *, normalize, alpha, sort, top, with_tokens):
    """A prompt's output records (or its rejection). Runs in worker processes."""
    if isinstance(item, Rejected):
        return item
    return list(_prompt_records(item, normalize, alpha, sort, top, with_tokens))


def _prompt_records(
    prompt: Prompt, normalize, alpha, sort, top, with_tokens
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
        if with_tokens:  # None: only the total was logged
            tokens = candidate.tokens
            record["tokens"] = None if tokens is None else _token_detail(tokens)
        yield record


def _table_row(record: dict) -> dict:
    """Add the table's compact columns: a label and the weakest token."""
    record["label"] = record["text"] if record["text"] else record["candidate"]
    if record["weakest_position"] is not None:  # None: only totals were logged
        position, logprob = record["weakest_position"], record["weakest_logprob"]
        record["weakest"] = f"{position}:{logprob:.2f}"
    return record


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


def _report(rejected: list[Rejected], rejects: str | None, counts: dict) -> None:
    if not rejected:
        return
    if rejects:
        with open_output(rejects) as out:
            write_records((r.record() for r in rejected), [], "jsonl", out)
    else:
        for item in rejected:
            click.echo(f"seqscore: skipped {item.message()}", err=True)
    where = f" (reasons in {rejects})" if rejects else ""
    click.echo(
        f"seqscore: scored {counts['prompts']} prompts ({counts['candidates']} "
        f"candidates); skipped {len(rejected)} bad records{where}",
        err=True,
    )
    if counts["prompts"] == 0:
        raise DataFormatError("every record was rejected; nothing was scored")
