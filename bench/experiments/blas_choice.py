"""Experiment: the MLP's blocked kernel with MKL's products against SciPy's OpenBLAS.

:mod:`gradlab.engines._numba_gemm` gives the kernels' float32 products to MKL (from
PyTorch's library) on Intel CPUs and to OpenBLAS elsewhere; ``GRADLAB_BLAS`` forces
either. The choice is made once per process, so each measurement is a fresh process
per BLAS, taking turns and swapping the order every round:

``warm``
    a process fits the benchmark's MLP (784-200-200-10, batch 256, plain SGD at lr 0.1,
    10 epochs, test accuracy every epoch, 60,000 generated images) once to load the
    kernels, then twice timed; it reports the better fit and its test accuracy.
``cold``
    ``gradlab train mlp`` on the same job as the benchmark's cold row (IDX files), from
    spawn to exit (:func:`gradlab.bench.cold.gradlab_train`).

Prints each round and, per measurement, the median of the rounds' MKL / OpenBLAS
ratios. Run from the repository root (PyTorch and numba installed)::

    .venv/bin/python -m bench.experiments.blas_choice --rounds 5 [--cold]

Not part of the benchmark: it backs the figures in :mod:`gradlab.engines._numba_gemm`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gradlab.bench import cold
from gradlab.data.synthetic import make_images

BLAS = ("mkl", "openblas")

WARM = """import json, time
from gradlab.data.synthetic import make_images
from gradlab.engines import _numba_gemm
from gradlab.models import MLPClassifier
data = make_images(60000, 10000, seed=0)
best, acc = float("inf"), None
for i in range(3):
    est = MLPClassifier(lr=0.1, momentum=0.0, batch_size=256, epochs=10, random_state=0)
    start = time.perf_counter()
    est.fit(data.X_train, data.y_train, eval_set=(data.X_test, data.y_test))
    if i:
        best = min(best, time.perf_counter() - start)
        acc = est.history_["test_accuracy"][-1]
print(json.dumps({"blas": _numba_gemm.BLAS, "seconds": best, "accuracy": acc}))
"""


def warm(blas: str) -> dict[str, float]:
    env = {**os.environ, "GRADLAB_BLAS": blas, "GRADLAB_NUMBA": "1"}
    out = subprocess.run(
        [sys.executable, "-c", WARM], env=env, capture_output=True, text=True, check=True
    ).stdout
    report: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    assert report["blas"] == blas, report
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--cold", action="store_true", help="also whole gradlab train processes")
    args = p.parse_args()
    ratios: dict[str, list[float]] = {"warm": [], "cold": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = None
        if args.cold:
            folder = cold.write_job(Path(tmp) / "job", make_images(60000, 10000, seed=0), "mlp")
        for r in range(args.rounds):
            order = BLAS if r % 2 == 0 else BLAS[::-1]
            fits = {b: warm(b) for b in order}
            ratios["warm"].append(fits["mkl"]["seconds"] / fits["openblas"]["seconds"])
            line = ", ".join(
                f"{b} {f['seconds']:.3f} s (accuracy {f['accuracy']:.4f})" for b, f in fits.items()
            )
            if folder is not None:
                walls = {}
                for b in order:
                    os.environ["GRADLAB_BLAS"] = b
                    walls[b] = cold.gradlab_train("mlp", folder, epochs=10, batch_size=256, lr=0.1)[
                        "wall_seconds"
                    ]
                os.environ.pop("GRADLAB_BLAS")
                ratios["cold"].append(walls["mkl"] / walls["openblas"])
                line += "; cold " + ", ".join(f"{b} {s:.3f} s" for b, s in walls.items())
            print(f"round {r + 1}: warm {line}", flush=True)
    for name, values in ratios.items():
        if values:
            q = statistics.median(values)
            print(f"{name}: MKL / OpenBLAS, median of {len(values)} rounds {q:.3f} "
                  f"[{min(values):.3f}-{max(values):.3f}]")  # fmt: skip


if __name__ == "__main__":
    main()
