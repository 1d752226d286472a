"""Counts of judged documents, kept per chunk of a file and merged.

A :class:`Tally` is what a worker process sends back for its chunk of a
samples file: per filter, counts per metric, the 2x2 table of every pair of
metrics, the moments of the logged per-document values, and the first
``listed`` documents of each kind worth naming (normalisations that
disagree, ties, logged metrics that do not follow, hashes that do not
match, targets that are no choice, lines that do not say which choice is
gold), plus the chunk's concatenated hashes for the task hash. Merging
keeps file order, so the listed documents are the file's first ones and
memory stays bounded however large the file.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqscore.lmeval.verdicts import CHECKED, METRICS, Judgements

__all__ = [
    "PAIRS",
    "Disagreement",
    "DocumentNote",
    "Listing",
    "Mismatch",
    "Tally",
]

#: Index pairs of :data:`METRICS` compared document by document.
PAIRS = tuple(itertools.combinations(range(len(METRICS)), 2))


@dataclass(frozen=True)
class Disagreement:
    """A document whose normalisations predict different choices
    (``predicted`` per metric, ``None`` where not computable)."""

    doc_id: str
    location: str
    gold: tuple[int, ...]
    predicted: tuple[int | None, ...]
    correct: tuple[bool | None, ...]


@dataclass(frozen=True)
class Mismatch:
    """A logged per-document metric that does not follow from the scores."""

    doc_id: str
    location: str
    metric: str
    logged: float
    derived: float


@dataclass(frozen=True)
class DocumentNote:
    """A document worth naming, and why (a tie, a hash, a target)."""

    doc_id: str
    location: str
    note: str


@dataclass
class Listing:
    """How many items there are, and the first ``limit`` of them."""

    limit: int
    total: int = 0
    items: list = field(default_factory=list)

    def extend(self, count: int, items) -> None:
        """Count ``count`` more and keep the first of ``items`` (an iterable
        of them, in order, consumed only as far as there is room)."""
        self.total += count
        self.items.extend(itertools.islice(items, max(self.limit - len(self.items), 0)))

    def merge(self, other: Listing) -> None:
        self.total += other.total
        self.items.extend(other.items[: max(self.limit - len(self.items), 0)])


def _zeros(n: int, dtype=np.int64) -> np.ndarray:
    return np.zeros(n, dtype=dtype)


@dataclass
class FilterTally:
    """The counts of one filter's documents."""

    listed: int
    n: int = 0
    fewest_choices: int = 0
    most_choices: int = 0
    computable: np.ndarray = field(default_factory=lambda: _zeros(len(METRICS)))
    correct: np.ndarray = field(default_factory=lambda: _zeros(len(METRICS)))
    logged_count: np.ndarray = field(default_factory=lambda: _zeros(len(CHECKED)))
    logged_sum: np.ndarray = field(default_factory=lambda: _zeros(len(CHECKED), float))
    logged_squares: np.ndarray = field(
        default_factory=lambda: _zeros(len(CHECKED), float)
    )
    # logged per-document values the log-likelihoods cannot check
    unchecked: int = 0
    # documents whose lines lack some choice's text
    partial: int = 0
    # per pair of PAIRS: both right, only the first, only the second, neither
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((len(PAIRS), 4), int))
    disagreements: Listing = field(init=False)
    ties: list = field(init=False)
    mismatches: Listing = field(init=False)
    gold_problems: Listing = field(init=False)
    hash_problems: Listing = field(init=False)
    gold_unread: Listing = field(init=False)

    def __post_init__(self):
        self.disagreements = Listing(self.listed)
        self.ties = [Listing(self.listed) for _ in METRICS]
        self.mismatches = Listing(self.listed)
        self.gold_problems = Listing(self.listed)
        self.hash_problems = Listing(self.listed)
        self.gold_unread = Listing(self.listed)

    def add(self, j: Judgements, rows: np.ndarray) -> None:
        """Count the judged documents ``rows`` (indices into ``j``)."""
        if not len(rows):
            return
        choices = j.n_choices[rows]
        low, high = int(choices.min()), int(choices.max())
        self.fewest_choices = min(self.fewest_choices or low, low)
        self.most_choices = max(self.most_choices, high)
        self.n += len(rows)
        computable, correct = j.computable[rows], j.correct[rows]
        self.computable += computable.sum(axis=0)
        self.correct += correct.sum(axis=0)
        logged = j.logged[rows]
        known = ~np.isnan(logged)
        self.logged_count += known.sum(axis=0)
        self.logged_sum += np.where(known, logged, 0.0).sum(axis=0)
        self.logged_squares += np.where(known, logged * logged, 0.0).sum(axis=0)
        self.unchecked += int(np.sum(known & np.isnan(j.derived[rows])))
        self.partial += int(np.sum(j.partial[rows]))
        for p, (a, b) in enumerate(PAIRS):
            both = computable[:, a] & computable[:, b]
            ra, rb = correct[both, a], correct[both, b]
            self.pairs[p] += [
                np.sum(ra & rb),
                np.sum(ra & ~rb),
                np.sum(~ra & rb),
                np.sum(~ra & ~rb),
            ]
        self._list(j, rows)

    def _list(self, j: Judgements, rows: np.ndarray) -> None:
        found = rows[j.disagree[rows]].tolist()
        self.disagreements.extend(len(found), (_disagreement(j, i) for i in found))
        for m, metric in enumerate(METRICS):
            found = rows[j.tied[rows, m]].tolist()
            note = f"tied under {metric}"
            self.ties[m].extend(
                len(found),
                (DocumentNote(j.doc_id[i], j.location[i], note) for i in found),
            )
        where, column = np.nonzero(j.mismatched[rows])
        self.mismatches.extend(
            len(where),
            (
                _mismatch(j, int(rows[r]), c)
                for r, c in zip(where.tolist(), column.tolist(), strict=True)
            ),
        )
        notes = [
            (i, j.gold_problem[i])
            for i in rows.tolist()
            if j.gold_problem[i] is not None
        ]
        self.gold_problems.extend(len(notes), _notes(j, notes))
        notes = [(i, p) for i in rows.tolist() for p in j.hash_problems[i]]
        self.hash_problems.extend(len(notes), _notes(j, notes))
        notes = [
            (i, j.gold_unread[i]) for i in rows.tolist() if j.gold_unread[i] is not None
        ]
        self.gold_unread.extend(len(notes), _notes(j, notes))

    def merge(self, other: FilterTally) -> None:
        if not other.n:
            return
        self.fewest_choices = min(
            self.fewest_choices or other.fewest_choices, other.fewest_choices
        )
        self.most_choices = max(self.most_choices, other.most_choices)
        self.n += other.n
        self.unchecked += other.unchecked
        self.partial += other.partial
        for name in (
            "computable",
            "correct",
            "logged_count",
            "logged_sum",
            "logged_squares",
            "pairs",
        ):
            getattr(self, name).__iadd__(getattr(other, name))
        for mine, theirs in zip(self.ties, other.ties, strict=True):
            mine.merge(theirs)
        for name in (
            "disagreements",
            "mismatches",
            "gold_problems",
            "hash_problems",
            "gold_unread",
        ):
            getattr(self, name).merge(getattr(other, name))


