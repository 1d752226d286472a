"""Decoding: the language-model protocol and the decoders that use it.

* :class:`LanguageModel` -- batched next-token log-probs, ``vocab``, ``eos_id``;
* :func:`greedy`, :func:`beam_search` (transformers' conventions) and
  :func:`beam_search_batch` (many prompts, one model call per step),
  :func:`exact_search` (the proven most probable sequence, within a node
  budget), :func:`sample` (temperature, top-k, top-p, explicit ``rng``);
* :func:`teacher_force` / :func:`teacher_force_text` -- per-token statistics
  (log-prob, rank, argmax, entropy) of given continuations of a prompt.

Every decoder returns :class:`Decoded` sequences whose ``logprobs`` are the
model's own, so results of different decoders compare directly.
"""

from .beam import BeamResult, beam_search, beam_search_batch
from .exact import ExactResult, exact_search
from .forced import teacher_force, teacher_force_text
from .greedy import greedy
from .protocol import Decoded, LanguageModel, PrefixBatch
from .sampling import sample, sampling_distribution

__all__ = [
    "BeamResult",
    "Decoded",
    "ExactResult",
    "LanguageModel",
    "PrefixBatch",
    "beam_search",
    "beam_search_batch",
    "exact_search",
    "greedy",
    "sample",
    "sampling_distribution",
    "teacher_force",
    "teacher_force_text",
]
