"""Fitted models and comparisons draw themselves: ``plot_fit``, ``plot_loss``,
``plot_surface``, ``plot_decision`` and ``Comparison.plot`` return gradlab Figures with
the data, labels and curves they promise, and refuse what they cannot draw with a message
that says what to do."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from gradlab.errors import DataError, UsageError
from gradlab.models import LinearRegression, LogisticRegression, PolynomialRegression
from gradlab.viz.estimators import equation
from gradlab.viz.figure import Figure


def line_data(n: int = 40, d: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 5, size=(n, d))
    y = X @ np.arange(1.0, d + 1) + 2.0 + rng.normal(0, 0.3, n)
    return X, y


def blobs(d: int, labels: tuple[object, object] = (0, 1)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    t = rng.integers(0, 2, 60)
    X = rng.normal(size=(60, d)) + 1.5 * t[:, None]
    return X, np.array(labels, dtype=object)[t] if labels != (0, 1) else t


def labelled(ax: object) -> dict[str, object]:
    """The artists of an axes that carry a label (lines and scatters), by label."""
    children = [*ax.lines, *ax.collections]  # type: ignore[attr-defined]
    return {str(a.get_label()): a for a in children if not str(a.get_label()).startswith("_")}


# ------------------------------------------------------------------ LinearRegression


def test_plot_fit_draws_the_data_the_descent_line_and_the_closed_form() -> None:
    X, y = line_data()
    m = LinearRegression(lr=0.01, epochs=50).fit(X, y)
    fig = m.plot_fit(X, y)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    assert ax.get_title() == "LinearRegression: gradient descent beside the closed form"
    descent, closed = ax.lines
    assert descent.get_label() == (
        f"gradient descent (batch, lr=0.01, 50 epochs): {equation(m.coef_, m.intercept_)}"
    )
    cw, cb = m.closed_form(X, y)
    assert closed.get_label() == f"closed form (least squares): {equation(cw, cb)}"
    grid = descent.get_xdata()
    np.testing.assert_allclose(descent.get_ydata(), m.predict(grid[:, None]), rtol=1e-12)
    np.testing.assert_allclose(closed.get_ydata(), cw[0] * grid + cb, rtol=1e-12)
    (points,) = ax.collections
    np.testing.assert_array_equal(points.get_offsets(), np.column_stack([X[:, 0], y]))


def test_plot_fit_names_the_axis_after_the_dataframe_column() -> None:
    pd = pytest.importorskip("pandas")
    X, y = line_data()
    frame = pd.DataFrame({"hours": X[:, 0]})
    fig = LinearRegression(epochs=20).fit(frame, y).plot_fit(frame, y)
    assert fig.axes[0].get_xlabel() == "hours"


def test_plot_fit_of_a_polynomial_draws_its_curve_with_its_formula() -> None:
    x = np.linspace(-1, 1, 30)
    y = 3 * x**2 + 2
    m = PolynomialRegression(powers=(2,), epochs=300).fit(x[:, None], y)
    ax = m.plot_fit(x[:, None], y).axes[0]
    descent, closed = ax.lines
    assert "x²" in descent.get_label()
    assert closed.get_label() == "closed form (least squares): y = 3x² + 2"
    grid = descent.get_xdata()
    np.testing.assert_allclose(descent.get_ydata(), m.predict(grid[:, None]), rtol=1e-12)


def test_plot_fit_with_several_features_plots_predictions_against_the_truth() -> None:
    X, y = line_data(d=3)
    m = LinearRegression(epochs=100).fit(X, y)
    ax = m.plot_fit(X, y).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("true y", "predicted y")
    artists = labelled(ax)
    assert "perfect prediction (y = x)" in artists
    descent = artists["gradient descent (batch, lr=" + f"{m.lr_:.3g}, 100 epochs)"]
    np.testing.assert_allclose(descent.get_offsets(), np.column_stack([y, m.predict(X)]))


def test_plot_loss_draws_the_history_and_the_closed_form_floor() -> None:
    X, y = line_data()
    m = LinearRegression(lr=0.01, epochs=30).fit(X, y)
    ax = m.plot_loss().axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "mean squared error (log scale)")
    assert ax.get_title() == (
        "LinearRegression: mean squared error per epoch\n(batch, lr=0.01, 30 epochs)"
    )
    (curve,) = ax.lines
    np.testing.assert_array_equal(curve.get_ydata(), m.history_["loss"])
    np.testing.assert_array_equal(curve.get_xdata(), np.arange(31))

    ax = m.plot_loss(X, y).axes[0]
    curve, floor = ax.lines
    cw, cb = m.closed_form(X, y)
    best = float(np.mean((X @ cw + cb - y) ** 2))
    assert floor.get_ydata()[0] == pytest.approx(best, rel=1e-12)
    assert floor.get_label() == f"closed form (least squares): {best:.6g}"


def test_plot_loss_names_the_half_sum_loss() -> None:
    X, y = line_data()
    m = LinearRegression(loss="half_sse", epochs=5).fit(X, y)
    ax = m.plot_loss(X, y).axes[0]
    assert ax.get_ylabel() == "0.5 * sum of squared errors (log scale)"
    cw, cb = m.closed_form(X, y)
    assert ax.lines[1].get_ydata()[0] == pytest.approx(
        0.5 * float(np.sum((X @ cw + cb - y) ** 2)), rel=1e-12
    )


def test_plot_loss_wants_both_x_and_y_or_neither() -> None:
    X, y = line_data()
    m = LinearRegression(epochs=5).fit(X, y)
    with pytest.raises(UsageError, match=r"takes both X and y .* or neither; got only X\."):
        m.plot_loss(X)
    with pytest.raises(UsageError, match=r"got only y\."):
        m.plot_loss(y=y)


def test_plot_surface_draws_the_path_on_the_loss_with_the_closed_form() -> None:
    X, y = line_data()
    m = LinearRegression(lr=0.01, epochs=40).fit(X, y)
    fig = m.plot_surface(X, y)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("w (slope)", "b (intercept)")
    assert fig.axes[1].get_ylabel() == "log10 of the mean squared error"  # the colour bar
    lines = {line.get_label(): line for line in ax.lines}
    np.testing.assert_array_equal(lines["descent path"].get_xdata(), m.history_["w"])
    np.testing.assert_array_equal(lines["descent path"].get_ydata(), m.history_["b"])
    cw, cb = m.closed_form(X, y)
    star = lines["least squares (closed form)"]
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (pytest.approx(cw[0]), pytest.approx(cb))


def test_plot_surface_of_the_tutorials_quadratic_uses_x_squared_as_the_feature() -> None:
    x = np.linspace(-1, 1, 30)
    y = 3 * x**2 + 2
    m = PolynomialRegression(powers=(2,), loss="half_sse", lr=0.01, epochs=50).fit(x[:, None], y)
    ax = m.plot_surface(x[:, None], y).axes[0]
    assert ax.get_title().startswith("Loss surface (its shape: 0.5*sum is n/2 times the mean)")
    star = {line.get_label(): line for line in ax.lines}["least squares (closed form)"]
    assert star.get_xdata()[0] == pytest.approx(3.0)
    assert star.get_ydata()[0] == pytest.approx(2.0)


def test_plot_surface_at_equal_scale_draws_a_square_box_around_the_same_centre() -> None:
    """On a box of the path's own shape a round bowl (standardised input) looked oval; at
    one scale the box is a square around the same centre, holding all of the default one,
    and matplotlib keeps one data unit as long on both axes."""
    X, y = line_data()
    m = LinearRegression(lr=0.01, epochs=40).fit(X, y)
    plain = m.plot_surface(X, y).axes[0]
    ax = m.plot_surface(X, y, equal_scale=True).axes[0]
    (w_lo, w_hi), (b_lo, b_hi) = ax.get_xlim(), ax.get_ylim()
    assert w_hi - w_lo == pytest.approx(b_hi - b_lo)
    (pw_lo, pw_hi), (pb_lo, pb_hi) = plain.get_xlim(), plain.get_ylim()
    assert w_hi - w_lo == pytest.approx(max(pw_hi - pw_lo, pb_hi - pb_lo))
    assert (w_lo + w_hi) / 2 == pytest.approx((pw_lo + pw_hi) / 2)
    assert (b_lo + b_hi) / 2 == pytest.approx((pb_lo + pb_hi) / 2)
    assert ax.get_aspect() == 1.0
    assert plain.get_aspect() == "auto"


def test_plot_surface_refuses_an_equal_scale_that_is_not_a_bool() -> None:
    X, y = line_data()
    m = LinearRegression(epochs=5).fit(X, y)
    with pytest.raises(UsageError) as err:
        m.plot_surface(X, y, equal_scale="yes")  # type: ignore[arg-type]
    assert str(err.value) == (
        "LinearRegression.plot_surface: equal_scale must be True or False; got 'yes'."
    )


def test_plot_surface_refuses_a_model_with_more_than_one_weight() -> None:
    X, y = line_data(d=2)
    m = LinearRegression(epochs=5).fit(X, y)
    with pytest.raises(UsageError) as err:
        m.plot_surface(X, y)
    assert str(err.value) == (
        "LinearRegression.plot_surface() draws the loss over (w, b), which needs a model "
        "with one weight; this LinearRegression has 2 (2 features). Fit on one feature to "
        "see the surface; plot_loss() and plot_fit(X, y) work for any model."
    )
    x = X[:, :1]
    p = PolynomialRegression(degree=2, epochs=5).fit(x, y)
    with pytest.raises(UsageError, match=r"has 2 \(1 feature, powers 1, 2\)\. Fit on one "
                       r"feature with one power, e\.g\. powers=\(2,\),"):  # fmt: skip
        p.plot_surface(x, y)


def test_plot_methods_check_the_data_like_predict() -> None:
    X, y = line_data()
    m = LinearRegression(epochs=5).fit(X, y)
    with pytest.raises(DataError, match="X has 2 features, but LinearRegression is expecting 1"):
        m.plot_fit(np.hstack([X, X]), y)
    with pytest.raises(DataError, match="X has 40 rows but y has 39 values"):
        m.plot_surface(X, y[:-1])


@pytest.mark.parametrize(
    ("model", "call"),
    [
        (LinearRegression(), lambda m, X, y: m.plot_fit(X, y)),
        (LinearRegression(), lambda m, X, y: m.plot_loss()),
        (PolynomialRegression(), lambda m, X, y: m.plot_surface(X, y)),
        (LogisticRegression(), lambda m, X, y: m.plot_loss()),
        (LogisticRegression(), lambda m, X, y: m.plot_decision(X, y)),
    ],
)
def test_unfitted_models_raise_scikit_learns_not_fitted_error(model, call) -> None:  # type: ignore[no-untyped-def]
    X, y = line_data()
    with pytest.raises(NotFittedError) as err:
        call(model, X, y)
    name = type(model).__name__
    assert str(err.value).startswith(f"{name}.plot_")
    assert str(err.value).endswith(
        f"() draws a fitted model, and this {name} is not fitted yet: call fit(X, y) first."
    )


# ------------------------------------------------------------------ LogisticRegression


def test_logistic_plot_loss_draws_the_cross_entropy_per_epoch() -> None:
    X, t = blobs(2)
    m = LogisticRegression(epochs=25).fit(X, t)
    ax = m.plot_loss().axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (
        "epoch",
        "binary cross-entropy (mean) (log scale)",
    )
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), m.history_["loss"])


def test_plot_decision_with_two_features_draws_probability_boundary_and_classes() -> None:
    X, t = blobs(2)
    m = LogisticRegression(epochs=200).fit(X, t)
    fig = m.plot_decision(X, t, feature_names=["radius", "texture"])
    ax, bar = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("radius", "texture")
    assert bar.get_ylabel() == "P(y = 1 | x)"
    artists = labelled(ax)
    np.testing.assert_array_equal(artists["class 0"].get_offsets(), X[t == 0])
    np.testing.assert_array_equal(artists["class 1"].get_offsets(), X[t == 1])
    assert "decision boundary (P = 0.5)" in artists
    # the boundary drawn is where the logit is 0
    boundary = next(c for c in ax.collections if list(getattr(c, "levels", [])) == [0.5])
    (path,) = [p for p in boundary.get_paths() if len(p.vertices)]
    np.testing.assert_allclose(m.decision_function(path.vertices), 0, atol=0.05)


def test_plot_decision_with_one_feature_draws_the_sigmoid_and_the_boundary() -> None:
    X, labels = blobs(1, labels=("ham", "spam"))
    m = LogisticRegression(epochs=200).fit(X, labels)
    ax = m.plot_decision(X, labels).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "P(y = spam | x)")
    artists = labelled(ax)
    curve = next(a for k, a in artists.items() if k.startswith("P(y = spam | x) = sigmoid("))
    np.testing.assert_allclose(
        curve.get_ydata(), m.predict_proba(curve.get_xdata()[:, None])[:, 1], rtol=1e-12
    )
    line = next(a for k, a in artists.items() if k.startswith("decision boundary x = "))
    assert line.get_xdata()[0] == pytest.approx(-m.intercept_ / m.coef_[0])
    assert artists["class spam"].get_offsets()[:, 1].tolist() == [1.0] * int(
        np.sum(labels == "spam")
    )


def test_plot_decision_refuses_more_than_two_features_and_unseen_labels() -> None:
    X, t = blobs(3)
    m = LogisticRegression(epochs=5).fit(X, t)
    with pytest.raises(UsageError) as err:
        m.plot_decision(X, t)
    assert str(err.value) == (
        "LogisticRegression.plot_decision() draws one or two features, and this "
        "LogisticRegression was fitted on 3. Fit one on two columns (X[:, [i, j]]) to see "
        "its decision boundary; plot_loss() works for any number."
    )
    m2 = LogisticRegression(epochs=5).fit(X[:, :2], t)
    with pytest.raises(DataError, match=r"y\[0\] is 7, which is not one of the classes"):
        m2.plot_decision(X[:, :2], np.full(60, 7))
    with pytest.raises(UsageError, match=r"feature_names must name the 2 feature\(s\); got 1"):
        m2.plot_decision(X[:, :2], t, feature_names=["only one"])


# ------------------------------------------------------------------ Comparison


def test_comparison_plot_draws_one_curve_per_method_and_still_unpacks() -> None:
    from gradlab.jobs.compare import compare

    result = compare("quadratic", engines=["numpy"], methods=["batch", "sgd"], lr=0.1,
                     epochs=3, loss="mse")  # fmt: skip
    data, rows = result
    assert data.name == "quadratic"
    assert len(rows) == 2
    ax = result.plot().axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "loss on all the data (log scale)")
    assert [line.get_label() for line in ax.lines] == ["batch", "sgd"]
    # curves that coincide (engines that agree) stay visible: own dash, narrower on top
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--"]
    assert ax.lines[0].get_linewidth() > ax.lines[1].get_linewidth()
    for line, row in zip(ax.lines, rows, strict=True):
        np.testing.assert_array_equal(line.get_ydata(), row.history)
        np.testing.assert_array_equal(line.get_xdata(), [0, 1, 2, 3])

    ax = result.plot(per="step").axes[0]
    assert ax.get_ylabel() == "loss of the batch stepped on (log scale)"
    batch, sgd = ax.lines
    np.testing.assert_allclose(batch.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(sgd.get_xdata(), np.arange(300) / 100)
    np.testing.assert_array_equal(sgd.get_ydata(), rows[1].step_loss)


def test_comparison_labels_name_engines_when_the_method_is_one() -> None:
    from gradlab.jobs.compare import Comparison, Dataset, Row

    def row(engine: str, method: str) -> Row:
        return Row(engine, method, [1.0], 0.0, 1.0, 2, 0.1, [2.0, 1.5, 1.0], [2.0, 1.5])

    data = Dataset("line", np.zeros((2, 1)), np.zeros(2))
    assert Comparison(data, [row("numpy", "sgd"), row("torch", "sgd")]).labels() == [
        "numpy",
        "torch",
    ]
    both = Comparison(data, [row("numpy", "sgd"), row("torch", "batch")])
    assert both.labels() == ["numpy sgd", "torch batch"]
    assert [line.get_label() for line in both.plot().axes[0].lines] == both.labels()


def test_comparison_plot_refuses_an_unknown_axis_and_an_empty_comparison() -> None:
    from gradlab.jobs.compare import Comparison, Dataset

    empty = Comparison(Dataset("line", np.zeros((2, 1)), np.zeros(2)), [])
    with pytest.raises(UsageError) as err:
        empty.plot(per="batch")
    assert str(err.value) == "Comparison.plot: per must be one of 'epoch', 'step'; got 'batch'."
    with pytest.raises(UsageError, match="there are no runs to draw"):
        empty.plot()


@pytest.mark.parametrize(
    ("coef", "intercept", "powers", "text"),
    [
        ([1.4777], 0.0889, (1,), "y = 1.478x + 0.0889"),
        ([-2.0], -3.5, (1,), "y = -2x - 3.5"),
        ([2.98927619], 2.09818307, (2,), "y = 2.989x² + 2.098"),
        ([1.0, -0.5], 0.0, (1, 3), "y = 1x - 0.5x³ + 0"),
    ],
)
def test_equation(coef: list[float], intercept: float, powers: tuple[int, ...], text: str) -> None:
    assert equation(np.array(coef), intercept, powers) == text


# ------------------------------------------------------------------ activations


def test_activation_figure_draws_each_function_with_its_backward_pass() -> None:
    from gradlab.ops import sigmoid
    from gradlab.viz.activations import activation_figure

    fig = activation_figure(-4, 4)
    assert isinstance(fig, Figure)
    left, right = fig.axes
    assert [ax.get_title() for ax in fig.axes] == [
        "sigmoid and its derivative",
        "ReLU and its derivative",
    ]
    f, df = left.lines[:2]
    z = f.get_xdata()
    assert (z[0], z[-1]) == (-4, 4)
    np.testing.assert_allclose(f.get_ydata(), sigmoid(z), rtol=1e-15)
    np.testing.assert_allclose(df.get_ydata(), sigmoid(z) * (1 - sigmoid(z)), rtol=1e-12)
    relu, d_neg, d_pos = right.lines[:3]
    np.testing.assert_array_equal(relu.get_ydata(), np.maximum(z, 0))
    assert set(d_neg.get_ydata()) == {0.0}
    assert set(d_pos.get_ydata()) == {1.0}
    assert d_neg.get_label() == "relu'(z) = 1 if z > 0 else 0"


@pytest.mark.parametrize(("lo", "hi"), [(1.0, 1.0), (2.0, -2.0), (float("nan"), 1.0)])
def test_activation_figure_refuses_an_empty_range(lo: float, hi: float) -> None:
    from gradlab.viz.activations import activation_figure

    with pytest.raises(UsageError, match=r"activation_figure: lo and hi must be finite with "
                       r"lo < hi; got"):  # fmt: skip
        activation_figure(lo, hi)


# ------------------------------------------------------------------ ax=: a subplot of yours


def _in_your_axes() -> list[tuple[str, object]]:
    """(name, call(ax)) for every one-axes picture a fitted object draws."""
    from gradlab.data.images import load_images
    from gradlab.jobs.lr_find import lr_range_test
    from gradlab.models import SoftmaxRegression

    X, y = line_data()
    lin = LinearRegression(epochs=20).fit(X, y)
    X2, y2 = line_data(d=2)
    wide = LinearRegression(epochs=20).fit(X2, y2)
    Xb, t = blobs(2)
    log = LogisticRegression(epochs=30).fit(Xb, t)
    d = load_images("digits")
    soft = SoftmaxRegression(epochs=1).fit(d.X_train, d.y_train)
    test = lr_range_test(SoftmaxRegression(), d.X_train, d.y_train, steps=30)
    return [
        ("plot_fit", lambda ax: lin.plot_fit(X, y, ax=ax)),
        ("plot_fit, several features", lambda ax: wide.plot_fit(X2, y2, ax=ax)),
        ("plot_loss", lambda ax: lin.plot_loss(X, y, ax=ax)),
        ("plot_surface", lambda ax: lin.plot_surface(X, y, ax=ax)),
        ("logistic plot_loss", lambda ax: log.plot_loss(ax=ax)),
        ("plot_decision", lambda ax: log.plot_decision(Xb, t, ax=ax)),
        ("plot_confusion", lambda ax: soft.plot_confusion(d.X_test, d.y_test, ax=ax)),
        ("range test plot", lambda ax: test.plot(ax=ax)),
    ]


def test_each_one_axes_picture_draws_into_the_axes_it_is_given() -> None:
    """matplotlib's convention for a plotting function: draw in the caller's axes, in the
    caller's figure, make no figure of one's own, and return the axes (pandas' and
    seaborn's too): returned, a pyplot figure would show twice in a notebook."""
    from matplotlib.figure import Figure as MplFigure

    calls = _in_your_axes()
    fig = MplFigure(figsize=(16, 8))
    axes = fig.subplots(2, 4).ravel()
    for (name, call), ax in zip(calls, axes, strict=True):
        assert call(ax) is ax, name  # the caller's Axes, so a notebook shows its figure once
        assert ax.has_data() or ax.images, name
        assert ax.get_title(), name
        assert not fig.legends, name  # a legend in the axes, not below the whole figure
    assert len(fig.axes) == len(calls) + 2  # and the colorbars of the surface and decision


def test_a_picture_given_something_else_than_axes_says_what_it_needs() -> None:
    X, y = line_data()
    model = LinearRegression(epochs=5).fit(X, y)
    with pytest.raises(UsageError, match=r"ax must be a matplotlib Axes \(fig\.add_subplot\(\), "
                       r"plt\.gca\(\)\); got str\."):  # fmt: skip
        model.plot_fit(X, y, ax="left")
