"""Deprecated: :mod:`seqscore.models.perplexity` (this path goes in the next
release)."""

from seqscore._moved import moved_module

_new = moved_module("seqscore.perplexity", "seqscore.models.perplexity")
globals().update({k: v for k, v in vars(_new).items() if not k.startswith("__")})
__all__ = list(getattr(_new, "__all__", ()))
