r"""The language-model protocol every decoder and diagnostic talks to.

A :class:`LanguageModel` answers one question, in batches: *given these
prefixes (sequences of token ids), what is the log-probability of every
possible next token?* The answer for a batch of ``B`` prefixes over a
vocabulary of ``V`` tokens is a ``(B, V)`` float array whose rows are
normalised log-probabilities, :math:`\log p(x_{t+1} = v \mid x_{\le t})`.

A prefix is the *whole* context: the prompt's ids followed by the ids
generated so far. Decoders pass prefixes as a list of sequences, as a 2-D
integer array when they all have the same length (beam search of one
prompt does), or as a :class:`PrefixBatch` when they do not (batched beam
search of prompts of different lengths): a sequence of 1-D id arrays that
also exposes its right-aligned padded block, so a model can take a fast path
for either.

A model also names its tokens (``vocab``, a sequence of strings indexed by
id), its end-of-sequence id (``eos_id``), and turns text into ids and back
(``encode`` / ``decode``), so that commands can take a prompt as text. A
model whose names are a tokenizer's pieces (``Ġthe``) may also give each
id's decoded text (``vocab_text``: `` the``); :func:`vocab_text` reads it,
and :class:`Decoded` tokens are that text.

Every sequence a decoder returns is a :class:`Decoded`: the generated ids
(the prompt excluded), their token strings, the per-step log-probabilities
under the model, and their sum. The conventions, shared by every decoder:

* a sequence *finishes* when it emits ``eos_id``; the EOS token is part of the
  sequence and its log-probability is counted;
* a sequence that reaches ``max_tokens`` generated tokens without EOS is
  *truncated*; its log-probability is that of its prefix (the probability
  that the model's output starts with it). Finished sequences of at most
  ``max_tokens`` tokens and truncated ones of exactly ``max_tokens`` are the
  leaves of the depth-limited tree of continuations; their probabilities sum
  to 1, and they are the set that "the best sequence" ranges over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from seqscore.errors import InvalidInputError, ShapeError
from seqscore.numerics._arrays import check_integer, reject_masked
from seqscore.numerics.parallel import map_row_spans
from seqscore.numerics.totals import row_totals, sequence_logprob

__all__ = [
    "Decoded",
    "LanguageModel",
    "PrefixBatch",
    "check_max_tokens",
    "check_prompt",
    "check_prompts",
    "make_decoded",
    "make_decoded_rows",
    "model_rows",
    "next_logprobs",
    "row_peaks",
    "vocab_text",
]


@runtime_checkable
class LanguageModel(Protocol):
    """What seqscore needs from an autoregressive language model.

    ``next_logprobs(prefixes)`` returns a ``(len(prefixes), len(vocab))``
    float array of next-token log-probabilities (each row log-sums to 0;
    ``-inf`` marks a token the model never emits). ``encode`` may raise
    :class:`~seqscore.errors.InvalidInputError` for text it cannot represent.
    """

    @property
    def vocab(self) -> Sequence[str]: ...

    @property
    def eos_id(self) -> int: ...

    def next_logprobs(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


def vocab_text(model) -> Sequence[str]:
    """Each id's text: the model's ``vocab_text`` where it has one (a
    tokenizer's pieces decoded, :mod:`seqscore.models.token_text`), else its
    ``vocab`` (names that are text already: the built-in model's words).

    >>> class Tiny:
    ...     vocab = ("Ġa", "<eos>")
    ...     vocab_text = (" a", "<eos>")
    >>> vocab_text(Tiny()), vocab_text(type("Words", (), {"vocab": ("a",)})())
    ((' a', '<eos>'), ('a',))
    """
    text = getattr(model, "vocab_text", None)
    return model.vocab if text is None else text


@dataclass(frozen=True, eq=False)
class PrefixBatch(Sequence):
    """Prefixes of different lengths, right-aligned in one padded block.

    Row ``r`` of ``ids`` (shape ``(R, T)``) holds prefix ``r`` in its last
    ``lengths[r]`` columns; the columns before it are padding, never part of
    a prefix. As a sequence it yields the prefixes themselves (1-D arrays),
    so a model that iterates over its input needs nothing special;
    :meth:`tails` gives the last ``k`` ids of every prefix at once (what an
    n-gram model reads).

    >>> batch = PrefixBatch(np.array([[0, 7, 8], [4, 5, 6]]), np.array([2, 3]))
    >>> len(batch), batch[0].tolist(), [p.tolist() for p in batch][1]
    (2, [7, 8], [4, 5, 6])
    >>> batch.tails(3, fill=-1).tolist()
    [[-1, 7, 8], [4, 5, 6]]
    >>> [p.tolist() for p in batch[1:]], [7, 8] in batch, batch.index([4, 5, 6])
    ([[4, 5, 6]], True, 1)
    """

    ids: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index):
        if isinstance(index, slice):  # a model may work through it in chunks
            return PrefixBatch(self.ids[index], self.lengths[index])
        if not isinstance(index, (int, np.integer)):
            raise TypeError("a PrefixBatch is indexed by an integer or a slice")
        row = self.ids[index]
        return row[len(row) - int(self.lengths[index]) :]

    def __iter__(self):
        return (self[r] for r in range(len(self)))

    def __contains__(self, prefix) -> bool:
        return any(np.array_equal(p, prefix) for p in self)

    def index(self, prefix, start: int = 0, stop: int | None = None) -> int:
        for r in range(start, len(self) if stop is None else stop):
            if np.array_equal(self[r], prefix):
                return r
        raise ValueError(f"{prefix!r} is not in the PrefixBatch")

    def count(self, prefix) -> int:
        return sum(np.array_equal(p, prefix) for p in self)

    def tails(self, k: int, *, fill: int) -> np.ndarray:
        """The last ``k`` ids of each prefix, ``(R, k)``; ``fill`` where a
        prefix is shorter than ``k``."""
        rows, width = self.ids.shape
        out = np.full((rows, k), fill, dtype=self.ids.dtype)
        take = min(k, width)
        if take:
            out[:, k - take :] = self.ids[:, width - take :]
        short = self.lengths < k
        if short.any():
            column = np.arange(k)
            out[short] = np.where(
                column >= k - self.lengths[short, None], out[short], fill
            )
        return out


@dataclass(frozen=True)
class Decoded:
    r"""One generated sequence and its log-probabilities under the model.

    ``ids`` / ``tokens`` exclude the prompt and include the final EOS when
    ``finished``; ``tokens`` are the tokens' texts (:func:`vocab_text`).
    ``logprobs[t]`` is :math:`\log p(x_{t+1} \mid \mathrm{prompt}, x_{\le t})`
    under the *unmodified* model (also for sampling, whatever temperature or
    truncation drew the token), and
    ``total`` is their sum, accumulated left to right in float64.
    ``score`` is what the decoder ranked by: ``total`` for greedy, exact
    search and sampling; ``total / len(ids) ** length_penalty`` for beam
    search (Hugging Face's convention).

    >>> d = Decoded(ids=(0, 2), tokens=("A", "<eos>"), logprobs=(-0.5, -0.25),
    ...             total=-0.75, score=-0.75, finished=True)
    >>> d.probability, len(d)
    (0.4723665527410147, 2)
    """

    ids: tuple[int, ...]
    tokens: tuple[str, ...]
    logprobs: tuple[float, ...]
    total: float
    score: float
    finished: bool

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def probability(self) -> float:
        """``exp(total)``: the probability of this sequence given the prompt."""
        return float(np.exp(self.total))


def make_decoded(
    model: LanguageModel,
    ids: Sequence[int],
    logprobs: Sequence[float],
    *,
    score: float | None = None,
) -> Decoded:
    """A :class:`Decoded` for ``ids`` with per-step ``logprobs``.

    ``total`` is :func:`~seqscore.numerics.totals.sequence_logprob` (left to right in
    float64), so every decoder and a brute-force check get bit-identical
    totals for the same path.
    """
    ids = tuple(map(int, ids))
    steps = tuple(map(float, logprobs))
    total = sequence_logprob(steps)
    return Decoded(
        ids=ids,
        tokens=tuple(map(vocab_text(model).__getitem__, ids)),
        logprobs=steps,
        total=total,
        score=total if score is None else float(score),
        finished=bool(ids) and bool(ids[-1] == model.eos_id),
    )


def make_decoded_rows(
    model: LanguageModel, ids: np.ndarray, logprobs: np.ndarray, scores, lengths=None
) -> list[Decoded]:
    """:func:`make_decoded` of each row of ``ids`` / ``logprobs`` (``(k, t)``
    arrays; row ``i`` holds a sequence in its first ``lengths[i]`` entries,
    all ``t`` by default), with ``scores[i]`` as its score, bit for bit the
    same values, in a few array passes.

    The totals are :func:`~seqscore.numerics.totals.row_totals`, bit for bit the
    totals :func:`make_decoded` gives.

    >>> class Tiny:
    ...     vocab, eos_id = ("a", "b", "<eos>"), 2
    >>> rows = make_decoded_rows(Tiny(), np.array([[0, 2], [1, 1]]),
    ...                          np.array([[-0.5, -0.25], [-1.0, -2.0]]), [-0.4, -1.5])
    >>> rows[0] == make_decoded(Tiny(), [0, 2], [-0.5, -0.25], score=-0.4)
    True
    >>> rows[1].tokens, rows[1].total, rows[1].finished
    (('b', 'b'), -3.0, False)
    >>> short = make_decoded_rows(Tiny(), np.array([[1, 2]]), np.array([[-1.0, 7.0]]),
    ...                           [-1.0], lengths=[1])
    >>> short[0] == make_decoded(Tiny(), [1], [-1.0], score=-1.0)
    True
    """
    ids = np.asarray(ids, dtype=np.int64)
    logprobs = np.asarray(logprobs, dtype=np.float64)
    k, t = ids.shape
    lengths = np.full(k, t) if lengths is None else np.asarray(lengths, dtype=np.int64)
    inside = np.arange(t) < lengths[:, None]
    totals = row_totals(logprobs, lengths)
    last = ids[np.arange(k), np.maximum(lengths - 1, 0)] if t else np.zeros(k)
    finished = (lengths > 0) & (last == model.eos_id)
    # one flat list of the entries in use, cut per row: no padding converted
    flat_ids = ids[inside]
    id_list, logprob_list = flat_ids.tolist(), logprobs[inside].tolist()
    token_list = _tokens(vocab_text(model), flat_ids)
    ends = np.cumsum(lengths).tolist()
    return [
        Decoded(
            tuple(id_list[end - n : end]),
            tuple(token_list[end - n : end]),
            tuple(logprob_list[end - n : end]),
            total,
            score,
            done,
        )
        for end, n, total, score, done in zip(
            ends,
            lengths.tolist(),
            totals.tolist(),
            np.asarray(scores, dtype=np.float64).tolist(),
            finished.tolist(),
            strict=True,
        )
    ]


def _tokens(vocab: Sequence[str], ids: np.ndarray) -> list[str]:
    """The token strings of a 1-D array of ids. Through an object array of
    the vocabulary when there are enough ids to repay building it (a fancy
    index is cheaper than a Python lookup per id)."""
    if len(ids) * 4 < len(vocab):
        return list(map(vocab.__getitem__, ids.tolist()))
    return np.asarray(vocab, dtype=object)[ids].tolist()


def check_prompt(
    model: LanguageModel, prompt: Sequence[int], *, name: str = "prompt"
) -> tuple[int, ...]:
    """The prompt as a tuple of ids, each checked to be in the vocabulary.

    Errors call it ``name`` (``prompts[3]`` for a batch, say).

    >>> class Tiny:
    ...     vocab, eos_id = ("a", "<eos>"), 1
    >>> check_prompt(Tiny(), [0, 0])
    (0, 0)
    >>> check_prompt(Tiny(), [2])
    Traceback (most recent call last):
    ...
    seqscore.errors.InvalidInputError: prompt[0] = 2 is outside the vocabulary [0, 2)
    """
    size = len(model.vocab)
    _check_eos(model, size)
    return _plain_ids(prompt, size) or _checked_ids(prompt, size, name)


def check_prompts(model: LanguageModel, prompts) -> list[tuple[int, ...]]:
    """:func:`check_prompt` of each prompt of a batch; errors name the prompt
    by its index (``prompts[3][1] = ...``).

    >>> class Tiny:
    ...     vocab, eos_id = ("a", "<eos>"), 1
    >>> check_prompts(Tiny(), [[0], (1, 0)])
    [(0,), (1, 0)]
    >>> check_prompts(Tiny(), [[0], [0, 1.5]])
    Traceback (most recent call last):
    ...
    seqscore.errors.InvalidInputError: prompts[1][1] = 1.5 is not an integer token id
    """
    size = len(model.vocab)
    _check_eos(model, size)
    return [
        _plain_ids(prompt, size) or _checked_ids(prompt, size, f"prompts[{index}]")
        for index, prompt in enumerate(prompts)
    ]


def _plain_ids(prompt, size: int) -> tuple[int, ...] | None:
    """The common case without a loop in Python: a non-empty list or tuple
    of plain ints in ``[0, size)``; None for anything else (which
    :func:`_checked_ids` then checks id by id)."""
    if type(prompt) not in (list, tuple) or not prompt:
        return None
    if not all(type(token) is int for token in prompt):
        return None
    if not 0 <= min(prompt) <= max(prompt) < size:
        return None
    return tuple(prompt)


def _checked_ids(prompt, size: int, name: str) -> tuple[int, ...]:
    """``prompt`` as a tuple of ids, or an error naming ``name`` and the
    position of the first id that is not an integer in ``[0, size)``."""
    if isinstance(prompt, (str, bytes)) or not isinstance(
        prompt, (Sequence, np.ndarray)
    ):
        raise InvalidInputError(
            f"{name} must be a sequence of token ids, got {prompt!r} (use "
            "model.encode(text) for text)"
        )
    ids = []
    for position, token in enumerate(prompt):
        if isinstance(token, (bool, np.bool_)) or not isinstance(
            token, (int, np.integer)
        ):
            raise InvalidInputError(
                f"{name}[{position}] = {token!r} is not an integer token id"
            )
        if not 0 <= int(token) < size:
            raise InvalidInputError(
                f"{name}[{position}] = {int(token)} is outside the vocabulary "
                f"[0, {size})"
            )
        ids.append(int(token))
    return tuple(ids)


def _check_eos(model: LanguageModel, size: int) -> None:
    """The model's ``eos_id`` is a token id of its vocabulary (else no
    sequence could ever finish, or every one would end on a token that is
    not there)."""
    eos = model.eos_id
    if isinstance(eos, (bool, np.bool_)) or not isinstance(eos, (int, np.integer)):
        raise InvalidInputError(f"model.eos_id must be a token id, got {eos!r}")
    if not 0 <= eos < size:
        raise InvalidInputError(
            f"model.eos_id = {eos} is outside the vocabulary [0, {size})"
            + (" (the vocabulary is empty)" if size == 0 else "")
        )


def check_count(value, name: str) -> int:
    """``value`` as an int >= 1 (not a bool, not a fraction), or an error
    naming ``name``."""
    return check_integer(value, name, minimum=1)


def check_max_tokens(max_tokens: int) -> int:
    """``max_tokens`` as an int >= 1, or an error."""
    return check_count(max_tokens, "max_tokens")


def next_logprobs(model: LanguageModel, prefixes) -> np.ndarray:
    """``model.next_logprobs(prefixes)``, checked (float32 or float64).

    Decoders call the model through this one function (or, for beam search,
    its two halves :func:`model_rows` and :func:`row_peaks`) so that a model
    that returns the wrong shape, NaN, ``+inf`` or a row with no finite entry
    is reported with the prefix it failed on instead of silently steering a
    search. The check is one pass (the row maxima); float32 rows are not
    copied, and decoders add them to float64 running sums.
    """
    rows = model_rows(model, prefixes)
    row_peaks(rows, prefixes)
    return rows


def model_rows(model: LanguageModel, prefixes) -> np.ndarray:
    """``model.next_logprobs(prefixes)`` as a float array of the right shape
    (its values not yet checked: :func:`row_peaks` does)."""
    out = _as_rows(model.next_logprobs(prefixes))
    expected = (len(prefixes), len(model.vocab))
    if out.shape != expected:
        raise ShapeError(
            f"the model returned next-token log-probs of shape {out.shape} for "
            f"{expected[0]} prefixes; expected {expected}"
        )
    return out


def row_peaks(rows: np.ndarray, prefixes) -> np.ndarray:
    """The maxima of the model's ``rows`` for ``prefixes``, checked: an error
    names the first prefix whose row holds NaN, ``+inf`` or no finite entry."""
    peak = _row_maxima(rows)
    # NaN fails both comparisons, so one pair of scalar tests covers every case
    if len(peak) and not (peak.min() > -np.inf and peak.max() <= 1e-6):
        bad = ~np.isfinite(peak) | (peak > 1e-6)
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"the model's next-token log-probs for prefix "
            f"{[int(i) for i in prefixes[row]]} "
            f"have maximum {peak[row]}: each row must hold finite log-probs <= 0"
        )
    return peak


_NATIVE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _as_rows(answer) -> np.ndarray:
    """The model's answer as a float array in native byte order (float16 to
    long double kept; integers as float64); masked or complex is an error."""
    if type(answer) is np.ndarray and answer.dtype in _NATIVE_FLOATS:
        return answer  # the common case, checked in one test (decoders call this often)
    reject_masked(answer, "the model's output")
    try:
        out = np.asarray(answer)
    except (TypeError, ValueError, RuntimeError) as error:  # e.g. torch bfloat16
        raise InvalidInputError(
            f"the model's output could not be read as an array ({error}); return "
            "a float32 or float64 numpy array"
        ) from None
    if out.dtype.kind == "c":
        raise InvalidInputError(
            "the model returned complex next-token log-probs; they must be real"
        )
    if out.dtype.kind != "f":
        try:
            if out.dtype.kind not in "iuO":  # strings, booleans, dates...
                raise TypeError
            out = out.astype(np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"the model returned next-token log-probs of dtype {out.dtype}; "
                "they must be real numbers (a float array)"
            ) from None
    if not out.dtype.isnative:
        out = out.astype(out.dtype.newbyteorder("="))
    return out


_SPLIT_MAXIMA = 1 << 19  # from this many entries, both cores share the maxima


def _row_maxima(rows: np.ndarray) -> np.ndarray:
    """``rows.max(axis=1)``, both cores sharing a large block (NaN propagates)."""
    if not rows.size:
        return np.zeros(len(rows), dtype=rows.dtype)
    if rows.size < _SPLIT_MAXIMA:
        return rows.max(axis=1)
    spans = map_row_spans(
        lambda lo, hi: rows[lo:hi].max(axis=1), *rows.shape, min_elements=_SPLIT_MAXIMA
    )
    return spans[0] if len(spans) == 1 else np.concatenate(spans)
