"""``seqscore evaluate``: re-derive, check and report lm-eval accuracies."""

from __future__ import annotations

import click

from seqscore.commands.lmeval_options import bootstrap_options, task_option
from seqscore.commands.options import (
    REPORT_FORMATS,
    check_html,
    command,
    output_option,
    progress_callback,
    progress_option,
    report_format_option,
)
from seqscore.formats.lmeval_results import is_results_file
from seqscore.report.evaluation import RENDER
from seqscore.report.pages import listed_locations, write_evaluation_page
from seqscore.report.writers import open_output
from seqscore.runs.lmeval import evaluate, listed_documents, samples_files


@command("evaluate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option(
    "--results",
    type=click.Path(dir_okay=False),
    help="The run's results_<date>.json [default: the one beside each samples "
    "file, if any].",
)
@click.option(
    "--no-results", is_flag=True, help="Check no results file, even one beside."
)
@task_option()
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when the run is inconsistent (a logged metric, hash or "
    "results-file figure does not follow from the log-likelihoods).",
)
@click.option(
    "--doc-hashes",
    is_flag=True,
    help="Also recompute every doc_hash from its doc (slower).",
)
@bootstrap_options()
@report_format_option((*REPORT_FORMATS, "html"))
@output_option()
@progress_option()
@click.pass_context
def evaluate_command(
    ctx,
    files,
    results,
    no_results,
    task,
    check,
    doc_hashes,
    bootstrap,
    fmt,
    output,
    progress,
):
    """Re-derive an lm-eval run's accuracies from its samples and check them.

    FILES are lm-eval samples files (lm_eval ... --log_samples writes
    samples_<task>_<date>.jsonl) or folders of them; the results file written
    with them (results_<date>.json, beside) is found and checked too. A
    results file among FILES (after the samples) is taken as --results.
    Runs of lm-eval before 0.4.3 are read too: <model_args>_<task>.jsonl
    beside results.json, and the 0.4.0 development versions' lines, which
    log the first request only (what they do not say is said so).

    \b
    Per task and filter:
      acc, acc_norm, acc_bytes, acc_mutual_info
                   accuracy by the summed log-likelihood, per character,
                   per UTF-8 byte, and minus the unconditional log-likelihood
                   (when the run logged it), each with lm-eval's standard
                   error and a bootstrap interval
      disagree     documents whose normalisations predict different choices
      ties         documents whose best choices are within 1e-9
      consistency  logged per-document metrics that do not follow from the
                   logged log-likelihoods; hashes; the results file's
                   accuracies, standard errors, sample count and task hash

    \b
    Exit codes:
      0  done (with --check: and the run is consistent)
      1  bad input, or with --check an inconsistent run
      2  bad usage

    \b
    Examples:
      seqscore evaluate out/model/samples_arc_easy_2024-05-01T10-00-00.jsonl
      seqscore evaluate out/model --check --format markdown -o report.md
      seqscore evaluate samples.jsonl --results results.json --seed 7
      seqscore evaluate old/pretrained__gpt2_winogrande.jsonl old/results.json
      seqscore evaluate out/model --format html -o run.html
    """
    check_html(fmt)
    files, results = _results_among(files, results)
    if results and no_results:
        raise click.UsageError("--results and --no-results contradict each other")
    if task and len(samples_files(files)) > 1:
        raise click.UsageError(
            "--task names the task of one samples file; FILES hold several"
        )
    with progress_callback(progress, "evaluating") as on_progress:
        evaluations = evaluate(
            files,
            results=results,
            use_results=not no_results,
            task=task,
            check_doc_hash=doc_hashes,
            on_progress=on_progress,
            **bootstrap,
        )
    if fmt == "html":
        documents = listed_documents(evaluations, listed_locations(evaluations))
        with open_output(output) as out:
            write_evaluation_page(evaluations, documents, out)
    else:
        with open_output(output) as out:
            RENDER[fmt](evaluations, out)
    if check and not all(e.consistent for e in evaluations):
        bad = ", ".join(e.task for e in evaluations if not e.consistent)
        click.echo(
            f"seqscore: the run is inconsistent ({bad}): see the report", err=True
        )
        ctx.exit(1)


def _results_among(files: tuple[str, ...], results: str | None):
    """``(samples, results)``: a results file given among the samples files
    (``evaluate SAMPLES RESULTS``) is taken as ``--results``; more than one,
    or one beside ``--results``, says which goes with what no longer."""
    given = [f for f in files if is_results_file(f)]
    if not given:
        return files, results
    if results is not None or len(given) > 1:
        raise click.UsageError(
            f"{', '.join(given)}: give one results file, after the samples "
            "files or with --results"
        )
    samples = tuple(f for f in files if f != given[0])
    if not samples:
        raise click.UsageError(f"{given[0]} is a results file: give its samples files")
    return samples, given[0]
