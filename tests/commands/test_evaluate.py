"""`seqscore evaluate` and `seqscore compare-runs` from the command line:
formats, exit codes, errors, atomic output; and `seqscore score` on lm-eval
samples (totals only: token-count reductions unavailable, said so)."""

import glob
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqscore.cli import main

FIXTURES = Path(__file__).parents[2] / "fixtures" / "lmeval"


def samples(run: str, task: str = "seqscore_mc") -> str:
    (path,) = glob.glob(str(FIXTURES / run / f"samples_{task}_2*.jsonl"))
    return path


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


# ----------------------------------------------------------------- evaluate


def test_evaluate_a_run_folder_as_text():
    result = run("evaluate", FIXTURES / "run_a", "--check")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.count("consistency: consistent") == 2
    assert "acc_norm   char  0.8333" in out
    assert "2 tasks evaluated; the run is consistent." in out


def test_evaluate_json_carries_every_figure():
    result = run("evaluate", samples("run_b", "seqscore_mc_pmi"), "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (task,) = document["tasks"]
    assert document["consistent"] and task["consistent"]
    by_metric = {a["metric"]: a for a in task["accuracies"]}
    assert (
        by_metric["acc_mutual_info"]["value"]
        == by_metric["acc_mutual_info"]["reported"]
    )
    assert by_metric["acc"]["interval"]["seed"] == 0
    assert task["ties"].keys() == by_metric.keys()


def test_evaluate_markdown():
    result = run("evaluate", samples("run_a"), "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("## seqscore_mc (filter none)")
    assert "| `acc_norm` | char | 0.8333 |" in result.stdout


def test_the_seed_and_resamples_are_explicit_and_reproducible():
    args = ("evaluate", samples("run_a"), "--format", "json", "--resamples", "300")
    first = run(*args, "--seed", "5").stdout
    assert first == run(*args, "--seed", "5").stdout
    assert first != run(*args, "--seed", "6").stdout


def edited(tmp_path: Path, change) -> str:
    folder = tmp_path / "run"
    folder.mkdir()
    for path in (FIXTURES / "run_a").iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (path,) = folder.glob("samples_seqscore_mc_2*.jsonl")
    lines = path.read_text().splitlines()
    lines = change(lines)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def flip(lines):
    record = json.loads(lines[8])
    record["acc"] = 1.0 - record["acc"]
    lines[8] = json.dumps(record, ensure_ascii=False)
    return lines


def test_check_exits_1_naming_the_inconsistent_document(tmp_path):
    path = edited(tmp_path, flip)
    result = run("evaluate", path, "--check")
    assert result.exit_code == 1
    assert "consistency: INCONSISTENT" in result.stdout
    assert f"doc_id 8 ({path}:9): logged acc = " in result.stdout
    # the aggregate no longer matches the results file either
    assert "acc: the results file says" in result.stdout
    assert "the run is inconsistent (seqscore_mc)" in result.stderr
    assert run("evaluate", path).exit_code == 0  # without --check: a report


def test_a_truncated_line_exits_1_naming_file_and_line(tmp_path):
    path = edited(tmp_path, lambda lines: [*lines[:10], lines[10][:77]])
    result = run("evaluate", path)
    assert result.exit_code == 1
    assert f"{path}:11: malformed JSON" in result.stderr
    assert "looks truncated" in result.stderr
    assert "Traceback" not in result.output


def test_a_document_with_no_choices_exits_1(tmp_path):
    def empty(lines):
        record = json.loads(lines[0])
        record["arguments"], record["filtered_resps"] = {}, []
        return [json.dumps(record), *lines[1:]]

    result = run("evaluate", edited(tmp_path, empty))
    assert result.exit_code == 1
    assert "doc_id 0: arguments: no requests (a document with no choices)" in (
        result.stderr
    )


def test_a_results_file_of_another_task_exits_1(tmp_path):
    other = tmp_path / "results.json"
    other.write_text(json.dumps({"results": {"hellaswag": {"acc,none": 0.3}}}))
    result = run("evaluate", samples("run_a"), "--results", other)
    assert result.exit_code == 1
    assert "has no results for task 'seqscore_mc'" in result.stderr
    assert "(it has: hellaswag)" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run("evaluate").exit_code == 2
    assert run("evaluate", samples("run_a"), "--seed", "-1").exit_code == 2
    both = run(
        "evaluate", samples("run_a"), "--results", samples("run_a"), "--no-results"
    )
    assert both.exit_code == 2


def test_output_is_written_only_on_success(tmp_path):
    out = tmp_path / "report.md"
    ok = run("evaluate", samples("run_a"), "--format", "markdown", "-o", out)
    assert ok.exit_code == 0 and out.read_text().startswith("## ")
    bad = tmp_path / "bad.md"
    path = edited(tmp_path, lambda lines: [*lines[:2], "{"])
    assert run("evaluate", path, "-o", bad).exit_code == 1
    assert not bad.exists()


def test_no_results_skips_the_results_file():
    result = run("evaluate", samples("run_a"), "--no-results")
    assert "results file: none found beside the samples (not checked)" in result.stdout


# ------------------------------------------------------------- compare-runs


def test_compare_runs_text():
    a, b = samples("run_a", "seqscore_mc_pmi"), samples("run_b", "seqscore_mc_pmi")
    result = run("compare-runs", a, b)
    assert result.exit_code == 0, result.output
    assert "30 documents in both runs, matched by doc_id and doc_hash" in result.stdout
    assert "McNemar" in result.stdout
    assert "Plackett-Luce agreement" in result.stdout


def test_compare_runs_json_and_markdown():
    a, b = samples("run_a"), samples("run_b")
    document = json.loads(run("compare-runs", a, b, "--format", "json").stdout)
    (c,) = document["comparisons"]
    assert [m["metric"] for m in c["metrics"]] == ["acc", "acc_norm", "acc_bytes"]
    assert set(c["flips"]) == {"acc", "acc_norm", "acc_bytes"}
    assert c["ranking"]["n"] == 30
    markdown = run("compare-runs", a, b, "--format", "markdown").stdout
    assert markdown.startswith("## seqscore_mc (filter none): A against B")


def test_compare_runs_over_different_documents_exits_1(tmp_path):
    lines = Path(samples("run_b")).read_text().splitlines()
    b = tmp_path / "samples_seqscore_mc_2026-01-01T00-00-00.jsonl"
    b.write_text("\n".join(lines[:-2]) + "\n")
    result = run("compare-runs", samples("run_a"), b)
    assert result.exit_code == 1
    assert "do not hold the same documents" in result.stderr
    assert "2 doc_id only in A (28, 29)" in result.stderr


# --------------------------------------------------- score on lm-eval samples


def test_score_gives_the_text_reductions_and_says_why_not_the_others():
    result = run("score", samples("run_a", "seqscore_mc_pmi"), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    first = records[0]
    raw = json.loads(
        Path(samples("run_a", "seqscore_mc_pmi")).read_text().split("\n")[0]
    )
    k = len(raw["doc"]["choices"])
    assert first["score"] == float(raw["filtered_resps"][0][0])
    assert first["char"] == first["score"] / len(raw["doc"]["choices"][0])
    assert first["pmi"] == first["score"] - float(raw["filtered_resps"][k][0])
    for name in ("mean", "perplexity", "length_penalty", "gnmt", "n_tokens"):
        assert first[name] is None
    assert first["is_greedy"] is (raw["filtered_resps"][0][1] == "True")
    assert "mean, length_penalty, gnmt, perplexity" in result.stderr
    assert len(records) == sum(
        len(json.loads(line)["doc"]["choices"])
        for line in Path(samples("run_a", "seqscore_mc_pmi")).read_text().splitlines()
    )


@pytest.mark.parametrize("normalize", ["mean", "length_penalty", "gnmt"])
def test_score_refuses_a_token_count_normalisation(normalize):
    result = run("score", samples("run_a"), "--normalize", normalize)
    assert result.exit_code == 1
    assert f"the {normalize!r} normalisation is undefined here" in result.stderr
    assert "not its token count" in result.stderr


def test_score_table_shows_the_per_character_score():
    result = run("score", samples("run_a"))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split()[4] == "char"


def test_compare_needs_token_log_probs():
    result = run("compare", samples("run_a"))
    assert result.exit_code == 1
    assert "needs each candidate's token log-probs" in result.stderr


def test_a_results_file_after_the_samples_is_the_results_file():
    # `evaluate SAMPLES RESULTS` was exit 1 ("is an lm-eval results file")
    (results,) = glob.glob(str(FIXTURES / "run_a" / "results_*.json"))
    given = run("evaluate", samples("run_a"), results)
    beside = run("evaluate", samples("run_a"), "--results", results)
    assert given.exit_code == 0, given.output
    assert given.stdout == beside.stdout


@pytest.mark.parametrize("case", ["alone", "twice", "and --results"])
def test_results_files_that_say_nothing_clear_are_usage_errors(case):
    (results,) = glob.glob(str(FIXTURES / "run_a" / "results_*.json"))
    args = {
        "alone": [results],
        "twice": [samples("run_a"), results, results],
        "and --results": [samples("run_a"), results, "--results", results],
    }[case]
    assert run("evaluate", *args).exit_code == 2


def test_compare_runs_takes_two_run_folders_task_by_task():
    from seqscore.report.run_comparison import RENDER
    from seqscore.runs.lmeval import compare_runs

    folders = run("compare-runs", FIXTURES / "run_a", FIXTURES / "run_b")
    assert folders.exit_code == 0, folders.output
    by_file = tuple(
        comparison
        for task in ("seqscore_mc", "seqscore_mc_pmi")
        for comparison in compare_runs(samples("run_a", task), samples("run_b", task))
    )
    expected = io.StringIO()
    RENDER["text"](by_file, expected)
    assert folders.stdout == expected.getvalue()
    assert {c.task for c in by_file} == {"seqscore_mc", "seqscore_mc_pmi"}


def test_run_folders_of_other_tasks_are_refused(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / Path(samples("run_b")).name).write_bytes(
        Path(samples("run_b")).read_bytes()
    )
    result = run("compare-runs", FIXTURES / "run_a", folder)
    assert result.exit_code == 1
    assert "has tasks ['seqscore_mc', 'seqscore_mc_pmi']" in result.output


# ------------------------------------ runs of lm-eval before 0.4.3 (#24 item 7)

DEV_A, DEV_B = FIXTURES / "run_040dev_a", FIXTURES / "run_040dev_b"
DEV_WINOGRANDE = DEV_A / "pretrained=toy__trigram_winogrande.jsonl"
V040 = FIXTURES / "run_040"


@pytest.mark.parametrize(
    ("samples_file", "results"),
    [
        (DEV_WINOGRANDE, DEV_A / "trigram.json"),  # --output_path's name
        (V040 / "pretrained__toy__trigram_winogrande.jsonl", V040 / "results.json"),
    ],
    ids=["0.4.0-dev", "0.4.0"],
)
def test_an_older_results_file_after_the_samples_is_the_results_file(
    samples_file, results
):
    # was exit 1: the results file was read as samples
    given = run("evaluate", samples_file, results, "--resamples", 100)
    beside = run("evaluate", samples_file, "--results", results, "--resamples", 100)
    assert given.exit_code == 0, given.output
    assert given.stdout == beside.stdout
    assert given.stdout.startswith("winogrande (filter none): 10 documents")


def test_older_run_folders_are_evaluated_and_compared():
    evaluated = run("evaluate", DEV_A, "--check", "--resamples", 100)
    assert evaluated.exit_code == 0, evaluated.output
    assert "8 documents do not say which choice is gold" in evaluated.stdout
    compared = run("compare-runs", DEV_A, DEV_B, "--resamples", 100)
    assert compared.exit_code == 0, compared.output
    assert compared.stdout.count("documents in both runs") == 2


def test_the_task_an_older_name_does_not_say_is_given_with_task(tmp_path):
    a = tmp_path / "a" / DEV_WINOGRANDE.name
    b = tmp_path / "b" / "pretrained=toy__trigram-small_winogrande.jsonl"
    for path, source in ((a, DEV_WINOGRANDE), (b, DEV_B / b.name)):
        path.parent.mkdir()
        path.write_bytes(source.read_bytes())
    unnamed = run("compare-runs", a, b)
    assert unnamed.exit_code == 1
    assert "with --task NAME" in unnamed.stderr
    named = run("compare-runs", a, b, "--task", "winogrande", "--resamples", 100)
    assert named.exit_code == 0, named.output
    assert named.stdout.startswith("winogrande (filter none)")
    labelled = run("evaluate", a, "--task", "winogrande", "--resamples", 100)
    assert labelled.stdout.startswith("winogrande (filter none)")
    several = run("evaluate", a, b, "--task", "winogrande")
    assert several.exit_code == 2
