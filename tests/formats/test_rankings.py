"""Reading rankings and candidate scores."""

from pathlib import Path

import numpy as np
import pytest

from seqscore import DataFormatError
from seqscore.formats.rankings import read_candidate_scores, read_rankings

NASCAR = Path(__file__).resolve().parents[2] / "fixtures" / "nascar2002.txt"


def _write(tmp_path, text, name="data.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_lines_layout_with_comments_commas_and_short_rankings(tmp_path):
    path = _write(tmp_path, "# header comment\n\na b c\n c ,a\n\nb\n")
    data = read_rankings(path)
    assert data.layout == "lines" and data.items == ("a", "b", "c")
    assert data.rankings.tolist() == [[0, 1, 2], [2, 0, -1], [1, -1, -1]]
    assert data.labels == ("line 3", "line 4", "line 6")
    assert data.lengths.tolist() == [3, 2, 1]


def test_nascar_long_layout_is_detected():
    data = read_rankings(str(NASCAR))
    assert data.layout == "long" and len(data.items) == 83
    assert data.rankings.shape == (36, 43)
    # Race 1 (file order): driver 83 won, then 18 and 20.
    assert [data.items[i] for i in data.rankings[0, :3]] == ["83", "18", "20"]
    assert sorted(data.lengths.tolist()) == [42] * 5 + [43] * 31


def test_long_csv_orders_by_position_and_ignores_gaps(tmp_path):
    text = "item,ranking_id,position\nb,r1,5\na,r1,1\nc,r2,2\na,r2,3\nd,r1,2\n"
    data = read_rankings(_write(tmp_path, text, "long.csv"))
    assert data.items == ("a", "d", "b", "c")
    assert data.rankings.tolist() == [[0, 1, 2], [3, 0, -1]]
    assert data.labels == ("ranking 'r1'", "ranking 'r2'")


def test_long_layout_with_named_columns(tmp_path):
    text = "who race when extra\nx 1 2 q\ny 1 1 q\n"
    data = read_rankings(_write(tmp_path, text), columns=["who", "race", "when"])
    assert data.items == ("y", "x") and data.rankings.tolist() == [[0, 1]]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("a b=c d\n", {}, r"data.txt:1: item 2 'b=c' looks like a tie"),
        ("a b\nb c b\n", {}, r"data.txt:2: item 'b' appears twice .*positions 1 and 3"),
        ("", {}, "no rankings"),
        (
            "item,ranking_id,position\na,1,1\nb,1,1\n",
            {},
            r"data.txt:3: items 'a' \(line 2\) and 'b' share position 1 in ranking "
            r"'1': Plackett-Luce rankings have no ties",
        ),
        (
            "item,ranking_id,position\na,1,1\na,1,2\n",
            {},
            r"data.txt:3: item 'a' appears twice in ranking '1' \(also line 2\)",
        ),
        (
            "item,ranking_id,position\na,1,first\n",
            {},
            r"data.txt:2: field 'position' is 'first', not a number",
        ),
        # Positions are places: 2.5, 0 and -1 used to be accepted (sorted).
        (
            "item,ranking_id,position\na,1,1\nb,1,2.5\n",
            {},
            r"data.txt:3: field 'position' is '2.5'; a position must be a whole "
            r"number >= 1",
        ),
        (
            "item,ranking_id,position\na,1,0\nb,1,1\n",
            {},
            r"data.txt:2: field 'position' is '0'; a position must be",
        ),
        (
            "DriverID Race Place\na 1 1\nb 1 -1\n",
            {},
            r"data.txt:3: field 'Place' is '-1'; a position must be",
        ),
        ("item,ranking_id,position\na,1\n", {}, r"data.txt:2: 2 fields"),
        ("item,ranking_id,position\n", {}, "a header but no rankings"),
        ("p q r\nx 1 2\n", {"layout": "long"}, "cannot tell which column"),
        ("p q r\nx 1 2\n", {"columns": ["p", "q", "s"]}, "no column 's'"),
    ],
)
def test_ranking_errors_name_file_line_and_field(tmp_path, text, kwargs, message):
    with pytest.raises(DataFormatError, match=message):
        read_rankings(_write(tmp_path, text), **kwargs)


def test_candidate_scores_jsonl_csv_and_json_array(tmp_path):
    jsonl = '{"id": "a", "score": 1.5}\n\n{"id": "b", "score": -2}\n'
    csv_text = "id,score\na,1.5\nb,-2\n"
    array = '[{"id": "a", "score": 1.5}, {"id": "b", "score": -2}]'
    for text, name in ((jsonl, "s.jsonl"), (csv_text, "s.csv"), (array, "s.json")):
        (group,) = read_candidate_scores(_write(tmp_path, text, name))
        assert group.items == ("a", "b") and group.name is None
        np.testing.assert_array_equal(group.scores, [1.5, -2.0])


