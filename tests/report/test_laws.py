"""A scorer's law report as text and JSON (:mod:`seqscore.report.laws`).

The expected texts are what ``ScorerReport.render()`` and ``seqscore
audit-fn``'s JSON renderer wrote before the rendering moved here.
"""

from __future__ import annotations

import math

import pytest

from seqscore.report.laws import render_law_report
from seqscore.testing import LawResult, ScorerReport, Violation

REPORT = ScorerReport(
    "m:f",
    "causal",
    15,
    3,
    (
        LawResult("sum_of_conditionals", "the score is the sum", None),
        LawResult(
            "shift_invariance",
            "adding a constant",
            Violation(
                "shift_invariance",
                0,
                0.0,
                1.0,
                "==",
                None,
                "1 candidate(s), vocabulary 2, float32\ninput_ids=[0, 0] n_context=1",
                "added 1.0 to every logit of step 0 of candidate 0",
            ),
        ),
        LawResult(
            "padding",
            "padding is ignored",
            Violation(
                "padding",
                1,
                -2.5,
                None,
                "<=",
                "raised ValueError: no GPU",
                "2 candidate(s)",
                "",
            ),
        ),
        LawResult(
            "extension_never_raises",
            "never raises",
            Violation(
                "extension_never_raises", 1, -math.inf, math.nan, "<=", None, "x", ""
            ),
        ),
    ),
)

TEXT = (
    "m:f (causal layout; up to 15 examples per law, seed 3)\n"
    "  pass  sum_of_conditionals: the score is the sum\n"
    "  FAIL  shift_invariance: adding a constant\n"
    "        minimal failing example: 1 candidate(s), vocabulary 2, float32\n"
    "          input_ids=[0, 0] n_context=1\n"
    "        change: added 1.0 to every logit of step 0 of candidate 0\n"
    "        candidate 0: expected 0.0, got 1.0\n"
    "  FAIL  padding: padding is ignored\n"
    "        minimal failing example: 2 candidate(s)\n"
    "        the scorer raised ValueError: no GPU\n"
    "  FAIL  extension_never_raises: never raises\n"
    "        minimal failing example: x\n"
    "        candidate 1: expected at most -inf, got nan\n"
    "3 of 4 laws failed\n"
)

JSON = (
    "{\n"
    ' "scorer": "m:f",\n'
    ' "layout": "causal",\n'
    ' "max_examples": 15,\n'
    ' "seed": 3,\n'
    ' "passed": false,\n'
    ' "laws": [\n'
    "  {\n"
    '   "name": "sum_of_conditionals",\n'
    '   "statement": "the score is the sum",\n'
    '   "passed": true,\n'
    '   "violation": null\n'
    "  },\n"
    "  {\n"
    '   "name": "shift_invariance",\n'
    '   "statement": "adding a constant",\n'
    '   "passed": false,\n'
    '   "violation": {\n'
    '    "law": "shift_invariance",\n'
    '    "candidate": 0,\n'
    '    "expected": 0.0,\n'
    '    "actual": 1.0,\n'
    '    "relation": "==",\n'
    '    "error": null,\n'
    '    "example": "1 candidate(s), vocabulary 2, float32'
    '\\ninput_ids=[0, 0] n_context=1",\n'
    '    "change": "added 1.0 to every logit of step 0 of candidate 0"\n'
    "   }\n"
    "  },\n"
    "  {\n"
    '   "name": "padding",\n'
    '   "statement": "padding is ignored",\n'
    '   "passed": false,\n'
    '   "violation": {\n'
    '    "law": "padding",\n'
    '    "candidate": 1,\n'
    '    "expected": -2.5,\n'
    '    "actual": null,\n'
    '    "relation": "<=",\n'
    '    "error": "raised ValueError: no GPU",\n'
    '    "example": "2 candidate(s)",\n'
    '    "change": ""\n'
    "   }\n"
    "  },\n"
    "  {\n"
    '   "name": "extension_never_raises",\n'
    '   "statement": "never raises",\n'
    '   "passed": false,\n'
    '   "violation": {\n'
    '    "law": "extension_never_raises",\n'
    '    "candidate": 1,\n'
    '    "expected": "-inf",\n'
    '    "actual": "nan",\n'
    '    "relation": "<=",\n'
    '    "error": null,\n'
    '    "example": "x",\n'
    '    "change": ""\n'
    "   }\n"
    "  }\n"
    " ]\n"
    "}\n"
)


def test_the_text_is_what_render_wrote():
    assert render_law_report(REPORT, "text") == TEXT
    assert render_law_report(REPORT) == TEXT


def test_the_json_is_what_audit_fn_wrote():
    assert render_law_report(REPORT, "json") == JSON


def test_the_report_module_prints_the_testing_packages_own_text():
    assert REPORT.render() == str(REPORT) == TEXT[:-1]
    violation = REPORT.results[1].violation
    assert violation.describe() in TEXT.replace("\n        ", "\n")


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format 'markdown'"):
        render_law_report(REPORT, "markdown")
