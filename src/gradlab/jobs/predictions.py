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


def draw_predictions(model: Any, data: Any, out: Path, n: int) -> list[Path]:
    """The prediction grid (``n`` test images, see :func:`spread_indices`) and the
    confusion matrix."""
    from gradlab.viz.images import confusion_figure, confusion_matrix, prediction_grid
    from gradlab.viz.save import save_figure

    pred = model.predict(data.X_test)
    paths = []
    if n > 0 and len(pred):
        idx = spread_indices(len(pred), n)
        grid = prediction_grid(data.X_test[idx], data.y_test[idx], pred[idx], data.classes)
        paths.append(save_figure(grid, out / "predictions.png"))
    cm = confusion_matrix(data.y_test, pred, len(data.classes))
    paths.append(save_figure(confusion_figure(cm, data.classes), out / "confusion.png"))
    return paths
