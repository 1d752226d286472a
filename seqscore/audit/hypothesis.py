r"""What a hypothesis is, and the sums most of them are made of.

A hypothesis is a named, exact formula for the number a pipeline reports
(see :mod:`seqscore.audit.catalogue`). Most are a reduction of per-step
terms over a window of positions: the *scored window* of candidate ``i`` is
:math:`W_i = \{p : c_i - 1 \le p \le L_i - 2\}` (the logits at ``p`` predict
token ``p + 1``), and a hypothesis shifts its ends or changes the term. The
reduction is the intended one (sum, or mean per token over the window) unless
the hypothesis is about the reduction itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seqscore.audit.noise import NoiseModel, Prediction
from seqscore.audit.run import PipelineRun
from seqscore.audit.steps import StepTable
from seqscore.numerics.shift import causal_window

__all__ = [
    "Context",
    "Evaluation",
    "Hypothesis",
    "additive",
    "logprob_terms",
    "window",
]


@dataclass(frozen=True)
class Context:
    """Everything a hypothesis may look at."""

    run: PipelineRun
    table: StepTable
    noise: NoiseModel
    mean: bool  # the intended reduction is the per-token mean
    correct: Prediction
    workers: int | None = None


@dataclass(frozen=True)
class Evaluation:
    """A hypothesis's prediction, its parameter and a note.

    ``fitted`` counts the parameters fitted to the reported numbers; a fit
    is evidence only when more candidates were checked than that.
    ``not_applicable`` marks candidates the bug's formula does not define
    (say, a one-token prompt for a window that starts two tokens back): they
    neither support nor contradict it, so a bug that fits every other
    candidate -- at least half of them, and two -- still explains the run.
    """

    prediction: Prediction
    parameter: float | None = None
    note: str = ""
    fitted: int = 0
    not_applicable: np.ndarray | None = None


@dataclass(frozen=True)
class Hypothesis:
    """A known way a pipeline goes wrong, as an exact formula.

    ``parameter`` names the fitted parameter (``None`` for none);
    ``evaluate`` computes the prediction for every candidate.
    """

    name: str
    title: str
    formula: str
    evaluate: Callable[[Context], Evaluation]
    parameter: str | None = None


def window(run: PipelineRun, start: int = 0, stop: int = 0) -> np.ndarray:
    """``(N, W)`` mask of positions ``c_i - 1 + start <= p <= L_i - 2 + stop``.

    >>> run = PipelineRun.from_arrays(np.zeros((1, 4, 2)), [[0, 1, 1, 0]], [4], [2],
    ...                               [0.0])
    >>> window(run).astype(int).tolist(), window(run, -1, 1).astype(int).tolist()
    ([[0, 1, 1, 0]], [[1, 1, 1, 1]])
    """
    p = np.arange(run.width)[None, :]
    rows, _ = causal_window(run.n_context, run.lengths)  # bounds of every row
    first = (rows.start + start)[:, None]
    last = (rows.stop - 1 + stop)[:, None]
    return (p >= np.maximum(first, 0)) & (p <= last)


def logprob_terms(logit: np.ndarray, normaliser: np.ndarray, vocab: float):
    r"""Terms :math:`a = z - \mathrm{lse}` and their error coefficients.

    A masked target (``z = -inf``) has log-prob ``-inf`` whatever the
    normaliser. The coefficient :math:`|z| + |\mathrm{lse}| + |a| + \log_2 V
    + 2` bounds a float log-softmax (subtract the max, sum ``V``
    exponentials, take the log, subtract), in units of the roundoff.
    """
    with np.errstate(invalid="ignore"):
        terms = np.where(np.isneginf(logit), -np.inf, logit - normaliser)
        errors = np.abs(logit) + np.abs(normaliser) + np.abs(terms)
    return terms, errors + np.log2(max(vocab, 2)) + 2


def additive(
    terms: np.ndarray, errors: np.ndarray, mask: np.ndarray, mean: bool
) -> Prediction:
    r"""The sum (or mean) of ``terms`` over ``mask``, with its error coefficient.

    :math:`M = \sum_p e_p + \sum_k |s_k|` for the sum (left-to-right
    accumulation adds the rounding of every partial sum :math:`s_k`); the
    mean divides by the count and adds one rounding. An empty window sums to
    0; its mean is undefined (not evaluated).

    >>> t = np.array([[-1.0, -2.0, np.nan]])
    >>> m = np.array([[True, True, False]])
    >>> p = additive(t, np.zeros_like(t), m, mean=False)
    >>> p.values.tolist(), p.magnitude.tolist()  # partial sums -1, -3
    ([-3.0], [4.0])
    >>> additive(t, np.zeros_like(t), m, mean=True).values.tolist()
    [-1.5]
    """
    inside = np.where(mask, terms, 0.0)
    total = inside.sum(axis=1)
    with np.errstate(invalid="ignore"):
        partial = np.where(mask, np.abs(np.cumsum(inside, axis=1)), 0.0)
    magnitude = np.where(mask, errors, 0.0).sum(axis=1) + partial.sum(axis=1)
    if not mean:
        return Prediction(total, magnitude)
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = total / count
        magnitude = magnitude / count + np.abs(values)
    return Prediction(values, magnitude, evaluated=count > 0)
