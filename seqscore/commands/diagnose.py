"""``seqscore diagnose``: why greedy decoding did not find the best sequence."""

from __future__ import annotations

import click
import numpy as np

from seqscore.commands.options import (
    REPORT_FORMATS,
    check_html,
    command,
    count_option,
    load_cli_model,
    model_options,
    report_format_option,
)
from seqscore.diagnostics.greedy_vs_best import diagnose, survey_greedy
from seqscore.models.corpus import sentence_starts
from seqscore.models.loglikelihood import ModelScoring
from seqscore.report.diagnosis import render_diagnosis, render_survey
from seqscore.report.pages import write_diagnosis_page, write_survey_page
from seqscore.report.plots import plot_diagnosis
from seqscore.report.writers import open_output

__all__ = ["diagnose_command"]


@command("diagnose")
@model_options("builtin")
@click.option(
    "-p",
    "--prompt",
    default="",
    help="The text to continue ('' = the start of a sentence).",
)
@count_option(
    "--max-tokens",
    at_least=1,
    default=12,
    help="Longest continuation considered.",
)
@count_option(
    "--beam",
    at_least=0,
    default=4,
    help="Also run a plain-sum beam search this wide (0: none).",
)
@count_option(
    "--budget",
    at_least=0,
    default=100_000,
    help="Node budget of the exact search (0: beam search only).",
)
@report_format_option((*REPORT_FORMATS, "html"))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write here; the file appears only on success.",
)
@count_option(
    "--survey",
    at_least=1,
    default=None,
    help="Instead of one prompt, diagnose N sentence starts drawn from held-out "
    "corpus text and report how often greedy is not the best, and its loss.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    help="Seed for drawing the --survey prompts.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also draw both paths into FILE.svg or FILE.png (needs seqscore[plot]).",
)
def diagnose_command(
    model_spec,
    batch_size,
    dtype,
    device,
    prompt,
    max_tokens,
    beam,
    budget,
    fmt,
    output,
    survey,
    seed,
    plot,
):
    """Explain why greedy decoding is not the most probable sequence.

    Decodes PROMPT greedily and finds the most probable continuation (exact
    best-first search, proven optimal unless the node budget runs out), then
    reports where the two part, what greedy gained there, what it paid back
    afterwards and why (the entropy of the distributions it met).

    \b
    Examples:
      seqscore diagnose --prompt "if the"
      seqscore diagnose --model tree:fixtures/textbook_tree.json
      seqscore diagnose --model hf:./my-gpt2 --prompt "Once upon" --beam 8
      seqscore diagnose --prompt "the" --format json -o report.json
      seqscore diagnose --prompt "the" --plot paths.svg
      seqscore diagnose --prompt "if the" --format html -o greedy.html
      seqscore diagnose --survey 50 --max-tokens 8 --budget 20000

    All numbers are natural-log probabilities (nats). Exit codes: 0 success,
    1 bad data (an unreadable tree file, a prompt the model cannot encode),
    2 bad usage.
    """
    check_html(fmt)
    if budget == 0 and beam == 0:
        raise click.UsageError("--budget 0 and --beam 0 leave nothing to search with")
    if plot is not None and not plot.lower().endswith((".svg", ".png", ".pdf")):
        raise click.BadParameter("must end in .svg, .png or .pdf", param_hint="--plot")
    if survey is not None and plot is not None:
        raise click.UsageError("--plot draws one prompt: drop it with --survey")
    model = load_cli_model(ModelScoring(model_spec, batch_size, dtype, device))
    if survey is not None:
        _survey(model, survey, seed, max_tokens, beam, budget, fmt, output)
        return
    result = diagnose(
        model, prompt, max_tokens=max_tokens, beam=beam, node_budget=budget
    )
    if plot is not None:
        plot_diagnosis(result, plot)
    with open_output(output) as out:
        if fmt == "html":
            write_diagnosis_page(result, out)
        else:
            out.write(render_diagnosis(result, fmt))


def _survey(model, count, seed, max_tokens, beam, budget, fmt, output) -> None:
    prompts = sentence_starts(count, rng=np.random.default_rng(seed))
    result = survey_greedy(
        model, prompts, max_tokens=max_tokens, beam=beam, node_budget=budget
    )
    with open_output(output) as out:
        if fmt == "html":
            write_survey_page(result, out)
        else:
            out.write(render_survey(result, fmt))
