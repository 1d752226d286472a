r"""Bugs of alignment: which positions score which tokens, and where they stop.

The logits at position :math:`p` predict token :math:`p + 1`, so the
continuation :math:`x_{c} \ldots x_{L-1}` is scored by positions
:math:`c - 1 \ldots L - 2` (the window :math:`W`). Each hypothesis here moves
one end of that window or pairs positions with the wrong tokens;
:math:`\lambda_p(v) = z_p[v] - \mathrm{lse}(z_p)` is the log-probability of
token :math:`v` at position :math:`p`.

End of sequence: the data hold no EOS marker, so the two EOS bugs are
defined with what is there. *EOS dropped*: the continuation's last token is
the EOS and the pipeline left it out (the last term of the window is
missing). *EOS appended*: the pipeline scored one more token, an EOS id
``e``, with the logits at the last position :math:`L - 1` (which a correct
scorer never reads); ``e`` is given (``eos_id``) or fitted: the id that
accounts for every candidate's difference at once.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from seqscore.audit.hypothesis import (
    Context,
    Evaluation,
    Hypothesis,
    additive,
    logprob_terms,
    window,
)
from seqscore.audit.noise import Prediction, compare
from seqscore.audit.steps import EOS_NEAREST, release

__all__ = ["HYPOTHESES"]


def _own_token(ctx: Context, start: int, stop: int) -> Evaluation:
    table = ctx.table
    terms, errors = logprob_terms(table.own_logit, table.lse, ctx.run.vocab)
    return Evaluation(additive(terms, errors, window(ctx.run, start, stop), ctx.mean))


def _off_by_one_late(ctx: Context) -> Evaluation:
    return _own_token(ctx, 1, 1)


def _off_by_one_targets(ctx: Context) -> Evaluation:
    return _own_token(ctx, 0, 0)


def _off_by_one_early(ctx: Context) -> Evaluation:
    table, run = ctx.table, ctx.run
    terms, errors = logprob_terms(table.skip_logit, table.lse, run.vocab)
    prediction = additive(terms, errors, window(run, -1, -1), ctx.mean)
    possible = run.n_context >= 2
    note = "" if possible.all() else "not applicable to prompts of one token"
    return Evaluation(
        Prediction(
            prediction.values,
            prediction.magnitude,
            evaluated=prediction.mask() & possible,
        ),
        note=note,
        not_applicable=~possible,
    )


def _prompt_included(ctx: Context) -> Evaluation:
    table, run = ctx.table, ctx.run
    terms, errors = logprob_terms(table.next_logit, table.lse, run.vocab)
    mask = np.arange(run.width)[None, :] <= (run.lengths - 2)[:, None]
    return Evaluation(additive(terms, errors, mask, ctx.mean))


def _eos_dropped(ctx: Context) -> Evaluation:
    table = ctx.table
    terms, errors = logprob_terms(table.next_logit, table.lse, ctx.run.vocab)
    return Evaluation(additive(terms, errors, window(ctx.run, 0, -1), ctx.mean))


def _eos_appended(ctx: Context) -> Evaluation:
    table, run = ctx.table, ctx.run
    if table.eos_given:
        given = int(table.eos_ids[0, 0])
        return Evaluation(_appended(ctx, table.eos_logprobs[:, 0]), float(given))
    eos = _most_voted(ctx)
    if eos is None:
        nothing = np.full(run.n, np.nan)
        return Evaluation(
            Prediction(nothing, nothing, evaluated=np.zeros(run.n, bool)),
            note="no EOS id could be fitted (no finite reported number)",
        )
    logprobs, ruled_out = _eos_logprobs(ctx, eos)
    prediction = _appended(ctx, logprobs)
    fitted = compare(prediction, run.reported, ctx.noise).within.sum()
    note = f"EOS id fitted: {eos} (explains {fitted} of {run.n} candidates"
    if ruled_out:
        note += (
            f"; for {ruled_out} more, {EOS_NEAREST} other ids come closer to the "
            "required value and none is close enough, so it cannot explain them"
        )
    return Evaluation(prediction, float(eos), note + ")", fitted=1)


def _most_voted(ctx: Context) -> int | None:
    """The id that explains the most candidates, among each candidate's
    nearest ids (ties: the smaller id); if none explains any, the nearest id
    most candidates share (so the note can say how far it falls short).

    Counting nearness alone would let every candidate vote for all its
    ``EOS_NEAREST`` ids: with fewer ids than that in the vocabulary, or a few
    candidates, the vote ties and the smallest id wins, right or not.
    """
    ids = ctx.table.eos_ids
    total = _window_sum(ctx)  # the same for every id tried
    fits: Counter = Counter()
    for j in range(ids.shape[1]):
        prediction = _appended(ctx, ctx.table.eos_logprobs[:, j], total)
        within = compare(prediction, ctx.run.reported, ctx.noise).within
        fits.update(int(v) for v in ids[within & (ids[:, j] >= 0), j])
    votes = fits or Counter(int(v) for row in ids for v in set(row.tolist()) if v >= 0)
    if not votes:
        return None
    return min(votes, key=lambda v: (-votes[v], v))


def _eos_logprobs(ctx: Context, eos: int) -> tuple[np.ndarray, int]:
    r""":math:`\lambda_{L-1}(e)` per candidate, and how many were ruled out unread.

    Known from the pass where ``e`` is among the candidate's nearest ids.
    Elsewhere ``e`` lies farther from the required value than all of them;
    when even the farthest of those is outside tolerance, ``e`` cannot
    explain the candidate and its log-prob is left unread (NaN): a read is a
    random access into the file, and for a wrong ``e`` there would be one per
    candidate. Otherwise the one logit is read.
    """
    table, run = ctx.table, ctx.run
    hits = table.eos_ids == eos
    known = hits.any(axis=1)
    out = np.where(known, np.where(hits, table.eos_logprobs, 0).sum(axis=1), np.nan)
    hopeless = ~known & _beyond_tolerance(ctx, table.eos_logprobs[:, -1])
    for i in np.flatnonzero(~known & ~hopeless).tolist():
        last = int(run.lengths[i]) - 1
        out[i] = float(run.rows(i)[last, eos]) - table.lse[i, last]
        release(run, i)  # a fault maps the pages around it too
    return out, int(hopeless.sum())


def _beyond_tolerance(ctx: Context, farthest: np.ndarray) -> np.ndarray:
    """Would an EOS log-prob at least as far off as ``farthest`` miss, surely?

    The tolerance barely depends on the log-prob itself; twice the tolerance
    computed at ``farthest`` covers that dependence.
    """
    stand_in = _appended(ctx, farthest)
    residuals = compare(stand_in, ctx.run.reported, ctx.noise)
    with np.errstate(invalid="ignore"):
        return residuals.residual > 2 * residuals.tolerance


def _window_sum(ctx: Context) -> Prediction:
    """:math:`S`, the plain sum over the continuation (no EOS, no mean)."""
    terms, errors = logprob_terms(ctx.table.next_logit, ctx.table.lse, ctx.run.vocab)
    return additive(terms, errors, window(ctx.run), mean=False)


def _appended(ctx: Context, eos_logprob: np.ndarray, total=None) -> Prediction:
    r""":math:`(S + \lambda_{L-1}(e)) [/(n+1)]`: the EOS as one more window term.

    ``total``: :func:`_window_sum`, when the caller tries several EOS ids.
    """
    table, run = ctx.table, ctx.run
    last = run.lengths - 1
    lse_last = table.lse[np.arange(run.n), last]
    _, extra_error = logprob_terms(eos_logprob + lse_last, lse_last, run.vocab)
    total = _window_sum(ctx) if total is None else total
    with np.errstate(invalid="ignore"):
        values = total.values + eos_logprob
    magnitude = total.magnitude + extra_error + np.abs(values)
    if ctx.mean:
        count = run.continuation_lengths + 1
        values = values / count
        magnitude = magnitude / count + np.abs(values)
    return Prediction(values, magnitude, evaluated=~np.isnan(eos_logprob))


HYPOTHESES = (
    Hypothesis(
        "off_by_one_late",
        "off by one (late): each continuation token scored by the logits at its "
        "own position, which have already seen it (logits not shifted)",
        "sum_{p=c..L-1} lambda_p(x_p) [/n]",
        _off_by_one_late,
    ),
    Hypothesis(
        "off_by_one_targets",
        "off by one (targets not shifted): the scored positions' logits paired "
        "with the tokens at those same positions, so the last prompt token is "
        "scored and the last continuation token is not",
        "sum_{p=c-1..L-2} lambda_p(x_p) [/n]",
        _off_by_one_targets,
    ),
    Hypothesis(
        "off_by_one_early",
        "off by one (early): each continuation token scored by the logits two "
        "positions back",
        "sum_{p=c-2..L-3} lambda_p(x_{p+2}) [/n]",
        _off_by_one_early,
    ),
    Hypothesis(
        "prompt_included",
        "prompt tokens included in the continuation's score",
        "sum_{p=0..L-2} lambda_p(x_{p+1}) [/(L-1)]",
        _prompt_included,
    ),
    Hypothesis(
        "eos_dropped",
        "end-of-sequence token dropped: the continuation's last token (taken as "
        "the EOS) left out of the score",
        "sum_{p=c-1..L-3} lambda_p(x_{p+1}) [/(n-1)]",
        _eos_dropped,
    ),
    Hypothesis(
        "eos_appended",
        "end-of-sequence token included: an EOS id e scored by the logits at the "
        "last position",
        "(S + lambda_{L-1}(e)) [/(n+1)]",
        _eos_appended,
        parameter="eos_id",
    ),
)
