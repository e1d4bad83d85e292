"""Data-parallel training drawn beside one process: the same curves, differences at rounding.

:func:`equivalence` takes two fitted classifiers, one trained in one process and one by
``W`` workers (``n_procs=W``, ``gradlab train --nproc W``, torchrun), and draws what the
lesson claims: data-parallel SGD over ``W`` workers *is* mini-batch SGD with the global
batch, so the two training curves coincide and differ only at the scale of floating-point
rounding (``docs/data-parallel.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gradlab.viz.save import new_figure

__all__ = ["equivalence"]

if TYPE_CHECKING:
    from gradlab.viz.figure import Figure

ONE, MANY = "#4477aa", "#ee7733"


def largest_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """The largest absolute difference between two sets of weights (``W1, b1, ...``)."""
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)


def equivalence(one: Any, many: Any, *, title: str = "") -> Figure:
    """The training loss of one process and of ``W`` workers per epoch, and how far apart.

    Parameters
    ----------
    one, many : fitted SoftmaxRegression or MLPClassifier
        The same model, data, seed and ``batch_size``, trained in one process and by
        several workers (``world_size_`` says how many).
    title : str, optional
        Replaces the default title.

    Returns
    -------
    Figure
        Left: the two loss curves overlaid. Right: their relative difference per epoch
        (train loss and test accuracy) on a log scale, beside the rounding unit of the
        training precision; the largest weight difference at the end is in the title.
        A difference of exactly 0 is drawn at the bottom of the axis and marked.
    """
    h1, h2 = one.history_, many.history_
    w = int(getattr(many, "world_size_", 0)) or 2
    epochs = np.asarray(h1["epoch"], dtype=float)
    n = min(len(h1), len(h2))
    fig = new_figure(8.4, 3.9)
    curve_ax, diff_ax = fig.subplots(1, 2)
    curve_ax.plot(epochs[:n], h1["train_loss"][:n], "-", color=ONE, lw=3, label="1 process")
    curve_ax.plot(
        epochs[:n], h2["train_loss"][:n], "--o", color=MANY, lw=1.4, ms=3,
        label=f"{w} workers",
    )  # fmt: skip
    curve_ax.set_title("train loss per epoch", fontsize=10)
    curve_ax.set_xlabel("epoch")
    curve_ax.set_ylabel("cross-entropy loss")
    curve_ax.grid(alpha=0.3)
    curve_ax.legend(fontsize=9)
    dtype = next(iter(one.params_.values())).dtype
    unit = float(np.finfo(dtype).eps) / 2
    floor = unit / 100
    for key, label, color in (
        ("train_loss", "train loss", ONE),
        ("test_accuracy", "test accuracy", MANY),
    ):
        a = np.asarray(h1[key][:n], dtype=float)
        b = np.asarray(h2[key][:n], dtype=float)
        if not np.isfinite(a).any():
            continue
        rel = np.abs(a - b) / np.maximum(np.abs(a), np.finfo(float).tiny)
        zero = rel == 0
        # a line joins measured differences only: an exact 0 has no place on a log scale
        measured = np.ma.masked_where(zero, rel)
        diff_ax.semilogy(epochs[:n], measured, "o-", color=color, ms=4, label=label)
        if zero.any():
            diff_ax.plot(epochs[:n][zero], np.full(int(zero.sum()), floor), "s", color=color,
                         mfc="white", ms=7)  # fmt: skip
    diff_ax.axhline(unit, color="0.4", ls=":", lw=1.2, label=f"{dtype} rounding unit {unit:.1e}")
    diff_ax.set_ylim(bottom=floor / 3)
    diff_ax.axhline(floor, color="0.75", lw=0.8)
    diff_ax.annotate("= 0", (0.01, floor), xycoords=("axes fraction", "data"), va="bottom",
                     fontsize=8, color="0.4")  # fmt: skip
    diff_ax.set_ylabel(f"|1 process - {w} workers| / |1 process|")
    diff_ax.set_title("relative difference (hollow squares: exactly 0)", fontsize=10)
    diff_ax.set_xlabel("epoch")
    diff_ax.grid(alpha=0.3, which="both")
    diff_ax.legend(fontsize=8)
    gap = largest_difference(one.params_, many.params_)
    fig.suptitle(
        title
        or f"1 process and {w} workers, same global batch: largest weight difference {gap:.1e}"
    )
    return fig
