r"""The exact most probable sequence, by best-first (uniform-cost) search.

Every path from the prompt is a node whose cost is
:math:`c(x_{1..t}) = -\sum_{s \le t} \log p(x_s \mid x_{<s}) \ge 0`, and
costs only grow along a path. So the first *leaf* (a sequence that ends with
EOS, or has ``max_tokens`` tokens) taken off a priority queue ordered by cost
is the most probable leaf: every other leaf descends from a node still on the
queue, whose cost is already at least as high. That is Dijkstra's argument on
the tree of continuations.

Three things keep the search small:

* the children of an expanded node are kept sorted by cost, and only the
  best not-yet-taken child of each node sits on the queue (taking it puts
  its next sibling there), so a 50,000-token vocabulary does not mean 50,000
  queue entries per node;
* the greedy decode is the first *incumbent* (the best leaf known); a child
  whose cost is not below the incumbent's can never win and is dropped, and
  every EOS child or full-length child met on the way can become the new
  incumbent;
* nodes are expanded ``batch_size`` at a time, in one model call.

The search expands at most ``node_budget`` nodes. If the budget runs out, the
result is the incumbent with ``proven_optimal=False`` and ``bound``, the
largest log-probability any sequence not yet ruled out could have (the
negated cost of the cheapest open node): the true best is somewhere between
``best.total`` and ``bound``. When proven, ``bound == best.total``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqscore.decoding.greedy import greedy
from seqscore.decoding.protocol import (
    Decoded,
    LanguageModel,
    check_count,
    check_max_tokens,
    check_prompt,
    make_decoded,
    next_logprobs,
)

__all__ = ["ExactResult", "exact_search"]


@dataclass(frozen=True)
class ExactResult:
    """The best sequence found, and whether it is proven to be the best.

    ``nodes_expanded`` counts prefixes whose next-token distribution the
    search asked for (the greedy incumbent's calls are not counted).
    """

    best: Decoded
    proven_optimal: bool
    bound: float
    nodes_expanded: int
    node_budget: int
    max_tokens: int


@dataclass(frozen=True)
class _Node:
    """An expanded prefix and its viable children, sorted best first."""

    ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    cost: float
    child_ids: np.ndarray  # token ids, best first
    child_logprobs: np.ndarray


class _Search:
    """The state of one search: queue, incumbent, counters."""

    def __init__(self, model, prompt, max_tokens, incumbent: Decoded):
        self.model, self.prompt, self.max_tokens = model, prompt, max_tokens
        self.incumbent = incumbent
        self.queue: list = []
        self.tiebreak = itertools.count()
        self.expanded = 0

    @property
    def ceiling(self) -> float:
        """Cost a new node must stay below to matter: the incumbent's."""
        return -self.incumbent.total

    def push(self, node: _Node, rank: int) -> None:
        """Queue child ``rank`` of ``node`` if it can still beat the incumbent."""
        if rank < len(node.child_ids):
            cost = node.cost - node.child_logprobs[rank]
            if cost < self.ceiling:
                heapq.heappush(self.queue, (cost, next(self.tiebreak), node, rank))

    def pop(self):
        """The cheapest viable queued child as ``(ids, logprobs, cost)``, or None."""
        while self.queue:
            cost, _, node, rank = heapq.heappop(self.queue)
            if cost >= self.ceiling:  # the incumbent improved since it was queued
                continue
            self.push(node, rank + 1)
            token = int(node.child_ids[rank])
            logprob = float(node.child_logprobs[rank])
            return (*node.ids, token), (*node.logprobs, logprob), cost
        return None

    def is_leaf(self, ids) -> bool:
        return len(ids) == self.max_tokens or (
            bool(ids) and ids[-1] == self.model.eos_id
        )

    def expand(self, batch) -> None:
        """Ask the model for every node of ``batch`` and queue their best child."""
        prefixes = [list(self.prompt) + list(ids) for ids, _, _ in batch]
        rows = next_logprobs(self.model, prefixes)
        self.expanded += len(batch)
        for (ids, logprobs, cost), row in zip(batch, rows, strict=True):
            node = self._node(ids, logprobs, cost, row)
            if len(node.child_ids):
                self._offer_leaves(node)
                self.push(node, 0)

    def _node(self, ids, logprobs, cost, row) -> _Node:
        # float64, so that path costs add in float64 whatever the model's
        # dtype (NumPy 2 keeps float16 - float16 in float16, and a cost so
        # summed once ranked a worse path first and "proved" it)
        row = np.asarray(row, dtype=np.float64)
        # only children cheaper than the incumbent are worth keeping
        viable = np.flatnonzero(cost - row < self.ceiling)
        order = viable[np.lexsort((viable, -row[viable]))]
        return _Node(ids, logprobs, cost, order, row[order])

    def _offer_leaves(self, node: _Node) -> None:
        """Make a leaf child of ``node`` the incumbent if it beats it."""
        eos = np.flatnonzero(node.child_ids == self.model.eos_id)
        ranks = [0] if len(node.ids) + 1 == self.max_tokens else eos[:1].tolist()
        for rank in ranks:
            token = int(node.child_ids[rank])
            logprob = float(node.child_logprobs[rank])
            leaf = make_decoded(
                self.model, (*node.ids, token), (*node.logprobs, logprob)
            )
            if leaf.total > self.incumbent.total:
                self.incumbent = leaf


def exact_search(
    model: LanguageModel,
    prompt: Sequence[int],
    max_tokens: int,
    *,
    node_budget: int = 100_000,
    batch_size: int = 1,
) -> ExactResult:
    """The most probable continuation of ``prompt`` with at most ``max_tokens``.

    ``batch_size`` nodes are expanded per model call: larger batches run
    faster on models with a per-call cost but may expand nodes a one-at-a-time
    search would not (they count against ``node_budget``).

    >>> from seqscore.models.tree import textbook_tree
    >>> result = exact_search(textbook_tree(), [], max_tokens=4)
    >>> result.best.tokens, round(result.best.probability, 6), result.proven_optimal
    (('B', 'C', '<eos>'), 0.36, True)
    """
    prompt = check_prompt(model, prompt)
    max_tokens = check_max_tokens(max_tokens)
    node_budget = check_count(node_budget, "node_budget")
    batch_size = check_count(batch_size, "batch_size")
    search = _Search(model, prompt, max_tokens, greedy(model, prompt, max_tokens))
    root = ((), (), 0.0)
    pending = [root]
    while pending:
        if search.expanded + len(pending) > node_budget:
            return _result(search, [*pending], proven=False, budget=node_budget)
        search.expand(pending)
        pending, leaf = _next_batch(search, batch_size)
        if leaf is not None and not pending:
            best = make_decoded(model, leaf[0], leaf[1])
            return ExactResult(
                best, True, best.total, search.expanded, node_budget, max_tokens
            )
    return _result(search, [], proven=True, budget=node_budget)


def _next_batch(search: _Search, batch_size: int):
    """Up to ``batch_size`` cheapest open non-leaf nodes, and a leaf if one came.

    A leaf that comes off the queue after some non-leaf nodes of this batch is
    put back: those nodes' children may still be cheaper than it.
    """
    batch: list = []
    while len(batch) < batch_size:
        item = search.pop()
        if item is None:
            return batch, None
        if search.is_leaf(item[0]):
            if batch:
                heapq.heappush(
                    search.queue,
                    (item[2], next(search.tiebreak), _leaf_node(item), 0),
                )
                return batch, None
            return batch, item
        batch.append(item)
    return batch, None


def _leaf_node(item) -> _Node:
    """A one-child node that re-queues a leaf exactly as it was."""
    ids, logprobs, cost = item
    parent_cost = cost + logprobs[-1]
    return _Node(
        ids[:-1],
        logprobs[:-1],
        parent_cost,
        np.array([ids[-1]]),
        np.array(logprobs[-1:]),
    )


def _result(search: _Search, open_items, *, proven: bool, budget: int) -> ExactResult:
    """The incumbent, with the bound left by the open nodes (if any)."""
    costs = [cost for _, _, cost in open_items]
    costs += [c for c, *_ in search.queue if c < search.ceiling]
    best = search.incumbent
    bound = best.total if proven or not costs else max(best.total, -min(costs))
    return ExactResult(
        best,
        proven or bound == best.total,
        bound,
        search.expanded,
        budget,
        search.max_tokens,
    )
