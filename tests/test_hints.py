"""Readers' errors name the file and the remedy; only the CLI names flags."""

import pickle

import pytest

from seqscore.commands.hints import HINTS, with_hint
from seqscore.errors import DataFormatError
from seqscore.formats.inputs import read_prompts
from seqscore.formats.pipeline import read_pipeline_run


def _refusal(reader, *args) -> DataFormatError:
    with pytest.raises(DataFormatError) as caught, reader(*args) as (_, items):
        list(items)
    return caught.value


def test_a_zip_read_as_json_names_the_file_and_the_remedy_but_no_flag():
    error = _refusal(read_prompts, "fixtures/raw.npz", "vllm")
    assert str(error) == "fixtures/raw.npz: is a zip archive (an .npz?), not vllm JSON"
    assert error.remedy == "input_format_npz"
    assert with_hint(error).endswith("; use --input-format npz or auto")


def test_the_pipeline_reader_gives_the_same_remedy():
    with pytest.raises(DataFormatError) as caught:  # noqa: SIM117
        with read_pipeline_run("fixtures/audit/correct.npz", "jsonl"):
            pass
    assert "--" not in str(caught.value)
    assert caught.value.remedy == "input_format_npz"


def test_the_remedy_survives_a_worker_process():
    error = DataFormatError("f.jsonl:1: unknown record", remedy="input_format")
    copy = pickle.loads(pickle.dumps(error))
    assert with_hint(copy) == with_hint(error) == str(error) + HINTS["input_format"]


def test_an_error_without_a_remedy_is_its_message():
    assert with_hint(DataFormatError("f.csv: line 2: bad")) == "f.csv: line 2: bad"
