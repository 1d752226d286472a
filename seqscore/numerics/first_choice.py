r"""Plackett-Luce first-choice probabilities, and the check of scores.

The probability that item ``i`` is chosen first is the softmax of the scores
(log-worths). It is the one quantity of :mod:`seqscore.plackett_luce` the
scorer needs for every prompt, so it lives here, light (numpy only): the
scorer and its worker processes load none of the fitting machinery (scipy)
to compute it, and :mod:`seqscore.plackett_luce` re-exports it.
"""

from __future__ import annotations

import numpy as np

from seqscore.errors import InvalidInputError, ShapeError
from seqscore.numerics.softmax import softmax

__all__ = ["check_scores", "selection_probabilities"]


def check_scores(scores, name: str = "scores", *, impossible=False) -> np.ndarray:
    """``scores`` as a non-empty 1-D float64 array of finite numbers.

    ``impossible=True`` also lets items of score ``-inf`` (worth 0: never
    chosen while another item is left) through, as long as one is finite.

    >>> check_scores([1, 2])
    array([1., 2.])
    """
    array = np.asarray(scores)
    if array.dtype.kind not in "iuf":  # objects, booleans, complex, text
        raise InvalidInputError(f"{name} must be real numbers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ShapeError(f"{name} must be 1-D (one score per item), got {array.shape}")
    if array.size == 0:
        raise InvalidInputError(f"{name} is empty: there are no items to rank")
    array = array.astype(np.float64, copy=False)
    finite = np.isfinite(array)
    if finite.all():  # the scorer calls this for every prompt: one pass
        return array
    bad = ~finite
    if impossible and finite.any():
        bad &= array != -np.inf
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidInputError(
            f"{name}[{i}] is {array[i]}: Plackett-Luce scores (log-worths) must be "
            "finite (an item that can never be chosen has no place in a ranking)"
        )
    return array


def selection_probabilities(
    scores, temperature: float = 1.0, *, impossible: bool = False
) -> np.ndarray:
    r"""First-choice probabilities :math:`P(i \text{ first}) = \mathrm{softmax}(s/T)_i`.

    Scores must be finite; ``temperature`` must be finite and > 0 (it divides
    the scores). Adding a constant to the scores changes nothing.
    ``impossible=True`` admits scores of ``-inf`` (probability 0) beside at
    least one finite score: the scorer's candidates with a masked token.

    >>> selection_probabilities([2.0, 1.0, 0.1]).round(3)
    array([0.659, 0.242, 0.099])
    >>> selection_probabilities([1000.0, 1000.0])
    array([0.5, 0.5])
    >>> selection_probabilities([0.0, -np.inf], impossible=True)
    array([1., 0.])
    """
    return softmax(check_scores(scores, impossible=impossible), temperature=temperature)
