"""Making figures, and saving them atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from gradlab.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

    from gradlab.viz.figure import Figure


def new_figure(width: float = 6.4, height: float = 4.2) -> Figure:
    """A pyplot-free figure (safe headless and in threads) that shows itself in notebooks
    and windows (see :class:`gradlab.viz.figure.Figure`); size in inches."""
    from gradlab.viz.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: MplFigure, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)
