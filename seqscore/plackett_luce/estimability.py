r"""Does a finite maximum-likelihood estimate of the worths exist?

Draw an arrow ``a -> b`` whenever item ``a`` is chosen from a set that
contains ``b`` (``a`` ranked above ``b``, or ``b`` left unlisted in a top-k
ranking that lists ``a``). Rankings of weight 0 draw nothing. The
Plackett-Luce log-likelihood has a finite maximiser (unique up to a shift)
exactly when this directed graph is *strongly connected*: every item beats,
through some chain, every other (Hunter 2004, Assumption 1, after Ford 1957).
Otherwise, for the condensation of the graph into strongly connected groups:

* a group never ranked below an item outside it (a *source*) can have its
  log-worths raised together without bound, always gaining likelihood;
* a group never ranked above an item outside it (a *sink*) likewise drifts
  to ``-inf``;
* groups with no comparison between them (a disconnected graph) have no
  defined relative worth at all;
* an item never compared with any other has no information at all.

A prior (``fit(..., prior="ghost")`` or ``"l2"``) makes every case finite.
Checking costs ``O(N L)`` for sub-rankings (consecutive pairs are enough: the
chain ``pi(0) -> pi(1) -> ...`` reaches what the full ranking implies), plus
one arrow per unlisted universe item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from seqscore.plackett_luce._rankings import RankingSet, prepare

__all__ = ["Estimability", "estimability"]

# Items named in a message before "... and N more".
_NAMED_ITEMS = 8


@dataclass(frozen=True)
class Estimability:
    """Whether the rankings determine finite worths, and if not, which items fail.

        ``unbeaten`` items sit in a group never ranked below an item outside it
        (their maximum-likelihood log-worth is ``+inf`` relative to the rest);
        ``winless`` items in a group never ranked above an outsider (``-inf``);
        ``uncompared`` items are in no comparison at all. ``groups`` lists the
        groups of compared items that are connected by some comparison (more than
        one means the rankings fall apart). ``message`` says all this in one line
    (empty when estimable).
    """

    estimable: bool
    unbeaten: tuple[int, ...]
    winless: tuple[int, ...]
    uncompared: tuple[int, ...]
    groups: tuple[tuple[int, ...], ...]
    message: str


def _edges(rs: RankingSet) -> tuple[np.ndarray, np.ndarray]:
    """Arrows winner -> loser that imply every comparison in the rankings."""
    live = np.ones(rs.n_rankings, bool) if rs.weights is None else rs.weights > 0
    order = rs.order
    winner, loser = order[:-1], order[1:]
    keep = (loser >= 0) & live[None, :]
    sources, targets = [winner[keep]], [loser[keep]]
    if rs.unranked is not None:
        # The last listed item beats every unlisted item of its universe.
        last = order[np.maximum(rs.lengths - 1, 0), np.arange(rs.n_rankings)]
        rows, items = np.nonzero(rs.unranked & (live & (rs.lengths > 0))[:, None])
        sources.append(last[rows])
        targets.append(items)
    return np.concatenate(sources), np.concatenate(targets)


def _name(item: int, items: Sequence[str] | None) -> str:
    return repr(str(items[item])) if items is not None else str(item)


def _names(members, items) -> str:
    shown = ", ".join(_name(int(i), items) for i in members[:_NAMED_ITEMS])
    extra = len(members) - _NAMED_ITEMS
    return shown + (f" and {extra} more" if extra > 0 else "")


def _message(unbeaten, winless, uncompared, groups, items, bulk=()) -> str:
    """One line naming the items at fault.

    ``bulk`` is a strongly connected group holding most items; it is left out
    of the lists (it is "the rest" the others are compared with), so that one
    always-last newcomer does not make the message name every other item.
    """
    bulk = set(bulk)
    unbeaten = [i for i in unbeaten if i not in bulk]
    winless = [i for i in winless if i not in bulk]
    rest = f" (against the other {len(bulk)} items)" if bulk else ""
    parts = []
    if winless:
        parts.append(
            f"{len(winless)} item(s) never ranked above any item outside their "
            f"own group{rest}, so their maximum-likelihood log-worth is -inf: "
            f"{_names(winless, items)}"
        )
    if unbeaten:
        parts.append(
            f"{len(unbeaten)} item(s) never ranked below any item outside their "
            f"own group{rest}, so their log-worth is +inf: {_names(unbeaten, items)}"
        )
    if uncompared:
        parts.append(
            f"{len(uncompared)} item(s) never compared with another item: "
            f"{_names(uncompared, items)}"
        )
    if len(groups) > 1:
        sizes = ", ".join(str(len(g)) for g in groups[:_NAMED_ITEMS])
        parts.append(
            f"the rankings fall into {len(groups)} groups never compared with "
            f"each other (sizes {sizes}; e.g. {_name(groups[0][0], items)} and "
            f"{_name(groups[1][0], items)} are never compared, even indirectly)"
        )
    return "no finite maximum-likelihood estimate of the worths: " + "; ".join(parts)


def estimability_of(rs: RankingSet, items: Sequence[str] | None = None) -> Estimability:
    """:func:`estimability` for already prepared rankings."""
    n = rs.n_items
    src, dst = _edges(rs)
    graph = csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    n_strong, strong = connected_components(graph, directed=True, connection="strong")
    _, weak = connected_components(graph, directed=True, connection="weak")
    touched = np.zeros(n, bool)
    touched[src] = touched[dst] = True
    if n_strong == 1 or n == 1:
        return Estimability(True, (), (), (), (tuple(range(n)),), "")
    across = strong[src] != strong[dst]
    has_out = np.zeros(n_strong, bool)
    has_in = np.zeros(n_strong, bool)
    has_out[strong[src[across]]] = True
    has_in[strong[dst[across]]] = True
    unbeaten = np.flatnonzero(touched & has_out[strong] & ~has_in[strong])
    winless = np.flatnonzero(touched & has_in[strong] & ~has_out[strong])
    uncompared = np.flatnonzero(~touched)
    compared = np.flatnonzero(touched)
    labels, sizes = np.unique(weak[compared], return_counts=True)
    groups = tuple(
        tuple(int(i) for i in compared[weak[compared] == label])
        for label in labels[np.argsort(-sizes, kind="stable")]
    )
    unbeaten_ids, winless_ids, uncompared_ids = (
        tuple(int(i) for i in a) for a in (unbeaten, winless, uncompared)
    )
    sizes = np.bincount(strong, minlength=n_strong)
    largest = int(np.argmax(sizes))
    bulk = np.flatnonzero(strong == largest) if 2 * sizes[largest] > n else ()
    ids = unbeaten_ids, winless_ids, uncompared_ids
    message = _message(*ids, groups, items, bulk)
    return Estimability(False, *ids, groups, message)


def estimability(
    rankings,
    n_items: int | None = None,
    *,
    universe=None,
    weights=None,
    items: Sequence[str] | None = None,
) -> Estimability:
    """Check whether ``rankings`` determine finite Plackett-Luce worths.

    Arguments as for :func:`~seqscore.plackett_luce.fit`; ``items`` only
    names the items in the message.

    >>> estimability([[0, 1, 2], [1, 0, 2]]).winless   # item 2 always last
    (2,)
    >>> pairs = [[0, 1], [1, 0], [2, 3], [3, 2]]
    >>> print(estimability(pairs, universe="listed").message)  # doctest: +ELLIPSIS
    no finite ...: the rankings fall into 2 groups never compared with each other ...
    >>> estimability([[0, 1], [1, 2], [2, 0]], universe="listed").estimable
    True
    """
    rs = prepare(rankings, n_items, universe=universe, weights=weights)
    return estimability_of(rs, items)
