"""Reports of :func:`~seqscore.runs.lmeval.compare_runs`: text, markdown, JSON."""

from __future__ import annotations

import dataclasses
import json
from typing import IO

from seqscore.lmeval.comparison import RunComparison
from seqscore.report.readable import display_width, pad
from seqscore.report.writers import json_value

__all__ = ["RENDER", "comparison_record"]


def _f(value, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _interval(m) -> str:
    ci = m.interval
    return "-" if ci is None else f"{ci.low:+.4f} to {ci.high:+.4f}"


def _p(value: float) -> str:
    return f"{value:.3g}" if value >= 1e-4 else f"{value:.2e}"


def _rows(c: RunComparison) -> tuple[list[str], list[list[str]]]:
    header = [
        "metric",
        "A",
        "B",
        "A - B",
        "stderr",
        "interval",
        "A only",
        "B only",
        "p",
    ]
    rows = [
        [
            m.metric,
            _f(m.accuracy_a),
            _f(m.accuracy_b),
            _f(m.difference, "+.4f"),
            _f(m.stderr),
            _interval(m),
            str(m.only_a),
            str(m.only_b),
            _p(m.p_value),
        ]
        for m in c.metrics
    ]
    return header, rows


def _note(c: RunComparison) -> str:
    ci = next((m.interval for m in c.metrics if m.interval), None)
    boot = (
        f"{ci.confidence:.0%} paired bootstrap interval, {ci.resamples:,} resamples, "
        f"seed {ci.seed}; "
        if ci
        else ""
    )
    return (
        f"{boot}p: McNemar's exact test on the documents only one run gets right; "
        "stderr: of the per-document differences"
    )


def _ranking_lines(c: RunComparison) -> list[str]:
    r = c.ranking
    lines = [
        f"over {r.n:,} documents ({r.left_out:,} left out: one choice or a -inf "
        "log-likelihood):",
        f"same best choice: {_f(r.top1, '.1%')}; Kendall tau-b of the "
        f"log-likelihoods, mean: {_f(r.kendall_tau)}",
    ]
    if r.n_ranked:
        lines.append(
            f"Plackett-Luce agreement (1: the same rankings, 0: chance): B's rankings "
            f"under A's scores {_f(r.agreement_b_to_a)}, A's under B's "
            f"{_f(r.agreement_a_to_b)}"
        )
        lines.append(
            f"  mean log P_A(B's ranking) {_f(r.pl_b_given_a)}, of A's own "
            f"{_f(r.pl_a_given_a)}, of a random one {_f(r.pl_random_a)}"
        )
    return lines


def _verdict(c: RunComparison) -> str:
    """One sentence: is A better than B on acc?"""
    if not c.metrics:
        return "no metric could be compared"
    m = c.metrics[0]
    ci = m.interval
    if ci is not None and (ci.low > 0 or ci.high < 0):
        better = "A" if m.difference > 0 else "B"
        return (
            f"{better} is better on {m.metric} by {abs(m.difference):.4f} "
            f"(the interval excludes 0; McNemar p = {_p(m.p_value)})"
        )
    return (
        f"no clear difference on {m.metric}: A - B = {m.difference:+.4f}, the "
        f"interval includes 0 (McNemar p = {_p(m.p_value)})"
    )


def _table(header, rows, indent: str) -> list[str]:
    widths = [
        max(display_width(r[i]) for r in [header, *rows]) for i in range(len(header))
    ]
    return [
        (
            indent + "  ".join(pad(v, w) for v, w in zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]


def _text(comparisons: tuple[RunComparison, ...], out: IO[str]) -> None:
    for c in comparisons:
        out.write(
            f"{c.task} (filter {c.filter}): {c.n_documents:,} documents in both runs, "
            f"matched by {c.matched_by}\n  A  {c.a}\n  B  {c.b}\n\n"
        )
        header, rows = _rows(c)
        out.write("\n".join(_table(header, rows, "  ")) + "\n")
        out.write(f"  ({_note(c)})\n\n  {_verdict(c)}\n\n")
        for metric, listed in c.flips:
            if not listed.total:
                continue
            out.write(f"  {metric}: {listed.total:,} documents flip\n")
            head = ["doc_id", "gold", "A", "B", "right"]
            flips = [
                [
                    f.doc_id,
                    ",".join(map(str, f.gold)) or "none",
                    str(f.predicted_a),
                    str(f.predicted_b),
                    f.right,
                ]
                for f in listed.items
            ]
            out.write("\n".join(_table(head, flips, "    ")) + "\n")
            hidden = listed.total - len(listed.items)
            if hidden:
                out.write(f"    ... and {hidden:,} more\n")
        out.write("\n  rankings of the choices:\n")
        out.write("".join(f"    {line}\n" for line in _ranking_lines(c)) + "\n")


def _markdown(comparisons: tuple[RunComparison, ...], out: IO[str]) -> None:
    for c in comparisons:
        out.write(f"## {c.task} (filter {c.filter}): A against B\n\n")
        out.write(f"- A: `{c.a}`\n- B: `{c.b}`\n")
        out.write(f"- {c.n_documents:,} documents, matched by {c.matched_by}\n\n")
        header, rows = _rows(c)
        out.write("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
        out.write("".join("| " + " | ".join(r) + " |\n" for r in rows) + "\n")
        out.write(f"{_note(c)}.\n\n**{_verdict(c)}.**\n\n")
        for metric, listed in c.flips:
            if listed.total:
                ids = ", ".join(f.doc_id for f in listed.items)
                more = listed.total - len(listed.items)
                out.write(
                    f"- `{metric}` flips on {listed.total:,} documents: {ids}"
                    + (f" and {more:,} more" if more else "")
                    + "\n"
                )
        out.write("\n" + "".join(f"- {line.strip()}\n" for line in _ranking_lines(c)))
        out.write("\n")


def comparison_record(c: RunComparison) -> dict:
    """A comparison as plain JSON data (every field)."""
    record = dataclasses.asdict(c)
    record["flips"] = {metric: dataclasses.asdict(listed) for metric, listed in c.flips}
    record["verdict"] = _verdict(c)
    return record


def _json(comparisons: tuple[RunComparison, ...], out: IO[str]) -> None:
    document = {"comparisons": [comparison_record(c) for c in comparisons]}
    json.dump(json_value(document), out, indent=1, ensure_ascii=False)
    out.write("\n")


RENDER = {"text": _text, "markdown": _markdown, "json": _json}
