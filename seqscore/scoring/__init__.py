"""Scoring candidates: from per-token statistics to sequence scores.

* :mod:`~seqscore.scoring.candidates` -- candidates, token scores, totals and
  their reductions, is-greedy, the weakest token, rank and first-choice
  probability within a prompt (:func:`score_prompt`);
* :mod:`~seqscore.scoring.pairwise` -- why one candidate beats another;
* :mod:`~seqscore.scoring.words` -- per-word surprisal.
"""

from seqscore.scoring.candidates import (
    Candidate,
    CandidateScore,
    Loglikelihood,
    Prompt,
    TokenScores,
    loglikelihood,
    score_prompt,
    sequence_logprob,
    token_scores_from_logits,
    token_scores_from_stats,
)

__all__ = [
    "Candidate",
    "CandidateScore",
    "Loglikelihood",
    "Prompt",
    "TokenScores",
    "loglikelihood",
    "score_prompt",
    "sequence_logprob",
    "token_scores_from_logits",
    "token_scores_from_stats",
]
