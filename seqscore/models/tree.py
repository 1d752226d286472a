r"""A "logit tree": next-token logits written out prefix by prefix, in JSON.

The format::

    {"vocab": ["A", "B", "C", "<eos>"],
     "eos": "<eos>",
     "logits": {"": [0.0, -0.41, "-inf", "-inf"],
                "A": [...], "A C": [...]},
     "default": [...]}

* ``vocab`` -- the token strings (ids are their positions); unique, non-empty,
  no whitespace inside a token;
* ``eos`` -- the end-of-sequence token, one of ``vocab``;
* ``logits`` -- keys are prefixes, tokens joined by single spaces (``""`` is
  the empty prefix); values are next-token logits over ``vocab``, numbers or
  the string ``"-inf"`` for a token that cannot follow (JSON has no infinity);
  each row needs at least one finite entry. The prompt is part of the
  prefix: with a prompt ``"A"`` the first generated token is read from key
  ``"A"``;
* ``default`` (optional) -- the logits of any prefix not listed. Without it
  an unlisted prefix is an error naming the prefix.

Logits become log-probabilities with :func:`seqscore.numerics.softmax.log_softmax`,
so ``log`` of probabilities works as logits too. :func:`textbook_tree` is the
example shipped as ``fixtures/textbook_tree.json``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqscore.errors import DataFormatError, InvalidInputError
from seqscore.numerics.softmax import log_softmax

__all__ = ["LogitTree", "load_tree", "textbook_tree"]


@dataclass(frozen=True)
class LogitTree:
    """A :class:`~seqscore.decoding.LanguageModel` given by an explicit table.

    ``table`` maps a prefix (a tuple of ids) to its next-token log-probs;
    ``default`` (or None) serves the prefixes not in it. ``source`` names the
    tree in errors (its file, for a loaded tree).
    """

    vocab: tuple[str, ...]
    eos_id: int
    table: dict
    default: np.ndarray | None = None
    source: str = "the logit tree"

    def next_logprobs(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Log-probs for each prefix, looked up in the table (then ``default``)."""
        rows = [self._row(tuple(int(i) for i in p)) for p in prefixes]
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(self.vocab))

    def _row(self, prefix: tuple[int, ...]) -> np.ndarray:
        row = self.table.get(prefix)
        if row is not None:
            return row
        if self.default is not None:
            return self.default
        key = " ".join(self.vocab[i] for i in prefix)
        raise InvalidInputError(
            f"{self.source}: no entry for prefix {key!r} and no 'default'"
        )

    def encode(self, text: str) -> list[int]:
        """Whitespace-separated token strings to ids.

        >>> textbook_tree().encode("B C")
        [1, 2]
        """
        index = {token: i for i, token in enumerate(self.vocab)}
        ids = []
        for position, word in enumerate(text.split()):
            if word not in index:
                raise InvalidInputError(
                    f"token {position} of the prompt, {word!r}, is not in the "
                    f"tree's vocabulary ({', '.join(self.vocab)})"
                )
            ids.append(index[word])
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Ids to their token strings joined by spaces."""
        return " ".join(self.vocab[int(i)] for i in ids)


def load_tree(path: str | os.PathLike) -> LogitTree:
    """Read a logit tree from a JSON file (see the module notes for the format)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{os.fspath(path)}: not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"{os.fspath(path)}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
            f"at offset {exc.start})"
        ) from None
    except (ValueError, RecursionError) as exc:  # a huge integer, deep nesting
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise DataFormatError(f"{os.fspath(path)}: not valid JSON: {reason}") from None
    except DataFormatError as exc:
        raise DataFormatError(f"{os.fspath(path)}: {exc}") from None
    return tree_from_dict(data, source=os.fspath(path))


def _unique_keys(pairs: list) -> dict:
    """A JSON object, refusing a repeated key (``json`` keeps the last one,
    so a prefix listed twice would lose its first row without a word)."""
    found: dict = {}
    for key, value in pairs:
        if key in found:
            raise DataFormatError(f"the key {key!r} appears twice in one object")
        found[key] = value
    return found