def _notes(j: Judgements, notes):
    return (DocumentNote(j.doc_id[i], j.location[i], note) for i, note in notes)


def _disagreement(j: Judgements, i: int) -> Disagreement:
    predicted = j.predicted[i].tolist()
    return Disagreement(
        j.doc_id[i],
        j.location[i],
        j.gold[i],
        tuple(None if p < 0 else p for p in predicted),
        tuple(
            None if p < 0 else bool(ok)
            for p, ok in zip(predicted, j.correct[i].tolist(), strict=True)
        ),
    )


def _mismatch(j: Judgements, i: int, column: int) -> Mismatch:
    return Mismatch(
        j.doc_id[i],
        j.location[i],
        CHECKED[column],
        float(j.logged[i, column]),
        float(j.derived[i, column]),
    )


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

    def add(self, j: Judgements) -> None:
        """Count a chunk's judged documents (in a worker)."""
        filters = j.filter
        names = dict.fromkeys(filters)
        for name in names:
            rows = (
                np.arange(len(j))
                if len(names) == 1
                else np.flatnonzero(np.array(filters) == name)
            )
            tally = self.filters.get(name)
            if tally is None:
                tally = self.filters[name] = FilterTally(self.listed)
            tally.add(j, rows)
        if None in j.hashes:
            self.complete_hashes = False
        self.hashes.append("".join(h for h in j.hashes if h is not None))

    def merge(self, other: Tally) -> None:
        """Add a chunk's tally (in the main process, in file order)."""
        for name, theirs in other.filters.items():
            if name in self.filters:
                self.filters[name].merge(theirs)
            else:
                self.filters[name] = theirs
        for text in other.hashes:
            self.digest.update(text.encode("utf-8", "surrogatepass"))
        self.complete_hashes &= other.complete_hashes
