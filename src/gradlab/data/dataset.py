"""The image data set container shared by every loader and generator.

:class:`ImageDataset` holds grey-scale images with class labels, split into
training and test sets, and checks on construction that they fit together.
:mod:`gradlab.data.images` (files, downloads, scikit-learn's digits) and
:mod:`gradlab.data.synthetic` (generated images) both return it; it lives here,
apart from both, so that neither has to import the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gradlab.errors import DataError

__all__ = ["ImageDataset", "check_label_range", "check_same_size", "check_split"]


@dataclass(frozen=True, eq=False, repr=False)
class ImageDataset:
    """Grey-scale images with class labels, split into training and test sets.

    Attributes
    ----------
    name : str
        The data set's name (``"mnist"``...).
    X_train : ndarray of shape (n_train, height, width)
        Training images, uint8, 0 (black) to 255 (white).
    y_train : ndarray of shape (n_train,)
        Their labels, int64, each in ``0 .. n_classes - 1``.
    X_test : ndarray of shape (n_test, height, width)
        Test images, uint8, of the same size as the training images.
    y_test : ndarray of shape (n_test,)
        Their labels, int64.
    classes : tuple of str
        The class names, by label.

    Raises
    ------
    DataError
        On construction: images that are not 3-D uint8, labels that are not
        1-D integers (other integer types are converted to int64), counts of
        images and labels that differ, train and test images of different
        sizes, or a label outside ``0 .. n_classes - 1``.
    """

    name: str
    X_train: npt.NDArray[np.uint8]
    y_train: npt.NDArray[np.int64]
    X_test: npt.NDArray[np.uint8]
    y_test: npt.NDArray[np.int64]
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        check_split(self.X_train, self.y_train, "X_train", "y_train")
        check_split(self.X_test, self.y_test, "X_test", "y_test")
        check_same_size(self.X_train, self.X_test, "X_train", "X_test")
        for field in ("y_train", "y_test"):
            labels = getattr(self, field)
            check_label_range(labels, self.classes, f"{self.name} {field}")
            if labels.dtype != np.int64:
                object.__setattr__(self, field, labels.astype(np.int64))

    @property
    def n_classes(self) -> int:
        """The number of classes."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(height, width)`` of every image."""
        return int(self.X_train.shape[1]), int(self.X_train.shape[2])

    @property
    def n_features(self) -> int:
        """Pixels per image: ``height * width``."""
        height, width = self.image_shape
        return height * width

    def __repr__(self) -> str:
        height, width = self.image_shape
        return (
            f"ImageDataset(name={self.name!r}, train={len(self.y_train)}, "
            f"test={len(self.y_test)}, image_shape={height}x{width}, n_classes={self.n_classes})"
        )


def check_split(
    images: npt.NDArray[Any], labels: npt.NDArray[Any], images_source: str, labels_source: str
) -> None:
    """Check that ``images`` are 3-D uint8, ``labels`` 1-D integers, one label per image."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{images_source} must hold uint8 images of shape (n, height, width), "
            f"but holds {images.dtype} values of shape {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(
            f"{labels_source} must hold integer labels of shape (n,), "
            f"but holds {labels.dtype} values of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_source} has {len(images)} images but {labels_source} has "
            f"{len(labels)} labels; there must be one label per image",
            hint="Give the images and labels of one split of one data set (for IDX files, "
            "the matching train-* or t10k-* pair); a file cut short must be fetched again.",
        )


def check_same_size(
    train: npt.NDArray[Any], test: npt.NDArray[Any], train_source: str, test_source: str
) -> None:
    """Check that training and test images have the same height and width."""
    if train.shape[1:] != test.shape[1:]:
        raise DataError(
            f"{train_source} holds images of {'x'.join(map(str, train.shape[1:]))} but "
            f"{test_source} holds images of {'x'.join(map(str, test.shape[1:]))}; "
            "training and test images must be the same size"
        )


def check_label_range(labels: npt.NDArray[Any], classes: tuple[str, ...], source: str) -> None:
    """Check that every label is in ``0 .. len(classes) - 1``; name the first one that is not."""
    bad = np.flatnonzero((labels < 0) | (labels >= len(classes)))
    if bad.size:
        index = int(bad[0])
        raise DataError(
            f"{source} has label {int(labels[index])} at index {index}, outside "
            f"0..{len(classes) - 1} for its {len(classes)} classes"
            + (f" ({bad.size} bad labels in all)" if bad.size > 1 else ""),
            hint="Check that the labels belong to this data set and are not damaged; a "
            "damaged file must be fetched again.",
        )
