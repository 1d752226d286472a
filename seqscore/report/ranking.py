"""Rankings as records: ``seqscore rank``'s probabilities and samples, and
``seqscore fit-rankings``'s fitted worths."""

from __future__ import annotations

import dataclasses

import numpy as np

from seqscore.plackett_luce.data import RankingData, ScoreGroup
from seqscore.plackett_luce.fitting import PlackettLuceFit
from seqscore.report.writers import Column, cell_text

__all__ = [
    "SAMPLE_COLUMNS",
    "fit_columns",
    "fit_records",
    "fit_summary",
    "probability_columns",
    "probability_records",
    "sample_records",
    "widened",
]

SAMPLE_COLUMNS = [
    Column("group", width=10, align="<"),
    Column("sample", width=6),
    Column("ranking", width=60, align="<"),
]


def probability_columns(ranks: int, top_k: int | None) -> list[Column]:
    """Columns of the probability table: ``ranks`` positions, and the top-k
    probability when ``top_k`` is given."""
    columns = [
        Column("group", width=10, align="<"),
        Column("item", width=12, align="<"),
        Column("score", width=10, spec=".4f"),
        Column("p_first", width=8, spec=".4f"),
        Column("expected_rank", "E[rank]", width=8, spec=".3f"),
    ]
    if top_k is not None:
        columns.append(Column("p_top_k", f"P[top{top_k}]", width=8, spec=".4f"))
    columns += [
        Column(f"p_rank_{r}", f"P[{r}]", width=7, spec=".4f")
        for r in range(1, ranks + 1)
    ]
    return columns


def probability_records(
    group: ScoreGroup, first, expected, marginals, in_top
) -> list[dict]:
    """One record per candidate of ``group``, best score first: its
    first-choice probability, expected rank, top-k probability (``in_top``,
    or None) and the probability of each position (``marginals``' columns,
    or None)."""
    shown = 0 if marginals is None else marginals.shape[1]
    records = []
    for i in np.argsort(-group.scores, kind="stable"):
        record = {
            "group": group.name,
            "item": group.items[i],
            "score": float(group.scores[i]),
            "p_first": float(first[i]),
            "expected_rank": float(expected[i]),
        }
        if in_top is not None:
            record["p_top_k"] = float(in_top[i])
        for r in range(shown):
            record[f"p_rank_{r + 1}"] = float(marginals[i, r])
        records.append(record)
    return records


def sample_records(group: ScoreGroup, drawn) -> list[dict]:
    """One record per sampled ranking of ``group``, its items by name."""
    names = np.array(group.items, dtype=object)
    return [
        {"group": group.name, "sample": index, "ranking": list(names[ranking])}
        for index, ranking in enumerate(drawn, start=1)
    ]


def widened(columns: list[Column], records: list[dict]) -> list[Column]:
    """Number columns as wide as their widest value: a table never cuts a number."""
    out = []
    for column in columns:
        if column.align == ">":  # numbers; names and rankings keep their width
            texts = (cell_text(r.get(column.key), column.spec) for r in records)
            widest = max(map(len, texts), default=0)
            column = dataclasses.replace(column, width=max(column.width, widest))
        out.append(column)
    return out


_FIT_COLUMNS = [
    Column("rank", width=4),
    Column("item", width=16, align="<"),
    Column("log_worth", width=10, spec=".4f"),
    Column("stderr", width=8, spec=".4f"),
    Column("worth", width=8, spec=".4f"),
    Column("rankings", width=8),
]
# Machine-readable formats carry the fit's summary on every row.
_FIT_SUMMARY_COLUMNS = [Column("log_likelihood"), Column("converged")]


def fit_columns(fmt: str) -> list[Column]:
    """The fit's columns; machine-readable formats repeat its summary."""
    return _FIT_COLUMNS if fmt == "table" else _FIT_COLUMNS + _FIT_SUMMARY_COLUMNS


def fit_records(result: PlackettLuceFit, data: RankingData):
    """One record per item, best first: worth, its error, its appearances."""
    appearances = np.bincount(
        data.rankings[data.rankings >= 0], minlength=len(data.items)
    )
    for place, i in enumerate(result.ranking(), start=1):
        yield {
            "rank": place,
            "item": result.items[i],
            "log_worth": float(result.log_worth[i]),
            "stderr": float(result.stderr[i]),
            "worth": float(result.worth[i]),
            "rankings": int(appearances[i]),
            "log_likelihood": result.log_likelihood,
            "converged": result.converged,
        }


def fit_summary(result: PlackettLuceFit, data: RankingData) -> str:
    """The table's closing line: the fit's likelihood, prior and state."""
    prior = (
        "none"
        if result.prior is None
        else (f"{result.prior} (strength {result.prior_strength:g})")
    )
    state = "converged" if result.converged else "NOT converged"
    return (
        f"# log-likelihood {result.log_likelihood:.6f}; {result.n_rankings} "
        f"rankings of {len(data.items)} items; prior {prior}; {state} after "
        f"{result.n_iter} iterations\n"
    )
