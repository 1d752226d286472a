"""The score record: one schema for the record, the csv header and Parquet."""

from seqscore.report.scores import RECORD_FIELDS, RECORD_TYPES, score_record
from seqscore.scoring.candidates import Candidate, Prompt, TokenScores, score_prompt


def test_a_record_has_every_field_in_schema_order_and_type():
    prompt = Prompt("q", (Candidate("a", TokenScores([-0.5, -0.25]), text=" ab"),))
    (scored,) = score_prompt(prompt)
    record = score_record(scored)
    assert tuple(record) == RECORD_FIELDS
    for name, value in record.items():
        assert value is None or isinstance(value, RECORD_TYPES[name]), name
