r"""Fitting Plackett-Luce worths to observed rankings by Newton's method.

The log-likelihood :math:`\ell(s)` is concave, so a damped Newton iteration
from ``s = 0`` converges to the maximum, quadratically near it:

1. the step ``d`` solves :math:`J d = \nabla`, where ``J = -H`` is the
   observed Fisher information (of the objective, prior included). Without a
   prior ``J`` is singular along the all-ones vector (the free shift) and the
   step is taken orthogonal to it, so ``d`` has mean zero; ``J`` is positive
   definite on that subspace exactly when the comparison graph is strongly
   connected. For sub-rankings of more than 200 items ``J`` is assembled as a
   sparse matrix and the step found by preconditioned conjugate gradients
   (:mod:`._information`); otherwise ``J`` is dense and factorised;
2. backtracking halves the step until the objective rises enough (Armijo);
3. it stops when the largest step component is below ``tol`` (log-worth
   units) -- the last step is taken, so the error is then about ``tol**2`` --
   or when the step's predicted gain ``g.d / 2`` is below the rounding level
   of the objective (``1e-13`` relative): then no step can be verified to
   help, which happens for estimable but nearly flat directions, where the
   step is dominated by rounding noise in the gradient.

A few minorise-maximise steps (Hunter 2004) first bring the start close,
which halves the number of Newton iterations on typical data.

Cost per iteration: ``O(N L^2)`` to assemble ``J``, then a few sparse
products (CG) or ``O(n^3)`` (dense). Standard errors come from ``J`` at the
last iterate (within ``tol`` of the optimum): on the mean-zero scale the
covariance is the pseudo-inverse

.. math:: K^+ = (K + c\,\mathbf{1}\mathbf{1}^\top)^{-1}
   - \mathbf{1}\mathbf{1}^\top / (c n^2)

of ``K = J`` without a prior (double-centred, so that rounding leaves its
rows summing to 0; ``c = tr K / n^2`` puts the all-ones direction on the
scale of the other eigenvalues, however many rankings). With a prior of
information ``diag(d)``, the
covariance of the centred log-worths :math:`C J^{-1} C` (``C`` the centring
matrix) is the same pseudo-inverse of :math:`K = J - d d^\top / \sum d`, the
information left after the mean is eliminated (its Schur complement): ``K``
has the all-ones null vector again, and nothing of order ``1 / sum d`` is ever
formed. Inverting ``J`` itself and centring afterwards would subtract two
numbers of that size, which for a prior strength of ``1e-16`` is all
rounding noise (a standard error of 0 came out). That inverse is ``O(n^3)``
(about 0.1 s for 1,000 items), so it is computed when ``stderr`` or
``covariance`` is first read, and kept.

Before iterating, the comparison graph is checked (:mod:`.estimability`):
without a prior, rankings with no finite estimate raise
:class:`~seqscore.errors.NoEstimateError` naming the items at fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse

from seqscore.errors import InvalidInputError, NoEstimateError
from seqscore.numerics._arrays import check_integer, check_positive
from seqscore.numerics.softmax import softmax
from seqscore.plackett_luce._information import SparseInformation, solve_sparse
from seqscore.plackett_luce._rankings import RankingSet, prepare
from seqscore.plackett_luce._stages import Stages
from seqscore.plackett_luce.estimability import estimability_of
from seqscore.plackett_luce.likelihood import hessian_from_stages
from seqscore.plackett_luce.priors import Prior, make_prior

__all__ = ["MAX_ITEMS", "PlackettLuceFit", "fit"]

# Beyond this many items nothing dense (8 n^2 bytes: 800 MB here) is formed:
# only sub-rankings can be fitted (sparse CG), and standard errors are refused.
MAX_ITEMS = 10_000
_ARMIJO = 1e-4
# Minorise-maximise steps before Newton's method (see _minorise_maximise).
_WARM_STEPS = 5
# Above this many items (sub-rankings only) J is sparse and solved by CG.
_DENSE_MAX_ITEMS = 200
_MAX_HALVINGS = 60
# A Newton step whose predicted gain is below this fraction of the objective
# cannot be told from rounding: the iteration has converged.
_FLAT_GAIN = 1e-13


@dataclass(frozen=True)
class PlackettLuceFit:
    """Fitted Plackett-Luce worths.

    ``log_worth`` has mean zero. ``log_likelihood`` is the data's weighted
    log-likelihood at ``log_worth``; ``objective`` adds the prior's term
    (equal to it without a prior). ``n_iter`` counts Newton iterations (after
    a few minorise-maximise warm-up steps). ``gradient_norm`` is the largest gradient
    component of the objective at the end; ``converged`` says the last Newton
    step was below ``tol``. ``information`` is the observed Fisher
    information ``-H`` of the objective (a sparse matrix); ``stderr`` and
    ``covariance`` (on the mean-zero scale) are computed from it on first
    access and then kept. ``prior_information`` is the prior's share of it,
    the diagonal ``d`` (``None`` without a prior).

    >>> result = fit([[0, 1, 2], [1, 0, 2], [0, 2, 1], [2, 1, 0]])
    >>> result.items, result.ranking().tolist()
    (('0', '1', '2'), [0, 1, 2])
    >>> round(float(result.worth.sum()), 12), round(float(result.log_worth.sum()), 12)
    (1.0, 0.0)
    """

    log_worth: np.ndarray
    log_likelihood: float
    objective: float
    n_iter: int
    converged: bool
    gradient_norm: float
    items: tuple[str, ...]
    prior: str | None
    prior_strength: float | None
    n_rankings: int
    # J = -H of the objective at the last iterate (without the shift fix), as
    # a sparse matrix; covariance and stderr are computed from it.
    information: scipy.sparse.csr_matrix = field(repr=False, compare=False)
    prior_information: np.ndarray | None = field(
        default=None, repr=False, compare=False
    )

    @cached_property
    def covariance(self) -> np.ndarray:
        """Covariance of ``log_worth`` (``(n, n)``, rows summing to 0)."""
        return _covariance(self.information, self.prior_information)

    @cached_property
    def stderr(self) -> np.ndarray:
        """Standard errors of ``log_worth``: the root of the covariance diagonal."""
        return np.sqrt(np.maximum(np.diag(self.covariance), 0.0))

    @property
    def worth(self) -> np.ndarray:
        """Worths normalised to sum to 1 (the first-choice probabilities)."""
        return softmax(self.log_worth)

    def ranking(self) -> np.ndarray:
        """Item indices from the highest log-worth to the lowest (ties by index)."""
        return np.argsort(-self.log_worth, kind="stable")


def _objective(st: Stages, prior: Prior | None) -> float:
    extra = prior.value(st.s) if prior is not None else 0.0
    return st.choices.log_likelihood + extra


def _gradient(st: Stages, prior: Prior | None) -> np.ndarray:
    g = st.choices.gradient
    return g + prior.gradient(st.s) if prior is not None else g


def _prior_diagonal(st: Stages, prior: Prior | None) -> np.ndarray:
    if prior is None:
        return np.zeros(st.rs.n_items)
    return -prior.hessian_diagonal(st.s)


def _information(st: Stages, prior: Prior | None, sparse: SparseInformation | None):
    """``J = -H`` of the objective (without the shift fix), sparse or dense."""
    if sparse is not None:
        return sparse.matrix(st, _prior_diagonal(st, prior))
    info = -hessian_from_stages(st)
    info[np.diag_indices(st.rs.n_items)] += _prior_diagonal(st, prior)
    return info


def _dense(info) -> np.ndarray:
    return info.toarray() if scipy.sparse.issparse(info) else info


def _solve(info: np.ndarray, rhs: np.ndarray, shift_fix: bool) -> np.ndarray:
    """``info^-1 rhs`` (``(info + c 11^T)^-1 rhs`` with ``shift_fix``, ``c``
    from :func:`_shift`); dense.

    numpy's LAPACK, not scipy's: the two ship separate OpenBLAS builds whose
    thread pools fight over the cores when both are used in one loop.
    Least squares if rounding made the matrix singular.
    """
    if shift_fix:
        info = info + _shift(info)
    try:
        return np.linalg.solve(info, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(info, rhs, rcond=None)[0]


def _shift(info: np.ndarray) -> float:
    """``c`` such that ``info + c 11^T`` gives the all-ones direction (where
    ``info`` is null) the eigenvalue ``c n = trace / n``, the mean of the
    others: a fixed ``1/n`` would be rounding noise next to the information
    of a million rankings, and the inverse would lose its accuracy."""
    n = info.shape[0]
    trace = float(np.trace(info))
    return trace / n**2 if trace > 0 else 1.0 / n


def _double_centred(matrix: np.ndarray) -> np.ndarray:
    """``C M C`` (``C`` the centring matrix): rows and columns summing to 0,
    as the information's do in exact arithmetic."""
    matrix = matrix - matrix.mean(axis=0)
    return matrix - matrix.mean(axis=1, keepdims=True)


