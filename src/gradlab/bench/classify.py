"""The classification jobs: softmax regression and the MLP 784-200-200-10, 10 epochs of
plain SGD at batch 256, lr 0.1, test accuracy after every epoch, on the same images.

Paths, in one table per model: the tutorial's pipeline (d2l: per-image ``ToTensor``,
``DataLoader``), gradlab (numpy and torch engines), the strongest peers (JAX and Keras,
when installed), scikit-learn, and the floors. The fast paths are timed in rounds, one
fit of each per round, so that all of them see the same load on a shared machine; each
reports its best round. A second table per model times fresh processes, start to
finish (:func:`cold_table`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gradlab.bench import cold, peers
from gradlab.bench.floors import Floors, job_gemm_rate, mlp_flops
from gradlab.bench.rows import Row, row
from gradlab.optim.compiled import available as compiled_available

#: The tutorial's batch size (d2l's ``DataLoader(batch_size=256)``) and learning rate.
BATCH = 256
LR = 0.1

#: One timed fit: returns (seconds, final test accuracy).
Fit = Callable[[], tuple[float, float]]


def title(model: str) -> str:
    """The model's name in table titles."""
    return "softmax regression" if model == "softmax" else "MLP 784-200-200-10"


def job_name(model: str, n_train: int, n_test: int, epochs: int) -> str:
    """The title of a classifier table, e.g. "softmax regression, 60000+10000 images, 10
    epochs"."""
    return f"{title(model)}, {n_train}+{n_test} images, {epochs} epochs"


def gradlab_fit(
    model: str, data: Any, epochs: int, engine: str, device: str = "cpu", compiled: bool = False
) -> Fit:
    """A fit of gradlab's estimator with the tutorial's settings, timed around ``fit``;
    ``compiled`` asks for the compiled kernels whatever the job's size
    (``GRADLAB_NUMBA=1``, see :func:`gradlab.optim.compiled.worth_compiling`); without it
    the fit runs as by default, even under ``GRADLAB_NUMBA=1`` (``=0`` is kept)."""
    from gradlab.models import MLPClassifier, SoftmaxRegression

    def fit() -> tuple[float, float]:
        from gradlab.optim.compiled import ENV

        off = os.environ.get(ENV, "").strip() == "0"  # kept: numba off for every path
        with _numba_setting("1" if compiled else "0" if off else None):
            return _fit()

    def _fit() -> tuple[float, float]:
        est = (
            SoftmaxRegression(epochs=epochs, engine=engine, device=device, lr=LR, batch_size=BATCH)
            if model == "softmax"
            else MLPClassifier(
                epochs=epochs, engine=engine, device=device, lr=LR, momentum=0.0, batch_size=BATCH
            )
        )
        start = time.perf_counter()
        est.fit(data.X_train, data.y_train, eval_set=(data.X_test, data.y_test))
        return time.perf_counter() - start, float(est.history_["test_accuracy"][-1])

    return fit


@contextlib.contextmanager
def _numba_setting(value: str | None) -> Iterator[None]:
    """``GRADLAB_NUMBA`` set to ``value`` (None: unset, the default) while the block runs."""
    from gradlab.optim.compiled import ENV

    before = os.environ.get(ENV)
    if value is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def peer_fit(name: str, model: str, data: Any, epochs: int) -> Fit:
    """A fit of peer ``name`` (see :mod:`gradlab.bench.peers`) from gradlab's initial weights.

    The peer's set-up (moving the data to JAX, building and compiling the Keras model) is
    done here, once; each call of the returned function is one whole training.
    """
    sizes, init = cold.NETWORKS[model]
    from gradlab.models._init import init_params

    params = init_params(sizes, init, 0.01, 0)
    X = data.X_train.reshape(len(data.X_train), -1)
    Xt = data.X_test.reshape(len(data.X_test), -1)
    if name == "jax":
        from gradlab.bench.peers.jax_sgd import JaxSGD

        jax_trainer = JaxSGD(X, data.y_train, Xt, data.y_test, batch_size=BATCH, lr=LR)

        def fit() -> tuple[float, float]:
            r = jax_trainer.fit(params, epochs=epochs)
            return r["seconds"], r["test_accuracy"][-1]

        return fit
    from gradlab.bench.peers.keras_fit import KerasFit

    keras_trainer = KerasFit(sizes, batch_size=BATCH, lr=LR)

    def keras_fit() -> tuple[float, float]:
        r = keras_trainer.fit(params, X, data.y_train, Xt, data.y_test, epochs=epochs)
        return r["seconds"], r["test_accuracy"][-1]

    return keras_fit


