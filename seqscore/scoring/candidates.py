r"""Sequence scores for candidate completions.

A :class:`Prompt` holds any number of :class:`Candidate` completions of
different lengths. Each candidate carries its per-token log-probabilities
(:class:`TokenScores`) and whatever else its input supplied: ranks, the
argmax token and its log-prob, entropies, top alternatives, text and bytes.

The score of a candidate is the autoregressive log-probability

.. math::

    \log P(x_1 \ldots x_L \mid c) = \sum_{t=1}^{L} \log p(x_t \mid c, x_{<t}),

a sum of log-probabilities (never a product of probabilities, which
underflows, and never a sum of raw logits, which are not normalised).
:func:`score_prompt` adds every reduction of :mod:`seqscore.numerics.reductions`, the
weakest token, whether the candidate is the greedy path, its rank among the
prompt's candidates and its Plackett-Luce first-choice probability: the
softmax of the summed scores, i.e. the model's probability of the candidate
given that one of these candidates is produced.

A candidate's score depends on nothing but its own tokens: not on the other
candidates, on padding, or on how many candidates are scored together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from seqscore.errors import InvalidInputError, ShapeError
from seqscore.numerics._arrays import as_targets, check_integer
from seqscore.numerics.clamp import (
    POSITIVE_TOLERANCE,
    clamped,
    not_a_logprob,
)
from seqscore.numerics.first_choice import selection_probabilities
from seqscore.numerics.kernels import token_stats
from seqscore.numerics.reductions import RANKABLE, Reductions, reduce
from seqscore.numerics.shift import causal_window
from seqscore.numerics.totals import sequence_logprob

__all__ = [
    "Candidate",
    "CandidateScore",
    "Loglikelihood",
    "Prompt",
    "TokenScores",
    "competition_ranks",
    "loglikelihood",
    "score_prompt",
    "sequence_logprob",
    "token_scores_from_alternatives",
    "token_scores_from_logits",
    "token_scores_from_stats",
]


def _float_array(values, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        bad = next(
            (i for i, v in enumerate(values) if not isinstance(v, (int, float))), None
        )
        raise InvalidInputError(
            f"{name}[{bad}] is {values[bad]!r}, not a number"
            if bad is not None
            else f"{name} is not a list of numbers"
        ) from None
    if array.ndim != 1:
        raise ShapeError(f"{name} must be a flat list of numbers")
    return array


@dataclass(frozen=True)
class TokenScores:
    """Per-token facts of one candidate, all of length ``n_tokens``.

    Only ``logprob`` is required; values above 0 by at most
    :data:`~seqscore.numerics.clamp.POSITIVE_TOLERANCE` are read as 0, larger ones are
    an error (:mod:`seqscore.numerics.clamp`, the readers' rule). ``is_argmax`` says
    whether each token was the most probable at its step (decidable from
    logits, from ranks, or from top alternatives); ``rank`` is exact where
    given (1 = most probable). ``token`` is each token's text, as a
    person would read it decoded (`` the``; bytes that are no character on
    their own as ``surrogateescape`` code points, see
    :mod:`seqscore.models.token_text`), and ``piece`` the tokenizer's own
    name for it (``Ġthe``, ``▁the``) where the source has one that differs
    in kind (a Hugging Face model's; API dumps give text alone).
    ``argmax_id`` (from logits) and ``argmax_logprob`` describe each step's
    most probable token; from API data the best listed alternative stands in.
    ``top_tokens`` / ``top_logprobs`` list each step's alternatives, best
    first: an ``(n, k)`` array when every step has ``k``, else one array per
    step. ``offsets`` (``(n, 2)``) are each token's characters ``[start,
    end)`` in the candidate's text, where the tokenizer says (a token may
    start before 0: the space it took from the end of the context).

    For word probabilities (:mod:`seqscore.scoring.words`): ``word_start``
    says whether each token begins a word (its text starts with
    whitespace), and ``boundary_logmass`` (``(n + 1, 2)``) holds, after
    each prefix of the candidate (none of its tokens, then 1, ..., all
    ``n``), the log-probability that the next token begins a word or ends
    the sequence (column 0) and that it does not begin a word (column 1);
    NaN where the model had no room for the row after the last token.
    """

    logprob: np.ndarray
    token: tuple[str, ...] | None = None
    token_id: np.ndarray | None = None
    is_argmax: np.ndarray | None = None
    rank: np.ndarray | None = None
    argmax_id: np.ndarray | None = None
    argmax_logprob: np.ndarray | None = None
    entropy: np.ndarray | None = None
    top_tokens: Sequence[Sequence[str]] | None = None
    top_logprobs: np.ndarray | Sequence[np.ndarray] | None = None
    offsets: np.ndarray | None = None
    word_start: np.ndarray | None = None
    boundary_logmass: np.ndarray | None = None
    piece: tuple[str, ...] | None = None

    def __post_init__(self):
        logprob = _float_array(self.logprob, "logprobs")
        # one reduction checks everything: a NaN makes the max NaN
        peak = logprob.max() if logprob.size else 0.0
        if not peak <= POSITIVE_TOLERANCE:
            if np.isnan(logprob).any():
                raise InvalidInputError(f"logprobs[{_first(np.isnan(logprob))}] is NaN")
            i = _first(logprob > POSITIVE_TOLERANCE)
            raise InvalidInputError(not_a_logprob(f"logprobs[{i}]", logprob[i]))
        object.__setattr__(self, "logprob", clamped(logprob) if peak > 0 else logprob)
        n = len(logprob)
        for name in (
            "token",
            "token_id",
            "is_argmax",
            "rank",
            "argmax_logprob",
            "entropy",
            "top_tokens",
            "top_logprobs",
            "offsets",
            "word_start",
            "piece",
        ):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ShapeError(
                    f"{name} has {len(value)} entries but logprobs has {n}"
                )
        mass = self.boundary_logmass
        if mass is not None and np.shape(mass) != (n + 1, 2):
            raise ShapeError(
                f"boundary_logmass has shape {np.shape(mass)}, not ({n + 1}, 2): "
                "one row per prefix of the candidate, empty and whole included"
            )

    def __len__(self) -> int:
        return len(self.logprob)

    @property
    def is_greedy(self) -> bool | None:
        """Every token the argmax of its step (``None`` if undecidable)."""
        return None if self.is_argmax is None else bool(np.all(self.is_argmax))


def _first(mask) -> int:
    return int(np.flatnonzero(mask)[0])


@dataclass(frozen=True)
class Candidate:
    """One completion of a prompt: its tokens' scores and, optionally, text.

    ``n_chars`` and ``n_bytes`` default to the length of ``text`` in
    characters and UTF-8 bytes; give them explicitly when the counts are known
    but the text is not. ``unconditional`` is ``log P(x)`` without the
    prompt, for the ``pmi`` reduction.

    When the input logs only a candidate's total log-prob (lm-eval's samples
    files), ``tokens`` is ``None`` and ``logged_total`` (and ``logged_greedy``,
    if logged) hold what was logged: the token count is unknown, so the
    per-token reductions are ``None`` with the reason, never a guess.

    >>> c = Candidate("a", None, text="Paris", logged_total=-2.5, logged_greedy=True)
    >>> c.total, c.n_tokens, c.is_greedy, c.reductions().char
    (-2.5, None, True, -0.5)
    """

    id: str
    tokens: TokenScores | None
    text: str | None = None
    n_bytes: int | None = None
    unconditional: float | None = None
    n_chars: int | None = None
    logged_total: float | None = None
    logged_greedy: bool | None = None

    def __post_init__(self):
        if (self.tokens is None) == (self.logged_total is None):
            raise InvalidInputError(
                f"candidate {self.id!r}: give its tokens' scores or its logged "
                "total log-prob (one of them)"
            )
        if self.tokens is None:
            _check_total(self.logged_total, self.id)
        elif len(self.tokens) == 0:
            raise InvalidInputError(
                f"candidate {self.id!r} has no tokens: an empty completion has no score"
            )
        if self.text is not None:
            if self.n_bytes is None:
                object.__setattr__(self, "n_bytes", _utf8_length(self.text, self.id))
            if self.n_chars is None:
                object.__setattr__(self, "n_chars", len(self.text))
        if self.unconditional is not None and np.isnan(self.unconditional):
            raise InvalidInputError(f"candidate {self.id!r}: unconditional is NaN")

    @property
    def total(self) -> float:
        """The summed log-prob (left to right from 0.0,
        :func:`~seqscore.numerics.totals.sequence_logprob`), or the logged total."""
        if self.tokens is None:
            # set exactly when tokens is not (__post_init__)
            return cast(float, self.logged_total)
        return sequence_logprob(self.tokens.logprob)

    @property
    def n_tokens(self) -> int | None:
        """The number of tokens, ``None`` when only the total is known."""
        return None if self.tokens is None else len(self.tokens)

    def reductions(self, alpha: float = 1.0) -> Reductions:
        """Every reduction of this candidate's summed log-prob."""
        return reduce(
            self.total,
            self.n_tokens,
            n_chars=self.n_chars,
            n_bytes=self.n_bytes,
            unconditional=self.unconditional,
            alpha=alpha,
        )

    @property
    def is_greedy(self) -> bool | None:
        """Every token the argmax of its step (``None`` if undecidable)."""
        if self.tokens is None:
            return self.logged_greedy
        return self.tokens.is_greedy


