"""seqscore's own JSON Lines: one prompt per line with its candidates.

Each line is an object::

    {"id": "q1", "prompt": "The capital of France is",
     "candidates": [
       {"id": "a", "text": " Paris", "tokens": [" Paris"], "logprobs": [-0.11],
        "top_tokens": [[" Paris", " Lyon"]], "top_logprobs": [[-0.11, -3.2]]},
       {"id": "b", "text": " Lyon", "logprobs": [-3.2], "unconditional": -9.4}
     ]}

Per candidate, either ``logprobs`` (one per token) or ``token_ids`` plus
``logits_file`` (a ``.npy`` of aligned logits, shape ``(n_tokens, V)`` -- or
``(N, T, V)`` with ``logits_row`` choosing the candidate -- relative to the
JSONL's folder and memory-mapped; row ``t`` scores ``token_ids[t]``).

Optional per candidate: ``id`` (default: its index), ``text``, ``tokens``,
``top_logprobs`` (per step a list of numbers with ``top_tokens`` alongside,
or an object ``{token: logprob}``), ``ranks`` (1 = most probable),
``bytes`` (UTF-8 byte count when there is no text: an integer >= 0) and
``unconditional`` (log P(candidate) without the prompt, for the ``pmi``
normalisation). Optional per prompt: ``id`` (default: ``line N``) and
``prompt``. Ids are strings or integers; a null field counts as absent.
Log-probs (``logprobs``, ``top_logprobs``, ``unconditional``) follow the
rules of :mod:`.records`: <= 0 or -inf, with float32 rounding above 0 read
as 0.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from seqscore.errors import DataFormatError
from seqscore.formats.records import (
    INT64_MAX,
    as_id,
    as_integer,
    as_integers,
    as_logprob,
    as_logprobs,
    as_string,
    as_strings,
    field,
    optional,
)
from seqscore.scoring.candidates import (
    Candidate,
    Prompt,
    TokenScores,
    token_scores_from_alternatives,
    token_scores_from_logits,
)

__all__ = ["as_ranks", "convert_record", "top_alternatives"]


def convert_record(record: Any, location: str, folder: str = ".") -> Iterator[Prompt]:
    """The prompt on one line of seqscore JSONL."""
    candidates = field(record, "candidates", "", list)
    if _texts_only(candidates):
        raise DataFormatError(
            "candidates: texts without logprobs are scored by a model",
            remedy="model",
        )
    yield Prompt(
        id=as_id(record.get("id"), "id", f"line {location.rsplit(':', 1)[-1]}"),
        candidates=tuple(
            _candidate(c, f"candidates[{i}]", i, folder)
            for i, c in enumerate(candidates)
        ),
        text=optional(as_string, record, "prompt", ""),
        source=location,
    )


def _texts_only(candidates: list) -> bool:
    """Every candidate has a text and none has scores (or their logits)."""
    return bool(candidates) and all(
        isinstance(c, dict)
        and "text" in c
        and "logprobs" not in c
        and "logits_file" not in c
        for c in candidates
    )


def _candidate(record: Any, where: str, index: int, folder: str) -> Candidate:
    if not isinstance(record, dict):
        raise DataFormatError(f"{where}: expected a JSON object")
    try:
        return Candidate(
            id=as_id(record.get("id"), f"{where}.id", index),
            tokens=_scores(record, where, folder),
            text=optional(as_string, record, "text", where),
            n_bytes=optional(as_integer, record, "bytes", where),
            unconditional=optional(as_logprob, record, "unconditional", where),
        )
    except DataFormatError:
        raise
    except (ValueError, TypeError) as exc:  # InvalidInputError, ShapeError
        raise DataFormatError(f"{where}: {exc}") from None


def _scores(record: dict, where: str, folder: str) -> TokenScores:
    if "logprobs" not in record and "logits_file" in record:
        return _scores_from_logits(record, where, folder)

    logprobs = as_logprobs(field(record, "logprobs", where), f"{where}.logprobs")
    top = record.get("top_logprobs")
    top_tokens, top_logprobs = (
        (None, None)
        if top is None
        else top_alternatives(top, record.get("top_tokens"), f"{where}.top_logprobs")
    )
    return token_scores_from_alternatives(
        logprobs,
        token=optional(as_strings, record, "tokens", where),
        rank=optional(as_ranks, record, "ranks", where),
        top_tokens=top_tokens,
        top_logprobs=top_logprobs,
    )


def as_ranks(values, where: str) -> np.ndarray:
    """Ranks as int64: integers >= 1 (1 = the most probable token)."""
    return np.array(as_integers(values, where, 1, INT64_MAX), dtype=np.int64)


def top_alternatives(
    top: Any, names: Any, where: str
) -> tuple[Sequence[Sequence[str]], np.ndarray | tuple[np.ndarray, ...]]:
    """Per-step alternatives from ``[[lp]]`` + ``[[tok]]``, or ``[{tok: lp}]``.

    Lists of equal length become one ``(n, k)`` array (the fast path);
    objects and ragged lists are read step by step.
    """
    if not isinstance(top, list):
        raise DataFormatError(f"{where}: expected a list (one entry per token)")
    # set(map(...)) checks every step in C: this runs once per candidate
    if top and set(map(type, top)) == {list} and len(set(map(len, top))) == 1:
        values = as_logprobs(top, where, ndim=2)
        return _top_names(names, values, where), values
    tokens: list[tuple[str, ...]] = []
    logprobs: list[np.ndarray] = []
    named = True  # False once a step is a list: the names come from top_tokens
    for t, step in enumerate(top):
        if isinstance(step, dict):
            tokens.append(tuple(str(k) for k in step))
            logprobs.append(as_logprobs(list(step.values()), f"{where}[{t}]"))
        elif isinstance(step, list):
            logprobs.append(as_logprobs(step, f"{where}[{t}]"))
            tokens.append(())
            named = False
        elif step is None:  # no alternatives at this step
            tokens.append(())
            logprobs.append(np.zeros(0))
        else:
            raise DataFormatError(f"{where}[{t}]: expected an object or a list")
    if not named:
        return tuple(_top_names(names, logprobs, where)), tuple(logprobs)
    return tuple(tokens), tuple(logprobs)


def _top_names(names, logprobs, where):
    """Validate ``top_tokens`` against the alternatives' shape (no copying)."""
    if names is None:
        return [[""] * len(step) for step in logprobs]
    if not isinstance(names, list) or len(names) != len(logprobs):
        raise DataFormatError(f"{where}: top_tokens must have one list per token")
    if (
        isinstance(logprobs, np.ndarray)
        and set(map(type, names)) == {list}
        and set(map(len, names)) <= {logprobs.shape[1]}
    ):
        return names  # the common case, checked in C
    for t, (row, values) in enumerate(zip(names, logprobs, strict=True)):
        if not isinstance(row, list) or len(row) != len(values):
            raise DataFormatError(
                f"{where}[{t}]: top_tokens and top_logprobs differ in length"
            )
    return names


