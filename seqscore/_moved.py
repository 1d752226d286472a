"""Old import paths that the README taught, kept one release with a warning.

``seqscore.model_scoring`` and ``seqscore.perplexity`` became
:mod:`seqscore.models.loglikelihood` and :mod:`seqscore.models.perplexity`
when the package took the layout of its architecture (floors as folders).
"""

from __future__ import annotations

import importlib
import warnings

__all__ = ["moved_module"]


def moved_module(old: str, new: str):
    """``new``, imported, after a :class:`DeprecationWarning` naming both paths."""
    warnings.warn(
        f"{old} moved to {new}; the old path goes in the next release",
        DeprecationWarning,
        stacklevel=3,
    )
    return importlib.import_module(new)
