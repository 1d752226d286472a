"""Parquet parts: the csv columns with fixed types, nulls and -inf kept."""

from __future__ import annotations

import math

import pytest

from seqscore.report.parquet import write_parquet
from seqscore.report.scores import RECORD_FIELDS

pq = pytest.importorskip("pyarrow.parquet")


def record(**values):
    row = dict.fromkeys(RECORD_FIELDS)
    row.update(prompt="q", candidate="c", rank=1, score=-1.5, ranked_by="sum")
    row.update(values)
    return row


def test_types_are_fixed_even_for_empty_and_all_null_parts(tmp_path):
    assert write_parquet([], tmp_path / "empty.parquet") == 0
    assert write_parquet([record()], tmp_path / "nulls.parquet") == 1
    empty = pq.read_schema(tmp_path / "empty.parquet")
    assert empty == pq.read_schema(tmp_path / "nulls.parquet")
    assert empty.names == list(RECORD_FIELDS)
    assert str(empty.field("pmi").type) == "double"
    assert str(empty.field("is_greedy").type) == "bool"
    assert str(empty.field("n_tokens").type) == "int64"


def test_values_survive(tmp_path):
    rows = [
        record(score=-math.inf, is_greedy=True, n_tokens=3, text="a\nb"),
        record(candidate="\ud800", probability=None),  # a lone surrogate
    ]
    write_parquet(rows, tmp_path / "p.parquet")
    back = pq.read_table(tmp_path / "p.parquet").to_pylist()
    assert back[0]["score"] == -math.inf and back[0]["is_greedy"] is True
    assert back[0]["n_tokens"] == 3 and back[0]["text"] == "a\nb"
    assert back[1]["candidate"] == "\\ud800"  # as the text formats write it
    assert back[1]["probability"] is None


def test_detail_fields_have_no_column(tmp_path):
    with pytest.raises(ValueError, match="no Parquet column for tokens"):
        write_parquet([record(tokens=[])], tmp_path / "p.parquet")


def test_many_row_groups_read_back_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr("seqscore.report.parquet.BATCH_ROWS", 2)
    rows = [record(rank=i) for i in range(5)]
    assert write_parquet(iter(rows), tmp_path / "p.parquet") == 5
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.column("rank").to_pylist() == [0, 1, 2, 3, 4]