def _newton_step(info, g: np.ndarray, prior: Prior | None) -> np.ndarray:
    step = None
    if scipy.sparse.issparse(info):
        step = solve_sparse(info, g)
    if step is None:
        _check_dense_size(info.shape[0], "a Newton step (conjugate gradients stalled)")
        step = _solve(_dense(info), g, shift_fix=prior is None)
    return step - step.mean() if prior is None else step


def _line_search(s, step, slope, current, rs, prior):
    """Largest ``t = 2^-j`` with an Armijo rise; ``None`` if none is found."""
    t = 1.0
    for _ in range(_MAX_HALVINGS):
        trial = Stages(s + t * step, rs)
        # As a difference, so that a step too small to change the objective
        # (0 >= a positive number) is never accepted as progress.
        if _objective(trial, prior) - current >= _ARMIJO * t * slope:
            return trial
        t *= 0.5
    return None


def _minorise_maximise(rs: RankingSet, prior: Prior | None, steps: int) -> Stages:
    """A few minorise-maximise steps from ``s = 0`` (Hunter 2004).

    Each step ``w_k <- wins_k / sum_{stages containing k} 1 / D`` (with the
    ghost's pseudo-comparisons counted as data) raises the likelihood for sure
    and costs one ``O(N L)`` pass; a few of them bring Newton's starting point
    close enough that it needs about half the (``O(n^3)``) iterations.
    Items that never win (possible only with a prior) keep their score.
    """
    st = Stages(np.zeros(rs.n_items), rs)
    if prior is not None and prior.name != "ghost":
        return st
    for _ in range(steps):
        wins, rate = st.choices.wins, st.choices.expected_choices * np.exp(-st.s)
        if prior is not None:  # a wins and a losses against a ghost of worth 1
            wins = wins + prior.strength
            rate = rate + 2.0 * prior.strength / (1.0 + np.exp(st.s))
        # Only items that win move (rate > 0 wherever wins > 0): a lone item,
        # which never wins or loses, would be log(0) - log(0).
        s, won = st.s.copy(), wins > 0
        s[won] = np.log(wins[won]) - np.log(rate[won])
        st = Stages(s - s.mean() if prior is None else s, rs)
    return st


