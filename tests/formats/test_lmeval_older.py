"""lm-eval runs older than 0.4.3 (#24 item 7), read as their files are.

The fixtures are written by fixtures/lmeval/make_old_lmeval_fixtures.py in
the shapes lm-eval's own code wrote (its docstring names the commits):
``run_040dev_*`` as the 0.4.0 development versions of July 2023 (one flat
``[context, continuation]``, the first request's, per line; samples named
``<model_args>_<task>.jsonl`` beside the ``--output_path`` results file) and
``run_040`` as lm-eval 0.4.0 (``results.json``; samples as one JSON array).
Every expected value below is read from the fixture's own fields or follows
from lm-eval's rules as the generator's docstring cites them.
"""

import dataclasses
import json
from pathlib import Path

import pytest

from seqscore.errors import DataFormatError
from seqscore.formats import lmeval_results
from seqscore.formats.inputs import read_prompts
from seqscore.formats.lmeval import careful_document, read_document
from seqscore.formats.lmeval_results import (
    is_results_file,
    lmeval_settings,
    read_results,
    results_beside,
)
from seqscore.lmeval.verdicts import judge

FIXTURES = Path(__file__).parents[2] / "fixtures" / "lmeval"
DEV_A = FIXTURES / "run_040dev_a"
DEV_MC = DEV_A / "pretrained=toy__trigram_seqscore_mc.jsonl"
DEV_WINOGRANDE = DEV_A / "pretrained=toy__trigram_winogrande.jsonl"
V040 = FIXTURES / "run_040" / "pretrained__toy__trigram_winogrande.jsonl"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------- one flat [context, continuation]


def test_a_flat_pair_is_the_first_request_and_every_response_is_a_choice():
    # was "arguments[0]: expected [context, continuation]" for every line
    for raw in lines(DEV_MC):
        document = read_document(raw, "f:1")
        context, continuation = raw["arguments"]
        assert document.context == context
        assert document.choices == (continuation[1:],)  # the first choice only
        assert document.loglikelihoods == tuple(r[0] for r in raw["filtered_resps"])
        assert document.is_greedy == tuple(r[1] for r in raw["filtered_resps"])
        assert document.unconditional is None
        assert document.logged == {"acc": raw["acc"], "acc_norm": raw["acc_norm"]}


def test_without_filtered_resps_the_responses_are_read_from_resps():
    raw = lines(DEV_MC)[1]
    bare = {k: v for k, v in raw.items() if k != "filtered_resps"}
    assert read_document(bare, "f:1") == read_document(raw, "f:1")


def test_a_string_target_says_the_gold_is_unread_and_whether_it_is_the_first():
    # the generator logs target = choices[label] ("{{answer_choices[gold]}}")
    for raw in lines(DEV_MC):
        document = read_document(raw, "f:1")
        assert document.gold == ()
        assert "first request" in document.gold_unread
        first_is_gold = raw["doc"]["label"] == 0
        assert document.first_is_gold is first_is_gold


def test_the_logged_acc_is_checked_against_the_argmax_where_it_can_be():
    documents = [read_document(raw, "f:1") for raw in lines(DEV_MC)]
    judged = judge(documents)
    rows = zip(documents, judged.derived, judged.logged, strict=True)
    for d, derived, logged in rows:
        best = max(range(len(d.loglikelihoods)), key=d.loglikelihoods.__getitem__)
        gold = lines(DEV_MC)[int(d.doc_id)]["doc"]["label"]
        if best == 0 or gold == 0:  # the line's first choice decides
            assert derived[0] == float(best == gold) == logged[0]
        else:
            assert derived[0] != derived[0]  # NaN: not checkable
    assert not judged.computable.any()  # no accuracy from documents without gold


def test_an_integer_target_is_the_gold_index():
    # a function doc_to_target returning the index (race, in that version)
    raw = {**lines(DEV_MC)[2], "target": 1}
    document = read_document(raw, "f:1")
    assert document.gold == (1,) and document.gold_unread is None


def test_a_generation_request_in_a_flat_pair_is_named():
    raw = {**lines(DEV_MC)[0], "arguments": ["Q:", {"until": ["\n"]}]}
    with pytest.raises(DataFormatError, match="arguments: a generation request"):
        careful_document(raw, "f:1")


def test_mutual_info_in_a_flat_line_is_refused_saying_why():
    raw = {**lines(DEV_MC)[0], "acc_mutual_info": 1.0}
    with pytest.raises(DataFormatError, match="which responses are unconditional"):
        careful_document(raw, "f:1")


