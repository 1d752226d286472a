r"""The per-stage quantities shared by the likelihood and its derivatives.

A ranking is a sequence of choices ("stages"). At stage ``r`` of ranking ``i``
the item at position ``r`` is chosen from the *choice set*: the listed items
from position ``r`` on, plus the ranking's unlisted universe ``U_i``. With
``x_r = s[order[r]]`` the stage's log-denominator is

.. math:: D_r = \log\Big(\sum_{j \ge r} e^{x_j} + \sum_{k \in U_i} e^{s_k}\Big),

and the choice probability of item ``j`` in it is ``p_r(j) = exp(s_j - D_r)``.
Everything the derivatives need is a cumulative sum over stages, taken in the
log domain so that no quantity over- or underflows whatever the scores:

* ``C_q = log sum_{r <= q} exp(-D_r)``: the expected number of times the item
  at position ``q`` is chosen is ``exp(x_q + C_q)`` (each term <= 1);
* ``F_q = log sum_{r <= q} exp(-2 D_r)``: the second moments, for the Hessian.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from seqscore.numerics._normaliser import log_normaliser, merge_rests, rest_sum
from seqscore.numerics.softmax import logsumexp
from seqscore.plackett_luce._cumulative import log_cumsum_exp, shifted_cumsum_exp
from seqscore.plackett_luce._rankings import RankingSet

__all__ = ["Choices", "Stages", "last_stage_values", "masked_column_logsumexp"]

# Widest score gap (nats) that a stage's rest is taken across directly: its
# exponentials stay finite with room for 10**26 terms (exp(650) = 2e282).
_WIDEST = 650.0


def masked_column_logsumexp(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    r""":math:`\log \sum_{i : mask_{ik}} e^{values_i}` for every column ``k``.

    >>> masked_column_logsumexp(np.array([[True, False], [True, False]]),
    ...                         np.array([0.0, 0.0])).tolist()
    [0.6931471805599453, -inf]
    """
    return logsumexp(np.where(mask, values[:, None], -np.inf), axis=0)


def masked_row_logsumexp(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    r""":math:`\log \sum_{k : mask_{ik}} e^{values_k}` for every row ``i``."""
    return logsumexp(np.where(mask, values[None, :], -np.inf), axis=1)


def _grown_stage_log_probabilities(x: np.ndarray, universe) -> np.ndarray:
    r"""``x_r - D_r`` for every position of the rankings (columns) of ``x``,
    from choice sets grown item by item, whatever the spread of the scores.

    From the last position back, each suffix :math:`\{x_r, x_{r+1}, ...\}`
    is its own maximum and the rest relative to it, merged with
    :func:`merge_rests` (so no term is ever taken relative to a maximum far
    above it), then merged with the universe's ``(c_U, s_U)`` into stage
    ``r``'s choice set: the log-probability is :math:`(x_r - m) -
    \operatorname{log1p}(s)`. One pass of a few vector operations per
    position; NaN past a ranking's end.

    >>> x = np.array([[0.0], [-740.0], [-741.0]])  # -log1p(e^-740 + e^-741), ...
    >>> _grown_stage_log_probabilities(x, None).ravel().tolist()
    [-5.73e-322, -0.31326168751822286, 0.0]
    """
    count = x.shape[1]
    peak, rest = np.full(count, -np.inf), np.full(count, -1.0)  # nothing after
    if universe is None:
        universe = (np.full(count, -np.inf), np.full(count, -1.0))
    out = np.empty_like(x)
    for r in range(x.shape[0] - 1, -1, -1):
        here = x[r]
        grown = merge_rests(here, np.where(np.isfinite(here), 0.0, -1.0), peak, rest)
        peak, rest = grown.peak, grown.rest
        choice = merge_rests(peak, rest, *universe)
        with np.errstate(invalid="ignore", divide="ignore"):  # padding: -inf - -inf
            out[r] = (here - choice.peak) - log_normaliser(choice.rest)
    return out


@dataclass(frozen=True)
class Stages:
    """Scores ``s`` seen through rankings ``rs``: the choice sets, their
    log-denominators and the cumulative sums over them; every field is
    ``(L, N)``. What the choices made say about the scores (likelihood,
    gradient) is :attr:`choices`.

    Quantities are computed on first use and kept.
    """

    s: np.ndarray
    rs: RankingSet

    @cached_property
    def valid(self) -> np.ndarray | None:
        """Real (unpadded) positions, or ``None`` when nothing is padded."""
        return self.rs.position_valid()

    @cached_property
    def x(self) -> np.ndarray:
        """The score of the item at each position; ``-inf`` past the end."""
        x = self.s[self.rs.order]
        if self.valid is not None:
            x[~self.valid] = -np.inf
        return x

    @cached_property
    def stage(self) -> np.ndarray:
        """Which positions are stages (a choice was made there)."""
        rows = np.arange(self.rs.order.shape[0])[:, None]
        return rows < self.rs.stage_count()[None, :]

    @cached_property
    def full_stage_rows(self) -> int | None:
        """When the stages are exactly the first ``k`` rows of every ranking,
        ``k`` (the common, unpadded case); otherwise ``None``."""
        if self.valid is not None:
            return None
        length = self.rs.order.shape[0]
        return length - 1 if self.rs.unranked is None else length

    @cached_property
    def unranked_parts(self) -> tuple[np.ndarray, np.ndarray] | None:
        r"""``(c, s)`` per ranking: the top score ``c`` of the unlisted universe
        ``U_i`` and the rest ``s`` of its normaliser, :math:`\sum_{k \in U_i}
        e^{s_k - c} = 1 + s` (:func:`rest_sum`); ``(-inf, -1)`` for an empty
        universe, ``None`` without one."""
        if self.rs.unranked is None:
            return None
        values = np.where(self.rs.unranked, self.s[None, :], -np.inf)
        top = np.argmax(values, axis=1, keepdims=True)
        peak = np.take_along_axis(values, top, axis=1)
        shift = np.where(np.isneginf(peak), 0.0, peak)
        rest = rest_sum(np.exp(values - shift), top, axis=1)
        return peak[:, 0], rest[:, 0]

    @cached_property
    def log_unranked(self) -> np.ndarray | None:
        """``log sum_{k in U_i} e^{s_k}`` per ranking (``None``: no universe)."""
        if self.unranked_parts is None:
            return None
        peak, rest = self.unranked_parts
        return peak + log_normaliser(rest)  # -inf + -inf for an empty universe

    @cached_property
    def suffix_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""``(c, P, e)``: each ranking's top listed score, the suffix sums
        :math:`P_r = \sum_{j \ge r} e_j` (:func:`shifted_cumsum_exp`) and
        their terms :math:`e_r = e^{x_r - c}`."""
        return shifted_cumsum_exp(self.x, reverse=True, keep_terms=True)

    @cached_property
    def log_denominator(self) -> np.ndarray:
        """``D_r``; meaningful at stages only."""
        peak, partial, _ = self.suffix_parts
        suffix = log_cumsum_exp(
            self.x, reverse=True, needed=self.valid, parts=(peak, partial)
        )
        if self.log_unranked is None:
            return suffix
        return np.logaddexp(suffix, self.log_unranked[None, :])

    def stage_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum ``values`` (``(L, N)``) over the stages of each ranking."""
        rows = self.full_stage_rows
        if rows is not None:
            return values[:rows].sum(axis=0)
        return np.where(self.stage, values, 0.0).sum(axis=0)

    def cumulative_over_stages(self, log_terms: np.ndarray) -> np.ndarray:
        """``log sum_{r <= q, r a stage} exp(log_terms_r)`` at every ``q``."""
        terms = np.where(self.stage, log_terms, -np.inf)
        has_stage = (self.rs.stage_count() > 0)[None, :]
        needed = has_stage if self.valid is None else has_stage & self.valid
        return log_cumsum_exp(terms, needed=np.broadcast_to(needed, terms.shape))

    @cached_property
    def log_inverse_sum(self) -> np.ndarray:
        """``C_q = log sum_{r <= q} exp(-D_r)``."""
        return self.cumulative_over_stages(-self.log_denominator)

    @cached_property
    def log_inverse_square_sum(self) -> np.ndarray:
        """``F_q = log sum_{r <= q} exp(-2 D_r)``."""
        return self.cumulative_over_stages(-2.0 * self.log_denominator)

    @cached_property
    def weights(self) -> np.ndarray:
        if self.rs.weights is None:
            return np.ones(self.rs.n_rankings)
        return self.rs.weights

    def scatter(self, values: np.ndarray) -> np.ndarray:
        """Sum ``(L, N)`` per-position ``values`` into one entry per item."""
        if self.valid is None:
            items, flat = self.rs.order.ravel(), values.ravel()
        else:
            items, flat = self.rs.order[self.valid], values[self.valid]
        out = np.bincount(items, weights=flat, minlength=self.rs.n_items)
        return out.astype(np.float64, copy=False)  # bincount of nothing is int

    @cached_property
    def choices(self) -> Choices:
        """What the choices made at these stages say about the scores."""
        return Choices(self)


@dataclass(frozen=True)
class Choices:
    """What the choices made at a ranking set's stages say about the scores:
    each stage's surprisal, the log-likelihood, and per item the (weighted)
    wins, expected choices and their difference, the gradient.

    Quantities are computed on first use and kept; reach it as
    :attr:`Stages.choices`, so that every user of one scoring shares them.
    """

    stages: Stages

    @cached_property
    def stage_surprisals(self) -> np.ndarray:
        r"""``D_r - x_r >= 0``, minus the log-probability of each stage's choice.

        Never as that difference: a choice that was all but certain would
        lose its tiny surprisal (0 for scores ``[0, -40]`` instead of
        ``4.2e-18``). With the rest of the choice set taken relative to the
        chosen item,

        .. math:: \rho_r = \sum_{j > r} e^{x_j - x_r}
                  + \sum_{k \in U} e^{s_k - x_r}
                  = \frac{P_{r+1}}{e_r} + (1 + s_U)\, e^{c_U - x_r},

        the surprisal is :math:`\operatorname{log1p}(\rho_r)`
        (:mod:`seqscore.numerics._normaliser`): the suffix sums :math:`P`, their terms
        :math:`e_r = e^{x_r - c}` and the universe's normaliser are sums of
        positive terms, each one ``exp`` of a difference of scores, so nothing
        is lost to a rounded logarithm. Rankings whose scores span more than
        :data:`_WIDEST` nats (a suffix sum may have underflowed, or a term be
        subnormal) are redone by :func:`_grown_stage_log_probabilities`,
        slower and as exact. Meaningful at stages only.
        """
        _, partial, terms = self.stages.suffix_parts
        rest = np.zeros_like(partial)  # nothing after the last position
        # padding (0 / 0) and wide rankings (redone below) may overflow or NaN
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            np.divide(partial[1:], terms[:-1], out=rest[:-1])
            if self.stages.unranked_parts is not None:
                # the universe relative to each chosen item in one exp: taken
                # relative to the peak first, e^(c_U - c) may be subnormal
                # (and lose bits) though its quotient by e_r is not
                top, normaliser = self.stages.unranked_parts
                rest += (1.0 + normaliser) * np.exp(top - self.stages.x)
        surprisal = log_normaliser(rest)
        redo = np.flatnonzero(_wide(self.stages) & (self.stages.rs.stage_count() > 0))
        if len(redo):
            universe = None
            if self.stages.unranked_parts is not None:
                universe = tuple(part[redo] for part in self.stages.unranked_parts)
            grown = _grown_stage_log_probabilities(self.stages.x[:, redo], universe)
            surprisal[:, redo] = -grown
        return surprisal

    @cached_property
    def log_likelihood_terms(self) -> np.ndarray:
        """Per-ranking log-probabilities ``sum_r x_r - D_r`` (unweighted).

        Summed stage by stage: every term is <= 0, so nothing cancels.
        """
        return 0.0 - self.stages.stage_sum(self.stage_surprisals)  # +0.0, never -0.0

    @cached_property
    def log_likelihood(self) -> float:
        """The weighted log-likelihood."""
        terms = self.log_likelihood_terms
        if self.stages.rs.weights is None:
            return float(terms.sum())
        return float(terms @ self.stages.rs.weights)

    @cached_property
    def wins(self) -> np.ndarray:
        """Weighted number of times each item is chosen (``(n,)``)."""
        stages = self.stages
        return stages.scatter(np.where(stages.stage, stages.weights, 0.0))

    @cached_property
    def expected_choices(self) -> np.ndarray:
        r"""Expected number of times each item is chosen, :math:`\sum w\,p_r(k)`.

        A listed item at position ``q`` is in the choice sets of stages
        ``0..q``: ``sum_{r <= q} exp(x_q - D_r) = exp(x_q + C_q)``; an
        unlisted universe item is in every stage's set.
        """
        w = self.stages.weights
        with np.errstate(invalid="ignore"):
            listed = np.exp(self.stages.x + self.stages.log_inverse_sum) * w
        out = self.stages.scatter(np.where(self.stages.rs.order >= 0, listed, 0.0))
        if self.stages.rs.unranked is not None:
            last = last_stage_values(self.stages.rs, self.stages.log_inverse_sum)
            with np.errstate(divide="ignore"):
                log_w = np.log(w)
            column = masked_column_logsumexp(self.stages.rs.unranked, log_w + last)
            out += np.exp(self.stages.s + column)
        return out

    @cached_property
    def gradient(self) -> np.ndarray:
        """Gradient of the log-likelihood: wins minus expected choices."""
        return self.wins - self.expected_choices


def last_stage_values(rs: RankingSet, values: np.ndarray) -> np.ndarray:
    """``values[stage_count - 1, i]`` per ranking, ``-inf`` with no stage."""
    count = rs.stage_count()
    if values.shape[0] == 0:
        return np.full(values.shape[1], -np.inf)
    rows = np.maximum(count - 1, 0)
    picked = values[rows, np.arange(values.shape[1])]
    return np.where(count > 0, picked, -np.inf)


def _wide(st: Stages) -> np.ndarray:
    """Rankings whose scores (and universe's) span more than _WIDEST nats.

    Within it every term is >= e^-650: no suffix sum has lost terms to
    underflow (TRUSTED_PARTIAL_SUM is e^-700) and no quotient overflows.
    """
    peak = st.suffix_parts[0]
    lowest = _lowest_listed(st)
    wide = peak - lowest > _WIDEST
    if st.unranked_parts is not None:
        wide |= st.unranked_parts[0] - lowest > _WIDEST
    return wide


def _lowest_listed(st: Stages) -> np.ndarray:
    """Each ranking's lowest listed score (``+inf`` when none is listed)."""
    listed = st.x if st.valid is None else np.where(st.valid, st.x, np.inf)
    return listed.min(axis=0, initial=np.inf)