def _newton(rs: RankingSet, prior: Prior | None, tol: float, max_iter: int):
    """Maximise the objective.

    Returns the final stages, the information matrix of the last iterate
    (within ``tol`` of the final point; reused for the covariance) and the
    prior's diagonal share of it, the number of iterations and whether the
    last step was below ``tol``.
    """
    sparse = None
    if rs.unranked is None and rs.n_items > _DENSE_MAX_ITEMS:
        sparse = SparseInformation(rs)
    st = _minorise_maximise(rs, prior, _WARM_STEPS)
    current = _objective(st, prior)
    for iteration in range(1, max_iter + 1):
        g = _gradient(st, prior)
        info = _information(st, prior, sparse)
        step = _newton_step(info, g, prior)
        slope = float(g @ step)
        small = np.max(np.abs(step), initial=0.0) <= tol
        if small or slope <= _FLAT_GAIN * max(1.0, abs(current)):
            final = Stages(st.s + step, rs)
            return final, info, _prior_part(st, prior), iteration, True
        trial = _line_search(st.s, step, slope, current, rs, prior)
        if trial is None:  # no ascent left at working precision
            return st, info, _prior_part(st, prior), iteration, False
        st = trial
        current = _objective(st, prior)
    info = _information(st, prior, sparse)
    return st, info, _prior_part(st, prior), max_iter, False


def _prior_part(st: Stages, prior: Prior | None) -> np.ndarray | None:
    return None if prior is None else _prior_diagonal(st, prior)


def _check_dense_size(n: int, purpose: str) -> None:
    if n > MAX_ITEMS:
        raise InvalidInputError(
            f"{purpose} needs a dense {n} x {n} matrix; seqscore forms those "
            f"only up to {MAX_ITEMS} items"
        )


