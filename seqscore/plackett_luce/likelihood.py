r"""Plackett-Luce probabilities, log-likelihood, gradient and Hessian.

With scores (log-worths) ``s`` and worths ``w_i = exp(s_i)``, a ranking
``pi`` chosen from the set ``A`` has probability

.. math:: P(\pi) = \prod_{r} \frac{w_{\pi(r)}}{\sum_{j \in A_r} w_j},

where ``A_r`` is what is left of ``A`` after the first ``r`` choices: the
listed items from position ``r`` on plus, for a top-k ranking, every unlisted
item of ``A``. Scores are shift invariant (adding a constant to every score
changes nothing). Rankings are ``-1``-padded integer arrays; ``universe``
says what each ranking was chosen from (see :mod:`._rankings`).

Derivatives, with ``p_r`` the choice probabilities at stage ``r`` (the sums
run over stages and rankings, ``a`` is the item chosen at each stage):

.. math::

    \nabla_k = \sum [k = a] - p_r(k), \qquad
    H = -\sum \big(\mathrm{diag}(p_r) - p_r p_r^\top\big).

The log-likelihood is concave in ``s``; ``H`` is singular along the all-ones
direction (shift invariance).
"""

from __future__ import annotations

import numpy as np

from seqscore.errors import InvalidInputError, ShapeError
from seqscore.numerics.first_choice import selection_probabilities
from seqscore.plackett_luce._cumulative import log_cumsum_exp
from seqscore.plackett_luce._rankings import (
    RankingSet,
    check_scores,
    prepare,
    with_scores,
)
from seqscore.plackett_luce._scale import centred, compacted
from seqscore.plackett_luce._stages import (
    Stages,
    last_stage_values,
    masked_column_logsumexp,
    masked_row_logsumexp,
)

__all__ = [
    "gradient",
    "hessian",
    "hessian_vector_product",
    "log_likelihood",
    "ranking_log_likelihoods",
    "selection_probabilities",
]

# Listed pairs for the dense Hessian are accumulated this many at a time.
_PAIR_CHUNK = 1 << 22


def _stages(scores, rankings, universe, weights, scale=centred) -> Stages:
    """Stages of the checked scores moved by ``scale`` (:mod:`._scale`):
    centred for likelihoods, compacted where only the stage probabilities
    matter (gradient, Hessian)."""
    s = check_scores(scores)
    rs = prepare(rankings, s.shape[0], universe=universe, weights=weights)
    return Stages(scale(with_scores(rs, s)), rs)


def ranking_log_likelihoods(scores, rankings, *, universe=None) -> np.ndarray:
    r"""Log-probability of each ranking, :math:`\sum_r x_r - D_r` (shape ``(N,)``).

    ``rankings`` is an ``(N, L)`` int array, best first, padded with ``-1``
    (or a ragged list of sequences). ``universe`` is ``"listed"`` (each
    ranking ranks only the items it lists), ``"all"`` (each is the top of a
    ranking of every item) or an ``(N, n)`` boolean mask; it may be left out
    only when every ranking lists every item. An empty ranking, or a
    sub-ranking of one item, has log-probability 0.

    Computed in the log domain (a suffix log-sum-exp per ranking), from the
    scores shifted by their midrange when they are large (the likelihood is
    unchanged by a shift, and two equal scores of ``1e16`` then still give
    ``-log 2``), so nothing overflows or cancels.

    >>> s = np.log([3.0, 2.0, 1.0])     # worths 3, 2, 1
    >>> np.exp(ranking_log_likelihoods(s, [[0, 1, 2]]))  # 3/6 * 2/3
    array([0.33333333])
    >>> np.exp(ranking_log_likelihoods(s, [[2, -1, -1]], universe="all"))
    array([0.16666667])
    >>> ranking_log_likelihoods([1000.0, 0.0], [[1, 0]]).round(6)
    array([-1000.])
    """
    return _stages(scores, rankings, universe, None).choices.log_likelihood_terms


def log_likelihood(scores, rankings, weights=None, *, universe=None) -> float:
    r"""Weighted log-likelihood :math:`\sum_i w_i \log P(\pi_i)` of the rankings.

    ``weights`` (one per ranking, finite and >= 0) default to 1. See
    :func:`ranking_log_likelihoods` for ``rankings`` and ``universe``. The
    rankings may have different lengths in one call (``-1`` padding); there is
    no Python loop per ranking.

    >>> s = np.log([3.0, 2.0, 1.0])
    >>> round(log_likelihood(s, [[0, 1, 2], [1, 0, 2]]), 6)  # log(1/3 * 1/4)
    -2.484907
    >>> round(log_likelihood(s, [[0, 1], [2, 0]], universe="listed"), 6)
    -1.89712
    >>> log_likelihood(s, [[0, 1, 2]], weights=[0.0])
    0.0
    """
    return _stages(scores, rankings, universe, weights).choices.log_likelihood


