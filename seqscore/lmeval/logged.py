"""What an lm-eval run logged: its documents (one a line of a samples file)
and the figures its results file reports.

The readers (:mod:`seqscore.formats.lmeval`,
:mod:`seqscore.formats.lmeval_results`) build these from files; the verdicts,
tallies and statistics of this package work on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from seqscore.errors import DataFormatError

__all__ = ["Document", "RunResults", "TaskResults", "doc_value", "too_deep"]


class Document(NamedTuple):
    """One multiple-choice document of an lm-eval run, as logged.

    (A named tuple, not a dataclass: one is made per document of files of
    millions, and a tuple is made several times faster.)

    ``choices`` are the continuations less the target delimiter (the texts
    lm-eval's ``acc_norm`` and ``acc_bytes`` divide by); ``loglikelihoods``,
    ``is_greedy`` and ``unconditional`` (``None`` unless the run logged
    unconditional requests) have one entry per choice. ``gold`` holds the
    indices of the right choices: one, several, or none when the target is
    no choice (``gold_problem`` says why; lm-eval counts it wrong).
    ``logged`` maps the per-document metrics of :data:`LOGGED_METRICS` that
    the record holds to their values; ``doc`` is the record's ``doc``,
    parsed, or its JSON text (a ``msgspec.Raw``) as the typed reader keeps
    it (:func:`doc_value` parses either).

    Some lines hold less (lm-eval 0.4.0-dev logged the first request's
    arguments only; a multiple-input task such as winogrande puts its
    choices in the contexts). Then ``choices`` holds fewer texts than there
    are log-likelihoods (those the line has; ``acc_norm`` and ``acc_bytes``
    cannot be re-derived), and ``gold_unread``, when not ``None``, says why
    the line does not tell which choice is gold (``gold`` is then empty,
    and no accuracy of the document is re-derived); ``first_is_gold`` then
    says what the target tells of the first choice, the only one whose
    continuation such a line holds: that it is the gold (``True``), that it
    is not (``False``), or nothing (``None``).
    """

    doc_id: str
    location: str
    context: str
    choices: tuple[str, ...]
    loglikelihoods: tuple[float, ...]
    is_greedy: tuple[bool, ...]
    unconditional: tuple[float, ...] | None
    gold: tuple[int, ...]
    gold_problem: str | None
    target: str
    filter: str
    logged: dict[str, float]
    doc_hash: str | None
    prompt_hash: str | None
    target_hash: str | None
    doc: Any = None
    gold_unread: str | None = None
    first_is_gold: bool | None = None

    @property
    def label(self) -> str:
        """How messages name the document: ``file:line (doc_id 7)``."""
        return f"{self.location} (doc_id {self.doc_id})"


def doc_value(document: Document) -> Any:
    """The document's ``doc`` as parsed JSON (``None`` if it has none).

    A reader may keep ``doc`` as its JSON text (any bytes-like object, e.g.
    ``msgspec.Raw``) and leave the parsing to the few checks that need it
    (the doc hash); text that is not JSON, or is nested too deeply for
    ``json``, is an error naming the document.

    >>> fields = dict.fromkeys(Document._fields)
    >>> doc_value(Document(**{**fields, "doc": b'{"q": 1}'}))
    {'q': 1}
    """
    doc = document.doc
    if doc is None or isinstance(doc, (dict, list, str, int, float, bool)):
        return doc
    try:
        return json.loads(memoryview(doc).tobytes())
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError too
        raise DataFormatError(f"{document.label}: doc: not JSON text ({exc})") from None
    except RecursionError:
        raise DataFormatError(too_deep(document)) from None


def too_deep(document: Document) -> str:
    """The error of a ``doc`` nested too deeply for ``json`` to read or write."""
    return f"{document.label}: doc: nested too deeply"


@dataclass(frozen=True)
class TaskResults:
    """What a results file reports for one task.

    ``metrics`` maps ``(metric, filter)`` to ``(value, stderr)``; a stderr
    lm-eval did not compute is ``None``.
    """

    task: str
    metrics: dict[tuple[str, str], tuple[float, float | None]]
    n_samples: int | None
    task_hash: str | None
    target_delimiter: str
    target_field: str | None
    config: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class RunResults:
    """A results file: its path and its tasks (``model_args`` as the run
    was given them, when the file says)."""

    path: str
    tasks: dict[str, TaskResults]
    model: str | None
    lm_eval_version: str | None
    model_args: str | None = None

    def task(self, name: str, samples: str) -> TaskResults:
        """The task ``name``; an error naming both files if it is absent."""
        if name in self.tasks:
            return self.tasks[name]
        listed = ", ".join(sorted(self.tasks)) or "none"
        raise DataFormatError(
            f"{self.path}: has no results for task {name!r} of {samples} "
            f"(it has: {listed}); is it the results file of another run?"
        )
