"""seqscore: exact scoring, ranking and explanation of language-model outputs.

The layers, each usable on its own:

* :mod:`seqscore.softmax` -- ``softmax``, ``log_softmax``, ``logsumexp``,
  ``cross_entropy`` and its gradient, with every edge case decided;
* :mod:`seqscore.kernels` -- ``token_logprobs`` and ``token_stats``, the one
  fast pass over logits that everything else calls;
* :mod:`seqscore.regression` -- ``SoftmaxRegression``, a trainable softmax layer;
* :mod:`seqscore.decoding` -- the ``LanguageModel`` protocol, greedy, beam,
  exact and sampled decoding, teacher forcing;
* :mod:`seqscore.models` -- the built-in model, logit trees, Hugging Face;
* :mod:`seqscore.diagnostics` -- why greedy lost (``diagnose``).
"""

from .decoding import (
    Decoded,
    LanguageModel,
    beam_search,
    exact_search,
    greedy,
    sample,
    teacher_force,
)
from .diagnostics import diagnose, survey_greedy
from .errors import (
    DataFormatError,
    InvalidInputError,
    NoEstimateError,
    SeqScoreError,
    ShapeError,
)
from .kernels import TokenStats, token_logprobs, token_stats
from .regression import SoftmaxRegression
from .softmax import cross_entropy, cross_entropy_grad, log_softmax, logsumexp, softmax

__version__ = "0.1.0"

__all__ = [
    "DataFormatError",
    "Decoded",
    "InvalidInputError",
    "LanguageModel",
    "NoEstimateError",
    "SeqScoreError",
    "ShapeError",
    "SoftmaxRegression",
    "TokenStats",
    "beam_search",
    "cross_entropy",
    "cross_entropy_grad",
    "diagnose",
    "exact_search",
    "greedy",
    "log_softmax",
    "logsumexp",
    "sample",
    "softmax",
    "survey_greedy",
    "teacher_force",
    "token_logprobs",
    "token_stats",
]
