"""The learning-rate range test drawn: the loss against the rate, the suggestion marked."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from gradlab.viz.save import figure_and_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gradlab.viz.figure import Figure

RAW, SMOOTH, SUGGEST, MARK = "#bbbbbb", "#4477aa", "#228833", "#ee7733"


def lr_find_figure(test: Any, *, title: str = "", ax: Axes | None = None) -> Figure:
    """The range test of :func:`gradlab.jobs.lr_find.lr_range_test` as a figure.

    The rate runs along a log axis; each step's batch loss is drawn thin and grey, the
    smoothed loss in blue. The suggested rate is a green vertical line with a dot where
    it meets the smoothed curve, the steepest descent and the lowest point are orange
    marks, each labelled. The loss axis stops a little above where the curve started,
    so that the blow-up at the end does not squash the part that matters.

    Parameters
    ----------
    test : RangeTest
    title : str, optional
        Instead of ``"Learning-rate range test: <model>, <optimizer>"``.
    ax : matplotlib Axes, optional
        Draw there, in the caller's figure, rather than in a new one.
    """
    rates, losses, smoothed = test.rates, test.losses, test.smoothed
    own = ax is None
    fig, ax = figure_and_axes(ax, 7.2, 4.4)
    finite = np.isfinite(losses)
    ax.plot(rates[finite], losses[finite], color=RAW, lw=0.8, label="batch loss")
    ax.plot(rates, smoothed, color=SMOOTH, lw=2, label="smoothed loss")
    ax.set_xscale("log")
    ok = smoothed[np.isfinite(smoothed)]
    if ok.size:
        low, start = float(ok.min()), float(ok[0])
        top = max(start, float(ok[: max(1, ok.size // 2)].max())) * 1.15
        ax.set_ylim(max(0.0, low - 0.1 * (top - low)), top)

    def at(rate: float) -> float:
        return float(np.interp(math.log(rate), np.log(rates), smoothed))

    for rate, label, style, offset in (
        (test.steepest, "steepest descent", "v", (-10, -4)),
        (test.minimum, "lowest loss", "o", (0, 12)),
    ):
        if rate is not None:
            ax.plot([rate], [at(rate)], style, color=MARK, ms=7, mfc="none", mew=1.6)
            ax.annotate(
                f"{label}\n{rate:.2g}",
                (rate, at(rate)),
                textcoords="offset points",
                xytext=offset,
                ha="right" if offset[0] < 0 else "center",
                va="top" if offset[1] < 0 else "bottom",
                fontsize=8,
                color=MARK,
            )
    s = test.suggestion
    ax.axvline(s, color=SUGGEST, ls="--", lw=1.4)
    ax.plot([s], [at(s)], "o", color=SUGGEST, ms=8, label=f"suggested lr {s:.2g}")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    settings = test.settings
    what = settings.get("model", "")
    opt = settings.get("optimizer", {}).get("name", "")
    head = ", ".join(p for p in (what, opt) if p)
    text = title or f"Learning-rate range test{': ' + head if head else ''}"
    if own:
        fig.suptitle(text)
    else:  # the caller's figure: its title is the caller's
        ax.set_title(text, fontsize=10)
    return fig
