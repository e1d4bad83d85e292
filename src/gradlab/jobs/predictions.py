"""Pictures of a classifier's predictions: the image grid and the confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw_predictions(model: Any, data: Any, out: Path, n: int) -> list[Path]:
    """The prediction grid (first ``n`` test images) and the confusion matrix."""
    from gradlab.viz.images import confusion_figure, confusion_matrix, prediction_grid
    from gradlab.viz.save import save_figure

    pred = model.predict(data.X_test)
    paths = []
    if n > 0:
        k = min(n, len(pred))
        grid = prediction_grid(data.X_test[:k], data.y_test[:k], pred[:k], data.classes)
        paths.append(save_figure(grid, out / "predictions.png"))
    cm = confusion_matrix(data.y_test, pred, len(data.classes))
    paths.append(save_figure(confusion_figure(cm, data.classes), out / "confusion.png"))
    return paths
