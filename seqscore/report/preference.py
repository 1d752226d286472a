"""Preference pairs as records and a summary (``seqscore preference``)."""

from __future__ import annotations

import json
from typing import IO

from seqscore.report.writers import Column, write_records

__all__ = ["write_preferences"]

_TABLE = [
    Column("id", "pair", width=14, align="<"),
    Column("chosen_logprob", "chosen", width=10, spec=".3f"),
    Column("rejected_logprob", "rejected", width=10, spec=".3f"),
    Column("margin", width=9, spec=".3f"),
    Column("chosen_tokens", "tok c", width=6),
    Column("rejected_tokens", "tok r", width=6),
]
_REWARDS = [
    Column("ref_margin", "ref margin", width=10, spec=".3f"),
    Column("reward_margin", "reward margin", width=13, spec=".4f"),
]


def write_preferences(
    records: list[dict], summary: dict, fmt: str, out: IO[str], err: IO[str]
) -> None:
    """The pairs (one record each) and their summary: a table with the
    summary under it, one JSON object ``{"pairs", "summary"}``, or the pairs
    as jsonl/csv with the summary on ``err`` (standard error)."""
    with_reference = bool(records) and records[0]["reward_margin"] is not None
    if fmt == "json":
        json.dump({"pairs": records, "summary": summary}, out, indent=2)
        out.write("\n")
        return
    if fmt == "table":
        columns = _TABLE + (_REWARDS if with_reference else [])
        write_records(iter(records), columns, fmt, out)
        out.write("\n" + "\n".join(summary_lines(summary)) + "\n")
        return
    names = list(records[0]) if records else []
    write_records(iter(records), [Column(n) for n in names], fmt, out)
    err.write("\n".join(f"seqscore: {line}" for line in summary_lines(summary)) + "\n")


def summary_lines(summary: dict) -> list[str]:
    """The summary for people to read.

    >>> summary_lines({"pairs": 4, "accuracy": 0.75, "accuracy_low": 0.25,
    ...   "accuracy_high": 1.0, "mean_margin": 1.5, "accuracy_per_token": 0.5,
    ...   "longer_wins": None, "pairs_of_different_length": 0})[:2]
    ['pairs: 4', 'preference accuracy: 0.750 (95% bootstrap interval 0.250-1.000)']
    """
    lines = [
        f"pairs: {summary['pairs']}",
        _with_interval("preference accuracy", summary, "accuracy"),
        f"mean margin: {summary['mean_margin']:.4f}",
        f"accuracy by mean log-prob per token: {summary['accuracy_per_token']:.3f}",
    ]
    longer = summary["longer_wins"]
    different = summary["pairs_of_different_length"]
    lines.append(
        "length bias: no pair has responses of different lengths"
        if longer is None
        else f"length bias: the longer response scores higher in {longer:.3f} "
        f"of {different} pairs of different lengths"
    )
    if "dpo_accuracy" in summary:
        lines += [
            _with_interval("DPO reward accuracy", summary, "dpo_accuracy"),
            f"mean reward margin: {summary['mean_reward_margin']:.4f}",
            f"reference accuracy: {summary['reference_accuracy']:.3f}",
            "largest disagreements (margin vs reference margin): "
            + ", ".join(
                f"{d['id']} ({d['margin']:.2f} vs {d['ref_margin']:.2f})"
                for d in summary["disagreements"]
            ),
        ]
    return lines


def _with_interval(label: str, summary: dict, key: str) -> str:
    return (
        f"{label}: {summary[key]:.3f} (95% bootstrap interval "
        f"{summary[key + '_low']:.3f}-{summary[key + '_high']:.3f})"
    )