def rounds(fits: dict[str, Fit], repeats: int) -> dict[str, tuple[float, float]]:
    """Each fit once untimed (imports, compilation, first-call costs), then ``repeats``
    rounds of one fit of each; the best seconds of each and its last test accuracy."""
    best: dict[str, tuple[float, float]] = {}
    for fit in fits.values():
        fit()
    for _ in range(max(1, repeats)):
        for name, fit in fits.items():
            seconds, accuracy = fit()
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, accuracy)
    return best


#: Paths timed in rounds: label, note, flags.
PATHS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "numpy": ("gradlab, numpy engine", "hand-written forward/backward", {"gradlab": True}),
    "numpy-compiled": (
        "gradlab, numpy engine, compiled gradient (numba, GRADLAB_NUMBA=1)",
        "softmax regression's whole gradient as one numba kernel, loaded before timing "
        "(by default only for jobs large enough to repay numba's start-up)",
        {},
    ),
    "torch": ("gradlab, torch engine", "torch.nn + optim.SGD, whole array in memory", {}),
    "jax": (
        "JAX: jit-compiled epoch, lax.scan over the batches (warm)",
        "gather, cast and SGD inside the compiled step, gradlab's batches and initial "
        "weights; compiled before timing",
        {"peer": True},
    ),
    "keras": (
        "Keras 3 model.fit, TensorFlow backend (warm)",
        "in-memory float32 arrays (cast timed), Dense layers, SGD, validation_data every "
        "epoch; model traced before timing",
        {"peer": True},
    ),
}


def tutorial_row(model: str, data: Any, *, epochs: int, repeats: int = 1) -> Row:
    """The tutorial's pipeline (d2l, PyTorch), the best of ``repeats`` runs, as a row.

    Its ``DataLoader`` forks worker processes: run it before JAX or TensorFlow start
    their threads in this process (a fork then can deadlock).
    """
    from gradlab.bench.baselines import tutorial_classify

    # the same statistic as the fast paths (the least disturbed run); the seed is the
    # same, so every run computes the same
    runs = [
        tutorial_classify.run(
            model,  # type: ignore[arg-type]
            data.X_train,
            data.y_train,
            data.X_test,
            data.y_test,
            epochs=epochs,
            lr=LR,
            batch_size=BATCH,
            num_workers=4,
        )
        for _ in range(max(1, repeats))
    ]
    r = min(runs, key=lambda run: run["seconds"])
    return row(
        job_name(model, len(data.y_train), len(data.y_test), epochs),
        "tutorial: per-image ToTensor, DataLoader(num_workers=4)",
        r["seconds"],
        r["test_accuracy"],
        f"d2l train_ch3; best of {repeats}" if repeats > 1 else "d2l train_ch3",
        baseline=True,
    )


