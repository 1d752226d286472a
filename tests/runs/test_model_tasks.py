"""Model workloads as tasks: batches scored in this process and on Dask, the
model loaded once per worker by the worker plugin."""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner

from seqscore.cli import main
from seqscore.errors import Rejected
from seqscore.models.builtin import load_builtin
from seqscore.models.examples import example_text_prompts
from seqscore.models.loglikelihood import ModelScoring
from seqscore.runs.model_tasks import ModelJob, model_loads, score_text_batch
from seqscore.runs.shards import ScoreSettings


def run(*args):
    return CliRunner().invoke(main, ["score", *map(str, args)])


def pairs_file(path, count):
    """``count`` context/continuation lines, each context its own prompt."""
    endings = [" cat sat", " dog ran", " end"]
    with path.open("w") as out:
        for i in range(count):
            line = {"context": f"if the {i}", "continuation": endings[i % 3]}
            out.write(json.dumps(line) + "\n")
    return path


def test_a_batch_scores_as_the_single_process_path(tmp_path):
    prompts = list(example_text_prompts())[:5]
    rejected = Rejected("x.jsonl:3", "no candidates")
    batch = [prompts[0], rejected, *prompts[1:]]
    job = ModelJob(ModelScoring("builtin"), ScoreSettings(normalize="mean"))
    scored = score_text_batch(batch, job)
    assert scored.results[1] is rejected
    assert scored.requests == sum(len(p.candidates) for p in prompts)
    assert (scored.truncated, scored.max_length) == (0, None)
    # what `seqscore score --model builtin --normalize mean` writes, one process
    local = run("--model", "builtin", "--normalize", "mean", "--format", "jsonl")
    lines = local.stdout.splitlines()
    records = [r for result in scored.results if result is not rejected for r in result]
    assert [json.loads(line) for line in lines[: len(records)]] == json.loads(
        json.dumps(records)
    )
    assert model_loads()[job.model.load_key] == 1  # loaded once in this process
    score_text_batch(batch, job)
    assert model_loads()[job.model.load_key] == 1
    assert load_builtin() is not None


@pytest.fixture(scope="module")
def distributed():
    return pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster(distributed):
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        scheduler_kwargs={"dashboard": False},
        silence_logs=logging.ERROR,
    ) as running:
        yield running


def test_model_scores_on_dask_are_the_bytes_of_one_process(cluster, tmp_path):
    pairs = pairs_file(tmp_path / "pairs.jsonl", 600)  # three tasks of prompts
    local = run(pairs, "--model", "builtin", "--format", "jsonl", "--words")
    on_dask = run(
        pairs,
        "--model",
        "builtin",
        "--format",
        "jsonl",
        "--words",
        "--scheduler",
        cluster.scheduler_address,
    )
    assert local.exit_code == 0, local.output
    assert on_dask.exit_code == 0, on_dask.output
    assert on_dask.stdout_bytes == local.stdout_bytes
    assert len(local.stdout.splitlines()) == 600


def test_the_model_is_loaded_once_per_worker_not_once_per_task(
    distributed, cluster, tmp_path, monkeypatch
):
    monkeypatch.setattr("seqscore.runs.model_tasks.PROMPTS_PER_TASK", 5)
    pairs = pairs_file(tmp_path / "pairs.jsonl", 60)  # 12 tasks
    with distributed.Client(cluster.scheduler_address) as client:
        before = client.run(model_loads)
        for _ in range(2):  # each run loads it once per worker, then drops it
            result = run(
                pairs,
                "--model",
                "builtin",
                "--format",
                "csv",
                "--scheduler",
                cluster.scheduler_address,
            )
            assert result.exit_code == 0, result.output
            assert len(result.stdout.splitlines()) == 61
        after = client.run(model_loads)
    key = ModelScoring("builtin").load_key  # spec and load options
    for worker, loads in after.items():
        assert loads.get(key, 0) - before[worker].get(key, 0) == 2


def test_a_model_that_cannot_be_loaded_is_named(cluster, tmp_path):
    pairs = pairs_file(tmp_path / "pairs.jsonl", 3)
    missing = tmp_path / "missing.json"
    result = run(
        pairs, "--model", f"tree:{missing}", "--scheduler", cluster.scheduler_address
    )
    assert result.exit_code == 1
    assert str(missing) in result.stderr


def test_hf_models_on_dask(cluster, tmp_path_factory):
    pytest.importorskip("transformers")
    from tests.tiny_lm import save_tiny_gpt2

    model_dir = save_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), n_positions=64)
    pairs = pairs_file(tmp_path_factory.mktemp("pairs") / "pairs.jsonl", 40)
    args = (pairs, "--model", f"hf:{model_dir}", "--format", "csv")
    local = run(*args)
    on_dask = run(*args, "--scheduler", cluster.scheduler_address)
    assert local.exit_code == 0, local.output
    assert on_dask.exit_code == 0, on_dask.output
    assert on_dask.stdout_bytes == local.stdout_bytes
