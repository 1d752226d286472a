"""The audit itself: one pass, every hypothesis, a verdict and its consequences.

Verdicts, decided in this order:

* ``"correct"`` -- the correct scores fit every candidate within tolerance.
  Bug hypotheses that fit as well are listed (the data cannot rule them
  out), and bugs whose predictions coincide with the correct scores on this
  data are listed as *untestable here* (e.g. ``prompt_included`` when every
  prompt has one token).
* ``"explained"`` -- the correct scores do not fit, and one or more bug
  hypotheses fit every candidate. All of them are reported: hypotheses that
  fit the same numbers cannot be told apart by these numbers. The ones
  without a fitted parameter come first, then by the worst residual relative
  to its tolerance.
* ``"unexplained"`` -- nothing fits; the closest hypotheses are reported
  with how many candidates each fits.

Consequences compare the top candidate each prompt gets from the reported
numbers (the first highest, as an ``argmax`` would pick) with the correct
top candidate; a pick within tolerance of the correct best is not counted as
a change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seqscore.audit import alignment, normalisation, precision, reduction, temperature
from seqscore.audit.hypothesis import Context, Evaluation, Hypothesis
from seqscore.audit.noise import NoiseModel, Prediction, compare, detect_noise
from seqscore.audit.run import PipelineRun
from seqscore.audit.steps import EosProbe, collect_steps
from seqscore.errors import InvalidInputError

__all__ = [
    "CORRECT",
    "AuditReport",
    "Consequences",
    "Flip",
    "HypothesisResult",
    "audit",
    "fitted_parameter",
    "hypotheses",
]

CORRECT = Hypothesis(
    "correct",
    "correct: the sum of the chosen tokens' log-probabilities (the mean per "
    "token when a mean was meant)",
    "sum_{p in W} (z_p[x_{p+1}] - lse(z_p)) [/n]",
    lambda ctx: Evaluation(ctx.correct),
)


def hypotheses(mean: bool = False) -> tuple[Hypothesis, ...]:
    """Every bug hypothesis, in report order, for an intended sum or mean.

    >>> [h.name for h in hypotheses()][:3]
    ['raw_logits', 'top_token', 'prob_product']
    >>> len(hypotheses())
    22
    """
    return (
        *normalisation.HYPOTHESES,
        *alignment.HYPOTHESES,
        *reduction.hypotheses(mean),
        *temperature.HYPOTHESES,
        *precision.HYPOTHESES,
    )


@dataclass(frozen=True)
class HypothesisResult:
    """How one hypothesis fits the reported numbers.

    ``residual`` statistics are over the candidates it was evaluated on;
    ``worst_ratio`` is the largest residual divided by its tolerance (<= 1
    for every candidate means it fits). ``predicted`` holds the prediction
    per candidate (NaN where not evaluated).
    """

    name: str
    title: str
    formula: str
    fits: bool
    n_evaluated: int
    n_within: int
    max_residual: float
    rms_residual: float
    worst_ratio: float
    worst_candidate: int | None
    parameter_name: str | None
    parameter: float | None
    same_as_correct: bool
    note: str
    predicted: np.ndarray
    tolerance: np.ndarray


@dataclass(frozen=True)
class Flip:
    """A prompt whose reported top candidate is not the correct top candidate."""

    group: str
    picked: str
    best: str
    loss: float  # correct score of the best minus that of the picked
    picked_reported: float
    best_reported: float
    picked_correct: float
    best_correct: float


@dataclass(frozen=True)
class Consequences:
    """What the reported numbers did to the ranking, prompt by prompt."""

    n_prompts: int  # prompts with two or more candidates
    n_changed: int  # whose top candidate differs under correct scoring
    n_tied: int  # whose reported top is a tie (the pick is then arbitrary)
    worst: tuple[Flip, ...]  # the changes that lose the most, worst first


@dataclass(frozen=True)
class AuditReport:
    """The verdict, every hypothesis's fit, and the consequences."""

    verdict: str
    summary: str
    explanations: tuple[HypothesisResult, ...]
    untestable: tuple[str, ...]
    hypotheses: tuple[HypothesisResult, ...]
    consequences: Consequences
    noise: NoiseModel
    reduction: str
    n_candidates: int
    n_prompts: int
    vocab: int
    correct: np.ndarray
    reported: np.ndarray

    @property
    def exit_code(self) -> int:
        """0 when the numbers are correct, 1 otherwise."""
        return 0 if self.verdict == "correct" else 1

    def result(self, name: str) -> HypothesisResult:
        """The result of the hypothesis called ``name``."""
        for item in self.hypotheses:
            if item.name == name:
                return item
        raise KeyError(name)


