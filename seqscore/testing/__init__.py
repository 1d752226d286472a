"""Testing sequence scorers: hypothesis strategies and metamorphic laws.

Needs hypothesis (``pip install hypothesis``); ``import seqscore`` does not.

The scorer signature
--------------------

A *scorer* takes a padded batch of candidates and returns one score per
candidate: the candidate's log-probability, :math:`\\sum_t \\log
\\mathrm{softmax}(z_t)[x_t]` (natural log). Two layouts are supported:

``layout="aligned"`` (the default)::

    scorer(logits, token_ids, lengths) -> scores
        logits     (B, W, V) float: row t of candidate b scores token_ids[b, t]
        token_ids  (B, W) int64
        lengths    (B,) int64: the number of scored tokens of each candidate
        scores     (B,) anything numpy can turn into floats

``layout="causal"`` (a causal LM's raw output; the scorer does the shift)::

    scorer(logits, input_ids, lengths, n_context) -> scores
        logits     (B, W, V): the logits at position p predict token p + 1
        input_ids  (B, W) int64: prompt then continuation
        lengths    (B,) int64: prompt + continuation tokens
        n_context  (B,) int64: prompt tokens (>= 1); the continuation,
                   input_ids[b, n_context[b]:lengths[b]], is what is scored

Steps past ``lengths[b]`` are padding with arbitrary finite logits and
arbitrary in-vocabulary ids. Logits may be float32 or float64 and may hold
``-inf`` for masked tokens (never for a scored token).

The one-line test
-----------------

In your own pytest suite::

    from seqscore.testing import check_scorer

    def test_my_scorer():
        check_scorer(my_scorer)                    # aligned layout
        check_scorer(my_causal_scorer, layout="causal")

It raises :class:`~seqscore.errors.ScorerLawError` (an ``AssertionError``)
listing every law that fails, each with a minimal example shrunk by
hypothesis and the expected and actual scores. :func:`audit_scorer` returns
the same report without raising; ``seqscore audit-fn module:function`` runs it
from the command line.

The laws (:data:`LAWS`)
-----------------------

``sum_of_conditionals``, ``shift_invariance`` (a constant added to one step's
logits), ``extension_never_raises`` (one more token), ``vocabulary_relabelling``
(logits and ids permuted together), ``other_candidates``, ``padding``,
``batch_order``, ``large_logits_float32`` (float32 logits up to 1e4) and
``masked_entries`` (``-inf`` on non-target tokens).

Strategies
----------

:func:`logits`, :func:`finite_floats`, :func:`sequence_cases` and
:func:`candidate_batches` draw the inputs the laws use; use them in your own
property tests.
"""

from seqscore.testing.batch import LAYOUTS, CandidateBatch, SequenceCase
from seqscore.testing.checks import LawResult, ScorerReport, audit_scorer, check_scorer
from seqscore.testing.laws import LAWS, Law, Options, Violation
from seqscore.testing.strategies import (
    FLOAT_DTYPES,
    candidate_batches,
    finite_floats,
    logits,
    sequence_cases,
)

__all__ = [
    "FLOAT_DTYPES",
    "LAWS",
    "LAYOUTS",
    "CandidateBatch",
    "Law",
    "LawResult",
    "Options",
    "ScorerReport",
    "SequenceCase",
    "Violation",
    "audit_scorer",
    "candidate_batches",
    "check_scorer",
    "finite_floats",
    "logits",
    "sequence_cases",
]
