"""``seqscore rank``: Plackett-Luce probabilities and samples for candidate scores."""

from __future__ import annotations

import click
import numpy as np

from seqscore.commands.options import (
    command,
    count_option,
    format_option,
    output_option,
    temperature_option,
)
from seqscore.errors import InvalidInputError
from seqscore.formats.rankings import read_candidate_scores
from seqscore.plackett_luce import (
    expected_ranks,
    marginal_rank_probabilities,
    sample,
    selection_probabilities,
    top_k_probabilities,
)
from seqscore.plackett_luce.data import ScoreGroup
from seqscore.plackett_luce.marginals import MAX_ITEMS as MAX_MARGINAL_ITEMS
from seqscore.report.ranking import (
    SAMPLE_COLUMNS,
    probability_columns,
    probability_records,
    sample_records,
    widened,
)
from seqscore.report.writers import open_output, write_records

_DEFAULT_RANK_COLUMNS = 10


def _scaled(group: ScoreGroup, temperature: float) -> np.ndarray:
    """``scores / T``; a quotient past the float range blames ``--temperature``."""
    with np.errstate(over="ignore"):
        s = group.scores / temperature
    if not np.isfinite(s).all():
        i = int(np.argmin(np.isfinite(s)))
        where = f" in group {group.name!r}" if group.name is not None else ""
        raise click.BadParameter(
            f"{temperature:g} divides the score {group.scores[i]:g} of candidate "
            f"{group.items[i]!r}{where} past the float range; use a larger one",
            param_hint="'-t' / '--temperature'",
        )
    return s


def _check_marginal_sizes(groups, ranks: int, top_k: int | None) -> None:
    largest = max(groups, key=lambda g: len(g.items))
    if (ranks or top_k) and len(largest.items) > MAX_MARGINAL_ITEMS:
        where = f" (group {largest.name!r})" if largest.name is not None else ""
        raise InvalidInputError(
            f"{len(largest.items)} candidates{where}: exact position probabilities "
            f"go up to {MAX_MARGINAL_ITEMS}; use --ranks 0 without --top-k, or "
            "--samples"
        )


def _group_probabilities(group: ScoreGroup, temperature, ranks, top_k):
    s = _scaled(group, temperature)
    first = selection_probabilities(s)
    expected = expected_ranks(s)
    shown = min(ranks, len(s))
    # Only the positions shown: the first 10 of 1000 take a second, all of
    # them minutes.
    marginals = marginal_rank_probabilities(s, positions=shown) if shown else None
    in_top = top_k_probabilities(s, min(top_k, len(s))) if top_k else None
    return probability_records(group, first, expected, marginals, in_top)


def _probability_table(groups, temperature, ranks, top_k):
    _check_marginal_sizes(groups, ranks, top_k)
    widest = max(len(g.items) for g in groups)
    columns = probability_columns(min(ranks, widest), top_k)
    records = [
        record
        for group in groups
        for record in _group_probabilities(group, temperature, ranks, top_k)
    ]
    return columns, records


def _sample_table(groups, temperature, samples, k, seed):
    rng = np.random.default_rng(seed)
    columns = SAMPLE_COLUMNS
    records = []
    for group in groups:
        size = None if k is None else min(k, len(group.items))
        drawn = sample(_scaled(group, temperature), samples, size, rng=rng)
        records += sample_records(group, drawn)
    return columns, records


def _ungrouped(columns, records):
    """The table without its group column (no --group-field)."""
    columns = [c for c in columns if c.key != "group"]
    records = [{k: v for k, v in r.items() if k != "group"} for r in records]
    return columns, records


@command("rank")
@click.argument("scores", default="-", metavar="[FILE]")
@click.option(
    "--score-field",
    default="score",
    help="Field (JSON) or column (CSV) holding each candidate's score.",
)
@click.option(
    "--id-field",
    default=None,
    help="Field naming each candidate; when given, every candidate must have "
    "it. Default: 'id' if the candidates have one, else they are numbered 0, "
    "1, ... in file order (per group).",
)
@click.option(
    "--group-field",
    default=None,
    help="Field grouping candidates into separate rankings (e.g. prompt_id).",
)
@temperature_option("the scores by a finite T > 0")
@count_option(
    "--ranks",
    at_least=0,
    default=_DEFAULT_RANK_COLUMNS,
    help="Show P[r], the probability of position r, for r = 1..RANKS. Only "
    "these positions are computed: the default takes about a second for 1000 "
    "candidates, all 1000 positions take minutes.",
)
@count_option(
    "--top-k",
    at_least=1,
    default=None,
    help="Also show P[topK], the probability of being among the first K "
    "(with --samples: sample only the first K places).",
)
@count_option(
    "--samples",
    at_least=1,
    default=None,
    help="Print N sampled rankings instead of the probabilities.",
)
@count_option(
    "--seed",
    at_least=0,
    default=None,
    help="Seed for --samples (required with it: samples are reproducible).",
)
@format_option()
@output_option()
def rank_command(
    scores,
    score_field,
    id_field,
    group_field,
    temperature,
    ranks,
    top_k,
    samples,
    seed,
    fmt,
    output,
):
    """Rank candidates by their scores with the Plackett-Luce model.

    Reads candidate scores (log-worths, e.g. sequence log-probabilities) from
    FILE or standard input: JSON Lines ({"id": "a", "score": -3.2} per line),
    a JSON array of such objects, or CSV with a header. Prints, per candidate,
    the probability of being chosen first (a softmax of the scores), the
    expected rank, and the exact probability of each position; or, with
    --samples, rankings drawn from the model (Gumbel-top-k). Positions are
    exact up to 20 candidates and accurate to ~1e-13 beyond.

    \b
    Examples:
      seqscore rank candidates.jsonl
      seqscore rank scores.csv --score-field logprob --id-field text
      seqscore rank all.jsonl --group-field prompt_id --format csv -o ranks.csv
      seqscore rank candidates.jsonl --samples 5 --seed 0
      echo '{"id": "a", "score": 2}
      {"id": "b", "score": 1}' | seqscore rank - --top-k 1
    """
    if samples is not None and seed is None:
        raise click.UsageError(
            "--samples needs --seed (sampled rankings must be reproducible)"
        )
    groups = read_candidate_scores(
        scores, score_field=score_field, id_field=id_field, group_field=group_field
    )
    grouped = group_field is not None
    # Everything is computed before anything is written: an error in the last
    # group must not leave half a table on standard output.
    if samples is not None:
        columns, records = _sample_table(groups, temperature, samples, top_k, seed)
    else:
        columns, records = _probability_table(groups, temperature, ranks, top_k)
    if not grouped:
        columns, records = _ungrouped(columns, records)
    if fmt == "table":
        columns = widened(columns, records)
    with open_output(output) as out:
        write_records(records, columns, fmt, out)
