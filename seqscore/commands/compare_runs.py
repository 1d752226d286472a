"""``seqscore compare-runs``: two lm-eval runs on the same documents."""

from __future__ import annotations

import click

from seqscore.commands.lmeval_options import bootstrap_options, task_option
from seqscore.commands.options import (
    command,
    output_option,
    report_format_option,
)
from seqscore.report.run_comparison import RENDER
from seqscore.report.writers import open_output
from seqscore.runs.lmeval import compare_runs


@command("compare-runs")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option(
    "--results-a",
    type=click.Path(dir_okay=False),
    help="A's results_<date>.json [default: the one beside A, if any].",
)
@click.option(
    "--results-b",
    type=click.Path(dir_okay=False),
    help="B's results_<date>.json [default: the one beside B, if any].",
)
@task_option()
@bootstrap_options()
@report_format_option()
@output_option()
def compare_runs_command(
    a,
    b,
    results_a,
    results_b,
    task,
    bootstrap,
    fmt,
    output,
):
    """Is run A really better than run B? Two lm-eval runs, document by document.

    A and B are samples files (samples_<task>_<date>.jsonl) of one task, say
    two models or two prompts, or two run folders (lm-eval's output paths),
    compared task by task. Documents are matched by doc_id and doc_hash; if
    they differ, the error lists what does not match. Runs of lm-eval before
    0.4.3 (<model_args>_<task>.jsonl) are paired by the task their results
    files say, or by --task.

    \b
    Per metric (acc, acc_norm, acc_bytes, acc_mutual_info):
      A, B, A - B  accuracies and their difference, with the standard error
                   of the per-document differences and a paired bootstrap
                   interval
      p            McNemar's exact test on the documents only one run gets
                   right
      flips        those documents
    And how alike the runs rank each document's choices: the same best
    choice, Kendall's tau, and Plackett-Luce agreement (B's rankings under
    A's log-likelihoods, between chance and A's own rankings).

    \b
    Examples:
      seqscore compare-runs runA/samples_arc_easy_*.jsonl runB/samples_arc_easy_*.jsonl
      seqscore compare-runs a.jsonl b.jsonl --format json --seed 3 -o diff.json
      seqscore compare-runs out/model-a out/model-b
    """
    comparisons = compare_runs(
        a,
        b,
        results_a=results_a,
        results_b=results_b,
        task=task,
        **bootstrap,
    )
    with open_output(output) as out:
        RENDER[fmt](comparisons, out)
