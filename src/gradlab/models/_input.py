"""The learner's data as it comes, turned into NumPy arrays before any validation.

Estimators accept what people have at hand: NumPy arrays, nested lists, pandas
``DataFrame``/``Series``, PyTorch tensors (on any device, with or without
``requires_grad``), a ``torch.utils.data.Dataset`` yielding ``(input, label)`` pairs
(``TensorDataset``, a torchvision-style image set with ``ToTensor()``, your own), or a
``DataLoader``. :func:`as_arrays` turns each into NumPy arrays; the estimator then
checks those arrays as it always does. A Dataset or DataLoader is read once into one
array (with a progress bar on stderr when that takes more than a moment); training
then runs on arrays, with no per-sample work.

PyTorch objects are recognised through ``sys.modules``: if PyTorch was never imported,
no object can be a tensor, and this module never imports it.

The functions here are general (any estimator with ``X`` of samples and ``y`` of
targets); what a particular model needs beyond that (finite numbers, images flattened
to rows, class labels) is checked by the model.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any, NamedTuple, TextIO

import numpy as np

from gradlab.errors import DataError, ResourceError

#: Seconds a Dataset may take to read before a progress bar appears on stderr.
PROGRESS_DELAY = 1.0


class NotNumbersError(DataError, TypeError):
    """``X`` holds things that are not numbers (a dict, None...): both a DataError and the
    TypeError NumPy raises for them, so either can be caught."""


class Inputs(NamedTuple):
    """Data turned into NumPy by :func:`as_arrays`."""

    X: np.ndarray
    """The samples, shape (n, ...), of whatever dtype they came in."""
    y: np.ndarray | None
    """The targets, shape (n,) or as given; None when none were given."""
    feature_names: np.ndarray | None
    """A DataFrame's column names (object array of str), else None."""
    table: bool = False
    """Whether ``X`` came as a table (a pandas or polars DataFrame): its uint8 columns are
    numbers such as one-hot codes, not pixels."""


def as_arrays(
    X: Any, y: Any = None, *, owner: str = "", progress: bool | TextIO | None = None
) -> Inputs:
    """``X`` (and ``y``) as NumPy arrays, whatever they came as.

    Parameters
    ----------
    X : array-like, tensor, DataFrame, Dataset or DataLoader
        The samples. A PyTorch Dataset or DataLoader yields ``(input, label)`` pairs and
        so brings its own ``y``.
    y : array-like, tensor, Series or None
        The targets; must be None when ``X`` is a Dataset or DataLoader.
    owner : str
        Who asks (``"MLPClassifier"``), quoted in messages.
    progress : bool, stream or None
        For a Dataset or DataLoader: None shows a bar on stderr once reading has taken
        :data:`PROGRESS_DELAY` seconds; False never; a stream shows it there.

    Returns
    -------
    Inputs
        ``X``, ``y`` (None if not given) and the feature names of a DataFrame.

    Raises
    ------
    DataError
        A Dataset together with a separate ``y``; a Dataset whose items are not
        ``(input, label)`` pairs of one shape; data that cannot form one array (rows of
        different lengths, a sparse matrix, complex numbers).
    """
    who = f"{owner}: " if owner else ""
    if is_torch_data(X):
        if y is not None:
            raise DataError(
                f"{who}X is a {type(X).__name__}, which yields (input, label) pairs and so "
                "holds its own labels; y must be None.",
                hint="Call fit(dataset) without y, or pass the arrays X and y instead.",
            )
        Xa, ya = read_torch_data(X, progress=progress)
        return Inputs(Xa, ya, None)
    names = feature_names(X)
    table = hasattr(X, "columns") and hasattr(X, "dtypes")  # a DataFrame, pandas or polars
    return Inputs(to_numpy(X, "X"), None if y is None else to_numpy(y, "y"), names, table)


