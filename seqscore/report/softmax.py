"""A few logits' probabilities and log-probabilities as records."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from seqscore.report.writers import Column

__all__ = ["COLUMNS", "softmax_records"]

COLUMNS = [
    Column("index", width=5),
    Column("logit", width=12, spec=".6g"),
    Column("prob", width=10, spec=".6f"),
    Column("logprob", width=12, spec=".6f"),
]


def softmax_records(
    logits: np.ndarray, probs: np.ndarray, logprobs: np.ndarray
) -> Iterator[dict]:
    """One record per logit: its index, value, probability and log-prob."""
    for i, (z, p, lp) in enumerate(zip(logits, probs, logprobs, strict=True)):
        yield {"index": i, "logit": float(z), "prob": float(p), "logprob": float(lp)}
