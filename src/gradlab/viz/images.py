"""Pictures of image classification: a grid of predictions and a confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gradlab.viz.save import new_figure

if TYPE_CHECKING:
    from gradlab.viz.figure import Figure


def prediction_grid(
    images: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    classes: Sequence[str],
    *,
    cols: int = 6,
    title: str = "",
) -> Figure:
    """Images with ``true / predicted`` labels; wrong predictions in red with a red frame.

    Parameters
    ----------
    images : ndarray of shape (n, h, w)
    true, pred : ndarray of shape (n,), class indices
    classes : names of the classes
    """
    n = images.shape[0]
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    fig = new_figure(1.55 * cols, 1.75 * rows + 0.4)
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(images[i], cmap="gray_r", interpolation="nearest")
        ok = true[i] == pred[i]
        color = "black" if ok else "#cc0000"
        ax.set_title(f"{classes[true[i]]}\n{classes[pred[i]]}", fontsize=8, color=color)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(1 if ok else 2.5)
    wrong = int(np.count_nonzero(true[:n] != pred[:n]))
    fig.suptitle(title or f"true (top) / predicted (bottom): {wrong} of {n} wrong, in red")
    return fig


def confusion_matrix(true: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``M[i, j]`` of class ``i`` predicted as ``j``, shape (k, k)."""
    flat = np.bincount(true * n_classes + pred, minlength=n_classes * n_classes)
    out: np.ndarray = flat.reshape(n_classes, n_classes)
    return out


def confusion_figure(matrix: np.ndarray, classes: Sequence[str], *, title: str = "") -> Figure:
    """The confusion matrix as a heat map with counts."""
    k = matrix.shape[0]
    fig = new_figure(1.0 + 0.55 * k, 0.8 + 0.5 * k)
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = matrix.max() or 1
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                color = "white" if matrix[i, j] > top / 2 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
    acc = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(title or f"Confusion matrix (accuracy {acc:.4f})")
    return fig
