"""seqscore: exact scoring, ranking and explanation of language-model outputs.

The layers, each usable on its own:

* :mod:`seqscore.softmax` -- ``softmax``, ``log_softmax``, ``logsumexp``,
  ``cross_entropy`` and its gradient, with every edge case decided;
* :mod:`seqscore.kernels` -- ``token_logprobs`` and ``token_stats``, the one
  fast pass over logits that everything else calls;
* :mod:`seqscore.regression` -- ``SoftmaxRegression``, a trainable softmax layer;
* :mod:`seqscore.scoring` -- candidates, ``loglikelihood`` (lm-eval's shift
  rule), ``score_prompt``; :mod:`seqscore.reductions` -- every normalisation.
"""

from .errors import (
    DataFormatError,
    InvalidInputError,
    NoEstimateError,
    SeqScoreError,
    ShapeError,
)
from .kernels import TokenStats, token_logprobs, token_stats
from .reductions import Reductions, reduce
from .regression import SoftmaxRegression
from .scoring import (
    Candidate,
    CandidateScore,
    Loglikelihood,
    Prompt,
    TokenScores,
    loglikelihood,
    score_prompt,
)
from .softmax import cross_entropy, cross_entropy_grad, log_softmax, logsumexp, softmax

__version__ = "0.1.0"

__all__ = [
    "Candidate",
    "CandidateScore",
    "DataFormatError",
    "InvalidInputError",
    "Loglikelihood",
    "NoEstimateError",
    "Prompt",
    "Reductions",
    "SeqScoreError",
    "ShapeError",
    "SoftmaxRegression",
    "TokenScores",
    "TokenStats",
    "cross_entropy",
    "cross_entropy_grad",
    "log_softmax",
    "loglikelihood",
    "logsumexp",
    "reduce",
    "score_prompt",
    "softmax",
    "token_logprobs",
    "token_stats",
]
