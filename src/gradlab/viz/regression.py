"""Regression pictures: the fitted line, the loss curve, the loss surface with the path.

Legends sit below the axes, outside them, so that they never cover the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gradlab.viz.save import figure_and_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gradlab.viz.figure import Figure


def _legend_below(fig: Figure, ax: Axes, ncols: int | None = None, *, own: bool = True) -> None:
    """The legend below the axes, outside them; in the axes when they are the caller's
    (``own`` False: their figure is laid out by the caller, maybe with other axes)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles and not own:
        ax.legend(fontsize=8)
    elif handles:
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=ncols or min(len(handles), 3),
            fontsize=9,
        )


def fit_line(
    x: np.ndarray,
    y: np.ndarray,
    lines: Sequence[tuple[str, float, float]],
    *,
    title: str = "Points and fitted lines",
    ax: Axes | None = None,
) -> Figure:
    """Scatter ``(x, y)`` with the lines ``y = w*x + b``.

    Parameters
    ----------
    x, y : ndarray of shape (n,)
    lines : sequence of (label, w, b)
    ax : matplotlib Axes, optional
        Draw there, in the caller's figure, rather than in a new one.
    """
    own = ax is None
    fig, ax = figure_and_axes(ax, 6.4, 4.4)
    ax.scatter(x, y, s=14, color="#4477aa", alpha=0.8, label="data")
    grid = np.linspace(float(x.min()), float(x.max()), 100)
    styles = ["-", "--", ":"]
    colors = ["#ee7733", "#228833", "#aa3377"]
    for i, (label, w, b) in enumerate(lines):
        ax.plot(grid, w * grid + b, styles[i % 3], color=colors[i % 3], lw=2,
                label=f"{label}: y = {w:.4g}x + {b:.4g}")  # fmt: skip
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title, fontsize=10)
    _legend_below(fig, ax, ncols=1 if len(lines) > 1 else 2, own=own)
    return fig


def loss_curves(
    curves: Sequence[tuple[str, Sequence[float]]],
    *,
    xlabel: str = "iteration",
    title: str = "Loss",
    log: bool = True,
    floor: tuple[str, float] | None = None,
    ylabel: str = "loss",
    ax: Axes | None = None,
) -> Figure:
    """One line per ``(label, losses)``, each in its own dash pattern (curves that lie on
    one another stay visible); log scale when every value is positive.

    Parameters
    ----------
    curves : sequence of (label, losses)
        ``losses[i]`` is drawn at ``x = i``.
    xlabel, title : str
    log : bool
        Use a log scale for the loss when every value is positive.
    floor : (label, value), optional
        A dashed horizontal line, e.g. the least-squares minimum the descent aims at.
    ylabel : str
        What the loss is ("mean squared error", ...).
    ax : matplotlib Axes, optional
        Draw there, in the caller's figure, rather than in a new one.
    """
    own = ax is None
    fig, ax = figure_and_axes(ax, 6.4, 4.2)
    styles = ("-", (0, (5, 3)), (0, (1, 2)), (0, (6, 2, 1, 2)))
    for i, (label, values) in enumerate(curves):
        ax.plot(np.arange(len(values)), values, lw=1.8 if i == 0 else 1.6,
                ls=styles[i % len(styles)], label=label)  # fmt: skip
    all_pos = all(min(v) > 0 for _, v in curves if len(v)) and (floor is None or floor[1] > 0)
    if floor is not None:
        ax.axhline(floor[1], color="#333", ls="--", lw=1, label=f"{floor[0]}: {floor[1]:.6g}")
    if log and all_pos:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if log and all_pos else ""))
    ax.set_title(title, fontsize=10)
    if len(curves) > 1 or floor is not None:
        _legend_below(fig, ax, own=own)
    ax.grid(alpha=0.3)
    return fig


