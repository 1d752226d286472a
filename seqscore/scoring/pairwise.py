r"""Why one candidate beats another: a step-by-step decomposition.

For candidates ``a`` and ``b`` of the same prompt with per-token log-probs
:math:`a_t` and :math:`b_t`, the margin of ``a`` over ``b`` is

.. math::

    S_a - S_b = \sum_{t < n} (a_t - b_t) + \sum_{t \ge n} a_t - \sum_{t \ge n} b_t,
    \qquad n = \min(L_a, L_b),

the steps both candidates have (*shared steps*, compared position by
position) plus each candidate's tail beyond the shorter one. Every tail token
has a log-prob <= 0, so a longer tail always costs.

The surprise this explains: ``a`` can take the more likely token at most
shared steps -- ``a_t > b_t`` for ``k`` of ``n`` steps -- and still lose,
because a single confident miss (a very negative ``a_t``) or a longer tail
outweighs many small wins. The *deciding steps* are the fewest of ``a``'s
losing steps, largest loss first, whose losses make up the final margin: had
``a`` merely tied ``b`` there, ``a`` would not have lost. Length normalisations (mean,
per character or byte, length penalty) divide the sum differently, so they
can flip the winner; :func:`compare` reports each one that does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqscore.errors import DataFormatError, InvalidInputError
from seqscore.numerics.reductions import RANKABLE
from seqscore.numerics.totals import sequence_logprob
from seqscore.scoring.candidates import Candidate, Prompt, TokenScores

__all__ = ["Comparison", "compare", "prompt_comparisons"]

#: Normalisations checked for a flip (``sum`` is the reference; ``pmi`` needs
#: unconditional scores and is checked when both candidates have them).
FLIP_CHECKS = tuple(name for name in RANKABLE if name != "sum")


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b``: the margin and where it comes from.

    ``step_margin[t] = a_t - b_t`` over the shared steps; ``wins`` counts the
    shared steps where ``a``'s token was the more likely; ``tail_a`` and
    ``tail_b`` are the summed log-probs past the shorter candidate;
    ``deciding_steps`` are ``a``'s losses that decide it (empty when ``a``
    wins); ``flips`` maps each normalisation whose winner differs from the
    sum's to its margin ``a - b``. ``tokens_a`` and ``tokens_b`` are the
    tokens' texts and ``ids_a`` and ``ids_b`` their ids (each None where the
    input has none), for the explanation to name them by
    (:mod:`seqscore.report.comparison` renders them).
    """

    a: str
    b: str
    margin: float
    shared_steps: int
    wins: int
    losses: int
    step_margin: np.ndarray
    tail_a: float
    tail_b: float
    deciding_steps: tuple[int, ...]
    flips: dict
    tokens_a: tuple[str, ...] | None
    tokens_b: tuple[str, ...] | None
    ids_a: tuple[int, ...] | None = None
    ids_b: tuple[int, ...] | None = None

    @property
    def paradox(self) -> bool:
        """``a`` takes the more likely token at most shared steps yet loses."""
        return self.margin < 0 and self.wins > self.shared_steps / 2


def compare(a: Candidate, b: Candidate, alpha: float = 1.0) -> Comparison:
    """Decompose the margin of candidate ``a`` over candidate ``b``.

    >>> from seqscore.scoring.candidates import TokenScores
    >>> a = Candidate("a", TokenScores([-0.1, -0.1, -0.1, -4.0]), text="x" * 16)
    >>> b = Candidate("b", TokenScores([-0.5, -0.5, -0.5, -0.5]), text="x" * 4)
    >>> c = compare(a, b)
    >>> round(c.margin, 2), c.wins, c.shared_steps, c.deciding_steps, c.paradox
    (-2.3, 3, 4, (3,), True)
    >>> {name: round(v, 4) for name, v in c.flips.items()}  # -4.3/16 vs -2/4
    {'char': 0.2313, 'byte': 0.2313}
    """
    tokens_a, tokens_b = _token_scores(a), _token_scores(b)
    la, lb = tokens_a.logprob, tokens_b.logprob
    total_a, total_b = sequence_logprob(la), sequence_logprob(lb)
    if total_a == total_b == -np.inf:
        raise InvalidInputError(
            f"candidates {a.id!r} and {b.id!r} both have probability 0 (a -inf "
            "token log-prob): there is no margin to decompose"
        )
    n = min(len(la), len(lb))
    with np.errstate(invalid="ignore"):  # a step where both are -inf: NaN
        step_margin = la[:n] - lb[:n]
    tail_a, tail_b = sequence_logprob(la[n:]), sequence_logprob(lb[n:])
    margin = total_a - total_b
    return Comparison(
        a=a.id,
        b=b.id,
        margin=margin,
        shared_steps=n,
        wins=int(np.sum(step_margin > 0)),
        losses=int(np.sum(step_margin < 0)),
        step_margin=step_margin,
        tail_a=tail_a,
        tail_b=tail_b,
        deciding_steps=_deciding_steps(step_margin, margin),
        flips=_flips(a, b, margin, alpha),
        tokens_a=tokens_a.token,
        tokens_b=tokens_b.token,
        ids_a=_ids(tokens_a),
        ids_b=_ids(tokens_b),
    )