def classify(
    model: str,
    data: Any,
    floors: Floors,
    *,
    epochs: int,
    baseline: Row | None = None,
    sklearn: bool = True,
    torch_engine: bool = True,
    peer_names: list[str] | None = None,
    device: str = "cpu",
    repeats: int = 1,
    log: Callable[[str], None] = print,
) -> list[Row]:
    """Softmax regression (``model="softmax"``) or the MLP, every path, one table.

    Parameters
    ----------
    data : ImageDataset
        uint8 images and labels.
    epochs : int
    baseline : Row, optional
        The tutorial's row (:func:`tutorial_row`), first in the table.
    peer_names : list of str, optional
        Which peers to time (default: every installed one, :func:`peers.available`).
    repeats : int
        Rounds of the fast paths; each reports its best.
    """
    n, nt = len(data.y_train), len(data.y_test)
    job = job_name(model, n, nt, epochs)
    rows = [] if baseline is None else [baseline]
    fits = {"numpy": gradlab_fit(model, data, epochs, "numpy")}
    if model == "softmax" and compiled_available():
        fits["numpy-compiled"] = gradlab_fit(model, data, epochs, "numpy", compiled=True)
    if torch_engine:
        fits["torch"] = gradlab_fit(model, data, epochs, "torch", device)
    for name in peers.available() if peer_names is None else peer_names:
        fits[name] = peer_fit(name, model, data, epochs)
    log(f"  {model}: {', '.join(fits)}, {repeats} round(s) after a warm-up ...")
    best = rounds(fits, repeats)
    for name, (seconds, accuracy) in best.items():
        label, note, flags = PATHS[name]
        if name == "torch":
            note = note.replace("optim.SGD,", f"optim.SGD on {device},")
        if repeats > 1:
            note += f"; best of {repeats} rounds"
        if name == "numpy-compiled" and "jax" in best and best["jax"][0] > 0:
            note += f"; {seconds / best['jax'][0]:.3f}x JAX's time"
        rows.append(row(job, label, seconds, accuracy, note, **flags))
    if sklearn:
        from gradlab.bench.baselines import sklearn_rows

        log(f"  {model}: scikit-learn ...")
        if model == "softmax":
            sk = sklearn_rows.softmax(
                data.X_train, data.y_train, data.X_test, data.y_test, epochs=epochs
            )
        else:
            sk = sklearn_rows.mlp(
                data.X_train,
                data.y_train,
                data.X_test,
                data.y_test,
                epochs=epochs,
                batch_size=BATCH,
            )
        for r in sk:
            rows.append(row(job, r["name"], r["seconds"], r["accuracy"], r["note"]))
    sizes = cold.NETWORKS[model][0]
    flops = mlp_flops(sizes, n, nt, epochs)
    rows.append(
        row(
            job,
            "floor: FLOPs / peak matmul rate",
            floors.compute_seconds(flops),
            None,
            f"{flops / 1e9:.3g} GFLOP at {floors.matmul_flops / 1e9:.0f} GFLOP/s "
            f"({floors.matmul_source})",
            floor=True,
        )
    )
    rate, how = job_gemm_rate(sizes, BATCH)
    rows.append(
        row(
            job,
            "floor: FLOPs / matmul rate at this job's shapes",
            flops / rate,
            None,
            f"{rate / 1e9:.0f} GFLOP/s: {how}",
            floor=True,
        )
    )
    return rows


def cold_table(
    model: str,
    data: Any,
    *,
    epochs: int,
    peer_names: list[str] | None = None,
    repeats: int = 1,
    log: Callable[[str], None] = print,
) -> list[Row]:
    """Fresh processes, start to finish: ``gradlab train`` against each peer's cold run.

    Every process reads the same IDX files and starts from the same weights
    (:func:`gradlab.bench.cold.write_job`); the runs are interleaved, ``repeats`` rounds,
    and each path reports its best.
    """
    n, nt = len(data.y_train), len(data.y_test)
    job = f"{title(model)}, {n}+{nt} images, {epochs} epochs: cold, a fresh process each"
    names = peers.available() if peer_names is None else peer_names
    log(f"  {model}: fresh processes: gradlab train, {', '.join(names)} ...")
    best: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="gradlab-bench-") as tmp:
        folder = cold.write_job(Path(tmp), data, model)
        cold.compile_sources()
        settings = {"epochs": epochs, "batch_size": BATCH, "lr": LR}
        for _ in range(max(1, repeats)):
            runs = {"gradlab": cold.gradlab_train(model, folder, **settings)}  # type: ignore[arg-type]
            for name in names:
                runs[name] = cold.peer(name, folder, **settings)  # type: ignore[arg-type]
            for name, r in runs.items():
                if name not in best or r["wall_seconds"] < best[name]["wall_seconds"]:
                    best[name] = r
    of = f"; best of {repeats}" if repeats > 1 else ""
    g = best.pop("gradlab")
    rows = [
        row(
            job,
            f"gradlab train {model} (numpy engine): the CLI, start to finish",
            g["wall_seconds"],
            g["test_accuracy"],
            f"interpreter, imports, reading the IDX files, training "
            f"{g['seconds']:.2f} s, checkpoint and history files{of}",
            gradlab=True,
        )
    ]
    labels = {"jax": "JAX, cold: a fresh process", "keras": "Keras 3 model.fit, cold"}
    for name, r in best.items():
        first, rest = r["epoch_seconds"][0], sum(r["epoch_seconds"][1:])
        rows.append(
            row(
                job,
                labels[name],
                r["wall_seconds"],
                r["test_accuracy"][-1],
                f"imports {r['import_seconds']:.2f} s, data {r['data_seconds']:.2f} s, "
                f"first epoch (compilation included) {first:.2f} s, the other epochs "
                f"{rest:.2f} s{of}",
                peer=True,
            )
        )
    return rows
