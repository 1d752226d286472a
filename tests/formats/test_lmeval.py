"""The lm-eval samples reader: both layouts, the typed fast path against the
careful reference, targets, and errors naming file, line, document and
field; and the results-file reader."""

import copy
import glob
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqscore.errors import DataFormatError, Rejected
from seqscore.formats import lmeval
from seqscore.formats.inputs import read_prompts
from seqscore.formats.lmeval import (
    careful_document,
    loads_samples_line,
    read_document,
)
from seqscore.formats.lmeval_results import (
    lmeval_settings,
    read_results,
    results_beside,
    samples_task,
)
from seqscore.lmeval.logged import doc_value
from tests.strategies import lmeval_records

FIXTURES = Path(__file__).parents[2] / "fixtures" / "lmeval"


def fixture(run: str, task: str) -> Path:
    (path,) = glob.glob(str(FIXTURES / run / f"samples_{task}_2*.jsonl"))
    return Path(path)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def record(**changes) -> dict:
    """The first document of run A's seqscore_mc fixture, changed."""
    base = lines(fixture("run_a", "seqscore_mc"))[0]
    base.update(changes)
    return base


def read(raw: dict, **settings):
    """Read a record both ways: the typed line (as workers do) and the
    parsed JSON (as the careful reader does)."""
    line = json.dumps(raw, ensure_ascii=False).encode()
    return read_document(loads_samples_line(line), "f.jsonl:1", **settings)


# ------------------------------------------------------------------ layouts


def test_the_fixture_layout_reads_as_lm_eval_wrote_it():
    raw = lines(fixture("run_a", "seqscore_mc_pmi"))[0]
    document = read(raw)
    assert document.doc_id == "0"
    assert document.choices == tuple(raw["doc"]["choices"])
    assert document.context == raw["arguments"]["gen_args_0"]["arg_0"]
    k = len(document.choices)
    logged = [float(ll) for ll, _ in raw["filtered_resps"]]
    assert document.loglikelihoods == tuple(logged[:k])
    assert document.unconditional == tuple(logged[k:])
    assert document.is_greedy == tuple(
        g == "True" for _, g in raw["filtered_resps"][:k]
    )
    assert document.gold == (raw["doc"]["label"],)
    assert document.logged == {
        m: raw[m] for m in ("acc", "acc_norm", "acc_mutual_info")
    }
    assert document.doc_hash == raw["doc_hash"]
    assert doc_value(document) == raw["doc"]


def same_verdict(line: bytes) -> None:
    """The typed reader gives the careful reader's document, or its error."""
    try:
        expected = careful_document(json.loads(line), "f:1")
    except DataFormatError as exc:
        with pytest.raises(DataFormatError) as caught:
            read_document(loads_samples_line(line), "f:1")
        assert str(caught.value) == str(exc)
    else:
        got = read_document(loads_samples_line(line), "f:1")
        assert got._replace(doc=None) == expected._replace(doc=None)
        assert doc_value(got) == doc_value(expected)


@given(lmeval_records())
def test_the_typed_reader_gives_the_careful_readers_document(raw):
    same_verdict(json.dumps(raw, ensure_ascii=False).encode())


@given(lmeval_records(), st.data())
def test_a_broken_record_gets_the_careful_readers_verdict(raw, data):
    """Whatever is changed, the fast path never reads a record differently."""
    broken = copy.deepcopy(raw)
    key = data.draw(
        st.sampled_from(["arguments", "filtered_resps", "target", "doc_id"])
    )
    broken[key] = data.draw(
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=3),
            st.just({}),
            st.just([]),
            st.just([["-1.0", "Maybe"]]),
            st.just({"gen_args_1": {"arg_0": "", "arg_1": " a"}}),
        )
    )
    same_verdict(json.dumps(broken).encode())


def test_without_msgspec_lines_are_plain_json(monkeypatch):
    monkeypatch.setattr(lmeval, "_Sample", None)
    raw = record()
    line = json.dumps(raw).encode()
    assert loads_samples_line(line) == raw
    assert read_document(loads_samples_line(line), "f:1") == careful_document(
        raw, "f:1"
    )