def test_candidate_scores_groups_and_default_names(tmp_path):
    text = (
        '{"q": "p1", "logprob": -1}\n{"q": "p2", "logprob": -3}\n'
        '{"q": "p1", "logprob": -2}\n'
    )
    groups = read_candidate_scores(
        _write(tmp_path, text), score_field="logprob", group_field="q"
    )
    assert [(g.name, g.items, g.scores.tolist()) for g in groups] == [
        ("p1", ("0", "1"), [-1.0, -2.0]),
        ("p2", ("0",), [-3.0]),
    ]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ('{"id": "a"}\n', {}, r"data.txt:1: field 'score' is missing"),
        ('{"id": "a", "score": "high"}\n', {}, r":1: field 'score' is 'high'; a score"),
        ('{"id": "a", "score": NaN}\n', {}, r":1: field 'score' is nan; a score must"),
        ('{"id": "a", "score": true}\n', {}, r"field 'score' is True, not a number"),
        (
            "id,score\na,1\na,2\n",
            {},
            r"data.txt:3: candidate 'a' appears twice \(also line 2\)",
        ),
        # An id field that was asked for must be there (it used to fall back
        # silently to numbering the candidates).
        ("id,score\na,1\n", {"id_field": "name"}, r"data.txt:2: field 'name' is"),
        ('{"id": "a", "score": 1}\n', {"id_field": "name"}, r":1: field 'name' is"),
        (
            '{"name": "a", "score": 1}\n{"score": 2}\n',
            {"id_field": "name"},
            r"data.txt:2: field 'name' is missing",
        ),
        # Names and indices must not mix: "1" could be a name or a number.
        (
            '{"id": "a", "score": 1}\n{"score": 2}\n',
            {},
            r"data.txt:2: field 'id' is missing, but line 1 has one: name "
            r"every candidate or none",
        ),
        (
            '{"score": 1}\n{"id": "b", "score": 2}\n',
            {},
            r"data.txt:2: field 'id' is given, but not at line 1",
        ),
        ('{"score": 1}\n{"score": oops}\n', {}, r"data.txt:2: not JSON"),
        ('{"score": 1}\n', {"group_field": "g"}, r":1: field 'g' is missing"),
        ("", {}, "no candidates"),
        ("[1, 2]", {}, r"\[0\]: expected an object with a 'score' field"),
    ],
)
def test_candidate_score_errors(tmp_path, text, kwargs, message):
    with pytest.raises(DataFormatError, match=message):
        read_candidate_scores(_write(tmp_path, text), **kwargs)


@pytest.mark.parametrize(
    "header", ["item,ranking", "Item,Ranking_ID,extra", "DriverID Race", "item ranking"]
)
def test_a_long_table_without_its_position_column_is_an_error(tmp_path, header):
    # It used to be read as rankings, the header as the first one.
    separator = "," if "," in header else " "
    text = header + "\n" + separator.join(["a", "1"] + ["x"] * (header.count(",") - 1))
    path = _write(tmp_path, text + "\n")
    with pytest.raises(
        DataFormatError, match=r"data.txt:1: long table has no position"
    ):
        read_rankings(path)
    # The way out the message offers: one ranking per line, on request.
    assert read_rankings(path, layout="lines").layout == "lines"


def test_whole_positions_may_be_written_as_floats(tmp_path):
    text = "item,ranking_id,position\nb,r,2.0\na,r,1\n"
    data = read_rankings(_write(tmp_path, text))
    assert data.items == ("a", "b") and data.rankings.tolist() == [[0, 1]]


BOM = "\ufeff"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("a b c\nb a c\n", "lines.txt"),
        ("item,ranking,position\na,1,1\nb,1,2\nc,2,1\na,2,2\n", "long.csv"),
    ],
)
def test_a_byte_order_mark_changes_nothing_in_rankings(tmp_path, text, name):
    # Excel's "CSV UTF-8" starts with U+FEFF: it used to become part of the
    # first item ('\ufeffa' != 'a') or hide the long table's header.
    plain = read_rankings(_write(tmp_path, text, name))
    marked = read_rankings(_write(tmp_path, BOM + text, "bom-" + name))
    assert (marked.items, marked.layout) == (plain.items, plain.layout)
    assert marked.rankings.tolist() == plain.rankings.tolist()


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("id,score\ngood,-1.5\nbad,-9\n", "s.csv"),
        ('{"id": "good", "score": -1.5}\n{"id": "bad", "score": -9}\n', "s.jsonl"),
        ('[{"id": "good", "score": -1.5}, {"id": "bad", "score": -9}]', "s.json"),
    ],
)
def test_a_byte_order_mark_changes_nothing_in_scores(tmp_path, text, name):
    # A BOM'd CSV used to lose its ids (the column was '\ufeffid').
    (group,) = read_candidate_scores(_write(tmp_path, BOM + text, name))
    assert group.items == ("good", "bad") and group.scores.tolist() == [-1.5, -9.0]


def test_an_explicit_id_field_names_candidates(tmp_path):
    path = _write(tmp_path, "name,score\nx,1\ny,2\n", "s.csv")
    (group,) = read_candidate_scores(path, id_field="name")
    assert group.items == ("x", "y")


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
def test_any_line_ending_of_a_scores_csv_reads_the_same(tmp_path, ending):
    # a bare carriage return (old Mac line ends) raised csv's own error
    path = tmp_path / "s.csv"
    path.write_bytes(ending.join(["id,score", "a,-3.1", "b,-3.4", ""]).encode())
    (group,) = read_candidate_scores(str(path))
    assert group.items == ("a", "b")
    assert group.scores.tolist() == [-3.1, -3.4]


def test_a_json_array_line_is_a_ranking_of_its_names(tmp_path):
    # `["a"` was read as an item name
    path = tmp_path / "r.txt"
    path.write_text('["a", "b", "c"]\n["b c", "a"]\nc a\n')
    data = read_rankings(str(path))
    assert data.items == ("a", "b", "c", "b c")
    assert data.rankings.tolist() == [[0, 1, 2], [3, 0, -1], [2, 0, -1]]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('["a", 1]', "r.txt:1: a JSON ranking lists item names"),
        ('["a", "b"', "r.txt:1: not a JSON array"),
    ],
)
def test_a_bad_json_array_line_is_named(tmp_path, line, message):
    path = tmp_path / "r.txt"
    path.write_text(line + "\n")
    with pytest.raises(DataFormatError, match=message):
        read_rankings(str(path))
