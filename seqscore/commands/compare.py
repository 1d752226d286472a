"""``seqscore compare``: why each prompt's winning candidate wins."""

from __future__ import annotations

import json

import click
import numpy as np

from ..errors import DataFormatError
from ..formats.inputs import read_prompts
from ..formats.records import Rejected
from ..pairwise import Comparison, compare, count
from ..report.writers import json_value, open_output
from ..scoring import Prompt
from ..totals import sequence_logprob
from .options import (
    alpha_option,
    input_format_option,
    output_option,
    report_format_option,
)


@click.command("compare")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@input_format_option()
@click.option("--prompt", "prompt_ids", multiple=True, help="Only these prompt ids.")
@click.option(
    "--all", "every_pair", is_flag=True, help="Compare the winner with every candidate."
)
@alpha_option()
@report_format_option()
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
    """
    wanted = set(prompt_ids)
    with read_prompts(file, input_format) as (_, prompts), open_output(output) as out:
        results = []
        for prompt in prompts:
            if isinstance(prompt, Rejected):
                raise DataFormatError(prompt.message())
            if wanted and prompt.id not in wanted:
                continue
            results.append((prompt, *_comparisons(prompt, every_pair, alpha)))
        if wanted - {result[0].id for result in results}:
            missing = ", ".join(sorted(wanted - {result[0].id for result in results}))
            raise DataFormatError(f"no prompt with id {missing}")
        _RENDER[fmt](results, out)


def _comparisons(
    prompt: Prompt, every_pair: bool, alpha: float
) -> tuple[list[Comparison], str | None]:
    """``(comparisons, note)``: the winner against the runner-up and every
    surprising rival; the note says why there is nothing to compare."""
    if any(c.tokens is None for c in prompt.candidates):
        raise DataFormatError(
            f"{prompt.source or prompt.id}: compare explains scores step by step and "
            "needs each candidate's token log-probs; this input logs only totals "
            "(for lm-eval samples, see seqscore evaluate)"
        )
    if len(prompt.candidates) < 2:
        return [], "only one candidate: nothing to compare"
    totals = np.array([sequence_logprob(c.tokens.logprob) for c in prompt.candidates])
    order = np.argsort(-totals, kind="stable")
    if totals[order[0]] == -np.inf:
        return [], "every candidate has probability 0 (a -inf token log-prob)"
    winner = prompt.candidates[order[0]]
    found = []
    for rank, index in enumerate(order[1:], start=2):
        # from the rival's side: the rival is the one that wins most steps
        comparison = compare(prompt.candidates[index], winner, alpha)
        if every_pair or rank == 2 or comparison.paradox or comparison.flips:
            found.append(comparison)
    return found, None


def _text(results, out) -> None:
    paradoxes = flips = 0
    for prompt, comparisons, note in results:
        out.write(
            f"== prompt {prompt.id} ({count(len(prompt.candidates), 'candidate')})\n"
        )
        if note:
            out.write(note + "\n\n")
        for comparison in comparisons:
            out.write(comparison.explanation() + "\n\n")
            paradoxes += comparison.paradox
            flips += bool(comparison.flips)
    out.write(
        f"{count(len(results), 'prompt')}; candidates that win most steps yet "
        f"lose: {paradoxes}; that a length normalisation would make the winner: "
        f"{flips}.\n"
    )


def _markdown(results, out) -> None:
    for prompt, comparisons, note in results:
        out.write(f"## Prompt `{prompt.id}`\n\n")
        if note:
            out.write(note[0].upper() + note[1:] + ".\n\n")
        for comparison in comparisons:
            lines = comparison.explanation().splitlines()
            out.write(f"**{lines[0]}**\n\n")
            out.write("".join(f"- {line.strip()}\n" for line in lines[1:]) + "\n")


def _json(results, out) -> None:
    records = [
        {
            "prompt": prompt.id,
            "candidate": c.a,
            "winner": c.b,
            "margin": c.margin,
            "shared_steps": c.shared_steps,
            "wins": c.wins,
            "losses": c.losses,
            "step_margin": c.step_margin,
            "tail": c.tail_a,
            "winner_tail": c.tail_b,
            "paradox": c.paradox,
            "deciding_steps": list(c.deciding_steps),
            "flips": c.flips,
            "explanation": c.explanation(),
        }
        for prompt, comparisons, _ in results
        for c in comparisons
    ]
    json.dump(json_value(records), out, indent=1, ensure_ascii=False)
    out.write("\n")


_RENDER = {"text": _text, "markdown": _markdown, "json": _json}
