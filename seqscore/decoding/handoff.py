"""What a batched beam-search step hands to the compiled step, by name.

The compiled step (:mod:`._compiled`, numba) takes plain arrays and numbers,
not :mod:`.beam_batch`'s dataclasses; these named tuples (numba compiles
attribute access on them) say which array is which, so neither side counts
positions. They hold no logic and import no numba.

They cross into compiled code as plain tuples, which the builders below
(:func:`beams`, :func:`search`, :func:`store`, :func:`rule`) make from
named fields, and the compiled step names them again on entry, which costs
nothing there. Named tuples would cost a one-prompt search 5 µs a step
(about 10%): numba unboxes them about 2 µs slower a call than plain ones,
boxes a returned one about 3 µs slower, and Python builds them by keyword
about 0.4 µs slower each.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "Advanced",
    "Beams",
    "Rule",
    "Search",
    "Store",
    "beams",
    "rule",
    "search",
    "store",
]


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
    stored: int
    step_counts: np.ndarray
    store: Store


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


# The builders: a call site names every field, and gets the plain tuple.


def beams(*, prefixes, lengths, sums, steps, pad, starts) -> tuple:
    """:class:`Beams`' fields, in order, as a plain tuple."""
    return prefixes, lengths, sums, steps, pad, starts


def store(*, ids, logprobs, lengths) -> tuple:
    """:class:`Store`'s fields, in order, as a plain tuple."""
    return ids, logprobs, lengths


def search(*, live, score, handle, stored, step_counts, store) -> tuple:
    """:class:`Search`'s fields, in order, as a plain tuple (``store`` from
    :func:`store`)."""
    return live, score, handle, stored, step_counts, store


def rule(*, eos, last, step, divisor, stop_at_full, stop_divisor) -> tuple:
    """:class:`Rule`'s fields, in order, as a plain tuple.

    >>> Rule(*rule(eos=2, last=False, step=1, divisor=1.0, stop_at_full=True,
    ...            stop_divisor=1.5)).stop_divisor
    1.5
    """
    return eos, last, step, divisor, stop_at_full, stop_divisor
