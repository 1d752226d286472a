"""``seqscore preference``: chosen against rejected, under one or two models."""

from __future__ import annotations

import sys
from dataclasses import replace

import click

from seqscore.commands.options import (
    ModelSpec,
    choice_option,
    command,
    format_option,
    load_cli_model,
    model_options,
    model_scoring,
    output_option,
)
from seqscore.commands.score_output import note_unknown
from seqscore.formats.texts import read_preference_pairs
from seqscore.models.loglikelihood import ModelScoring
from seqscore.models.served import ServedOptions
from seqscore.numerics.reductions import RANKABLE
from seqscore.report.preference import write_preferences
from seqscore.report.writers import open_output
from seqscore.runs.preference import pair_scores, preference_summary, scored_pairs
from seqscore.runs.unknown import UnknownWords


@command("preference")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@model_options("builtin", texts=True)
@click.option(
    "--reference-model",
    type=ModelSpec(served=True),
    help="A reference model (same kinds as --model, with --model's hf and "
    "served options): adds DPO's implicit rewards beta * (log pi - log pi_ref).",
)
@click.option(
    "--beta",
    type=click.FloatRange(min=0, min_open=True),
    default=0.1,
    help="DPO's beta, the scale of the implicit rewards.",
)
@choice_option(
    "--normalize",
    choices=[r for r in RANKABLE if r != "pmi"],
    default="sum",
    help="The reduction that makes the margin: sum (total log-prob), mean, "
    "char, byte, length_penalty, gnmt (as in score).",
)
@format_option()
@output_option()
def preference_command(
    file,
    model_spec,
    batch_size,
    dtype,
    device,
    texts,
    max_prefix_cache,
    verbose,
    served,
    reference_model,
    beta,
    normalize,
    fmt,
    output,
):
    """Score preference pairs: does the model prefer the chosen response?

    FILE is JSON Lines in TRL's preference formats: {"prompt", "chosen",
    "rejected"} with texts or chat messages (a response given as messages is
    one assistant message), or "implicit prompt" pairs whose chosen and
    rejected are whole conversations sharing their first turns. Messages are
    rendered with the model's chat template (--chat-template, --system).

    \b
    Per pair:
      chosen, rejected   summed log-probs of each response after the prompt
      margin             chosen - rejected, by --normalize
      reward_margin      with --reference-model: DPO's beta * (log pi - log
                         pi_ref) of chosen minus that of rejected

    The summary: preference accuracy with a bootstrap interval, mean margin,
    length bias (how often the longer response scores higher; accuracy per
    token), and with a reference, DPO accuracy and the pairs where the two
    models disagree most. A prompt several pairs share runs once.

    \b
    Examples:
      seqscore preference pairs.jsonl --model hf:./policy
      seqscore preference pairs.jsonl --model hf:./policy --reference-model hf:./sft
      seqscore preference chats.jsonl --model hf:./chat --format json -o out.json
    """
    if texts.unconditional is not None:
        raise click.UsageError("--unconditional: not used by preference")
    job = model_scoring(
        model_spec,
        batch_size,
        dtype,
        device,
        served,
        texts=texts,
        max_prefix_cache=max_prefix_cache,
    )
    assert job is not None  # --model has a default
    model = load_cli_model(job, verbose)
    reference = None
    if reference_model is not None:
        reference = load_cli_model(_same_options(job, reference_model), verbose)
    unknown = UnknownWords.of(model)  # the policy's: it decides the margins
    with read_preference_pairs(file) as pairs:
        rows = []
        for mine, theirs in scored_pairs(model, reference, pairs, job.texts):
            if unknown is not None:
                unknown.add(mine)
            rows.append(pair_scores(mine, theirs, normalize, beta))
    summary = preference_summary(rows)
    with open_output(output) as out:
        records = [row.as_record() for row in rows]
        write_preferences(records, summary, fmt, out, sys.stderr)
    note_unknown(unknown)


def _same_options(job: ModelScoring, spec: str) -> ModelScoring:
    """The reference model's job: ``spec`` with the policy's options where
    they apply to its kind."""
    served = spec.startswith("openai:")
    return replace(
        job,
        spec=spec,
        served=job.served if served else ServedOptions(),
        batch_size=None if served else job.batch_size,
        dtype=None if served else job.dtype,
        device=None if served else job.device,
        max_prefix_cache=None if served else job.max_prefix_cache,
    )
