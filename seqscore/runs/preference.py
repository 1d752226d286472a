r"""Preference pairs scored by a model: margins, DPO's rewards, accuracy.

Each pair is a prompt and two responses, ``chosen`` and ``rejected``,
scored as two candidates of one prompt (one pass where the model packs
them; a prompt several pairs share runs once). Per pair:

* the responses' log-probs :math:`\log \pi(y \mid x)` (the sum, and the mean
  per token) and the ``normalize`` reduction of each; the **margin** is
  chosen's reduction minus rejected's;
* with a reference model :math:`\pi_\text{ref}`, DPO's implicit rewards
  :math:`r(y) = \beta\,(\log \pi(y \mid x) - \log \pi_\text{ref}(y \mid x))`
  (Rafailov et al., 2023, eq. 5; summed log-probs) and the **reward
  margin** :math:`r(y_c) - r(y_r)`.

Over the pairs (:func:`preference_summary`): **preference accuracy**, the
share of pairs whose margin is positive (a tie is not a preference), with a
bootstrap percentile interval
(:func:`~seqscore.lmeval.statistics.bootstrap_accuracy`); the mean margin;
**length bias**: among pairs whose responses differ in length, how often the
longer one has the higher summed log-prob, and the accuracy by mean
log-prob per token; with a reference, DPO accuracy (positive reward
margins), the reference's own accuracy, and the pairs where the two models'
margins differ most.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from seqscore.errors import InvalidInputError, Rejected, rejection_error
from seqscore.lmeval.statistics import bootstrap_accuracy
from seqscore.models.loglikelihood import TextScoring, forced_items
from seqscore.scoring.candidates import CandidateScore, Prompt, score_prompt

__all__ = ["PairScore", "pair_scores", "preference_summary", "scored_pairs"]

#: Pairs scored per pass of each model (both models see the same pairs).
PAIRS_PER_PASS = 256

#: Pairs listed where the policy's and the reference's margins differ most.
DISAGREEMENTS = 5


@dataclass(frozen=True)
class PairScore:
    """One pair's scores (see the module notes); the ``ref_`` and
    ``reward_`` fields are None without a reference model."""

    id: str
    chosen_logprob: float
    rejected_logprob: float
    chosen_mean: float
    rejected_mean: float
    margin: float
    chosen_tokens: int
    rejected_tokens: int
    chosen_chars: int
    rejected_chars: int
    ref_chosen_logprob: float | None = None
    ref_rejected_logprob: float | None = None
    ref_margin: float | None = None
    reward_chosen: float | None = None
    reward_rejected: float | None = None
    reward_margin: float | None = None

    def as_record(self) -> dict:
        return asdict(self)


def scored_pairs(
    model, reference, pairs: Iterable, scoring: TextScoring
) -> Iterator[tuple[Prompt, Prompt | None]]:
    """``(policy's Prompt, reference's Prompt or None)`` per pair, in order;
    a pair the reader or a model rejected stops the run, named."""
    chunk: list = []
    for item in pairs:
        chunk.append(item)
        if len(chunk) == PAIRS_PER_PASS:
            yield from _scored_chunk(model, reference, chunk, scoring)
            chunk = []
    if chunk:
        yield from _scored_chunk(model, reference, chunk, scoring)


def _scored_chunk(model, reference, chunk, scoring):
    mine = list(forced_items(model, chunk, scoring, prompts_per_pass=len(chunk)))
    theirs = (
        list(forced_items(reference, chunk, scoring, prompts_per_pass=len(chunk)))
        if reference is not None
        else [None] * len(chunk)
    )
    for a, b in zip(mine, theirs, strict=True):
        for item in (a, b):
            if isinstance(item, Rejected):
                raise rejection_error(item)
        yield a, b


def pair_scores(
    policy: Prompt,
    reference: Prompt | None,
    normalize: str = "sum",
    beta: float = 0.1,
) -> PairScore:
    """The :class:`PairScore` of one pair scored by the policy (and the
    reference): candidates ``chosen`` and ``rejected``."""
    chosen, rejected = _responses(policy, normalize)
    fields: dict[str, Any] = {
        "id": policy.id,
        "chosen_logprob": chosen.score,
        "rejected_logprob": rejected.score,
        "chosen_mean": chosen.reductions.mean,
        "rejected_mean": rejected.reductions.mean,
        "margin": _reduction(chosen, normalize) - _reduction(rejected, normalize),
        "chosen_tokens": chosen.n_tokens,
        "rejected_tokens": rejected.n_tokens,
        "chosen_chars": chosen.n_chars,
        "rejected_chars": rejected.n_chars,
    }
    if reference is not None:
        ref_chosen, ref_rejected = _responses(reference, normalize)
        reward_chosen = beta * (chosen.score - ref_chosen.score)
        reward_rejected = beta * (rejected.score - ref_rejected.score)
        fields |= {
            "ref_chosen_logprob": ref_chosen.score,
            "ref_rejected_logprob": ref_rejected.score,
            "ref_margin": _reduction(ref_chosen, normalize)
            - _reduction(ref_rejected, normalize),
            "reward_chosen": reward_chosen,
            "reward_rejected": reward_rejected,
            "reward_margin": reward_chosen - reward_rejected,
        }
    return PairScore(**fields)


def _responses(prompt: Prompt, normalize: str) -> tuple[CandidateScore, CandidateScore]:
    scores = {s.candidate_id: s for s in score_prompt(prompt, normalize)}
    return scores["chosen"], scores["rejected"]


def _reduction(score: CandidateScore, normalize: str) -> float:
    value = getattr(score.reductions, normalize)
    if value is None:
        raise InvalidInputError(
            f"--normalize {normalize}: not defined for candidate "
            f"{score.candidate_id!r} of {score.prompt_id!r}"
        )
    return float(value)


def preference_summary(rows: Sequence[PairScore], seed: int = 0) -> dict:
    """Accuracy (with its bootstrap interval), mean margin, length bias and,
    with a reference, DPO accuracy and the largest disagreements."""
    if not rows:
        raise InvalidInputError("no preference pairs")
    margins = np.array([r.margin for r in rows])
    summary: dict[str, Any] = {"pairs": len(rows), "mean_margin": float(margins.mean())}
    summary |= _accuracy("accuracy", margins > 0, seed)
    per_token = np.array([r.chosen_mean > r.rejected_mean for r in rows])
    summary["accuracy_per_token"] = float(per_token.mean())
    summary |= _length_bias(rows)
    if rows[0].reward_margin is not None:
        rewards = np.array([r.reward_margin for r in rows], dtype=float)
        reference = np.array([r.ref_margin for r in rows], dtype=float)
        summary |= _accuracy("dpo_accuracy", rewards > 0, seed)
        summary["mean_reward_margin"] = float(rewards.mean())
        summary["reference_accuracy"] = float((reference > 0).mean())
        gaps = np.abs(margins - reference)
        order = np.argsort(-gaps, kind="stable")[:DISAGREEMENTS]
        summary["disagreements"] = [
            {
                "id": rows[i].id,
                "margin": rows[i].margin,
                "ref_margin": rows[i].ref_margin,
            }
            for i in order
        ]
    return summary


def _accuracy(name: str, wins: np.ndarray, seed: int) -> dict:
    interval = bootstrap_accuracy(int(wins.sum()), len(wins), seed=seed)
    assert interval is not None  # there are pairs
    return {
        name: float(wins.mean()),
        f"{name}_low": interval.low,
        f"{name}_high": interval.high,
    }


def _length_bias(rows: Sequence[PairScore]) -> dict:
    """Among pairs whose responses differ in characters, the share where
    the longer one has the higher summed log-prob (None: no such pair)."""
    longer_wins = [
        (r.chosen_logprob > r.rejected_logprob) == (r.chosen_chars > r.rejected_chars)
        for r in rows
        if r.chosen_chars != r.rejected_chars
    ]
    share = float(np.mean(longer_wins)) if longer_wins else None
    return {"longer_wins": share, "pairs_of_different_length": len(longer_wins)}
