r"""The English text that ships with CPython, cut into sentences of words.

``pydoc_data.topics`` holds the Python language reference's topics as plain
text (about 64,000 words, 47,000 of them in prose). Only prose is kept
(see :func:`_prose_paragraphs`): grammar rules, code and headings are
dropped. Paragraphs are cut into
sentences after ``.``, ``!`` or ``?`` followed by white space, and sentences
into lower-case words (letters, with inner apostrophes: ``class's``);
sentences of fewer than three words are dropped.

The text differs between Python versions; :func:`corpus_fingerprint` names
the one in use, and the built-in model records the fingerprint of the text it
was trained on.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from functools import lru_cache

__all__ = [
    "corpus_fingerprint",
    "corpus_sentences",
    "heldout_sentences",
    "sentence_starts",
    "training_sentences",
    "words",
]

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_UNDERLINE = re.compile(r"^([*=\-~^\"])\1{2,}$")


def words(text: str) -> list[str]:
    """Lower-case words of ``text``, the corpus's tokenisation.

    >>> words("The class’s suite is then executed (see Naming).")
    ['the', "class's", 'suite', 'is', 'then', 'executed', 'see', 'naming']
    """
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _topics() -> dict[str, str]:
    from pydoc_data.topics import topics

    return topics


def _prose_paragraphs(text: str):
    """The prose paragraphs of one topic, each joined into one line.

    A paragraph (dedented) is prose when all its lines start at the same
    column, none is a heading underline, it has no grammar rule (``::=``) or
    interactive prompt (``>>>``), and at least 85% of its characters are
    letters or spaces (code is mostly punctuation).
    """
    for block in re.split(r"\n\s*\n", text):
        lines = textwrap.dedent(block.strip("\n")).split("\n")
        if not lines[0].strip():
            continue
        if any(line.startswith((" ", "\t")) for line in lines):
            continue
        if any(_UNDERLINE.match(line.strip()) for line in lines):
            continue
        joined = " ".join(line.strip() for line in lines)
        letters = sum(ch.isalpha() or ch == " " for ch in joined) / len(joined)
        if letters < 0.85 or "::=" in joined or ">>>" in joined:
            continue
        yield joined


@lru_cache(maxsize=1)
def corpus_sentences() -> tuple[tuple[str, ...], ...]:
    """Every prose sentence of ``pydoc_data.topics`` as a tuple of words.

    Topics are read in sorted order, so the list is the same on every run.
    """
    topics = _topics()
    out = []
    for key in sorted(topics):
        for paragraph in _prose_paragraphs(topics[key]):
            for sentence in _SENTENCE_END.split(paragraph):
                tokens = words(sentence)
                if len(tokens) >= 3:
                    out.append(tuple(tokens))
    return tuple(out)


def corpus_fingerprint() -> str:
    """The first 16 hex digits of the SHA-256 of the sentences (space-joined)."""
    text = "\n".join(" ".join(s) for s in corpus_sentences())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def training_sentences() -> tuple[tuple[str, ...], ...]:
    """The sentences the built-in model was trained on (9 in every 10)."""
    return tuple(s for i, s in enumerate(corpus_sentences()) if i % 10 != 9)


def heldout_sentences() -> tuple[tuple[str, ...], ...]:
    """Every tenth sentence, never seen in training (for perplexity, prompts)."""
    return tuple(s for i, s in enumerate(corpus_sentences()) if i % 10 == 9)


def sentence_starts(count: int, *, rng, max_words: int = 3) -> list[str]:
    """``count`` distinct sentence starts (1 to ``max_words`` words) of held-out text.

    Drawn with the explicit ``rng`` (a ``numpy.random.Generator``): a
    held-out sentence, then a length. Held-out sentences were never seen by
    the built-in model. Fewer are returned if the corpus runs out.

    >>> import numpy as np
    >>> starts = sentence_starts(5, rng=np.random.default_rng(0))
    >>> len(starts), len(set(starts)), all(1 <= len(s.split()) <= 3 for s in starts)
    (5, 5, True)
    """
    sentences = heldout_sentences()
    seen: dict[str, None] = {}
    for index in rng.permutation(len(sentences)):
        words_ = sentences[int(index)]
        length = int(rng.integers(1, min(max_words, len(words_) - 1) + 1))
        seen.setdefault(" ".join(words_[:length]), None)
        if len(seen) == count:
            break
    return list(seen)
