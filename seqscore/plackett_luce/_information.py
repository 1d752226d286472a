r"""The observed information ``J = -H`` as a sparse matrix, and solves with it.

For sub-rankings (universe ``"listed"``) two items interact only if some
ranking lists both, so ``J`` has at most ``N L (L - 1)`` off-diagonal entries
-- usually far fewer than ``n^2``. The pattern (which entries can be nonzero)
depends only on the rankings, so it is built once per fit; every iteration then
fills in the values with one ``bincount``.

Newton steps solve ``J d = g`` by conjugate gradients with a Jacobi
preconditioner: no ``O(n^3)`` factorisation and no multithreaded BLAS call
(which, on a busy 2-core machine, can be 10x slower than its single-threaded
cost). ``J`` is singular along the all-ones vector when there is no prior;
``g`` sums to zero, so the system is consistent and CG, started at 0, finds
the solution orthogonal to the null space (made exact by centring after).
Should CG stall (a very ill-conditioned comparison graph) the dense solve
takes over.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from seqscore.plackett_luce._rankings import RankingSet
from seqscore.plackett_luce._stages import Stages
from seqscore.plackett_luce.likelihood import (
    listed_pair_values,
    listed_pairs,
    listed_square_terms,
)

__all__ = ["SparseInformation", "solve_sparse"]

# Up to this many items the pattern is found with an n^2 bitmap, beyond it by
# sorting (slower, but the bitmap would not fit).
_BITMAP_MAX_ITEMS = 4096
# CG iterations before handing over to the dense solve; well-connected
# comparison graphs need tens.
_CG_MAX_ITER = 500


def _slots(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ``keys`` and, for every key, its index among them."""
    if n <= _BITMAP_MAX_ITEMS:
        present = np.zeros(n * n, dtype=bool)
        present[keys] = True
        index = np.cumsum(present, dtype=np.int64) - 1
        return np.flatnonzero(present), index[keys]
    return np.unique(keys, return_inverse=True)


class SparseInformation:
    """Builds ``J = -H`` (plus a diagonal) for fixed rankings at any scores."""

    def __init__(self, rs: RankingSet):
        n = rs.n_items
        pairs = [(a, b) for _, _, _, a, b, _ in listed_pairs(rs)]
        a = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, int)
        b = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, int)
        diagonal = np.arange(n) * (n + 1)
        keys = np.concatenate([a * n + b, b * n + a, diagonal])
        distinct, slot = _slots(keys, n)
        self.n = n
        self.n_pairs = len(a)
        self.pair_slots = slot[: 2 * len(a)]
        self.diagonal_slots = slot[2 * len(a) :]
        rows = distinct // n
        self.indices = distinct % n
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])

    def matrix(self, st: Stages, extra_diagonal: np.ndarray) -> scipy.sparse.csr_matrix:
        """``J`` at the scores of ``st``, with ``extra_diagonal`` added."""
        values = [v for _, _, v in listed_pair_values(st)]
        pair = np.concatenate(values) if values else np.zeros(0)
        data = np.bincount(
            self.pair_slots,
            weights=-np.concatenate([pair, pair]),
            minlength=len(self.indices),
        )
        diagonal = (
            st.choices.expected_choices - listed_square_terms(st) + extra_diagonal
        )
        data[self.diagonal_slots] += diagonal
        return scipy.sparse.csr_matrix(
            (data, self.indices, self.indptr), shape=(self.n, self.n)
        )


def solve_sparse(matrix: scipy.sparse.csr_matrix, rhs: np.ndarray):
    """``matrix^-1 rhs`` by Jacobi-preconditioned CG; ``None`` if CG stalls.

    Inexact Newton: the residual target shrinks with the gradient itself
    (relative ``min(0.1, max |rhs|)``), which keeps Newton's quadratic
    convergence, with an absolute floor at rounding level (``1e-13`` of the
    largest diagonal entry) that CG cannot go below anyway.
    """
    diagonal = matrix.diagonal()
    if np.any(diagonal <= 0):
        return None
    jacobi = scipy.sparse.linalg.LinearOperator(
        matrix.shape, matvec=lambda v: v / diagonal, dtype=np.float64
    )
    size = float(np.max(np.abs(rhs), initial=0.0))
    step, info = scipy.sparse.linalg.cg(
        matrix,
        rhs,
        rtol=min(0.1, size),
        atol=1e-13 * float(diagonal.max()),
        M=jacobi,
        maxiter=_CG_MAX_ITER,
    )
    return step if info == 0 else None
