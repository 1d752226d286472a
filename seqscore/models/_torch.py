"""The one place that imports torch and transformers.

Both are the optional extra ``seqscore[hf]``: ``import seqscore`` and
``seqscore --help`` must work, and stay fast, without them. So nothing
imports them at module level; the Hugging Face modules call
:func:`torch` and :func:`transformers` when they run, and a missing
package becomes an :class:`~seqscore.errors.InvalidInputError` that says
what to install, not a traceback. Each import happens once (the accessors
are cached), so calling them on a hot path costs a dictionary lookup.
"""

from __future__ import annotations

import functools
from typing import Any

from seqscore.errors import InvalidInputError

__all__ = ["dynamic_layer_class", "quiet_loading", "torch", "transformers"]


@functools.cache
def torch() -> Any:
    """The ``torch`` module (typed ``Any``: torch is not a dependency of the
    package, so its types cannot be either)."""
    try:
        import torch as module
    except ImportError:
        raise InvalidInputError(
            "the Hugging Face adapter needs torch and transformers: "
            "pip install 'seqscore[hf]'"
        ) from None
    return module


@functools.cache
def transformers() -> Any:
    """The ``transformers`` module."""
    try:
        import transformers as module
    except ImportError:
        raise InvalidInputError(
            "the Hugging Face adapter needs transformers: pip install 'seqscore[hf]'"
        ) from None
    return module


@functools.cache
def dynamic_layer_class() -> Any:
    """transformers' ``DynamicLayer`` (a full-attention cache layer), or None
    where transformers is missing or older than 4.56 (no cache layers): the
    caller then treats no cache as plain."""
    try:
        return transformers().cache_utils.DynamicLayer
    except (InvalidInputError, AttributeError, ImportError):
        return None


def quiet_loading() -> None:
    """No "Loading weights" bar from transformers: a command draws its own
    progress (``--progress``), and a worker's log is no terminal. Without
    transformers, nothing to quiet (loading the model says what to install)."""
    try:
        transformers().utils.logging.disable_progress_bar()
    except (InvalidInputError, AttributeError):
        return
