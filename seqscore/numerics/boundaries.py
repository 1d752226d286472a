r"""The probability that the next token falls in a class of the vocabulary.

For a logits row :math:`z` and a set :math:`S` of token ids,

.. math:: \log P(x \in S) = \operatorname{logsumexp}_{v \in S} z_v
          - \operatorname{logsumexp}_{v} z_v ,

both terms by :func:`~seqscore.numerics.softmax.logsumexp` (the masked
entries set to :math:`-\infty`, so one implementation of the normaliser
serves). Word probabilities need it twice a row
(:mod:`seqscore.scoring.words`): the mass of the tokens that begin a word
(plus end of sequence) and the mass of those that do not.

Rows are taken in float64, 256 at a time: a block of packed rows can hold
thousands of rows of a 50,000-token vocabulary, and a float64 copy of all of
them at once would double the memory a pass needs.
"""

from __future__ import annotations

import numpy as np

from seqscore.errors import ShapeError
from seqscore.numerics.softmax import logsumexp

__all__ = ["class_logmass"]

ROWS_AT_ONCE = 256


def class_logmass(logits, members) -> np.ndarray:
    """``log P(next token in members)`` for each row of ``logits`` (``(R, V)``
    logits or log-probs; ``members``: a ``(V,)`` boolean mask, giving
    ``(R,)``, or ``(k, V)`` masks of ``k`` classes, giving ``(R, k)``: the
    row's normaliser is computed once for all of them).

    An empty class has log-mass ``-inf``; the whole vocabulary, 0.

    >>> z = np.log([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
    >>> np.exp(class_logmass(z, np.array([True, False, True]))).round(6).tolist()
    [0.75, 0.9]
    >>> class_logmass(z, np.zeros(3, dtype=bool)).tolist()
    [-inf, -inf]
    >>> np.exp(class_logmass(z, np.array([[1, 0, 0], [0, 1, 1]], dtype=bool)))
    array([[0.5, 0.5],
           [0.1, 0.9]])
    """
    logits = np.asarray(logits)
    members = np.asarray(members, dtype=bool)
    classes = np.atleast_2d(members)
    if logits.ndim != 2 or classes.ndim != 2 or classes.shape[1:] != logits.shape[1:]:
        raise ShapeError(
            f"logits of shape {logits.shape} and a class mask of shape "
            f"{members.shape}: the mask needs one entry per vocabulary column"
        )
    out = np.empty((len(logits), len(classes)))
    for start in range(0, len(logits), ROWS_AT_ONCE):
        rows = logits[start : start + ROWS_AT_ONCE].astype(np.float64)
        whole = logsumexp(rows)
        for k, mask in enumerate(classes):
            part = logsumexp(np.where(mask, rows, -np.inf))
            out[start : start + len(rows), k] = part - whole
    return out if members.ndim == 2 else out[:, 0]
