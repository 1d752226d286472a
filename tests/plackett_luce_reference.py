"""Slow, obviously-correct Plackett-Luce references for the tests.

Written straight from the definition with Python loops, one ranking and one
ordering at a time, independently of seqscore's vectorised code.
"""

from __future__ import annotations

import itertools

import numpy as np


def universe_of(ranking, n: int, universe, row: int) -> list[int]:
    """The items ranking ``row`` was chosen from."""
    listed = [int(i) for i in ranking if i >= 0]
    if isinstance(universe, str) and universe == "listed":
        return listed
    if isinstance(universe, str) and universe == "all":
        return list(range(n))
    return [int(k) for k in np.flatnonzero(universe[row])]


def log_prob(scores, ranking, choice_set) -> float:
    """``sum_r s_pi(r) - log sum_{j left} exp(s_j)``, choosing from ``choice_set``."""
    left = list(choice_set)
    total = 0.0
    for item in ranking:
        if item < 0:
            break
        total += scores[item] - np.logaddexp.reduce(np.asarray(scores)[left])
        left.remove(int(item))
    return float(total)


def log_likelihood(scores, rankings, universe, weights=None) -> float:
    n = len(scores)
    weights = np.ones(len(rankings)) if weights is None else weights
    return float(
        sum(
            w * log_prob(scores, r, universe_of(r, n, universe, i))
            for i, (r, w) in enumerate(zip(rankings, weights, strict=True))
        )
    )


def ordering_probabilities(scores):
    """``{ordering: probability}`` over all ``n!`` full orderings."""
    n = len(scores)
    return {
        perm: float(np.exp(log_prob(scores, perm, range(n))))
        for perm in itertools.permutations(range(n))
    }


def marginals(scores) -> np.ndarray:
    """``P[i, r]`` by summing over all ``n!`` orderings."""
    n = len(scores)
    out = np.zeros((n, n))
    for perm, p in ordering_probabilities(scores).items():
        for r, item in enumerate(perm):
            out[item, r] += p
    return out