def _utf8_length(text: str, candidate_id: str) -> int:
    """The UTF-8 bytes of a candidate's text; a lone surrogate (which JSON
    can spell, and Python's ``json`` reads) has none."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"candidate {candidate_id!r}: its text holds a lone surrogate "
            f"({text[exc.start]!r} at {exc.start}), not a character: it has no "
            "UTF-8 bytes to count"
        ) from None


def _check_total(total, candidate_id: str) -> None:
    if isinstance(total, bool) or not isinstance(total, (int, float, np.floating)):
        raise InvalidInputError(
            f"candidate {candidate_id!r}: logged_total {total!r} is not a number"
        )
    if np.isnan(total) or total > POSITIVE_TOLERANCE:
        raise InvalidInputError(
            f"candidate {candidate_id!r}: logged_total {total!r} is not a "
            "log-probability (NaN or positive)"
        )


@dataclass(frozen=True)
class Prompt:
    """A prompt and its candidate completions; ``source`` locates it in a file."""

    id: str
    candidates: tuple[Candidate, ...]
    text: str | None = None
    source: str = field(default="", compare=False)

    def __post_init__(self):
        if not self.candidates:
            raise InvalidInputError(f"prompt {self.id!r} has no candidates")
        ids = [c.id for c in self.candidates]
        duplicate = next((i for i in ids if ids.count(i) > 1), None)
        if duplicate is not None:
            raise InvalidInputError(
                f"prompt {self.id!r} has two candidates with id {duplicate!r}"
            )


@dataclass(frozen=True)
class CandidateScore:
    """A scored candidate: its reductions, weakest token, rank and probability."""

    prompt_id: str
    candidate_id: str
    text: str | None
    n_tokens: int | None
    n_chars: int | None
    n_bytes: int | None
    reductions: Reductions
    weakest_position: int | None
    weakest_token: str | None
    weakest_logprob: float | None
    is_greedy: bool | None
    rank: int
    probability: float | None
    ranked_by: str

    @property
    def score(self) -> float:
        """The summed log-probability."""
        return self.reductions.sum


def score_prompt(
    prompt: Prompt, normalize: str = "sum", alpha: float = 1.0
) -> tuple[CandidateScore, ...]:
    """Score every candidate of ``prompt`` and rank them by ``normalize``.

    ``rank`` is 1 + the number of candidates with a strictly higher value of
    the ``normalize`` reduction (ties share a rank). ``probability`` is the
    softmax of the summed scores over the prompt's candidates (``None`` when
    every candidate has probability 0).

    The longer candidate loses on total score but wins per token:

    >>> a = Candidate("a", TokenScores([-0.5, -0.5]), text=" New York")
    >>> b = Candidate("b", TokenScores([-0.8]), text=" Rome")
    >>> # p(a) = e^-1.0 / (e^-1.0 + e^-0.8) = 1 / (1 + e^0.2)
    >>> [(s.candidate_id, s.rank, round(s.probability, 4))
    ...  for s in score_prompt(Prompt("q", (a, b)))]
    [('a', 2, 0.4502), ('b', 1, 0.5498)]
    >>> [s.rank for s in score_prompt(Prompt("q", (a, b)), normalize="mean")]
    [1, 2]
    """
    if normalize not in RANKABLE:
        raise InvalidInputError(
            f"cannot rank by {normalize!r}: choose one of {', '.join(RANKABLE)}"
        )
    reductions = [c.reductions(alpha) for c in prompt.candidates]
    try:  # the first candidate that cannot supply it names the reason
        keys = np.array([r.value(normalize) for r in reductions])
    except InvalidInputError as exc:
        raise InvalidInputError(f"prompt {prompt.id!r}: {exc}") from None
    ranks = competition_ranks(keys)
    probabilities = _first_choice(np.array([r.sum for r in reductions]))
    return tuple(
        _scored(prompt.id, c, r, int(rank), p, normalize)
        for c, r, rank, p in zip(
            prompt.candidates, reductions, ranks, probabilities, strict=True
        )
    )


def competition_ranks(keys) -> np.ndarray:
    """Each key's rank, highest first: 1 + the number of keys strictly
    higher, so ties share a rank (the rule of :func:`score_prompt`, and of
    every report that ranks a prompt's candidates under another reduction).

    >>> competition_ranks([-1.0, -0.5, -1.0]).tolist()
    [2, 1, 2]
    """
    keys = np.asarray(keys, dtype=np.float64)
    return 1 + np.sum(keys[None, :] > keys[:, None], axis=1)


def _first_choice(totals: np.ndarray) -> list[float | None]:
    """Plackett-Luce first-choice probabilities of the totals, where a total
    of ``-inf`` (a candidate with a masked token) has worth 0; ``None`` for
    every candidate when no total is finite. Any other input
    ``selection_probabilities`` refuses (a NaN or ``+inf`` beside a finite
    total) stays an error. The finiteness test runs only on refusal: this
    runs for every prompt of every input."""
    try:
        return selection_probabilities(totals, impossible=True).tolist()
    except InvalidInputError:
        if np.isfinite(totals).any():
            raise
        return [None] * len(totals)


def _scored(prompt_id, candidate, reductions, rank, probability, normalize):
    weakest = _weakest(candidate.tokens)
    return CandidateScore(
        prompt_id=prompt_id,
        candidate_id=candidate.id,
        text=candidate.text,
        n_tokens=candidate.n_tokens,
        n_chars=candidate.n_chars,
        n_bytes=candidate.n_bytes,
        reductions=reductions,
        weakest_position=weakest[0],
        weakest_token=weakest[1],
        weakest_logprob=weakest[2],
        is_greedy=candidate.is_greedy,
        rank=rank,
        probability=probability,
        ranked_by=normalize,
    )


def _weakest(tokens: TokenScores | None) -> tuple[int | None, str | None, float | None]:
    """``(position, token, log-prob)`` of the least likely token (all None
    when only the total is known)."""
    if tokens is None:
        return None, None, None
    weakest = int(np.argmin(tokens.logprob))
    token = None if tokens.token is None else tokens.token[weakest]
    return weakest, token, float(tokens.logprob[weakest])


# ------------------------------------------------------------------ logits


def token_scores_from_logits(
    logits, targets, *, top_k: int = 0, workers: int | None = None
) -> TokenScores:
    """Per-token scores of ``targets`` from aligned logits (row t scores t).

    ``is_argmax`` follows lm-evaluation-harness: the target equals the
    argmax of its row, ties going to the first (lowest) index as with
    ``torch.argmax`` and ``numpy.argmax``. ``rank`` counts strictly larger
    logits, so a target tied for the top has rank 1 either way. (lm-eval
    takes the argmax of the log-softmax rather than of the logits; the two
    differ only when rounding merges two logits into one log-prob, such as
    0 and 1e-100, where seqscore keeps the exact order.) ``workers``: the
    kernel's threads (default: one per core).
    """
    targets = np.asarray(targets)
    stats = token_stats(logits, targets, top_k=top_k, workers=workers)
    return token_scores_from_stats(stats, slice(None), targets)


def token_scores_from_alternatives(
    logprobs, *, token=None, rank=None, top_tokens=None, top_logprobs=None
):
    """TokenScores from API-style data, deciding ``is_argmax`` where possible.

    A token is the argmax of its step when its rank is 1, or when its
    log-prob is at least every listed alternative's (the best alternative's
    log-prob is then the step's ``argmax_logprob``). With no ranks and no
    alternatives at some step, greediness is undecidable (``None``).
    """
    best = _best_alternative(top_logprobs)
    if rank is not None:
        is_argmax = rank == 1
    else:
        is_argmax = None if best is None else logprobs >= best
    return TokenScores(
        logprob=logprobs,
        token=token,
        is_argmax=is_argmax,
        rank=rank,
        argmax_logprob=None if best is None else np.maximum(best, logprobs),
        top_tokens=top_tokens,
        top_logprobs=top_logprobs,
    )


def _best_alternative(top_logprobs) -> np.ndarray | None:
    """Each step's best listed log-prob; ``None`` unless every step lists some."""
    if top_logprobs is None:
        return None
    if isinstance(top_logprobs, np.ndarray):  # (n, k): every step has k
        return top_logprobs.max(axis=1) if top_logprobs.shape[1] else None
    if not all(len(step) for step in top_logprobs):
        return None
    return np.array([step.max() for step in top_logprobs])


def token_scores_from_stats(
    stats, span: slice, targets, texts=None, pieces=None
) -> TokenScores:
    """The :class:`TokenScores` of ``targets``, read from ``stats[span]``.

    ``texts`` and ``pieces`` are the vocabulary's (each id's text, and its
    tokenizer piece), if known: the tokens and each step's alternatives are
    named by their texts, else the alternatives by their ids.
    ``stats`` is a :class:`~seqscore.numerics.kernels.TokenStats` over flat steps;
    one kernel pass can serve many candidates, each taking its span.
    """
    targets = np.asarray(targets).astype(np.int64)
    argmax = stats.argmax[span]
    top_ids = stats.top_ids[span] if stats.top_ids.shape[-1] else None
    return TokenScores(
        logprob=stats.logprob[span],
        token=None if texts is None else tuple(texts[i] for i in targets),
        token_id=targets,
        is_argmax=argmax == targets,
        rank=stats.rank[span],
        argmax_id=argmax,
        argmax_logprob=stats.argmax_logprob[span],
        entropy=stats.entropy[span],
        top_logprobs=None if top_ids is None else stats.top_logprobs[span],
        top_tokens=None if top_ids is None else _names(top_ids, texts),
        piece=None if pieces is None else tuple(pieces[i] for i in targets),
    )


def _names(ids: np.ndarray, texts) -> Sequence[Sequence[str]]:
    """Each step's alternatives by their texts, or without texts by their ids."""
    if texts is None:  # an (n, k) array of strings serves as such
        return cast(Sequence[Sequence[str]], ids.astype(str))
    return [[texts[i] for i in row] for row in ids.tolist()]


@dataclass(frozen=True)
class Loglikelihood:
    """The log-likelihood of a continuation, as lm-evaluation-harness defines it."""

    logprob: float
    is_greedy: bool
    token_logprobs: np.ndarray
    tokens: TokenScores


def loglikelihood(logits, input_ids, n_context: int) -> Loglikelihood:
    r"""Score ``input_ids[n_context:]`` from a causal LM's logits over the sequence.

    ``logits`` has shape ``(T, V)`` for the ``T`` input ids: the logits at
    position ``i`` predict token ``i + 1``, so the continuation is scored by
    positions ``n_context - 1 .. T - 2`` (:mod:`seqscore.numerics.shift`,
    lm-evaluation-harness's ``_loglikelihood_tokens`` rule). ``is_greedy`` is
    true when every continuation token is the argmax of its step.

    ``n_context`` must be >= 1: no logits predict the first token. (lm-eval
    gives an empty context the end-of-text token as its context.)

    Row 0 predicts token 1 (p = 0.9), row 1 predicts token 2 (p = 0.8), and
    the last row predicts beyond the sequence, so it is not used:

    >>> logits = np.log([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    >>> result = loglikelihood(logits, [1, 0, 1], n_context=1)
    >>> bool(np.isclose(result.logprob, np.log(0.9) + np.log(0.8)))
    True
    >>> result.is_greedy
    True
    """
    logits = np.asarray(logits) if not isinstance(logits, np.ndarray) else logits
    ids = np.asarray(input_ids)
    if logits.ndim != 2 or ids.ndim != 1 or logits.shape[0] != ids.shape[0]:
        raise ShapeError(
            f"expected logits (T, V) and input_ids (T,), got {logits.shape} and "
            f"{ids.shape}"
        )
    try:  # an integer, never a rounding of 1.5 or a reading of "2" or True
        context = check_integer(n_context, "n_context", minimum=1)
    except InvalidInputError:
        context = 0
    if not 1 <= context < len(ids):
        raise InvalidInputError(
            f"n_context must be an integer in [1, {len(ids) - 1}] for {len(ids)} "
            f"input ids (got {n_context!r}): the context needs a token and the "
            "continuation must not be empty"
        )
    n_context = context
    # named as input_ids[t] (a target error would number the continuation)
    ids = as_targets(ids, logits.shape[1], name="input_ids")
    rows, targets = causal_window(n_context, len(ids))
    tokens = token_scores_from_logits(logits[rows], ids[targets])
    return Loglikelihood(
        logprob=sequence_logprob(tokens.logprob),
        is_greedy=bool(np.all(tokens.is_argmax)),
        token_logprobs=tokens.logprob,
        tokens=tokens,
    )
