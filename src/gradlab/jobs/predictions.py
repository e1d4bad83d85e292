"""Pictures of a classifier's predictions: the image grid and the confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# the choice of images and the model's name live with the pictures, where the
# classifiers' own plot_predictions() finds them too
from gradlab.viz.classifiers import grid_indices, model_label, spread_indices

__all__ = ["draw_predictions", "grid_indices", "model_label", "spread_indices"]


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
