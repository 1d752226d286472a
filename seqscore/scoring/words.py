r"""Word-level surprisal: tokens grouped into the words of a text, and the
probability of a word done right.

Words are the whitespace-separated runs of the text (``re.finditer(r"\S+")``);
a token belongs to the word holding its non-space characters, a token of
spaces only to the next word (GPT-2-style tokens carry the space before a
word), or to the last word at the end of the text. A token that spans a
space joins the words it touches into one entry. Token positions come from
the tokenizer's character offsets (:attr:`TokenScores.offsets
<seqscore.scoring.TokenScores>`); without offsets each token is a word of
its own (the built-in model's tokens are words, its ``<eos>`` the final
``.``).

Each word gets two numbers, in nats and in bits:

* ``subword_sum``: the sum of its tokens' surprisals,
  :math:`-\sum_{t \in w} \log p(x_t \mid c, x_{<t})`. The words' sums add
  up to the candidate's ``-score``. With tokenizers whose tokens carry the
  space *before* a word (GPT-2's ``Ġ``, SentencePiece's ``▁``), this is not
  the word's surprisal: it leaves out that the next token must begin a new
  word, and counts the current word's beginning as certain.
* ``word_surprisal``: the word's own surprisal (Pimentel & Meister, "How to
  Compute the Probability of a Word", EMNLP 2024, arXiv 2406.14561):

  .. math:: \log p(w \mid c) = \sum_{t \in w} \log p(x_t \mid c, x_{<t})
            + \log P(\text{bow} \mid c, w) - \log P(\text{bow} \mid c),

  where :math:`P(\text{bow} \mid \cdot)` is the probability that the next
  token begins a word or ends the sequence
  (:attr:`~seqscore.scoring.TokenScores.boundary_logmass`). A word whose
  first token does not begin a word (a text's first word, with no space
  before it) divides by the probability of a token that does not, the
  paper's beginning-of-sequence case. Over consecutive words the terms
  telescope: the words' surprisals add up to ``-score`` minus the
  log-mass of a word boundary after the candidate, plus that of its start.
  ``None`` where the input has no whole distributions to take these masses
  from (API dumps, served models), or the model had no room for the row
  after the candidate.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from seqscore.errors import InvalidInputError
from seqscore.scoring.candidates import Candidate

__all__ = ["WordSurprisal", "word_surprisals"]


@dataclass(frozen=True)
class WordSurprisal:
    """One word: its text, its tokens' count, its surprisal (``None``:
    unknown, see the module notes) and the sum of its tokens' surprisals,
    each in nats and bits."""

    word: str
    n_tokens: int
    word_surprisal: float | None
    word_bits: float | None
    subword_sum: float
    subword_sum_bits: float


def word_surprisals(candidate: Candidate) -> tuple[WordSurprisal, ...]:
    """The words of ``candidate`` and their surprisals.

    >>> import numpy as np
    >>> from seqscore.scoring.candidates import TokenScores
    >>> tokens = TokenScores([-1.0, -0.5, -2.0], token=("Ġ", "New", "ĠYork"),
    ...                      offsets=np.array([[0, 1], [1, 4], [4, 9]]))
    >>> [(w.word, w.n_tokens, w.subword_sum, w.word_surprisal)
    ...  for w in word_surprisals(Candidate("a", tokens, text=" New York"))]
    [('New', 2, 1.5, None), ('York', 1, 2.0, None)]

    With the boundary masses: P(bow) = 0.5 before "New", 0.25 after it (the
    row predicting "ĠYork"), 0.8 after "York"; so "New" costs its sum plus
    log 0.5 - log 0.25 nats, and "York" its sum plus log 0.25 - log 0.8.

    >>> mass = np.log([[0.5, 0.5], [0.1, 0.9], [0.25, 0.75], [0.8, 0.2]])
    >>> tokens = TokenScores([-1.0, -0.5, -2.0], word_start=np.array([1, 0, 1]),
    ...                      offsets=np.array([[0, 1], [1, 4], [4, 9]]),
    ...                      boundary_logmass=mass)
    >>> [(w.word, round(w.word_surprisal, 4))
    ...  for w in word_surprisals(Candidate("a", tokens, text=" New York"))]
    [('New', 2.1931), ('York', 0.8369)]
    """
    tokens = candidate.tokens
    if tokens is None:
        raise InvalidInputError(
            f"candidate {candidate.id!r}: word surprisals need its token log-probs; "
            "the input logs only its total"
        )
    return tuple(
        _word(text, tokens, first, last)
        for text, first, last in _word_spans(candidate, tokens)
    )


def _word_spans(candidate: Candidate, tokens) -> list[tuple[str, int, int]]:
    """``(text, first token, end token)`` of each word, in order: the
    tokens of a word are consecutive."""
    if tokens.offsets is None or candidate.text is None:
        names = tokens.token or tuple(str(i) for i in range(len(tokens)))
        return [(name, t, t + 1) for t, name in enumerate(names)]
    text = candidate.text
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    if not spans:  # a text of spaces: its tokens as one word
        return [(text, 0, len(tokens))]
    # each token: the first and last word it touches (one, but for a token
    # across a space, which joins those words into one entry)
    reach = [_words_of(spans, int(a), int(b)) for a, b in tokens.offsets]
    group = list(range(len(spans)))  # each word's entry: its first word
    for first, last in reach:
        for index in range(first + 1, last + 1):
            group[index] = group[first]
    ends: dict[int, int] = {}
    for index, head in enumerate(group):
        ends[head] = spans[index][1]
    heads = [group[first] for first, _ in reach]
    out: list[tuple[str, int, int]] = []
    for t, head in enumerate(heads):
        if t and heads[t - 1] == head:
            out[-1] = (out[-1][0], out[-1][1], t + 1)
        else:
            out.append((text[spans[head][0] : ends[head]], t, t + 1))
    return out


def _words_of(spans, start: int, end: int) -> tuple[int, int]:
    """The first and last word of the token at ``[start, end)``: the words
    holding its non-space characters; a token of spaces belongs to the next
    word (or the last, at the end of the text)."""
    inside = [i for i, (a, b) in enumerate(spans) if a < end and start < b]
    if inside:
        return inside[0], inside[-1]
    after = next((i for i, (a, _) in enumerate(spans) if a >= start), len(spans) - 1)
    return after, after


def _word(text: str, tokens, first: int, end: int) -> WordSurprisal:
    subwords = -math.fsum(float(v) for v in tokens.logprob[first:end])
    word = _corrected(tokens, first, end, subwords)
    return WordSurprisal(
        text,
        end - first,
        word,
        None if word is None else word / math.log(2),
        subwords,
        subwords / math.log(2),
    )


def _corrected(tokens, first: int, end: int, subwords: float) -> float | None:
    """The word's surprisal: its subword sum less the log-mass of a word
    boundary after it, plus that of the class its first token starts in."""
    mass, starts = tokens.boundary_logmass, tokens.word_start
    if mass is None or starts is None:
        return None
    before = float(mass[first, 0 if starts[first] else 1])
    after = float(mass[end, 0])
    if math.isnan(before) or math.isnan(after):
        return None
    return subwords - after + before