def gradient(scores, rankings, weights=None, *, universe=None) -> np.ndarray:
    r"""Gradient of :func:`log_likelihood` with respect to the scores.

    :math:`\nabla_k = \sum_{\text{stages}} w\,([k \text{ chosen}] - p_r(k))`:
    observed minus expected number of choices of item ``k``. The entries sum
    to 0 (shift invariance).

    >>> gradient([0.0, 0.0], [[0, 1]])   # item 0 won one 50/50 choice
    array([ 0.5, -0.5])
    """
    return _stages(scores, rankings, universe, weights, compacted).choices.gradient


def listed_pairs(rs: RankingSet):
    """Yield ``(columns, first, second, a, b, keep)`` chunk by chunk.

    For the rankings in ``columns``, ``a`` and ``b`` are the items at the
    positions ``first < second`` of every pair of positions, keeping only
    pairs where both are listed (``keep`` selects them; ``None`` when no
    ranking is padded). Every consumer iterates in this same order, so a
    pattern built once lines up with values computed at each iteration.
    """
    length, count = rs.order.shape
    first, second = np.triu_indices(length, k=1)
    if not first.size:
        return
    padded = rs.padded
    step = max(1, _PAIR_CHUNK // first.size)
    for lo in range(0, count, step):
        columns = slice(lo, lo + step)
        order = rs.order[:, columns]
        a, b = order[first], order[second]
        if padded:
            keep = b >= 0
            yield columns, first, second, a[keep], b[keep], keep
        else:
            yield columns, first, second, a.ravel(), b.ravel(), None


def listed_pair_values(st: Stages):
    """Yield ``(a, b, value)`` per chunk of :func:`listed_pairs`.

    ``value = w exp(x_a + x_b + F_{q_a})``: the sum of ``p_r(a) p_r(b)`` over
    the stages both are in (all stages up to ``a``'s position ``q_a``); at
    most 1 per stage, whatever the scores.
    """
    for columns, first, second, a, b, keep in listed_pairs(st.rs):
        x, f = st.x[:, columns], st.log_inverse_square_sum[:, columns]
        with np.errstate(invalid="ignore"):  # padded pairs, dropped below
            value = np.exp(x[first] + x[second] + f[first]) * st.weights[columns]
        yield a, b, (value.ravel() if keep is None else value[keep])


def listed_square_terms(st: Stages) -> np.ndarray:
    """``sum w p_r(k)^2`` over stages, per item: the diagonal of ``sum p p^T``."""
    with np.errstate(invalid="ignore"):
        square = np.exp(2 * st.x + st.log_inverse_square_sum) * st.weights
    return st.scatter(np.where(st.rs.order >= 0, square, 0.0))


def _unranked_blocks(st: Stages, unranked: np.ndarray) -> np.ndarray:
    """The unlisted-item part of ``sum w p_r p_r^T`` as a dense ``(n, n)``.

    Balanced so that no factor overflows: with ``c_i = max_{k in U_i} s_k``,
    ``Z_ik = [k in U_i] exp(s_k - c_i) <= 1``; unlisted pairs are
    ``Z^T diag(w exp(F_last + 2 c)) Z`` and listed-unlisted pairs ``Y^T Z``
    with ``Y_ia = w exp(x_q + F_q + c_i)``.
    """
    s, n = st.s, st.rs.n_items
    any_unranked = unranked.any(axis=1)
    top = np.where(unranked, s[None, :], -np.inf).max(axis=1, initial=-np.inf)
    top = np.where(any_unranked, top, 0.0)
    # Entries masked out below may overflow; only the kept ones are bounded.
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.where(unranked, np.exp(s[None, :] - top[:, None]), 0.0)
        last = last_stage_values(st.rs, st.log_inverse_square_sum)
        scale = np.where(any_unranked, st.weights * np.exp(last + 2 * top), 0.0)
        y = np.exp(st.x + st.log_inverse_square_sum + top[None, :]) * st.weights
    # (L, N): the listed entries of rankings with unlisted items
    listed = (st.rs.order >= 0) & any_unranked
    rows = np.broadcast_to(np.arange(st.rs.n_rankings), st.rs.order.shape)
    y_dense = np.zeros((st.rs.n_rankings, n))
    # (ranking, item) pairs are distinct, so plain fancy assignment is exact.
    y_dense[rows[listed], st.rs.order[listed]] = y[listed]
    pairs = z.T @ (z * scale[:, None])
    cross = y_dense.T @ z
    return pairs + cross + cross.T


def hessian_from_stages(st: Stages) -> np.ndarray:
    """Dense Hessian ``sum w (p p^T - diag p)`` over all stages."""
    n = st.rs.n_items
    flat = np.zeros(n * n)
    for a, b, value in listed_pair_values(st):
        flat += np.bincount(a * n + b, weights=value, minlength=n * n)
    outer = flat.reshape(n, n)
    outer += outer.T
    outer[np.diag_indices(n)] += listed_square_terms(st)
    if st.rs.unranked is not None:
        outer += _unranked_blocks(st, st.rs.unranked)
    outer[np.diag_indices(n)] -= st.choices.expected_choices
    return outer


def hessian(scores, rankings, weights=None, *, universe=None) -> np.ndarray:
    r"""Dense ``(n, n)`` Hessian of :func:`log_likelihood`.

    :math:`H = -\sum_{\text{stages}} w\,(\mathrm{diag}(p_r) - p_r p_r^\top)`:
    negative semi-definite, rows summing to 0. Memory ``O(n^2)``, time
    ``O(N L^2)`` for sub-rankings (plus ``O(N n^2)`` with a universe).

    >>> hessian([0.0, 0.0], [[0, 1]])   # -p(1-p) with p = 1/2
    array([[-0.25,  0.25],
           [ 0.25, -0.25]])
    """
    return hessian_from_stages(_stages(scores, rankings, universe, weights, compacted))


def _split_log(v: np.ndarray):
    """``log max(v, 0)`` and ``log max(-v, 0)`` (``-inf`` where zero)."""
    with np.errstate(divide="ignore"):
        return np.log(np.maximum(v, 0.0)), np.log(np.maximum(-v, 0.0))


def hessian_vector_from_stages(st: Stages, v: np.ndarray) -> np.ndarray:
    """``H v`` without forming ``H``; see :func:`hessian_vector_product`."""
    w = st.weights
    result = -v * st.choices.expected_choices
    for sign, log_part in zip((1.0, -1.0), _split_log(v), strict=True):
        # M_r = log sum_{j in A_r} e^{s_j} v_j^(+/-), then the stage-cumulative
        # K_q = log sum_{r <= q} exp(M_r - 2 D_r): each term stays <= max |v|.
        terms = st.x + log_part[st.rs.order]
        if st.valid is not None:
            terms[~st.valid] = -np.inf
        mass = log_cumsum_exp(terms, reverse=True)
        if st.rs.unranked is not None:
            extra = masked_row_logsumexp(st.rs.unranked, st.s + log_part)
            mass = np.logaddexp(mass, extra[None, :])
        with np.errstate(invalid="ignore"):
            k = st.cumulative_over_stages(mass - 2 * st.log_denominator)
            listed = np.exp(st.x + k) * w
        result += sign * st.scatter(np.where(st.rs.order >= 0, listed, 0.0))
        if st.rs.unranked is not None:
            with np.errstate(divide="ignore"):
                log_w = np.log(w)
            last = last_stage_values(st.rs, k)
            column = masked_column_logsumexp(st.rs.unranked, log_w + last)
            result += sign * np.exp(st.s + column)
    return result


def hessian_vector_product(
    scores, rankings, vector, weights=None, *, universe=None
) -> np.ndarray:
    r"""``H v`` for the Hessian of :func:`log_likelihood`, matrix-free.

    :math:`(Hv)_k = -\sum w\,p_r(k)\,(v_k - \mathrm{E}_{p_r}[v])`, in
    ``O(N L)`` time (plus ``O(N n)`` with a universe) and without the
    ``(n, n)`` matrix.

    >>> hessian_vector_product([0.0, 0.0], [[0, 1]], [1.0, 0.0])
    array([-0.25,  0.25])
    """
    st = _stages(scores, rankings, universe, weights, compacted)
    v = np.asarray(vector, dtype=np.float64)
    if v.shape != st.s.shape:
        raise ShapeError(f"vector must have shape {st.s.shape}, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InvalidInputError("vector must be finite")
    return hessian_vector_from_stages(st, v)
