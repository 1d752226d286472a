r"""What a pipeline saw and what it reported: the audit's input.

For candidate :math:`i` the pipeline ran a causal language model over the
whole sequence :math:`x_0 \ldots x_{L_i - 1}` (prompt of :math:`c_i` tokens,
then the continuation of :math:`n_i = L_i - c_i` tokens) and got logits
:math:`z_p` (one row of :math:`V` numbers per position :math:`p`); it then
reported one number :math:`r_i`. The correct score is

.. math::

    S_i = \sum_{p = c_i - 1}^{L_i - 2} \bigl(z_p[x_{p+1}] - \mathrm{lse}(z_p)\bigr),

(the logits at position ``p`` predict token ``p + 1``; ``lse`` is logsumexp),
or :math:`S_i / n_i` when a per-token mean was meant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqscore.errors import InvalidInputError, ShapeError
from seqscore.numerics._arrays import as_targets
from seqscore.numerics.shift import causal_window

__all__ = ["PipelineRun", "group_label"]


@dataclass(frozen=True)
class PipelineRun:
    """Logits, token ids, prompt lengths and reported scores of N candidates.

    ``logits`` is an ``(N, T, V)`` array (an ``np.memmap`` is never read
    whole) or a sequence of ``N`` arrays of shape ``(>= L_i, V)``;
    ``input_ids`` is ``(N, T)`` (padded; entries past ``lengths`` are never
    read); ``group`` labels the candidates that answer the same prompt
    (strings or whole numbers, see :func:`group_label`); ``ids`` must be
    unique; ``reported`` holds real numbers (floats or integers). Build one
    with :meth:`from_arrays` or :meth:`from_sequences`, which check
    everything and name the candidate at fault.

    >>> run = PipelineRun.from_arrays(np.zeros((2, 3, 4)), [[1, 2, 3], [1, 2, 0]],
    ...                               [3, 2], [1, 1], [-2.77, -1.39])
    >>> run.n, run.vocab, run.continuation_lengths.tolist()
    (2, 4, [2, 1])
    """

    logits: np.ndarray | Sequence[np.ndarray]
    input_ids: np.ndarray
    lengths: np.ndarray
    n_context: np.ndarray
    reported: np.ndarray
    group: np.ndarray  # integer codes, in order of first appearance
    group_names: tuple[str, ...]
    ids: tuple[str, ...]
    vocab: int
    #: how ``reported`` was stored, when its array says (float16 or float32;
    #: None for float64, which may hold float32 values, integers and JSON)
    reported_storage: str | None = None

    @property
    def n(self) -> int:
        """Number of candidates."""
        return len(self.lengths)

    @property
    def width(self) -> int:
        """The longest sequence (positions of the per-step tables)."""
        return int(self.lengths.max()) if self.n else 0

    @property
    def continuation_lengths(self) -> np.ndarray:
        """:math:`n_i = L_i - c_i`, the scored tokens of each candidate."""
        return self.lengths - self.n_context

    def rows(self, i: int) -> np.ndarray:
        """The ``(L_i, V)`` logits of candidate ``i`` (a view, never a copy)."""
        return self.logits[i][: int(self.lengths[i])]

    def window(self, i: int) -> tuple[slice, slice]:
        """Candidate ``i``'s scored logits rows and the input ids they score
        (:func:`~seqscore.numerics.shift.causal_window`)."""
        return causal_window(int(self.n_context[i]), int(self.lengths[i]))

    def label(self, i: int) -> str:
        """How messages name candidate ``i``."""
        return _label(i, self.ids[i])

    @classmethod
    def from_arrays(
        cls, logits, input_ids, lengths, n_context, reported, group=None, ids=None
    ) -> PipelineRun:
        """A run from the raw ``.npz`` layout: logits ``(N, T, V)`` and friends."""
        if not isinstance(logits, np.ndarray):
            logits = np.asarray(logits)
        if logits.ndim != 3:
            raise ShapeError(f"logits must be (N, T, V), got shape {logits.shape}")
        ids_array = np.asarray(input_ids)
        if ids_array.shape != logits.shape[:2]:
            raise ShapeError(
                f"input_ids of shape {ids_array.shape} do not match logits of shape "
                f"{logits.shape}: expected {logits.shape[:2]}"
            )
        return cls._build(logits, ids_array, lengths, n_context, reported, group, ids)

    @classmethod
    def from_sequences(
        cls,
        logits: Sequence,
        input_ids: Sequence,
        n_context,
        reported,
        group=None,
        ids=None,
    ) -> PipelineRun:
        """A run from per-candidate arrays: ``logits[i]`` is ``(>= L_i, V)``.

        ``L_i`` is ``len(input_ids[i])``; each ``logits[i]`` may be a memmap.
        """
        sequences = [np.asarray(s) for s in input_ids]
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        padded = np.zeros((len(sequences), int(lengths.max(initial=0))), np.int64)
        for i, s in enumerate(sequences):
            whole = s.dtype.kind == "f" and bool(np.all(s == np.rint(s)))
            if s.ndim != 1 or (s.dtype.kind not in "iu" and not whole and s.size):
                raise InvalidInputError(
                    f"candidate {i}: input_ids must be a flat list of integer ids"
                )
            padded[i, : len(s)] = s
        return cls._build(
            list(logits), padded, lengths, n_context, reported, group, ids
        )

    @classmethod
    def _build(cls, logits, input_ids, lengths, n_context, reported, group, ids):
        n = len(logits)
        lengths = _integers(lengths, "lengths", n)
        n_context = _integers(n_context, "n_context", n)
        reported_values = _reported(reported, n)
        names = tuple(str(i) for i in range(n)) if ids is None else tuple(map(str, ids))
        if len(names) != n:
            raise ShapeError(f"{len(names)} candidate ids for {n} candidates")
        _unique(names)
        codes, group_names = _group_codes(group, n)
        vocab = _vocab(logits, lengths, input_ids.shape[1], names)
        for i in range(n):
            _check_candidate(i, names[i], lengths[i], n_context[i], input_ids, vocab)
        return cls(
            logits=logits,
            input_ids=input_ids.astype(np.int64, copy=False),
            lengths=lengths,
            n_context=n_context,
            reported=reported_values,
            group=codes,
            group_names=group_names,
            ids=names,
            vocab=vocab,
            reported_storage=_storage(reported),
        )


def _label(i: int, name: str) -> str:
    return f"candidate {i}" if name == str(i) else f"candidate {i} ({name!r})"


def _integers(values, name: str, n: int) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (n,):
        raise ShapeError(f"{name} has shape {array.shape}, expected ({n},)")
    if n and array.dtype.kind not in "iu":
        raise InvalidInputError(f"{name} must be integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _reported(values, n: int) -> np.ndarray:
    """The reports as float64. Integers pass (a report rounded to 0 decimals
    and stored so); booleans, complex numbers, strings and other objects are
    refused rather than converted, which would invent or drop a part."""
    array = np.asarray(values)
    if array.dtype == object:
        if not all(_is_real(v) for v in array.ravel()):
            raise InvalidInputError("reported must be real numbers, one per candidate")
    elif array.dtype.kind not in "fiu":
        raise InvalidInputError(
            f"reported must be real numbers, one per candidate, got dtype {array.dtype}"
        )
    array = array.astype(np.float64)
    if array.shape != (n,):
        raise ShapeError(f"reported has shape {array.shape}, expected ({n},)")
    return array


def _storage(reported) -> str | None:
    dtype = getattr(reported, "dtype", None)
    return dtype.name if dtype in (np.float16, np.float32) else None


def _is_real(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def group_label(value) -> str:
    """The prompt label of one ``group`` value: a string or a whole number.

    Whole floats name the same prompt as the integer (``1.0`` is ``"1"``);
    labels are compared as strings, so ``1`` and ``"1"`` are one prompt, as
    they print the same. NaN, fractions, booleans, ``None`` and containers
    cannot say which prompt a candidate answers.

    >>> group_label(3), group_label(3.0), group_label("q1")
    ('3', '3', 'q1')
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    raise InvalidInputError(
        f"{value!r} is not a prompt label: use a string or an integer"
    )


