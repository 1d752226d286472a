"""What the command line adds to an error: its flags for the error's remedy.

The library's errors name files, records and fields, and say in the
library's terms what could be changed (:class:`~seqscore.errors.SeqScoreError`
``remedy``); only here do they meet the flags that change it.
"""

from __future__ import annotations

from seqscore.errors import SeqScoreError

__all__ = ["HINTS", "with_hint"]

_MODEL = "builtin|hf:PATH"
_COLUMNS = "--columns ITEM,RANKING,POSITION"
#: The words appended to a message for each remedy: to an error's
#: (:func:`with_hint`), and to a rejected record's reason wherever the
#: command writes it (stderr, --rejects, a part's rejects file; see
#: :mod:`seqscore.report.rejects`).
HINTS = {
    "input_format": "; use --input-format to say which",
    "input_format_npz": "; use --input-format npz or auto",
    "model": f" (seqscore score FILE --model {_MODEL})",
    "columns": f"; name them with {_COLUMNS}",
    "columns_or_layout": (
        f"; add that column, name the columns with {_COLUMNS}, or read one "
        "ranking per line with --layout lines"
    ),
    "task": (
        " (a samples file named as before lm-eval 0.4.3, <model_args>_<task>"
        ".jsonl, says its task only against its results file: give that, or "
        "the task with --task NAME)"
    ),
}


def with_hint(error: SeqScoreError) -> str:
    """The error's message, and the flags for its remedy, if it has one.

    >>> with_hint(SeqScoreError("x.csv: no position", remedy="columns"))
    'x.csv: no position; name them with --columns ITEM,RANKING,POSITION'
    """
    return str(error) + HINTS.get(getattr(error, "remedy", None) or "", "")
