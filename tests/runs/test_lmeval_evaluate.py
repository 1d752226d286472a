"""evaluate() on runs made by lm-eval 0.4.13 itself (fixtures/lmeval, made by
fixtures/lmeval/make_lmeval_fixtures.py): the re-derived accuracies and
standard errors are those of lm-eval's own results files; edited runs are
reported inconsistent, naming the document or the figure."""

import glob
import importlib
import json
from pathlib import Path

import pytest

from seqscore.errors import DataFormatError
from seqscore.lmeval.verdicts import METRICS
from seqscore.runs.lmeval import evaluate, samples_files

FIXTURES = Path(__file__).parents[2] / "fixtures" / "lmeval"
# the module that reads the files
evaluate_module = importlib.import_module("seqscore.runs.lmeval")
RUNS = ("run_a", "run_b")
TASKS = ("seqscore_mc", "seqscore_mc_pmi")


def samples(run: str, task: str) -> Path:
    (path,) = glob.glob(str(FIXTURES / run / f"samples_{task}_2*.jsonl"))
    return Path(path)


def lm_eval_results(run: str) -> dict:
    (path,) = glob.glob(str(FIXTURES / run / "results_*.json"))
    return json.loads(Path(path).read_text())["results"]


def copy_run(tmp_path: Path, run: str = "run_a") -> Path:
    folder = tmp_path / run
    folder.mkdir()
    for path in (FIXTURES / run).iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("task", TASKS)
def test_accuracies_are_lm_evals_own(run, task):
    (evaluation,) = evaluate([str(samples(run, task))])
    reported = lm_eval_results(run)[task]
    assert evaluation.results is not None  # found beside the samples
    checked = 0
    for accuracy in evaluation.accuracies:
        key = f"{accuracy.metric},none"
        if key not in reported:
            continue
        checked += 1
        # k / n, re-derived from the log-likelihoods: exactly lm-eval's mean
        assert accuracy.value == reported[key]
        assert accuracy.stderr == pytest.approx(
            reported[f"{accuracy.metric}_stderr,none"], rel=1e-12
        )
    assert checked == 3
    assert evaluation.consistent
    assert {c.what for c in evaluation.aggregate} >= {"task hash", "acc", "acc_norm"}


def test_the_figures_of_the_fixture_runs():
    """The numbers the README quotes (from lm-eval's own table)."""
    (a,) = evaluate([str(samples("run_a", "seqscore_mc_pmi"))])
    assert a.accuracy("acc").value == pytest.approx(0.7333, abs=5e-5)
    assert a.accuracy("acc_norm").value == pytest.approx(0.8333, abs=5e-5)
    assert a.accuracy("acc_mutual_info").value == pytest.approx(0.4667, abs=5e-5)
    assert a.accuracy("acc_bytes").logged is None  # this task does not log it
    (b,) = evaluate([str(samples("run_b", "seqscore_mc"))])
    assert b.accuracy("acc_mutual_info").unavailable.startswith("no unconditional")


def test_a_folder_is_its_samples_files():
    paths = samples_files([str(FIXTURES / "run_a")])
    assert [Path(p).name.split("_2")[0] for p in paths] == [
        "samples_seqscore_mc",
        "samples_seqscore_mc_pmi",
    ]
    with pytest.raises(DataFormatError, match="is an lm-eval results file"):
        samples_files(glob.glob(str(FIXTURES / "run_a" / "results_*.json")))


def test_normalisations_that_disagree_are_listed_with_counts():
    (e,) = evaluate([str(samples("run_a", "seqscore_mc"))], listed=2)
    assert e.disagreements.total == 6
    assert len(e.disagreements.items) == 2
    first = e.disagreements.items[0]
    assert len(set(first.predicted[:3])) > 1
    table = {(p.first, p.second): p for p in e.pairs}
    acc_norm = table["acc", "acc_norm"]
    assert acc_norm.both + acc_norm.only_first == e.accuracy("acc").correct
    assert acc_norm.both + acc_norm.only_second == e.accuracy("acc_norm").correct


def flip_first_acc(path: Path) -> str:
    lines = path.read_text().splitlines()
    record = json.loads(lines[4])
    record["acc"] = 1.0 - record["acc"]
    lines[4] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n")
    return str(record["doc_id"])


def test_a_flipped_logged_acc_is_named(tmp_path):
    folder = copy_run(tmp_path)
    path = samples(folder.name, "seqscore_mc").name
    doc_id = flip_first_acc(folder / path)
    (e,) = evaluate([str(folder / path)], use_results=False)
    assert not e.consistent
    (mismatch,) = e.mismatches.items
    assert (mismatch.doc_id, mismatch.metric) == (doc_id, "acc")
    assert mismatch.location == f"{folder / path}:5"
    assert mismatch.derived == 1.0 - mismatch.logged


