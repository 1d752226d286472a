"""``seqscore fit-rankings``: Plackett-Luce worths from observed rankings."""

from __future__ import annotations

import click
import numpy as np

from seqscore.commands.options import (
    choice_option,
    command,
    count_option,
    format_option,
    output_option,
    positive_finite,
)
from seqscore.errors import InvalidInputError, NoEstimateError
from seqscore.formats.rankings import LAYOUTS, read_rankings
from seqscore.plackett_luce import estimability, fit
from seqscore.plackett_luce.data import RankingData
from seqscore.plackett_luce.priors import PRIORS
from seqscore.report.ranking import fit_columns, fit_records, fit_summary
from seqscore.report.writers import open_output, write_records


def _parse_columns(text: str | None):
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if len(names) != 3 or not all(names):
        raise click.BadParameter(
            "give three column names: ITEM,RANKING,POSITION", param_hint="--columns"
        )
    return names


def _check_universe(data: RankingData, universe: str | None) -> None:
    """Partial rankings need --universe; say so in the command's own words."""
    short = data.lengths < len(data.items)
    if universe is None and short.any():
        i = int(np.argmax(short))
        raise InvalidInputError(
            f"{data.source}: {data.labels[i]} ranks {int(data.lengths[i])} of the "
            f"{len(data.items)} items: say what a short ranking means with "
            "--universe listed (it ranks only the items it lists, e.g. a race "
            "between its entrants) or --universe all (it is the top of a ranking "
            "of all items)"
        )


def _check_estimable(data: RankingData, universe: str | None) -> None:
    report = estimability(
        data.rankings, len(data.items), universe=universe, items=data.items
    )
    if not report.estimable:
        raise NoEstimateError(
            f"{data.source}: {report.message}. Use --prior ghost (or --prior l2) "
            "for finite estimates, or drop these items"
        )


@command("fit-rankings")
@click.argument("rankings", metavar="FILE")
@choice_option(
    "--layout",
    choices=LAYOUTS,
    default="auto",
    help="lines: one ranking per line, best first; long: a table with "
    "item, ranking and position columns; auto: long if the first line "
    "is such a header.",
)
@click.option(
    "--columns",
    default=None,
    metavar="ITEM,RANKING,POSITION",
    help="Names of the long table's columns, e.g. DriverID,Race,Place.",
)
@choice_option(
    "--universe",
    choices=["listed", "all"],
    default=None,
    help="What a ranking that lists fewer than all items ranks: only the "
    "items it lists (listed), or the top of all items (all). Required "
    "when some ranking is short.",
)
@choice_option(
    "--prior",
    choices=["none", *PRIORS],
    default="none",
    help="ghost: half a win and half a loss against a reference item of "
    "log-worth 0 for every item; l2: a Gaussian prior on log-worths. "
    "Either makes every estimate finite.",
)
@click.option(
    "--prior-strength",
    type=float,
    callback=positive_finite,
    default=None,
    help="Pseudo-wins per item (ghost, default 0.5) or precision (l2, default 0.1).",
)
@count_option(
    "--max-iter",
    at_least=1,
    default=100,
    help="Maximum number of iterations.",
)
@format_option()
@output_option()
def fit_rankings_command(
    rankings, layout, columns, universe, prior, prior_strength, max_iter, fmt, output
):
    """Fit Plackett-Luce worths to the rankings in FILE (- for standard input).

    Prints every item's log-worth (mean zero), its standard error (observed
    Fisher information), its worth (the probability of being ranked first
    among all items), the number of rankings it appears in, and the
    log-likelihood, sorted from the best item down.

    \b
    Examples:
      seqscore fit-rankings votes.txt            (one ranking per line)
      seqscore fit-rankings results.csv          (item,ranking_id,position)
      seqscore fit-rankings fixtures/nascar2002.txt --universe listed
      seqscore fit-rankings top3.txt --universe all --prior ghost
      seqscore fit-rankings votes.txt --format json -o worths.json

    Ties are not part of the model: two items sharing a position (or a=b in a
    line) are an error. Items that only ever win or only ever lose, or groups
    never compared with each other, have no finite estimate: that is an error
    naming them, unless a --prior is given.
    """
    the_prior = None if prior == "none" else prior
    if the_prior is None and prior_strength is not None:
        raise click.UsageError("--prior-strength needs --prior ghost or --prior l2")
    data = read_rankings(rankings, layout=layout, columns=_parse_columns(columns))
    _check_universe(data, universe)
    if the_prior is None:
        _check_estimable(data, universe)
    result = fit(
        data.rankings,
        len(data.items),
        universe=universe,
        items=data.items,
        prior=the_prior,
        prior_strength=prior_strength,
        max_iter=max_iter,
    )
    if not result.converged:
        click.echo(
            f"seqscore: warning: the fit did not converge in {result.n_iter} "
            "iterations; raise --max-iter",
            err=True,
        )
    with open_output(output) as out:
        write_records(fit_records(result, data), fit_columns(fmt), fmt, out)
        if fmt == "table":
            out.write(fit_summary(result, data))
