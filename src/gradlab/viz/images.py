"""Pictures of image classification: a grid of predictions and a confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from gradlab.viz.save import figure_and_axes, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gradlab.viz.figure import Figure

WRONG = "#cc0000"


def about(model: str, dataset: str) -> str:
    """``"MLP on digits"``, or whichever part is known ("" when neither is)."""
    if model and dataset:
        return f"{model} on {dataset}"
    return model or dataset


def grid_title(
    shown_wrong: int,
    shown: int,
    *,
    model: str = "",
    dataset: str = "",
    test_wrong: int | None = None,
    test_total: int | None = None,
    among: str = "in the test set",
) -> str:
    """The grid's title: who predicted, and how many of the shown and of all are wrong.

    ``"MLP on digits: 6 of 18 shown are wrong (13 of 540 in the test set)"``; ``among``
    says where the second count is from.
    """
    head = about(model, dataset) or "Predictions"
    if shown_wrong:
        counts = f"{shown_wrong} of {shown} shown {'is' if shown_wrong == 1 else 'are'} wrong"
    else:
        counts = f"all {shown} shown are right"
    if test_wrong is not None and test_total is not None:
        counts += f" ({test_wrong} of {test_total} {among})"
    return f"{head}: {counts}"


def prediction_grid(
    images: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    classes: Sequence[str],
    *,
    cols: int = 6,
    title: str = "",
    model: str = "",
    dataset: str = "",
    test_wrong: int | None = None,
    test_total: int | None = None,
    among: str = "in the test set",
) -> Figure:
    """Images labelled with their true and predicted class; mistakes in red, framed.

    Parameters
    ----------
    images : ndarray of shape (n, h, w)
    true, pred : ndarray of shape (n,), class indices
    classes : names of the classes
    cols : int
        Images per row.
    title : str, optional
        Replaces the title made by :func:`grid_title` from the other arguments.
    model, dataset : str, optional
        Named in the title ("MLP", "digits").
    test_wrong, test_total : int, optional
        Mistakes over the whole test set, and its size, for the title.
    among : str
        Where ``test_wrong`` and ``test_total`` were counted, for the title.
    """
    n = images.shape[0]
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    fig = new_figure(1.55 * cols, 1.8 * rows + 0.7)
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(images[i], cmap="gray_r", interpolation="nearest")
        ok = true[i] == pred[i]
        color = "black" if ok else WRONG
        ax.set_title(
            f"true {classes[true[i]]}\npred {classes[pred[i]]}",
            fontsize=8,
            color=color,
            fontweight="normal" if ok else "bold",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(0.8 if ok else 3)
    wrong = int(np.count_nonzero(true[:n] != pred[:n]))
    head = title or grid_title(
        wrong,
        n,
        model=model,
        dataset=dataset,
        test_wrong=test_wrong,
        test_total=test_total,
        among=among,
    )
    fig.suptitle(
        f"{head}\nabove each image its true class and the prediction; mistakes in red, framed",
        fontsize=10,
    )
    return fig


def confusion_matrix(true: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``M[i, j]`` of class ``i`` predicted as ``j``, shape (k, k)."""
    flat = np.bincount(true * n_classes + pred, minlength=n_classes * n_classes)
    out: np.ndarray = flat.reshape(n_classes, n_classes)
    return out


def confusion_figure(
    matrix: np.ndarray,
    classes: Sequence[str],
    *,
    title: str = "",
    model: str = "",
    dataset: str = "",
    images: str = "test images",
    ax: Axes | None = None,
) -> Figure:
    """The confusion matrix with counts: right answers (the diagonal) in blue, mistakes
    in red, each shaded by its own largest count so that rare confusions still show.

    Parameters
    ----------
    matrix : ndarray of shape (k, k)
        ``matrix[i, j]``: test images of class ``i`` predicted as ``j``.
    classes : names of the k classes
    title : str, optional
        Replaces the title made from ``model`` and ``dataset``.
    model, dataset : str, optional
        Named in the title.
    images : str
        What was counted, for the title: ``"41 of 450 test images wrong (red)"``.
    ax : matplotlib Axes, optional
        Draw there, in the caller's figure, rather than in a new one.
    """
    from matplotlib import colormaps

    k = matrix.shape[0]
    fig, ax = figure_and_axes(ax, 1.2 + 0.55 * k, 1.3 + 0.5 * k)
    diag = np.eye(k, dtype=bool)
    right_top = max(int(matrix[diag].max(initial=0)), 1)
    wrong_top = max(int(matrix[~diag].max(initial=0)), 1)
    rgba = np.ones((k, k, 4))
    blues, reds = colormaps["Blues"], colormaps["Reds"]
    for i in range(k):
        for j in range(k):
            count = int(matrix[i, j])
            if count == 0:
                continue
            if i == j:
                rgba[i, j] = blues(0.25 + 0.75 * count / right_top)
            else:
                rgba[i, j] = reds(0.25 + 0.6 * count / wrong_top)
    ax.imshow(rgba)
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(k):
        for j in range(k):
            count = int(matrix[i, j])
            if count:
                dark = (i == j and count > right_top / 2) or (i != j and count > wrong_top * 0.6)
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")  # fmt: skip
    total = int(matrix.sum())
    wrong = total - int(np.trace(matrix))
    acc = (total - wrong) / max(total, 1)
    head = title or f"{about(model, dataset) or 'Predictions'}: confusion matrix"
    ax.set_title(
        f"{head}\naccuracy {acc:.4f}: {wrong} of {total} {images} wrong (red)", fontsize=10
    )
    return fig
