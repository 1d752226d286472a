"""A rejected record (:class:`~seqscore.formats.records.Rejected`) as a message
and as a line of a rejects file.

A rejection's reason names the file, the record and the field; its
``remedy``, when the reader gave one, says in the library's terms what would
get past it (as :class:`~seqscore.errors.SeqScoreError` ``remedy`` does).
``hints`` maps a remedy to the words a caller appends to the reason for it:
the command line passes its flags (:data:`seqscore.commands.hints.HINTS`);
without ``hints`` the reason is the reader's own.

Nothing here imports the readers (the formats floor imports this module).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import DataFormatError

if TYPE_CHECKING:
    from ..formats.records import Rejected

__all__ = [
    "rejection_error",
    "rejection_message",
    "rejection_reason",
    "rejection_record",
]


def rejection_reason(rejected: Rejected, hints: Mapping[str, str] | None = None) -> str:
    """The reason, and ``hints``' words for its remedy, if any.

    >>> from seqscore.formats.records import Rejected
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

    >>> from seqscore.formats.records import Rejected
    >>> rejection_message(Rejected("x.jsonl:3", "malformed JSON"))
    'x.jsonl:3: malformed JSON'
    """
    return f"{rejected.location}: {rejection_reason(rejected, hints)}"


def rejection_error(rejected: Rejected) -> DataFormatError:
    """The error that stops a run at ``rejected`` (``--on-error fail``): its
    message, and its remedy for the caller to word (the CLI adds its flags).

    >>> from seqscore.formats.records import Rejected
    >>> error = rejection_error(Rejected("x.jsonl:3", "texts", remedy="model"))
    >>> str(error), error.remedy
    ('x.jsonl:3: texts', 'model')
    """
    return DataFormatError(rejection_message(rejected), remedy=rejected.remedy)


def rejection_record(
    rejected: Rejected, hints: Mapping[str, str] | None = None
) -> dict:
    """A rejects file's record: where, why, and the record's text."""
    return {
        "location": rejected.location,
        "reason": rejection_reason(rejected, hints),
        "record": rejected.raw,
    }
