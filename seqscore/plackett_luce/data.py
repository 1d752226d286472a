"""What the Plackett-Luce jobs take: observed rankings, and candidate sets to
rank. The readers (:mod:`seqscore.formats.rankings`) build them from files,
the reports (:mod:`seqscore.report.ranking`) label their results with them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RankingData", "ScoreGroup"]


@dataclass(frozen=True)
class RankingData:
    """Rankings read from a file.

    ``rankings`` is the ``(N, L)`` ``-1``-padded array of ids into ``items``
    (names in order of first appearance); ``labels[i]`` says where ranking
    ``i`` came from (``"line 3"`` or ``"ranking 'R7'"``).
    """

    items: tuple[str, ...]
    rankings: np.ndarray
    labels: tuple[str, ...]
    layout: str
    source: str

    @property
    def lengths(self) -> np.ndarray:
        return (self.rankings >= 0).sum(axis=1)


@dataclass(frozen=True)
class ScoreGroup:
    """One set of candidates to rank: their names and scores."""

    name: str | None
    items: tuple[str, ...]
    scores: np.ndarray
