"""Reports of :func:`~seqscore.runs.lmeval.evaluate`: text, markdown, JSON."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import IO

from seqscore.lmeval.evaluation import Listed, TaskEvaluation
from seqscore.lmeval.verdicts import METRICS, TIE_TOLERANCE
from seqscore.report.readable import display_width, pad
from seqscore.report.writers import json_value

__all__ = ["RENDER", "consistency_lines", "evaluation_record"]

# the accuracy table's columns, in text and markdown
ACCURACY_HEADER = [
    "metric",
    "by",
    "accuracy",
    "stderr",
    "interval",
    "logged",
    "reported",
]


def _f(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _interval(accuracy) -> str:
    ci = accuracy.interval
    return "-" if ci is None else f"{ci.low:.4f} - {ci.high:.4f}"


def _bootstrap_note(evaluation: TaskEvaluation) -> str:
    ci = next((a.interval for a in evaluation.accuracies if a.interval), None)
    if ci is None:
        return ""
    return (
        f"{ci.confidence:.0%} bootstrap percentile interval: {ci.resamples:,} "
        f"resamples of the documents, seed {ci.seed}"
    )


def _heading(e: TaskEvaluation) -> str:
    choices = (
        str(e.most_choices)
        if e.fewest_choices == e.most_choices
        else f"{e.fewest_choices}-{e.most_choices}"
    )
    return (
        f"{e.task} (filter {e.filter}): {e.n_documents:,} documents, {choices} choices"
    )


def consistency_lines(e: TaskEvaluation) -> list[str]:
    """What the consistency check found, one finding a line."""
    logged = [a.metric for a in e.accuracies if a.logged is not None]
    lines = []
    if e.mismatches.total:
        lines.append(
            f"{e.mismatches.total:,} logged per-document metrics do not follow from "
            "the log-likelihoods:"
        )
        lines.extend(
            f"  doc_id {m.doc_id} ({m.location}): logged {m.metric} = {m.logged:g}, "
            f"the log-likelihoods give {m.derived:g}"
            for m in e.mismatches.items
        )
        lines.extend(_more(e.mismatches))
    elif logged and e.unchecked:
        lines.append(
            f"per-document {', '.join(logged)}: those checked follow from the "
            f"log-likelihoods; {e.unchecked:,} cannot be checked from what "
            "their lines hold (the gold choice, or every choice's text)"
        )
    elif logged:
        lines.append(
            f"per-document {', '.join(logged)}: all {e.n_documents:,} follow from "
            "the log-likelihoods"
        )
    if e.hash_problems.total:
        lines.append(f"{e.hash_problems.total:,} logged hashes do not match:")
        lines.extend(
            f"  doc_id {n.doc_id} ({n.location}): {n.note}"
            for n in e.hash_problems.items
        )
        lines.extend(_more(e.hash_problems))
    if e.results is None:
        lines.append("results file: none found beside the samples (not checked)")
    else:
        bad = [c for c in e.aggregate if not c.ok]
        lines.append(
            f"results file: {len(e.aggregate) - len(bad)} of {len(e.aggregate)} "
            "figures match the samples"
            + (":" if bad else f" ({', '.join(c.what for c in e.aggregate)})")
        )
        lines.extend(
            f"  {c.what}: the results file says {_show(c.reported)}, the samples "
            f"give {_show(c.expected)}"
            for c in bad
        )
    return lines


def _show(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _more(listed) -> list[str]:
    hidden = listed.total - len(listed.items)
    return [f"  ... and {hidden:,} more"] if hidden > 0 else []


def _disagreement_rows(e: TaskEvaluation) -> tuple[list[str], list[list[str]]]:
    metrics = [a.metric for a in e.accuracies if a.n]
    columns = [i for i, a in enumerate(e.accuracies) if a.n]
    header = ["doc_id", "gold", *metrics, "line"]
    rows = []
    for d in e.disagreements.items:
        cells = [
            "-" if d.predicted[i] is None else f"{d.predicted[i]}{'*' * d.correct[i]}"
            for i in columns
        ]
        gold = ",".join(map(str, d.gold)) or "none"
        rows.append([d.doc_id, gold, *cells, _line(d.location)])
    return header, rows


def _line(location: str) -> str:
    """The line number of ``file:line`` (the file heads the report)."""
    return location.rsplit(":", 1)[-1]


def _ties(e: TaskEvaluation) -> list[tuple[str, Listed]]:
    return [(metric, listed) for metric, listed in e.ties if listed.total]


# --------------------------------------------------------------------- text


def _text_table(header: list[str], rows: Sequence[Sequence], indent: str) -> list[str]:
    widths = [
        max(display_width(str(r[i])) for r in [header, *rows])
        for i in range(len(header))
    ]
    return [
        indent
        + "  ".join(
            pad(str(cell), w) for cell, w in zip(row, widths, strict=True)
        ).rstrip()
        for row in [header, *rows]
    ]


def _text(evaluations: tuple[TaskEvaluation, ...], out: IO[str]) -> None:
    for e in evaluations:
        for section in _TEXT_SECTIONS:
            out.write(section(e))
    out.write(_summary(evaluations) + "\n")


def _text_head(e: TaskEvaluation) -> str:
    delimiter = f"the continuations less the target delimiter {e.delimiter!r}"
    return (
        _heading(e)
        + "\n"
        + f"  samples  {e.samples}\n"
        + f"  results  {e.results or '(none)'}\n"
        + f"  choices  {delimiter}\n\n"
    )


def _text_accuracies(e: TaskEvaluation) -> str:
    """The accuracy table (the unavailable metrics below it, each with why;
    in it too when their logged or reported figures are known)."""
    available = [
        [a.metric, a.reduction, *_accuracy_cells(a)]
        for a in e.accuracies
        if not a.unavailable or _figures(a)
    ]
    lines = _text_table(ACCURACY_HEADER, available, "  ")
    lines += [
        f"  {a.metric:<15}  {a.reduction:<4}  unavailable: {a.unavailable}"
        for a in e.accuracies
        if a.unavailable
    ]
    note = "; ".join(
        n for n in (_bootstrap_note(e), "stderr as lm-eval: sample sd / sqrt(n)") if n
    )
    return "\n".join(lines) + "\n" + f"  ({note})\n\n"


def _figures(accuracy) -> bool:
    """Whether a metric has a logged or a reported figure."""
    return accuracy.logged is not None or accuracy.reported is not None


def _text_pairs(e: TaskEvaluation) -> str:
    if not e.pairs:
        return ""
    rows = [
        [f"{p.first} vs {p.second}", p.both, p.only_first, p.only_second, p.neither]
        for p in e.pairs
    ]
    head = ["", "both", "only first", "only second", "neither"]
    table = "\n".join(_text_table(head, rows, "    "))
    return "  right document by document:\n" + table + "\n\n"


def _text_disagreements(e: TaskEvaluation) -> str:
    if not e.disagreements.total:
        return "  every normalisation predicts the same choice everywhere\n"
    header, rows = _disagreement_rows(e)
    return (
        f"  normalisations disagree on {e.disagreements.total:,} documents "
        "(the choice each predicts; * = right):\n"
        + "\n".join(_text_table(header, rows, "    "))
        + "\n"
        + "".join("  " + line + "\n" for line in _more(e.disagreements))
    )


def _text_ties(e: TaskEvaluation) -> str:
    ties = _ties(e)
    if not ties:
        return f"  no ties (no choice within {TIE_TOLERANCE:g} of the best)\n"
    return "".join(
        f"  ties under {metric} (another choice within {TIE_TOLERANCE:g} "
        f"of the best): {listed.total:,} documents: doc_id "
        + ", ".join(n.doc_id for n in listed.items)
        + _and_more(listed)
        + "\n"
        for metric, listed in ties
    )


def _and_more(listed: Listed) -> str:
    hidden = listed.total - len(listed.items)
    return f" and {hidden:,} more" if hidden > 0 else ""


def _text_gold(e: TaskEvaluation) -> str:
    if not e.gold_problems.total:
        return ""
    return (
        f"  {e.gold_problems.total:,} documents have no gold choice (lm-eval "
        "counts them wrong):\n"
        + "".join(
            f"    doc_id {n.doc_id} ({n.location}): {n.note}\n"
            for n in e.gold_problems.items
        )
        + "".join("  " + line + "\n" for line in _more(e.gold_problems))
    )


def _unread_head(e: TaskEvaluation) -> str:
    return (
        f"{e.gold_unread.total:,} documents do not say which choice is gold (no "
        "accuracy is re-derived from them; a logged acc is checked against the "
        "argmax where the target says whether the first choice is gold):"
    )


def _text_unread(e: TaskEvaluation) -> str:
    if not e.gold_unread.total:
        return ""
    return (
        f"  {_unread_head(e)}\n"
        + "".join(
            f"    doc_id {n.doc_id} ({n.location}): {n.note}\n"
            for n in e.gold_unread.items
        )
        + "".join("  " + line + "\n" for line in _more(e.gold_unread))
    )


def _md_unread(e: TaskEvaluation) -> str:
    if not e.gold_unread.total:
        return ""
    return (
        f"{_unread_head(e)}\n\n"
        + "".join(
            f"- doc_id {n.doc_id} ({n.location}): {n.note}\n"
            for n in e.gold_unread.items
        )
        + "".join(f"- {line.strip()}\n" for line in _more(e.gold_unread))
        + "\n"
    )


def _text_consistency(e: TaskEvaluation) -> str:
    verdict = "consistent" if e.consistent else "INCONSISTENT"
    lines = "".join(f"    {line}\n" for line in consistency_lines(e))
    return f"\n  consistency: {verdict}\n" + lines + "\n"


# a task's report in text: these sections, in this order
_TEXT_SECTIONS = (
    _text_head,
    _text_accuracies,
    _text_pairs,
    _text_disagreements,
    _text_ties,
    _text_gold,
    _text_unread,
    _text_consistency,
)


def _summary(evaluations) -> str:
    bad = [e for e in evaluations if not e.consistent]
    n = len(evaluations)
    tasks = f"{n} task{'s' * (n != 1)}"
    if not bad:
        return f"{tasks} evaluated; the run is consistent."
    names = ", ".join(f"{e.task} ({e.filter})" for e in bad)
    return f"{tasks} evaluated; inconsistent: {names}."


# ----------------------------------------------------------------- markdown


def _md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _accuracy_cells(a) -> list[str]:
    """An accuracy's numbers, as the text and markdown tables print them."""
    return [_f(a.value), _f(a.stderr), _interval(a), _f(a.logged), _f(a.reported)]


