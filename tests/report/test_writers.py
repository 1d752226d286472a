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
