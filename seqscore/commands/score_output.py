"""How ``seqscore score`` shows its records: columns, table rows, notes and
the report of rejected records (for one file and for shards alike)."""

from __future__ import annotations

import click

from ..candidate_records import RECORD_FIELDS
from ..errors import DataFormatError
from ..formats.records import Rejected
from ..report.writers import Column, open_output, write_records

__all__ = ["LMEVAL_NOTE", "columns", "note_truncation", "report_rejects", "table_row"]


def columns(fmt: str, normalize: str, kind: str = "") -> list[Column]:
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


LMEVAL_NOTE = (
    "seqscore: lm-eval samples log each choice's total log-likelihood, not its "
    "tokens: mean, length_penalty, gnmt, perplexity and the weakest token are "
    "unavailable (empty / null)"
)


def table_row(record: dict) -> dict:
    """Add the table's compact columns: a label and the weakest token."""
    record["label"] = record["text"] if record["text"] else record["candidate"]
    if record["weakest_position"] is not None:  # None: only totals were logged
        position, logprob = record["weakest_position"], record["weakest_logprob"]
        record["weakest"] = f"{position}:{logprob:.2f}"
    return record


def report_rejects(rejected: list[Rejected], rejects: str | None, counts: dict) -> None:
    """Write the rejections (to ``rejects``, or stderr) and a summary; an
    error when nothing was scored."""
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


def note_truncation(tally, max_length: int | None) -> None:
    """A note on stderr when contexts were cut to fit the model."""
    if tally.truncated:
        click.echo(
            f"seqscore: note: {tally.truncated} of {tally.requests} requests had "
            f"their context cut from the left to fit the model's "
            f"{max_length} positions (as lm-eval does)",
            err=True,
        )
