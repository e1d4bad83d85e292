"""The training curves: train loss, train accuracy and test accuracy per epoch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from gradlab.viz.save import new_figure

if TYPE_CHECKING:
    from gradlab.viz.figure import Figure


def training_curves(
    columns: Mapping[str, Sequence[float]], *, epochs: int | None = None, title: str = ""
) -> Figure:
    """The tutorial's three curves on one axis (loss and accuracies share the 0..1 range
    once training is under way), with the test loss dotted when present."""
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    ep = list(columns.get("epoch", []))
    styles = {
        "train_loss": ("train loss", "-", "#4477aa"),
        "train_accuracy": ("train acc", "--", "#cc6677"),
        "test_accuracy": ("test acc", "-.", "#228833"),
        "test_loss": ("test loss", ":", "#4477aa"),
    }
    for key, (label, style, color) in styles.items():
        values = columns.get(key)
        if values and any(v == v for v in values):  # skip all-NaN columns
            ax.plot(ep, values, style, color=color, marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    if epochs:
        ax.set_xlim(0.8, max(epochs, 1) + 0.2)
    ax.grid(alpha=0.3)
    ax.legend(loc="center right")
    ax.set_title(title or "Training curves")
    return fig
