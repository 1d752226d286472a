"""seqscore: exact scoring, ranking and explanation of language-model outputs.

The layers, each usable on its own:

* :mod:`seqscore.softmax` -- ``softmax``, ``log_softmax``, ``logsumexp``,
  ``cross_entropy`` and its gradient, with every edge case decided;
* :mod:`seqscore.kernels` -- ``token_logprobs`` and ``token_stats``, the one
  fast pass over logits that everything else calls;
* :mod:`seqscore.regression` -- ``SoftmaxRegression``, a trainable softmax layer;
* :mod:`seqscore.scoring` -- candidates, ``loglikelihood`` (lm-eval's shift
  rule), ``score_prompt``; :mod:`seqscore.reductions` -- every normalisation;
  :mod:`seqscore.pairwise` -- why one candidate beats another;
* :mod:`seqscore.plackett_luce` -- ranking candidates: probabilities,
  likelihood, sampling, exact rank marginals, fitting worths and temperatures
  (``seqscore.plackett_luce.fit``, ``.log_likelihood``, ``.sample``, ...).
* :mod:`seqscore.decoding` -- the ``LanguageModel`` protocol, greedy, beam,
  exact and sampled decoding, teacher forcing;
* :mod:`seqscore.models` -- the built-in model, logit trees, Hugging Face;
* :mod:`seqscore.diagnostics` -- why greedy lost (``diagnose``).
"""

from . import plackett_luce
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
from .plackett_luce import (
    PlackettLuceFit,
    TemperatureFit,
    expected_ranks,
    fit_temperature,
    marginal_rank_probabilities,
    selection_probabilities,
    top_k_probabilities,
)
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
    "Decoded",
    "InvalidInputError",
    "LanguageModel",
    "Loglikelihood",
    "NoEstimateError",
    "PlackettLuceFit",
    "Prompt",
    "Reductions",
    "SeqScoreError",
    "ShapeError",
    "SoftmaxRegression",
    "TemperatureFit",
    "TokenScores",
    "TokenStats",
    "beam_search",
    "cross_entropy",
    "cross_entropy_grad",
    "diagnose",
    "exact_search",
    "expected_ranks",
    "fit_temperature",
    "greedy",
    "log_softmax",
    "loglikelihood",
    "logsumexp",
    "marginal_rank_probabilities",
    "plackett_luce",
    "reduce",
    "sample",
    "score_prompt",
    "selection_probabilities",
    "softmax",
    "survey_greedy",
    "teacher_force",
    "token_logprobs",
    "token_stats",
    "top_k_probabilities",
]
