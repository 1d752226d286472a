"""An :class:`~seqscore.audit.AuditReport` as text, markdown or JSON.

The three carry the same facts: the verdict and its one-line summary, the
tolerance model, the consequences for the ranking (with the worst cases),
and every hypothesis's fit. Text is for a terminal (at most 100 columns),
markdown for an issue or a pull request, JSON for programs (non-finite
numbers as the strings ``"inf"``, ``"-inf"``, ``"nan"``, as everywhere in
seqscore).
"""

from __future__ import annotations

import json
import math
import textwrap

from seqscore.audit.core import AuditReport, HypothesisResult, fitted_parameter
from seqscore.report.writers import json_value

__all__ = ["FORMATS", "hypothesis_record", "render", "report_dict"]

FORMATS = ("text", "markdown", "json")

_HEADERS = ("hypothesis", "fits", "within", "max resid", "worst/tol", "parameter")


def render(report: AuditReport, fmt: str = "text", source: str = "") -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`), ending with a newline."""
    if fmt == "json":
        return json.dumps(json_value(report_dict(report, source)), indent=1) + "\n"
    if fmt == "markdown":
        return _markdown(report, source)
    if fmt == "text":
        return _text(report, source)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def report_dict(report: AuditReport, source: str = "") -> dict:
    """Every fact of the report as plain data (per-candidate arrays left out)."""
    consequences = report.consequences
    return {
        "source": source,
        "verdict": report.verdict,
        "summary": report.summary,
        "exit_code": report.exit_code,
        "n_candidates": report.n_candidates,
        "n_prompts": report.n_prompts,
        "vocab": report.vocab,
        "reduction": report.reduction,
        "noise": {
            "decimals": report.noise.decimals,
            "reported_dtype": report.noise.reported_dtype,
            "compute_dtype": report.noise.compute_dtype,
            "description": report.noise.describe(),
        },
        "explanations": [r.name for r in report.explanations],
        "untestable": list(report.untestable),
        "consequences": {
            "n_prompts": consequences.n_prompts,
            "n_changed": consequences.n_changed,
            "n_tied": consequences.n_tied,
            "worst": [vars(flip) for flip in consequences.worst],
        },
        "hypotheses": [hypothesis_record(r) for r in report.hypotheses],
    }


def hypothesis_record(r: HypothesisResult) -> dict:
    """A hypothesis's fit as plain data (without the per-candidate arrays)."""
    return {
        "name": r.name,
        "title": r.title,
        "formula": r.formula,
        "fits": r.fits,
        "n_evaluated": r.n_evaluated,
        "n_within": r.n_within,
        "max_residual": r.max_residual,
        "rms_residual": r.rms_residual,
        "worst_ratio": r.worst_ratio,
        "worst_candidate": r.worst_candidate,
        "parameter_name": r.parameter_name,
        "parameter": r.parameter,
        "same_as_correct": r.same_as_correct,
        "note": r.note,
    }


# ------------------------------------------------------------------- text


def _text(report: AuditReport, source: str) -> str:
    lines = [f"seqscore audit{': ' + source if source else ''}"]
    lines += _wrap(_scope(report)) + _wrap(f"noise model: {report.noise.describe()}")
    lines += ["", *_wrap(f"VERDICT: {report.summary}")]
    if report.explanations and report.verdict != "unexplained":
        for r in report.explanations:
            lines += _wrap(f"{r.name}: {r.formula}{_note(r)}", "  ")
    lines += ["", *_wrap(_consequence_line(report))]
    if report.consequences.worst:
        lines.append(_row(("prompt", "reported pick", "correct pick", "loss"), _FLIPS))
        lines += [_row(_flip_cells(f), _FLIPS) for f in report.consequences.worst]
    lines += ["", *_wrap(_LEGEND)]
    lines.append(_row(_HEADERS, _WIDTHS))
    lines += [_row(_cells(r, report.n_candidates), _WIDTHS) for r in report.hypotheses]
    lines += [line for item in _footnotes(report) for line in (_wrap(item) or [""])]
    return "\n".join(lines) + "\n"


def _wrap(text: str, indent: str = "") -> list[str]:
    """Prose wrapped to the 100 columns of the text report."""
    return textwrap.wrap(
        text, _COLUMNS, initial_indent=indent, subsequent_indent=indent + "    "
    )


_COLUMNS = 100
_WIDTHS = (24, 4, 9, 10, 10, 14)
_LEGEND = (
    "Hypotheses (residual = |reported - predicted|; fits: every candidate within "
    "tolerance; =: same as the correct scores on this data):"
)
_FLIPS = (12, 26, 26, 10)


def _row(cells, widths) -> str:
    first, *rest = cells
    text = f"  {first:<{widths[0]}}"
    text += "".join(f" {c:>{w}}" for c, w in zip(rest, widths[1:], strict=True))
    return text.rstrip()


def _cells(r: HypothesisResult, n: int) -> tuple:
    within = f"{r.n_within}/{n}"
    fits = "yes" if r.fits else "no"
    if r.same_as_correct:
        fits = "="  # coincides with the correct scores on this data
    return (
        r.name,
        fits,
        within,
        _number(r.max_residual),
        _number(r.worst_ratio),
        _parameter(r),
    )


def _flip_cells(flip) -> tuple:
    return (
        flip.group,
        f"{flip.picked} ({flip.picked_reported:.4g})",
        f"{flip.best} ({flip.best_reported:.4g})",
        f"{flip.loss:.4g}",
    )


def _number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.2g}" if value < 100 else f"{value:.1e}"


def _parameter(r: HypothesisResult) -> str:
    fitted = fitted_parameter(r)
    return "" if fitted is None else "{}={}".format(*fitted)


def _note(r: HypothesisResult) -> str:
    return f" [{r.note}]" if r.note else ""


def _scope(report: AuditReport) -> str:
    meant = "sum" if report.reduction == "sum" else "mean per token"
    return (
        f"{report.n_candidates} candidates, {report.n_prompts} prompts, vocabulary "
        f"{report.vocab}; the pipeline meant to report the {meant} of the "
        "continuation's log-probabilities"
    )


def _consequence_line(report: AuditReport) -> str:
    c = report.consequences
    if c.n_prompts == 0:
        return "Consequences: no prompt has two or more candidates, so no ranking."
    text = (
        f"Consequences: {c.n_changed} of {c.n_prompts} prompts with two or more "
        "candidates pick a different top candidate than correct scoring does"
    )
    if c.n_tied:
        text += f"; {c.n_tied} have a tie for the top reported score"
    return text + ("." if not c.worst else "; the worst (loss in correct score):")


def _footnotes(report: AuditReport) -> list[str]:
    lines = []
    notes = [r for r in report.hypotheses if r.note]
    if notes:
        lines += ["", "Notes:"] + [f"  {r.name}: {r.note}" for r in notes]
    if report.untestable:
        lines += [
            "",
            "Untestable on this data (they give the correct scores here): "
            + ", ".join(report.untestable),
        ]
    return lines


# --------------------------------------------------------------- markdown


def _markdown(report: AuditReport, source: str) -> str:
    lines = [f"## seqscore audit{': `' + source + '`' if source else ''}", ""]
    lines += [_scope(report) + ".", "", f"Noise model: {report.noise.describe()}.", ""]
    lines += [f"**Verdict:** {report.summary}", ""]
    if report.explanations and report.verdict != "unexplained":
        lines += [f"- `{r.name}`: `{r.formula}`{_note(r)}" for r in report.explanations]
        lines.append("")
    lines += [_consequence_line(report), ""]
    if report.consequences.worst:
        lines += _table(
            ("prompt", "reported pick", "correct pick", "loss"),
            [_flip_cells(f) for f in report.consequences.worst],
        )
        lines.append("")
    lines += _table(
        _HEADERS, [_cells(r, report.n_candidates) for r in report.hypotheses]
    )
    lines += ["", "fits: every candidate within tolerance; =: same as the correct "]
    lines[-1] += "scores on this data."
    lines += _footnotes(report)
    return "\n".join(lines) + "\n"


def _table(headers, rows) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out
