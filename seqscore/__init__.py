"""seqscore: exact scoring, ranking and explanation of language-model outputs.

The layers, each usable on its own:

* :mod:`seqscore.softmax` -- ``softmax``, ``log_softmax``, ``logsumexp``,
  ``cross_entropy`` and its gradient, with every edge case decided;
* :mod:`seqscore.kernels` -- ``token_logprobs`` and ``token_stats``, the one
  fast pass over logits that everything else calls;
* :mod:`seqscore.regression` -- ``SoftmaxRegression``, a trainable softmax layer;
* :mod:`seqscore.audit` -- ``seqscore.audit.audit(PipelineRun)``: which known
  bug explains a pipeline's reported scores (given its logits), with the
  consequences for rankings;
* :mod:`seqscore.testing` -- hypothesis strategies and ``check_scorer``, the
  metamorphic laws for your own scoring function (needs hypothesis; import it
  explicitly).
"""

from .audit import AuditReport, NoiseModel, PipelineRun
from .errors import (
    DataFormatError,
    InvalidInputError,
    NoEstimateError,
    ScorerLawError,
    SeqScoreError,
    ShapeError,
)
from .kernels import TokenStats, token_logprobs, token_stats
from .regression import SoftmaxRegression
from .softmax import cross_entropy, cross_entropy_grad, log_softmax, logsumexp, softmax

__version__ = "0.1.0"

__all__ = [
    "AuditReport",
    "DataFormatError",
    "InvalidInputError",
    "NoEstimateError",
    "NoiseModel",
    "PipelineRun",
    "ScorerLawError",
    "SeqScoreError",
    "ShapeError",
    "SoftmaxRegression",
    "TokenStats",
    "cross_entropy",
    "cross_entropy_grad",
    "log_softmax",
    "logsumexp",
    "softmax",
    "token_logprobs",
    "token_stats",
]