def _markdown(evaluations: tuple[TaskEvaluation, ...], out: IO[str]) -> None:
    for e in evaluations:
        out.write(f"## {_heading(e)}\n\n")
        out.write(f"- samples: `{e.samples}`\n- results: `{e.results or 'none'}`\n")
        out.write(f"- choices: continuations less the delimiter `{e.delimiter!r}`\n\n")
        rows = [
            [f"`{a.metric}`", a.reduction, *_accuracy_cells(a)]
            if not a.unavailable
            else [f"`{a.metric}`", a.reduction, "unavailable", "", "", *_md_logged(a)]
            for a in e.accuracies
        ]
        out.write(_md_table(ACCURACY_HEADER, rows) + "\n")
        if _bootstrap_note(e):
            out.write(f"{_bootstrap_note(e)}.\n\n")
        if e.disagreements.total:
            out.write(
                f"Normalisations disagree on {e.disagreements.total:,} documents "
                "(predicted choice, * = right):\n\n"
            )
            header, rows = _disagreement_rows(e)
            out.write(
                _md_table(header, [[c.replace("*", "\\*") for c in r] for r in rows])
            )
            out.write("".join(f"\n{line.strip()}\n" for line in _more(e.disagreements)))
            out.write("\n")
        for metric, listed in _ties(e):
            named = ", ".join(n.doc_id for n in listed.items)
            out.write(
                f"Ties under `{metric}`: {listed.total:,} documents ({named}).\n\n"
            )
        out.write(_md_unread(e))
        verdict = "consistent" if e.consistent else "**inconsistent**"
        out.write(f"Consistency: {verdict}.\n\n")
        out.write("".join(f"- {line.strip()}\n" for line in consistency_lines(e)))
        out.write("\n")
    out.write(_summary(evaluations) + "\n")


def _md_logged(accuracy) -> list[str]:
    """The logged and reported cells of an unavailable metric's row."""
    if not _figures(accuracy):
        return ["", ""]
    return [_f(accuracy.logged), _f(accuracy.reported)]


# --------------------------------------------------------------------- json


def evaluation_record(e: TaskEvaluation) -> dict:
    """A task's evaluation as plain JSON data (every field, nothing lost)."""
    record = dataclasses.asdict(e)
    record["ties"] = {metric: dataclasses.asdict(listed) for metric, listed in e.ties}
    record["consistent"] = e.consistent
    record["metrics"] = list(METRICS)
    return record


def _json(evaluations: tuple[TaskEvaluation, ...], out: IO[str]) -> None:
    document = {
        "tasks": [evaluation_record(e) for e in evaluations],
        "consistent": all(e.consistent for e in evaluations),
    }
    json.dump(json_value(document), out, indent=1, ensure_ascii=False)
    out.write("\n")


RENDER = {"text": _text, "markdown": _markdown, "json": _json}