def test_a_results_file_that_does_not_match_its_samples(tmp_path):
    folder = copy_run(tmp_path)
    (results,) = folder.glob("results_*.json")
    data = json.loads(results.read_text())
    data["results"]["seqscore_mc"]["acc_norm,none"] += 0.01
    results.write_text(json.dumps(data))
    evaluations = evaluate([str(folder)])
    (bad,) = [e for e in evaluations if not e.consistent]
    assert bad.task == "seqscore_mc"
    (check,) = [c for c in bad.aggregate if not c.ok]
    assert check.what == "acc_norm"
    assert check.reported == pytest.approx(check.expected + 0.01)


def test_a_results_file_of_another_task_is_an_error(tmp_path):
    other = tmp_path / "results.json"
    other.write_text(json.dumps({"results": {"arc_easy": {"acc,none": 0.5}}}))
    with pytest.raises(DataFormatError, match="no results for task 'seqscore_mc'"):
        evaluate([str(samples("run_a", "seqscore_mc"))], results=str(other))


def test_a_truncated_line_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "samples_t_2026-01-01T00-00-00.jsonl"
    text = samples("run_a", "seqscore_mc").read_text().splitlines()
    path.write_text("\n".join([*text[:5], text[5][:-40]]) + "\n")
    with pytest.raises(DataFormatError, match=rf"{path}:6: malformed JSON.*truncated"):
        evaluate([str(path)])


def test_a_document_with_no_choices_is_an_error(tmp_path):
    path = tmp_path / "samples_t_2026-01-01T00-00-00.jsonl"
    lines = samples("run_a", "seqscore_mc").read_text().splitlines()
    record = json.loads(lines[2])
    record["arguments"], record["filtered_resps"], record["resps"] = {}, [], []
    lines[2] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r":3: doc_id 2: arguments: no requests"):
        evaluate([str(path)])


def test_a_file_of_another_format_is_named(tmp_path):
    path = Path(__file__).parents[2] / "fixtures" / "seqscore.jsonl"
    with pytest.raises(DataFormatError, match="not an lm-eval samples file"):
        evaluate([str(path)])


def test_an_empty_file_is_an_error(tmp_path):
    path = tmp_path / "samples_t_2026-01-01T00-00-00.jsonl"
    path.write_text("")
    with pytest.raises(DataFormatError, match="no records"):
        evaluate([str(path)])


def test_many_chunks_in_worker_processes_tally_as_one(tmp_path, monkeypatch):
    """A file read in chunks by two processes gives what one pass gives."""
    lines = samples("run_a", "seqscore_mc_pmi").read_text().splitlines()
    path = tmp_path / "samples_seqscore_mc_pmi_2026-01-01T00-00-00.jsonl"
    records = []
    for copy in range(20):
        for line in lines:
            record = json.loads(line)
            record["doc_id"] = copy * 100 + record["doc_id"]
            record["acc"] = 1.0 - record["acc"] if copy == 7 else record["acc"]
            records.append(json.dumps(record, ensure_ascii=False))
    path.write_text("\n".join(records) + "\n")
    monkeypatch.setattr(evaluate_module, "CHUNK_BYTES", 20_000)
    one = evaluate([str(path)], workers=1, listed=5)
    two = evaluate([str(path)], workers=2, listed=5)
    assert one == two
    (e,) = one
    assert e.n_documents == 600
    assert e.mismatches.total == 30
    assert [m.doc_id for m in e.mismatches.items] == [str(700 + i) for i in range(5)]


def test_without_msgspec_the_same_evaluation(monkeypatch):
    from seqscore.formats import lmeval

    path = str(samples("run_b", "seqscore_mc_pmi"))
    fast = evaluate([path])
    monkeypatch.setattr(lmeval, "_Sample", None)
    assert evaluate([path]) == fast


def test_every_metric_has_an_accuracy_row():
    (e,) = evaluate([str(samples("run_a", "seqscore_mc"))], seed=3, resamples=500)
    assert [a.metric for a in e.accuracies] == list(METRICS)
    again = evaluate([str(samples("run_a", "seqscore_mc"))], seed=3, resamples=500)
    assert again[0].accuracies == e.accuracies


@pytest.mark.parametrize("workers", [1, 2])
def test_a_repeated_doc_id_is_an_error_naming_both_lines(
    tmp_path, monkeypatch, workers
):
    # a repeated doc_id was counted twice (31 documents for 30) and --check
    # said consistent
    monkeypatch.setattr(evaluate_module, "CHUNK_BYTES", 4096)  # several chunks
    lines = samples("run_a", "seqscore_mc").read_text().splitlines()
    path = tmp_path / "samples_seqscore_mc_2026-12-02T21-03-26.264835.jsonl"
    path.write_text("\n".join([*lines, lines[2]]) + "\n")
    doc_id = json.loads(lines[2])["doc_id"]
    with pytest.raises(DataFormatError) as caught:
        evaluate([str(path)], use_results=False, workers=workers)
    assert str(caught.value) == (
        f"{path}:{len(lines) + 1}: doc_id {doc_id} again (first at {path}:3); "
        "a run logs each document of a task and filter once"
    )
