"""Experiment: what softmax regression's compiled gradient saves, and what it costs to start.

1. Whole fits of the benchmark's softmax job (60,000 + 10,000 generated images, 10
   epochs, batch 256, lr 0.1, test accuracy every epoch), in this process, taking turns:
   ``blocks``, the kernel in row blocks, one per core (``GRADLAB_NUMBA=1``; on one CPU
   it is the next); ``kernel``, the kernel on one thread (``GRADLAB_NUMBA=1``,
   ``cpu_threads=1``); ``numpy``, NumPy's passes (``GRADLAB_NUMBA=0``, the governor's
   threads). The time each kernel saves per input value and epoch.
2. The start-up in fresh processes: importing numba, then the first call of the
   kernels, one thread's and the blocks' (numba loads them from its cache, or compiles
   them where there is none).
3. The work (input values x epochs) at which each saving repays its start-up: compare
   :data:`gradlab.optim.compiled.KERNEL_MIN_WORK`.

With ``--parts``, only the kernel's stages, on one block of 128 rows on one thread and
on two blocks side by side on two: the gather and cast, the logits, the weight gradient
(and the weight gradient as it was first written, eight rows by one class at a time,
kept here to compare). With ``--engine``, only the engine's epochs: in blocks on two
threads and on one, and the one-thread kernel.

    python -m bench.experiments.fused_softmax [--rounds 4] [--startups 3] [--parts | --engine]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

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
flat, layout = np.zeros(10, np.float32), np.array([[0, 4, 2, 8]], np.int64)
G, work = np.zeros((2, 10), np.float32), np.zeros((2, 4), np.float32)
xbuf = np.zeros((2, 8), np.float32)
idx, y, stats, off = np.arange(3), np.zeros(3, np.int64), np.zeros((2, 2)), np.zeros(1, np.int64)
k.softmax_block_gradients(X, idx, y, flat, layout, off, G, work, xbuf, 1.0, 0.1, stats, True)
k.softmax_block_logits(X, 0, flat, layout, off, work, xbuf, 1.0, z)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "blocks": t3 - t2}))
"""

#: The fits taken in turn: (GRADLAB_NUMBA, cpu_threads) for each.
PATHS = {"blocks": ("1", "auto"), "kernel": ("1", 1), "numpy": ("0", "auto")}


def eight_rows_by_one_class(X: Any, dz: Any, gWT: Any) -> None:
    """``gWT += dz.T @ X`` as the kernel first computed it: eight rows at a time, one
    class at a time (nine loads and a store for eight multiply-adds)."""
    m, d = X.shape
    r = 0
    while r + 7 < m:
        x0, x1, x2, x3 = X[r], X[r + 1], X[r + 2], X[r + 3]
        x4, x5, x6, x7 = X[r + 4], X[r + 5], X[r + 6], X[r + 7]
        for k in range(gWT.shape[0]):
            g0, g1, g2, g3 = dz[r, k], dz[r + 1, k], dz[r + 2, k], dz[r + 3, k]
            g4, g5, g6, g7 = dz[r + 4, k], dz[r + 5, k], dz[r + 6, k], dz[r + 7, k]
            out = gWT[k]
            for j in range(d):
                out[j] += (g0 * x0[j] + g1 * x1[j] + g2 * x2[j] + g3 * x3[j]) + (
                    g4 * x4[j] + g5 * x5[j] + g6 * x6[j] + g7 * x7[j]
                )
        r += 8