def test_the_older_list_layout_with_json_values():
    raw = record(
        arguments=[["Q:", " yes"], ["Q:", " no"]],
        filtered_resps=[[-1.25, False], [-0.5, True]],
        target=1,
    )
    document = read(raw)
    assert document.choices == ("yes", "no")
    assert document.loglikelihoods == (-1.25, -0.5)
    assert document.is_greedy == (False, True)
    assert document.gold == (1,)


def test_resps_stand_in_for_missing_filtered_resps():
    raw = record()
    del raw["filtered_resps"]
    assert read(raw).loglikelihoods == read(record()).loglikelihoods


def test_float32_rounding_above_zero_is_kept_as_logged_and_scored_as_zero():
    raw = record(filtered_resps=[["3e-07", "True"], ["-1.0", "False"], ["-2", "False"]])
    # lm-eval's argmax saw 3e-07: the document keeps it; a score never exceeds 0
    assert read(raw).loglikelihoods == (3e-07, -1.0, -2.0)
    (prompt,) = lmeval.convert_record(raw, "f:1")
    assert [c.total for c in prompt.candidates] == [0.0, -1.0, -2.0]


# ------------------------------------------------------------------ targets


@pytest.mark.parametrize(
    ("target", "gold", "problem"),
    [
        ("2", (2,), None),  # str(index)
        ("Lyon", (1,), None),  # a choice's text
        ("[0, 2]", (0, 2), None),  # several right answers
        ("7", (), "target index 7 is not a choice (there are 3)"),
        ("Rome", (), "target 'Rome' is not one of the choices"),
    ],
)
def test_targets_as_lm_eval_reads_them(target, gold, problem):
    raw = record(
        arguments={
            f"gen_args_{i}": {"arg_0": "Q:", "arg_1": " " + c}
            for i, c in enumerate(["Paris", "Lyon", "Marseille"])
        },
        filtered_resps=[["-1", "False"]] * 3,
        target=target,
    )
    document = read(raw)
    assert (document.gold, document.gold_problem) == (gold, problem)


def test_a_digit_target_that_is_also_another_choices_text_is_ambiguous():
    raw = record(
        arguments={
            f"gen_args_{i}": {"arg_0": "Q:", "arg_1": " " + c}
            for i, c in enumerate(["1", "2", "3"])
        },
        filtered_resps=[["-1", "False"]] * 3,
        target="1",
        doc={"answer": "1"},
    )
    with pytest.raises(DataFormatError, match="index of choice 1 and the text of"):
        read(raw)
    # the task config names the field: the doc's own string decides (a text)
    assert read(raw, target_field="answer").gold == (0,)


# ------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"arguments": {}},
            r"doc_id 0: arguments: no requests \(a document with no choices\)",
        ),
        ({"arguments": []}, "no requests"),
        ({"filtered_resps": [["-1", "False"]]}, "filtered_resps: 1 responses for 3"),
        (
            {"filtered_resps": [["-1", "False"], ["1.5", "False"], ["-2", "True"]]},
            r"filtered_resps\[1\]\[0\]: '1.5' is not a log-likelihood",
        ),
        (
            {"filtered_resps": [["nan", "False"], ["-1", "False"], ["-2", "True"]]},
            "NaN or positive",
        ),
        (
            {"filtered_resps": [["-1", "yes"], ["-1", "False"], ["-2", "True"]]},
            r"filtered_resps\[0\]\[1\]: 'yes' where is_greedy",
        ),
        ({"doc_id": 1.5}, "doc_id: 1.5 is not an id"),
        ({"doc_id": None}, "doc_id"),
        ({"filter": None}, "filter: expected a string"),
        ({"acc": "1"}, "acc: '1' where a number belongs"),
    ],
)
def test_bad_records_are_rejected_naming_the_field(changes, message):
    raw = record(**changes)
    if changes.get("doc_id", 0) is None:
        del raw["doc_id"]
    with pytest.raises(DataFormatError, match=message):
        read(raw)


