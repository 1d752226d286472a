"""Hypothesis strategies shared by the whole test suite (one place for them).

Logits are drawn in the regimes that break naive code: tiny and huge
magnitudes, float16/32/64, masked (``-inf``) entries, ties. The building
blocks are the public strategies of :mod:`seqscore.testing` (offered to users
for their own tests); this module only shapes them for the suite.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seqscore.testing import FLOAT_DTYPES, candidate_batches, finite_floats, logits

__all__ = [
    "FLOAT_DTYPES",
    "candidate_batches",
    "finite_floats",
    "logit_arrays",
    "logit_vectors",
]


@st.composite
def logit_vectors(draw, min_size=1, max_size=12, dtype=np.float64, magnitude=1e4):
    """A 1-D logits vector (finite entries)."""
    size = draw(st.integers(min_size, max_size))
    return draw(logits((size,), dtype, magnitude))


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
    values = draw(logits((*lead, vocab), dtype, magnitude, masked=masked))
    targets = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, vocab - 1)))
    return values, targets
