"""lm-evaluation-harness runs: re-derive, check and compare their metrics.

One module per job:

* :mod:`seqscore.formats.lmeval` and :mod:`seqscore.formats.lmeval_results`
  -- the readers of samples and results files;
* :mod:`.verdicts` -- :func:`judge`: each document's predictions under every
  normalisation, by lm-eval's rule, and the checks of what it logged;
* :mod:`.statistics` -- standard errors, bootstrap intervals, McNemar's
  exact test, Kendall's tau-b;
* :mod:`.tally` -- counts of judged documents, per chunk and merged;
* :mod:`.evaluate` -- :func:`evaluate`: per task, accuracies, disagreements,
  ties and the consistency of the run;
* :mod:`.compare` -- :func:`compare_runs`: two runs on the same documents;
* their text, markdown and JSON: :mod:`seqscore.report.evaluation` and
  :mod:`seqscore.report.run_comparison`.
"""

from .compare import RunComparison, compare_runs
from .evaluate import TaskEvaluation, evaluate
from .verdicts import METRICS, Judgements, judge

__all__ = [
    "METRICS",
    "Judgements",
    "RunComparison",
    "TaskEvaluation",
    "compare_runs",
    "evaluate",
    "judge",
]
