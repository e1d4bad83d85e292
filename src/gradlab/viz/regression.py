"""Regression pictures: the fitted line, the loss curve, the loss surface with the path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gradlab.viz.save import new_figure

if TYPE_CHECKING:
    from gradlab.viz.figure import Figure


def fit_line(
    x: np.ndarray,
    y: np.ndarray,
    lines: Sequence[tuple[str, float, float]],
    *,
    title: str = "Points and fitted lines",
) -> Figure:
    """Scatter ``(x, y)`` with the lines ``y = w*x + b``.

    Parameters
    ----------
    x, y : ndarray of shape (n,)
    lines : sequence of (label, w, b)
    """
    fig = new_figure()
    ax = fig.add_subplot()
    ax.scatter(x, y, s=14, color="#4477aa", alpha=0.8, label="data")
    grid = np.linspace(float(x.min()), float(x.max()), 100)
    styles = ["-", "--", ":"]
    for i, (label, w, b) in enumerate(lines):
        ax.plot(grid, w * grid + b, styles[i % 3], lw=2, label=f"{label}: y = {w:.4g}x + {b:.4g}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    ax.legend()
    return fig


def loss_curves(
    curves: Sequence[tuple[str, Sequence[float]]],
    *,
    xlabel: str = "iteration",
    title: str = "Loss",
    log: bool = True,
) -> Figure:
    """One line per ``(label, losses)``; log scale when every value is positive."""
    fig = new_figure()
    ax = fig.add_subplot()
    for label, values in curves:
        ax.plot(np.arange(len(values)), values, lw=1.5, label=label)
    all_pos = all(min(v) > 0 for _, v in curves if len(v))
    if log and all_pos:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.set_title(title)
    if len(curves) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return fig


def loss_surface(
    x: np.ndarray,
    y: np.ndarray,
    path_w: np.ndarray,
    path_b: np.ndarray,
    *,
    optimum: tuple[float, float] | None = None,
    title: str = "Loss surface (mean squared error) and the descent path",
) -> Figure:
    """Contours of the mean squared error over ``(w, b)`` with the path drawn on them.

    Parameters
    ----------
    x, y : ndarray of shape (n,)
        One feature and the targets.
    path_w, path_b : ndarray of shape (k,)
        The iterates.
    optimum : (w, b), optional
        The least-squares solution, marked with a star.
    """
    ws = list(path_w) + ([optimum[0]] if optimum else [])
    bs = list(path_b) + ([optimum[1]] if optimum else [])
    w_lo, w_hi = _padded(min(ws), max(ws))
    b_lo, b_hi = _padded(min(bs), max(bs))
    W, B = np.meshgrid(np.linspace(w_lo, w_hi, 160), np.linspace(b_lo, b_hi, 160))
    # MSE(w, b) from the data's sums: exact enough for a picture, O(grid) not O(grid * n).
    n = x.size
    sx, sy, sxx, sxy, syy = x.sum(), y.sum(), x @ x, x @ y, y @ y
    L = (W * W * sxx + 2 * W * B * sx + n * B * B - 2 * W * sxy - 2 * B * sy + syy) / n
    L = np.maximum(L, 1e-12)
    fig = new_figure(6.4, 5.0)
    ax = fig.add_subplot()
    cs = ax.contourf(W, B, np.log10(L), levels=30, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="log10 loss")
    ax.plot(path_w, path_b, "-", color="white", lw=1.2)
    ax.plot(path_w[0], path_b[0], "o", color="white", label="start")
    ax.plot(path_w[-1], path_b[-1], "s", color="orange", label="end of descent")
    if optimum:
        ax.plot(*optimum, "*", color="red", ms=14, label="least squares")
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.set_title(title)
    ax.legend(loc="best")
    return fig


def _padded(lo: float, hi: float) -> tuple[float, float]:
    span = hi - lo
    pad = 0.15 * span if span > 0 else max(abs(lo), 1.0) * 0.5
    return lo - pad, hi + pad
