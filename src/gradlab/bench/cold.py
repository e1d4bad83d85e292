"""Cold runs: a fresh process per run, timed from its start to its exit.

What a user waits for: the interpreter, the imports, reading the data, compiling (for
JAX and Keras), the 10 epochs with their test evaluations, and for ``gradlab train``
also writing its checkpoint and history. Every process reads the same IDX files and
starts from the same initial weights, written into one folder by :func:`write_job`.
The libraries' files are in the page cache (this process has imported them), so an
import is timed as it is on a second run, not after a reboot, and gradlab's own modules
have their bytecode caches (:func:`compile_sources`), as an installed package has.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from gradlab.data.idx import write_idx
from gradlab.models._init import init_params

#: The MLP of the benchmark, and softmax regression: layer sizes and initialisation, as
#: ``gradlab train`` makes them (``init_params(sizes, init, 0.01, seed=0)``).
NETWORKS = {"softmax": ((784, 10), "normal"), "mlp": ((784, 200, 200, 10), "kaiming")}


def write_job(folder: Path, data: Any, model: str) -> Path:
    """Write ``data``'s images as the four IDX files and ``model``'s initial weights.

    Parameters
    ----------
    folder : Path
        Created if missing. Gets ``train-images-idx3-ubyte`` ... and ``init.npz``.
    data : ImageDataset
        uint8 images (n, 28, 28) and labels 0..9.
    model : {"softmax", "mlp"}

    Returns
    -------
    Path
        ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, X, y in (("train", data.X_train, data.y_train), ("t10k", data.X_test, data.y_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", X)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.asarray(y, np.uint8))
    sizes, init = NETWORKS[model]
    params: dict[str, Any] = init_params(sizes, init, 0.01, 0)
    np.savez(folder / "init.npz", **params)
    return folder


def compile_sources() -> None:
    """Write the bytecode caches of gradlab's modules, if they are missing.

    pip compiles a package's modules when it installs it, so a user's fresh process
    reads them from ``__pycache__``. An editable install under
    ``PYTHONDONTWRITEBYTECODE=1`` never writes them, and every cold run would compile
    gradlab's source again (about 60 ms). The peers' workers are gradlab modules too,
    so both sides of a cold table gain alike. A folder that cannot be written is left
    as it is.
    """
    import compileall

    import gradlab

    for folder in gradlab.__path__:  # the package's folder, wherever it is installed
        compileall.compile_dir(folder, quiet=2)


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds of ``command`` (run with ``env``, default this process's) from spawn
    to exit, and its stdout; stderr is shown on failure (RuntimeError)."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with status {done.returncode}:\n{done.stderr[-2000:]}"
        )
    return seconds, done.stdout


def peer(name: str, folder: Path, *, epochs: int, batch_size: int, lr: float) -> dict[str, Any]:
    """One cold run of peer ``name`` ("jax" or "keras") on the job in ``folder``.

    Returns
    -------
    dict
        The worker's report (:mod:`gradlab.bench.peers.worker`) with ``wall_seconds``,
        the process's whole life as seen from here.
    """
    command = [sys.executable, "-m", "gradlab.bench.peers.worker", name, str(folder)]
    command += ["--epochs", str(epochs), "--batch-size", str(batch_size), "--lr", str(lr)]
    seconds, out = timed(command)
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    report["wall_seconds"] = seconds
    return report


def gradlab_train(
    model: str, folder: Path, *, epochs: int, batch_size: int, lr: float
) -> dict[str, Any]:
    """One cold run of ``gradlab train MODEL`` (numpy engine, plain SGD) on ``folder``.

    Returns
    -------
    dict
        Its ``--json`` summary with ``wall_seconds``.
    """
    out = folder / f"gradlab-train-{model}"
    command = [sys.executable, "-m", "gradlab", "train", model]
    command += ["--dataset", "mnist", "--data-dir", str(folder), "--engine", "numpy"]
    command += ["--epochs", str(epochs), "--batch-size", str(batch_size), "--lr", str(lr)]
    command += ["--momentum", "0", "--no-plots", "--quiet", "--json", "--out", str(out)]
    seconds, text = timed(command)
    report: dict[str, Any] = json.loads(text)
    report["wall_seconds"] = seconds
    return report
