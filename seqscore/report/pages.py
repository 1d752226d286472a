"""Each command's page (``--format html``): the data a template shows.

The four commands that write a page hand their results here: ``score`` its
records (those of ``--format json --tokens``, so every number is json's),
``compare`` its comparisons (and each prompt's records, made as ``score``
makes them), ``diagnose`` its diagnosis or survey, ``evaluate`` its task
evaluations and the listed documents read again. Each ``write_*_page``
shapes them into what ``templates/`` lays out (a prompt's candidates and
their token cells, its rankings under every normalisation, the
comparisons' words and deciding tokens, a diagnosis's steps and curves, a
task's accuracies and documents) and writes the page (:mod:`.html`). The
templates compute nothing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO

from seqscore.diagnostics.greedy_vs_best import GreedyDiagnosis, GreedySurvey
from seqscore.lmeval.evaluation import TaskEvaluation
from seqscore.lmeval.logged import Document
from seqscore.lmeval.verdicts import METRICS, TIE_TOLERANCE
from seqscore.numerics.reductions import RANKABLE
from seqscore.report.comparison import explanation
from seqscore.report.diagnosis import survey_summary
from seqscore.report.evaluation import consistency_lines
from seqscore.report.html import (
    PAGE_SIZE,
    cell,
    readable,
    token_cells,
    write_page,
)
from seqscore.report.readable import truncate, visible
from seqscore.report.scores import score_record, token_detail
from seqscore.scoring.candidates import Prompt, competition_ranks, score_prompt
from seqscore.scoring.pairwise import Comparison

#: Columns of a candidate's text in the rankings table (cut with "…").
LABEL_WIDTH = 40

__all__ = [
    "listed_locations",
    "write_comparisons_page",
    "write_diagnosis_page",
    "write_evaluation_page",
    "write_scores_page",
    "write_survey_page",
]


# ------------------------------------------------------------ score pages


def _rankings(records: Sequence[dict]) -> dict:
    """Each candidate's rank under every normalisation all of them have (the
    rule of :func:`~seqscore.scoring.candidates.score_prompt`), among the
    candidates shown (``--top`` shows fewer): one row a candidate, best by
    the sum first, one column a normalisation, and which ranks differ from
    the sum's."""
    names, ranked = [], []
    for name in RANKABLE:
        key = "score" if name == "sum" else name
        values = [record.get(key) for record in records]
        if any(value is None for value in values):
            continue
        names.append(name)
        ranked.append((competition_ranks(values), values))
    if not names:
        return {"names": [], "rows": [], "disagree": False}
    by_sum = ranked[0][0]
    rows = [
        {
            "label": truncate(_label(records[i]), LABEL_WIDTH),
            "cells": [
                {
                    "rank": int(ranks[i]),
                    "value": values[i],
                    "moved": int(ranks[i]) != int(by_sum[i]),
                }
                for ranks, values in ranked
            ],
        }
        for i in sorted(range(len(records)), key=lambda i: (by_sum[i], i))
    ]
    winners = {
        frozenset(i for i in range(len(records)) if ranks[i] == 1)
        for ranks, _ in ranked
    }
    return {"names": names, "rows": rows, "disagree": len(winners) > 1}


def _label(record: dict) -> str:
    """A candidate as a person reads it in a table: its text with spaces
    left as spaces (the token cells show each one), every other hidden
    character made visible; its id when it has no text."""
    text = record.get("text")
    return readable(text) if text else str(record["candidate"])


def _prompt_view(
    prompt_id: str,
    records: list[dict],
    text: str | None = None,
    comparisons: Sequence[Comparison] = (),
    note: str | None = None,
) -> dict:
    """One prompt's section: its candidates best first (a candidate's
    record, its readable label and token cells, the deciding steps of the
    comparisons it lost marked), its rankings, whether the normalisations
    disagree on the winner, and the comparisons in words."""
    deciding: dict[str, set[int]] = {}
    for c in comparisons:
        deciding.setdefault(c.a, set()).update(c.deciding_steps)
    rankings = _rankings(records)
    return {
        "id": prompt_id,
        "text": text,
        "candidates": [
            {
                **record,
                "label": _label(record),
                "cells": token_cells(
                    record.get("tokens"),
                    record["weakest_position"],
                    deciding.get(record["candidate"], ()),
                ),
            }
            for record in sorted(records, key=lambda record: record["rank"])
        ],
        "rankings": rankings,
        "disagree": rankings["disagree"],
        "comparisons": [_comparison_view(c) for c in comparisons],
        "note": note,
    }


def _comparison_view(c: Comparison) -> dict:
    """A comparison in the words of ``seqscore compare``'s text (its first
    line as the headline)."""
    lines = explanation(c).splitlines()
    return {
        "a": c.a,
        "b": c.b,
        "margin": c.margin,
        "paradox": c.paradox,
        "headline": lines[0],
        "lines": [line.strip() for line in lines[1:]],
    }