def test_seqscore_score_reads_a_flat_line_without_guessing_texts():
    with read_prompts(str(DEV_MC)) as (kind, prompts):
        prompt = next(prompts)
    texts = [c.text for c in prompt.candidates]
    assert kind == "lmeval"
    assert texts == ["ice", None, None]  # the line names the first choice only


# ------------------------------------------------------- winogrande's gold


@pytest.mark.parametrize("path", [DEV_WINOGRANDE, V040], ids=["0.4.0-dev", "0.4.0"])
def test_winogrande_gold_is_its_doc_answer(path):
    records = (
        lines(path)
        if path.read_text().startswith("{")
        else json.loads(path.read_text())
    )
    for raw in records:
        document = read_document(raw, "f:1")
        assert document.gold == (int(raw["doc"]["answer"]) - 1,)
        assert document.gold_unread is None
        assert document.choices == ()  # its choices are contexts
    judged = judge([read_document(raw, "f:1") for raw in records])
    assert judged.derived[:, 0].tolist() == [r["acc"] for r in records]


def test_winogrande_in_the_gen_args_layout_is_read_too():
    # lm-eval 0.4.3+: was refused ("a multiple-input task such as winogrande")
    raw = json.loads(V040.read_text())[1]
    (first, cont), (second, _) = raw["arguments"]
    gen_args = {
        "gen_args_0": {"arg_0": first, "arg_1": cont},
        "gen_args_1": {"arg_0": second, "arg_1": cont},
    }
    responses = [[str(ll), str(g)] for ll, g in raw["filtered_resps"]]
    line = {**raw, "arguments": gen_args, "filtered_resps": responses}
    assert read_document(line, "f:1").gold == (0,)  # answer "1"


def test_requests_that_are_not_winogrande_s_leave_the_gold_unread():
    raw = lines(DEV_WINOGRANDE)[0]
    other = {**raw, "arguments": ["Someone else entirely", raw["arguments"][1]]}
    document = read_document(other, "f:1")
    assert document.gold == () and document.gold_unread is not None


# ------------------------------------------------------------ older names


def test_a_results_file_of_any_name_is_known_by_its_content():
    # 0.4.0-dev wrote the results where --output_path said (trigram.json)
    assert is_results_file(str(DEV_A / "trigram.json"))
    assert is_results_file(str(FIXTURES / "run_040" / "results.json"))
    assert not is_results_file(str(DEV_MC))


def test_the_results_beside_older_samples_are_found():
    assert results_beside(str(DEV_MC)) == str(DEV_A / "trigram.json")
    assert results_beside(str(V040)) == str(FIXTURES / "run_040" / "results.json")


@pytest.mark.parametrize(
    ("path", "results", "task"),
    [
        (DEV_MC, DEV_A / "trigram.json", "seqscore_mc"),
        (DEV_WINOGRANDE, DEV_A / "trigram.json", "winogrande"),
        (V040, FIXTURES / "run_040" / "results.json", "winogrande"),
    ],
)
def test_the_task_is_the_name_less_the_model_arguments(path, results, task):
    # was the whole stem: "pretrained=toy__trigram_winogrande"
    assert lmeval_results.named_task(str(path), read_results(str(results))) == task


def test_without_model_arguments_the_name_is_an_underscore_and_the_task():
    assert lmeval_results.named_task("out/_winogrande.jsonl") == "winogrande"
    assert lmeval_results.named_task("out/pretrained=gpt2_winogrande.jsonl") is None


def test_the_model_arguments_settle_a_name_that_fits_two_tasks():
    run = read_results(str(DEV_A / "trigram.json"))
    tasks = {**run.tasks, "trigram_winogrande": run.tasks["winogrande"]}
    two = dataclasses.replace(run, tasks=tasks)
    assert lmeval_results.named_task(str(DEV_WINOGRANDE), two) == "winogrande"
    unsaid = dataclasses.replace(two, model_args=None)
    with pytest.raises(DataFormatError, match="fits tasks") as caught:
        lmeval_results.named_task(str(DEV_WINOGRANDE), unsaid)
    assert caught.value.remedy == "task"


def test_the_settings_come_from_the_task_the_name_says(tmp_path):
    results = json.loads((DEV_A / "trigram.json").read_text())
    results["configs"]["seqscore_mc"]["doc_to_target"] = "label"  # a plain field
    (tmp_path / "trigram.json").write_text(json.dumps(results))
    samples = tmp_path / DEV_MC.name
    samples.write_bytes(DEV_MC.read_bytes())
    settings = lmeval_settings(str(samples))
    assert settings == {"delimiter": " ", "target_field": "label"}
    raw = lines(DEV_MC)[2]
    document = read_document(raw, "f:1", **settings)
    assert document.gold == (raw["doc"]["label"],)  # the typed field decides
