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
