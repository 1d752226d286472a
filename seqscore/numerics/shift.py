"""The shift rule: which logits of a causal LM score which input tokens.

The logits at position ``i`` predict token ``i + 1``. A sequence of
``length`` input ids whose first ``n_context`` are the context has its
continuation ``input_ids[n_context:length]`` scored by the logits rows
``n_context - 1 .. length - 2`` (lm-evaluation-harness's
``_loglikelihood_tokens`` rule). The scorer, the ``.npz`` reader and the
audit all take their windows from :func:`causal_window`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["causal_window"]


def causal_window(
    n_context: int | np.ndarray, length: int | np.ndarray
) -> tuple[slice, slice]:
    """``(rows, targets)``: the logits rows and the input ids they score.

    ``n_context >= 1`` (no logits predict the first token) and
    ``n_context < length``; the callers check both and name the record.
    Given arrays of counts, the slices' bounds are arrays: the audit's masks
    of every candidate's window at once.

    >>> rows, targets = causal_window(2, 5)
    >>> list(range(5))[rows], list(range(5))[targets]
    ([1, 2, 3], [2, 3, 4])
    """
    return slice(n_context - 1, length - 1), slice(n_context, length)
