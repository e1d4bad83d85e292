"""Checkpoints: weights in safetensors (never pickle), the rest as JSON metadata.

A checkpoint is one ``.safetensors`` file holding the parameters as named float32
arrays and, in its metadata, the model's description and its training history, so
a run can be resumed or its predictions drawn from that file alone. It is written
atomically: an interrupted save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from gradlab.errors import DataError
from gradlab.io import atomic_path
from gradlab.train import Callback

FORMAT = "gradlab-checkpoint-1"
REQUIRED = ("sizes", "input_shape", "input_scale", "classes", "hyperparameters", "history")


def save(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write ``arrays`` and ``meta`` (JSON-serialisable) to ``path`` atomically."""
    from safetensors.numpy import save_file

    with atomic_path(path) as tmp:
        tensors = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "meta": json.dumps(meta)})
    return Path(path)


def load(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a checkpoint written by :func:`save`: its arrays and its metadata.

    Raises
    ------
    DataError
        The file is missing, is not a safetensors file, or is not a gradlab checkpoint.
    """
    return _read(path, arrays=True)


def load_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of a checkpoint (classes, hyperparameters, history), without its arrays.

    Raises
    ------
    DataError
        As :func:`load`.
    """
    return _read(path, arrays=False)[1]


def _read(
    path: str | os.PathLike[str], *, arrays: bool
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such checkpoint file.", hint="Train first with 'gradlab train'.")
    try:
        with safe_open(str(p), framework="numpy") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()} if arrays else {}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types for bad files
        raise DataError(f"{p}: not a readable safetensors file ({exc}).") from None
    if header.get("format") != FORMAT:
        raise DataError(f"{p}: a safetensors file, but not a gradlab checkpoint.")
    try:
        meta = json.loads(header["meta"])
        missing = [k for k in REQUIRED if k not in meta]
    except (KeyError, TypeError, ValueError):
        missing = ["meta"]
    if missing:
        raise DataError(
            f"{p}: damaged gradlab checkpoint (no {', '.join(missing)} in its metadata)."
        )
    return tensors, meta


class Checkpointer(Callback):
    """A training callback that saves a checkpoint after every epoch.

    Parameters
    ----------
    path : path-like
        The ``.safetensors`` file (replaced atomically each epoch).
    state : callable
        Returns the current parameters.
    meta : callable
        Returns the metadata to store, given the history so far.
    """

    def __init__(self, path: str | os.PathLike[str], state: Any, meta: Any) -> None:
        self.path = Path(path)
        self.state = state
        self.meta = meta
        self.saved_epoch = 0

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        save(self.path, self.state(), self.meta())
        self.saved_epoch = epoch
