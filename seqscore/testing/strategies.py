"""Hypothesis strategies for logits and ragged candidate batches.

For property-based tests of code that consumes logits: the regimes that
break naive code are all reachable -- tiny and huge magnitudes, float16/32/64,
masked (``-inf``) entries, ties, single-token vocabularies, candidates of
different lengths.

>>> from hypothesis import given
>>> @given(logits((2, 3), masked=True))
... def test_rows_keep_a_finite_entry(z):
...     assert np.isfinite(z).any(axis=-1).all()
>>> test_rows_keep_a_finite_entry()
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seqscore.testing.batch import CandidateBatch, SequenceCase

__all__ = [
    "FLOAT_DTYPES",
    "candidate_batches",
    "finite_floats",
    "logits",
    "sequence_cases",
]

FLOAT_DTYPES = (np.float16, np.float32, np.float64)
_WIDTH: dict[type, Literal[16, 32, 64]] = {
    np.float16: 16,
    np.float32: 32,
    np.float64: 64,
}


def finite_floats(dtype=np.float64, magnitude: float = 1e4):
    """Finite floats representable in ``dtype``, within +-``magnitude``."""
    return _finite_floats(np.dtype(dtype).type, float(magnitude))


@functools.lru_cache(maxsize=64)
def _finite_floats(dtype, magnitude: float):
    # built once per (dtype, magnitude): strategies are validated on creation
    bound = min(magnitude, float(np.finfo(dtype).max))
    return st.floats(
        -bound, bound, allow_nan=False, allow_infinity=False, width=_WIDTH[dtype]
    )


@st.composite
def logits(
    draw,
    shape: tuple[int, ...],
    dtype=np.float64,
    magnitude: float = 1e3,
    masked: bool | str = False,
    keep=None,
):
    """Logits of ``shape`` ``(..., V)`` with finite entries within +-``magnitude``.

    ``masked=True`` sometimes sets entries to ``-inf`` (masked tokens);
    ``masked="always"`` masks at least one entry of every row when ``V > 1``.
    Every row keeps a finite entry: column ``keep[...]`` when ``keep`` (ids
    of shape ``shape[:-1]``, e.g. the targets) is given, else a drawn one.
    """
    values = draw(hnp.arrays(dtype, shape, elements=finite_floats(dtype, magnitude)))
    vocab = shape[-1]
    if not masked or vocab < 2:
        return values
    if masked != "always" and not draw(st.booleans()):
        return values
    lead = shape[:-1]
    if keep is None:
        keep = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, vocab - 1)))
    keep = np.broadcast_to(np.asarray(keep), lead).reshape(-1)
    rows = keep.size
    # a few masked positions, drawn sparsely: cheap to draw, shrinks to none
    mask = np.zeros((rows, vocab), bool)
    spots = st.tuples(st.integers(0, rows - 1), st.integers(0, vocab - 1))
    for row, column in draw(st.lists(spots, max_size=2 * rows)) if rows else ():
        mask[row, column] = True
    if masked == "always":
        shift = draw(st.integers(1, vocab - 1))
        mask[np.arange(rows), (keep + shift) % vocab] = True
    mask[np.arange(rows), keep] = False
    mask = mask.reshape(shape)
    return np.where(mask, -np.inf, values).astype(dtype)


@st.composite
def sequence_cases(
    draw,
    vocab: int,
    dtype=np.float64,
    max_tokens: int = 5,
    max_context: int = 3,
    magnitude: float = 1e2,
    masked: bool | str = True,
    min_tokens: int = 1,
):
    """One :class:`~seqscore.testing.SequenceCase` over a vocabulary of ``vocab``.

    Masks never hit a token of the sequence (its log-prob stays finite). The
    causal rows (prompt, scored, final) are drawn as one array, which keeps
    generation and shrinking fast.
    """
    n = draw(st.integers(min_tokens, max_tokens))
    c = draw(st.integers(1, max_context))
    ids = st.integers(0, vocab - 1)
    sequence = np.array(draw(st.lists(ids, min_size=c + n, max_size=c + n)), np.int64)
    keep = np.append(sequence[1:], draw(ids))  # each row's own token stays finite
    rows = draw(logits((c + n, vocab), dtype, magnitude, masked, keep=keep))
    return SequenceCase(
        logits=rows[c - 1 : c - 1 + n],
        token_ids=sequence[c:],
        context_ids=sequence[:c],
        context_logits=rows[: c - 1],
        final_logits=rows[-1],
    )


@st.composite
def candidate_batches(
    draw,
    min_candidates: int = 1,
    max_candidates: int = 4,
    max_tokens: int = 5,
    max_context: int = 3,
    max_vocab: int = 8,
    dtypes=(np.float32, np.float64),
    magnitude: float = 1e2,
    masked: bool | str = True,
):
    """A ragged :class:`~seqscore.testing.CandidateBatch` of candidates.

    Candidates share a vocabulary (2..``max_vocab``) and dtype but differ in
    length (1..``max_tokens`` tokens after a 1..``max_context``-token prompt).

    >>> from hypothesis import given
    >>> @given(candidate_batches(min_candidates=2))
    ... def test_padding_holds_everyone(batch):
    ...     logits, ids, lengths = batch.arrays("aligned")
    ...     assert logits.shape[:2] == ids.shape == (len(batch), lengths.max())
    >>> test_padding_holds_everyone()
    """
    dtype = draw(st.sampled_from(dtypes))
    vocab = draw(st.integers(2, max_vocab))
    count = draw(st.integers(min_candidates, max_candidates))
    case = sequence_cases(vocab, dtype, max_tokens, max_context, magnitude, masked)
    return CandidateBatch(tuple(draw(case) for _ in range(count)))
