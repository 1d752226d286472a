#!/usr/bin/env python3
"""Benchmark the Plackett-Luce layer against references measured in the same run.

(a) ``fit`` vs ``choix.ilsr_rankings`` on 1,000 items and 10,000 rankings of
    10 items (sub-rankings sampled from known worths): time, and both
    estimates' log-likelihood under seqscore's ``log_likelihood`` on the
    mean-zero scale. Target: >= 10x faster, log-likelihood at least as high.
(b) The same on the NASCAR 2002 races (fixtures/nascar2002.txt). Target: no
    slower than choix.
(c) ``log_likelihood`` of 1,000,000 rankings of 10 items vs
    ``scipy.special.logsumexp(a, axis=1)`` on a (1,000,000, 10) array.
    Target: within 3x.

Times are the best of ``--repeat`` runs. Needs ``pip install choix`` (for the
benchmark only; seqscore does not depend on it).

Run from the repository root:  python bench/bench_plackett_luce.py
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import scipy
import scipy.special

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seqscore.formats.rankings import read_rankings  # noqa: E402
from seqscore.plackett_luce import fit, log_likelihood  # noqa: E402

try:
    import choix
except ImportError:  # pragma: no cover - the benchmark needs it
    sys.exit("bench_plackett_luce needs choix: pip install choix")


def best_time(function, repeat: int):
    """``(best seconds, last result)`` over ``repeat`` calls."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def synthetic(seed: int, n_items: int, n_rankings: int, length: int):
    """Sub-rankings of random ``length``-subsets, drawn from known worths."""
    rng = np.random.default_rng(seed)
    worth = rng.normal(size=n_items)
    subsets = np.argsort(rng.random((n_rankings, n_items)), axis=1)[:, :length]
    keys = worth[subsets] + rng.gumbel(size=subsets.shape)  # Gumbel-max trick
    return np.take_along_axis(subsets, np.argsort(-keys, axis=1), axis=1)


def compare_fits(name, rankings, n_items, repeat):
    as_lists = [tuple(int(i) for i in row[row >= 0]) for row in rankings]
    ours_s, ours = best_time(lambda: fit(rankings, n_items, universe="listed"), repeat)
    choix_s, params = best_time(lambda: choix.ilsr_rankings(n_items, as_lists), repeat)
    ll_choix = log_likelihood(params - params.mean(), rankings, universe="listed")
    # Standard errors are computed on first access (an O(n^3) inverse): time
    # the fit with them too, for a fair picture of what the CLI pays.
    with_se_s, _ = best_time(
        lambda: fit(rankings, n_items, universe="listed").stderr, repeat
    )
    print(f"\n({name}) {len(rankings)} rankings of {n_items} items")
    print(
        f"  seqscore fit        {ours_s:8.3f} s  "
        f"log-likelihood {ours.log_likelihood:.6f}"
        f"  ({ours.n_iter} iterations, converged={ours.converged})"
    )
    print(f"  seqscore fit+stderr {with_se_s:8.3f} s")
    print(f"  choix.ilsr_rankings {choix_s:8.3f} s  log-likelihood {ll_choix:.6f}")
    print(
        f"  speed-up {choix_s / ours_s:.1f}x ({choix_s / with_se_s:.1f}x with "
        f"standard errors); log-likelihood ours - choix = "
        f"{ours.log_likelihood - ll_choix:+.3g}"
    )
    return choix_s / ours_s, ours.log_likelihood - ll_choix


def compare_log_likelihood(repeat):
    rng = np.random.default_rng(1)
    n_items, n_rankings, length = 1000, 1_000_000, 10
    scores = rng.normal(size=n_items)
    rankings = np.argsort(rng.random((n_rankings // 1000, n_items)), axis=1)[:, :length]
    rankings = np.tile(rankings, (1000, 1))
    dense = rng.normal(size=(n_rankings, length))
    ours_s, value = best_time(
        lambda: log_likelihood(scores, rankings, universe="listed"), repeat
    )
    scipy_s, _ = best_time(lambda: scipy.special.logsumexp(dense, axis=1), repeat)
    print(f"\n(c) log_likelihood of {n_rankings:,} rankings of {length} items")
    print(f"  seqscore log_likelihood        {ours_s:8.3f} s  (value {value:.6g})")
    print(f"  scipy logsumexp (1e6, 10) ax=1 {scipy_s:8.3f} s")
    print(f"  ratio ours / logsumexp {ours_s / scipy_s:.2f}")
    return ours_s / scipy_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing")
    args = parser.parse_args()
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, choix {version('choix')}; "
        f"{os.cpu_count()} cores, load average {load[0]:.2f}; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    synthetic_rankings = synthetic(0, 1000, 10_000, 10)
    speed_a, gain_a = compare_fits("a", synthetic_rankings, 1000, args.repeat)
    races = read_rankings(str(ROOT / "fixtures" / "nascar2002.txt"))
    speed_b, gain_b = compare_fits(
        "b: NASCAR 2002", races.rankings, len(races.items), max(args.repeat, 20)
    )
    ratio_c = compare_log_likelihood(max(args.repeat, 3))
    print("\nTargets:")
    print(
        f"  (a) fit >= 10x faster than choix: {speed_a:.1f}x "
        f"[{'met' if speed_a >= 10 else 'NOT met'}]; log-likelihood >= choix: "
        f"{gain_a:+.3g} [{'met' if gain_a >= -1e-6 else 'NOT met'} (to 1e-6 nats)]"
    )
    print(
        f"  (b) NASCAR no slower than choix: {speed_b:.1f}x "
        f"[{'met' if speed_b >= 1 else 'NOT met'}]; log-likelihood diff {gain_b:+.3g}"
    )
    print(
        f"  (c) log_likelihood within 3x of logsumexp: {ratio_c:.2f}x "
        f"[{'met' if ratio_c <= 3 else 'NOT met'}]"
    )


if __name__ == "__main__":
    main()
