r"""Word-level surprisal: tokens grouped into the words of a text.

The surprisal of a word is the sum of its tokens' surprisals,

.. math:: s(w) = -\sum_{t \in w} \log p(x_t \mid c, x_{<t}) \quad
   \text{nats} \;(= s / \ln 2 \text{ bits}),

so the words' surprisals add up to the candidate's ``-score``. Words are
the whitespace-separated runs of the text (``re.finditer(r"\S+")``); a token
belongs to the word holding its non-space characters, a token of spaces
only to the next word (GPT-2-style tokens carry the space before a word),
or to the last word at the end of the text. A token that spans a space
joins the words it touches into one entry (its surprisal cannot be
split). Token positions come from the tokenizer's character offsets
(:attr:`TokenScores.offsets
<seqscore.scoring.TokenScores>`); without offsets each token is a word of
its own (the built-in model's tokens are words, its ``<eos>`` the final
``.``).
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
    """One word: its text, its tokens' count, its surprisal in nats and bits."""

    word: str
    n_tokens: int
    surprisal: float
    bits: float


def word_surprisals(candidate: Candidate) -> tuple[WordSurprisal, ...]:
    """The words of ``candidate`` and their surprisals.

    >>> import numpy as np
    >>> from seqscore.scoring.candidates import TokenScores
    >>> tokens = TokenScores([-1.0, -0.5, -2.0], token=("Ġ", "New", "ĠYork"),
    ...                      offsets=np.array([[0, 1], [1, 4], [4, 9]]))
    >>> [(w.word, w.n_tokens, w.surprisal)
    ...  for w in word_surprisals(Candidate("a", tokens, text=" New York"))]
    [('New', 2, 1.5), ('York', 1, 2.0)]
    """
    tokens = candidate.tokens
    if tokens is None:
        raise InvalidInputError(
            f"candidate {candidate.id!r}: word surprisals need its token log-probs; "
            "the input logs only its total"
        )
    surprisal = -tokens.logprob
    if tokens.offsets is None or candidate.text is None:
        names = tokens.token or tuple(str(i) for i in range(len(tokens)))
        return tuple(_word(name, [s]) for name, s in zip(names, surprisal, strict=True))
    text = candidate.text
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    if not spans:  # a text of spaces: its tokens as one word
        return (_word(text, surprisal),)
    # each token: the first and last word it touches (one, but for a token
    # across a space, which joins those words into one entry)
    reach = [_words_of(text, spans, int(a), int(b)) for a, b in tokens.offsets]
    group = list(range(len(spans)))  # each word's entry: its first word
    for first, last in reach:
        for index in range(first + 1, last + 1):
            group[index] = group[first]
    values: dict[int, list[float]] = {}
    for (first, _), value in zip(reach, surprisal, strict=True):
        values.setdefault(group[first], []).append(value)
    ends = {}
    for index, head in enumerate(group):
        ends[head] = spans[index][1]
    return tuple(
        _word(text[spans[head][0] : ends[head]], values[head])
        for head in sorted(values)
    )


def _words_of(text: str, spans, start: int, end: int) -> tuple[int, int]:
    """The first and last word of the token at ``[start, end)``: the words
    holding its non-space characters; a token of spaces belongs to the next
    word (or the last, at the end of the text)."""
    inside = [i for i, (a, b) in enumerate(spans) if a < end and start < b]
    if inside:
        return inside[0], inside[-1]
    after = next((i for i, (a, _) in enumerate(spans) if a >= start), len(spans) - 1)
    return after, after


def _word(text: str, values) -> WordSurprisal:
    total = math.fsum(float(v) for v in values)
    return WordSurprisal(text, len(values), total, total / math.log(2))
