"""What a fitted image classifier draws of itself: a grid of its predictions, with some of
its mistakes beside correct answers, and its confusion matrix.

The classifiers' ``plot_predictions`` and ``plot_confusion`` methods
(:class:`gradlab.models.SoftmaxRegression`, :class:`gradlab.models.MLPClassifier`) check
their input and call these functions with plain arrays (images, true and predicted class
numbers), so this module knows nothing of estimators; ``gradlab train``, ``gradlab
predict`` and the tour choose their grids with the same :func:`grid_indices`. Every
function here that draws returns a :class:`gradlab.viz.figure.Figure`, which shows
itself inline when it is the value of a notebook cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gradlab.viz.figure import Figure

__all__ = [
    "confusion_of",
    "grid_indices",
    "model_label",
    "prediction_sample",
    "spread_indices",
]


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


def prediction_sample(
    images: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    classes: Sequence[str],
    *,
    n: int = 18,
    cols: int = 6,
    model: str = "",
    dataset: str = "",
    among: str = "in the test set",
) -> Figure:
    """``n`` of the images with their true and predicted classes, mistakes among them.

    The images are chosen by :func:`grid_indices` (about a third of the grid shows
    mistakes when there are any, the rest correct answers, all spread over the set) and
    drawn by :func:`gradlab.viz.images.prediction_grid`; the title counts the mistakes
    shown and those in the whole set.

    Parameters
    ----------
    images : ndarray of shape (m, height, width)
        Every image of the set.
    true, pred : ndarray of shape (m,)
        True and predicted class numbers, ``0 .. len(classes) - 1``.
    classes : sequence of str
        The class names, by number.
    n : int
        Images shown (all ``m`` when there are fewer).
    cols : int
        Images per row.
    model, dataset : str, optional
        Named in the title: ``"MLP 64-200-200-10"``, ``"digits"``.
    among : str
        Where the whole set's count of mistakes comes from, in the title:
        ``"(13 of 450 in the test set)"``.
    """
    from gradlab.viz.images import prediction_grid

    idx = grid_indices(true, pred, n)
    return prediction_grid(
        images[idx],
        true[idx],
        pred[idx],
        classes,
        cols=cols,
        model=model,
        dataset=dataset,
        test_wrong=int(np.count_nonzero(true != pred)),
        test_total=len(true),
        among=among,
    )


def confusion_of(
    true: np.ndarray,
    pred: np.ndarray,
    classes: Sequence[str],
    *,
    model: str = "",
    dataset: str = "",
    images: str = "test images",
    ax: Axes | None = None,
) -> Figure:
    """The confusion matrix of true against predicted class numbers, drawn by
    :func:`gradlab.viz.images.confusion_figure`.

    Parameters
    ----------
    true, pred : ndarray of shape (m,)
        Class numbers, ``0 .. len(classes) - 1``.
    classes : sequence of str
        The class names, by number.
    model, dataset : str, optional
        Named in the title.
    images : str
        What the counted samples are, in the title: ``"41 of 450 test images wrong"``.
    ax : matplotlib Axes, optional
        Draw there, in the caller's figure, rather than in a new one.
    """
    from gradlab.viz.images import confusion_figure, confusion_matrix

    matrix = confusion_matrix(true, pred, len(classes))
    return confusion_figure(matrix, classes, model=model, dataset=dataset, images=images, ax=ax)
