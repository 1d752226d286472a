"""Existence of the maximum-likelihood estimate (Hunter's condition)."""

import numpy as np
from hypothesis import given

from seqscore.plackett_luce import estimability, fit, pad_rankings
from seqscore.plackett_luce.estimability import Estimability
from tests.strategies import padded_rankings


def test_a_cycle_is_estimable():
    report = estimability([[0, 1], [1, 2], [2, 0]], universe="listed")
    assert report == Estimability(True, (), (), (), ((0, 1, 2),), "")


def test_only_winners_only_losers_and_unseen_items():
    report = estimability(
        pad_rankings([[0, 1, 2], [0, 2, 1], [3]]),
        5,
        universe="listed",
        items=["ann", "bob", "cy", "dee", "eve"],
    )
    assert not report.estimable
    assert report.unbeaten == (0,)
    assert report.winless == (1, 2)  # they beat each other, but lose to 0
    assert report.uncompared == (3, 4)  # a one-item ranking compares nothing
    assert "log-worth is +inf: 'ann'" in report.message
    assert "log-worth is -inf: 'bob', 'cy'" in report.message
    assert "never compared with another item: 'dee', 'eve'" in report.message


def test_single_losers_and_losing_groups():
    rankings = [[0, 1, 2], [1, 0, 2], [0, 2, 3], [2, 0, 3]]
    report = estimability(rankings, universe="listed")
    assert (report.unbeaten, report.winless) == ((0, 1, 2), (3,))
    # The message names the odd one out, not the majority it is compared with.
    assert report.message.endswith(
        "1 item(s) never ranked above any item outside their own group (against "
        "the other 3 items), so their maximum-likelihood log-worth is -inf: 3"
    )
    # {0, 1} and {2, 3} each beat each other; {0, 1} always beats {2, 3}.
    report = estimability([[0, 1, 2, 3], [1, 0, 3, 2]])
    assert (report.unbeaten, report.winless) == ((0, 1), (2, 3))
    assert len(report.groups) == 1


def test_disconnected_groups():
    report = estimability([[0, 1], [1, 0], [2, 3], [3, 2], [4, 2]], universe="listed")
    assert [set(g) for g in report.groups] == [{2, 3, 4}, {0, 1}]
    assert "fall into 2 groups" in report.message
    assert report.unbeaten == (4,)  # 4 only ever beats 2


def test_top_k_unlisted_items_lose_to_the_listed_ones():
    # Top-1 rankings of 3 items: item 2 is never chosen, so it never wins.
    report = estimability([[0], [1], [0], [1]], 3, universe="all")
    assert report.winless == (2,)
    assert estimability([[0], [1], [2]], 3, universe="all").estimable


def test_zero_weight_rankings_compare_nothing():
    rankings = [[0, 1], [1, 0]]
    assert estimability(rankings).estimable
    assert estimability(rankings, weights=[1.0, 0.0]).unbeaten == (0,)


@given(padded_rankings(5, max_rankings=8))
def test_estimable_exactly_when_the_information_is_bounded(rankings):
    # With a vanishing L2 prior (variance 1e6) an estimable problem keeps
    # moderate standard errors, while a non-estimable one has a direction that
    # only the prior pins down: a runaway or unidentified item, stderr ~ 1e3.
    report = estimability(rankings, 5, universe="listed")
    weak = fit(rankings, 5, universe="listed", prior="l2", prior_strength=1e-6)
    assert (weak.stderr.max() < 100) == report.estimable
    if report.estimable:
        result = fit(rankings, 5, universe="listed")
        assert result.converged and np.isfinite(result.stderr).all()
