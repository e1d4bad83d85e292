"""Checkpoints of the classifiers: the file format, its schema, and one compatibility check.

A checkpoint is one ``.safetensors`` file: the weights (and the update rule's state)
as named float32 tensors (float64 for a model trained with ``dtype="float64"``), and in
the file's metadata, as JSON, everything else needed to predict or to resume: the model,
its layer sizes, input shape, classes (label values and names), every constructor
parameter, the seed, the training history, the rule and schedule a fit used, and a
fingerprint of the training data (its sample count and SHA-256), so that a resumed run is
refused other data of the same shapes and classes. Nothing is
unpickled when reading. Writes are atomic, so an interrupted save (or a crash, or running
out of memory) leaves the previous checkpoint intact.

Reading checks the whole file against its own description before anything uses it
(:func:`read`): the type of every metadata field, every hyperparameter against the
estimators' table (:mod:`gradlab.models._spec`), every tensor's presence, name, dtype,
shape (against the layer sizes) and values (finite). A file that fails gets a
:class:`~gradlab.errors.DataError` naming the file and the field. Whether a sound
checkpoint fits a model or a data set is the separate question of
:func:`check_compatible`.

Tensors (layer ``k`` from 1 to L, ``sizes = (d, h_1, ..., K)``), format 3:

===================== ======================== ============================================
name                  shape                    meaning
===================== ======================== ============================================
``Wk``                (sizes[k-1], sizes[k])   weights, ``z_k = h_{k-1} @ Wk + bk``
``bk``                (sizes[k],)              biases
``optim/<slot>/Wk``   as ``Wk``                the rule's state (``exp_avg``,
                                               ``momentum_buffer``, ...; PyTorch's names)
``optim/<slot>/bk``   as ``bk``
``best/Wk``, ...      as ``Wk``, ...           with early stopping: the best epoch's weights
===================== ======================== ============================================

``Wk, bk`` and the rule's state are those of the last epoch trained, so that resuming
continues exactly; with early stopping a fitted (or loaded) model holds the best
epoch's weights, kept under ``best/``. The metadata's ``optimizer`` entry holds the
rule's config, its step count and the units of SGD's momentum buffers, which are stored
as the engine kept them so that resuming on the same engine restores them bit for bit:
``"units": "step"`` (NumPy with the rate folded in: ``v <- mu v + lr g``, the step
itself) or ``"gradient"`` (PyTorch: ``v <- mu v + g``, the step being ``lr v``), with the
rate they were made at (:mod:`gradlab.engines.optstate`).

Formats 1 and 2 (before update rules could be chosen) are read too: their momentum
buffers ``vWk, vbk`` become SGD's ``momentum_buffer`` state.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from gradlab.engines.optstate import UNITS, SavedOptimizer, param_shapes
from gradlab.errors import DataError, MissingFileError, ResourceError, UsageError
from gradlab.history import History
from gradlab.io import DiskSync, atomic_path
from gradlab.models._input import available_memory
from gradlab.models._labels import LABEL_KINDS, Classes, label_kind
from gradlab.models._spec import CONSTRAINTS, DEFAULTS, ESTIMATORS, KINDS, base_rate
from gradlab.optim.rules import SGD, Rule, make_rule
from gradlab.optim.schedules import Schedule, make_schedule
from gradlab.params import MAX_EPOCHS, SEED, describe, validate_one
from gradlab.train import Callback

FORMAT = "gradlab-checkpoint-3"
FORMATS = {"gradlab-checkpoint-1": 1, "gradlab-checkpoint-2": 2, FORMAT: 3}
#: The hyperparameters added in format 3, with the values that give the older formats'
#: behaviour.
ADDED_IN_3 = {
    "optimizer": "sgd",
    "schedule": "constant",
    "early_stopping": False,
    "validation_fraction": 0.1,
    "n_iter_no_change": 3,
    "tol": 1e-4,
}
REQUIRED = ("sizes", "input_shape", "input_scale", "classes", "hyperparameters", "history")
REQUIRED_2 = ("kind", "labels", "seed", "engine")
HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "seconds",
)
_DAMAGED_HINT = (
    "Use another checkpoint file, or train afresh: a damaged checkpoint cannot be resumed "
    "(drop --resume on the command line, resume=True in Python)."
)
#: Parameters added after format 2 was introduced: a file without them had their defaults.
LATER_PARAMETERS = ("dtype", "n_procs")


@dataclass
class Checkpoint:
    """A classifier as stored in a checkpoint file (checked by :func:`read`)."""

    kind: str
    """``softmax`` or ``mlp``: which estimator."""
    sizes: tuple[int, ...]
    """Layer widths, input to output."""
    input_shape: tuple[int, ...]
    """The shape of one sample before flattening (``(28, 28)`` for MNIST)."""
    input_scale: float
    """What the inputs are multiplied by (1/255 for uint8 pixels)."""
    classes: Classes
    """Label values and display names."""
    hyperparameters: dict[str, Any]
    """Every constructor parameter of the estimator."""
    seed: int
    """The seed actually used (drawn at fit time when ``random_state`` was None)."""
    history: History
    """The per-epoch history so far."""
    engine: str = "numpy"
    """The engine that trained it."""
    feature_names: np.ndarray | None = None
    """A DataFrame's column names at fit time."""
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    """``W1, b1, ...`` of the last epoch; empty when read with ``arrays=False``."""
    optimizer: SavedOptimizer | None = None
    """The update rule's state after the last epoch (its arrays empty when read with
    ``arrays=False``); None when the file holds none (plain SGD in formats 1 and 2)."""
    schedule: dict[str, Any] | None = None
    """``{"config": schedule.config(), "per_step": bool}``: the schedule the fit used."""
    best: dict[str, np.ndarray] = field(default_factory=dict)
    """With early stopping: the best epoch's weights (what the fitted model holds)."""
    early_stopping: dict[str, int] | None = None
    """With early stopping: ``{"best_epoch": ..., "stopped_epoch": ...}`` (0: not stopped)."""
    data: dict[str, Any] | None = None
    """``{"samples": n, "sha256": ...}``: the training data's :func:`fingerprint`; None in
    files written before it was kept, or by a model's ``save``."""
    input_numbers: dict[str, Any] | None = None
    """``{"max": m, "uint8": bool}``: the largest absolute input and whether the inputs
    were a table's uint8 columns, when they were read as they are (input_scale 1); what
    ``predict`` needs to warn about a uint8 array of such numbers. None for pixels, and in
    files written before it was kept."""
    path: Path | None = None

    @property
    def fitted_weights(self) -> dict[str, np.ndarray]:
        """The weights a fitted model holds: the best epoch's with early stopping."""
        return self.best or self.weights

    @property
    def epochs_done(self) -> int:
        """How many epochs the checkpoint holds."""
        return len(self.history)

    def meta(self) -> dict[str, Any]:
        """The JSON metadata stored in the file."""
        from gradlab import __version__

        return {
            "gradlab": __version__,
            "model": ESTIMATORS[self.kind],
            "kind": self.kind,
            "sizes": list(self.sizes),
            "input_shape": list(self.input_shape),
            "input_scale": self.input_scale,
            "classes": list(self.classes.names),
            "labels": self.classes.labels_json(),
            "feature_names": None
            if self.feature_names is None
            else [str(n) for n in self.feature_names],
            "hyperparameters": _jsonable_params(self.hyperparameters),
            "seed": int(self.seed),
            "engine": self.engine,
            "optimizer": None
            if self.optimizer is None
            else {
                "config": self.optimizer.config,
                "step": int(self.optimizer.step),
                "units": self.optimizer.units,
                "lr": self.optimizer.lr,
            },
            "schedule": self.schedule,
            "early_stopping": self.early_stopping,
            "data": self.data,
            "input_numbers": self.input_numbers,
            "history": self.history.columns,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The tensors stored in the file."""
        optim = self.optimizer.arrays if self.optimizer is not None else {}
        return {
            **self.weights,
            **{f"optim/{k}": v for k, v in optim.items()},
            **{f"best/{k}": v for k, v in self.best.items()},
        }


def fingerprint(rows: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """What identifies a fit's training data: its sample count and a SHA-256 digest.

    Parameters
    ----------
    rows : ndarray of shape (n_samples, n_features)
        The samples as the model reads them (before the input scale is applied).
    y : ndarray of shape (n_samples,)
        Their class numbers.

    Returns
    -------
    dict
        ``{"samples": n_samples, "sha256": hex digest}`` of the dtypes, shapes and values.
    """
    import hashlib

    digest = hashlib.sha256()
    for a in (rows, y):
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.data)
    return {"samples": int(rows.shape[0]), "sha256": digest.hexdigest()}


class PendingFingerprint:
    """:func:`fingerprint` of the training data, computed on a thread of its own while
    the first epoch trains; :meth:`result` waits for it.

    SHA-256 lets other threads run while it hashes a large buffer, so the digest of
    MNIST's 47 MB of pixels (about 30 ms) overlaps training instead of delaying its
    start. A fresh fit needs the digest only for its first checkpoint; a resumed one
    needs it at once, to compare, and calls :func:`fingerprint` itself.
    """

    def __init__(self, rows: np.ndarray, y: np.ndarray) -> None:
        import threading

        self._data = (rows, y)
        self._digest: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gradlab-fingerprint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._digest = fingerprint(*self._data)
        except BaseException as exc:  # raised again by result(), on the caller's thread
            self._error = exc

    def result(self) -> dict[str, Any]:
        """The fingerprint, once the thread has computed it; its error, if it failed. A
        thread that never ran (this process forked from the one that started it) leaves
        the hashing to this call."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._digest is None:
            self._digest = fingerprint(*self._data)
        return self._digest


def _jsonable_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters as JSON: a Rule as ``{"rule": config}``, a Schedule as
    ``{"schedule": config}`` (:meth:`_Schema.decoded` turns them back), NumPy numbers as
    Python's, at any depth (a schedule given as a dict)."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if k == "hidden":
            out[k] = [int(h) for h in v]
        elif isinstance(v, Rule):
            out[k] = {"rule": v.config()}
        elif isinstance(v, Schedule):
            out[k] = {"schedule": v.config()}
        else:
            out[k] = _plain(v)
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


# ------------------------------------------------------------------ writing


def save(
    path: str | os.PathLike[str],
    arrays: dict[str, np.ndarray],
    meta: dict[str, Any],
    *,
    durable: bool = True,
) -> Path:
    """Write ``arrays`` and ``meta`` (JSON-serialisable) to ``path`` atomically
    (``durable``: as in :func:`gradlab.io.atomic_path`)."""
    from safetensors.numpy import save

    tensors = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    text = json.dumps(_plain(meta))
    data = save(tensors, metadata={"format": FORMAT, "meta": text})
    # written by Python rather than by safetensors' own file writer, whose errors (a full
    # disk among them) are not OSErrors and would not be reported as a write's
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write(path: str | os.PathLike[str], ckpt: Checkpoint, *, durable: bool = True) -> Path:
    """Write ``ckpt`` to ``path`` atomically (the previous file stays until it is complete;
    ``durable``: as in :func:`gradlab.io.atomic_path`)."""
    return save(path, ckpt.arrays(), ckpt.meta(), durable=durable)


# ------------------------------------------------------------------ reading


def read(path: str | os.PathLike[str], *, arrays: bool = True) -> Checkpoint:
    """Read and check a checkpoint; with ``arrays=False`` only its header (fast).

    Every metadata field is checked for its type and against the others, every tensor
    for its name, dtype and shape against the layer sizes, and (with ``arrays``) its
    values for NaN and infinities.

    Raises
    ------
    DataError
        The file is missing, not a safetensors file, not a gradlab checkpoint, or
        damaged; the message names the file and the field or tensor.
    """
    p = Path(path)
    version, meta, tensors, shapes = _read_file(p, arrays=arrays)
    return _Schema(p, version).parse(meta, shapes, tensors if arrays else None)


def load(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The tensors and the JSON metadata of a checkpoint, after :func:`read`'s checks."""
    ckpt = read(path)
    return ckpt.arrays(), ckpt.meta()


def load_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata of a checkpoint (after :func:`read`'s checks of the header)."""
    return read(path, arrays=False).meta()


def _fits_int64(v: int) -> bool:
    return -(2**63) <= v < 2**63


def _names(n: int) -> str:
    return f"{n} name" if n == 1 else f"{n} names"


#: The largest header :func:`_what_is_wrong` reads: safetensors' own limit (100 MB).
_MAX_HEADER = 100_000_000


def _what_is_wrong(p: Path) -> str | None:
    """What the first bytes of ``p`` say about a file safetensors could not read, in a
    user's words: another kind of file, or one cut short; None where they look right.

    A safetensors file starts with the length of its JSON header (8 bytes, little-endian),
    then the header, which starts with '{'; the tensors' bytes follow."""
    try:  # only words for a message: whatever the file holds, this must not raise
        size = p.stat().st_size
        with open(p, "rb") as f:
            start = f.read(9)
            if len(start) < 9:
                return f"it has only {len(start)} byte{'s' if len(start) != 1 else ''}"
            n = int.from_bytes(start[:8], "little")
            if start[8:9] != b"{" or n > _MAX_HEADER:
                return "it does not start as a safetensors file does: it is another kind of file"
            if 8 + n > size:
                return f"it ends at byte {size:,}, inside its header: the file was cut short"
            f.seek(8)
            entries = json.loads(f.read(n))
        end = max(
            (int(e["data_offsets"][1]) for k, e in entries.items() if k != "__metadata__"),
            default=0,
        )
    except Exception:
        return None
    if 8 + n + end > size:
        return (
            f"it ends at byte {size:,}, where its header promises {8 + n + end:,}: the file "
            "was cut short"
        )
    return None


#: Bytes per value of the safetensors dtypes (others count as 8).
_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
             "F32": 4, "I32": 4, "U32": 4}  # fmt: skip


def _check_room(p: Path, shapes: Mapping[str, tuple[tuple[int, ...], str]]) -> None:
    """Refuse to read tensors that would not fit in the memory free now, whatever sizes
    the file's header claims (a file can be sparse, or its header wrong)."""
    need = sum(math.prod(shape) * _ITEMSIZE.get(dtype, 8) for shape, dtype in shapes.values())
    free = available_memory()
    if free is None or need <= free:
        return
    said = (
        f"{p}: its tensors take {need / 1e9:.3g} GB, more than the {free / 1e9:.3g} GB of "
        "memory free to read them"
    )
    try:
        on_disk = p.stat().st_blocks * 512  # a sparse file holds less than it claims
    except (OSError, AttributeError):  # st_blocks: not on every system
        on_disk = need
    if on_disk < need:
        raise DataError(
            f"{said}, and only {on_disk / 1e9:.3g} GB of them are on disk: the file is damaged.",
            hint=_DAMAGED_HINT,
        )
    raise ResourceError(
        f"{said}.", hint="Free some memory, or load the checkpoint on a larger machine."
    )


def _read_file(
    p: Path, *, arrays: bool
) -> tuple[int, Any, dict[str, np.ndarray], dict[str, tuple[tuple[int, ...], str]]]:
    from safetensors import safe_open

    if not p.is_file():
        if p.is_dir():
            inside = p / "model.safetensors"
            raise DataError(
                f"{p}: is a folder, not a checkpoint file.",
                hint=f"Give the checkpoint inside it: {inside}."
                if inside.is_file()
                else "Give the checkpoint file itself (model.safetensors in a run's --out folder).",
            )
        if p.exists():
            raise DataError(
                f"{p}: is not a regular file; a checkpoint must be a file on disk.",
                hint="Copy the checkpoint to a file first.",
            )
        if p.is_symlink():  # a link to nothing, or a loop of links
            try:
                os.stat(p)
            except OSError as exc:
                raise MissingFileError(
                    f"{p}: a symbolic link that leads to no file ({exc.strerror}).",
                    hint="Point it at the checkpoint, or name the checkpoint itself.",
                    path=p,
                ) from None
        raise MissingFileError(
            f"{p}: no such checkpoint file.",
            hint="Train first: gradlab train, or fit(..., checkpoint=PATH) in Python.",
            path=p,
        )
    try:  # safetensors reports a file it may not read as missing: say what it is
        with open(p, "rb"):
            pass
    except PermissionError as exc:
        raise DataError(
            f"{p}: cannot be read ({exc.strerror}).",
            hint="Give your user read permission on it (chmod u+r), or copy it somewhere "
            "you can read.",
        ) from None
    try:
        with safe_open(str(p), framework="numpy") as f:
            header = f.metadata() or {}
            names = list(f.keys())
            shapes = {}
            for k in names:
                piece = f.get_slice(k)
                shapes[k] = (tuple(int(s) for s in piece.get_shape()), str(piece.get_dtype()))
            if arrays:
                _check_room(p, shapes)
            tensors = {k: f.get_tensor(k) for k in names} if arrays else {}
    except (DataError, ResourceError):
        raise
    except BaseException as exc:  # safetensors raises its own error types for bad files
        # and a Rust panic (pyo3's PanicException, a BaseException) for some
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise DataError(
            f"{p}: not a readable safetensors file ({_what_is_wrong(p) or exc}).",
            hint=_DAMAGED_HINT,
        ) from None
    version = FORMATS.get(header.get("format", ""))
    if version is None:
        raise DataError(
            f"{p}: a safetensors file, but not a gradlab checkpoint.",
            hint="Point to a file that gradlab saved (model.safetensors in a run's --out "
            "folder, or what a model's save() wrote).",
        )
    if "meta" not in header:
        raise DataError(
            f"{p}: damaged gradlab checkpoint (no meta in its metadata).", hint=_DAMAGED_HINT
        )
    try:
        meta = json.loads(header["meta"])
    except (TypeError, ValueError, RecursionError):  # RecursionError: nested past the limit
        raise DataError(
            f"{p}: damaged gradlab checkpoint (its meta is not readable JSON).",
            hint=_DAMAGED_HINT,
        ) from None
    return version, meta, tensors, shapes


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(v: Any, low: int = 0) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool) and int(v) >= low


def _is_number(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


class _Schema:
    """The checks of one file's metadata and tensors (see :func:`read`)."""

    def __init__(self, path: Path, version: int) -> None:
        self.path = path
        self.version = version

    def fail(self, message: str) -> DataError:
        return DataError(f"{self.path}: damaged gradlab checkpoint: {message}", hint=_DAMAGED_HINT)

    def bad(self, name: str, value: Any, what: str) -> DataError:
        return self.fail(f"{name} is {_short(value)}; it must be {what}.")

    def parse(
        self,
        meta: Any,
        shapes: dict[str, tuple[tuple[int, ...], str]],
        tensors: dict[str, np.ndarray] | None,
    ) -> Checkpoint:
        if not isinstance(meta, dict):
            raise self.fail(f"its metadata is {type(meta).__name__}, not a JSON object.")
        required = REQUIRED + (REQUIRED_2 if self.version >= 2 else ())
        missing = [k for k in required if k not in meta]
        if missing:
            raise DataError(
                f"{self.path}: damaged gradlab checkpoint (no {', '.join(missing)} in its "
                "metadata).",
                hint=_DAMAGED_HINT,
            )
        sizes = self.sizes(meta["sizes"])
        kind = meta.get("kind", "softmax" if len(sizes) == 2 else "mlp")
        if kind not in KINDS:
            raise self.bad("kind", kind, f"one of {', '.join(KINDS)}")
        input_shape, scale = self.input(meta["input_shape"], meta["input_scale"], sizes)
        classes = self.classes(meta, sizes)
        hp, seed = self.hyperparameters(kind, meta, sizes)
        history = self.history(meta["history"])
        feature_names = self.feature_names(meta.get("feature_names"), sizes)
        engine = meta.get("engine", "numpy")
        if engine not in ("numpy", "torch"):
            raise self.bad("engine", engine, "'numpy' or 'torch'")
        if self.version < 3:
            optimizer = self.velocity(kind, meta, hp, shapes, sizes)
            schedule = early = data = None
        else:
            optimizer = self.optimizer_meta(meta.get("optimizer"))
            schedule = self.schedule_meta(meta.get("schedule"))
            early = self.early_meta(meta.get("early_stopping"), len(history))
            data = self.data_meta(meta.get("data"))
            self.tensor_shapes(shapes, sizes, optimizer, early is not None, hp["dtype"])
        numbers = self.numbers_meta(meta.get("input_numbers"), scale)
        weights: dict[str, np.ndarray] = {}
        best: dict[str, np.ndarray] = {}
        if tensors is not None:
            for name in sorted(tensors):
                bad = int(np.count_nonzero(~np.isfinite(tensors[name])))
                if bad:
                    raise self.fail(f"tensor {name} has {bad} NaN or infinite value(s).")
            weights = {k: v for k, v in tensors.items() if "/" not in k and k[0] in "Wb"}
            best = {k[5:]: v for k, v in tensors.items() if k.startswith("best/")}
            if optimizer is not None:
                optimizer.arrays = {
                    k[6:]: v for k, v in tensors.items() if k.startswith("optim/")
                } or {f"momentum_buffer/{k[1:]}": v for k, v in tensors.items() if k[0] == "v"}
        return Checkpoint(
            kind=kind,
            sizes=sizes,
            input_shape=input_shape,
            input_scale=scale,
            classes=classes,
            hyperparameters=hp,
            seed=seed,
            history=history,
            engine=engine,
            feature_names=feature_names,
            weights=weights,
            optimizer=optimizer,
            schedule=schedule,
            best=best,
            early_stopping=early,
            data=data,
            input_numbers=numbers,
            path=self.path,
        )

    # -- fields ------------------------------------------------------------------------

    def sizes(self, value: Any) -> tuple[int, ...]:
        if not (isinstance(value, list) and len(value) >= 2 and all(_is_int(s, 1) for s in value)):
            raise self.bad("sizes", value, "a list of two or more layer widths, each >= 1")
        return tuple(int(s) for s in value)

    def input(
        self, shape: Any, scale: Any, sizes: tuple[int, ...]
    ) -> tuple[tuple[int, ...], float]:
        if not (isinstance(shape, list) and shape and all(_is_int(s, 1) for s in shape)):
            raise self.bad("input_shape", shape, "a list of dimensions, each >= 1")
        if math.prod(shape) != sizes[0]:
            raise self.fail(
                f"input_shape {tuple(shape)} holds {math.prod(shape)} values per sample, but "
                f"the first layer takes {sizes[0]} (sizes {sizes})."
            )
        if not (_is_number(scale) and math.isfinite(scale) and scale > 0):
            raise self.bad("input_scale", scale, "a finite number > 0")
        return tuple(int(s) for s in shape), float(scale)

    def classes(self, meta: dict[str, Any], sizes: tuple[int, ...]) -> Classes:
        k = sizes[-1]
        names = meta["classes"]
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise self.bad("classes", names, "a list of class names (strings)")
        if len(names) != k:
            raise self.fail(
                f"classes has {_names(len(names))}, but the last layer has {k} outputs."
            )
        if self.version < 2:
            return Classes(np.arange(k), tuple(names))
        labels = meta["labels"]
        if not (isinstance(labels, dict) and labels.get("kind") in LABEL_KINDS):
            raise self.bad(
                "labels", labels, f'{{"kind": one of {", ".join(LABEL_KINDS)}, "values": [...]}}'
            )
        values = labels.get("values")
        kind = labels["kind"]
        python_type: Callable[[Any], bool] = {
            "int": lambda v: (
                isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63
            ),
            "float": lambda v: isinstance(v, float) and math.isfinite(v),
            "bool": lambda v: isinstance(v, bool),
            "str": lambda v: isinstance(v, str),
        }[kind]
        if not (isinstance(values, list) and all(python_type(v) for v in values)):
            what = "int64" if kind == "int" else kind
            raise self.bad("labels.values", values, f"a list of {what} label values")
        if len(values) != k:
            raise self.fail(f"labels has {len(values)} values, but the last layer has {k} outputs.")
        # text labels come back as NumPy text (dtype <U), as np.unique gives them in fit
        arr = np.asarray(
            values, dtype={"int": np.int64, "float": np.float64, "bool": bool, "str": str}[kind]
        )
        if len(np.unique(arr)) != k or not np.all(np.unique(arr) == arr):
            raise self.bad("labels.values", values, "distinct values in sorted order")
        if label_kind(arr) != kind:  # pragma: no cover - guarded by the dtype above
            raise self.bad("labels.kind", kind, label_kind(arr))
        return Classes(arr, tuple(names))

    def hyperparameters(
        self, kind: str, meta: dict[str, Any], sizes: tuple[int, ...]
    ) -> tuple[dict[str, Any], int]:
        hp = meta["hyperparameters"]
        if not isinstance(hp, dict):
            raise self.bad("hyperparameters", hp, "a JSON object of the model's parameters")
        hp = dict(hp)
        defaults = DEFAULTS[kind]
        if self.version < 2:  # format 1: "seed", and fewer parameters
            if "seed" in hp:
                hp["random_state"] = hp.pop("seed")
            if kind == "softmax":
                hp.pop("hidden", None)
            for name in ("init_std", "engine", "device", "cpu_threads"):
                hp.setdefault(name, defaults[name])
        for name in LATER_PARAMETERS:
            hp.setdefault(name, defaults[name])
        if self.version < 3:
            for name, value in ADDED_IN_3.items():
                hp.setdefault(name, value)
        for name in ("optimizer", "schedule"):
            if name in hp:
                hp[name] = self.decoded(name, hp[name])
        unknown = sorted(set(hp) - set(defaults))
        if unknown:
            raise self.fail(
                f"hyperparameters.{unknown[0]} is not a parameter of {ESTIMATORS[kind]}."
            )
        missing = [k for k in defaults if k not in hp]
        if missing:
            raise self.fail(f"no hyperparameters.{missing[0]} in its metadata.")
        for name, rule in CONSTRAINTS.items():
            if name == "random_state":  # what JSON can hold: not a NumPy generator
                rule = SEED
            if name in hp:
                try:
                    validate_one(name, hp[name], rule, "")
                except ValueError:
                    raise self.bad(f"hyperparameters.{name}", hp[name], describe(rule)) from None
        if "hidden" in hp:
            hp["hidden"] = tuple(int(h) for h in hp["hidden"])
        hidden = tuple(hp.get("hidden", ()))
        if hidden != sizes[1:-1]:
            raise self.fail(
                f"hyperparameters.hidden is {hidden}, but the layer sizes {sizes} have "
                f"hidden layers {sizes[1:-1]}."
            )
        if self.version < 2:
            seed = hp["random_state"]
            if seed is None:
                raise self.bad("hyperparameters.seed", seed, "an integer >= 0")
        else:
            seed = meta["seed"]
            if not _is_int(seed):
                raise self.bad("seed", seed, "an integer >= 0")
        return hp, int(seed)

    def decoded(self, name: str, value: Any) -> Any:
        """A Rule or Schedule stored as ``{"rule": config}`` / ``{"schedule": config}``
        built again; any other value as it is."""
        tag = {"optimizer": "rule", "schedule": "schedule"}[name]
        if not (isinstance(value, dict) and set(value) == {tag}):
            return value
        config = value[tag]
        make = make_rule if tag == "rule" else make_schedule
        try:
            if not isinstance(config, dict):
                raise UsageError("not a JSON object")
            return make(**config)
        except (UsageError, TypeError) as exc:
            raise self.bad(f"hyperparameters.{name}", value, f"a {tag} config ({exc})") from None

    def history(self, value: Any) -> History:
        """The per-epoch columns: one row per epoch, so never more rows than a run may
        have epochs (checked first: the rows are what a damaged file could inflate). Not
        bounded by ``hyperparameters.epochs``: a model resumed with fewer epochs than it
        had trained keeps its whole history and saves the smaller number."""
        if not isinstance(value, dict):
            raise self.bad("history", value, "a JSON object of per-epoch columns")
        if not value:
            return History()
        missing = [c for c in HISTORY_COLUMNS if c not in value]
        if missing:
            raise self.fail(f"no history.{missing[0]} column.")
        columns: dict[str, list[float]] = {}
        n = None
        for name, col in value.items():
            if isinstance(col, list) and len(col) > MAX_EPOCHS:
                raise self.fail(
                    f"history.{name} has {len(col):,} rows, more than the {MAX_EPOCHS:,} "
                    "epochs a run may have: a run writes one row per epoch."
                )
            if not (isinstance(col, list) and all(_is_number(v) for v in col)):
                raise self.bad(f"history.{name}", col, "a list of numbers")
            if n is not None and len(col) != n:
                raise self.fail(f"history.{name} has {len(col)} rows, history.epoch {n}.")
            n = len(col)
            columns[name] = [float(v) for v in col]
        numbers = columns["epoch"]
        if numbers != [float(i) for i in range(1, len(numbers) + 1)]:
            raise self.bad("history.epoch", numbers, "the epochs 1, 2, ..., n in order")
        for name in ("train_loss", "train_accuracy", "seconds"):
            if not all(math.isfinite(v) for v in columns[name]):
                raise self.bad(f"history.{name}", columns[name], "finite numbers")
        if "lr" in columns and not all(math.isfinite(v) and v > 0 for v in columns["lr"]):
            raise self.bad("history.lr", columns["lr"], "rates: finite numbers > 0")
        return History(columns=columns)

    def feature_names(self, value: Any, sizes: tuple[int, ...]) -> np.ndarray | None:
        if value is None:
            return None
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise self.bad("feature_names", value, "null or a list of column names")
        if len(value) != sizes[0]:
            raise self.fail(
                f"feature_names has {_names(len(value))}, but the first layer takes {sizes[0]}."
            )
        return np.asarray(value, dtype=object)

    def velocity(
        self,
        kind: str,
        meta: dict[str, Any],
        hp: dict[str, Any],
        shapes: dict[str, tuple[tuple[int, ...], str]],
        sizes: tuple[int, ...],
    ) -> SavedOptimizer | None:
        """Formats 1 and 2: the momentum buffers ``vWk, vbk`` as SGD's state (its arrays
        are filled in when the tensors are read)."""
        has_velocity = any(k.startswith("v") for k in shapes)
        expected = _tensor_shapes(sizes)
        if has_velocity:
            if not hp["momentum"]:
                present = sorted(k for k in shapes if k.startswith("v"))
                raise self.fail(
                    f"it holds momentum buffers ({', '.join(present)}), but its momentum is 0."
                )
            expected.update({f"v{name}": shape for name, shape in param_shapes(sizes).items()})
        self.check_tensors(shapes, sizes, expected, hp["dtype"])
        if self.version < 2:  # format 1 stored gradient units at the run's rate
            units, lr = "gradient", None
        else:
            v = meta.get("velocity")
            if v is None:
                if has_velocity:
                    raise self.fail(
                        "it holds momentum buffers but no velocity entry in its metadata."
                    )
                units, lr = "gradient", None
            elif not (
                isinstance(v, dict)
                and v.get("units") in UNITS
                and _is_number(v.get("lr"))
                and math.isfinite(v["lr"])
                and v["lr"] > 0
            ):
                raise self.bad("velocity", v, '{"units": "step" or "gradient", "lr": a number > 0}')
            else:
                units, lr = str(v["units"]), float(v["lr"])
        if not has_velocity:
            return None
        rate = base_rate(kind, hp)  # lr may be "auto": the rate that stands for
        config = SGD(lr=rate, momentum=float(hp["momentum"])).config()
        return SavedOptimizer(config, 1, {}, units, lr if units == "step" else None)

    def optimizer_meta(self, value: Any) -> SavedOptimizer | None:
        if value is None:
            return None
        want = '{"config": a rule config, "step": an integer >= 0, "units", "lr"}'
        if not (isinstance(value, dict) and isinstance(value.get("config"), dict)):
            raise self.bad("optimizer", value, want)
        try:
            rule = make_rule(**value["config"])
        except (UsageError, TypeError) as exc:
            raise self.bad("optimizer.config", value["config"], f"a rule config ({exc})") from None
        step: Any = value.get("step")
        units: Any = value.get("units")
        lr: Any = value.get("lr")
        if not _is_int(step):
            raise self.bad("optimizer.step", step, "an integer >= 0")
        if units not in UNITS:
            raise self.bad("optimizer.units", units, " or ".join(repr(u) for u in UNITS))
        rate = None
        if units == "step":
            if not (_is_number(lr) and math.isfinite(lr) and lr > 0):
                raise self.bad("optimizer.lr", lr, "a number > 0 (the rate of step units)")
            rate = float(lr)
        return SavedOptimizer(rule.config(), int(step), {}, str(units), rate)

    def schedule_meta(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if not (
            isinstance(value, dict)
            and isinstance(value.get("config"), dict)
            and isinstance(value.get("per_step"), bool)
        ):
            raise self.bad("schedule", value, '{"config": a schedule config, "per_step": bool}')
        try:
            make_schedule(**value["config"])
        except (UsageError, TypeError) as exc:
            raise self.bad(
                "schedule.config", value["config"], f"a schedule config ({exc})"
            ) from None
        return {"config": value["config"], "per_step": value["per_step"]}

    def data_meta(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        digest = value.get("sha256") if isinstance(value, dict) else None
        if not (
            isinstance(value, dict)
            and set(value) == {"samples", "sha256"}
            and _is_int(value["samples"], 1)
            and isinstance(digest, str)
            and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest)
        ):
            raise self.bad("data", value, '{"samples": n > 0, "sha256": 64 hex digits}')
        return {"samples": int(value["samples"]), "sha256": digest}

    def numbers_meta(self, value: Any, scale: float) -> dict[str, Any] | None:
        if value is None:
            return None
        if not (
            isinstance(value, dict)
            and set(value) == {"max", "uint8"}
            and _is_number(value["max"])
            and math.isfinite(value["max"])
            and value["max"] >= 0
            and isinstance(value["uint8"], bool)
            and scale == 1.0
        ):
            raise self.bad(
                "input_numbers",
                value,
                '{"max": a finite number >= 0, "uint8": true or false}, only with input_scale 1',
            )
        return {"max": float(value["max"]), "uint8": value["uint8"]}

    def early_meta(self, value: Any, epochs: int) -> dict[str, int] | None:
        if value is None:
            return None
        if not (
            isinstance(value, dict)
            and _is_int(value.get("best_epoch"))
            and _is_int(value.get("stopped_epoch"))
            and value["best_epoch"] <= epochs
            and value["stopped_epoch"] <= epochs
            and (value["best_epoch"] >= 1 or epochs == 0)  # an epoch trained has a best
        ):
            raise self.bad(
                "early_stopping",
                value,
                f'{{"best_epoch": 1 to {epochs}, "stopped_epoch": 0 (not stopped) to {epochs}}}',
            )
        return {
            "best_epoch": int(value["best_epoch"]),
            "stopped_epoch": int(value["stopped_epoch"]),
        }

    def tensor_shapes(
        self,
        shapes: dict[str, tuple[tuple[int, ...], str]],
        sizes: tuple[int, ...],
        optimizer: SavedOptimizer | None,
        best: bool,
        dtype: str,
    ) -> None:
        expected = _tensor_shapes(sizes)
        params = param_shapes(sizes)
        if optimizer is not None:
            for slot in optimizer.rule().slot_names():
                expected.update({f"optim/{slot}/{p}": shape for p, shape in params.items()})
        if best:
            expected.update({f"best/{p}": shape for p, shape in params.items()})
        self.check_tensors(shapes, sizes, expected, dtype)

    def check_tensors(
        self,
        shapes: dict[str, tuple[tuple[int, ...], str]],
        sizes: tuple[int, ...],
        expected: dict[str, tuple[int, ...]],
        dtype: str,
    ) -> None:
        unexpected = sorted(set(shapes) - set(expected))
        if unexpected:
            raise self.fail(f"unexpected tensor(s) {', '.join(unexpected)}.")
        for name, shape in expected.items():
            if name not in shapes:
                raise self.fail(f"no tensor {name}.")
            got, stored = shapes[name]
            want = "F64" if dtype == "float64" else "F32"
            if stored != want:
                raise self.fail(
                    f"tensor {name} has dtype {stored}; it must be {dtype} ({want}), the "
                    "model's dtype."
                )
            if got != shape:
                raise self.fail(
                    f"tensor {name} has shape {got}, but the layer sizes {sizes} need {shape}."
                )


def _tensor_shapes(sizes: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    return dict(param_shapes(sizes))


# ------------------------------------------------------------------ compatibility


def check_compatible(
    ckpt: Checkpoint,
    *,
    against: str,
    kind: str | None = None,
    sizes: Sequence[int] | None = None,
    input_shape: Sequence[int] | None = None,
    input_scale: float | None = None,
    classes: Classes | None = None,
    data: dict[str, Any] | None = None,
    hint: str | None = None,
) -> None:
    """Refuse a checkpoint that does not fit a model or a data set; one message lists all.

    Parameters
    ----------
    against : str
        What it is compared with, for the message ("synthetic", "this model").
    kind, sizes, input_shape, input_scale, classes : optional
        What the model or data set needs; each given one is compared.
    data : dict, optional
        The :func:`fingerprint` of the training data, compared with the checkpoint's
        (when the file keeps one).

    Raises
    ------
    DataError
        ``<file> does not match <against>: <field> <in the checkpoint>, <in against>; ...``
    """
    problems = []
    if kind is not None and kind != ckpt.kind:
        problems.append(f"it holds {_a(ESTIMATORS[ckpt.kind])}, not {_a(ESTIMATORS[kind])}")
    if sizes is not None and tuple(sizes) != ckpt.sizes:
        problems.append(f"layers {ckpt.sizes} in the checkpoint, {tuple(sizes)} in {against}")
    if input_shape is not None and tuple(input_shape) != ckpt.input_shape:
        problems.append(
            f"samples of shape {ckpt.input_shape} in the checkpoint, {tuple(input_shape)} "
            f"in {against}"
        )
    if input_scale is not None and input_scale != ckpt.input_scale:
        problems.append(
            f"inputs scaled by {_scale(ckpt.input_scale)} in the checkpoint, by "
            f"{_scale(input_scale)} in {against}"
        )
    if classes is not None and not classes.same_as(ckpt.classes):
        problems.append(
            f"classes {ckpt.classes.describe()} in the checkpoint, {classes.describe()} "
            f"in {against}"
        )
    # other data of the same shapes and classes (a difference above says it already)
    if not problems and data is not None and ckpt.data is not None and data != ckpt.data:
        if data["samples"] != ckpt.data["samples"]:
            problems.append(
                f"it was trained on {ckpt.data['samples']:,} samples, {against} has "
                f"{data['samples']:,}"
            )
        else:
            problems.append(
                f"it was trained on other data ({ckpt.data['samples']:,} samples, as in "
                f"{against}, but of other values: SHA-256 {ckpt.data['sha256'][:12]}... "
                f"in the checkpoint, {data['sha256'][:12]}... in {against})"
            )
    if problems:
        raise DataError(f"{ckpt.path} does not match {against}: {'; '.join(problems)}.", hint=hint)


def _scale(scale: float) -> str:
    """How inputs are scaled, in words: ``1/255 (uint8 pixels)``, ``1 (as given)``."""
    if scale == 1.0:
        return "1 (numbers as given)"
    inverse = 1 / scale
    if abs(inverse - round(inverse)) < 1e-9 * inverse:
        return f"1/{round(inverse)}" + (" (uint8 pixels)" if round(inverse) == 255 else "")
    return f"{scale:g}"


def _a(noun: str) -> str:
    return ("an " if noun[0] in "AEIMOU" else "a ") + noun


# ------------------------------------------------------------------ the training callback


class Checkpointer(Callback):
    """A training callback that writes a checkpoint after every epoch.

    Parameters
    ----------
    path : path-like
        The ``.safetensors`` file (replaced atomically each epoch).
    snapshot : callable
        Returns the :class:`Checkpoint` to write (called after each epoch).
    """

    def __init__(self, path: str | os.PathLike[str], snapshot: Callable[[], Checkpoint]) -> None:
        self.path = Path(path)
        self.snapshot = snapshot
        self.saved_epoch = 0
        self.disk = DiskSync()  # every few seconds, and at the end: see DiskSync

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        write(self.path, self.snapshot(), durable=self.disk.durable())
        self.saved_epoch = epoch

    def on_train_end(self, history: History) -> None:
        self.disk.flush([self.path])

    def on_train_abort(self, error: BaseException) -> None:
        self.disk.flush([self.path])
