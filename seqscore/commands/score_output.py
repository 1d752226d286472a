"""What ``seqscore score`` says on stderr: the rejected records and the
notes (for one file and for shards alike)."""

from __future__ import annotations

import click

from seqscore.commands.hints import HINTS
from seqscore.errors import DataFormatError, Rejected, rejection_message
from seqscore.report.readable import visible
from seqscore.report.rejects import rejection_record
from seqscore.report.writers import open_output, write_records
from seqscore.runs.unknown import UnknownWords

__all__ = ["note_truncation", "note_unknown", "report_rejects"]


def report_rejects(rejected: list[Rejected], rejects: str | None, counts: dict) -> None:
    """Write the rejections (to ``rejects``, or stderr) with the flags for
    their remedies, and a summary; an error when nothing was scored."""
    if not rejected:
        return
    if rejects:
        with open_output(rejects) as out:
            records = (rejection_record(r, HINTS) for r in rejected)
            write_records(records, [], "jsonl", out)
    else:
        for item in rejected:
            click.echo(f"seqscore: skipped {rejection_message(item, HINTS)}", err=True)
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


def note_unknown(unknown: UnknownWords | None) -> None:
    """One warning on stderr when candidates hit the model's unknown-word
    token: how many, how many of them tie for it, and a few as the model
    read them (``<unk>`` where a word was)."""
    if unknown is None or not unknown.hit:
        return
    shown = "; ".join(
        f"{prompt}/{candidate} reads '{' '.join(map(visible, texts))}'"
        for prompt, candidate, texts in unknown.examples
    )
    ties = (
        f" ({unknown.tied} here tie with another candidate of their prompt)"
        if unknown.tied
        else ""
    )
    click.echo(
        f"seqscore: warning: {unknown.hit} of {unknown.candidates} candidates "
        f"hold words the model does not know, each read as {unknown.token}: "
        f"candidates that differ only in such words tie{ties}. "
        f"For example: {shown}",
        err=True,
    )
