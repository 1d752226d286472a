"""seqscore.testing: the strategies, the laws, and the gallery of wrong scorers."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqscore import InvalidInputError
from seqscore.errors import ScorerLawError
from seqscore.scoring.candidates import loglikelihood
from seqscore.testing import (
    LAWS,
    Options,
    audit_scorer,
    candidate_batches,
    check_scorer,
    logits,
)

GALLERY = Path(__file__).parents[2] / "fixtures" / "audit"
sys.path.insert(0, str(GALLERY))
import scorers  # noqa: E402 (the gallery's module of wrong scorers)

# smaller examples than the defaults keep the suite fast; the laws are the same
SMALL = Options(max_candidates=3, max_tokens=4, max_vocab=5)


def test_the_correct_scorers_pass_every_law_in_both_layouts():
    causal = check_scorer(
        scorers.correct, layout="causal", max_examples=25, options=SMALL
    )
    aligned = check_scorer(scorers.correct_aligned, max_examples=25, options=SMALL)
    for report in (causal, aligned):
        assert report.passed and len(report.results) == len(LAWS) == 9
        assert report.render().endswith("all 9 laws passed")


@pytest.mark.parametrize("name", sorted(scorers.FAILS))
def test_every_wrong_scorer_breaks_the_law_that_names_its_bug(name):
    law = scorers.FAILS[name]
    report = audit_scorer(
        getattr(scorers, name),
        layout="causal",
        max_examples=40,
        laws=[law],
        options=SMALL,
        shrink=False,
    )
    assert report.failed == (law,)


def test_a_failure_is_shrunk_to_a_minimal_example_with_expected_and_actual():
    with pytest.raises(ScorerLawError) as caught:
        check_scorer(scorers.raw_logits, layout="causal", laws=["shift_invariance"])
    assert isinstance(caught.value, AssertionError)  # pytest shows it as a failure
    message = str(caught.value)
    assert "FAIL  shift_invariance: adding a constant" in message
    assert "minimal failing example: 1 candidate(s), vocabulary 2, float32" in message
    assert "input_ids=[0, 0] n_context=1" in message
    assert "change: added 1.0 to every logit of step 0 of candidate 0" in message
    assert "candidate 0: expected 0.0, got 1.0" in message


def test_a_batch_law_shrinks_to_two_candidates():
    report = audit_scorer(
        scorers.batch_order_dependent, layout="causal", laws=["batch_order"]
    )
    violation = report.results[0].violation
    assert violation.example.startswith("2 candidate(s), vocabulary 2")
    assert violation.change == "batch reordered to candidates [1, 0]"
    assert violation.expected != violation.actual


def test_the_report_is_the_same_for_the_same_seed():
    def run(seed):
        return audit_scorer(
            scorers.top_token, layout="causal", laws=["sum_of_conditionals"], seed=seed
        ).render()

    assert run(3) == run(3)


def test_a_scorer_that_raises_or_returns_the_wrong_shape_fails_with_the_reason():
    def raises(logits, token_ids, lengths):
        raise ValueError("no GPU")

    def flat(logits, token_ids, lengths):
        return np.zeros(3)

    for scorer, reason in (
        (raises, "raised ValueError: no GPU"),
        (flat, "returned shape"),
    ):
        report = audit_scorer(scorer, laws=["sum_of_conditionals"], max_examples=5)
        violation = report.results[0].violation
        assert violation.actual is None and reason in violation.error
        assert "the scorer " + violation.error in violation.describe()


def test_unknown_laws_and_layouts_are_refused():
    with pytest.raises(InvalidInputError, match="unknown law 'speed'"):
        audit_scorer(scorers.correct_aligned, laws=["speed"])
    with pytest.raises(InvalidInputError, match="layout"):
        audit_scorer(scorers.correct_aligned, layout="ragged")


# ------------------------------------------------------------- strategies


@settings(max_examples=30)
@given(candidate_batches(max_candidates=3))
def test_batches_in_both_layouts_score_the_same_tokens(batch):
    aligned = batch.arrays("aligned")
    causal = batch.arrays("causal")
    for b, case in enumerate(batch.cases):
        n = aligned[2][b]
        assert n == len(case.token_ids)
        length, context = causal[2][b], causal[3][b]
        assert length - context == n
        # one implementation: the reference is seqscore's own loglikelihood
        expected = loglikelihood(
            causal[0][b, :length], causal[1][b, :length], context
        ).logprob
        assert case.reference() == pytest.approx(expected, rel=1e-12, abs=1e-12)


@settings(max_examples=30)
@given(st.data())
def test_masks_spare_the_kept_entry_and_always_mask_one_other(data):
    vocab = data.draw(st.integers(2, 6))
    keep = np.array(
        data.draw(st.lists(st.integers(0, vocab - 1), min_size=3, max_size=3))
    )
    z = data.draw(logits((3, vocab), masked="always", keep=keep))
    assert np.isfinite(z[np.arange(3), keep]).all()
    assert np.isneginf(z).any(axis=1).all()


@settings(max_examples=20)
@given(logits((4, 3), dtype=np.float16, magnitude=1e9))
def test_magnitudes_are_clipped_to_the_dtype(z):
    assert z.dtype == np.float16 and np.isfinite(z).all()


@pytest.mark.parametrize(
    "options, message",
    [
        # before: laws=[] "passed" with "all 0 laws passed", max_examples=0
        # raised hypothesis's InvalidArgument
        ({"laws": []}, "laws is empty"),
        ({"max_examples": 0}, "max_examples must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_audit_scorer_arguments_are_checked(options, message):
    with pytest.raises(InvalidInputError, match=message):
        audit_scorer(lambda logits, ids, lengths: np.zeros(len(lengths)), **options)


def test_one_law_may_be_named_by_a_string():
    # before: laws="padding" was read letter by letter ("unknown law 'p'")
    report = audit_scorer(
        lambda logits, ids, lengths: np.zeros(len(lengths)),
        laws="padding",
        max_examples=3,
    )
    assert [r.name for r in report.results] == ["padding"]


def test_a_scorer_returning_nan_is_told_so():
    # before: "expected nan, got nan" under shift_invariance
    report = audit_scorer(
        lambda logits, ids, lengths: np.full(len(lengths), np.nan),
        laws=["shift_invariance"],
        max_examples=3,
    )
    assert report.failed == ("shift_invariance",)
    assert "returned NaN for candidate 0" in report.render()
    assert "expected nan" not in report.render()


def test_each_warning_of_the_scorer_is_shown_once():
    # before: repeated for every call of the scorer (74 times for one law)
    def score(logits, ids, lengths):
        warnings.warn("scorer note", UserWarning, stacklevel=1)
        return np.zeros(len(lengths))

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        audit_scorer(score, laws=["padding"], max_examples=20)
    assert [str(w.message) for w in seen].count("scorer note") == 1
