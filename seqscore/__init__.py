"""seqscore: exact scoring, ranking and explanation of language-model outputs.

The floors, each usable on its own (docs/ARCHITECTURE.md draws the map):

* :mod:`seqscore.numerics` -- ``softmax``, ``log_softmax``, ``logsumexp``,
  ``cross_entropy`` and its gradient, with every edge case decided; the token
  kernel (``token_logprobs``, ``token_stats``), the one fast pass over logits
  that everything else calls; reductions; ``SoftmaxRegression``, a trainable
  softmax layer;
* :mod:`seqscore.scoring` -- candidates, ``loglikelihood`` (lm-eval's shift
  rule), ``score_prompt``; :mod:`seqscore.scoring.pairwise` -- why one
  candidate beats another;
* :mod:`seqscore.plackett_luce` -- ranking candidates: probabilities,
  likelihood, sampling, exact rank marginals, fitting worths and temperatures
  (``seqscore.plackett_luce.fit``, ``.log_likelihood``, ``.sample``, ...);
* :mod:`seqscore.decoding` -- the ``LanguageModel`` protocol, greedy, beam,
  exact and sampled decoding;
* :mod:`seqscore.models` -- the built-in model, logit trees, Hugging Face
  (``load_model``, ``load_hf``, ``load_builtin``), and scoring texts with a
  model: lm-eval's ``loglikelihoods``, ``score_texts``, ``teacher_force``,
  ``rolling_perplexity``;
* :mod:`seqscore.diagnostics` -- why greedy lost (``diagnose``);
* :mod:`seqscore.audit` -- ``seqscore.audit.audit(PipelineRun)``: which known
  bug explains a pipeline's reported scores (given its logits), with the
  consequences for rankings;
* :mod:`seqscore.lmeval` and :mod:`seqscore.runs.lmeval` -- lm-eval runs
  re-derived, checked and compared (``evaluate``, ``compare_runs``);
* :mod:`seqscore.testing` -- hypothesis strategies and ``check_scorer``, the
  metamorphic laws for your own scoring function (needs hypothesis; import it
  explicitly)."""

import importlib

from seqscore.errors import (
    DataFormatError,
    InvalidInputError,
    NoEstimateError,
    ScorerLawError,
    SeqScoreError,
    ShapeError,
)
from seqscore.numerics.kernels import TokenStats, token_logprobs, token_stats
from seqscore.numerics.reductions import Reductions, reduce
from seqscore.numerics.regression import SoftmaxRegression
from seqscore.numerics.softmax import (
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    logsumexp,
    softmax,
)
from seqscore.scoring.candidates import (
    Candidate,
    CandidateScore,
    Loglikelihood,
    Prompt,
    TokenScores,
    loglikelihood,
    score_prompt,
)

# The heavier layers load on first use (PEP 562), so that `import seqscore`
# and every command start fast: these names resolve through __getattr__.
_LAZY = {
    "plackett_luce": ("plackett_luce", None),
    "PlackettLuceFit": ("plackett_luce", "PlackettLuceFit"),
    "TemperatureFit": ("plackett_luce", "TemperatureFit"),
    "expected_ranks": ("plackett_luce", "expected_ranks"),
    "fit_temperature": ("plackett_luce", "fit_temperature"),
    "marginal_rank_probabilities": ("plackett_luce", "marginal_rank_probabilities"),
    "selection_probabilities": ("plackett_luce", "selection_probabilities"),
    "top_k_probabilities": ("plackett_luce", "top_k_probabilities"),
    "AuditReport": ("audit", "AuditReport"),
    "NoiseModel": ("audit", "NoiseModel"),
    "PipelineRun": ("audit", "PipelineRun"),
    "Decoded": ("decoding", "Decoded"),
    "LanguageModel": ("decoding", "LanguageModel"),
    "beam_search": ("decoding", "beam_search"),
    "beam_search_batch": ("decoding", "beam_search_batch"),
    "exact_search": ("decoding", "exact_search"),
    "greedy": ("decoding", "greedy"),
    "sample": ("decoding", "sample"),
    "teacher_force": ("models.forced", "teacher_force"),
    "load_model": ("models", "load_model"),
    "load_builtin": ("models.builtin", "load_builtin"),
    "load_hf": ("models.hf", "load_hf"),
    "TextCandidate": ("models.loglikelihood", "TextCandidate"),
    "TextPrompt": ("models.loglikelihood", "TextPrompt"),
    "loglikelihoods": ("models.loglikelihood", "loglikelihoods"),
    "score_texts": ("models.loglikelihood", "score_texts"),
    "rolling_perplexity": ("models.perplexity", "rolling_perplexity"),
    "diagnose": ("diagnostics", "diagnose"),
    "survey_greedy": ("diagnostics", "survey_greedy"),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'seqscore' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(f".{module_name}", __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # resolve once
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "AuditReport",
    "Candidate",
    "CandidateScore",
    "DataFormatError",
    "Decoded",
    "InvalidInputError",
    "LanguageModel",
    "Loglikelihood",
    "NoEstimateError",
    "NoiseModel",
    "PipelineRun",
    "PlackettLuceFit",
    "Prompt",
    "Reductions",
    "ScorerLawError",
    "SeqScoreError",
    "ShapeError",
    "SoftmaxRegression",
    "TemperatureFit",
    "TextCandidate",
    "TextPrompt",
    "TokenScores",
    "TokenStats",
    "beam_search",
    "beam_search_batch",
    "cross_entropy",
    "cross_entropy_grad",
    "diagnose",
    "exact_search",
    "expected_ranks",
    "fit_temperature",
    "greedy",
    "load_builtin",
    "load_hf",
    "load_model",
    "log_softmax",
    "loglikelihood",
    "loglikelihoods",
    "logsumexp",
    "marginal_rank_probabilities",
    "plackett_luce",
    "reduce",
    "rolling_perplexity",
    "sample",
    "score_prompt",
    "score_texts",
    "selection_probabilities",
    "softmax",
    "survey_greedy",
    "teacher_force",
    "token_logprobs",
    "token_stats",
    "top_k_probabilities",
]
