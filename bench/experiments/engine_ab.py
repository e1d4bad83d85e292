"""Experiment: is a change to the NumPy engine faster? Whole fits, old and new, interleaved.

Loads ``gradlab.engines.numpy_mlp`` twice, from a git revision (``--ref``, default HEAD)
and from the working tree, and trains the same model on the same generated images with
each in turn, ``--rounds`` times, so that both see the same load on a shared machine.
Prints every time (wall and process CPU) and the best of each (the least disturbed run),
and checks that both reach the same test accuracy. Run from the repository root::

    .venv/bin/python -m bench.experiments.engine_ab --model mlp --batch 256 --rounds 5

Not part of the benchmark: it backs the before/after numbers quoted for engine changes.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from gradlab.data.synthetic import make_images
from gradlab.models._init import init_params

#: The checkout this script sits in: the engine is read from its working tree and history.
REPO = Path(__file__).resolve().parents[2]

ENGINE = "src/gradlab/engines/numpy_mlp.py"


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fit(
    module: ModuleType, model: str, data: object, batch: int, epochs: int
) -> tuple[float, float, float]:
    """(seconds, process CPU seconds, final test accuracy) of plain SGD at lr 0.1, the
    benchmark's settings."""
    sizes = (784, 10) if model == "softmax" else (784, 200, 200, 10)
    init = "normal" if model == "softmax" else "kaiming"
    net = module.NumpyMLP(sizes, init_params(sizes, init, 0.01, 0), 0.0)
    X = data.X_train.reshape(len(data.X_train), -1)  # type: ignore[attr-defined]
    Xt = data.X_test.reshape(len(data.X_test), -1)  # type: ignore[attr-defined]
    t, cpu = time.perf_counter(), time.process_time()
    train = net.prepare(X, data.y_train)  # type: ignore[attr-defined]
    test = net.prepare(Xt, data.y_test)  # type: ignore[attr-defined]
    n = X.shape[0]
    correct = 0
    for epoch in range(1, epochs + 1):
        order = np.random.default_rng([0, epoch]).permutation(n)
        for lo in range(0, n, batch):
            net.train_step(train, order[lo : lo + batch], 0.1)
        _, correct = net.evaluate(test)
    return time.perf_counter() - t, time.process_time() - cpu, correct / Xt.shape[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ref", default="HEAD", help="the git revision to compare with")
    p.add_argument("--model", choices=("softmax", "mlp"), default="mlp")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--threads",
        type=int,
        help="BLAS threads (default: the library's). On a busy shared host use 1: a BLAS "
        "call on two threads waits for whichever one a neighbour has descheduled",
    )
    args = p.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads, user_api="blas")
    old_source = subprocess.run(
        ["git", "show", f"{args.ref}:{ENGINE}"], cwd=REPO, check=True, capture_output=True
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        old_path = Path(tmp) / "numpy_mlp_old.py"
        old_path.write_bytes(old_source)
        engines = {
            args.ref: load(old_path, "numpy_mlp_old"),
            "working tree": load(REPO / ENGINE, "numpy_mlp_new"),
        }
        data = make_images(60000, 10000, seed=0)
        times: dict[str, list[float]] = {k: [] for k in engines}
        cpus: dict[str, list[float]] = {k: [] for k in engines}
        for r in range(args.rounds):
            for name, module in engines.items():
                seconds, cpu, acc = fit(module, args.model, data, args.batch, args.epochs)
                times[name].append(seconds)
                cpus[name].append(cpu)
                print(
                    f"round {r + 1}: {name:>12}: {seconds:6.3f} s ({cpu:6.3f} s CPU), "
                    f"test accuracy {acc:.4f}",
                    flush=True,
                )
    for label, series in (("wall", times), ("CPU", cpus)):
        best = {k: min(v) for k, v in series.items()}
        for k, v in best.items():
            print(f"best {label} {k:>12}: {v:.3f} s")
        old, new = best[args.ref], best["working tree"]
        print(f"{label}: working tree / {args.ref}: {new / old:.3f}")


if __name__ == "__main__":
    main()
