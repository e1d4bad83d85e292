"""A regression that stops far from its least-squares fit says so (ConvergenceWarning), and
why; fits that end close enough, or are cut short on purpose, stay quiet."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from gradlab.errors import GradlabWarning
from gradlab.models import ConvergenceWarning, LinearRegression, PolynomialRegression
from gradlab.models.base import short_fits_expected


def far_from_zero(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points like the tutorial's data.csv: x between 20 and 80, a noisy line."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(20, 80, size=n)
    return x[:, None], 1.3 * x + 8 + rng.normal(0, 10, size=n)


def quiet(fit: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fit()  # type: ignore[operator]


def test_the_warning_is_scikit_learns_and_gradlabs() -> None:
    assert issubclass(ConvergenceWarning, SklearnConvergenceWarning)
    assert issubclass(ConvergenceWarning, GradlabWarning)


def test_powers_of_unscaled_inputs_warn_and_say_to_scale_them() -> None:
    X, y = far_from_zero()
    with pytest.warns(ConvergenceWarning) as record:
        PolynomialRegression(degree=2).fit(X, y)
    message = str(record[0].message)
    assert message.startswith("PolynomialRegression stopped far from the least-squares fit")
    assert "; after 1000 epochs of batch descent at lr" in message
    assert "scale X into [-1, 1] first (sklearn.preprocessing.MaxAbsScaler)" in message
    # the advice works: scaled, the same model reaches the closed form's R² and is quiet
    pipe = make_pipeline(MaxAbsScaler(), PolynomialRegression(degree=2))
    quiet(lambda: pipe.fit(X, y))
    scaled = X / np.abs(X).max()
    w, b = PolynomialRegression(degree=2).closed_form(scaled, y)
    residual = np.hstack([scaled, scaled**2]) @ w + b - y
    closed = 1 - np.sum(residual**2) / np.sum((y - y.mean()) ** 2)
    assert pipe.score(X, y) == pytest.approx(closed, abs=0.01)


def test_the_message_gives_both_losses_and_both_r2_values() -> None:
    X, y = far_from_zero()
    with pytest.warns(ConvergenceWarning) as record:
        model = PolynomialRegression(degree=2).fit(X, y)
    w, b = model.closed_form(X, y)
    best = float(np.mean((np.hstack([X, X**2]) @ w + b - y) ** 2))
    variance = float(np.var(y))
    message = str(record[0].message)
    assert f"its training loss is {model.loss_value(X, y):.4g}, the closed form's" in message
    assert f"the closed form's {best:.4g} (R² {model.score(X, y):.3g} against" in message
    assert f"against {1 - best / variance:.3g}; after 1000 epochs" in message


def test_a_fit_several_times_the_least_squares_loss_warns_though_its_r2_looks_fine() -> None:
    """A line over x in 0..15 at lr 0.0001 for 1,000 epochs: R² 0.91 against 0.98, but
    four times the least-squares loss, the intercept 0.35 where the data's is about 4."""
    from gradlab.data.points import make_line

    pts = make_line(100, w=1.5, b=4.0, noise=1.0, seed=0)
    with pytest.warns(ConvergenceWarning, match=r"Give more epochs, or a larger lr"):
        LinearRegression(lr=0.0001, epochs=1000).fit(pts.X, pts.y)
    quiet(lambda: LinearRegression(epochs=1000).fit(pts.X, pts.y))  # the auto rate gets there


@pytest.mark.parametrize(
    ("method", "larger"),
    [
        ("sgd", "take mini-batches (method='minibatch'; --method minibatch)"),
        ("minibatch", "take larger batches (batch_size; --batch-size)"),
    ],
)
def test_stochastic_descent_that_stops_short_warns_with_its_own_advice(
    method: str, larger: str
) -> None:
    X, y = far_from_zero()
    with pytest.warns(ConvergenceWarning) as w:
        LinearRegression(method=method, lr=1e-7, epochs=1).fit(X, y)
    message = str(w[0].message)
    assert "after 1 epoch of" in message
    assert message.endswith(
        f"Stochastic steps end wherever the last batches left them, and too few of them stop "
        f"short: {larger}, a rate that falls (schedule='cosine'; --schedule cosine) or more "
        "epochs."
    )
    # a rate that falls already is not advised again
    with pytest.warns(ConvergenceWarning) as w:
        LinearRegression(method=method, lr=1e-7, epochs=1, schedule="cosine").fit(X, y)
    assert str(w[0].message).endswith(f"stop short: {larger} or more epochs.")


@pytest.mark.parametrize("seed", range(4))
def test_sgd_whose_rate_falls_to_zero_ends_close_enough_to_stay_quiet(seed: int) -> None:
    X, y = far_from_zero(seed=seed)
    quiet(
        lambda: LinearRegression(method="sgd", epochs=50, schedule="cosine", random_state=seed).fit(
            X, y
        )
    )


