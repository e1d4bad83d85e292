"""Time the baselines (tutorial idioms and scikit-learn rows) on data of the real shape.

Run from the repository root, either way::

    .venv/bin/python bench/measure_baselines.py            # full: 60k + 10k images, 10 epochs
    .venv/bin/python -m bench.measure_baselines --quick    # smoke run, under a minute

The images are synthetic but of Fashion-MNIST's shape and type (60,000 + 10,000, 28x28 uint8,
10 classes; see :func:`make_images`).  They are learnable but not trivially (test accuracy
about 0.89), so the accuracies are sane and the timings are those of the real job.  The
linear-regression loop uses the tutorial's ``data.csv`` when ``../shared/data/data.csv``
exists next to the checkout, else 100 points generated like it.

The host is shared and noisy: compare rows from one run, and re-run before trusting a
difference under ~25%.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, "") and str(REPO) not in sys.path:  # run as a plain script
    sys.path.insert(0, str(REPO))

DATA_CSV = REPO.parent / "shared" / "data" / "data.csv"


def make_images(
    n_train: int,
    n_test: int,
    *,
    seed: int = 0,
    density: float = 0.15,
    keep: float = 0.4,
    other: float = 0.3,
    noise: float = 70.0,
    shape: tuple[int, int] = (28, 28),
) -> tuple[
    npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.int64]
]:
    """Synthetic, learnable 10-class uint8 images, MNIST-like in shape, type and darkness.

    Each class has a sparse prototype (a ``density`` fraction of bright pixels on black).  An
    image of class ``y`` keeps each bright pixel of prototype ``y`` with probability ``keep``,
    adds each bright pixel of another random class's prototype with probability ``other``,
    then Gaussian noise; the result is rounded and clipped to 0..255.  With the defaults the
    mean pixel is about 0.17 (MNIST 0.13, Fashion-MNIST 0.29) and softmax regression reaches
    about 0.89 test accuracy, the MLP about 0.88.

    Parameters
    ----------
    n_train, n_test : int
        Number of training and test images.
    seed : int, default 0
        Seed of the generator.
    density, keep, other : float
        Prototype density and the two pixel-keeping probabilities (see above).
    noise : float, default 70.0
        Standard deviation (grey levels) of the per-pixel noise.
    shape : (int, int), default (28, 28)
        Image height and width.

    Returns
    -------
    X_train, y_train, X_test, y_test
        uint8 images of shape ``(n, h, w)`` and int64 labels in ``0..9``.
    """
    rng = np.random.default_rng(seed)
    bright = rng.random((10, *shape)) < density
    prototypes = (bright * rng.uniform(128, 255, size=(10, *shape))).astype(np.float32)
    n = n_train + n_test
    y = rng.integers(0, 10, size=n)
    z = (y + rng.integers(1, 10, size=n)) % 10  # a different class
    X = np.empty((n, *shape), dtype=np.uint8)
    for start in range(0, n, 10_000):  # chunks keep the float scratch small
        sl = slice(start, min(start + 10_000, n))
        m = sl.stop - sl.start
        block = prototypes[y[sl]] * (rng.random((m, *shape)) < keep)
        block += prototypes[z[sl]] * (rng.random((m, *shape)) < other)
        block += noise * rng.standard_normal((m, *shape), dtype=np.float32)
        X[sl] = np.clip(np.rint(block), 0, 255).astype(np.uint8)
    y64 = y.astype(np.int64)
    return X[:n_train], y64[:n_train], X[n_train:], y64[n_train:]


def make_points(n: int = 100, seed: int = 0) -> npt.NDArray[np.float64]:
    """Points like the tutorial's data.csv: x in [20, 80], y = 1.32 x + 8 + noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(20, 80, size=n)
    return np.column_stack([x, 1.32 * x + 8 + rng.normal(0, 10.5, size=n)])


