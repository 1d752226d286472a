r"""A trainable softmax layer: multinomial logistic (softmax) regression.

The model maps features :math:`x \in \mathbb{R}^d` to class logits
:math:`z = x W + b` and class probabilities :math:`\mathrm{softmax}(z)`. Fitting
minimises the regularised mean cross-entropy

.. math::

    J(W, b) = -\frac1N \sum_n \log \mathrm{softmax}(x_n W + b)_{y_n}
              + \frac{\lambda}{2} \lVert W \rVert_F^2

(the intercept is not penalised) by minibatch gradient descent with Nesterov
momentum. The gradient of the data term is ``X.T @ (softmax(Z) - Y) / N`` --
:func:`seqscore.numerics.softmax.cross_entropy_grad` -- so the layer shares the one
implementation of the loss and its gradient with the rest of seqscore.

The step size defaults to ``1 / L`` with ``L = max_n ||x_n||^2 / 2 + 1/2 +
lambda``, a bound on the curvature of every minibatch's objective, so the
default never diverges. Each epoch visits the rows in an order drawn from the
explicit ``rng``. The full objective is watched after every epoch: an epoch
that does not lower it restarts the momentum. With minibatches, every second
such epoch doubles the batch size, turning the sampling noise down as the
optimum nears, so minibatch fitting converges to the exact optimum; once the
batch is the whole data set, two failures in a row halve the step instead.
Fitting stops when the full gradient's largest entry falls below ``tol``.

Features may be a dense array or a ``scipy.sparse`` matrix (one-hot features
of a vocabulary, for example).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TypeGuard

import numpy as np

from seqscore.errors import InvalidInputError, ShapeError
from seqscore.numerics._arrays import as_targets, check_integer
from seqscore.numerics.softmax import (
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    softmax,
)

__all__ = ["SoftmaxRegression"]

# Rows per chunk when the objective is evaluated over the whole data set.
_PASS_ROWS = 4096


@dataclass
class SoftmaxRegression:
    """Softmax regression trained by vectorised minibatch gradient descent.

    Parameters: ``l2`` (the penalty lambda on ``W``), ``learning_rate``
    (``"auto"`` for ``1/L``, or a number), ``batch_size``, ``max_epochs``,
    ``tol`` (on the full gradient's max-norm), ``momentum`` and ``rng``
    (a ``numpy.random.Generator`` or a seed).

    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    >>> model = SoftmaxRegression(l2=0.1, rng=0).fit(X, y)
    >>> model.predict(X).tolist()
    [0, 0, 1, 1]
    >>> model.predict_proba(X).sum(axis=1).round(12).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """

    l2: float = 0.0
    learning_rate: float | str = "auto"
    batch_size: int = 256
    max_epochs: int = 500
    tol: float = 1e-6
    momentum: float = 0.9
    rng: np.random.Generator | int | None = None
    coef_: np.ndarray | None = field(default=None, init=False, repr=False)
    intercept_: np.ndarray | None = field(default=None, init=False, repr=False)
    n_epochs_: int = field(default=0, init=False)
    converged_: bool = field(default=False, init=False)
    loss_curve_: list = field(default_factory=list, init=False, repr=False)

    # ------------------------------------------------------------- fitting

    def fit(self, X, y, n_classes: int | None = None) -> SoftmaxRegression:
        """Fit ``W`` and ``b`` to features ``X`` (N, d) and labels ``y`` (N,)."""
        X = _features(X)
        self._check_settings()
        y = _labels(y, len_x=X.shape[0], n_classes=n_classes)
        rng = np.random.default_rng(self.rng)
        n_classes = int(n_classes) if n_classes is not None else int(y.max()) + 1
        params = [np.zeros((X.shape[1], n_classes)), np.zeros(n_classes)]
        velocity = [np.zeros_like(p) for p in params]
        step, batch_size = self._initial_step(X), int(self.batch_size)
        loss, gradient = self._full_pass(X, y, params)
        self.loss_curve_, failures = [loss], 0
        for epoch in range(1, self.max_epochs + 1):
            for rows in _batches(X.shape[0], batch_size, rng):
                self._nesterov_step(X[rows], y[rows], params, velocity, step)
            loss, gradient = self._full_pass(X, y, params)
            self.loss_curve_.append(loss)
            self.n_epochs_ = epoch
            self.converged_ = max(float(np.abs(g).max()) for g in gradient) < self.tol
            if self.converged_:
                break
            improved = loss < self.loss_curve_[-2]
            if not improved:  # momentum overshot, or minibatch noise dominates
                for v in velocity:
                    v[:] = 0
            full_batch = batch_size >= X.shape[0]
            # at full batch only consecutive failures count (an overshoot);
            # with minibatches every failure is a sign of noise
            failures = 0 if improved and full_batch else failures + (not improved)
            if failures == 2:
                failures = 0
                if full_batch:
                    step /= 2
                else:
                    batch_size *= 2
        self.coef_, self.intercept_ = params
        return self

    def _nesterov_step(self, X, y, params, velocity, step) -> None:
        """One momentum step; the gradient is taken at the look-ahead point."""
        ahead = [p + self.momentum * v for p, v in zip(params, velocity, strict=True)]
        for p, v, g in zip(params, velocity, self._gradient(X, y, *ahead), strict=True):
            v *= self.momentum
            v -= step * g
            p += v

    def objective(self, X, y) -> float:
        """The regularised mean cross-entropy ``J(W, b)`` at the fitted weights."""
        coef = self._fitted_coef()
        X = _features(X)
        y = _labels(y, len_x=X.shape[0], n_classes=coef.shape[1])
        return self._objective(X, y, coef, self.intercept_)

    # ---------------------------------------------------------- prediction

    def decision_function(self, X) -> np.ndarray:
        """The logits ``X W + b``, shape (N, K)."""
        coef = self._fitted_coef()
        X = _features(X)
        if X.shape[1] != coef.shape[0]:
            raise ShapeError(
                f"X has {X.shape[1]} features but the model was fitted on "
                f"{coef.shape[0]}"
            )
        return np.asarray(X @ coef) + self.intercept_

    def predict_log_proba(self, X) -> np.ndarray:
        """Class log-probabilities ``log_softmax(X W + b)``, shape (N, K)."""
        return log_softmax(self.decision_function(X))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``softmax(X W + b)``, shape (N, K)."""
        return softmax(self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row (first one on ties)."""
        return np.argmax(self.decision_function(X), axis=1)

    def score(self, X, y) -> float:
        """Accuracy: the fraction of rows whose most probable class is ``y``."""
        coef = self._fitted_coef()
        X = _features(X)
        y = _labels(y, len_x=X.shape[0], n_classes=coef.shape[1])
        return float(np.mean(self.predict(X) == y))

    def log_loss(self, X, y) -> float:
        """Mean cross-entropy (nats per row) without the penalty."""
        coef = self._fitted_coef()
        X = _features(X)
        y = _labels(y, len_x=X.shape[0], n_classes=coef.shape[1])
        return cross_entropy(self.decision_function(X), y)

    # ------------------------------------------------------------ internals

    def _objective(self, X, y, weights, bias) -> float:
        return self._full_pass(X, y, (weights, bias), gradient=False)[0]

    def _full_pass(self, X, y, params, gradient: bool = True):
        """The objective and (optionally) its gradient over all rows.

        Rows are taken ``_PASS_ROWS`` at a time so that the logits of a large
        data set (N x K) are never held at once.
        """
        weights, bias = params
        n = X.shape[0]
        loss = 0.5 * self.l2 * float(np.sum(weights**2))
        grad_w, grad_b = self.l2 * weights, np.zeros_like(bias)
        for start in range(0, n, _PASS_ROWS):
            rows = slice(start, min(n, start + _PASS_ROWS))
            share = (rows.stop - rows.start) / n
            logits = np.asarray(X[rows] @ weights) + bias
            loss += share * cross_entropy(logits, y[rows])
            if gradient:
                residual = cross_entropy_grad(logits, y[rows]) * share
                grad_w += np.asarray(X[rows].T @ residual)
                grad_b += residual.sum(axis=0)
        return loss, (grad_w, grad_b)

    def _gradient(self, X, y, weights, bias):
        """Gradient of the minibatch objective (the rows given) at ``W, b``."""
        residual = cross_entropy_grad(np.asarray(X @ weights) + bias, y)
        return np.asarray(X.T @ residual) + self.l2 * weights, residual.sum(axis=0)

    def _initial_step(self, X) -> float:
        if self.learning_rate != "auto":
            return float(self.learning_rate)
        squared = X.multiply(X).sum(axis=1) if _is_sparse(X) else np.sum(X * X, axis=1)
        curvature = 0.5 * (float(np.asarray(squared).max()) + 1.0) + self.l2
        return 1.0 / curvature

    def _check_settings(self) -> None:
        if not (np.isfinite(self.l2) and self.l2 >= 0):
            raise InvalidInputError(f"l2 must be >= 0, got {self.l2}")
        check_integer(self.batch_size, "batch_size", minimum=1)
        check_integer(self.max_epochs, "max_epochs", minimum=1)
        if not 0 <= self.momentum < 1:
            raise InvalidInputError(f"momentum must be in [0, 1), got {self.momentum}")
        rate = self.learning_rate
        if rate != "auto" and not (_is_number(rate) and np.isfinite(rate) and rate > 0):
            raise InvalidInputError(
                f"learning_rate must be a finite number > 0 or 'auto', got {rate!r}"
            )

    def _fitted_coef(self) -> np.ndarray:
        """The fitted ``W``; an error before :meth:`fit`."""
        if self.coef_ is None:
            raise InvalidInputError("the model is not fitted yet: call fit(X, y)")
        return self.coef_


def _is_number(value) -> TypeGuard[int | float | np.number]:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _is_sparse(X) -> bool:
    """A scipy.sparse matrix? (If scipy.sparse was never imported, X is not one,
    so ``import seqscore`` need not pay for importing it.)"""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


def _features(X):
    """Features as a float64 2-D array or CSR matrix, checked to be finite."""
    if _is_sparse(X):
        X = sys.modules["scipy.sparse"].csr_matrix(X, dtype=np.float64)
        values = X.data
    else:
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"X must be numeric: {exc}") from None
        values = X
    if X.ndim != 2:
        raise ShapeError(f"X must be 2-D (rows, features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise InvalidInputError("X has no rows")
    if X.shape[1] == 0:
        raise InvalidInputError("X has no features (columns)")
    if not np.all(np.isfinite(values)):
        raise InvalidInputError("X contains NaN or infinite values")
    return X


def _labels(y, len_x: int, n_classes: int | None) -> np.ndarray:
    """Class ids 0..n_classes-1 (by default, up to the largest label)."""
    y = np.asarray(y)
    if y.shape != (len_x,):
        raise ShapeError(f"y of shape {y.shape} does not match X with {len_x} rows")
    if n_classes is None:
        y = as_targets(y, np.iinfo(np.int64).max, name="y")  # ids >= 0, whole
        return y
    return as_targets(y, check_integer(n_classes, "n_classes", minimum=1), name="y")


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    """Row indices of each minibatch of one epoch, in a random order."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
