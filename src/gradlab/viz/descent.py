"""Pictures of gradient descent on a function: one panel per learning rate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gradlab.viz.save import new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from gradlab.functions import Trajectory


def descent_panels(runs: Sequence[Trajectory]) -> Figure:
    """For ``f(x)``: the curve with the path on it; for ``f(x, y)``: contours with the path.

    Parameters
    ----------
    runs : sequence of Trajectory
        Runs on the same function (one per learning rate); one panel each.
    """
    k = len(runs)
    cols = min(k, 2)
    rows = (k + cols - 1) // cols
    fig = new_figure(5.2 * cols, 3.9 * rows)
    lo, hi = _extent(runs)
    for i, run in enumerate(runs):
        ax = fig.add_subplot(rows, cols, i + 1)
        title = f"lr = {run.lr:g}: {run.verdict}"
        if run.function.n_vars == 1:
            xs = np.linspace(lo[0], hi[0], 400)
            ax.plot(xs, run.function.value(xs[:, None]), color="#555", lw=1.5)
            px, pv = run.points[:, 0], run.values
            ax.plot(px, pv, "-", color="#cc6677", lw=0.8, alpha=0.7)
            ax.scatter(px, pv, c=np.arange(len(px)), cmap="plasma", s=14, zorder=3)
            ax.plot(px[0], pv[0], "o", mfc="none", mec="k", ms=9, label="start")
            ax.set_xlabel(run.function.variables[0])
            ax.set_ylabel("f")
        else:
            gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 160), np.linspace(lo[1], hi[1], 160))
            grid = np.stack([gx, gy], axis=-1)
            with np.errstate(all="ignore"):
                z = run.function.value(grid)
            ax.contour(gx, gy, z, levels=25, cmap="viridis", linewidths=0.8)
            ax.plot(run.points[:, 0], run.points[:, 1], ".-", color="#cc6677", ms=4, lw=0.9)
            ax.plot(*run.points[0], "o", mfc="none", mec="k", ms=9, label="start")
            ax.set_xlabel(run.function.variables[0])
            ax.set_ylabel(run.function.variables[1])
        ax.set_title(title)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(f"Gradient descent on f = {runs[0].function.text}")
    return fig


def _extent(runs: Sequence[Trajectory]) -> tuple[np.ndarray, np.ndarray]:
    """A box around every path that is not diverged (else around the start)."""
    pts = [r.points for r in runs if r.verdict != "diverged"] or [r.points[:1] for r in runs]
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    span = np.maximum(hi - lo, np.maximum(np.abs(lo), 1.0) * 0.5)
    return lo - 0.2 * span, hi + 0.2 * span
