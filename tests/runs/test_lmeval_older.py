"""evaluate() and compare_runs() on lm-eval runs older than 0.4.3 (#24 item 7).

The fixtures (fixtures/lmeval/run_040dev_a, run_040dev_b, run_040) are
written by fixtures/lmeval/make_old_lmeval_fixtures.py in the shapes lm-eval
0.4.0-dev and 0.4.0 wrote; their results files hold the aggregates as lm-eval
computed them (mean; sample sd / sqrt(n)), which are the expected values
here, with the per-document fields of the samples.
"""

import json
import shutil
from pathlib import Path

import pytest

from seqscore.errors import DataFormatError
from seqscore.formats.lmeval_results import read_results
from seqscore.runs.lmeval import compare_runs, evaluate, samples_files, task_name

FIXTURES = Path(__file__).parents[2] / "fixtures" / "lmeval"
DEV_A, DEV_B = FIXTURES / "run_040dev_a", FIXTURES / "run_040dev_b"
V040 = FIXTURES / "run_040"


def reported(results: Path, task: str) -> dict:
    return json.loads(results.read_text())["results"][task]


def copy(path: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    return Path(shutil.copy(path, folder))


def test_a_0_4_0_dev_folder_is_its_tasks_with_their_results_checked():
    # was "no samples_*.jsonl in this folder"; its files' tasks were their stems
    evaluations = {e.task: e for e in evaluate([str(DEV_A)], resamples=200)}
    assert sorted(evaluations) == ["seqscore_mc", "winogrande"]
    for task, e in evaluations.items():
        assert e.results == str(DEV_A / "trigram.json")
        assert e.consistent and all(check.ok for check in e.aggregate)
        figures = reported(DEV_A / "trigram.json", task)
        assert e.accuracy("acc").logged == figures["acc,none"]


def test_winogrande_s_accuracy_is_re_derived_from_doc_answer():
    for folder, results in ((DEV_A, "trigram.json"), (V040, "results.json")):
        (e,) = [e for e in evaluate([str(folder)]) if e.task == "winogrande"]
        acc = e.accuracy("acc")
        assert (
            acc.n == 10
            and acc.value == reported(folder / results, "winogrande")["acc,none"]
        )
        assert acc.stderr == pytest.approx(
            reported(folder / results, "winogrande")["acc_stderr,none"], rel=1e-12
        )
        assert not e.gold_unread.total and not e.unchecked


def test_where_the_gold_is_not_in_the_line_it_says_so_and_checks_the_argmax():
    (e,) = evaluate([str(DEV_A / "pretrained=toy__trigram_seqscore_mc.jsonl")])
    assert e.gold_unread.total == e.n_documents == 8
    acc = e.accuracy("acc")
    assert acc.value is None and "do not say which choice is gold" in acc.unavailable
    assert "texts" in e.accuracy("acc_norm").unavailable
    # documents 0, 1, 3, 6, 7: the argmax or the gold is the line's first
    # choice (fixture lls and labels), so their logged acc is checked; the
    # other 3, and every acc_norm, are not
    assert e.unchecked == 3 + 8
    assert e.consistent


def test_a_logged_acc_the_argmax_contradicts_is_named(tmp_path):
    # doc 1: the argmax is the first choice, "a cat"; the target is "a dog"
    source = DEV_A / "pretrained=toy__trigram_seqscore_mc.jsonl"
    records = [json.loads(line) for line in source.read_text().splitlines()]
    records[1]["acc"] = 1.0
    edited = tmp_path / source.name
    edited.write_text("".join(json.dumps(r) + "\n" for r in records))
    (e,) = evaluate([str(edited)], use_results=False)
    (mismatch,) = e.mismatches.items
    assert (mismatch.doc_id, mismatch.metric, mismatch.derived) == ("1", "acc", 0.0)
    assert not e.consistent


@pytest.mark.parametrize(
    "name", ["pretrained=toy__trigram_winogrande", "_winogrande", "winogrande"]
)
def test_the_task_of_an_older_name_is_read_against_its_results(name):
    results = read_results(str(DEV_A / "trigram.json"))
    assert task_name(f"out/{name}.jsonl", results) == "winogrande"
    assert task_name(f"out/{name}.jsonl", results, task="other") == "other"


def test_a_folder_of_older_samples_is_its_jsonl_files():
    assert samples_files([str(DEV_A)]) == sorted(
        str(path) for path in DEV_A.glob("*.jsonl")
    )


def test_two_0_4_0_dev_runs_are_compared_task_by_task():
    # was: the stems differ by model, so no task of one was a task of the other
    comparisons = compare_runs(str(DEV_A), str(DEV_B), resamples=200)
    assert [c.task for c in comparisons] == ["seqscore_mc", "winogrande"]
    mc, winogrande = comparisons
    assert not mc.metrics  # no gold: the rankings only
    assert mc.ranking.n == 8
    acc = winogrande.metric("acc")
    a = reported(DEV_A / "trigram.json", "winogrande")["acc,none"]
    b = reported(DEV_B / "trigram-small.json", "winogrande")["acc,none"]
    assert (acc.accuracy_a, acc.accuracy_b) == (a, b)


def test_older_files_of_one_task_are_compared_by_the_task_their_results_say():
    a = DEV_A / "pretrained=toy__trigram_winogrande.jsonl"
    b = DEV_B / "pretrained=toy__trigram-small_winogrande.jsonl"
    (c,) = compare_runs(str(a), str(b), resamples=200)
    assert c.task == "winogrande"


def test_without_results_the_task_is_given(tmp_path):
    a = copy(DEV_A / "pretrained=toy__trigram_winogrande.jsonl", tmp_path / "a")
    b = copy(DEV_B / "pretrained=toy__trigram-small_winogrande.jsonl", tmp_path / "b")
    with pytest.raises(DataFormatError, match="compare runs of one task") as caught:
        compare_runs(str(a), str(b))
    assert caught.value.remedy == "task"  # the command line says --task
    (c,) = compare_runs(str(a), str(b), task="winogrande", resamples=200)
    assert c.task == "winogrande"
    (folders,) = compare_runs(
        str(a.parent), str(b.parent), task="winogrande", resamples=200
    )
    assert folders.metric("acc") == c.metric("acc")
    (e,) = evaluate([str(a)], task="winogrande", resamples=200)
    assert e.task == "winogrande" and e.accuracy("acc").value == 0.4


def test_a_results_file_of_another_model_says_how_to_name_the_task(tmp_path):
    samples = copy(DEV_A / "pretrained=toy__trigram_winogrande.jsonl", tmp_path)
    other = str(DEV_B / "trigram-small.json")  # model_args: toy/trigram-small
    with pytest.raises(DataFormatError, match="has no results for task") as caught:
        evaluate([str(samples)], results=other)
    assert caught.value.remedy == "task"
    (e,) = evaluate([str(samples)], results=other, task="winogrande")
    assert not e.consistent  # another model's figures
