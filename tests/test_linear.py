"""Linear regression: the tutorial's numbers, the fast paths against the plain loop, defaults.

Tolerances come from float64 rounding. A sum of k products computed in floating point is
off by at most about ``k * eps/2`` times the sum of the products' absolute values, so
for the squared loss every comparison below is bounded through

    A_i = |z_i| @ |theta| + |y_i|        (z_i = [x_i, 1], theta = [w, b]),

the largest a residual could be, whatever the cancellation: ``sum(A_i**2)`` bounds the
terms of ``sum(r**2)`` and of its expansion, ``|Z|.T @ A`` those of the gradient. The
bounds use ``4 * k * eps`` (a factor 8 over ``k * eps/2``) so that no correct arithmetic
order can fail them; a wrong formula misses them by orders of magnitude.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab import engines
from gradlab.data.points import load_csv, make_line
from gradlab.engines import Problem
from gradlab.engines import numpy_engine as ne
from gradlab.engines.numpy_engine import NumpyEngine, closed_form_trajectory, loss_and_grad
from gradlab.errors import DataError, DivergenceError, UsageError
from gradlab.models import LinearRegression, LogisticRegression, PolynomialRegression
from gradlab.models.linear import closed_form
from gradlab.ops.linear import SquaredStats, mse_surface, squared_error_scale

EPS = float(np.finfo(np.float64).eps)

# The tutorial's printed results (the linear-regression notes).
TUTORIAL_START_ERROR = 5565.107834483211
TUTORIAL_B = 0.08893651993741346
TUTORIAL_W = 1.4777440851894448
TUTORIAL_END_ERROR = 112.61481011613473


def same_digits(a: float, b: float, digits: int = 12) -> bool:
    return f"{a:.{digits - 1}e}" == f"{b:.{digits - 1}e}"


def random_problem(
    seed: int, n: int, d: int, offset: float, collinear: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Points with columns of different scales, optionally far from 0 (like data.csv's
    x in [20, 70]) or nearly collinear: both make ``X.T @ X`` ill-conditioned."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d) + offset
    if collinear and d > 1:
        X[:, 1] = X[:, 0] + 1e-6 * rng.normal(size=n)
    y = X @ rng.normal(size=d) + rng.normal(size=n)
    return X, y


def residual_bound(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """``A_i = |z_i| @ |theta| + |y_i|`` of the module docstring, shape (n,)."""
    out: np.ndarray = np.abs(X) @ np.abs(w) + abs(b) + np.abs(y)
    return out


def loss_rounding(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, reduction: str) -> float:
    """Bound on |plain loss - expanded loss|: both within ``4k eps * a * sum(A**2)``."""
    n, d = X.shape
    a = squared_error_scale(n, reduction)  # type: ignore[arg-type]
    return 4 * (n + 2 * d + 4) * EPS * a * float(np.sum(residual_bound(X, y, w, b) ** 2))


def grad_rounding(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, reduction: str
) -> np.ndarray:
    """Bound on |plain gradient - expanded gradient| per parameter [w, b], shape (d+1,)."""
    n, d = X.shape
    a = squared_error_scale(n, reduction)  # type: ignore[arg-type]
    A = residual_bound(X, y, w, b)
    Z = np.column_stack([np.abs(X), np.ones(n)])
    out: np.ndarray = 4 * (n + d + 2) * EPS * 2 * a * (Z.T @ A)
    return out


# ------------------------------------------------------------------ the tutorial


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


# ------------------------------------------------------------------ the fast paths


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 50),
    d=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    offset=st.sampled_from([0.0, 40.0]),
    collinear=st.booleans(),
    reduction=st.sampled_from(["mean", "sum"]),
)
def test_sufficient_statistics_give_the_plain_loss_and_gradient(
    n: int, d: int, seed: int, offset: float, collinear: bool, reduction: str
) -> None:
    X, y = random_problem(seed, n, d, offset, collinear)
    rng = np.random.default_rng(seed + 1)
    w, b = rng.normal(size=d), float(rng.normal())
    loss, gw, gb = loss_and_grad(X, y, w, b, "squared", reduction)
    s_loss, s_gw, s_gb = SquaredStats.of(X, y).loss_and_grad(w, b, reduction)  # type: ignore[arg-type]
    assert abs(s_loss - loss) <= loss_rounding(X, y, w, b, reduction)
    diff = np.abs(np.append(s_gw, s_gb) - np.append(gw, gb))
    assert np.all(diff <= grad_rounding(X, y, w, b, reduction))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_the_recorded_loss_of_data_far_from_zero_keeps_its_small_values(optimizer: str) -> None:
    """y near 1e6 fitted to residuals near 1e-3: uncentred sums lost the loss of 1e-6 in
    their rounding (about eps * sum(y**2) = 2e-4) and recorded 0.0. Centred, the bound is
    ``4k eps / n * sum((|xc| @ |w| + |b'| + |yc|)**2)``; the residuals' own rounding,
    ``(d + 2) eps * A_i`` each, adds ``2 (d + 2) eps * mean(|r| * A)``."""
    rng = np.random.default_rng(0)
    n, d = 200, 1
    X = rng.uniform(0, 1, size=(n, d))
    y = 1e6 + 2 * X[:, 0] + 1e-3 * rng.normal(size=n)
    h = LinearRegression(epochs=3000, optimizer=optimizer).fit(X, y).history_
    xc, yc = X[:, 0] - X.mean(), y - y.mean()
    for t in (1000, 2000, 3000):
        w, b, recorded = h["w"][t], h["b"][t], h["loss"][t]
        r = X[:, 0] * w + b - y
        b_c = b + X.mean() * w - y.mean()
        centred = (
            4 * (n + 2 * d + 4) * EPS / n * np.sum((np.abs(xc * w) + abs(b_c) + np.abs(yc)) ** 2)
        )
        plain = 2 * (d + 2) * EPS * np.mean(np.abs(r) * (np.abs(X[:, 0] * w) + abs(b) + np.abs(y)))
        assert np.mean(r**2) > 1000 * (centred + plain)  # a recorded 0.0 would fail
        assert abs(recorded - np.mean(r**2)) <= centred + plain


def plain_loop(
    X: np.ndarray, y: np.ndarray, w0: np.ndarray, b0: float, lr: float, steps: int, reduction: str
) -> tuple[np.ndarray, np.ndarray]:
    """The plain version: ``steps`` full-batch steps from the residuals; the parameters
    (steps+1, d+1) and losses (steps+1,) at each iterate."""
    engine = NumpyEngine(Problem(X, y, "squared", reduction), w0, b0, fast_paths=False)  # type: ignore[arg-type]
    thetas, losses = [np.append(w0, b0)], []
    for _ in range(steps):
        losses.append(engine.step(slice(None), lr))
        thetas.append(np.append(engine.w, engine.b))
    losses.append(engine.loss())
    return np.array(thetas), np.array(losses)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 40),
    d=st.integers(1, 4),
    steps=st.integers(1, 80),
    seed=st.integers(0, 2**32 - 1),
    frac=st.floats(0.05, 0.95),
    offset=st.sampled_from([0.0, 40.0]),
    collinear=st.booleans(),
    reduction=st.sampled_from(["mean", "sum"]),
)
def test_closed_form_trajectory_equals_the_plain_step_loop(
    n: int,
    d: int,
    steps: int,
    seed: int,
    frac: float,
    offset: float,
    collinear: bool,
    reduction: str,
) -> None:
    """The bound: each plain step is off by at most ``lr * grad_rounding``, and the step
    map ``I - lr * 2a * H`` has norm <= 1 at a stable rate, so t steps add up to t of
    those; the closed form is the exact trajectory of the rounded ``H`` and ``c`` (the
    same bound again) and of ``eigh``'s backward error ``||E|| <= 4(d+1) eps ||H||``,
    which moves iterate t by at most ``t * lr * 2a * ||E|| * max|theta|``, i.e.
    ``t * 8(d+1) eps * max|theta|``, plus a few eps of evaluating the powers. No term
    grows with the condition number of ``H``."""
    X, y = random_problem(seed, n, d, offset, collinear)
    rng = np.random.default_rng(seed + 1)
    w0, b0 = rng.normal(size=d), float(rng.normal())
    problem = Problem(X, y, "squared", reduction)  # type: ignore[arg-type]
    lr = frac * 2.0 / problem.curvature()
    thetas, losses = plain_loop(X, y, w0, b0, lr, steps, reduction)
    traj = closed_form_trajectory(problem.stats, w0, b0, lr, steps, reduction)  # type: ignore[arg-type]

    size = max(float(np.linalg.norm(t)) for t in thetas)
    per_step = lr * max(
        float(np.linalg.norm(grad_rounding(X, y, t[:-1], t[-1], reduction))) for t in thetas
    )
    t = np.arange(steps + 1)
    bound = 2 * t * per_step + t * 8 * (d + 1) * EPS * size + 4 * (d + 4) * EPS * size
    got = np.column_stack([traj.W, traj.B])
    assert np.all(np.linalg.norm(got - thetas, axis=1) <= bound)

    # The losses: each side's rounding, plus the first- and second-order change of the
    # loss over the parameter difference (gradient norm, curvature L).
    curv = problem.curvature()
    for k in range(steps + 1):
        w, b = thetas[k, :-1], thetas[k, -1]
        _, gw, gb = loss_and_grad(X, y, w, b, "squared", reduction)
        tol = (
            2 * loss_rounding(X, y, w, b, reduction)
            + float(np.linalg.norm(np.append(gw, gb))) * bound[k]
            + curv * bound[k] ** 2
        )
        assert abs(traj.losses[k] - losses[k]) <= tol


def test_fast_paths_off_gives_the_same_fit_on_the_tutorial_data(data_csv: Path) -> None:
    pts = load_csv(data_csv)
    fast = LinearRegression(lr=0.0001, epochs=1000).fit(pts.X, pts.y)
    plain = LinearRegression(lr=0.0001, epochs=1000, engine_options={"fast_paths": False})
    plain.fit(pts.X, pts.y)
    # data.csv: |theta| <= 2, |x| < 71, |y| < 120 -> the bound of the hypothesis test
    # above is below 1e-9 here after 1000 steps; 1e-12 relative is what it gives.
    np.testing.assert_allclose(fast.coef_, plain.coef_, rtol=1e-12)
    assert fast.intercept_ == pytest.approx(plain.intercept_, rel=1e-11)
    np.testing.assert_allclose(fast.history_["loss"], plain.history_["loss"], rtol=1e-11)


def test_the_loop_asks_the_engine_for_its_trajectory_only_with_fast_paths(
    monkeypatch: pytest.MonkeyPatch, data_csv: Path
) -> None:
    pts = load_csv(data_csv)
    calls: list[int] = []
    real = ne.closed_form_trajectory

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ne, "closed_form_trajectory", counting)
    LinearRegression(epochs=10).fit(pts.X, pts.y)
    assert calls == [1]
    LinearRegression(epochs=10, engine_options={"fast_paths": False}).fit(pts.X, pts.y)
    LinearRegression(epochs=10, method="minibatch").fit(pts.X, pts.y)
    assert calls == [1]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 30), seed=st.integers(0, 2**32 - 1), offset=st.sampled_from([0.0, 40.0]))
def test_mse_surface_equals_direct_evaluation_on_a_grid(n: int, seed: int, offset: float) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) * 10 + offset
    y = 1.5 * x + 4 + rng.normal(size=n)
    W, B = np.meshgrid(np.linspace(-3, 3, 7), np.linspace(-20, 20, 5))
    got = mse_surface(x, y, W, B)
    assert got.shape == W.shape
    X = x[:, None]
    for w, b, value in zip(W.ravel(), B.ravel(), got.ravel(), strict=True):
        direct = float(np.mean((w * x + b - y) ** 2))
        assert abs(value - direct) <= loss_rounding(X, y, np.array([w]), b, "mean")


# ------------------------------------------------------------------ curvature and lr="auto"


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_two_over_the_curvature_is_the_stability_boundary(reduction: str) -> None:
    X, y = random_problem(3, 40, 2, 5.0, False)
    problem = Problem(X, y, "squared", reduction)  # type: ignore[arg-type]
    edge = 2.0 / problem.curvature()
    below = LinearRegression(
        lr=0.98 * edge, epochs=3000, loss="mse" if reduction == "mean" else "half_sse"
    )
    below.fit(X, y)
    w, b = closed_form(X, y)
    np.testing.assert_allclose(below.coef_, w, rtol=1e-6)
    assert below.intercept_ == pytest.approx(b, rel=1e-6)
    above = LinearRegression(lr=1.02 * edge, epochs=3000, loss=below.loss)
    with pytest.raises(DivergenceError):
        above.fit(X, y)


def test_auto_rate_is_one_over_the_curvature_and_descends_monotonically(data_csv: Path) -> None:
    pts = load_csv(data_csv)
    m = LinearRegression().fit(pts.X, pts.y)
    assert m.lr_ == pytest.approx(1.0 / Problem(pts.X, pts.y, "squared", "mean").curvature())
    # At 1/L every step of full-batch descent on a quadratic lowers the loss (to rounding).
    losses = np.array(m.history_["loss"])
    assert np.all(np.diff(losses) <= 1e-12 * losses[:-1])


def test_auto_rate_descends_monotonically_on_the_logistic_loss() -> None:
    """The logistic loss is L-smooth with L <= max eig(Z.T @ Z) / (4n): at 1/L each step
    lowers it (the descent lemma), whatever the data's scale."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3)) * [1.0, 30.0, 0.1] + [0.0, 50.0, 0.0]
    y = (X @ [1.0, 0.05, -10.0] + rng.normal(size=300) > 2.5).astype(int)
    m = LogisticRegression(epochs=300).fit(X, y)
    losses = np.array(m.history_["loss"])
    assert np.all(np.diff(losses) <= 1e-12 * losses[:-1])


@pytest.mark.parametrize("kind", ["squared", "logistic"])
def test_wide_problems_bound_the_curvature_from_above(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    X, y = random_problem(4, 30, 4, 3.0, False)
    exact = Problem(X, (y > 0).astype(float), kind, "mean").curvature()  # type: ignore[arg-type]
    monkeypatch.setattr(engines, "EXACT_CURVATURE_MAX_D", 3)  # as if 5 columns were wide
    bound = Problem(X, (y > 0).astype(float), kind, "mean").curvature()  # type: ignore[arg-type]
    assert exact < bound <= 5 * exact  # trace over top eigenvalue: at most d + 1


@pytest.mark.parametrize("method", ["sgd", "minibatch"])
def test_auto_rate_keeps_stochastic_descent_stable_on_rows_of_very_different_size(
    method: str,
) -> None:
    """One row 100 times longer than the rest: its single-point curvature is far above the
    full-batch one, and 1/L_full would throw the parameters off on that row."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    X[7] *= 100
    y = X @ [1.0, -2.0] + 0.5 + 0.1 * rng.normal(size=200)
    m = LinearRegression(method=method, epochs=50, batch_size=8).fit(X, y)
    full = Problem(X, y, "squared", "mean").curvature()
    assert m.lr_ < 1.0 / full
    assert np.all(np.isfinite(m.coef_))
    assert m.history_["loss"][-1] < m.history_["loss"][0]


# ------------------------------------------------------------------ descent


def test_long_descent_reaches_the_closed_form() -> None:
    pts = make_line(100, seed=1)
    m = LinearRegression(lr=0.01, epochs=20_000).fit(pts.X, pts.y)
    w, b = closed_form(pts.X, pts.y)
    np.testing.assert_allclose(m.coef_, w, rtol=1e-8)
    assert m.intercept_ == pytest.approx(b, rel=1e-8)


@pytest.mark.parametrize("method", ["sgd", "minibatch"])
def test_stochastic_methods_get_close_to_the_closed_form(method: str) -> None:
    pts = make_line(200, x_range=(-3.0, 3.0), seed=2)
    m = LinearRegression(lr=0.002, epochs=100, method=method, batch_size=16, random_state=0)
    m.fit(pts.X, pts.y)
    w, b = closed_form(pts.X, pts.y)
    assert float(m.coef_[0]) == pytest.approx(float(w[0]), abs=0.05)
    assert m.intercept_ == pytest.approx(b, abs=0.05)


def test_shuffling_is_seeded_by_random_state() -> None:
    pts = make_line(50, seed=0)
    runs = [
        LinearRegression(lr=0.001, epochs=5, method="sgd", random_state=s).fit(pts.X, pts.y).coef_
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


def test_closed_form_and_loop_stop_at_the_same_iteration_with_the_same_parameters(
    data_csv: Path,
) -> None:
    pts = load_csv(data_csv)
    errors = []
    for options in (None, {"fast_paths": False}):
        with pytest.raises(DivergenceError) as info:
            LinearRegression(lr=0.001, epochs=1000, engine_options=options).fit(pts.X, pts.y)
        errors.append(info.value)
    fast, plain = errors
    assert fast.iteration == plain.iteration
    assert fast.last_params["epoch"] == plain.last_params["epoch"]
    np.testing.assert_allclose(fast.last_params["coef"], plain.last_params["coef"], rtol=1e-9)


# ------------------------------------------------------------------ polynomial regression


def test_polynomial_regression_fits_w_x_squared_plus_b() -> None:
    x = np.linspace(-1, 1, 50)[:, None]
    y = 3 * x[:, 0] ** 2 + 2
    m = PolynomialRegression(powers=(2,), lr=0.5, epochs=3000).fit(x, y)
    assert float(m.coef_[0]) == pytest.approx(3.0, rel=1e-6)
    assert m.intercept_ == pytest.approx(2.0, rel=1e-6)


def test_polynomial_regression_takes_the_powers_of_each_feature() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(80, 2))
    y = 1.0 * X[:, 0] - 2.0 * X[:, 1] + 0.5 * X[:, 0] ** 2 + 3.0 * X[:, 1] ** 2 + 1.0
    m = PolynomialRegression(degree=2, epochs=20_000).fit(X, y)
    # coef_[k * n_features + j] multiplies X[:, j] ** (k + 1)
    np.testing.assert_allclose(m.coef_, [1.0, -2.0, 0.5, 3.0], atol=1e-6)
    assert m.intercept_ == pytest.approx(1.0, abs=1e-6)
    assert m.n_features_in_ == 2


# ------------------------------------------------------------------ errors and parameters


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1.0}, r"LinearRegression: lr must be a number > 0 or 'auto'; got -1\.0\."),
        ({"lr": float("nan")}, "lr must be a number > 0 or 'auto'; got nan"),
        ({"lr": "fast"}, "lr must be a number > 0 or 'auto'; got 'fast'"),
        ({"epochs": 0}, r"epochs must be an integer in \[1, 1000000\]; got 0"),
        # each epoch keeps a row of history: a mistyped count must not fill the memory
        ({"epochs": 10**12}, r"epochs must be an integer in \[1, 1000000\]; got 1000000000000"),
        ({"method": "newton"}, "method must be one of 'batch', 'sgd', 'minibatch'; got 'newton'"),
        ({"engine": "jax"}, "engine must be one of 'numpy', 'torch', 'tensorflow'; got 'jax'"),
        ({"loss": "mae"}, "LinearRegression: loss must be one of 'mse', 'half_sse'; got 'mae'"),
        ({"random_state": -1}, "random_state must be an integer >= 0, None, or a numpy"),
        ({"random_state": "0"}, r"random_state must be .*; got '0'"),
        ({"engine_options": "fast"}, "engine_options must be a dict of engine options or None"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        LinearRegression(**kwargs).fit([[1.0], [2.0]], [1.0, 2.0])  # type: ignore[arg-type]


def test_a_wide_x_takes_the_plain_steps_not_the_sufficient_statistics() -> None:
    """Thousands of columns: the sums are (d+1)**2 numbers and the closed form an O(d**3)
    eigendecomposition (a 700 KB CSV of 20,000 columns held 9.5 GB), so the engine steps
    on the data, and takes the same steps as with the fast paths off."""
    rng = np.random.default_rng(0)
    X, y = rng.random((5, engines.EXACT_CURVATURE_MAX_D)), rng.random(5)
    engine = NumpyEngine(Problem(X, y, "squared", "mean"), np.zeros(X.shape[1]), 0.0)
    assert engine.stats is None
    assert engine.trajectory(0.01, 3) is None
    fast = LinearRegression(epochs=3).fit(X, y)
    plain = LinearRegression(epochs=3, engine_options={"fast_paths": False}).fit(X, y)
    np.testing.assert_array_equal(fast.coef_, plain.coef_)
    narrow = X[:, : engines.EXACT_CURVATURE_MAX_D - 1]
    assert NumpyEngine(Problem(narrow, y, "squared", "mean"), np.zeros(narrow.shape[1]), 0.0).stats


def test_fast_paths_must_be_a_bool() -> None:
    m = LinearRegression(engine_options={"fast_paths": "no"})
    with pytest.raises(UsageError, match="fast_paths must be True or False, got 'no'"):
        m.fit([[1.0], [2.0]], [1.0, 2.0])


def test_shape_mismatch_is_named() -> None:
    with pytest.raises(DataError, match="X has 3 rows but y has 2 values"):
        LinearRegression().fit([[1.0], [2.0], [3.0]], [1.0, 2.0])


def test_non_finite_input_is_named() -> None:
    with pytest.raises(DataError, match=r"X\[1, 0\] is NaN; values must be finite"):
        LinearRegression().fit([[1.0], [np.nan]], [1.0, 2.0])
    with pytest.raises(DataError, match=r"X\[1, 0\] is None; values must be finite"):
        LinearRegression().fit(np.array([[1.0], [None]], dtype=object), [1.0, 2.0])


def test_one_dimensional_x_says_how_to_reshape() -> None:
    with pytest.raises(
        DataError, match=r"got shape \(3,\)\. Reshape your data: .*reshape\(-1, 1\)"
    ):
        LinearRegression().fit([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])


def test_predict_before_fit_says_to_fit() -> None:
    with pytest.raises(UsageError, match="not fitted yet; call fit"):
        LinearRegression().predict([[1.0]])


def test_get_params_lists_the_constructor_arguments() -> None:
    params = PolynomialRegression(degree=3).get_params()
    assert params["degree"] == 3
    assert params["lr"] == "auto"
    assert "engine" in params


@pytest.mark.parametrize("cls", [LinearRegression, PolynomialRegression])
def test_the_validation_table_names_every_parameter(cls: type) -> None:
    assert set(cls._parameter_constraints) == set(cls().get_params())


@pytest.mark.parametrize("method", ["batch", "sgd"])
def test_a_start_whose_loss_overflows_is_refused_not_blamed_on_the_rate(method: str) -> None:
    import warnings

    p = make_line(20, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no raw NumPy overflow warning
        with pytest.raises(UsageError) as info:
            LinearRegression(method=method, epochs=3).fit(p.X, p.y, coef_init=[1e200])
    assert info.value.message == (
        "the loss at the starting point (coef_init = [1e+200], intercept_init = 0) is inf: "
        "those values are too large for this data."
    )
    assert info.value.hint == (
        "Start nearer zero, or leave coef_init and intercept_init out (zeros)."
    )


def test_targets_too_large_to_square_are_named_not_the_zero_start() -> None:
    """The start was every weight 0, which the user did not choose and cannot improve on."""
    p = make_line(20, seed=0)
    with pytest.raises(UsageError) as info:
        LinearRegression(epochs=3).fit(p.X, p.y * 1e155)
    assert info.value.message == (
        "the loss at the starting point (every weight 0) is inf: the targets y are too large "
        "for float64 (their squares overflow)."
    )
    assert info.value.hint is not None
    assert "TransformedTargetRegressor" in info.value.hint


def test_a_divergence_at_the_first_step_reports_the_start_as_it_was_given() -> None:
    """The closed-form path's iterate 0 is the start, not its round trip through the
    eigenbasis (which, for a start of 1e150, came back with an intercept of 6e132)."""
    p = make_line(20, seed=0)
    with pytest.raises(DivergenceError) as info:
        LinearRegression(lr=1e10, epochs=3).fit(p.X, p.y, coef_init=[1e150])
    last = info.value.last_params
    assert last["epoch"] == 0
    assert list(last["coef"]) == [1e150]
    assert last["intercept"] == 0.0


@pytest.mark.filterwarnings("ignore::gradlab.models.ConvergenceWarning")
@pytest.mark.parametrize(("method", "steps"), [("batch", 3), ("sgd", 180), ("minibatch", 24)])
def test_n_iter_counts_epochs_and_n_steps_counts_updates(method: str, steps: int) -> None:
    X = np.random.default_rng(0).uniform(size=(60, 2))
    m = LinearRegression(method=method, batch_size=8, epochs=3).fit(X, X @ [1.0, 2.0])
    assert (m.n_iter_, m.n_steps_) == (3, steps)