def to_numpy(data: Any, name: str = "X") -> np.ndarray:
    """One array of ``data``: an array, list, pandas object or PyTorch tensor.

    Tensors are detached from autograd and copied to the CPU (bfloat16 and float16
    become float32, which NumPy can hold); pandas objects give their values. Nothing is
    validated beyond forming one array: dtype, shape and values are the caller's.

    Raises
    ------
    DataError
        ``data`` is a sparse matrix, complex, or cannot form one array (rows of
        different lengths).
    """
    if _is_tensor(data):
        return _tensor_to_numpy(data, name)
    if isinstance(data, list | tuple) and data and _is_tensor(data[0]):
        return np.stack([to_numpy(v, name) for v in data])
    if _is_sparse(data):
        raise DataError(
            f"{name} is a sparse matrix ({type(data).__name__}); sparse input is not "
            "supported, the engines work on dense arrays.",
            hint=f"Pass {name}.toarray() if it fits in memory.",
        )
    to_np = getattr(data, "to_numpy", None)  # pandas DataFrame, Series, Index
    if callable(to_np) and type(data).__module__.startswith("pandas"):
        data = to_np()
    try:
        arr = np.asarray(data)
    except ValueError as exc:
        ragged = _ragged(data, name)
        if ragged is not None:
            raise DataError(
                f"{name} cannot form one array: {ragged}.",
                hint="Give every entry the same shape (pad or drop the short rows).",
            ) from None
        raise DataError(f"{name} cannot form one array: {exc}") from None
    if isinstance(data, Mapping | set | frozenset):
        raise DataError(
            f"{name} is a {type(data).__name__}, not array-like: give an array, a list of "
            "rows or a pandas object."
        )
    if arr.dtype.kind == "c":
        raise DataError(f"Complex data not supported: {name} has dtype {arr.dtype}.")
    return arr


def _ragged(data: Any, name: str, depth: int = 0) -> str | None:
    """Where nested lists stop being one block: ``X[1] has 1 value where X[0] has 2``; None
    when that cannot be found (NumPy's own message then stands)."""
    if depth > 32 or not isinstance(data, list | tuple) or not data:
        return None
    sizes = [
        len(v) if isinstance(v, list | tuple) or (isinstance(v, np.ndarray) and v.ndim) else None
        for v in data
    ]
    for i, size in enumerate(sizes[1:], start=1):
        if size != sizes[0]:
            return f"{name}[{i}] {_entry(size)} but {name}[0] {_entry(sizes[0])}"
    for i, v in enumerate(data):
        inner = _ragged(v, f"{name}[{i}]", depth + 1)
        if inner is not None:
            return inner
    return None


def _entry(n: int | None) -> str:
    """``has 3 entries``, ``has 1 entry``; None: ``is one number`` (not a sequence)."""
    return "is one number" if n is None else f"has {n} entr{'y' if n == 1 else 'ies'}"


def sample_weights(weights: Any, n: int) -> np.ndarray:
    """``sample_weight`` checked: one finite, non-negative number per sample, not all 0.

    Returns
    -------
    ndarray of shape (n,), float64

    Raises
    ------
    DataError
        Not numbers, not one per sample, NaN or infinite, negative, or summing to 0.
    """
    arr = to_numpy(weights, "sample_weight")
    try:
        w = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"sample_weight must be numbers, got dtype {arr.dtype}.") from None
    if w.ndim == 0:  # one number for every sample, as scikit-learn takes it
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise DataError(
            f"sample_weight has shape {w.shape}, but there are {n} samples; give one weight "
            "per sample."
        )
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.argmax(bad))
        shown = "NaN" if np.isnan(w[i]) else w[i]
        raise DataError(f"sample_weight[{i}] is {shown}; weights must be finite numbers >= 0.")
    if not w.any():
        raise DataError("sample_weight is 0 for every sample; give some a weight above 0.")
    return w


def as_float_rows(arr: np.ndarray, name: str = "X") -> np.ndarray:
    """``arr`` as float32 numbers, or a :class:`DataError` that says why it cannot be.

    An object array holding something that is not a number raises
    :class:`NotNumbersError` (a DataError and a TypeError).
    """
    return as_numbers(arr, np.float32, name)


#: What to do about a table's missing values and text columns.
NOT_NUMBERS_HINT = (
    "Fill or drop the missing values (DataFrame.fillna, dropna) and turn text or category "
    "columns into numbers (pandas.get_dummies, sklearn's OneHotEncoder) before fitting."
)