def write_scores_page(
    records: Iterable[dict], out: IO[str], *, normalize: str, source: str
) -> None:
    """``seqscore score --format html``: ``records`` (score records with
    ``--tokens`` detail, each prompt's together) as a page, written as they
    come: a prompt's records are held, not the run's."""
    stream = iter(records)
    first = next(stream, None)  # a failing first record fails before the page
    groups = itertools.groupby(
        stream if first is None else itertools.chain([first], stream),
        key=lambda record: record["prompt"],
    )
    write_page(
        "scores.html",
        out,
        title=f"seqscore score: {source}",
        command="score",
        normalize=normalize,
        prompts=(_prompt_view(key, list(group)) for key, group in groups),
        page_size=PAGE_SIZE,
    )


def write_comparisons_page(
    results: Sequence[tuple[Prompt, list[Comparison], str | None]],
    out: IO[str],
    *,
    alpha: float,
    source: str,
) -> None:
    """``seqscore compare --format html``: each prompt's candidates (their
    records as ``seqscore score --tokens --alpha`` makes them), ranked, with
    the comparisons' explanations and their deciding tokens marked."""
    write_page(
        "scores.html",
        out,
        title=f"seqscore compare: {source}",
        command="compare",
        normalize="sum",
        prompts=(
            _prompt_view(
                prompt.id,
                _prompt_records(prompt, alpha),
                prompt.text,
                comparisons,
                note,
            )
            for prompt, comparisons, note in results
        ),
        page_size=PAGE_SIZE,
    )


def _prompt_records(prompt: Prompt, alpha: float) -> list[dict]:
    """A prompt's records as ``seqscore score --tokens --alpha`` writes them
    (ranked by the sum, which ``compare`` explains)."""
    records = []
    for scored, candidate in zip(
        score_prompt(prompt, "sum", alpha), prompt.candidates, strict=True
    ):
        record = score_record(scored)
        tokens = candidate.tokens
        record["tokens"] = None if tokens is None else token_detail(tokens)
        records.append(record)
    return records


# -------------------------------------------------------------- diagnose


def _path_cells(reading) -> list[dict]:
    """A path's steps: each token's cell (the step's most probable token for
    the hover: what the decoder saw instead of a top-k), cumulative log-prob
    and entropy, as ``diagnose --format json`` gives them."""
    decoded = reading.decoded
    return [
        {
            **cell(
                token,
                logprob,
                reading.rank[t],
                None,
                alt=visible(reading.argmax_tokens[t]),
            ),
            "cumulative": reading.cumulative[t],
            "entropy": reading.entropy[t],
        }
        for t, (token, logprob) in enumerate(
            zip(decoded.tokens, decoded.logprobs, strict=True)
        )
    ]


def _chart(d: GreedyDiagnosis, width: int = 640, height: int = 220) -> dict:
    """Both paths' cumulative log-prob as SVG polylines (step 0 is 0.0; an
    ended path stays flat, as in :mod:`.plots`)."""
    paths = [("greedy", d.greedy)] + ([] if d.greedy_is_best else [("best", d.best)])
    steps = max(len(reading.decoded) for _, reading in paths) or 1
    low = min([0.0, *(v for _, r in paths for v in r.cumulative if math.isfinite(v))])
    low = low if low < 0 else -1.0
    pad = 36

    def point(step: int, value: float) -> str:
        x = pad + (width - 2 * pad) * step / steps
        y = 12 + (height - 40) * (value / low if math.isfinite(value) else 1.0)
        return f"{x:.1f},{y:.1f}"

    lines = []
    for name, reading in paths:
        values = [0.0, *reading.cumulative]
        values += [values[-1]] * (steps + 1 - len(values))
        lines.append(
            {
                "name": name,
                "points": " ".join(point(s, v) for s, v in enumerate(values)),
                "total": reading.decoded.total,
            }
        )
    ticks = [
        {"y": point(0, v).split(",")[1], "label": f"{v:.1f}"}
        for v in (0.0, low / 2, low)
    ]
    xs = [{"x": point(s, 0.0).split(",")[0], "label": str(s)} for s in range(steps + 1)]
    diverge = None
    if d.diverge_step is not None:
        diverge = point(d.diverge_step, 0.0).split(",")[0]
    return {
        "width": width,
        "height": height,
        "lines": lines,
        "yticks": ticks,
        "xticks": xs,
        "diverge": diverge,
        "bottom": height - 28,
        "left": pad,
        "right": width - pad,
    }