def _token_scores(candidate: Candidate) -> TokenScores:
    """The candidate's token scores; an error for a logged total alone."""
    if candidate.tokens is None:
        raise InvalidInputError(
            f"candidate {candidate.id!r}: compare explains scores step by step and "
            "needs its token log-probs; the input logs only its total"
        )
    return candidate.tokens


def _ids(tokens: TokenScores) -> tuple[int, ...] | None:
    return None if tokens.token_id is None else tuple(map(int, tokens.token_id))


def _deciding_steps(step_margin: np.ndarray, margin: float) -> tuple[int, ...]:
    """Fewest losing steps (largest first) whose losses make up the deficit."""
    if margin >= 0:
        return ()
    order = np.argsort(step_margin, kind="stable")
    order = order[step_margin[order] < 0]
    recovered = np.cumsum(-step_margin[order])
    # the margin and the step sums are added in different orders: allow for
    # their last bits differing when one step accounts for the whole margin
    enough = np.flatnonzero(recovered >= -margin * (1 - 1e-12))
    if not enough.size:  # the tail, not the shared steps, decides it
        return ()
    return tuple(int(t) for t in np.sort(order[: enough[0] + 1]))


def _flips(a: Candidate, b: Candidate, margin: float, alpha: float) -> dict:
    ra, rb = a.reductions(alpha), b.reductions(alpha)
    flips = {}
    for name in FLIP_CHECKS:
        va, vb = getattr(ra, name), getattr(rb, name)
        if va is None or vb is None:
            continue
        difference = va - vb
        # a flip: the other candidate strictly ahead. A tie by the sum has no
        # winner to flip, and a tie after normalising is not the other's win
        if difference * margin < 0:
            flips[name] = float(difference)
    return flips


def prompt_comparisons(
    prompt: Prompt, every_pair: bool, alpha: float
) -> tuple[list[Comparison], str | None]:
    """``(comparisons, note)`` of a prompt: its winner (highest summed
    log-prob) against the runner-up and every surprising rival (one that wins
    most shared steps yet loses, or that a normalisation makes the winner),
    or against every candidate (``every_pair``); the note says why there is
    nothing to compare."""
    if any(c.tokens is None for c in prompt.candidates):
        raise DataFormatError(
            f"{prompt.source or prompt.id}: compare explains scores step by step and "
            "needs each candidate's token log-probs; this input logs only totals "
            "(for lm-eval samples, see seqscore evaluate)"
        )
    if len(prompt.candidates) < 2:
        return [], "only one candidate: nothing to compare"
    # every candidate has tokens (checked above), so each total is summed from them
    totals = np.array([c.total for c in prompt.candidates])
    order = np.argsort(-totals, kind="stable")
    if totals[order[0]] == -np.inf:
        return [], "every candidate has probability 0 (a -inf token log-prob)"
    winner = prompt.candidates[order[0]]
    found = []
    for rank, index in enumerate(order[1:], start=2):
        # from the rival's side: the rival is the one that wins most steps
        comparison = compare(prompt.candidates[index], winner, alpha)
        if every_pair or rank == 2 or comparison.paradox or comparison.flips:
            found.append(comparison)
    return found, None
