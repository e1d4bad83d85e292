"""Making figures, and saving them atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

from gradlab.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

    from gradlab.viz.figure import Figure


def new_figure(width: float = 6.4, height: float = 4.2) -> Figure:
    """A pyplot-free figure (safe headless and in threads) that shows itself in notebooks
    and windows (see :class:`gradlab.viz.figure.Figure`); size in inches."""
    from gradlab.viz.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_and_axes(ax: Axes | None, width: float, height: float) -> tuple[Figure, Axes]:
    """Where a one-axes picture is drawn: a new figure of ``width`` x ``height`` inches
    with one axes, or, when the caller gives ``ax`` (matplotlib's convention for a
    plotting function), that axes and the figure (or subfigure) it is in, so that the
    picture takes its place in the caller's own layout."""
    if ax is None:
        fig = new_figure(width, height)
        return fig, fig.add_subplot()
    from matplotlib.axes import Axes as MplAxes

    if not isinstance(ax, MplAxes):
        from gradlab.errors import UsageError

        raise UsageError(
            f"ax must be a matplotlib Axes (fig.add_subplot(), plt.gca()); got {type(ax).__name__}."
        )
    return cast("Figure", ax.figure), ax


def save_figure(fig: MplFigure, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)
