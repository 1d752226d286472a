"""A greedy-versus-best diagnosis, or a survey of many, as text, markdown
or JSON (:mod:`.plots` draws one diagnosis)."""

from __future__ import annotations

import dataclasses
import json
import textwrap

import click

from seqscore.diagnostics.greedy_vs_best import GreedyDiagnosis, GreedySurvey
from seqscore.report.readable import display_width, pad, truncate, visible
from seqscore.report.writers import json_value

__all__ = ["greedy_story", "render_diagnosis", "render_survey", "survey_summary"]


def survey_summary(s: GreedySurvey) -> str:
    """A survey in one paragraph: how often greedy lost, by how much, and
    how many best sequences are proven (every format's words)."""
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
            " ".join(map(visible, r.greedy_tokens)),
            " ".join(map(visible, r.best_tokens)),
        )


def _survey_text(s: GreedySurvey) -> str:
    rows = [_SURVEY_HEAD, *_survey_rows(s)]
    widths = [min(40, max(display_width(str(r[i])) for r in rows)) for i in range(6)]
    lines = [click.wrap_text(survey_summary(s), 78), ""]
    for row in rows:
        cells = [
            pad(truncate(str(c), w, ellipsis=""), w) if i == 0 else pad(str(c), w, ">")
            for i, (c, w) in enumerate(zip(row[:6], widths, strict=True))
        ]
        lines.append("  ".join(cells) + "  " + " | ".join(map(str, row[6:])))
    return "\n".join(lines) + "\n"


def _survey_markdown(s: GreedySurvey) -> str:
    lines = ["## Greedy versus best over corpus prompts", "", survey_summary(s), ""]
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
        "summary": survey_summary(s),
    }
    return json.dumps(json_value(record), indent=2, ensure_ascii=False) + "\n"


_SURVEY_RENDER = {
    "text": _survey_text,
    "markdown": _survey_markdown,
    "json": _survey_json,
}


def render_survey(s: GreedySurvey, fmt: str) -> str:
    """A survey of greedy against best in ``fmt`` (text, markdown or json)."""
    return _SURVEY_RENDER[fmt](s)


def _rows(d: GreedyDiagnosis):
    """Per-step rows: token, log-prob, cumulative and entropy of both paths."""
    g, b = d.greedy, d.best
    for t in range(max(len(g.decoded), len(b.decoded))):
        yield (t + 1, *_cells(g, t), *_cells(b, t))


def _cells(reading, t):
    if t >= len(reading.decoded):
        return ("", "", "", "")
    return (
        visible(reading.decoded.tokens[t]),
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
    widths = [max(display_width(str(r[i])) for r in rows) for i in range(len(_HEAD))]
    for row in rows:
        cells = [
            pad(str(c), w, "<" if i in (1, 5) else ">")
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
        pieces = {} if reading.pieces is None else {"pieces": reading.pieces}
        return {
            "tokens": reading.decoded.tokens,
            **pieces,
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


def render_diagnosis(d: GreedyDiagnosis, fmt: str) -> str:
    """A greedy-versus-best diagnosis in ``fmt`` (text, markdown or json):
    the explanation, both paths step by step, and the totals."""
    return _RENDER[fmt](d)


def greedy_story(d: GreedyDiagnosis | None) -> str:
    """Why greedy misses the best sentence, told once under ``seqscore
    score``'s example table (``d``: :func:`~seqscore.diagnostics.first_greedy_miss`)."""
    if d is None:
        return "Greedy decoding finds the most probable sentence for every example."
    heading = (
        f"Why greedy decoding misses the most probable sentence after "
        f"{d.prompt!r} (the built-in model; for the step table: "
        f"seqscore diagnose --prompt {d.prompt!r}):"
    )
    return "\n\n".join(textwrap.fill(text, 79) for text in (heading, d.explanation))
