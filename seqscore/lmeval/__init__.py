"""lm-evaluation-harness runs: re-derive, check and compare their metrics.

One module per job:

* :mod:`.logged` -- what a run logged: its documents and its results file's
  figures (read by :mod:`seqscore.formats.lmeval` and
  :mod:`seqscore.formats.lmeval_results`);
* :mod:`.verdicts` -- :func:`judge`: each document's predictions under every
  normalisation, by lm-eval's rule, and the checks of what it logged;
* :mod:`.statistics` -- standard errors, bootstrap intervals, McNemar's
  exact test, Kendall's tau-b;
* :mod:`.tally` -- counts of judged documents, per chunk and merged;
* :mod:`.evaluation` -- per task, accuracies, disagreements, ties and the
  consistency of the run (:class:`TaskEvaluation`);
* :mod:`.comparison` -- two runs on the same documents (:class:`RunComparison`);
* reading the files: :func:`seqscore.runs.lmeval.evaluate` and
  :func:`seqscore.runs.lmeval.compare_runs`; their text, markdown and JSON:
  :mod:`seqscore.report.evaluation` and :mod:`seqscore.report.run_comparison`.
"""

import importlib
import warnings

__all__ = [
    "METRICS",
    "Judgements",
    "RunComparison",
    "TaskEvaluation",
    "judge",
]

# name -> module; loaded on first use (PEP 562): every reader of lm-eval files
# imports this package (for .logged), and the comparison's Plackett-Luce and
# scipy need not load with them
_EXPORTS = {
    "METRICS": "seqscore.lmeval.verdicts",
    "Judgements": "seqscore.lmeval.verdicts",
    "judge": "seqscore.lmeval.verdicts",
    "RunComparison": "seqscore.lmeval.comparison",
    "TaskEvaluation": "seqscore.lmeval.evaluation",
}

#: Names this package gave up in 0.2 for the runs floor, kept one release.
_MOVED = {"evaluate": "seqscore.runs.lmeval", "compare_runs": "seqscore.runs.lmeval"}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MOVED:
        # a deprecated path, not a dependency: the jobs that read files live
        # on the runs floor above this one, so the name is found by its string
        warnings.warn(
            f"seqscore.lmeval.{name} moved to {_MOVED[name]}.{name}; the old "
            "path goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        value = getattr(importlib.import_module(_MOVED[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # once: `from ... import` asks twice
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
