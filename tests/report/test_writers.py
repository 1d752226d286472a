"""The table writer (:mod:`seqscore.report.writers`)."""

import io

import pytest

from seqscore.report.perplexity import perplexity_columns
from seqscore.report.writers import write_records


def _table(records, columns) -> list[str]:
    out = io.StringIO()
    write_records(records, columns, "table", out)
    return out.getvalue().splitlines()


@pytest.mark.parametrize(
    ("ppl", "shown"),
    [
        (7_841_162_089_269.0, "7.841e+12"),  # was '784116208…'
        (1.5e300, "1.50e+300"),
        (-2.5e12, "-2.50e+12"),
        (123.4567, "  123.457"),
    ],
)
def test_a_number_too_wide_for_its_column_keeps_its_magnitude(ppl, shown):
    columns = [c for c in perplexity_columns("table") if c.key == "token_perplexity"]
    _header, row = _table([{"token_perplexity": ppl}], columns)
    assert row == shown
    assert float(row) == pytest.approx(ppl, rel=1e-3)


def test_text_too_wide_for_its_column_is_cut_with_an_ellipsis():
    columns = [c for c in perplexity_columns("table") if c.key == "id"]
    _header, row = _table([{"id": "a-very-long-document-name"}], columns)
    assert row == "a-very-long-doc…"


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv"])
def test_a_stream_failing_on_its_first_record_writes_nothing(fmt):
    # issue 24 item 8: `score` printed the table header before the first
    # record's error, so stdout began like a result
    def failing():
        raise ValueError("record 1 is bad")
        yield {}

    out = io.StringIO()
    with pytest.raises(ValueError, match="record 1"):
        write_records(failing(), perplexity_columns(fmt), fmt, out)
    assert out.getvalue() == ""


@pytest.mark.parametrize(("fmt", "empty"), [("json", "[\n]\n"), ("jsonl", "")])
def test_an_empty_stream_is_still_a_whole_empty_result(fmt, empty):
    out = io.StringIO()
    write_records(iter([]), perplexity_columns(fmt), fmt, out)
    assert out.getvalue() == empty


def test_wide_candidates_align_in_the_score_table():
    """CJK labels take two columns a character: the cells after them line
    up (by wcwidth's count, a terminal's), and a cut label ends in … within
    its 14 columns."""
    wcwidth = pytest.importorskip("wcwidth")
    from seqscore.report.scores import columns

    records = [
        {"prompt": "q", "label": label, "rank": rank, "score": -1.0}
        for rank, label in enumerate(
            ["Paris", "北京", "東京都庁舎ビルディング", "cafe\u0301"], start=1
        )
    ]
    lines = _table(records, columns("table", "sum"))
    rank_ends = {wcwidth.wcswidth(line[: line.index(" -1.000")]) for line in lines[1:]}
    assert len(rank_ends) == 1
    cut = lines[3].split()[1]
    assert cut.endswith("…") and wcwidth.wcswidth(cut) <= 14
