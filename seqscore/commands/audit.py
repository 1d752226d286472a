"""``seqscore audit``: which known bug explains a pipeline's numbers?"""

from __future__ import annotations

import click

from seqscore.audit import audit, detect_noise
from seqscore.commands.options import (
    choice_option,
    command,
    count_option,
    input_format_option,
    output_option,
    progress_callback,
    progress_option,
    report_format_option,
)
from seqscore.errors import SeqScoreError
from seqscore.formats.pipeline import PIPELINE_FORMATS, read_pipeline_run
from seqscore.report.audit import FORMATS, render
from seqscore.report.writers import open_output


@command("audit")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@report_format_option(FORMATS)
@output_option()
@choice_option(
    "--reduction",
    choices=["sum", "mean"],
    default="sum",
    help="What the pipeline meant to report: the sum of the continuation's "
    "log-probabilities, or their mean per token.",
)
@count_option(
    "--eos-id",
    at_least=0,
    help="The EOS token id, for the appended-EOS hypothesis [default: fitted].",
)
@click.option(
    "--decimals",
    type=click.IntRange(0, 300),
    help="The reported numbers were rounded to this many decimals [default: detected].",
)
@choice_option(
    "--reported-dtype",
    choices=["auto", "float16", "float32", "float64"],
    default="auto",
    help="How the reported numbers were stored (auto: the dtype of an .npz's "
    "float16 or float32 'reported' array, else float32 when every number is "
    "a float32; float16 is never guessed from the numbers alone).",
)
@choice_option(
    "--compute-dtype",
    choices=["float32", "float64"],
    default="float32",
    help="The pipeline's arithmetic; float32 allows for float32 rounding, "
    "float64 tightens every tolerance.",
)
@count_option(
    "--worst",
    at_least=0,
    default=5,
    help="How many of the worst changed rankings to list.",
)
@input_format_option(PIPELINE_FORMATS)
@progress_option()
@click.pass_context
def audit_command(
    ctx,
    file,
    fmt,
    output,
    reduction,
    eos_id,
    decimals,
    reported_dtype,
    compute_dtype,
    worst,
    input_format,
    progress,
):
    """Find which known bug, if any, explains a pipeline's reported scores.

    FILE holds what the pipeline saw and reported: an .npz with logits
    (N, T, V) over whole sequences, input_ids (N, T), lengths (N,),
    n_context (N,), optional group (N,) and reported (N,); or JSON Lines,
    one candidate per line with input_ids, n_context, reported and logits or
    logits_file (see the seqscore.formats.pipeline docs). Use - for stdin.

    seqscore recomputes the correct scores from the logits and tests each
    known bug as an exact formula -- raw logits summed, top-token
    log-probs, products or sums of probabilities, softmax over the wrong axis,
    off-by-one alignment, prompt tokens included, EOS dropped or appended,
    mean for sum, a temperature or a length penalty (fitted), half-precision
    accumulation -- allowing for rounding and float32 arithmetic.

    \b
    Exit codes:
      0  the numbers are correct
      1  a bug explains them, no known bug does, or the input is bad
      2  bad usage

    \b
    Examples:
      seqscore audit run.npz
      seqscore audit run.npz --reduction mean --eos-id 2 --format markdown
      seqscore audit candidates.jsonl --format json -o audit.json
    """
    source = "<stdin>" if file == "-" else file
    with (
        progress_callback(progress, "auditing") as on_progress,
        read_pipeline_run(file, input_format) as run,
    ):
        if eos_id is not None and eos_id >= run.vocab:
            raise click.BadParameter(
                f"{eos_id} is outside the vocabulary [0, {run.vocab}) of {source}",
                ctx=ctx,
                param_hint="'--eos-id'",
            )
        noise = detect_noise(
            run.reported,
            decimals=decimals,
            reported_dtype=(
                run.reported_storage if reported_dtype == "auto" else reported_dtype
            ),
            compute_dtype=compute_dtype,
        )
        try:
            report = audit(
                run,
                reduction=reduction,
                eos_id=eos_id,
                noise=noise,
                worst=worst,
                on_progress=on_progress,
            )
        except SeqScoreError as exc:  # bad logits, found while reading them
            raise type(exc)(f"{source}: {exc}") from None
    with open_output(output) as out:
        out.write(render(report, fmt, source=file))
    ctx.exit(report.exit_code)