def test_a_generation_task_is_not_read_as_multiple_choice():
    raw = record(
        arguments={"gen_args_0": {"arg_0": "Q:", "arg_1": {"until": ["\n"]}}},
        filtered_resps=["Paris"],
    )
    with pytest.raises(DataFormatError, match="generation request"):
        read(raw)


def test_a_multiple_input_task_says_its_gold_is_not_logged():
    # was refused whole (#24 item 7): now read, its gold said to be unread
    raw = record(
        arguments={
            "gen_args_0": {"arg_0": "The cat sat", "arg_1": " down"},
            "gen_args_1": {"arg_0": "The dog sat", "arg_1": " down"},
        },
        filtered_resps=[["-1", "False"], ["-2", "False"]],
    )
    document = read(raw)
    assert document.gold == () and "multiple-input task" in document.gold_unread
    assert document.choices == ()  # acc_norm's texts are the contexts
    assert document.loglikelihoods == (-1.0, -2.0)


def test_a_continuation_without_the_delimiter_is_named():
    with pytest.raises(
        DataFormatError, match="does not start with the target delimiter"
    ):
        read(record(), delimiter="\n")


def test_mutual_info_needs_its_unconditional_requests():
    raw = record(metrics=["acc", "acc_mutual_info"])
    with pytest.raises(DataFormatError, match="not the choices followed by the same"):
        read(raw)


def test_a_truncated_line_is_rejected_with_its_line_number(tmp_path):
    text = fixture("run_a", "seqscore_mc").read_text().splitlines()
    path = tmp_path / "samples_seqscore_mc_2026-01-01T00-00-00.jsonl"
    path.write_text("\n".join([*text[:3], text[3][:200]]) + "\n")
    with read_prompts(str(path)) as (kind, prompts):
        items = list(prompts)
    assert kind == "lmeval"
    assert isinstance(items[3], Rejected)
    assert items[3].location == f"{path}:4"
    assert "looks truncated" in items[3].reason


# ----------------------------------------------------------- results files


def test_samples_file_names_give_task_and_date():
    path = fixture("run_a", "seqscore_mc_pmi")
    task, date = samples_task(str(path))
    assert task == "seqscore_mc_pmi"
    assert results_beside(str(path)) == str(path.parent / f"results_{date}.json")


def test_the_results_file_reports_what_lm_eval_printed():
    (path,) = glob.glob(str(FIXTURES / "run_a" / "results_*.json"))
    raw = json.loads(Path(path).read_text())
    run = read_results(path)
    task = run.tasks["seqscore_mc"]
    assert task.metrics["acc", "none"] == (
        raw["results"]["seqscore_mc"]["acc,none"],
        raw["results"]["seqscore_mc"]["acc_stderr,none"],
    )
    assert task.n_samples == 30
    assert task.task_hash == raw["task_hashes"]["seqscore_mc"]
    assert (task.target_delimiter, task.target_field) == (" ", "label")
    assert lmeval_settings(str(fixture("run_a", "seqscore_mc"))) == {
        "delimiter": " ",
        "target_field": "label",
    }


def test_a_results_file_without_the_task_is_an_error_naming_both():
    run = read_results(glob.glob(str(FIXTURES / "run_a" / "results_*.json"))[0])
    with pytest.raises(DataFormatError, match="has no results for task 'arc_easy'"):
        run.task("arc_easy", "samples_arc_easy.jsonl")


def test_a_chat_template_run_has_no_delimiter_unless_a_gen_prefix(tmp_path):
    def delimiter(config):
        path = tmp_path / "results.json"
        path.write_text(
            json.dumps(
                {"results": {"t": {}}, "configs": {"t": config}, "chat_template": "x"}
            )
        )
        return read_results(str(path)).tasks["t"].target_delimiter

    assert delimiter({"target_delimiter": " "}) == ""
    assert delimiter({"target_delimiter": " ", "gen_prefix": "Answer:"}) == " "
    assert delimiter({"target_delimiter": " ", "gen_prefix": "Answer: "}) == ""


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", '{"results": 3}', '{"results": {"t": {"acc,none": "x"}}}'],
)
def test_bad_results_files_are_errors(tmp_path, text):
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=str(path)):
        read_results(str(path))
