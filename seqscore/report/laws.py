"""A scorer's law report (:class:`~seqscore.testing.ScorerReport`) as text or JSON.

Text is :meth:`ScorerReport.render`'s, the words of
:class:`~seqscore.errors.ScorerLawError` (one line per law, the minimal
failing example under each failure, a last line that counts the failures):
the testing package writes its own assertion messages, and this module
prints them for ``seqscore audit-fn``. JSON carries the same
facts for programs (non-finite numbers as the strings ``"inf"``, ``"-inf"``,
``"nan"``, as everywhere in seqscore).

The results are only read here, never imported at run time: the testing
package needs hypothesis, and reporting on its results does not.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from seqscore.report.writers import json_value

if TYPE_CHECKING:  # seqscore.testing imports hypothesis
    from seqscore.testing.checks import ScorerReport

__all__ = [
    "FORMATS",
    "law_report_dict",
    "render_law_report",
]

FORMATS = ("text", "json")


def render_law_report(report: ScorerReport, fmt: str = "text") -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`), ending with a newline."""
    if fmt == "json":
        return json.dumps(json_value(law_report_dict(report)), indent=1) + "\n"
    if fmt == "text":
        return report.render() + "\n"
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


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
