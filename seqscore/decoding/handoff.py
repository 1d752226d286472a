"""What a batched beam-search step hands to the compiled step, by name.

The compiled step (:mod:`._compiled`, numba) takes plain arrays and numbers,
not :mod:`.beam_batch`'s dataclasses; these named tuples (numba compiles
attribute access on them) say which array is which, so neither side counts
positions. They hold no logic and import no numba.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Advanced", "Beams", "Rule", "Search", "Store"]


class Beams(NamedTuple):
    """The running beams, as :class:`.beam_batch._Beams` holds them:
    ``pad`` columns of prompt padding lead every prefix; ``starts`` is the
    row of each live prompt's best beam."""

    prefixes: np.ndarray
    lengths: np.ndarray
    sums: np.ndarray
    steps: np.ndarray
    pad: int
    starts: np.ndarray


class Store(NamedTuple):
    """Rows of finished hypotheses: generated ids, per-step log-probs, lengths."""

    ids: np.ndarray
    logprobs: np.ndarray
    lengths: np.ndarray


class Search(NamedTuple):
    """The search around the beams: live prompt ``p`` is prompt ``live[p]``
    of the batch, whose finished list is row ``live[p]`` of ``score`` /
    ``handle`` (best first, ``-inf`` empty); a hypothesis entering a list
    is written to row ``stored`` of ``store`` on, and its handle is that
    row; ``step_counts[b]`` is set when prompt ``b`` stops."""

    live: np.ndarray
    score: np.ndarray
    handle: np.ndarray
    store: Store
    stored: int
    step_counts: np.ndarray


class Rule(NamedTuple):
    """This step's part of the settings: the EOS id, whether it is the last
    step, its number, the finished scores' divisor, whether a full list
    stops a prompt at once, and the divisor of the stopping test."""

    eos: int
    last: bool
    step: int
    divisor: float
    stop_at_full: bool
    stop_divisor: float


class Advanced(NamedTuple):
    """What the compiled step gives back: the new count of stored rows, the
    running beams after the step (``seg``: each beam's live prompt) and the
    prompts still live."""

    stored: int
    prefixes: np.ndarray
    lengths: np.ndarray
    sums: np.ndarray
    steps: np.ndarray
    seg: np.ndarray
    starts: np.ndarray
    live: np.ndarray