def _environment() -> dict[str, Any]:
    import multiprocessing

    import sklearn
    import torch
    from threadpoolctl import threadpool_info

    pools = sorted({f"{p['internal_api']}:{p['num_threads']}" for p in threadpool_info()})
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "sklearn": sklearn.__version__,
        "cpus": os.cpu_count(),
        "start_method": multiprocessing.get_start_method(),
        "machine": platform.machine(),
        "threadpools": pools,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _print_row(row: dict[str, Any]) -> None:
    metric = ""
    if "test_accuracy" in row:
        metric = f"test acc {row['test_accuracy']:.4f}  train loss {row['train_loss']:.4f}"
    elif "accuracy" in row:
        metric = f"test acc {row['accuracy']:.4f}"
    elif "error" in row:
        metric = f"error {row['error']:.6f}"
    elif "loss" in row:
        metric = f"loss {row['loss']:.6f}"
    print(f"{row['seconds']:9.3f} s  {row['name']:<58} {metric}", flush=True)
    if row.get("note"):
        print(f"{'':13}{row['note']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the measurements, print one line per row; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs for classification")
    parser.add_argument("--n-train", type=int, default=60_000, help="training images")
    parser.add_argument("--n-test", type=int, default=10_000, help="test images")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 epoch, 6,000 + 1,000 images"
    )
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers (d2l: 4)")
    parser.add_argument(
        "--no-workers-row",
        action="store_true",
        help="skip the extra softmax run with num_workers=0",
    )
    parser.add_argument(
        "--mlp-batch-size",
        type=int,
        default=200,
        help="batch for both MLP rows (200: the MNIST MLP course; d2l's loaders use 256)",
    )
    parser.add_argument("--linreg-repeats", type=int, default=5, help="repeats of the loop")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["linreg", "softmax", "mlp", "sklearn"],
        help="run only these groups",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="cap every thread pool (torch intra-op, OpenMP, BLAS) at N for the whole run; "
        "default: the libraries' own (one thread per core)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write all rows to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.n_train, args.n_test = 1, 6_000, 1_000
    groups = set(args.only or ["linreg", "softmax", "mlp", "sklearn"])

    import torch
    from threadpoolctl import threadpool_limits

    from bench.baselines import sklearn_rows, tutorial_classify, tutorial_linreg

    if args.threads is not None:
        # On a shared 2-core host, 2 spinning OpenMP/BLAS threads can be several times slower
        # than 1 when another process holds a core; this makes that measurable.
        torch.set_num_threads(args.threads)
        threadpool_limits(limits=args.threads)
    env = _environment()
    print("environment:", json.dumps(env), flush=True)
    rows: list[dict[str, Any]] = []

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        _print_row(row)

    if "linreg" in groups:
        if DATA_CSV.is_file():
            points, source = np.genfromtxt(DATA_CSV, delimiter=","), str(DATA_CSV)
        else:
            points, source = make_points(), "generated (data.csv not found)"
        times = []
        for _ in range(args.linreg_repeats):
            result = tutorial_linreg.run(points, 0.0001, 1000)
            times.append(result["seconds"])
        record(
            {
                "name": "tutorial linreg per-point loop, 1000 iterations",
                **result,
                "seconds": min(times),
                "median_seconds": statistics.median(times),
                "note": f"{len(points)} points from {source}; min of {len(times)} runs "
                f"(median {statistics.median(times):.4f} s); b={result['b']!r} "
                f"w={result['w']!r}",
            }
        )
        if "sklearn" in groups:
            for row in sklearn_rows.linreg(points, lr=0.0001, iterations=1000, seed=args.seed):
                record(row)

    if groups & {"softmax", "mlp", "sklearn"}:
        t0 = time.perf_counter()
        X_train, y_train, X_test, y_test = make_images(args.n_train, args.n_test, seed=args.seed)
        print(
            f"data: {len(X_train)} train + {len(X_test)} test images {X_train.shape[1:]} uint8, "
            f"generated in {time.perf_counter() - t0:.2f} s",
            flush=True,
        )
        data = (X_train, y_train, X_test, y_test)

    def tutorial(model: str, workers: int, batch: int) -> None:
        result = tutorial_classify.run(
            model,  # type: ignore[arg-type]
            *data,
            epochs=args.epochs,
            batch_size=batch,
            num_workers=workers,
            seed=args.seed,
        )
        history = result.pop("history")
        record(
            {
                "name": f"tutorial {model}: PIL->tensor per sample, batch {batch}, "
                f"workers {workers}",
                **result,
                "note": f"{args.epochs} epochs, lr 0.1, test every epoch; test acc per epoch: "
                + " ".join(f"{h['test_accuracy']:.3f}" for h in history),
            }
        )

    if "softmax" in groups:
        tutorial("softmax", args.workers, 256)
        if not args.no_workers_row and args.workers != 0:
            tutorial("softmax", 0, 256)
    if "mlp" in groups:
        tutorial("mlp", args.workers, args.mlp_batch_size)
    if "sklearn" in groups:
        for row in sklearn_rows.softmax(*data, epochs=args.epochs, seed=args.seed):
            record(row)
        for row in sklearn_rows.mlp(
            *data, epochs=args.epochs, batch_size=args.mlp_batch_size, seed=args.seed
        ):
            record(row)

    load = [round(x, 2) for x in os.getloadavg()]
    print(f"load average at the end: {load} on {os.cpu_count()} CPUs", flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"environment": env, "args": {k: str(v) for k, v in vars(args).items()}}
        args.json.write_text(json.dumps({**payload, "rows": rows}, indent=2) + "\n")
        print(f"wrote {args.json}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
