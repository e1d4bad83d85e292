"""Linear regression: the tutorial's numbers, the closed-form trajectory, divergence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab.data.points import load_csv, make_line
from gradlab.engines import Problem
from gradlab.engines.numpy_engine import NumpyEngine, loss_and_grad
from gradlab.errors import DataError, DivergenceError, UsageError
from gradlab.models import LinearRegression, PolynomialRegression
from gradlab.models.linear import closed_form

# The tutorial's printed results (seed notes 000 and 001).
TUTORIAL_START_ERROR = 5565.107834483211
TUTORIAL_B = 0.08893651993741346
TUTORIAL_W = 1.4777440851894448
TUTORIAL_END_ERROR = 112.61481011613473


def same_digits(a: float, b: float, digits: int = 12) -> bool:
    return f"{a:.{digits - 1}e}" == f"{b:.{digits - 1}e}"


def test_reproduces_the_tutorial_to_12_significant_digits(data_csv: Path) -> None:
    pts = load_csv(data_csv)
    m = LinearRegression(lr=0.0001, epochs=1000).fit(pts.X, pts.y)
    start = loss_and_grad(pts.X, pts.y, np.zeros(1), 0.0, "squared", "mean")[0]
    assert same_digits(start, TUTORIAL_START_ERROR)
    assert same_digits(m.intercept_, TUTORIAL_B)
    assert same_digits(float(m.coef_[0]), TUTORIAL_W)
    assert same_digits(m.loss_value(pts.X, pts.y), TUTORIAL_END_ERROR)


def test_minibatch_of_all_points_walks_the_same_path_as_batch(data_csv: Path) -> None:
    pts = load_csv(data_csv)
    a = LinearRegression(lr=0.0001, epochs=1000).fit(pts.X, pts.y)
    b = LinearRegression(lr=0.0001, epochs=1000, method="minibatch", batch_size=100)
    b.fit(pts.X, pts.y)
    assert b.intercept_ == pytest.approx(a.intercept_, rel=1e-11)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 40),
    d=st.integers(1, 4),
    steps=st.integers(1, 60),
    seed=st.integers(0, 10_000),
    frac=st.floats(0.05, 0.95),
    reduction=st.sampled_from(["mean", "sum"]),
)
def test_closed_form_trajectory_equals_the_step_loop(
    n: int, d: int, steps: int, seed: int, frac: float, reduction: str
) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d)
    y = X @ rng.normal(size=d) + rng.normal(size=n)
    w0, b0 = rng.normal(size=d), float(rng.normal())
    problem = Problem(X, y, "squared", reduction)  # type: ignore[arg-type]
    # A stable rate: a fraction of 2 / (largest curvature).
    Z = np.column_stack([X, np.ones(n)])
    s = 2.0 / n if reduction == "mean" else 1.0
    lr = frac * 2.0 / (s * np.linalg.eigvalsh(Z.T @ Z)[-1])
    loop = NumpyEngine(problem, w0, b0)
    losses_loop = [loop.step(slice(None), lr) for _ in range(steps)]
    losses, W, B = NumpyEngine(problem, w0, b0).batch_trajectory(lr, steps)
    np.testing.assert_allclose(W[-1], loop.w, rtol=1e-7, atol=1e-9)
    assert B[-1] == pytest.approx(loop.b, rel=1e-7, abs=1e-9)
    np.testing.assert_allclose(losses[:-1], losses_loop, rtol=1e-6, atol=1e-9)


def test_long_descent_reaches_the_closed_form() -> None:
    pts = make_line(100, seed=1)
    m = LinearRegression(lr=0.01, epochs=20_000).fit(pts.X, pts.y)
    w, b = closed_form(pts.X, pts.y)
    np.testing.assert_allclose(m.coef_, w, rtol=1e-8)
    assert m.intercept_ == pytest.approx(b, rel=1e-8)


@pytest.mark.parametrize("method", ["sgd", "minibatch"])
def test_stochastic_methods_get_close_to_the_closed_form(method: str) -> None:
    pts = make_line(200, x_range=(-3.0, 3.0), seed=2)
    m = LinearRegression(lr=0.002, epochs=100, method=method, batch_size=16, seed=0)
    m.fit(pts.X, pts.y)
    w, b = closed_form(pts.X, pts.y)
    assert float(m.coef_[0]) == pytest.approx(float(w[0]), abs=0.05)
    assert m.intercept_ == pytest.approx(b, abs=0.05)


def test_shuffling_is_seeded() -> None:
    pts = make_line(50, seed=0)
    runs = [
        LinearRegression(lr=0.001, epochs=5, method="sgd", seed=s).fit(pts.X, pts.y).coef_
        for s in (7, 7, 8)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0][0] != runs[2][0]


def test_history_has_one_row_per_epoch_with_parameters(data_csv: Path) -> None:
    pts = load_csv(data_csv)
    m = LinearRegression(lr=0.0001, epochs=10).fit(pts.X, pts.y)
    assert len(m.history_) == 11
    assert m.history_["w"][0] == 0.0
    assert m.history_["w"][-1] == pytest.approx(float(m.coef_[0]))
    assert m.history_["loss"][0] == pytest.approx(TUTORIAL_START_ERROR, rel=1e-12)


@pytest.mark.parametrize("method", ["batch", "minibatch"])
def test_divergence_stops_with_iteration_and_last_finite_parameters(
    data_csv: Path, method: str
) -> None:
    pts = load_csv(data_csv)
    with pytest.raises(DivergenceError, match=r"diverged at iteration \d+") as info:
        LinearRegression(lr=0.01, epochs=1000, method=method).fit(pts.X, pts.y)
    err = info.value
    assert "Try a learning rate below 0.0004" in str(err)
    assert np.all(np.isfinite(err.last_params["coef"]))
    assert err.iteration >= 1


def test_polynomial_regression_fits_w_x_squared_plus_b() -> None:
    x = np.linspace(-1, 1, 50)
    y = 3 * x**2 + 2
    m = PolynomialRegression(powers=(2,), lr=0.5, epochs=3000).fit(x, y)
    assert float(m.coef_[0]) == pytest.approx(3.0, rel=1e-6)
    assert m.intercept_ == pytest.approx(2.0, rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1.0}, r"lr must be a finite number > 0, got -1\.0"),
        ({"lr": float("nan")}, "lr must be a finite number > 0, got nan"),
        ({"epochs": 0}, "epochs must be a positive integer, got 0"),
        ({"method": "newton"}, "unknown method 'newton'; choose one of: batch, sgd, minibatch"),
        ({"engine": "jax"}, "unknown engine 'jax'; choose one of: numpy, torch, tensorflow"),
        ({"loss": "mae"}, "unknown loss 'mae' for LinearRegression; choose one of: mse, half_sse"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        LinearRegression(**kwargs).fit([[1.0], [2.0]], [1.0, 2.0])  # type: ignore[arg-type]


def test_shape_mismatch_is_named() -> None:
    with pytest.raises(DataError, match="X has 3 rows but y has 2 values"):
        LinearRegression().fit([[1.0], [2.0], [3.0]], [1.0, 2.0])


def test_non_finite_input_is_named() -> None:
    with pytest.raises(DataError, match=r"X\[1, 0\] is nan"):
        LinearRegression().fit([[1.0], [np.nan]], [1.0, 2.0])


def test_predict_before_fit_says_to_fit() -> None:
    with pytest.raises(UsageError, match="not fitted yet; call fit"):
        LinearRegression().predict([[1.0]])


def test_get_params_lists_the_constructor_arguments() -> None:
    params = PolynomialRegression(degree=3).get_params()
    assert params["degree"] == 3
    assert params["lr"] == 0.01
    assert "engine" in params
