"""The options of the two lm-eval commands, ``evaluate`` and ``compare-runs``
(apart from :mod:`.options`: their defaults come from the statistics, which
the other commands need not import at start-up)."""

from __future__ import annotations

import click

from seqscore.commands.options import count_option, gathered
from seqscore.lmeval.evaluation import CONFIDENCE, RESAMPLES

__all__ = ["bootstrap_options", "task_option"]


def task_option():
    """``--task NAME``: the task of samples files whose names do not say it
    (lm-eval before 0.4.3 named them ``<model_args>_<task>.jsonl``)."""
    return click.option(
        "--task",
        metavar="NAME",
        help="The task of the samples [default: what each file's name says: "
        "samples_<task>_<date>.jsonl; before lm-eval 0.4.3, "
        "<model_args>_<task>.jsonl, read against its results file].",
    )


def bootstrap_options():
    """What ``seqscore evaluate`` and ``compare-runs`` take for the bootstrap
    intervals (``--resamples``, ``--seed``, ``--confidence``), the lists
    (``--listed``) and reading the samples (``--workers``), reaching the
    command as one argument, ``bootstrap``: the keywords of
    :func:`~seqscore.runs.lmeval.evaluate` and
    :func:`~seqscore.runs.lmeval.compare_runs` (:func:`_bootstrap_keywords`)."""
    return gathered(
        "bootstrap",
        _bootstrap_keywords,
        count_option(
            "--resamples",
            at_least=1,
            default=RESAMPLES,
            help="Bootstrap resamples.",
        ),
        count_option(
            "--seed",
            at_least=0,
            default=0,
            help="Seed of the bootstrap (numpy default_rng): the same seed gives "
            "the same intervals.",
        ),
        click.option(
            "--confidence",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=CONFIDENCE,
            help="Coverage of the bootstrap percentile intervals.",
        ),
        count_option(
            "--listed",
            at_least=0,
            default=20,
            help="Name at most this many documents per list (counts are complete).",
        ),
        count_option(
            "--workers",
            at_least=1,
            help="Processes that read the samples [default: every processor for "
            "files over 16 MB, else 1].",
        ),
    )


def _bootstrap_keywords(resamples, seed, confidence, listed, workers) -> dict:
    """The values of :func:`bootstrap_options` as keywords (no ``--workers``:
    ``"auto"``)."""
    return {
        "resamples": resamples,
        "seed": seed,
        "confidence": confidence,
        "listed": listed,
        "workers": workers or "auto",
    }
