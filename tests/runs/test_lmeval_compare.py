"""compare_runs on the two fixture runs (two tiny GPT-2s under lm-eval
0.4.13): every figure against an independent reference -- counts from the
logged per-document metrics, scipy's binomtest, the rankings enumerated."""

import glob
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from seqscore.errors import DataFormatError
from seqscore.lmeval.comparison import paired_stderr, random_ranking
from seqscore.plackett_luce import ranking_log_likelihoods
from seqscore.runs.lmeval import compare_runs
from tests.strategies import pl_scores

FIXTURES = Path(__file__).parents[2] / "fixtures" / "lmeval"


def samples(run: str, task: str = "seqscore_mc_pmi") -> str:
    (path,) = glob.glob(str(FIXTURES / run / f"samples_{task}_2*.jsonl"))
    return path


def logged(path: str) -> dict[int, dict]:
    return {
        r["doc_id"]: r for r in map(json.loads, Path(path).read_text().splitlines())
    }


@pytest.fixture(scope="module")
def comparison():
    (c,) = compare_runs(samples("run_a"), samples("run_b"), resamples=2000, seed=11)
    return c


def test_counts_follow_the_logged_metrics(comparison):
    a, b = logged(samples("run_a")), logged(samples("run_b"))
    for m in comparison.metrics:
        if m.metric == "acc_bytes":  # not logged by this task
            continue
        only_a = sum(a[d][m.metric] > b[d][m.metric] for d in a)
        only_b = sum(a[d][m.metric] < b[d][m.metric] for d in a)
        assert (m.only_a, m.only_b) == (only_a, only_b)
        assert m.accuracy_a == np.mean([a[d][m.metric] for d in a])
        assert m.difference == pytest.approx(m.accuracy_a - m.accuracy_b, abs=1e-15)
        expected = scipy.stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
        assert m.p_value == pytest.approx(expected, rel=1e-12)
        flips = dict(comparison.flips)[m.metric]
        assert flips.total == only_a + only_b
    assert comparison.matched_by == "doc_id and doc_hash"


def test_the_interval_is_reproducible_from_its_seed(comparison):
    (again,) = compare_runs(samples("run_a"), samples("run_b"), resamples=2000, seed=11)
    assert again.metrics == comparison.metrics
    (other,) = compare_runs(samples("run_a"), samples("run_b"), resamples=2000, seed=12)
    assert other.metrics != comparison.metrics


def enumerated_random_ranking(scores):
    """E over all k! rankings of log P(ranking), by listing them."""
    scores = np.asarray(scores, dtype=float)
    rankings = np.array(list(itertools.permutations(range(len(scores)))))
    return ranking_log_likelihoods(scores, rankings).mean()


@given(pl_scores(2, 5, magnitude=30.0))
def test_the_random_ranking_baseline_is_the_mean_over_every_ranking(scores):
    got = random_ranking([tuple(scores)])[0]
    assert got == pytest.approx(enumerated_random_ranking(scores), rel=1e-9, abs=1e-9)


def test_plackett_luce_agreement_by_hand(comparison):
    a, b = logged(samples("run_a")), logged(samples("run_b"))

    def lls(record):
        k = len(record["doc"]["choices"])
        return [float(ll) for ll, _ in record["filtered_resps"][:k]]

    b_under_a, a_under_a, random_a = [], [], []
    for d in a:
        sa, sb = np.array(lls(a[d])), np.array(lls(b[d]))
        b_under_a.append(
            ranking_log_likelihoods(sa, [np.argsort(-sb, kind="stable")])[0]
        )
        a_under_a.append(
            ranking_log_likelihoods(sa, [np.argsort(-sa, kind="stable")])[0]
        )
        random_a.append(enumerated_random_ranking(sa))
        assert scipy.stats.kendalltau(sa, sb).statistic is not None
    r = comparison.ranking
    assert r.pl_b_given_a == pytest.approx(np.mean(b_under_a))
    assert r.pl_a_given_a == pytest.approx(np.mean(a_under_a))
    assert r.pl_random_a == pytest.approx(np.mean(random_a))
    expected = (np.mean(b_under_a) - np.mean(random_a)) / (
        np.mean(a_under_a) - np.mean(random_a)
    )
    assert r.agreement_b_to_a == pytest.approx(expected)
    taus = [scipy.stats.kendalltau(lls(a[d]), lls(b[d])).statistic for d in a]
    assert r.kendall_tau == pytest.approx(np.mean(taus))
    best = [np.argmax(lls(a[d])) == np.argmax(lls(b[d])) for d in a]
    assert r.top1 == np.mean(best)


def test_a_run_against_itself_agrees_completely():
    (c,) = compare_runs(samples("run_a"), samples("run_a"))
    assert c.ranking.agreement_b_to_a == pytest.approx(1.0)
    assert c.ranking.top1 == 1.0
    assert all(m.difference == 0 and m.p_value == 1.0 for m in c.metrics)


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_the_paired_stderr_is_the_sd_of_the_differences(b, c, same):
    n = b + c + same
    if n < 2:
        assert paired_stderr(b, c, n) is None
        return
    d = [1.0] * b + [-1.0] * c + [0.0] * same
    expected = float(np.std(d, ddof=1)) / math.sqrt(n)
    assert paired_stderr(b, c, n) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def write(path: Path, records) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return str(path)


def test_runs_over_different_documents_are_an_error_listing_them(tmp_path):
    records = list(logged(samples("run_b")).values())
    records[3]["doc_hash"] = "0" * 64
    b = write(
        tmp_path / "samples_seqscore_mc_pmi_2026-01-01T00-00-00.jsonl", records[1:]
    )
    with pytest.raises(DataFormatError) as caught:
        compare_runs(samples("run_a"), b)
    message = str(caught.value)
    assert "do not hold the same documents" in message
    assert "1 doc_id only in A (0)" in message
    assert "1 with another doc_hash (3)" in message


def test_runs_of_two_tasks_are_an_error():
    with pytest.raises(DataFormatError, match="compare runs of one task"):
        compare_runs(samples("run_a", "seqscore_mc"), samples("run_b"))


def test_a_repeated_doc_id_is_an_error(tmp_path):
    records = list(logged(samples("run_b")).values())
    b = write(
        tmp_path / "samples_seqscore_mc_pmi_2026-01-01T00-00-00.jsonl",
        [*records, records[0]],
    )
    with pytest.raises(DataFormatError, match="appear more than once"):
        compare_runs(samples("run_a"), b)
