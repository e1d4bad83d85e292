"""The pictures a fitted model draws of itself: its fit, its loss curve, its loss surface,
its decision; and the loss curves of a comparison of engines or methods.

The models' ``plot_*`` methods (:class:`gradlab.models.LinearRegression`,
:class:`gradlab.models.LogisticRegression`) and
:meth:`gradlab.jobs.compare.Comparison.plot` check their input and call these functions
with plain arrays, so this module knows nothing of estimators. Every function returns a
:class:`gradlab.viz.figure.Figure`, which shows itself inline when it is the value of a
notebook cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gradlab.viz.regression import _legend_below, loss_curves
from gradlab.viz.save import figure_and_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gradlab.viz.figure import Figure

__all__ = [
    "decision_figure",
    "equation",
    "fit_figure",
    "loss_figure",
    "parity_figure",
    "step_curves",
]

_COLORS = ("#ee7733", "#228833", "#aa3377", "#4477aa", "#66ccee", "#bbbbbb")
_STYLES = ("-", "--", ":", "-.")
_DATA = "#4477aa"
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def equation(coef: np.ndarray, intercept: float, powers: Sequence[int] = (1,)) -> str:
    """``"y = 2.989x² + 2.098"``: a one-feature model as a formula, 4 significant digits.

    Parameters
    ----------
    coef : ndarray of shape (len(powers),)
        ``coef[k]`` multiplies ``x**powers[k]``.
    intercept : float
    powers : sequence of int
    """
    terms = []
    for w, p in zip(coef, powers, strict=True):
        x = "x" if p == 1 else "x" + str(p).translate(_SUPERSCRIPT)
        terms.append((float(w), x))
    terms.append((float(intercept), ""))
    text = ""
    for i, (v, x) in enumerate(terms):
        sign = "-" if v < 0 else "+"
        body = f"{abs(v):.4g}{x}"
        text += (f"-{body}" if v < 0 else body) if i == 0 else f" {sign} {body}"
    return f"y = {text}"


def fit_figure(
    x: np.ndarray,
    y: np.ndarray,
    grid: np.ndarray,
    curves: Sequence[tuple[str, np.ndarray]],
    *,
    xlabel: str = "x",
    ylabel: str = "y",
    title: str = "The data and the fitted curves",
    ax: Axes | None = None,
) -> Figure:
    """Scatter ``(x, y)`` and draw each curve over ``grid``.

    Parameters
    ----------
    x, y : ndarray of shape (n,)
        The data.
    grid : ndarray of shape (k,)
        Where the curves are evaluated, increasing.
    curves : sequence of (label, values)
        ``values`` of shape (k,): a model's predictions at ``grid``.
    xlabel, ylabel, title : str
    ax : matplotlib Axes, optional
        Draw there, in the caller's figure, rather than in a new one.
    """
    own = ax is None
    fig, ax = figure_and_axes(ax, 6.4, 4.6)
    ax.scatter(x, y, s=14, color=_DATA, alpha=0.75, label="data")
    for i, (label, values) in enumerate(curves):
        ax.plot(grid, values, _STYLES[i % len(_STYLES)], color=_COLORS[i % len(_COLORS)],
                lw=2.2 - 0.4 * (i % 2), label=label)  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    _legend_below(fig, ax, ncols=1 if len(curves) > 1 else 2, own=own)
    return fig


def parity_figure(
    y: np.ndarray,
    predictions: Sequence[tuple[str, np.ndarray]],
    *,
    title: str = "Predicted against true values",
    ax: Axes | None = None,
) -> Figure:
    """Each model's predictions against the true targets, with the diagonal ``y = x``.

    The picture of a fit with several features, where no curve can be drawn: the nearer
    the points lie to the diagonal, the better the fit.

    Parameters
    ----------
    y : ndarray of shape (n,)
        The true targets.
    predictions : sequence of (label, values)
        ``values`` of shape (n,).
    ax : matplotlib Axes, optional
        Draw there, in the caller's figure, rather than in a new one.
    """
    own = ax is None
    fig, ax = figure_and_axes(ax, 6.0, 5.2)
    values = [y, *(v for _, v in predictions)]
    lo = min(float(np.min(v)) for v in values)
    hi = max(float(np.max(v)) for v in values)
    ax.plot([lo, hi], [lo, hi], "-", color="#333", lw=1, label="perfect prediction (y = x)")
    markers = ("o", "x", "+", "^")
    for i, (label, pred) in enumerate(predictions):
        ax.scatter(y, pred, s=16, marker=markers[i % len(markers)], color=_COLORS[i % 6],
                   alpha=0.7, label=label)  # fmt: skip
    ax.set_xlabel("true y")
    ax.set_ylabel("predicted y")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    _legend_below(fig, ax, own=own)
    return fig


def loss_figure(
    losses: Sequence[float],
    *,
    ylabel: str = "loss",
    title: str = "Loss per epoch",
    floor: tuple[str, float] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """One model's loss per epoch (epoch 0 = before training), log scale when positive.

    Parameters
    ----------
    losses : sequence of float
        ``losses[t]`` is the loss after epoch ``t``.
    ylabel : str
        What the loss is, e.g. ``"mean squared error"``; ``" (log scale)"`` is added when
        the scale is logarithmic.
    title : str
    floor : (label, value), optional
        A dashed line at the least value reachable (the closed form's loss).
    ax : matplotlib Axes, optional
        Draw there, in the caller's figure, rather than in a new one.
    """
    fig = loss_curves([("gradient descent", list(losses))], xlabel="epoch", title=title,
                      floor=floor, ax=ax)  # fmt: skip
    ax = ax if ax is not None else fig.axes[0]
    ax.set_ylabel(ylabel + (" (log scale)" if ax.get_yscale() == "log" else ""))
    return fig


def surface_title(loss: str) -> str:
    """The loss-surface title for a model's loss name."""
    if loss == "half_sse":
        return "Loss surface (its shape: 0.5*sum is n/2 times the mean) and the descent path"
    return "Loss surface (mean squared error) and the descent path"


def decision_figure(
    X: np.ndarray,
    t: np.ndarray,
    coef: np.ndarray,
    intercept: float,
    classes: Sequence[str],
    *,
    feature_names: Sequence[str] | None = None,
    title: str = "",
    ax: Axes | None = None,
) -> Figure:
    """What a logistic regression decides, for one or two features.

    One feature: the points at height 0 or 1 (their class), the fitted probability
    ``sigmoid(w*x + b)`` of the second class, the level 0.5 and the boundary
    ``x = -b/w`` where the prediction changes. Two features: the probability as filled
    contours, the boundary ``w1*x1 + w2*x2 + b = 0`` as a black line, the points marked
    by class.

    Parameters
    ----------
    X : ndarray of shape (n, 1) or (n, 2)
        The points, in the units the model was fitted on.
    t : ndarray of shape (n,)
        1 for ``classes[1]``, 0 for ``classes[0]``.
    coef : ndarray of shape (1,) or (2,)
    intercept : float
    classes : (str, str)
        The two labels, negative first.
    feature_names : sequence of str, optional
        Axis labels; ``x`` or ``x1``, ``x2`` by default.
    title : str, optional
    ax : matplotlib Axes, optional
        Draw there, in the caller's figure, rather than in a new one.
    """
    from gradlab.ops import sigmoid

    d = X.shape[1]
    names = list(feature_names) if feature_names is not None else (
        ["x"] if d == 1 else [f"x{i + 1}" for i in range(d)]
    )  # fmt: skip
    neg, pos = (t == 0), (t == 1)
    prob_label = f"P(y = {classes[1]} | x)"
    own = ax is None
    fig, ax = figure_and_axes(ax, 6.4, 4.8 if d == 1 else 5.4)
    if d == 1:
        x = X[:, 0]
        lo, hi = _span(x)
        grid = np.linspace(lo, hi, 400)
        ax.scatter(x[neg], np.zeros(neg.sum()), s=18, marker="o", color=_DATA, alpha=0.6,
                   label=f"class {classes[0]}")  # fmt: skip
        ax.scatter(x[pos], np.ones(pos.sum()), s=18, marker="^", color=_COLORS[0], alpha=0.6,
                   label=f"class {classes[1]}")  # fmt: skip
        ax.plot(grid, sigmoid(coef[0] * grid + intercept), "-", color="#333", lw=2,
                label=f"{prob_label} = sigmoid({equation(coef, intercept)[4:]})")  # fmt: skip
        ax.axhline(0.5, color="#999", ls=":", lw=1)
        if coef[0] != 0:
            boundary = -intercept / float(coef[0])
            if lo <= boundary <= hi:
                ax.axvline(boundary, color=_COLORS[2], ls="--", lw=1.5,
                           label=f"decision boundary x = {boundary:.3g}")  # fmt: skip
        ax.set_xlim(lo, hi)
        ax.set_ylim(-0.08, 1.08)
        ax.set_xlabel(names[0])
        ax.set_ylabel(prob_label)
        _legend_below(fig, ax, ncols=2, own=own)
    else:
        (x_lo, x_hi), (y_lo, y_hi) = _span(X[:, 0]), _span(X[:, 1])
        G1, G2 = np.meshgrid(np.linspace(x_lo, x_hi, 200), np.linspace(y_lo, y_hi, 200))
        P = sigmoid(coef[0] * G1 + coef[1] * G2 + intercept)
        cs = ax.contourf(G1, G2, P, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55)
        fig.colorbar(cs, ax=ax, label=prob_label)
        if np.nanmin(P) < 0.5 < np.nanmax(P):
            ax.contour(G1, G2, P, levels=[0.5], colors="black", linewidths=1.8)
            ax.plot([], [], "-", color="black", lw=1.8, label="decision boundary (P = 0.5)")
        ax.scatter(X[neg, 0], X[neg, 1], s=16, marker="o", color=_DATA, edgecolor="white",
                   linewidths=0.4, label=f"class {classes[0]}")  # fmt: skip
        ax.scatter(X[pos, 0], X[pos, 1], s=20, marker="^", color=_COLORS[0], edgecolor="black",
                   linewidths=0.4, label=f"class {classes[1]}")  # fmt: skip
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        _legend_below(fig, ax, ncols=3, own=own)
    ax.set_title(title or "What the model decides", fontsize=10)
    return fig


def step_curves(
    curves: Sequence[tuple[str, np.ndarray, np.ndarray]],
    *,
    xlabel: str,
    ylabel: str = "loss",
    title: str = "Loss",
    noisy: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Several ``(label, x, values)`` lines on one log-scaled axes (linear when some value
    is not positive).

    Parameters
    ----------
    curves : sequence of (label, x, values)
        ``x`` and ``values`` of the same shape (k_i,).
    xlabel, ylabel, title : str
    noisy : bool, default False
        False: each line has its own dash and a width that shrinks from the first to the
        last, so that equal curves (engines that agree) all stay visible. True: thin
        solid lines, the longest drawn beneath the others, for jagged per-step losses.
    ax : matplotlib Axes, optional
        Draw there, in the caller's figure, rather than in a new one.
    """
    own = ax is None
    fig, ax = figure_and_axes(ax, 6.4, 4.4)
    for i, (label, x, values) in enumerate(curves):
        color = _COLORS[i % len(_COLORS)]
        if noisy:
            ax.plot(x, values, "-", color=color, lw=0.6 if len(values) > 400 else 1.6,
                    alpha=0.75,
                    zorder=3 - min(len(values), 10**6) / 10**6, label=label)  # fmt: skip
        else:
            ax.plot(x, values, _STYLES[i % len(_STYLES)], color=color,
                    lw=max(3.0 - 0.8 * i, 1.0), label=label)  # fmt: skip
    positive = all(np.min(v) > 0 for _, _, v in curves if len(v))
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if positive else ""))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    _legend_below(fig, ax, own=own)
    return fig


def _span(v: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.min(v)), float(np.max(v))
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(lo), 1.0) * 0.5
    return lo - pad, hi + pad