def _covariance(info, prior_diagonal: np.ndarray | None) -> np.ndarray:
    """Covariance of the mean-zero log-worths (see the module notes)."""
    _check_dense_size(info.shape[0], "the covariance of the log-worths")
    dense = np.array(_dense(info), dtype=np.float64)
    n = dense.shape[0]
    if prior_diagonal is not None and prior_diagonal.sum() > 0:
        # Eliminate the mean: J - d d^T / sum(d), as d (d / sum d)^T so that
        # a tiny d (strength 1e-300) does not underflow on the way.
        dense -= np.outer(prior_diagonal, prior_diagonal / prior_diagonal.sum())
    dense = _double_centred(dense)
    return _solve(dense, np.eye(n), shift_fix=True) - 1.0 / (_shift(dense) * n**2)


def _item_names(items, n: int) -> tuple[str, ...]:
    if items is None:
        return tuple(str(i) for i in range(n))
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise InvalidInputError(
            f"items must be a sequence of item names, got {items!r}"
        )
    names = tuple(str(name) for name in items)
    if len(names) != n:
        raise InvalidInputError(
            f"items names {len(names)} items but the rankings use {n}"
        )
    return names


def _check_controls(tol: float, max_iter: int) -> None:
    check_positive(tol, "tol")
    check_integer(max_iter, "max_iter", minimum=1)


def fit(
    rankings,
    n_items: int | None = None,
    *,
    universe=None,
    weights=None,
    items: Sequence[str] | None = None,
    prior: str | None = None,
    prior_strength: float | None = None,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> PlackettLuceFit:
    r"""Maximum-likelihood (or, with a prior, MAP) Plackett-Luce log-worths.

    ``rankings``: ``(N, L)`` int array of item ids, best first, ``-1``
    padded (or a ragged list); ``universe`` as in
    :func:`~seqscore.plackett_luce.log_likelihood` (``"listed"`` for
    sub-rankings, ``"all"`` for top-k rankings, or a mask); ``weights`` one
    per ranking. ``items`` names the items (in messages and the result).
    ``prior``: ``None``, ``"ghost"`` or ``"l2"`` with ``prior_strength``
    (see :mod:`.priors`).

    Raises :class:`~seqscore.errors.NoEstimateError` when, without a prior,
    the maximum-likelihood estimate is not finite (the message names the
    items that only win, only lose, or are never compared).

    Two items, ranked 2:1 in favour of item 0 (closed form: the MLE of the
    worth ratio is the win ratio, so log-worths are +-log(2)/2):

    >>> result = fit([[0, 1], [0, 1], [1, 0]])
    >>> result.log_worth.round(6), round(float(np.log(2) / 2), 6)
    (array([ 0.346574, -0.346574]), 0.346574)
    >>> result.converged, result.stderr.round(4)  # sqrt(1 / (4 * 3 p (1 - p)))
    (True, array([0.6124, 0.6124]))
    >>> fit([[0, 1], [0, 1]])   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqscore.errors.NoEstimateError: no finite ... log-worth is -inf: '1'; ...
    >>> from scipy.special import expit
    >>> a = fit([[0, 1], [0, 1]], prior="ghost").log_worth[0]  # +-a, where
    >>> round(float(4 * expit(-2 * a) - (2 * expit(a) - 1)), 12)  # d/da = 0
    0.0
    """
    _check_controls(tol, max_iter)
    the_prior = make_prior(prior, prior_strength)
    rs = prepare(rankings, n_items, universe=universe, weights=weights)
    names = _item_names(items, rs.n_items)
    if rs.unranked is not None:  # the dense path: see MAX_ITEMS
        _check_dense_size(rs.n_items, "fitting top-k rankings (a universe)")
    if the_prior is None:
        report = estimability_of(rs, names)
        if not report.estimable:
            raise NoEstimateError(
                f"{report.message}. Fit with a prior (prior='ghost' or prior='l2') "
                "or drop these items."
            )
    st, info, prior_info, n_iter, converged = _newton(
        rs, the_prior, float(tol), int(max_iter)
    )
    gradient = _gradient(st, the_prior)
    return PlackettLuceFit(
        log_worth=st.s - st.s.mean(),
        log_likelihood=st.choices.log_likelihood,
        objective=_objective(st, the_prior),
        n_iter=n_iter,
        converged=converged,
        gradient_norm=float(np.max(np.abs(gradient), initial=0.0)),
        items=names,
        prior=None if the_prior is None else the_prior.name,
        prior_strength=None if the_prior is None else the_prior.strength,
        n_rankings=rs.n_rankings,
        information=scipy.sparse.csr_matrix(info),
        prior_information=prior_info,
    )
