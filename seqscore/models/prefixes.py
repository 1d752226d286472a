r"""Token prefixes that several contexts share: a radix tree of a run's contexts.

Few-shot prompts repeat their shots: every question of an MMLU subject
begins with the same 400-600 tokens, and most tasks share at least a
description. :func:`shared_prefix_tree` finds every prefix of at least
``min_length`` tokens that two or more distinct contexts begin with, nested
as they nest (a subject's shots inside a description every subject shares).
Scoring computes each one's keys and values once, and runs every context
below it as its *remainder* after them
(:class:`seqscore.models.hf_passes.PackedPasses`).

A shared prefix always leaves each of its contexts at least one token: a
context's last token predicts the first token of its continuations, so it
runs with them.

How: sort the contexts; the common prefix of any set of them that is
contiguous in sorted order is the least common prefix of neighbours
(the LCP array), and the prefixes shared by two or more contexts are its
*LCP intervals*, found in one pass with a stack (Abouelhoda, Kurtz and
Ohlebusch, 2004). Pure bookkeeping: no model, no torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

__all__ = ["PrefixNode", "shared_prefix_tree"]


@dataclass
class PrefixNode:
    """A prefix shared by the contexts below it.

    ``prefix``: its tokens (empty at the root); ``contexts``: indices of the
    contexts whose longest kept shared prefix this is; ``children``: longer
    prefixes shared by contexts below it.
    """

    prefix: tuple[int, ...]
    contexts: list[int] = field(default_factory=list)
    children: list[PrefixNode] = field(default_factory=list)

    def nodes(self) -> Iterator[PrefixNode]:
        """This node and every node below it, parents first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def context_count(self) -> int:
        """How many contexts lie below this node (its own included)."""
        return sum(len(node.contexts) for node in self.nodes())


def shared_prefix_tree(
    contexts: Sequence[tuple[int, ...]],
    *,
    min_length: int,
    max_path_tokens: int | None = None,
) -> PrefixNode:
    """The tree of prefixes of at least ``min_length`` tokens shared by two
    or more of ``contexts`` (distinct, non-empty tuples of token ids).

    Every context index appears in exactly one node's ``contexts``. A
    prefix's keys are kept while the contexts below it run, so the prefixes
    on one root-to-node path are held at once: ``max_path_tokens`` bounds
    their summed lengths (a prefix that would pass it is not shared; its
    contexts run after its parent's).

    >>> shots = (7, 7, 7, 7)
    >>> contexts = [shots + (1, 2), shots + (3,), (5, 6), shots + (1, 4)]
    >>> tree = shared_prefix_tree(contexts, min_length=3)
    >>> [(n.prefix, n.contexts) for n in tree.nodes()]
    [((), [2]), ((7, 7, 7, 7), [1]), ((7, 7, 7, 7, 1), [0, 3])]

    Shorter than ``min_length``, a prefix is not shared:

    >>> tree = shared_prefix_tree(contexts, min_length=5)
    >>> [(n.prefix, n.contexts) for n in tree.nodes()]
    [((), [2, 1]), ((7, 7, 7, 7, 1), [0, 3])]
    >>> tree = shared_prefix_tree(contexts, min_length=3, max_path_tokens=8)
    >>> [(n.prefix, n.contexts) for n in tree.nodes()]
    [((), [2]), ((7, 7, 7, 7), [1, 0, 3])]
    """
    if not contexts:
        return PrefixNode(())
    order = sorted(range(len(contexts)), key=contexts.__getitem__)
    shared = [_common_length(contexts[a], contexts[b]) for a, b in pairwise(order)]
    root = _settle(_lcp_intervals(shared), order, contexts, min_length)
    if max_path_tokens is not None:
        _bound_paths(root, max_path_tokens)
    return root


def _common_length(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """The length of the longest common prefix of ``a`` and ``b``."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:  # the common case of a few-shot run: one C compare
        return n
    low, high = 0, n  # a[:low] == b[:low] and a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle
    return low


@dataclass
class _Interval:
    """Positions ``left..right`` of the sorted contexts, which share their
    first ``shared`` tokens, and the longer-sharing intervals inside."""

    shared: int
    left: int
    right: int = -1
    children: list[_Interval] = field(default_factory=list)


def _lcp_intervals(shared: Sequence[int]) -> _Interval:
    """The LCP-interval tree of sorted items whose neighbours share
    ``shared[k]`` tokens (items ``k`` and ``k + 1``); the root spans all."""
    n = len(shared) + 1
    stack = [_Interval(0, 0)]
    for k in range(1, n + 1):
        value = shared[k - 1] if k < n else 0
        left, last = k - 1, None
        while value < stack[-1].shared:
            last = stack.pop()
            last.right, left = k - 1, last.left
            if value <= stack[-1].shared:
                stack[-1].children.append(last)
                last = None
        if value > stack[-1].shared:
            stack.append(_Interval(value, left, children=[last] if last else []))
    root = stack[0]
    root.right = n - 1
    return root


def _settle(root: _Interval, order, contexts, min_length: int) -> PrefixNode:
    """Prefix nodes of the intervals, children before parents: each
    prefix is cut to leave every context below it a token, and one cut to
    no longer than its parent's, or shorter than ``min_length``, gives its
    contexts and children to its parent."""
    settled: dict[int, tuple[PrefixNode, int]] = {}  # id -> (node, shortest)
    for interval in reversed(list(_preorder(root))):
        own = _uncovered(interval)
        shortest = min(
            [len(contexts[order[k]]) for k in own]
            + [settled[id(c)][1] for c in interval.children]
        )
        length = min(interval.shared, shortest - 1)
        node = PrefixNode(contexts[order[interval.left]][:length])
        node.contexts = [order[k] for k in own]
        for child in interval.children:
            below, _ = settled.pop(id(child))
            if len(below.prefix) > length and len(below.prefix) >= min_length:
                node.children.append(below)
            else:
                node.contexts += below.contexts
                node.children += below.children
        settled[id(interval)] = node, shortest
    return settled[id(root)][0]


def _preorder(root: _Interval) -> Iterator[_Interval]:
    stack = [root]
    while stack:
        interval = stack.pop()
        yield interval
        stack.extend(interval.children)


def _uncovered(interval: _Interval) -> list[int]:
    """Positions of ``interval`` outside all its children (children are
    disjoint and in order)."""
    own: list[int] = []
    at = interval.left
    for child in interval.children:
        own.extend(range(at, child.left))
        at = child.right + 1
    own.extend(range(at, interval.right + 1))
    return own


def _bound_paths(root: PrefixNode, max_path_tokens: int) -> None:
    """Unshare prefixes (top down) until no root-to-node path holds more
    than ``max_path_tokens`` prefix tokens."""
    stack = [(root, 0)]
    while stack:
        node, held = stack.pop()
        kept: list[PrefixNode] = []
        pending = list(node.children)
        while pending:
            child = pending.pop()
            if held + len(child.prefix) <= max_path_tokens:
                kept.append(child)
                stack.append((child, held + len(child.prefix)))
            else:
                node.contexts += child.contexts
                pending += child.children
        node.children = kept[::-1]