def audit(
    run: PipelineRun,
    *,
    reduction: str = "sum",
    eos_id: int | None = None,
    noise: NoiseModel | None = None,
    worst: int = 5,
    on_progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> AuditReport:
    """Which known bug, if any, explains ``run.reported``?

    ``reduction`` is what the pipeline meant to report (``"sum"`` or
    ``"mean"`` of the continuation's log-probabilities); ``eos_id`` the EOS
    token for the appended-EOS hypothesis (fitted when ``None``); ``noise``
    the tolerance model (detected from the reported numbers, and the
    storage their array declares, when ``None``).

    A pipeline that reported the per-token mean where the sum was meant:

    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(4, 5, 7))
    >>> ids = rng.integers(0, 7, size=(4, 5))
    >>> lengths, context = np.array([5, 4, 5, 3]), np.array([2, 1, 3, 1])
    >>> from seqscore.scoring.candidates import loglikelihood
    >>> sums = [loglikelihood(logits[i, :lengths[i]], ids[i, :lengths[i]],
    ...                       context[i]).logprob for i in range(4)]
    >>> reported = np.round(np.array(sums) / (lengths - context), 4)
    >>> report = audit(PipelineRun.from_arrays(logits, ids, lengths, context, reported))
    >>> report.verdict, report.explanations[0].name
    ('explained', 'mean_instead_of_sum')
    """
    if reduction not in ("sum", "mean"):
        raise InvalidInputError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    if eos_id is not None and not 0 <= int(eos_id) < run.vocab:
        raise InvalidInputError(
            f"eos_id = {eos_id} is outside the vocabulary [0, {run.vocab})"
        )
    mean = reduction == "mean"
    if noise is None:
        noise = detect_noise(run.reported, reported_dtype=run.reported_storage)
    probe = EosProbe(None if eos_id is None else int(eos_id), run.reported, mean)
    table = collect_steps(run, probe, on_progress=on_progress, workers=workers)
    correct = normalisation.correct_prediction(run, table, mean)
    ctx = Context(run, table, noise, mean, correct, workers)
    results = [_result(h, h.evaluate(ctx), ctx) for h in (CORRECT, *hypotheses(mean))]
    return _report(results, ctx, reduction, worst)


# ----------------------------------------------------------------- results


def _result(h: Hypothesis, evaluation: Evaluation, ctx: Context) -> HypothesisResult:
    prediction = evaluation.prediction
    residuals = compare(prediction, ctx.run.reported, ctx.noise)
    evaluated = residuals.evaluated
    checked = residuals.residual[evaluated]
    finite = checked[np.isfinite(checked)]
    ratio = residuals.ratio[evaluated]
    worst = int(np.flatnonzero(evaluated)[np.argmax(ratio)]) if ratio.size else None
    with np.errstate(over="ignore"):  # residuals of 1e300 make an infinite rms
        rms = float(np.sqrt(np.mean(finite**2))) if finite.size else float("nan")
    covered = evaluated
    if evaluation.not_applicable is not None:
        covered = evaluated | evaluation.not_applicable
    n_evaluated = int(evaluated.sum())
    enough = n_evaluated >= 2 and 2 * n_evaluated >= len(evaluated)
    fits = bool(
        covered.all()
        and (evaluated.all() or enough)
        and residuals.within[evaluated].all()
    )
    note = evaluation.note
    if fits and evaluated.sum() <= evaluation.fitted:
        fits = False  # a fitted parameter can match any one number
        note = (note + "; " if note else "") + "too few candidates to test a fit"
    return HypothesisResult(
        name=h.name,
        title=h.title,
        formula=h.formula,
        fits=fits,
        n_evaluated=int(evaluated.sum()),
        n_within=int(residuals.within.sum()),
        max_residual=float(checked.max()) if checked.size else float("nan"),
        rms_residual=rms,
        worst_ratio=float(ratio.max()) if ratio.size else float("nan"),
        worst_candidate=worst,
        parameter_name=h.parameter,
        parameter=evaluation.parameter,
        same_as_correct=h is not CORRECT and _coincides(prediction, ctx),
        note=note,
        predicted=np.where(evaluated, prediction.values, np.nan),
        tolerance=residuals.tolerance,
    )


def _coincides(prediction: Prediction, ctx: Context) -> bool:
    """The bug's predictions are within the correct scores' tolerance everywhere."""
    evaluated = prediction.mask()
    if not evaluated.any():
        return False
    agreement = compare(ctx.correct, prediction.values, ctx.noise)
    return bool(agreement.within[evaluated].all())


def _report(results, ctx: Context, reduction_name: str, worst: int) -> AuditReport:
    correct, bugs = results[0], results[1:]
    consistent = [
        r for r in bugs if r.fits and not (r.same_as_correct and correct.fits)
    ]
    consistent.sort(key=lambda r: (r.parameter_name is not None, r.worst_ratio))
    # a fitted hypothesis that lands on its identity (T = 1, alpha = 0) is not
    # untestable, its fit just found nothing; only parameter-free ones are
    untestable = tuple(
        r.name for r in bugs if r.same_as_correct and r.parameter_name is None
    )
    if correct.fits:
        verdict = "correct"
    elif consistent:
        verdict = "explained"
    else:
        verdict = "unexplained"
    run = ctx.run
    return AuditReport(
        verdict=verdict,
        summary=_summary(verdict, correct, consistent, bugs)
        + _nan_reports(run.reported),
        explanations=tuple(consistent),
        untestable=untestable,
        hypotheses=tuple(results),
        consequences=consequences(run, ctx.correct, ctx.noise, worst),
        noise=ctx.noise,
        reduction=reduction_name,
        n_candidates=run.n,
        n_prompts=len(run.group_names),
        vocab=run.vocab,
        correct=ctx.correct.values,
        reported=run.reported,
    )


def _summary(verdict, correct, consistent, bugs) -> str:
    if verdict == "correct":
        text = (
            "the numbers are correct: every reported score matches the correct "
            f"score within tolerance (max residual {correct.max_residual:.3g})"
        )
        if consistent:
            text += "; the data cannot rule out: " + ", ".join(
                r.name for r in consistent
            )
        return text
    if verdict == "explained":
        best = consistent[0]
        text = f"explained by {best.name}: {best.title}{_parameter(best)} " + (
            f"(max residual {best.max_residual:.3g}, all {best.n_evaluated} "
            "candidates within tolerance"
        )
        skipped = len(best.predicted) - best.n_evaluated
        if skipped:
            text += f"; {skipped} it does not apply to"
        text += ")"
        if len(consistent) > 1:
            others = ", ".join(r.name + _parameter(r) for r in consistent[1:])
            text += f"; these numbers fit equally: {others}"
        return text
    # more candidates evaluated wins a tie: a fit that skipped a candidate
    # (a NaN report) is not closer than a formula that faced it
    closest = max(
        [correct, *bugs], key=lambda r: (r.n_within, r.n_evaluated, -r.worst_ratio)
    )
    return (
        "no known bug explains these numbers; closest: "
        f"{closest.name}{_parameter(closest)} ({closest.n_within} of "
        f"{len(closest.predicted)} candidates within tolerance)"
    )


def _nan_reports(reported: np.ndarray) -> str:
    """A note on reported NaNs, which no formula produces (a fitted one can
    skip them, and so look closest while explaining nothing)."""
    nan = np.flatnonzero(np.isnan(reported))
    if not nan.size:
        return ""
    shown = ", ".join(str(int(i)) for i in nan[:5]) + (", ..." if nan.size > 5 else "")
    return (
        f"; {nan.size} reported number(s) are NaN (candidate {shown}): the "
        "pipeline produced no number there"
    )


def fitted_parameter(result: HypothesisResult) -> tuple[str, str] | None:
    """A hypothesis's fitted parameter as ``(name, value)`` text (an id as an
    integer, anything else to 4 significant digits), or None."""
    if result.parameter_name is None or result.parameter is None:
        return None
    if result.parameter_name == "eos_id":
        return "eos_id", str(int(result.parameter))
    return result.parameter_name, f"{result.parameter:.4g}"


def _parameter(result: HypothesisResult) -> str:
    fitted = fitted_parameter(result)
    return "" if fitted is None else " ({} = {})".format(*fitted)


# ------------------------------------------------------------ consequences


def consequences(
    run: PipelineRun, correct: Prediction, noise: NoiseModel, worst: int = 5
) -> Consequences:
    """Prompts whose reported top candidate is not the correct top candidate."""
    tolerance = noise.tolerance(correct)
    reported = np.where(np.isnan(run.reported), -np.inf, run.reported)
    flips, n_prompts, n_tied = [], 0, 0
    for g, name in enumerate(run.group_names):
        members = np.flatnonzero(run.group == g)
        if len(members) < 2:
            continue
        n_prompts += 1
        picked = members[int(np.argmax(reported[members]))]
        n_tied += int(np.sum(reported[members] == reported[picked]) > 1)
        best = members[int(np.argmax(correct.values[members]))]
        loss = correct.values[best] - correct.values[picked]
        if loss > tolerance[best] + tolerance[picked]:
            flips.append(_flip(run, name, picked, best, loss, correct.values))
    flips.sort(key=lambda f: -f.loss)
    return Consequences(n_prompts, len(flips), n_tied, tuple(flips[: max(worst, 0)]))


def _flip(run, name, picked, best, loss, values) -> Flip:
    return Flip(
        group=name,
        picked=run.ids[picked],
        best=run.ids[best],
        loss=float(loss),
        picked_reported=float(run.reported[picked]),
        best_reported=float(run.reported[best]),
        picked_correct=float(values[picked]),
        best_correct=float(values[best]),
    )
