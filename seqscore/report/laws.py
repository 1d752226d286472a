"""A scorer's law report (:class:`~seqscore.testing.ScorerReport`) as text or JSON.

Text is one line per law (``pass`` or ``FAIL``), the minimal failing example
under each failure, and a last line that counts the failures; it is what
``seqscore audit-fn`` prints, what :meth:`ScorerReport.render` returns and
what :class:`~seqscore.errors.ScorerLawError` says. JSON carries the same
facts for programs (non-finite numbers as the strings ``"inf"``, ``"-inf"``,
``"nan"``, as everywhere in seqscore).

The results are only read here, never imported at run time: the testing
package needs hypothesis, and reporting on its results does not.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .writers import json_value

if TYPE_CHECKING:  # seqscore.testing imports hypothesis
    from ..testing.checks import ScorerReport
    from ..testing.laws import Violation

__all__ = [
    "FORMATS",
    "law_report_dict",
    "law_report_text",
    "render_law_report",
    "violation_text",
]

FORMATS = ("text", "json")


def render_law_report(report: ScorerReport, fmt: str = "text") -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`), ending with a newline."""
    if fmt == "json":
        return json.dumps(json_value(law_report_dict(report)), indent=1) + "\n"
    if fmt == "text":
        return law_report_text(report) + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def law_report_text(report: ScorerReport) -> str:
    """One line per law, the minimal example under each failure (no final
    newline)."""
    lines = [
        f"{report.scorer} ({report.layout} layout; up to {report.max_examples} "
        f"examples per law, seed {report.seed})"
    ]
    for r in report.results:
        lines.append(f"  {'pass' if r.passed else 'FAIL'}  {r.name}: {r.statement}")
        if r.violation is not None:
            body = violation_text(r.violation).replace("\n", "\n        ")
            lines.append("        " + body)
    failed = len(report.failed)
    lines.append(
        f"{failed} of {len(report.results)} laws failed"
        if failed
        else f"all {len(report.results)} laws passed"
    )
    return "\n".join(lines)


def violation_text(violation: Violation) -> str:
    """The minimal failing example, the change the law made, and the expected
    and actual scores (or what the scorer did instead of scoring)."""
    lines = ["minimal failing example: " + violation.example.replace("\n", "\n  ")]
    if violation.change:
        lines.append(f"change: {violation.change}")
    if violation.error:
        lines.append(f"the scorer {violation.error}")
    else:
        want = "expected" if violation.relation == "==" else "expected at most"
        lines.append(
            f"candidate {violation.candidate}: {want} {violation.expected!r}, "
            f"got {violation.actual!r}"
        )
    return "\n".join(lines)


def law_report_dict(report: ScorerReport) -> dict:
    """Every fact of the report as plain data (numbers not yet made JSON-safe)."""
    return {
        "scorer": report.scorer,
        "layout": report.layout,
        "max_examples": report.max_examples,
        "seed": report.seed,
        "passed": report.passed,
        "laws": [
            {
                "name": r.name,
                "statement": r.statement,
                "passed": r.passed,
                "violation": None if r.violation is None else vars(r.violation),
            }
            for r in report.results
        ],
    }
