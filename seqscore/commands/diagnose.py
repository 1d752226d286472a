"""``seqscore diagnose``: why greedy decoding did not find the best sequence."""

from __future__ import annotations

import dataclasses
import json

import click
import numpy as np

from ..diagnostics import GreedyDiagnosis, GreedySurvey, diagnose, survey_greedy
from ..models.corpus import sentence_starts
from ..report.writers import json_value, open_output
from .options import load_cli_model, model_options, report_format_option

__all__ = ["diagnose_command"]


@click.command("diagnose")
@model_options("builtin")
@click.option(
    "-p",
    "--prompt",
    default="",
    show_default=True,
    help="The text to continue ('' = the start of a sentence).",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=12,
    show_default=True,
    help="Longest continuation considered.",
)
@click.option(
    "--beam",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="Also run a plain-sum beam search this wide (0: none).",
)
@click.option(
    "--budget",
    type=click.IntRange(min=0),
    default=100_000,
    show_default=True,
    help="Node budget of the exact search (0: beam search only).",
)
@report_format_option()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
    help="Write here; the file appears only on success.",
)
@click.option(
    "--survey",
    type=click.IntRange(min=1),
    default=None,
    help="Instead of one prompt, diagnose N sentence starts drawn from held-out "
    "corpus text and report how often greedy is not the best, and its loss.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
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
      seqscore diagnose --survey 50 --max-tokens 8 --budget 20000

    All numbers are natural-log probabilities (nats). Exit codes: 0 success,
    1 bad data (an unreadable tree file, a prompt the model cannot encode),
    2 bad usage.
    """
    if budget == 0 and beam == 0:
        raise click.UsageError("--budget 0 and --beam 0 leave nothing to search with")
    if plot is not None and not plot.lower().endswith((".svg", ".png", ".pdf")):
        raise click.BadParameter("must end in .svg, .png or .pdf", param_hint="--plot")
    if survey is not None:
        if plot is not None:
            raise click.UsageError("--plot draws one prompt: drop it with --survey")
        _survey(
            load_cli_model(model_spec, batch_size, dtype, device),
            survey,
            seed,
            max_tokens,
            beam,
            budget,
            fmt,
            output,
        )
        return
    model = load_cli_model(model_spec, batch_size, dtype, device)
    result = diagnose(
        model, prompt, max_tokens=max_tokens, beam=beam, node_budget=budget
    )
    if plot is not None:
        from ..plots import plot_diagnosis

        plot_diagnosis(result, plot)
    with open_output(output) as out:
        out.write(_RENDER[fmt](result))


def _survey(model, count, seed, max_tokens, beam, budget, fmt, output) -> None:
    prompts = sentence_starts(count, rng=np.random.default_rng(seed))
    result = survey_greedy(
        model, prompts, max_tokens=max_tokens, beam=beam, node_budget=budget
    )
    with open_output(output) as out:
        out.write(_SURVEY_RENDER[fmt](result))


def _survey_summary(s: GreedySurvey) -> str:
    q = s.loss_quantiles
    spread = (
        f"; loss when it lost: mean {s.mean_loss:.3f} nats, median {q[0.5]:.3f}, "
        f"90th percentile {q[0.9]:.3f}, max {q[1.0]:.3f}"
        if q
        else ""
    )
    return (
        f"greedy was not the best sequence for {s.greedy_not_best} of "
        f"{s.prompts} prompts ({100 * s.fraction_not_best:.1f}%){spread}. "
        f"{s.proven} of {s.prompts} best sequences are proven optimal."
    )


_SURVEY_HEAD = (
    "prompt",
    "greedy",
    "best",
    "loss",
    "step",
    "proven",
    "greedy text",
    "best text",
)


def _survey_rows(s: GreedySurvey):
    for r in s.rows:
        yield (
            r.prompt,
            f"{r.greedy_total:.3f}",
            f"{r.best_total:.3f}",
            f"{r.loss:.3f}",
            "" if r.diverge_step is None else r.diverge_step,
            "yes" if r.proven_optimal else "no",
            " ".join(r.greedy_tokens),
            " ".join(r.best_tokens),
        )


def _survey_text(s: GreedySurvey) -> str:
    rows = [_SURVEY_HEAD, *_survey_rows(s)]
    widths = [min(40, max(len(str(r[i])) for r in rows)) for i in range(6)]
    lines = [click.wrap_text(_survey_summary(s), 78), ""]
    for row in rows:
        cells = [
            f"{str(c)[:w]:<{w}}" if i == 0 else f"{c!s:>{w}}"
            for i, (c, w) in enumerate(zip(row[:6], widths, strict=True))
        ]
        lines.append("  ".join(cells) + "  " + " | ".join(map(str, row[6:])))
    return "\n".join(lines) + "\n"


def _survey_markdown(s: GreedySurvey) -> str:
    lines = ["## Greedy versus best over corpus prompts", "", _survey_summary(s), ""]
    lines.append("| " + " | ".join(_SURVEY_HEAD) + " |")
    lines.append("|---|" + "---:|" * 5 + "---|---|")
    for row in _survey_rows(s):
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines) + "\n"


def _survey_json(s: GreedySurvey) -> str:
    record = {
        "prompts": s.prompts,
        "greedy_not_best": s.greedy_not_best,
        "fraction_not_best": s.fraction_not_best,
        "proven": s.proven,
        "mean_loss": s.mean_loss,
        "loss_quantiles": {str(k): v for k, v in s.loss_quantiles.items()},
        "rows": [dataclasses.asdict(r) for r in s.rows],
        "summary": _survey_summary(s),
    }
    return json.dumps(json_value(record), indent=2, ensure_ascii=False) + "\n"


_SURVEY_RENDER = {
    "text": _survey_text,
    "markdown": _survey_markdown,
    "json": _survey_json,
}


def _rows(d: GreedyDiagnosis):
    """Per-step rows: token, log-prob, cumulative and entropy of both paths."""
    g, b = d.greedy, d.best
    for t in range(max(len(g.decoded), len(b.decoded))):
        yield (t + 1, *_cells(g, t), *_cells(b, t))


def _cells(reading, t):
    if t >= len(reading.decoded):
        return ("", "", "", "")
    return (
        reading.decoded.tokens[t],
        f"{reading.decoded.logprobs[t]:.3f}",
        f"{reading.cumulative[t]:.3f}",
        f"{reading.entropy[t]:.3f}",
    )


_HEAD = (
    "step",
    "greedy",
    "logprob",
    "cum",
    "entropy",
    "best",
    "logprob",
    "cum",
    "entropy",
)


def _text(d: GreedyDiagnosis) -> str:
    lines = [f"prompt: {d.prompt!r}", "", click.wrap_text(d.explanation, 78), ""]
    rows = [_HEAD, *_rows(d)]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(_HEAD))]
    for row in rows:
        cells = [
            f"{c!s:>{w}}" if i != 1 and i != 5 else f"{c!s:<{w}}"
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    lines.append(_summary(d))
    return "\n".join(lines) + "\n"


def _markdown(d: GreedyDiagnosis) -> str:
    lines = [f"## Greedy versus best after {d.prompt!r}", "", d.explanation, ""]
    lines.append("| " + " | ".join(_HEAD) + " |")
    lines.append(
        "|"
        + "|".join("---:" if i not in (1, 5) else "---" for i in range(len(_HEAD)))
        + "|"
    )
    for row in _rows(d):
        cells = [str(c).replace("|", "\\|") for c in row]
        lines.append(
            "| "
            + " | ".join(
                f"`{c}`" if i in (1, 5) and c else c for i, c in enumerate(cells)
            )
            + " |"
        )
    lines += ["", _summary(d)]
    return "\n".join(lines) + "\n"


def _summary(d: GreedyDiagnosis) -> str:
    return (
        f"greedy total {d.greedy.decoded.total:.4f}, best total "
        f"{d.best.decoded.total:.4f}, loss {d.loss:.4f} nats; "
        f"best from {d.best_source}; nodes expanded {d.nodes_expanded}"
    )


def _json(d: GreedyDiagnosis) -> str:
    def path(reading):
        return {
            "tokens": reading.decoded.tokens,
            "ids": reading.decoded.ids,
            "logprobs": reading.decoded.logprobs,
            "cumulative": reading.cumulative,
            "entropy": reading.entropy,
            "rank": reading.rank,
            "total": reading.decoded.total,
            "finished": reading.decoded.finished,
        }

    record = {
        "prompt": d.prompt,
        "prompt_ids": d.prompt_ids,
        "greedy": path(d.greedy),
        "best": path(d.best),
        "best_source": d.best_source,
        "proven_optimal": d.proven_optimal,
        "bound": d.bound,
        "nodes_expanded": d.nodes_expanded,
        "greedy_is_best": d.greedy_is_best,
        "diverge_step": d.diverge_step,
        "gain": d.gain,
        "paid_back": d.paid_back,
        "loss": d.loss,
        "crossing_step": d.crossing_step,
        "greedy_after": d.greedy_after,
        "best_after": d.best_after,
        "greedy_entropy_after": d.greedy_entropy_after,
        "best_entropy_after": d.best_entropy_after,
        "explanation": d.explanation,
    }
    return json.dumps(json_value(record), indent=2, ensure_ascii=False) + "\n"


_RENDER = {"text": _text, "markdown": _markdown, "json": _json}
