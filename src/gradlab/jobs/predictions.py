"""Pictures of a classifier's predictions: the image grid and the confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def spread_indices(total: int, n: int) -> np.ndarray:
    """``min(n, total)`` indices spread evenly over ``0 .. total - 1``, first and last included.

    A test set stored class by class (as some copies of Fashion-MNIST are) then still
    shows every class in the grid, where its first ``n`` images would all be one class.
    """
    k = max(0, min(n, total))
    return (
        np.unique(np.linspace(0, total - 1, k).round().astype(np.int64)) if k else np.zeros(0, int)
    )


def grid_indices(
    true: np.ndarray, pred: np.ndarray, n: int, *, wrong_share: float = 1 / 3
) -> np.ndarray:
    """``min(n, len(true))`` test indices for the grid, in test-set order: some mistakes
    beside correct predictions.

    When the model makes mistakes, about ``wrong_share`` of the grid (at least one image)
    shows them, spread over all the mistakes (so not all of one class); the rest are
    correct predictions spread over the test set (:func:`spread_indices`). A grid of
    correct answers only would hide exactly what the learner should look at.

    Parameters
    ----------
    true, pred : ndarray of shape (m,)
        True and predicted class indices of the test set.
    n : int
        Images wanted.
    wrong_share : float in [0, 1]
        Share of the grid given to mistakes when there are enough of them.

    Returns
    -------
    ndarray of int64, shape (min(n, m),)
    """
    k = max(0, min(n, len(true)))
    wrong = np.flatnonzero(true != pred)
    right = np.flatnonzero(true == pred)
    n_wrong = min(len(wrong), max(1, round(k * wrong_share))) if k and len(wrong) else 0
    n_wrong = max(n_wrong, k - len(right))  # a model mostly wrong: fill up with mistakes
    picked = np.concatenate(
        [wrong[spread_indices(len(wrong), n_wrong)], right[spread_indices(len(right), k - n_wrong)]]
    )
    return np.sort(picked).astype(np.int64)


def model_label(model: Any) -> str:
    """A short name for a classifier: ``"softmax regression"``, ``"MLP 64-200-200-10"``."""
    kind = getattr(model, "_kind", "")  # "softmax" or "mlp" on gradlab's classifiers
    if kind == "softmax":
        return "softmax regression"
    if kind == "mlp":
        sizes = getattr(model, "sizes_", None)
        return "MLP " + "-".join(str(s) for s in sizes) if sizes else "MLP"
    return type(model).__name__


def draw_predictions(
    model: Any,
    data: Any,
    out: Path,
    n: int,
    *,
    model_name: str | None = None,
    dataset: str | None = None,
) -> list[Path]:
    """Write ``predictions.png`` (``n`` test images, see :func:`grid_indices`; none when
    ``n`` is 0) and ``confusion.png`` into ``out``; return their paths.

    Parameters
    ----------
    model : fitted classifier
        Has ``predict(X) -> class indices``.
    data : ImageDataset
        Its test set is predicted; ``classes`` names the classes.
    out : Path
        The folder.
    n : int
        Images in the grid.
    model_name : str, optional
        Named in both titles; by default :func:`model_label` of the model.
    dataset : str, optional
        Named in both titles; by default ``data.name``.
    """
    from gradlab.viz.images import confusion_figure, confusion_matrix, prediction_grid
    from gradlab.viz.save import save_figure

    name = model_label(model) if model_name is None else model_name
    data_name = getattr(data, "name", "") if dataset is None else dataset
    pred = model.predict(data.X_test)
    paths = []
    if n > 0 and len(pred):
        idx = grid_indices(data.y_test, pred, n)
        grid = prediction_grid(
            data.X_test[idx],
            data.y_test[idx],
            pred[idx],
            data.classes,
            model=name,
            dataset=data_name,
            test_wrong=int(np.count_nonzero(pred != data.y_test)),
            test_total=len(pred),
        )
        paths.append(save_figure(grid, out / "predictions.png"))
    cm = confusion_matrix(data.y_test, pred, len(data.classes))
    figure = confusion_figure(cm, data.classes, model=name, dataset=data_name)
    paths.append(save_figure(figure, out / "confusion.png"))
    return paths
