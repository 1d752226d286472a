"""``seqscore compare``: why each prompt's winning candidate wins."""

from __future__ import annotations

import click

from seqscore.commands.options import (
    REPORT_FORMATS,
    alpha_option,
    check_html,
    command,
    input_format_option,
    output_option,
    report_format_option,
)
from seqscore.errors import DataFormatError, Rejected, rejection_error
from seqscore.formats.inputs import read_prompts
from seqscore.report.comparison import write_comparisons
from seqscore.report.pages import write_comparisons_page
from seqscore.report.writers import open_output
from seqscore.scoring.pairwise import prompt_comparisons


@command("compare")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@input_format_option()
@click.option("--prompt", "prompt_ids", multiple=True, help="Only these prompt ids.")
@click.option(
    "--all", "every_pair", is_flag=True, help="Compare the winner with every candidate."
)
@alpha_option()
@report_format_option((*REPORT_FORMATS, "html"))
@output_option()
def compare_command(file, input_format, prompt_ids, every_pair, alpha, fmt, output):
    """Explain, step by step, why each prompt's best candidate beats the others.

    The winner (highest summed log-prob) is compared with the runner-up, and
    with every candidate that takes the more likely token at most shared
    steps yet loses, or that a length normalisation would make the winner.
    Reads the same inputs as `seqscore score`; no model is needed.

    \b
    Examples:
      seqscore compare responses.jsonl
      seqscore compare run.npz --prompt 17 --all --format markdown
      seqscore compare responses.jsonl --format html -o why.html
    """
    check_html(fmt)
    wanted = set(prompt_ids)
    with read_prompts(file, input_format) as (_, prompts), open_output(output) as out:
        results = []
        for prompt in prompts:
            if isinstance(prompt, Rejected):
                raise rejection_error(prompt)
            if wanted and prompt.id not in wanted:
                continue
            results.append((prompt, *prompt_comparisons(prompt, every_pair, alpha)))
        if wanted - {result[0].id for result in results}:
            missing = ", ".join(sorted(wanted - {result[0].id for result in results}))
            raise DataFormatError(f"no prompt with id {missing}")
        if fmt == "html":
            write_comparisons_page(results, out, alpha=alpha, source=file)
        else:
            write_comparisons(results, fmt, out)
