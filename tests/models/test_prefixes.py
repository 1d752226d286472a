"""The radix tree of shared prefixes (:mod:`seqscore.models.prefixes`),
checked against a brute-force longest common prefix of every pair."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from seqscore.models.prefixes import shared_prefix_tree


def _lcp(a, b) -> int:
    """The longest common prefix, token by token."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


@st.composite
def planted_contexts(draw):
    """Distinct contexts over a 3-token alphabet, many beginning with one of
    a few planted prefixes (themselves sharing beginnings)."""
    tokens = st.integers(0, 2)
    base = draw(st.lists(tokens, max_size=12))
    planted = [
        tuple(base[: draw(st.integers(0, len(base)))])
        + tuple(draw(st.lists(tokens, max_size=8)))
        for _ in range(draw(st.integers(1, 4)))
    ]
    contexts = set()
    for _ in range(draw(st.integers(1, 20))):
        prefix = draw(st.sampled_from(planted))
        tail = tuple(draw(st.lists(tokens, min_size=1, max_size=6)))
        contexts.add(prefix + tail)
    return sorted(contexts, key=lambda c: (len(c), c))[::-1]


def _paths(tree):
    """Each context's root-to-node path of prefix nodes."""
    paths = {}
    stack = [(tree, [tree])]
    while stack:
        node, path = stack.pop()
        for c in node.contexts:
            paths[c] = path
        stack.extend((child, [*path, child]) for child in node.children)
    return paths


@given(planted_contexts(), st.integers(1, 6))
def test_every_context_lies_below_prefixes_it_begins_with(contexts, min_length):
    tree = shared_prefix_tree(contexts, min_length=min_length)
    paths = _paths(tree)
    assert sorted(paths) == list(range(len(contexts)))  # each exactly once
    assert tree.prefix == ()
    for c, path in paths.items():
        for parent, node in pairwise(path):
            assert len(node.prefix) > len(parent.prefix)
            assert len(node.prefix) >= min_length
            assert node.prefix[: len(parent.prefix)] == parent.prefix
        # a shared prefix leaves its context a token to run with its continuations
        assert contexts[c][: len(path[-1].prefix)] == path[-1].prefix
        assert len(path[-1].prefix) < len(contexts[c])


@given(planted_contexts(), st.integers(1, 6))
def test_two_contexts_share_their_common_prefix_but_a_token(contexts, min_length):
    # the deepest node above both holds their longest common prefix, less at
    # most the one token a context equal to it would need for itself
    tree = shared_prefix_tree(contexts, min_length=min_length)
    paths = _paths(tree)
    for i in range(len(contexts)):
        for j in range(i + 1, len(contexts)):
            common = [a for a, b in zip(paths[i], paths[j], strict=False) if a is b][-1]
            lcp = _lcp(contexts[i], contexts[j])
            assert len(common.prefix) <= lcp
            if lcp - 1 >= min_length:
                assert len(common.prefix) >= lcp - 1


@given(planted_contexts(), st.integers(1, 4), st.integers(0, 30))
def test_the_prefixes_held_at_once_stay_within_the_bound(contexts, min_length, bound):
    tree = shared_prefix_tree(contexts, min_length=min_length, max_path_tokens=bound)
    paths = _paths(tree)
    assert sorted(paths) == list(range(len(contexts)))
    for path in paths.values():
        assert sum(len(node.prefix) for node in path) <= bound


def test_a_deep_chain_of_prefixes_needs_no_recursion():
    # each context extends the one before: 3,000 nested prefixes
    contexts = [tuple(range(n)) for n in range(2, 3002)]
    tree = shared_prefix_tree(contexts, min_length=1)
    assert sum(len(n.contexts) for n in tree.nodes()) == len(contexts)
    # the longest two share 3,000 tokens, all but the last of the shorter
    assert max(len(n.prefix) for n in tree.nodes()) == 2999
