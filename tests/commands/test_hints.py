"""Readers' errors name the file and the remedy; only the CLI names flags."""

import json
import pickle
from pathlib import Path

import pytest

from seqscore.commands.hints import HINTS, with_hint
from seqscore.errors import DataFormatError
from seqscore.formats.inputs import read_prompts
from seqscore.formats.pipeline import read_pipeline_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _at_the_repository_root(monkeypatch):
    """Messages name a file as it was given: these give paths from the
    repository root, so they run there whatever pytest's directory."""
    monkeypatch.chdir(ROOT)


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


TEXTS = "tests/golden/inputs/texts.jsonl"
MODEL_HINT = " (seqscore score FILE --model builtin|hf:PATH)"


def test_a_texts_only_record_is_rejected_with_a_remedy_but_no_flag():
    from seqscore.errors import Rejected, rejection_message
    from seqscore.report.rejects import rejection_record

    with read_prompts(TEXTS) as (_, items):
        rejected = [item for item in items if isinstance(item, Rejected)]
    assert len(rejected) == 2
    for item in rejected:
        assert item.reason == "candidates: texts without logprobs are scored by a model"
        assert "--" not in item.reason and "seqscore" not in item.reason
        assert item.remedy == "model"
        assert "--" not in rejection_message(item)
        assert "--" not in rejection_record(item)["reason"]
        assert rejection_record(item, HINTS)["reason"] == item.reason + MODEL_HINT
    assert pickle.loads(pickle.dumps(rejected[0])) == rejected[0]  # to a worker


def test_the_score_command_adds_the_hint_wherever_it_writes_a_rejection(tmp_path):
    from click.testing import CliRunner

    from seqscore.cli import main

    reason = "candidates: texts without logprobs are scored by a model" + MODEL_HINT
    fail = CliRunner().invoke(main, ["score", TEXTS])
    assert fail.exit_code == 1
    assert fail.stderr == f"seqscore: error: {TEXTS}:1: {reason}\n"
    rejects = tmp_path / "rejects.jsonl"
    skip = ["--on-error", "skip", "--rejects", rejects]
    CliRunner().invoke(main, ["score", TEXTS, *map(str, skip)])
    reasons = [json.loads(line)["reason"] for line in rejects.read_text().splitlines()]
    assert reasons == [reason, reason]
    parts = tmp_path / "parts"
    CliRunner().invoke(
        main,
        [
            *("score", TEXTS, "fixtures/seqscore.jsonl", "--on-error", "skip"),
            *("--workers", "1", "--format", "jsonl", "-o", f"{parts}/"),
        ],
    )
    written = (parts / "part-00000.rejects.jsonl").read_text().splitlines()
    assert [json.loads(line)["reason"] for line in written] == [reason, reason]
