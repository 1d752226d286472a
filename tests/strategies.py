"""Hypothesis strategies shared by the whole test suite (one place for them).

Logits are drawn in the regimes that break naive code: tiny and huge
magnitudes, float16/32/64, masked (``-inf``) entries, ties.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOAT_DTYPES = (np.float16, np.float32, np.float64)


def finite_floats(dtype=np.float64, magnitude: float = 1e4):
    """Finite floats of ``dtype`` within +-``magnitude``."""
    width = {np.float16: 16, np.float32: 32, np.float64: 64}[dtype]
    bound = min(magnitude, float(np.finfo(dtype).max))
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=width)


@st.composite
def logit_vectors(draw, min_size=1, max_size=12, dtype=np.float64, magnitude=1e4):
    """A 1-D logits vector (finite entries)."""
    size = draw(st.integers(min_size, max_size))
    return draw(hnp.arrays(dtype, size, elements=finite_floats(dtype, magnitude)))


@st.composite
def logit_arrays(
    draw,
    dtypes=FLOAT_DTYPES,
    max_lead_dims: int = 2,
    max_vocab: int = 40,
    magnitude: float = 1e3,
    masked: bool = True,
):
    """``(logits, targets)``: logits ``(..., V)`` with optional ``-inf`` masks.

    Every row keeps at least one finite entry (a fully masked row has no
    distribution and is tested separately). Targets may point at a masked
    entry, whose log-prob is then ``-inf``.
    """
    dtype = draw(st.sampled_from(dtypes))
    lead = tuple(draw(st.lists(st.integers(1, 4), max_size=max_lead_dims)))
    vocab = draw(st.integers(1, max_vocab))
    shape = (*lead, vocab)
    logits = draw(hnp.arrays(dtype, shape, elements=finite_floats(dtype, magnitude)))
    if masked and vocab > 1 and draw(st.booleans()):
        mask = draw(hnp.arrays(np.bool_, shape))
        mask[..., draw(st.integers(0, vocab - 1))] = False  # keep one finite
        logits = np.where(mask, -np.inf, logits).astype(dtype)
    targets = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, vocab - 1)))
    return logits, targets


# --- Plackett-Luce ---------------------------------------------------------


def pl_scores(min_items: int = 1, max_items: int = 7, magnitude: float = 50.0):
    """Finite float64 score vectors (log-worths), ties and big gaps included."""
    return st.integers(min_items, max_items).flatmap(
        lambda n: hnp.arrays(
            np.float64,
            n,
            elements=st.one_of(
                finite_floats(np.float64, magnitude),
                st.sampled_from([0.0, 1.0, -1.0]),  # exact ties
            ),
        )
    )


@st.composite
def padded_rankings(draw, n_items: int, max_rankings: int = 6, full: bool = False):
    """A ``(N, L)`` int64 array of rankings over ``n_items``, ``-1`` padded.

    Each row is a prefix (of random length, or all items with ``full``) of a
    random permutation; ``L`` is the longest row.
    """
    count = draw(st.integers(1, max_rankings))
    rows = []
    for _ in range(count):
        order = draw(st.permutations(range(n_items)))
        length = n_items if full else draw(st.integers(0, n_items))
        rows.append(list(order[:length]))
    width = max(len(r) for r in rows)
    out = np.full((count, width), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


@st.composite
def pl_problems(draw, max_items: int = 6, magnitude: float = 50.0):
    """``(scores, rankings, universe)`` with universe 'listed', 'all' or a mask."""
    scores = draw(pl_scores(1, max_items, magnitude))
    n = len(scores)
    rankings = draw(padded_rankings(n))
    kind = draw(st.sampled_from(["listed", "all", "mask"]))
    if kind != "mask":
        return scores, rankings, kind
    mask = draw(hnp.arrays(np.bool_, (len(rankings), n)))
    for i, row in enumerate(rankings):
        mask[i, row[row >= 0]] = True  # the universe holds the listed items
    return scores, rankings, mask