def _group_codes(group, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer codes in order of first appearance, and the label of each code."""
    if group is None:
        return np.zeros(n, np.int64), ("0",) if n else ()
    if len(group) != n:
        raise ShapeError(f"group has {len(group)} entries, expected {n}")
    seen: dict = {}
    codes = np.zeros(n, np.int64)
    for i, value in enumerate(group):
        try:
            codes[i] = seen.setdefault(group_label(value), len(seen))
        except InvalidInputError as exc:
            raise InvalidInputError(f"candidate {i}: group {exc}") from None
    return codes, tuple(seen)


def _unique(names: tuple[str, ...]) -> None:
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if first.setdefault(name, i) != i:
            raise InvalidInputError(
                f"candidate {i}: id {name!r} is also candidate {first[name]}'s"
            )


def _vocab(logits, lengths, width: int, names) -> int:
    if not len(logits):
        raise InvalidInputError("no candidates to audit")
    vocabs = set()
    for i, rows in enumerate(logits):
        shape = np.shape(rows)
        if len(shape) != 2 or shape[0] < lengths[i]:
            raise ShapeError(
                f"{_label(i, names[i])}: logits of shape {shape} cannot cover "
                f"{int(lengths[i])} positions (expected (>= L, V))"
            )
        vocabs.add(shape[1])
    if len(vocabs) != 1:
        raise ShapeError(f"candidates have different vocabularies: {sorted(vocabs)}")
    (vocab,) = vocabs
    if vocab == 0:
        raise InvalidInputError("empty vocabulary: logits have a last axis of length 0")
    if lengths.max() > width:
        raise ShapeError(f"lengths exceed the {width} input ids given per candidate")
    return int(vocab)


def _check_candidate(i, name, length, context, input_ids, vocab) -> None:
    if not 1 <= context < length:
        raise InvalidInputError(
            f"{_label(i, name)}: n_context = {int(context)} and length = "
            f"{int(length)} must satisfy 1 <= n_context < length (the first token "
            "has no prediction and the continuation must not be empty)"
        )
    try:
        as_targets(input_ids[i, :length], vocab, f"input_ids[{i}]")
    except InvalidInputError as exc:
        raise InvalidInputError(f"{_label(i, name)}: {exc}") from None
