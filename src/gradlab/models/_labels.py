"""Class labels as the learner gives them: integers of any values, strings, -1/1, booleans.

A classifier learns ``K`` classes numbered ``0 .. K-1`` inside; :class:`Classes` maps
the labels as given (``classes_``, sorted as ``numpy.unique`` sorts them) to those
numbers and back, and carries a display name for each class (Fashion-MNIST's
"T-shirt/top" for label 0), which pictures use and which is separate from the label.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from gradlab.errors import DataError, outside_stacklevel

#: How label values are stored in a checkpoint (JSON has no dtypes).
LABEL_KINDS: tuple[str, ...] = ("int", "float", "bool", "str")


def _conversion_warning() -> type[Warning]:
    """scikit-learn's DataConversionWarning when scikit-learn is loaded, else UserWarning."""
    exceptions = sys.modules.get("sklearn.exceptions")
    return exceptions.DataConversionWarning if exceptions is not None else UserWarning  # type: ignore[no-any-return]


def as_label_array(y: np.ndarray, n: int, name: str = "y") -> np.ndarray:
    """Labels ``y`` of shape (n,), checked to be discrete classes.

    A column vector (n, 1) is accepted with a DataConversionWarning, as scikit-learn does.

    Raises
    ------
    DataError
        Not one label per sample; NaN or infinite values; non-integer numbers
        ("Unknown label type: continuous"); complex numbers; strings mixed with numbers.
    """
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            f"A column-vector {name} was passed when a 1d array was expected; "
            f"reading it as shape ({y.shape[0]},).",
            _conversion_warning(),
            stacklevel=outside_stacklevel(),
        )
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{name} must be one label per sample, got shape {y.shape}.")
    if y.shape[0] != n:
        raise DataError(f"X has {n} samples but {name} has {y.shape[0]} labels; they must match.")
    kind = y.dtype.kind
    if kind in "biuUS":
        return y
    if kind == "c":
        raise DataError(f"Complex data not supported: {name} has dtype {y.dtype}.")
    if kind == "f":
        _check_discrete(y, name)
        return y
    if kind == "O":
        return _object_labels(y, name)
    raise DataError(f"Unknown label type: {name} has dtype {y.dtype}; labels must be "
                    "integers, strings or booleans.")  # fmt: skip


def _check_discrete(y: np.ndarray, name: str) -> None:
    finite = np.isfinite(y)
    if not finite.all():
        i = int(np.argmin(finite))
        what = "NaN" if np.isnan(y[i]) else "infinity"
        raise DataError(f"Input {name} contains {what} ({name}[{i}] is {y[i]}).")
    whole = y == np.round(y)
    if not whole.all():
        i = int(np.argmin(whole))
        raise DataError(
            f"Unknown label type: continuous. {name}[{i}] is {y[i]}, but a classifier needs "
            "discrete classes: integers, strings or booleans.",
            hint="For a continuous target use a regression model.",
        )


def _object_labels(y: np.ndarray, name: str) -> np.ndarray:
    """An object array of labels as one kind: all str, all bool, all integers or all numbers."""
    values = list(y)
    if all(isinstance(v, str) for v in values):
        return y
    if all(isinstance(v, bool | np.bool_) for v in values):
        return y.astype(bool)
    if all(isinstance(v, Integral) and not isinstance(v, bool | np.bool_) for v in values):
        return y.astype(np.int64)
    if all(isinstance(v, Real) and not isinstance(v, bool | np.bool_) for v in values):
        arr = y.astype(np.float64)
        _check_discrete(arr, name)
        return arr
    kinds = sorted({type(v).__name__ for v in values})
    raise DataError(
        f"Unknown label type: {name} mixes values of types {', '.join(kinds)}; the labels "
        "must all be integers, all strings or all booleans."
    )


def label_kind(values: np.ndarray) -> str:
    """``int``, ``float``, ``bool`` or ``str``: how ``values`` are stored in JSON."""
    kind = values.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "int"
    if kind == "f":
        return "float"
    return "str"


def _shown(values: np.ndarray) -> list[str]:
    """Labels as messages show them: text quoted (``'0'``), so that it reads differently
    from a number (``0``)."""
    text = label_kind(values) == "str"
    return [repr(str(v)) if text else str(v) for v in values]


def _preview(items: Sequence[Any], n: int = 3) -> str:
    shown = ", ".join(str(v) for v in items[:n])
    return shown + (", ..." if len(items) > n else "")


