"""Counts of re-derived documents, kept per chunk of a file and merged.

A :class:`Tally` is what a worker process sends back for its chunk of a
samples file: counts per metric, 2x2 tables of every pair of metrics, the
first ``listed`` documents of each kind worth naming (normalisations that
disagree, ties, logged metrics that do not follow, hashes that do not
match, targets that are no choice), and the chunk's concatenated hashes for
the task hash. Merging keeps file order, so the listed documents are the
file's first ones and memory stays bounded however large the file.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from .verdicts import METRICS, Verdict

__all__ = ["PAIRS", "Listing", "Tally"]

#: Index pairs of :data:`METRICS` compared document by document.
PAIRS = tuple(itertools.combinations(range(len(METRICS)), 2))


@dataclass
class Listing:
    """How many items there are, and the first ``limit`` of them."""

    limit: int
    total: int = 0
    items: list = field(default_factory=list)

    def add(self, item) -> None:
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(item)

    def merge(self, other: Listing) -> None:
        self.total += other.total
        self.items.extend(other.items[: self.limit - len(self.items)])


@dataclass
class _FilterTally:
    """The counts of one filter's documents."""

    listed: int
    n: int = 0
    fewest_choices: int | None = None
    most_choices: int = 0
    computable: list = field(default_factory=lambda: [0] * len(METRICS))
    correct: list = field(default_factory=lambda: [0] * len(METRICS))
    logged_n: list = field(default_factory=lambda: [0] * len(METRICS))
    logged_sum: list = field(default_factory=lambda: [0.0] * len(METRICS))
    logged_squares: list = field(default_factory=lambda: [0.0] * len(METRICS))
    # per pair of metrics: [both right, only the first, only the second, neither]
    pairs: dict = field(default_factory=lambda: {p: [0, 0, 0, 0] for p in PAIRS})
    disagreements: Listing = field(init=False)
    ties: list = field(init=False)
    mismatches: Listing = field(init=False)
    gold_problems: Listing = field(init=False)
    hash_problems: Listing = field(init=False)

    def __post_init__(self):
        self.disagreements = Listing(self.listed)
        self.ties = [Listing(self.listed) for _ in METRICS]
        self.mismatches = Listing(self.listed)
        self.gold_problems = Listing(self.listed)
        self.hash_problems = Listing(self.listed)

    def add(self, v: Verdict) -> None:
        self.n += 1
        k = v.n_choices
        self.most_choices = max(self.most_choices, k)
        if self.fewest_choices is None or k < self.fewest_choices:
            self.fewest_choices = k
        correct = v.correct
        for m, ok in enumerate(correct):
            if ok is not None:
                self.computable[m] += 1
                self.correct[m] += ok
            value = v.logged[m]
            if value is not None:
                self.logged_n[m] += 1
                self.logged_sum[m] += value
                self.logged_squares[m] += value * value
            if v.tied[m]:
                self.ties[m].add(v)
        for pair, cells in self.pairs.items():
            a, b = correct[pair[0]], correct[pair[1]]
            if a is not None and b is not None:
                cells[(not a) * 2 + (not b)] += 1
        if len({p for p in v.predicted if p is not None}) > 1:
            self.disagreements.add(v)
        for mismatch in v.mismatches:
            self.mismatches.add((v, mismatch))
        if v.gold_problem is not None:
            self.gold_problems.add(v)
        for problem in v.hash_problems:
            self.hash_problems.add((v, problem))

    def merge(self, other: _FilterTally) -> None:
        self.n += other.n
        self.most_choices = max(self.most_choices, other.most_choices)
        fewest = [c for c in (self.fewest_choices, other.fewest_choices) if c]
        self.fewest_choices = min(fewest) if fewest else None
        for name in ("computable", "correct", "logged_n", "logged_sum"):
            mine, theirs = getattr(self, name), getattr(other, name)
            for m in range(len(METRICS)):
                mine[m] += theirs[m]
        for m in range(len(METRICS)):
            self.logged_squares[m] += other.logged_squares[m]
            self.ties[m].merge(other.ties[m])
        for pair, cells in self.pairs.items():
            for c in range(4):
                cells[c] += other.pairs[pair][c]
        for name in ("disagreements", "mismatches", "gold_problems", "hash_problems"):
            getattr(self, name).merge(getattr(other, name))


@dataclass
class Tally:
    """Counts per filter of a chunk's documents, or of a file's merged chunks.

    A chunk's ``hashes`` lists each document's ``doc_hash + prompt_hash +
    target_hash``; merged into a file's tally they feed ``digest`` (give it
    ``hashlib.sha256()``), whose hex digest is then lm-eval's task hash.
    ``complete_hashes`` is false once a document lacks one of them.
    """

    listed: int
    filters: dict = field(default_factory=dict)
    hashes: list = field(default_factory=list)
    complete_hashes: bool = True
    digest: Any = None

    def add(self, v: Verdict) -> None:
        tally = self.filters.get(v.filter)
        if tally is None:
            tally = self.filters[v.filter] = _FilterTally(self.listed)
        tally.add(v)
        if v.hashes is None:
            self.complete_hashes = False
        else:
            self.hashes.append(v.hashes)

    def merge(self, other: Tally) -> None:
        for name, theirs in other.filters.items():
            if name in self.filters:
                self.filters[name].merge(theirs)
            else:
                self.filters[name] = theirs
        self.digest.update("".join(other.hashes).encode("utf-8", "surrogatepass"))
        self.complete_hashes &= other.complete_hashes
