"""One exception hierarchy for everything seqscore rejects.

Every error seqscore raises on purpose is a :class:`SeqScoreError`. The
subclasses also inherit the builtin a Python caller would expect, so
``except ValueError`` keeps working in code that does not know seqscore.

The command line maps any :class:`SeqScoreError` to exit code 1 with a
one-line message on stderr; usage errors (bad flags) exit with code 2.

Messages name *where* the problem is: the file, the record (line), the field,
the step and the position in the vocabulary, whichever apply. Use
:func:`format_index` to spell an array position the same way everywhere.

A record that a reader or a model skips rather than stops at is a
:class:`Rejected`: an error kept for later, which :func:`rejection_error`
raises when a run stops at it and :mod:`seqscore.report.rejects` writes to a
rejects file when it goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DataFormatError",
    "InvalidInputError",
    "MissingExtraError",
    "NoEstimateError",
    "Rejected",
    "SchedulerError",
    "ScorerLawError",
    "SeqScoreError",
    "ServerError",
    "ShapeError",
    "format_index",
    "rejection_error",
    "rejection_message",
    "rejection_reason",
]


class SeqScoreError(Exception):
    """Base class of every error seqscore raises on purpose.

    ``remedy``, when given, names in the library's terms what the caller can
    change to get past the error: ``"input_format"`` (say which format),
    ``"input_format_npz"`` (the input is an ``.npz``), ``"model"`` (texts
    need a model to score them), ``"columns"`` (name a long table's
    columns), ``"columns_or_layout"`` (or read one ranking per line). The
    message itself names only the file, record and field; the command line
    adds its own flags' words for the remedy (:mod:`seqscore.commands.hints`).
    """

    def __init__(self, *args, remedy: str | None = None):
        super().__init__(*args)
        self.remedy = remedy


class InvalidInputError(SeqScoreError, ValueError):
    """A value is outside what the quantity is defined for (NaN, +inf, ...)."""


class ShapeError(SeqScoreError, ValueError):
    """Arrays whose shapes do not fit together."""


class DataFormatError(SeqScoreError, ValueError):
    """An input file or record that does not follow its format."""


class MissingExtraError(SeqScoreError, ImportError):
    """An optional dependency is not installed; the message says which extra
    to install (``pip install 'seqscore[dask]'``). Commands report it as bad
    usage (exit code 2)."""


class SchedulerError(SeqScoreError, RuntimeError):
    """A Dask scheduler that cannot be reached, or that gave up on a task."""


class ServerError(SeqScoreError, RuntimeError):
    """A served model that cannot be reached, that still fails after its
    retries, or whose answers fail seqscore's checks (misaligned log-probs,
    tokens that do not cover the prompt)."""


class NoEstimateError(SeqScoreError, ValueError):
    """A fit whose maximum-likelihood estimate does not exist (or is infinite)."""


class ScorerLawError(SeqScoreError, AssertionError):
    """A scoring function breaks a law of :func:`seqscore.testing.check_scorer`.

    An ``AssertionError``, so that pytest reports it as a test failure; the
    message lists every failed law with its minimal example.
    """


def format_index(index: tuple[int, ...] | int, name: str = "logits") -> str:
    """Spell an array position as ``name[i, j]``.

    >>> format_index((2, 5))
    'logits[2, 5]'
    >>> format_index(3, "targets")
    'targets[3]'
    """
    if isinstance(index, int):
        index = (index,)
    return f"{name}[{', '.join(str(int(i)) for i in index)}]"


@dataclass(frozen=True)
class Rejected:
    """A record that could not be scored: where it is, why, and its text.

    ``remedy`` is the rejecting error's :class:`SeqScoreError` ``remedy``
    (e.g. ``"model"``: texts to be scored by a model): what the caller could
    change, in the library's terms; the reason itself names no command-line
    flag. :func:`rejection_message` words it, :func:`rejection_error` raises
    it, :mod:`seqscore.report.rejects` writes it as a rejects file's record.
    """

    location: str
    reason: str
    raw: str | None = None
    remedy: str | None = None


def rejection_reason(rejected: Rejected, hints: Mapping[str, str] | None = None) -> str:
    """The reason, and ``hints``' words for its remedy, if any.

    >>> bad = Rejected("x.jsonl:3", "candidates: texts", None, remedy="model")
    >>> rejection_reason(bad)
    'candidates: texts'
    >>> rejection_reason(bad, {"model": " (score them with a model)"})
    'candidates: texts (score them with a model)'
    """
    if hints is None or rejected.remedy is None:
        return rejected.reason
    return rejected.reason + hints.get(rejected.remedy, "")


def rejection_message(
    rejected: Rejected, hints: Mapping[str, str] | None = None
) -> str:
    """``location: reason``: an error's message, or a line of stderr.

    >>> rejection_message(Rejected("x.jsonl:3", "malformed JSON"))
    'x.jsonl:3: malformed JSON'
    """
    return f"{rejected.location}: {rejection_reason(rejected, hints)}"


def rejection_error(rejected: Rejected) -> DataFormatError:
    """The error that stops a run at ``rejected`` (``--on-error fail``): its
    message, and its remedy for the caller to word (the CLI adds its flags).

    >>> error = rejection_error(Rejected("x.jsonl:3", "texts", remedy="model"))
    >>> str(error), error.remedy
    ('x.jsonl:3: texts', 'model')
    """
    return DataFormatError(rejection_message(rejected), remedy=rejected.remedy)