@dataclass(frozen=True, eq=False)
class Classes:
    """The classes a model knows: label values (sorted) and a display name for each.

    Attributes
    ----------
    values : ndarray of shape (K,)
        The labels as given (``classes_``), sorted.
    names : tuple of str
        A name for each, used by pictures (``str(label)`` unless given).
    """

    values: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @classmethod
    def from_labels(
        cls,
        y: np.ndarray,
        classes: Any = None,
        class_names: Sequence[str] | None = None,
    ) -> Classes:
        """The classes of labels ``y`` (already checked by :func:`as_label_array`).

        Parameters
        ----------
        classes : array-like, optional
            Every label value there is (when ``y`` may lack some). Without it, the
            values are those in ``y``, or ``0 .. len(class_names) - 1`` when only
            ``class_names`` is given (labels that number the classes, as image data
            sets have them).
        class_names : sequence of str, optional
            A name for each class, in the order of the sorted values.
        """
        if classes is not None:
            given = np.asarray(classes)
            if given.ndim != 1:  # a number, a set (no order), a table
                shown = _preview([classes]) if given.ndim == 0 else f"shape {given.shape}"
                raise DataError(
                    "classes must be a sequence of every label value (such as [0, 1, 2]); "
                    f"got {shown}."
                )
            values = np.unique(as_label_array(given, len(given), "classes"))
        elif class_names is not None:
            values = np.arange(len(class_names))
        else:
            values = np.unique(y)
        if class_names is None:
            names = tuple(str(v) for v in values)
        else:
            names = tuple(str(v) for v in class_names)
            if len(names) != len(values):
                raise DataError(
                    f"class_names has {len(names)} name{'' if len(names) == 1 else 's'} but "
                    f"there are {len(values)} "
                    f"classes ({_preview(list(values))}); give one name per class."
                )
            first: dict[str, int] = {}
            for i, name in enumerate(names):
                if name in first:  # the pictures and reports would not tell them apart
                    raise DataError(
                        f"class_names gives {name!r} to two classes (labels "
                        f"{values[first[name]]} and {values[i]}); give each class its own name."
                    )
                first[name] = i
        return cls(values, names)

    def encode(self, y: np.ndarray, name: str = "y") -> np.ndarray:
        """The class numbers ``0 .. K-1`` of labels ``y``, int64.

        Raises
        ------
        DataError
            A label that is none of the classes, named with its position.
        """
        self.check_kind(y, name)
        try:
            idx = np.searchsorted(self.values, y)
        except TypeError:
            raise self._kind_error(y, name) from None
        idx = np.minimum(idx, len(self) - 1)
        bad = self.values[idx] != y
        if np.any(bad):
            i = int(np.argmax(bad))
            value = y[i].item() if isinstance(y[i], np.generic) else y[i]
            raise DataError(
                f"{name}[{i}] is {value!r}, which is not one of the {len(self)} classes: "
                f"{_preview(_shown(self.values), 10)}."
            )
        return idx.astype(np.int64)

    def check_kind(self, y: np.ndarray, name: str = "y") -> None:
        """Refuse text labels for number classes and numbers for text classes (NumPy
        would compare ``0`` with ``'0'`` as text, and find no label equal)."""
        if (y.dtype.kind in "USO") != (self.values.dtype.kind in "USO"):
            raise self._kind_error(y, name)

    def _kind_error(self, y: np.ndarray, name: str) -> DataError:
        return DataError(
            f"{name} holds labels of dtype {y.dtype}, but the classes are "
            f"{_preview(_shown(self.values))} (dtype {self.values.dtype})."
        )

    def decode(self, idx: np.ndarray) -> np.ndarray:
        """The labels of class numbers ``idx``."""
        out: np.ndarray = self.values[idx]
        return out

    def same_as(self, other: Classes) -> bool:
        """Same label values (of the same kind) and the same names."""
        return (
            label_kind(self.values) == label_kind(other.values)
            and len(self) == len(other)
            and bool(np.all(self.values == other.values))
            and self.names == other.names
        )

    def describe(self) -> str:
        """``0, 1, 2, ... (10 classes)``, with names where they differ from the labels;
        text labels quoted (``'0', '1'``), so that they read differently from numbers."""
        labels = _shown(self.values)
        plain = [str(v) for v in self.values]
        shown = labels if list(self.names) == plain else [
            f"{v} {n!r}" for v, n in zip(labels, self.names, strict=True)
        ]  # fmt: skip
        return f"{_preview(shown)} ({len(self)} classes)"

    # -- JSON (checkpoints) ---------------------------------------------------------------

    def labels_json(self) -> dict[str, Any]:
        """``{"kind": ..., "values": [...]}``: the label values with their kind."""
        return {"kind": label_kind(self.values), "values": self.values.tolist()}
