"""Score records as Parquet: the csv columns, typed (``seqscore[parquet]``).

One column per field of :data:`~seqscore.report.scores.RECORD_FIELDS`,
in the same order as the csv header: strings, int64, float64 (``-inf``
stays ``-inf``) and booleans, every one nullable (a field that does not apply
is null, as it is empty in csv). The schema is fixed, not inferred, so every
part of a sharded run has the same one, even a part whose ``pmi`` column is
all null or that has no rows. pyarrow is imported only when a Parquet file
is written.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable

from seqscore.errors import MissingExtraError
from seqscore.report.scores import RECORD_FIELDS, RECORD_TYPES

__all__ = ["PARQUET_INSTALL", "import_pyarrow", "write_parquet"]

PARQUET_INSTALL = "pip install 'seqscore[parquet]'"
#: Rows per row group (and per conversion to columns).
BATCH_ROWS = 65536


def import_pyarrow():
    """``(pyarrow, pyarrow.parquet)``, or a :class:`MissingExtraError` saying
    what to install."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingExtraError(
            f"--format parquet needs pyarrow: {PARQUET_INSTALL}"
        ) from None
    return pyarrow, pyarrow.parquet


def schema():
    """The Parquet schema of score records."""
    pa, _ = import_pyarrow()
    types = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
    return pa.schema([(name, types[RECORD_TYPES[name]]) for name in RECORD_FIELDS])


def write_parquet(records: Iterable[dict], path: str | os.PathLike) -> int:
    """Write ``records`` to a new Parquet file at ``path``; the row count.

    Fields other than the csv columns (``--tokens``, ``--words``) have no
    column and are refused.
    """
    pa, pq = import_pyarrow()
    layout = schema()
    rows = 0
    records = iter(records)
    with pq.ParquetWriter(os.fspath(path), layout) as writer:
        while batch := list(itertools.islice(records, BATCH_ROWS)):
            extra = set(batch[0]) - set(RECORD_FIELDS)
            if extra:
                raise ValueError(
                    f"no Parquet column for {', '.join(sorted(extra))} (use jsonl)"
                )
            columns = [
                _column(pa, [record[name] for record in batch], field.type)
                for name, field in zip(RECORD_FIELDS, layout, strict=True)
            ]
            writer.write_table(pa.Table.from_arrays(columns, schema=layout))
            rows += len(batch)
    return rows


def _column(pa, values: list, kind):
    """A column; a string UTF-8 cannot encode (a lone surrogate from a JSON
    ``"\\ud800"``) is stored as its escape, as the text formats write it."""
    try:
        return pa.array(values, type=kind)
    except UnicodeEncodeError:
        return pa.array([_escaped(v) for v in values], type=kind)


def _escaped(value):
    if not isinstance(value, str):
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")