def tree_from_dict(data, source: str = "logit tree") -> LogitTree:
    """Build a :class:`LogitTree` from parsed JSON, checking every field."""
    if not isinstance(data, dict):
        raise DataFormatError(f"{source}: the top level must be a JSON object")
    unknown = set(data) - {"vocab", "eos", "logits", "default"}
    if unknown:
        raise DataFormatError(f"{source}: unknown field(s) {sorted(unknown)}")
    vocab = _vocab(data.get("vocab"), source)
    eos = data.get("eos")
    if eos not in vocab:
        raise DataFormatError(f"{source}: 'eos' {eos!r} is not in 'vocab'")
    logits = data.get("logits")
    if not isinstance(logits, dict):
        raise DataFormatError(f"{source}: 'logits' must be an object of prefixes")
    index = {token: i for i, token in enumerate(vocab)}
    table = {
        _prefix(key, index, source): _row(
            value, len(vocab), f"{source}: logits[{key!r}]"
        )
        for key, value in logits.items()
    }
    default = data.get("default")
    if default is not None:
        default = _row(default, len(vocab), f"{source}: default")
    return LogitTree(tuple(vocab), index[eos], table, default, source)


def _vocab(vocab, source: str) -> list[str]:
    if not isinstance(vocab, list) or not vocab:
        raise DataFormatError(f"{source}: 'vocab' must be a non-empty list of strings")
    for i, token in enumerate(vocab):
        if not isinstance(token, str) or not token or token.split() != [token]:
            raise DataFormatError(
                f"{source}: vocab[{i}] = {token!r} must be a non-empty string "
                "without whitespace"
            )
    if len(set(vocab)) != len(vocab):
        seen = next(t for t in vocab if vocab.count(t) > 1)
        raise DataFormatError(f"{source}: vocab lists {seen!r} twice")
    return vocab


def _prefix(key: str, index: dict, source: str) -> tuple[int, ...]:
    words = key.split(" ") if key else []
    for word in words:
        if word not in index:
            raise DataFormatError(
                f"{source}: logits key {key!r} has token {word!r}, which is not "
                "in 'vocab' (tokens are joined by single spaces)"
            )
    return tuple(index[w] for w in words)


def _row(values, size: int, where: str) -> np.ndarray:
    if not isinstance(values, list) or len(values) != size:
        raise DataFormatError(f"{where} must be a list of {size} logits, one per token")
    row = []
    for i, value in enumerate(values):
        if value == "-inf":
            row.append(-np.inf)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, int) and abs(value) > 1e308:
                raise DataFormatError(
                    f"{where}[{i}]: an integer of {len(str(abs(value)))} digits is "
                    "too large for a logit"
                )
            if math.isnan(value) or value == math.inf:
                raise DataFormatError(
                    f"{where}[{i}] = {value}: a logit must be finite, or -inf to "
                    "mask a token"
                )
            row.append(float(value))
        else:
            raise DataFormatError(
                f'{where}[{i}] = {value!r}: a logit is a number or "-inf"'
            )
    array = np.array(row)
    if not np.isfinite(array).any():
        raise DataFormatError(f"{where} has no finite logit: no token could follow")
    return log_softmax(array)


def textbook_tree() -> LogitTree:
    """The textbook case where greedy loses (also ``fixtures/textbook_tree.json``).

    Step 1: A 0.6, B 0.4. After A: C, D, E at 1/3 each. After B: C 0.9, D and
    E 0.05 each. Every longer prefix ends: ``<eos>`` with probability 1.
    Greedy takes A then C (0.6 x 1/3 = 0.2); the best sequence is B C
    (0.4 x 0.9 = 0.36).

    >>> tree = textbook_tree()
    >>> np.exp(tree.next_logprobs([[]])).round(3).tolist()
    [[0.6, 0.4, 0.0, 0.0, 0.0, 0.0]]
    """
    return tree_from_dict(TEXTBOOK, source="textbook tree")


_NO = "-inf"
TEXTBOOK = {
    "vocab": ["A", "B", "C", "D", "E", "<eos>"],
    "eos": "<eos>",
    "logits": {
        "": [float(np.log(0.6)), float(np.log(0.4)), _NO, _NO, _NO, _NO],
        "A": [_NO, _NO, 0.0, 0.0, 0.0, _NO],
        "B": [
            _NO,
            _NO,
            float(np.log(0.9)),
            float(np.log(0.05)),
            float(np.log(0.05)),
            _NO,
        ],
    },
    "default": [_NO, _NO, _NO, _NO, _NO, 0.0],
}
