"""SoftmaxRegression reaches the optimum of its objective found by L-BFGS."""

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp

from seqscore import InvalidInputError, ShapeError, SoftmaxRegression, log_softmax


def small_data_set(seed=1, n=150, d=4, k=3):
    """A fixed synthetic 3-class problem drawn from a softmax model."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    logits = X @ (rng.normal(size=(d, k)) * 2)
    p = np.exp(log_softmax(logits))
    y = np.array([rng.choice(k, p=row) for row in p])
    return X, y


def lbfgs_optimum(X, y, l2, k):
    """The same objective minimised by scipy's L-BFGS-B to gtol 1e-12."""
    n, d = X.shape

    def objective(theta):
        W, b = theta[: d * k].reshape(d, k), theta[d * k :]
        log_p = log_softmax(X @ W + b)
        G = np.exp(log_p)
        G[np.arange(n), y] -= 1
        G /= n
        value = -log_p[np.arange(n), y].mean() + 0.5 * l2 * np.sum(W**2)
        return value, np.concatenate([(X.T @ G + l2 * W).ravel(), G.sum(axis=0)])

    result = scipy.optimize.minimize(
        objective,
        np.zeros(d * k + k),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000},
    )
    return result.fun


@pytest.mark.parametrize("batch_size", [1000, 32])
@pytest.mark.parametrize("l2", [0.05, 1.0])
def test_reaches_the_lbfgs_optimum(batch_size, l2):
    X, y = small_data_set()
    model = SoftmaxRegression(l2=l2, batch_size=batch_size, rng=0, max_epochs=3000)
    model.fit(X, y)
    assert model.converged_
    assert model.objective(X, y) == pytest.approx(lbfgs_optimum(X, y, l2, 3), abs=1e-9)


def test_sparse_features_give_the_same_model():
    X, y = small_data_set(n=60)
    dense = SoftmaxRegression(l2=0.1, batch_size=16, rng=3).fit(X, y)
    sparse = SoftmaxRegression(l2=0.1, batch_size=16, rng=3).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(dense.coef_, sparse.coef_, atol=1e-10)
    np.testing.assert_allclose(
        dense.predict_proba(X), sparse.predict_proba(X), atol=1e-10
    )


def test_same_seed_same_model_and_loss_curve_falls():
    X, y = small_data_set(n=80)
    a = SoftmaxRegression(l2=0.1, batch_size=8, rng=7, max_epochs=20).fit(X, y)
    b = SoftmaxRegression(l2=0.1, batch_size=8, rng=7, max_epochs=20).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.loss_curve_[-1] < a.loss_curve_[0] == pytest.approx(np.log(3))


def test_predictions_are_consistent():
    X, y = small_data_set()
    model = SoftmaxRegression(l2=0.05, rng=0).fit(X, y)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X)), proba)
    np.testing.assert_array_equal(model.predict(X), proba.argmax(axis=1))
    assert model.score(X, y) == np.mean(model.predict(X) == y)
    assert model.log_loss(X, y) < np.log(3)


def test_bad_input():
    X, y = small_data_set(n=10)
    with pytest.raises(ShapeError, match="does not match"):
        SoftmaxRegression().fit(X, y[:5])
    with pytest.raises(InvalidInputError, match="NaN"):
        SoftmaxRegression().fit(np.full_like(X, np.nan), y)
    with pytest.raises(InvalidInputError, match=r"y\[0\] = 5 is outside"):
        SoftmaxRegression().fit(X, np.full(10, 5), n_classes=3)
    with pytest.raises(InvalidInputError, match="not fitted"):
        SoftmaxRegression().predict(X)
    with pytest.raises(InvalidInputError, match="l2"):
        SoftmaxRegression(l2=-1).fit(X, y)
    fitted = SoftmaxRegression(max_epochs=2).fit(X, y)
    with pytest.raises(ShapeError, match="features"):
        fitted.predict(X[:, :2])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X, y: (X[:, :0], y), "no features"),
        (lambda X, y: (X, np.array(["a"] * len(y))), "integer"),
        (lambda X, y: (X, np.where(np.arange(len(y)) == 1, np.nan, y)), "integer"),
        (lambda X, y: ([["a", 1.0]] * len(y), y), "numeric"),
    ],
)
def test_unusable_data_is_an_input_error_not_a_numpy_error(change, message):
    X, y = small_data_set(n=10)
    X, y = change(X, y)
    with pytest.raises(InvalidInputError, match=message):
        SoftmaxRegression(max_epochs=2).fit(X, y)


@pytest.mark.parametrize(
    "settings",
    [{"learning_rate": "fast"}, {"learning_rate": True}, {"batch_size": 1.5}],
)
def test_unusable_settings_are_named(settings):
    X, y = small_data_set(n=10)
    with pytest.raises(InvalidInputError, match=next(iter(settings))):
        SoftmaxRegression(**settings).fit(X, y)


@pytest.mark.parametrize("method", ["score", "log_loss"])
def test_score_and_log_loss_of_an_unfitted_model_say_so(method):
    # before: AttributeError: 'NoneType' object has no attribute 'shape'
    with pytest.raises(InvalidInputError, match="not fitted yet"):
        getattr(SoftmaxRegression(), method)(np.zeros((2, 3)), [0, 1])
