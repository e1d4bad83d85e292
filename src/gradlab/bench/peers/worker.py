"""Train one peer once in this fresh process, and say where its time went (the cold run).

Run by :mod:`gradlab.bench.cold` as::

    python -m gradlab.bench.peers.worker {jax,keras} FOLDER --epochs 10 --batch-size 256 --lr 0.1

``FOLDER`` holds the four IDX files of the job's images and ``init.npz``, the initial
weights (``W1, b1, ...``). It prints one JSON object on stdout: the per-epoch test
accuracies and the seconds spent importing the library, reading the data, in training,
and in each epoch (the first includes the compilation).
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from gradlab.data.idx import read_idx

#: The module that holds each peer's trainer.
MODULES = {"jax": "gradlab.bench.peers.jax_sgd", "keras": "gradlab.bench.peers.keras_fit"}


def load(folder: Path) -> tuple[np.ndarray, ...]:
    """Training and test pixels, flattened to (n, d), and their labels, from ``folder``."""
    arrays = [
        read_idx(folder / f"{split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte")
        for split in ("train", "t10k")
        for kind in ("images", "labels")
    ]
    X, y, Xt, yt = arrays
    return X.reshape(len(X), -1), y.astype(np.int64), Xt.reshape(len(Xt), -1), yt.astype(np.int64)


def run(peer: str, folder: Path, *, epochs: int, batch_size: int, lr: float) -> dict[str, Any]:
    """Import ``peer``, read the data, train; the result with its phases in seconds."""
    start = time.perf_counter()
    module = importlib.import_module(MODULES[peer])
    imported = time.perf_counter()
    X, y, Xt, yt = load(folder)
    with np.load(folder / "init.npz") as npz:
        params = {k: npz[k] for k in npz.files}
    loaded = time.perf_counter()
    sizes = (X.shape[1], *(params[f"b{k}"].shape[0] for k in range(1, len(params) // 2 + 1)))
    if peer == "jax":
        trainer = module.JaxSGD(X, y, Xt, yt, batch_size=batch_size, lr=lr)
        result = trainer.fit(params, epochs=epochs)
    else:
        trainer = module.KerasFit(sizes, batch_size=batch_size, lr=lr)
        result = trainer.fit(params, X, y, Xt, yt, epochs=epochs)
    trained = time.perf_counter()
    return {
        "peer": peer,
        "test_accuracy": result["test_accuracy"],
        "import_seconds": imported - start,
        "data_seconds": loaded - imported,
        "train_seconds": trained - loaded,
        "epoch_seconds": result["epoch_seconds"],
        "seconds": trained - start,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("peer", choices=sorted(MODULES))
    p.add_argument("folder", type=Path)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    args = p.parse_args(argv)
    res = run(args.peer, args.folder, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
