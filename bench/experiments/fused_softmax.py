"""Experiment: what softmax regression's compiled gradient saves, and what it costs to start.

1. Whole fits of the benchmark's softmax job (60,000 + 10,000 generated images, 10
   epochs, batch 256, lr 0.1, test accuracy every epoch), in this process, with the
   kernel (``GRADLAB_NUMBA=1``) and without (``GRADLAB_NUMBA=0``) taking turns: the time
   saved per input value and epoch.
2. The start-up in fresh processes: importing numba, then the first call of each kernel
   (numba loads it from its cache, or compiles it where there is none).
3. The work (input values x epochs) at which the saving repays the start-up: compare
   :data:`gradlab.optim.compiled.KERNEL_MIN_WORK`.

    python -m bench.experiments.fused_softmax [--rounds 4] [--startups 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from gradlab.data.synthetic import make_images
from gradlab.models import SoftmaxRegression
from gradlab.optim.compiled import ENV, KERNEL_MIN_WORK

STARTUP = """
import json, time
t0 = time.perf_counter()
import numba  # noqa: F401
t1 = time.perf_counter()
import numpy as np
from gradlab.engines import _numba_softmax as k
X = np.zeros((3, 4), np.float32)
WT, b, z = np.zeros((2, 4), np.float32), np.zeros(2, np.float32), np.zeros((3, 2), np.float32)
k.softmax_regression_gradient(X, np.zeros(3, np.int64), WT, b, WT.copy(), b.copy(), z, 0.1, 1.0)
k.softmax_regression_logits(X, WT, b, z, 1.0)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--startups", type=int, default=3)
    args = parser.parse_args()
    data = make_images(60000, 10000, seed=0)
    work = data.X_train[0].size * len(data.X_train)  # input values per epoch

    def fit(setting: str) -> float:
        os.environ[ENV] = setting
        est = SoftmaxRegression(epochs=10, engine="numpy", lr=0.1, batch_size=256)
        start = time.perf_counter()
        est.fit(data.X_train, data.y_train, eval_set=(data.X_test, data.y_test))
        return time.perf_counter() - start

    fit("1")  # warm-up: imports, the kernel loaded
    fit("0")
    best = {"1": float("inf"), "0": float("inf")}
    for r in range(args.rounds):
        for setting in ("1", "0"):
            best[setting] = min(best[setting], seconds := fit(setting))
            print(f"round {r + 1}: GRADLAB_NUMBA={setting}: {seconds:.3f} s", flush=True)
    saved = (best["0"] - best["1"]) / 10  # per epoch
    print(f"best: kernel {best['1']:.3f} s, NumPy passes {best['0']:.3f} s "
          f"({best['1'] / best['0']:.3f}x); saved {saved * 1e3:.1f} ms an epoch, "
          f"{saved / work * 1e9:.2f} ns per input value")  # fmt: skip
    starts = []
    for _ in range(args.startups):
        out = subprocess.run(
            [sys.executable, "-c", STARTUP], capture_output=True, text=True, check=True
        ).stdout
        starts.append(json.loads(out))
        print(f"fresh process: import numba {starts[-1]['import']:.3f} s, "
              f"load the kernels {starts[-1]['load']:.3f} s", flush=True)  # fmt: skip
    cost = min(s["import"] + s["load"] for s in starts)
    if saved > 0:
        even = cost / (saved / work)
        print(f"start-up {cost:.2f} s (best) is repaid after {even:.3g} input values x "
              f"epochs ({even / work:.0f} epochs of this job); "
              f"KERNEL_MIN_WORK = {KERNEL_MIN_WORK:.3g}")  # fmt: skip


if __name__ == "__main__":
    main()
