"""One exception hierarchy for everything seqscore rejects.

Every error seqscore raises on purpose is a :class:`SeqScoreError`. The
subclasses also inherit the builtin a Python caller would expect, so
``except ValueError`` keeps working in code that does not know seqscore.

The command line maps any :class:`SeqScoreError` to exit code 1 with a
one-line message on stderr; usage errors (bad flags) exit with code 2.

Messages name *where* the problem is: the file, the record (line), the field,
the step and the position in the vocabulary, whichever apply. Use
:func:`format_index` to spell an array position the same way everywhere.
"""

from __future__ import annotations

__all__ = [
    "DataFormatError",
    "InvalidInputError",
    "MissingExtraError",
    "NoEstimateError",
    "SchedulerError",
    "ScorerLawError",
    "SeqScoreError",
    "ShapeError",
    "format_index",
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