def _scores_from_logits(record: dict, where: str, folder: str) -> TokenScores:
    name = field(record, "logits_file", where, str)
    path = name if os.path.isabs(name) else os.path.join(folder, name)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
        if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
            raise ValueError("it does not start like a .npy file")
        logits = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataFormatError(
            f"{where}.logits_file: cannot read {path} as a .npy array"
            f" ({str(exc).split(';')[0]})"
        ) from None
    if not isinstance(logits, np.ndarray):  # an .npz archive
        logits.close()
        raise DataFormatError(
            f"{where}.logits_file: {path} is an .npz archive; logits_file takes "
            "one .npy array (score the .npz itself: seqscore score FILE.npz)"
        )
    if "logits_row" in record:
        row = field(record, "logits_row", where, int)
        if logits.ndim != 3 or not 0 <= row < logits.shape[0]:
            raise DataFormatError(
                f"{where}.logits_row: {row} does not index logits of shape "
                f"{logits.shape}"
            )
        logits = logits[row]
    ids = as_integers(
        field(record, "token_ids", where), f"{where}.token_ids", maximum=INT64_MAX
    )
    if logits.ndim != 2 or logits.shape[0] < len(ids):
        raise DataFormatError(
            f"{where}: logits of shape {logits.shape} cannot score {len(ids)} tokens "
            "(expected (n_tokens, V) with one aligned row per token)"
        )
    # the kernel names an id outside the vocabulary
    return token_scores_from_logits(logits[: len(ids)], np.array(ids, np.int64))