def parts(rounds: int) -> None:
    """The kernel's stages on blocks of 128 rows, best of ``rounds``: one block on one
    thread, and two blocks on two threads side by side (numba's ``prange``)."""
    import numba
    import numpy as np

    from gradlab.engines import _numba_softmax as k
    from gradlab.engines._numba_blocks import gather

    old = numba.njit(fastmath={"reassoc", "contract"}, boundscheck=False)(eight_rows_by_one_class)

    @numba.njit(parallel=True)
    def side_by_side(stage, blocks, X, idx, start, x, WT, z, gWT):  # type: ignore[no-untyped-def]
        for p in numba.prange(blocks):
            if stage == 0:
                gather(X, idx, start + 128 * p, x[p])
            elif stage == 1:
                k._logits(x[p], WT, z[p])
            elif stage == 2:
                k._accumulate(x[p], z[p], gWT[p])
            else:
                old(x[p], z[p], gWT[p])

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (60000, 784), dtype=np.uint8)
    idx = rng.permutation(60000)
    x = np.empty((2, 128, 784), np.float32)
    WT = rng.normal(0, 0.01, (10, 784)).astype(np.float32)
    z = rng.normal(0, 0.01, (2, 128, 10)).astype(np.float32)
    gWT = np.zeros((2, 10, 784), np.float32)
    names = ["gather and cast", "logits", "weight gradient"]
    names.append("weight gradient, eight rows by one class")
    threads = min(2, numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    best = {(name, b): float("inf") for name in names for b in (1, 2)}
    for rnd in range(rounds + 1):  # the stages take turns, as the host is noisy
        for stage, name in enumerate(names):
            for blocks in (1, 2):
                numba.set_num_threads(1 if blocks == 1 else threads)
                start = time.perf_counter()
                for i in range(200):
                    at = (i * 256) % 59000
                    side_by_side(stage, blocks, X, idx, at, x, WT, z, gWT)
                if rnd:  # the first round compiles
                    seconds = (time.perf_counter() - start) / 200
                    best[name, blocks] = min(best[name, blocks], seconds)
    for name in names:
        one, two = best[name, 1], best[name, 2]
        print(f"{name}: {one * 1e6:.1f} us for one block of 128 rows on one thread, "
              f"{two * 1e6:.1f} us for two on {threads} threads side by side "
              f"({2 * one / two:.2f}x the work per second; best of {rounds})")  # fmt: skip


def engine(rounds: int) -> None:
    """Epochs of the engine alone (60,000 generated images, batch 256, evaluation on
    10,000 excluded), taking turns: in blocks on two threads, in blocks on one, and the
    one-thread kernel; BLAS on one thread."""
    import numba
    import numpy as np
    from threadpoolctl import threadpool_limits

    from gradlab.engines.numpy_mlp import NumpyMLP

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (60000, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 60000)
    params = {"W1": rng.normal(0, 0.01, (784, 10)).astype(np.float32)}
    params["b1"] = np.zeros(10, np.float32)
    nets = {
        "blocks, 2 threads": (NumpyMLP((784, 10), params, blocks=2), 2),
        "blocks, 1 thread": (NumpyMLP((784, 10), params, blocks=2), 1),
        "one-thread kernel": (NumpyMLP((784, 10), params, fused=True), 1),
    }
    best = dict.fromkeys(nets, float("inf"))
    with threadpool_limits(1):
        for rnd in range(rounds + 1):
            for name, (net, threads) in nets.items():
                numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
                order = rng.permutation(60000)
                start = time.perf_counter()
                for i in range(0, 60000, 256):
                    net.train_step((X, y), order[i : i + 256], 1e-3)
                if rnd:  # the first round compiles
                    best[name] = min(best[name], time.perf_counter() - start)
    for name, seconds in best.items():
        print(f"{name}: {seconds * 1e3:.1f} ms an epoch (best of {rounds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--startups", type=int, default=3)
    parser.add_argument("--parts", action="store_true", help="the kernel's stages only")
    parser.add_argument("--engine", action="store_true", help="the engine's epochs only")
    args = parser.parse_args()
    if args.parts:
        parts(args.rounds)
        return
    if args.engine:
        engine(args.rounds)
        return
    data = make_images(60000, 10000, seed=0)
    work = data.X_train[0].size * len(data.X_train)  # input values per epoch

    def fit(path: str) -> float:
        setting, threads = PATHS[path]
        os.environ[ENV] = setting
        est = SoftmaxRegression(
            epochs=10, engine="numpy", lr=0.1, batch_size=256, cpu_threads=threads
        )
        start = time.perf_counter()
        est.fit(data.X_train, data.y_train, eval_set=(data.X_test, data.y_test))
        return time.perf_counter() - start

    for path in PATHS:  # warm-up: imports, the kernels loaded
        fit(path)
    best = dict.fromkeys(PATHS, float("inf"))
    for r in range(args.rounds):
        for path in PATHS:
            best[path] = min(best[path], seconds := fit(path))
            print(f"round {r + 1}: {path}: {seconds:.3f} s", flush=True)
    saved = {}
    for path in ("blocks", "kernel"):
        saved[path] = (best["numpy"] - best[path]) / 10  # per epoch
        print(f"best: {path} {best[path]:.3f} s, NumPy passes {best['numpy']:.3f} s "
              f"({best[path] / best['numpy']:.3f}x); saved {saved[path] * 1e3:.1f} ms an "
              f"epoch, {saved[path] / work * 1e9:.2f} ns per input value")  # fmt: skip
    starts = []
    for _ in range(args.startups):
        out = subprocess.run(
            [sys.executable, "-c", STARTUP], capture_output=True, text=True, check=True
        ).stdout
        starts.append(json.loads(out))
        print(f"fresh process: import numba {starts[-1]['import']:.3f} s, load the "
              f"one-thread kernels {starts[-1]['load']:.3f} s, then the blocked ones "
              f"{starts[-1]['blocks']:.3f} s", flush=True)  # fmt: skip
    costs = {
        "kernel": min(s["import"] + s["load"] for s in starts),
        "blocks": min(s["import"] + s["load"] + s["blocks"] for s in starts),
    }
    for path, cost in costs.items():
        if saved[path] > 0:
            even = cost / (saved[path] / work)
            print(f"{path}: start-up {cost:.2f} s (best, at most: the blocked kernels' "
                  f"share includes numba's threads) is repaid after {even:.3g} input values "
                  f"x epochs ({even / work:.1f} epochs of this job); KERNEL_MIN_WORK "
                  f"= {KERNEL_MIN_WORK:.3g}")  # fmt: skip


if __name__ == "__main__":
    main()
