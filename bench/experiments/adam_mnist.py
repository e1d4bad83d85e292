"""Adam on the real MNIST files: the test accuracy after 10 epochs, by rate, by one setting
changed from the estimator's defaults, and by seed.

The MLP 784-200-200-10 of ``MLPClassifier(optimizer="adam", lr=LR, epochs=10,
random_state=SEED)``, with at most one other setting changed (``--settings``: batch sizes,
the tutorial's normal init, a normal init at about PyTorch's ``nn.Linear`` scale, inputs
standardised with MNIST's mean and std). Run from the repository root::

    .venv/bin/python -m bench.experiments.adam_mnist --mnist DIR
        [--rates 5e-4,7e-4,1e-3,1.5e-3,2e-3] [--settings default,b128,...]
        [--seeds 0,1,2] [--epochs 10] [--threads 1]

Prints a line per rate and setting: the last epoch's test accuracy per seed (the best
epoch's in brackets) and the seconds each fit took. Not part of the benchmark: it backs
the Adam tables in docs/optimizers.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if __package__ in (None, "") and str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gradlab.data.images import load_images  # noqa: E402
from gradlab.models import MLPClassifier  # noqa: E402

#: One setting changed from the defaults, by name ("std-inputs" standardises the pixels).
SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "b128": {"batch_size": 128},
    "b100": {"batch_size": 100},
    "b64": {"batch_size": 64},
    "b32": {"batch_size": 32},
    "normal0.01": {"init": "normal", "init_std": 0.01},
    "normal0.03": {"init": "normal", "init_std": 0.03},
    "std-inputs": {},
}
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def _standardised(X: np.ndarray) -> np.ndarray:
    flat = X.reshape(len(X), -1) / 255.0
    return ((flat - MNIST_MEAN) / MNIST_STD).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist", required=True, help="folder with the four MNIST IDX files")
    p.add_argument("--rates", default="1e-3", help="comma-separated learning rates")
    p.add_argument("--settings", default="default", help=", ".join(SETTINGS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (cpu_threads)")
    args = p.parse_args(argv)
    settings = args.settings.split(",")
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        p.error(f"--settings: unknown {', '.join(unknown)}; choose from {', '.join(SETTINGS)}")
    d = load_images("mnist", data_dir=args.mnist, download=False)
    for lr in (float(r) for r in args.rates.split(",")):
        for name in settings:
            cells = []
            for seed in (int(s) for s in args.seeds.split(",")):
                X, Xt = d.X_train, d.X_test
                if name == "std-inputs":
                    X, Xt = _standardised(X), _standardised(Xt)
                t = time.perf_counter()
                m = MLPClassifier(
                    optimizer="adam",
                    lr=lr,
                    epochs=args.epochs,
                    random_state=seed,
                    cpu_threads=args.threads,
                    **SETTINGS[name],
                )
                m.fit(X, d.y_train, eval_set=(Xt, d.y_test))
                acc = m.history_["test_accuracy"]
                cells.append(f"{acc[-1]:.4f} ({max(acc):.4f}) {time.perf_counter() - t:.0f} s")
            print(f"lr {lr:g}, {name}: " + "; ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