def test_too_few_epochs_on_well_scaled_data_advise_more_epochs() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2))
    y = X @ [2.0, -1.0] + 0.1 * rng.normal(size=50)
    with pytest.warns(ConvergenceWarning) as w:
        LinearRegression(lr=0.001, epochs=5).fit(X, y)
    assert str(w[0].message).endswith(
        "Give more epochs, or a larger lr (--epochs, --lr on the command line)."
    )


def test_a_repeated_column_is_not_taken_for_features_of_different_scales() -> None:
    """Its zero curvature (up to rounding) made the spread 1e+15-fold."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=60)
    X = np.column_stack([x, x])
    with pytest.warns(ConvergenceWarning) as w:
        LinearRegression(lr=0.001, epochs=3).fit(X, 2 * x + 0.1 * rng.normal(size=60))
    assert "Give more epochs" in str(w[0].message)
    assert "curvature differs" not in str(w[0].message)


def test_weight_decay_moves_the_optimum_so_the_check_is_skipped() -> None:
    """L2 regularisation ends away from least squares by design: a converged fit warned."""
    from gradlab.optim import make_rule

    X, y = far_from_zero()
    Xs = (X - X.mean()) / X.std()
    quiet(
        lambda: LinearRegression(optimizer=make_rule("sgd", weight_decay=1.0), epochs=500).fit(
            Xs, y
        )
    )


def test_another_threads_fits_are_still_checked_inside_short_fits_expected() -> None:
    """warnings.catch_warnings changed the process's filters: a fit in another thread lost
    its warning while one thread was inside the block."""
    import threading

    X, y = far_from_zero()
    inside, done = threading.Event(), threading.Event()

    def hold() -> None:
        with short_fits_expected():
            inside.set()
            done.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        inside.wait(10)
        with pytest.warns(ConvergenceWarning):
            PolynomialRegression(degree=2, epochs=1).fit(X, y)
    finally:
        done.set()
        t.join()


def test_the_tutorials_fit_is_close_enough_to_stay_quiet() -> None:
    """lr 0.0001 for 1,000 epochs on x in 20..80 leaves the intercept far from its
    optimum, but the loss within a few percent of the least-squares loss."""
    X, y = far_from_zero()
    quiet(lambda: LinearRegression(lr=0.0001, epochs=1000).fit(X, y))
    quiet(lambda: LinearRegression().fit(X, y))


def test_a_constant_target_never_warns() -> None:
    X, _ = far_from_zero()
    quiet(lambda: LinearRegression(lr=1e-6, epochs=1).fit(X, np.full(len(X), 3.0)))


def test_fits_cut_short_on_purpose_can_be_silenced() -> None:
    X, y = far_from_zero()
    quiet(lambda: _short(X, y))


def _short(X: np.ndarray, y: np.ndarray) -> None:
    with short_fits_expected():
        PolynomialRegression(degree=2, epochs=1).fit(X, y)


def test_the_comparison_and_the_tours_rate_sweep_stay_quiet() -> None:
    """Their warm-up epochs and their sweep over too-small rates are short on purpose."""
    from gradlab.data.points import make_line
    from gradlab.jobs.compare import compare
    from gradlab.tour import linreg_rate_data

    quiet(lambda: compare("quadratic", engines=["numpy"], methods=["batch", "sgd"], seed=0))
    points = make_line(100, w=1.5, b=4.0, noise=1.0, seed=0)
    quiet(lambda: linreg_rate_data(points, [1e-6, 1e-4], epochs=20, initial=1e-6))


def test_large_data_whose_sums_the_fit_never_computed_skips_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check's sums cost a pass and a centred copy of X: where the fit did not compute
    them (an engine that steps on the data), data over the limit is not checked; sums the
    fit computed are used whatever the size."""
    import gradlab.models.base as base
    from gradlab.engines import Problem

    X, y = far_from_zero()
    monkeypatch.setattr(base, "CONVERGENCE_CHECK_MAX_VALUES", X.size - 1)
    model = LinearRegression(lr=1e-7, epochs=1)
    with short_fits_expected():
        model.fit(X, y)
    fresh = Problem(X, y, "squared", "mean")
    quiet(lambda: model._warn_if_short(fresh))
    assert "stats" not in vars(fresh)  # not computed for the check
    fresh.stats  # noqa: B018 (as the fit's auto rate computes them)
    with pytest.warns(ConvergenceWarning):
        model._warn_if_short(fresh)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(10, 60),
    d=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    noise=st.floats(0.0, 3.0),
    shift=st.floats(-5.0, 5.0),
)
def test_a_fit_run_to_its_end_on_reasonably_scaled_data_never_warns(
    n: int, d: int, seed: int, noise: float, shift: float
) -> None:
    """No false alarm: with the auto rate and enough epochs plain descent reaches least
    squares on data whose scales are within a few units of each other."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + shift
    y = X @ rng.normal(size=d) + 3.0 + noise * rng.normal(size=n)
    quiet(lambda: LinearRegression(epochs=20_000).fit(X, y))