def as_numbers(arr: Any, dtype: Any, name: str = "X") -> np.ndarray:
    """``arr`` as a contiguous array of ``dtype`` numbers; what is not a number (pandas'
    NA, a text cell, None in an object array) raises :class:`NotNumbersError` (a TypeError
    too, as NumPy's) or :class:`DataError`, naming the first such entry."""
    try:
        return np.ascontiguousarray(arr, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        where = _first_non_number(arr, name)
        if isinstance(exc, OverflowError):  # an integer past float64's largest
            raise DataError(
                f"{name} must be numbers within float64's range: {where or exc}.",
                hint=f"Scale {name} (divide it by a power of 10) before fitting.",
            ) from None
        cls = NotNumbersError if isinstance(exc, TypeError) else DataError
        if where is None:
            raise cls(f"{name} must be numbers: {exc}") from None
        raise cls(f"{name} must be numbers: {where} ({exc}).", hint=NOT_NUMBERS_HINT) from None


def _first_non_number(arr: Any, name: str) -> str | None:
    """``X[3, 1] is <NA>``: the first entry of an object array that is not a number."""
    values = np.asarray(arr, dtype=object)
    for index in np.ndindex(values.shape):
        cell = values[index]
        try:
            float(cell)
        except (TypeError, ValueError, OverflowError):
            at = ", ".join(str(i) for i in index)
            if isinstance(cell, int):  # too large for a float
                shown = f"an integer of {len(str(abs(cell)))} digits"
            else:
                shown = repr(cell) if isinstance(cell, str | bytes) else str(cell)
            return f"{name}[{at}] is {shown[:40]}"
    return None


def feature_names(X: Any) -> np.ndarray | None:
    """The column names of a pandas DataFrame when they are all strings, else None.

    Raises
    ------
    TypeError
        Some names are strings and some are not (scikit-learn refuses them too).
    """
    if not type(X).__module__.startswith("pandas"):
        return None
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = list(columns)
    strings = sum(isinstance(c, str) for c in names)
    if 0 < strings < len(names):  # as scikit-learn: mixed names are neither kept nor dropped
        kinds = sorted({type(c).__name__ for c in names})
        raise TypeError(
            f"X's column names mix types ({', '.join(kinds)}): feature names are kept only "
            "when every column name is a string. Make them all strings "
            "(X.columns = X.columns.astype(str)) or none."
        )
    if not names or strings < len(names):
        return None
    return np.asarray(names, dtype=object)


# ------------------------------------------------------------------ PyTorch objects


def _torch() -> Any:
    """The ``torch`` module if something has imported it, else None (never imports it)."""
    return sys.modules.get("torch")


def _is_tensor(obj: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(obj, torch.Tensor)


def _is_sparse(obj: Any) -> bool:
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(obj))


def is_torch_data(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.utils.data.Dataset`` or ``DataLoader``."""
    data = sys.modules.get("torch.utils.data")
    return data is not None and isinstance(obj, data.Dataset | data.DataLoader)


def _tensor_to_numpy(t: Any, name: str) -> np.ndarray:
    torch = _torch()
    t = t.detach()
    if t.layout != torch.strided:
        raise DataError(
            f"{name} is a sparse tensor ({t.layout}); sparse input is not supported.",
            hint=f"Pass {name}.to_dense() if it fits in memory.",
        )
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    if t.is_complex():
        raise DataError(f"Complex data not supported: {name} has dtype {t.dtype}.")
    out: np.ndarray = t.numpy()
    return out


def _describe(item: Any) -> str:
    """What one item of a Dataset looked like, for a message."""
    if isinstance(item, tuple | list):
        inner = ", ".join(_describe(v) for v in item[:4])
        more = ", ..." if len(item) > 4 else ""
        return f"a {type(item).__name__} of {len(item)} ({inner}{more})"
    if isinstance(item, dict):
        return f"a dict with keys {', '.join(repr(k) for k in list(item)[:6])}"
    shape = getattr(item, "shape", None)
    if shape is not None:
        return f"a {type(item).__name__} of shape {tuple(shape)}"
    return f"a {type(item).__name__}"


def read_torch_data(
    data: Any, progress: bool | TextIO | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read a PyTorch ``Dataset`` or ``DataLoader`` of ``(input, label)`` pairs once.

    A ``TensorDataset`` of two tensors is taken as its two tensors directly; any other
    Dataset is read item by item, a DataLoader batch by batch.

    Returns
    -------
    X : ndarray of shape (n, *input_shape)
    y : ndarray of shape (n,) (or (n, ...) if the labels are arrays)

    Raises
    ------
    DataError
        An item is not an ``(input, label)`` pair, or inputs differ in shape; the message
        shows what the offending item looked like.
    """
    tensors = getattr(data, "tensors", None)
    if isinstance(tensors, tuple) and type(data).__name__ == "TensorDataset":
        if len(tensors) != 2:
            raise DataError(
                f"the TensorDataset holds {len(tensors)} tensors; expected two, "
                "TensorDataset(inputs, labels)."
            )
        return to_numpy(tensors[0], "the Dataset's inputs"), to_numpy(tensors[1], "its labels")
    loader = sys.modules["torch.utils.data"].DataLoader
    is_loader = isinstance(data, loader)
    what = "DataLoader" if is_loader else "Dataset"
    total = _length(data)
    bar = _Progress(progress, what, total, "batches" if is_loader else "items")
    inputs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    first_shape: tuple[int, ...] | None = None
    count = 0
    for i, item in enumerate(data if is_loader else _items(data, total)):
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise DataError(
                f"item {i} of the {what} is {_describe(item)}; a {what} here must yield "
                f"(input, label) pairs{' of batches' if is_loader else ''}, as "
                "TensorDataset(X, y) or a torchvision data set does.",
                hint="Wrap it so that each item is (input, label), or pass arrays X and y.",
            )
        x = to_numpy(item[0], f"the input of item {i}")
        label = to_numpy(item[1], f"the label of item {i}")
        shape = x.shape[1:] if is_loader else x.shape
        if first_shape is None:
            first_shape = shape
        elif shape != first_shape:
            unit = "batch" if is_loader else "item"
            raise DataError(
                f"the input of {unit} {i} of the {what} has shape {shape}, that of "
                f"{unit} 0 {first_shape}; every input must have the same shape."
            )
        inputs.append(x if is_loader else x[None])
        labels.append(label.reshape(-1) if is_loader else label.reshape(1, *label.shape))
        count += 1
        if count == 1 or count % _MEMORY_CHECK_EVERY == 0:  # what the whole read will need
            _check_memory(
                what,
                total if total is not None else count,
                x.nbytes + label.nbytes,
                "batches" if is_loader else "items",
                so_far=total is None,
            )
        bar.update(count)
    bar.close(count)
    if not inputs:
        raise DataError(f"the {what} is empty: it yielded no (input, label) pairs.")
    return np.concatenate(inputs), np.concatenate(labels)


#: How often (in items or batches) a read whose length is unknown checks its memory.
_MEMORY_CHECK_EVERY = 4096


def available_memory(meminfo: str = "/proc/meminfo") -> int | None:
    """Bytes of memory the system could give this process now (Linux's MemAvailable),
    or None where that is not known."""
    try:
        with open(meminfo, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _check_memory(
    what: str, units: int, unit_bytes: int, unit: str, *, so_far: bool = False
) -> None:
    """Refuse a read of ``units`` items (or batches) of ``unit_bytes`` each that cannot
    fit: the items are kept, then joined into one array (twice the bytes at the end).
    ``so_far``: the data has no length, and ``units`` is what it yielded until now."""
    need = 2 * units * unit_bytes
    free = available_memory()
    if free is not None and need > free:
        holds = f"has yielded {units:,} {unit} so far" if so_far else f"holds {units:,} {unit}"
        raise ResourceError(
            f"the {what} {holds} of {unit_bytes:,} bytes: reading "
            f"{'them' if so_far else 'it'} takes about {need / 1e9:.3g} GB, more than the "
            f"{free / 1e9:.3g} GB of memory available.",
            hint="Check the Dataset's __len__, or fit on a part of it (torch.utils.data."
            "Subset), or free memory first.",
        )


def _length(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:  # an IterableDataset
        return None


def _items(data: Any, total: int | None) -> Any:
    """The items of a map-style Dataset by index, or of an iterable one in order."""
    if total is None:
        yield from data
        return
    for i in range(total):
        yield data[i]


class _Progress:
    """A progress bar on stderr (or ``stream``) once reading has taken a moment, redrawn in
    place where the stream shows a carriage return as one (a terminal that moves its
    cursor, a notebook); elsewhere (a file, a pipe, a CI log) only the closing line."""

    def __init__(self, stream: bool | TextIO | None, what: str, total: int | None, unit: str):
        self.stream: TextIO | None
        if stream is False:
            self.stream = None
        elif stream is None or stream is True:
            self.stream = sys.stderr
        else:
            self.stream = stream
        self.what, self.total, self.unit = what, total, unit
        self.start = time.perf_counter()
        self.shown = False
        self.last = 0.0
        self.redraws = self.stream is not None and _redraws(self.stream)

    def update(self, done: int) -> None:
        if self.stream is None or not self.redraws:
            return
        now = time.perf_counter()
        if now - self.start < PROGRESS_DELAY or now - self.last < 0.1:
            return
        self.last = now
        self.shown = True
        if self.total:
            width = 24
            filled = width * done // self.total
            text = f"[{'#' * filled}{'.' * (width - filled)}] {done:,}/{self.total:,}"
        else:
            text = f"{done:,}"
        self.stream.write(f"\r\033[Kreading the {self.what}: {text} {self.unit}")
        self.stream.flush()

    def close(self, done: int) -> None:
        if self.stream is None:
            return
        seconds = time.perf_counter() - self.start
        if self.shown or (not self.redraws and seconds >= PROGRESS_DELAY):
            clear = "\r\033[K" if self.shown else ""
            self.stream.write(
                f"{clear}reading the {self.what}: {done:,} {self.unit} in {seconds:.1f} s\n"
            )
            self.stream.flush()


def _redraws(stream: TextIO) -> bool:
    """Whether ``stream`` shows a carriage return as a return to the line's start: a
    terminal that moves its cursor (not ``TERM=dumb``), or a notebook's output."""
    import os

    from gradlab.viz.notebook import in_notebook

    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return os.environ.get("TERM") != "dumb"
    return in_notebook()
