"""Judgements of documents against lm-eval's own rule, written out here from
its ``ConfigurableTask.process_results`` (lm_eval/api/task.py, 0.4.13) for
multiple choice: numpy argmax of the log-likelihoods, of them over the
choices' lengths in characters and bytes, and minus the unconditional ones."""

import json
import math

import numpy as np
from hypothesis import given

from seqscore.formats.lmeval import careful_document, read_document
from seqscore.lmeval.verdicts import CHECKED, METRICS, TIE_TOLERANCE, judge
from tests.strategies import lmeval_records


def lm_eval_metrics(record: dict) -> dict[str, float]:
    """acc, acc_norm, acc_bytes (and acc_mutual_info) as lm-eval computes
    them from a record of the list layout with an integer target."""
    requests, responses = record["arguments"], record["filtered_resps"]
    lls = [ll for ll, _ in responses]
    choices = [cont[1:] for _, cont in requests]  # target_delimiter " "
    mutual = "acc_mutual_info" in record["metrics"]
    if mutual:
        choices = choices[: len(choices) // 2]
        lls, unconditional = lls[: len(choices)], lls[len(choices) :]
    completion_len = np.array([float(len(i)) for i in choices])
    byte_length = np.array([float(len(i.encode("utf-8"))) for i in choices])
    gold = record["target"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "acc": 1.0 if np.argmax(lls) == gold else 0.0,
            "acc_norm": 1.0 if np.argmax(lls / completion_len) == gold else 0.0,
            "acc_bytes": 1.0 if np.argmax(lls / byte_length) == gold else 0.0,
        }
        if mutual:
            mi = [c - u for c, u in zip(lls, unconditional, strict=True)]
            out["acc_mutual_info"] = 1.0 if np.argmax(mi) == gold else 0.0
    return out


def judged(record: dict):
    return judge([careful_document(record, "f:1")])


@given(lmeval_records(layout="list"))
def test_every_metric_follows_lm_evals_rule(record):
    expected = lm_eval_metrics(record)
    j = judged(record)
    for m, metric in enumerate(METRICS):
        if metric in expected:
            assert float(j.correct[0, m]) == expected[metric], metric
        else:
            assert j.predicted[0, m] == -1 and not j.correct[0, m]


@given(lmeval_records(layout="list"))
def test_a_run_logged_by_lm_eval_is_consistent_and_a_flipped_metric_is_not(record):
    record.update(lm_eval_metrics(record))
    assert not judged(record).mismatched.any()
    record["acc"] = 1.0 - record["acc"]
    mismatched = judged(record).mismatched[0]
    assert mismatched.tolist() == [name == "acc" for name in CHECKED]


@given(lmeval_records())
def test_the_typed_and_careful_documents_judge_alike(record):
    line = json.dumps(record).encode()
    from seqscore.formats.lmeval import loads_samples_line

    try:
        careful = careful_document(json.loads(line), "f:1")
    except ValueError:
        return  # an ambiguous target: tested in test_formats_lmeval
    typed = read_document(loads_samples_line(line), "f:1")
    a, b = judge([careful]), judge([typed])
    for name in ("predicted", "correct", "tied", "logged", "derived"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_many_documents_at_once_judge_as_each_alone():
    records = [
        {
            "doc_id": i,
            "target": i % 3,
            "arguments": [["Q", f" {'x' * (j + 1)}"] for j in range(k)],
            "filtered_resps": [[-1.0 - (i * j) % 5, False] for j in range(k)],
        }
        for i, k in enumerate([3, 2, 4, 3, 1, 4, 2])
    ]
    documents = [careful_document(r, f"f:{i}") for i, r in enumerate(records)]
    together = judge(documents)
    for i, document in enumerate(documents):
        alone = judge([document])
        np.testing.assert_array_equal(together.predicted[i], alone.predicted[0])
        np.testing.assert_array_equal(together.correct[i], alone.correct[0])
        np.testing.assert_array_equal(together.tied[i], alone.tied[0])


def test_ties_are_choices_within_the_tolerance_of_the_best():
    def tied(lls):
        record = {
            "doc_id": 0,
            "target": 0,
            "arguments": [["Q", " aa"], ["Q", " bb"], ["Q", " cc"]],
            "filtered_resps": [[ll, False] for ll in lls],
        }
        return judged(record).tied[0, 0]

    assert tied([-1.0, -1.0 - TIE_TOLERANCE / 2, -5.0])
    assert not tied([-1.0, -1.0 - 10 * TIE_TOLERANCE, -5.0])
    assert tied([-math.inf, -math.inf, -math.inf])  # all impossible


def test_numpys_argmax_decides_an_empty_choice():
    # lm-eval divides by len(choice) = 0: -inf, or NaN for ll = 0, which
    # numpy's argmax picks
    record = {
        "doc_id": 0,
        "target": 1,
        "arguments": [["Q", " a"], ["Q", " "]],
        "filtered_resps": [[-1.0, False], [0.0, True]],
    }
    j = judged(record)
    assert j.predicted[0].tolist()[:3] == [1, 1, 1]


def test_several_gold_choices_and_exact_match():
    record = {
        "doc_id": 0,
        "target": [0, 2],
        "arguments": [["Q", " a"], ["Q", " b"], ["Q", " c"]],
        "filtered_resps": [[-3.0, False], [-2.0, False], [-1.0, True]],
        "acc": 1.0,
        "exact_match": 1.0,
    }
    j = judged(record)
    assert j.correct[0, 0]
    assert not j.mismatched.any()
    record["exact_match"] = 0.0  # choice 2 was greedy: exact_match is 1
    assert judged(record).mismatched[0].tolist() == [False] * 4 + [True]


def test_a_target_that_is_no_choice_is_never_right():
    record = {
        "doc_id": 0,
        "target": "Rome",
        "arguments": [["Q", " Paris"], ["Q", " Lyon"]],
        "filtered_resps": [[-1.0, False], [-2.0, False]],
    }
    j = judged(record)
    assert not j.correct.any()
    assert j.gold_problem == ["target 'Rome' is not one of the choices"]


def test_logged_hashes_are_checked():
    import hashlib

    def sha(text):
        return hashlib.sha256(text.encode()).hexdigest()

    doc = {"q": "Q"}
    record = {
        "doc_id": 0,
        "doc": doc,
        "target": 0,
        "arguments": [["Q", " a"], ["Q", " b"]],
        "filtered_resps": [[-1.0, False], [-2.0, False]],
        "doc_hash": sha(json.dumps(doc, indent=2, ensure_ascii=False)),
        "prompt_hash": sha("Q"),
        "target_hash": sha("0"),
    }
    document = careful_document(record, "f:1")
    assert judge([document], check_doc_hash=True).hash_problems == [()]
    record["prompt_hash"] = sha("another prompt")
    record["doc"] = {"q": "edited"}
    problems = judge([careful_document(record, "f:1")], check_doc_hash=True)
    assert problems.hash_problems == [
        (
            "prompt_hash is not the SHA-256 of the first context",
            "doc_hash is not the SHA-256 of the doc",
        )
    ]
