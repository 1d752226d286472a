"""Decoding: the language-model protocol and the decoders that use it.

* :class:`LanguageModel` -- batched next-token log-probs, ``vocab``, ``eos_id``;
* :func:`greedy`, :func:`beam_search` (transformers' conventions) and
  :func:`beam_search_batch` (many prompts, one model call per step),
  :func:`exact_search` (the proven most probable sequence, within a node
  budget), :func:`sample` (temperature, top-k, top-p, explicit ``rng``).

Teacher forcing (per-token statistics of given continuations) is model
scoring, one floor up: :func:`seqscore.models.forced.teacher_force`.

Every decoder returns :class:`Decoded` sequences whose ``logprobs`` are the
model's own, so results of different decoders compare directly.
"""

from seqscore.decoding.beam import BeamResult, beam_search, beam_search_batch
from seqscore.decoding.exact import ExactResult, exact_search
from seqscore.decoding.greedy import greedy
from seqscore.decoding.protocol import Decoded, LanguageModel, PrefixBatch
from seqscore.decoding.sampling import sample, sampling_distribution

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
]
