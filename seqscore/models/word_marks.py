"""Which of a model's tokens begin a word: what word probabilities need.

A word's probability under a tokenizer whose tokens carry the space *before*
a word (beginning-of-word marking, "bow": GPT-2's byte-level ``Ġ``,
SentencePiece's ``▁``) needs the probability that the next token begins a
new word (Pimentel & Meister 2024; :mod:`seqscore.scoring.words`). The
class is decided here, once per model, from the tokenizer's own pieces:

* a byte-level piece whose first byte is whitespace (``Ġ`` space, ``Ċ``
  newline, ``ĉ`` tab, ``č`` carriage return, ``ċ``, ``Č``);
* a SentencePiece piece starting with ``▁``, or a byte piece of a
  whitespace byte (``<0x0A>``, ``<0x20>``, ...);
* any other piece whose text starts with whitespace;

never a special token. End of sequence ends a word, so the *begin* class of
:func:`~seqscore.numerics.boundaries.class_logmass` is these tokens plus
EOS, the paper's choice. A tokenizer that marks the *end* of words
(``</w>`` pieces) needs no correction: a word's last token says that it
ends, and the subword sum is already the word's probability (the paper's
end-of-word case). Models without a tokenizer (the built-in model, logit
trees) have tokens that are words: every token begins one, and the
correction is zero.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["VocabMarks", "vocab_marks"]

#: byte-level BPE's printable stand-ins for the whitespace bytes
#: (GPT-2's bytes_to_unicode: 0x20 -> U+0120, 0x09..0x0D -> U+0109..U+010D)
BYTE_LEVEL_SPACES = frozenset("Ġĉ" + "Ċċ" + "Čč")
SENTENCEPIECE_SPACE = "▁"
_SPACE_BYTE = re.compile(r"<0x(09|0A|0B|0C|0D|20)>")


@dataclass(frozen=True)
class VocabMarks:
    """Which token ids begin a word (``begins``, one per logits column),
    the end-of-sequence id, and how that was decided (``rule``: said by
    ``seqscore score --words --verbose``)."""

    scheme: str  # "bow", "eow" or "word"
    begins: np.ndarray
    end_id: int | None
    rule: str

    @property
    def corrects(self) -> bool:
        """Whether words need the next token's class (bow and word-level
        models; an end-of-word tokenizer's sums are already exact)."""
        return self.scheme != "eow"

    @cached_property
    def begin_class(self) -> np.ndarray:
        """The tokens that end the current word when they come next: those
        that begin one, and end of sequence."""
        members = self.begins.copy()
        if self.end_id is not None and self.end_id < len(members):
            members[self.end_id] = True
        return members

    @cached_property
    def inside_class(self) -> np.ndarray:
        """The tokens that do not begin a word (end of sequence among them:
        the class a text's first word starts in when no space precedes it)."""
        return ~self.begins

    @cached_property
    def classes(self) -> np.ndarray:
        """The begin and inside classes as one ``(2, V)`` mask, the columns
        of :attr:`~seqscore.scoring.TokenScores.boundary_logmass`."""
        return np.stack([self.begin_class, self.inside_class])


def vocab_marks(model) -> VocabMarks | None:
    """The word marks of ``model``; None where it has no tokenizer to read
    them from but is not word-level either (a Hugging Face model given
    without one), or a served model (the server returns no whole
    distributions to take the class's mass from). A tokenizer's marks are
    read once per model."""
    if hasattr(model, "request_scores"):
        return None
    tokenizer = getattr(model, "tokenizer", None)
    eos_id = getattr(model, "eos_id", None)
    if tokenizer is not None:
        marks = _READ.get(model)
        if marks is None:
            marks = _READ[model] = _tokenizer_marks(tokenizer, model.vocab, eos_id)
        return marks
    if hasattr(model, "continuation_logits"):  # a Hugging Face model, ids only
        return None
    return VocabMarks(
        "word",
        np.ones(len(model.vocab), dtype=bool),
        eos_id,
        "every token is a word (the model's vocabulary is words)",
    )


#: marks read from a model's tokenizer (50,000 pieces), kept while it lives
_READ: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _tokenizer_marks(tokenizer, pieces, eos_id) -> VocabMarks:
    special = set(getattr(tokenizer, "all_special_ids", ()) or ())
    named = min(len(pieces), len(tokenizer))
    if any(p.endswith("</w>") for p in pieces[:named]):
        return VocabMarks(
            "eow",
            np.zeros(len(pieces), dtype=bool),
            eos_id,
            "the tokenizer marks word ends ('</w>'): subword sums are exact",
        )
    begins = np.zeros(len(pieces), dtype=bool)
    for index in range(named):
        begins[index] = index not in special and _begins_word(pieces[index])
    style = _style(pieces[:named])
    count = int(begins.sum())
    rule = (
        f"{count:,} of {len(pieces):,} tokens begin a word ({style}), "
        "plus end of sequence"
    )
    return VocabMarks("bow", begins, eos_id, rule)


def _begins_word(piece: str) -> bool:
    """Whether a token's piece starts with whitespace, in any of the
    spellings tokenizers use for it.

    >>> [_begins_word(p) for p in ("Ġthe", "the", "Ċ", "▁of", "<0x0A>", " x", "<s>")]
    [True, False, True, True, True, True, False]
    """
    if not piece:
        return False
    first = piece[0]
    return (
        first in BYTE_LEVEL_SPACES
        or first == SENTENCEPIECE_SPACE
        or first.isspace()
        or _SPACE_BYTE.fullmatch(piece) is not None
    )


def _style(pieces) -> str:
    if any(p.startswith("Ġ") for p in pieces):
        return "byte-level pieces starting with a whitespace byte, 'Ġ' for a space"
    if any(p.startswith(SENTENCEPIECE_SPACE) for p in pieces):
        return "SentencePiece pieces starting with '▁', and whitespace bytes"
    return "pieces starting with whitespace"
