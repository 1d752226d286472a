"""Auditing an evaluation pipeline: which known bug explains its numbers?

Give :func:`audit` what the pipeline saw (the model's logits over each whole
sequence, the token ids, the prompt lengths, which candidates share a prompt)
and what it reported (one number per candidate), as a :class:`PipelineRun`.
seqscore recomputes the correct scores and tests each known bug as an exact
formula against the reported numbers, under a tolerance model that accounts
for rounding, float32 storage and float32 arithmetic
(:mod:`seqscore.audit.noise`).

Modules, one per family of bug fingerprints:

* :mod:`~seqscore.audit.normalisation` -- raw logits, top token, products and
  sums of probabilities, softmax over time or across candidates, normalised
  or negated scores;
* :mod:`~seqscore.audit.alignment` -- off-by-one in both directions, prompt
  tokens included, EOS dropped or appended;
* :mod:`~seqscore.audit.reduction` -- mean for sum (or the reverse), length
  penalties (alpha fitted);
* :mod:`~seqscore.audit.temperature` -- a temperature (fitted);
* :mod:`~seqscore.audit.precision` -- float16 / bfloat16 accumulation.

The logits are read once (:mod:`~seqscore.audit.steps`); only a fitted
temperature that explains a sample of candidates is confirmed with a second
pass.
"""

from seqscore.audit.core import (
    AuditReport,
    Consequences,
    Flip,
    HypothesisResult,
    audit,
    hypotheses,
)
from seqscore.audit.noise import NoiseModel, detect_noise
from seqscore.audit.run import PipelineRun

__all__ = [
    "AuditReport",
    "Consequences",
    "Flip",
    "HypothesisResult",
    "NoiseModel",
    "PipelineRun",
    "audit",
    "detect_noise",
    "hypotheses",
]