def mse_grid(x: np.ndarray, y: np.ndarray, W: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The mean squared error of ``y ~ w*x + b`` at every ``(W[i, j], B[i, j])``, floored at
    1e-12 for a log scale; the math is :func:`gradlab.ops.linear.mse_surface`'s."""
    from gradlab.ops.linear import mse_surface

    out: np.ndarray = np.maximum(mse_surface(x, y, W, B), 1e-12)
    return out


def surface_extent(
    paths: Sequence[tuple[np.ndarray, np.ndarray]], optimum: tuple[float, float] | None = None
) -> tuple[tuple[float, float], tuple[float, float]]:
    """A ``((w_lo, w_hi), (b_lo, b_hi))`` box around the finite points of every
    ``(path_w, path_b)`` and the optimum, with a margin: one box for pictures that are
    to be compared side by side."""
    ws = [float(v) for p, _ in paths for v in p if np.isfinite(v)]
    bs = [float(v) for _, p in paths for v in p if np.isfinite(v)]
    if optimum is not None:
        ws.append(optimum[0])
        bs.append(optimum[1])
    return _padded(min(ws), max(ws)), _padded(min(bs), max(bs))


def loss_surface(
    x: np.ndarray,
    y: np.ndarray,
    path_w: np.ndarray,
    path_b: np.ndarray,
    *,
    optimum: tuple[float, float] | None = None,
    extent: tuple[tuple[float, float], tuple[float, float]] | None = None,
    title: str = "Loss surface (mean squared error) and the descent path",
    ax: Axes | None = None,
    equal_scale: bool = False,
) -> Figure:
    """Contours of the mean squared error over ``(w, b)`` with the path drawn on them.

    Every marker stays visible when points coincide: the least-squares solution is a
    large hollow star drawn first, the end of the descent a small filled square on top
    of it, the start a circle; the path runs beneath them all.

    Parameters
    ----------
    x, y : ndarray of shape (n,)
        One feature and the targets.
    path_w, path_b : ndarray of shape (k,)
        The iterates.
    optimum : (w, b), optional
        The least-squares solution, marked with a star.
    extent : ((w_lo, w_hi), (b_lo, b_hi)), optional
        The box drawn (see :func:`surface_extent`); by default one around the path and
        the optimum.
    ax : matplotlib Axes, optional
        Draw there, in the caller's figure, rather than in a new one.
    equal_scale : bool, default False
        Draw ``w`` and ``b`` at one scale (the box widened to a square around its centre):
        a bowl whose curvature is the same in every direction then shows as circles.
        By default each axis spans what it needs, which stretches the contours.
    """
    (w_lo, w_hi), (b_lo, b_hi) = extent or surface_extent([(path_w, path_b)], optimum)
    if equal_scale:
        half = max(w_hi - w_lo, b_hi - b_lo) / 2
        w_mid, b_mid = (w_lo + w_hi) / 2, (b_lo + b_hi) / 2
        (w_lo, w_hi), (b_lo, b_hi) = (w_mid - half, w_mid + half), (b_mid - half, b_mid + half)
    W, B = np.meshgrid(np.linspace(w_lo, w_hi, 160), np.linspace(b_lo, b_hi, 160))
    L = mse_grid(x, y, W, B)
    own = ax is None
    fig, ax = figure_and_axes(ax, 6.4, 5.2)
    cs = ax.contourf(W, B, np.log10(L), levels=30, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="log10 of the mean squared error")
    from matplotlib import patheffects

    outline = [patheffects.withStroke(linewidth=2.8, foreground="black")]
    ax.plot(path_w, path_b, "-", color="white", lw=1.2, zorder=3, path_effects=outline,
            label="descent path")  # fmt: skip
    if optimum:
        ax.plot(*optimum, "*", ms=22, mfc="none", mec="red", mew=2, zorder=4,
                label="least squares (closed form)")  # fmt: skip
    ax.plot(path_w[0], path_b[0], "o", ms=9, mfc="white", mec="black", zorder=5, label="start")
    ax.plot(path_w[-1], path_b[-1], "s", ms=7, mfc="orange", mec="black", zorder=6,
            label="end of descent")  # fmt: skip
    ax.set_xlim(w_lo, w_hi)
    ax.set_ylim(b_lo, b_hi)
    if equal_scale:
        ax.set_aspect("equal")
    ax.set_xlabel("w (slope)")
    ax.set_ylabel("b (intercept)")
    ax.set_title(title, fontsize=10)
    _legend_below(fig, ax, ncols=2, own=own)
    return fig


def _padded(lo: float, hi: float) -> tuple[float, float]:
    span = hi - lo
    pad = 0.15 * span if span > 0 else max(abs(lo), 1.0) * 0.5
    return lo - pad, hi + pad
