"""Greedy-versus-best diagnostics: the textbook case by hand, random models."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given

from seqscore.diagnostics.greedy_vs_best import diagnose, survey_greedy
from seqscore.errors import InvalidInputError
from seqscore.models.tree import textbook_tree
from tests.strategies import enumerate_sequences, hashed_models


def test_textbook_diagnosis_names_step_one_and_the_numbers():
    d = diagnose(textbook_tree(), [], max_tokens=5)
    assert d.diverge_step == 1
    assert d.proven_optimal and d.best_source == "exact search (proven optimal)"
    # by hand: gain log(0.6/0.4); after step 1 greedy gets 1/3, best 0.9
    assert math.isclose(d.gain, math.log(0.6 / 0.4))
    assert math.isclose(d.paid_back, math.log(0.9) - math.log(1 / 3))
    assert math.isclose(d.loss, math.log(0.36 / 0.2))
    assert math.isclose(d.loss, d.paid_back - d.gain)
    assert d.crossing_step == 2
    assert math.isclose(d.greedy_entropy_after[0], math.log(3))  # flat over 3
    # 0.9 / 0.05 / 0.05: H = -(0.9 ln 0.9 + 2 x 0.05 ln 0.05)
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.05))
    assert math.isclose(d.best_entropy_after[0], h)
    for text in (
        "step 1",
        "'A' (p = 0.600)",
        "'B' (p = 0.400)",
        "0.405",
        "0.993",
        "0.588",
        "p = 0.333",
        "entropy 1.099",
        "3.0 tokens",
        "p = 0.900",
        "probability 0.2 ",
        "0.36 ",
        "step 2",
    ):
        assert text in d.explanation, text


def test_textbook_prompt_b_greedy_is_best():
    d = diagnose(textbook_tree(), "B", max_tokens=5)
    assert d.greedy_is_best and d.diverge_step is None and d.loss == 0
    assert "best sequence found" in d.explanation


@given(hashed_models())
def test_diagnosis_accounts_for_the_loss(case):
    model, prompt, max_tokens = case
    d = diagnose(model, prompt, max_tokens=max_tokens)
    best = max(t for t, _ in enumerate_sequences(model, prompt, max_tokens))
    assert d.proven_optimal and d.best.decoded.total == best
    assert d.loss >= 0
    if d.greedy_is_best:
        assert d.diverge_step is None and d.loss == 0
        return
    k = d.diverge_step - 1
    assert d.greedy.decoded.ids[:k] == d.best.decoded.ids[:k]
    assert d.gain >= 0
    assert math.isclose(d.loss, d.paid_back - d.gain, abs_tol=1e-9)
    if d.crossing_step is not None:
        assert d.crossing_step > k


def test_budget_exhaustion_is_reported_honestly():
    from tests.strategies import HashedLM

    model = HashedLM(6, seed=5, scale=0.2, eos_bias=-40.0)
    d = diagnose(model, [], max_tokens=6, node_budget=5, beam=0)
    assert not d.proven_optimal
    assert d.bound >= d.best.decoded.total
    assert "budget ran out" in d.explanation


def test_diagnose_needs_some_search():
    with pytest.raises(InvalidInputError, match="node_budget"):
        diagnose(textbook_tree(), [], beam=0, node_budget=0)


def test_survey_counts_and_quantiles():
    s = survey_greedy(textbook_tree(), ["", "A", "B", ""], max_tokens=4)
    assert (s.prompts, s.greedy_not_best, s.proven) == (4, 2, 4)
    assert s.fraction_not_best == 0.5
    assert math.isclose(s.mean_loss, math.log(1.8))
    assert math.isclose(s.loss_quantiles[0.5], math.log(1.8))
    assert [r.diverge_step for r in s.rows] == [1, None, None, 1]
    assert np.isclose(s.rows[1].best_total, math.log(1 / 3))


def test_without_an_exact_search_the_bound_is_only_that_log_p_is_at_most_0():
    # before: bound = the best found total (-1.609 here), though B C <eos>
    # has -1.022: a false claim, and the text said the budget "ran out"
    result = diagnose(textbook_tree(), "", max_tokens=4, beam=1, node_budget=0)
    assert not result.proven_optimal
    assert result.bound == 0.0
    assert result.nodes_expanded == 0
    assert "No exact search was run" in result.explanation
    assert "ran out" not in result.explanation


@pytest.mark.parametrize("option", ["beam", "node_budget"])
@pytest.mark.parametrize("bad", [-1, 1.5, "2"])
def test_beam_and_budget_must_be_integers_of_at_least_0(option, bad):
    # before: beam=-1 was accepted when the exact search proved the result
    with pytest.raises(InvalidInputError, match=f"{option} must be an integer >= 0"):
        diagnose(textbook_tree(), "", **{option: bad})
