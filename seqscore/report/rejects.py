"""A rejected record (:class:`~seqscore.errors.Rejected`) as a line of a
rejects file.

A rejection's reason names the file, the record and the field; its
``remedy``, when the reader gave one, says in the library's terms what would
get past it. ``hints`` maps a remedy to the words a caller appends to the
reason for it: the command line passes its flags
(:data:`seqscore.commands.hints.HINTS`). The message and the error of a
rejection are :mod:`seqscore.errors`' (readers and the library raise them).
"""

from __future__ import annotations

from collections.abc import Mapping

from seqscore.errors import Rejected, rejection_reason

__all__ = ["rejection_record"]


def rejection_record(
    rejected: Rejected, hints: Mapping[str, str] | None = None
) -> dict:
    """A rejects file's record: where, why, and the record's text."""
    return {
        "location": rejected.location,
        "reason": rejection_reason(rejected, hints),
        "record": rejected.raw,
    }