def write_diagnosis_page(d: GreedyDiagnosis, out: IO[str]) -> None:
    """``seqscore diagnose --format html``: the greedy path against the most
    probable one, step by step (each token coloured by its surprisal; its
    rank and the step's most probable token on hover), the cumulative
    curves, and the explanation."""
    greedy, best = _path_cells(d.greedy), _path_cells(d.best)
    steps = [
        {
            "step": t + 1,
            "greedy": greedy[t] if t < len(greedy) else None,
            "best": best[t] if t < len(best) else None,
        }
        for t in range(max(len(greedy), len(best)))
    ]
    write_page(
        "diagnosis.html",
        out,
        title=f"seqscore diagnose: {readable(d.prompt) or '(start of a sentence)'}",
        command="diagnose",
        d=d,
        steps=steps,
        chart=_chart(d),
    )


def write_survey_page(s: GreedySurvey, out: IO[str]) -> None:
    """``seqscore diagnose --survey N --format html``: the summary and one
    row per prompt (paged)."""
    write_page(
        "survey.html",
        out,
        title="seqscore diagnose --survey",
        command="diagnose",
        s=s,
        summary=survey_summary(s),
        page_size=PAGE_SIZE * 5,
    )


# -------------------------------------------------------------- evaluate


def _choices_view(document: Document | None, predicted: Sequence[int | None]):
    """A listed document's choices, each with its logged log-likelihood and
    the metrics that pick it (None: its line could not be read again)."""
    if document is None:
        return None
    rows = []
    for i, loglikelihood in enumerate(document.loglikelihoods):
        text = document.choices[i] if i < len(document.choices) else None
        rows.append(
            {
                "index": i,
                "text": None if text is None else readable(text),
                "loglikelihood": loglikelihood,
                "is_greedy": document.is_greedy[i],
                "unconditional": None
                if document.unconditional is None
                else document.unconditional[i],
                "gold": i in document.gold,
                "picked_by": [
                    metric
                    for metric, choice in zip(METRICS, predicted, strict=False)
                    if choice == i
                ],
            }
        )
    return {"context": document.context, "rows": rows}


def _task_view(e: TaskEvaluation, documents: Mapping[str, Document]) -> dict:
    columns = [i for i, a in enumerate(e.accuracies) if a.n]
    disagreements = [
        {
            "doc_id": d.doc_id,
            "location": d.location,
            "gold": d.gold,
            "cells": [(d.predicted[i], d.correct[i]) for i in columns],
            "choices": _choices_view(documents.get(d.location), d.predicted),
        }
        for d in e.disagreements.items
    ]
    mismatches = [
        {
            "item": m,
            "choices": _choices_view(documents.get(m.location), ()),
        }
        for m in e.mismatches.items
    ]
    hashes = [
        {"item": n, "choices": _choices_view(documents.get(n.location), ())}
        for n in e.hash_problems.items
    ]
    interval = next((a.interval for a in e.accuracies if a.interval), None)
    return {
        "e": e,
        "accuracies": [{"a": a, "bar": _bar(a)} for a in e.accuracies],
        "metrics": [e.accuracies[i].metric for i in columns],
        "disagreements": disagreements,
        "mismatches": mismatches,
        "hashes": hashes,
        "ties": [(metric, listed) for metric, listed in e.ties if listed.total],
        "consistency": consistency_lines(e),
        "interval": interval,
    }


def _bar(accuracy) -> dict | None:
    """Where an accuracy and its interval lie on 0..1, in percent (the
    accuracy table's bar)."""
    ci, value = accuracy.interval, accuracy.value
    if ci is None or value is None:
        return None
    return {
        "low": round(100 * ci.low, 2),
        "width": round(100 * (ci.high - ci.low), 2),
        "point": round(100 * value, 2),
    }


def write_evaluation_page(
    evaluations: Sequence[TaskEvaluation],
    documents: Mapping[str, Document],
    out: IO[str],
) -> None:
    """``seqscore evaluate --format html``: per task the accuracy table with
    its intervals, and the listed documents where normalisations disagree or
    the log is inconsistent, each opening onto its choices' log-likelihoods
    (``documents``: the listed documents read again, by location)."""
    write_page(
        "evaluation.html",
        out,
        title="seqscore evaluate: "
        + ", ".join(f"{e.task} ({e.filter})" for e in evaluations),
        command="evaluate",
        tasks=[_task_view(e, documents) for e in evaluations],
        consistent=all(e.consistent for e in evaluations),
        tie_tolerance=f"{TIE_TOLERANCE:g}",
        page_size=PAGE_SIZE * 2,
    )


def listed_locations(evaluations: Sequence[TaskEvaluation]) -> Iterator[str]:
    """Where the documents a page lists are (``file:line``): those it opens
    onto their choices."""
    for e in evaluations:
        for d in e.disagreements.items:
            yield d.location
        for m in e.mismatches.items:
            yield m.location
        for n in e.hash_problems.items:
            yield n.location
