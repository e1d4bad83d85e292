"""Experiment: the MLP's NumPy passes against its blocked kernel, epoch by epoch.

Trains the benchmark's MLP (784-200-200-10, batch 256, plain SGD at lr 0.1, 60,000
generated images) one epoch at a time with :class:`gradlab.engines.numpy_mlp.NumpyMLP`:

``numpy-1t`` / ``numpy-2t``
    NumPy's passes, OpenBLAS on 1 or 2 threads (what the engine did before the kernel);
``blocked-1t`` / ``blocked-2t``
    the batch in two row blocks (:mod:`gradlab.engines._numba_mlp`), BLAS on one
    thread, the blocks on 1 or 2 of numba's threads.

The paths take turns in rounds of random order; per path, the best epoch and the median
of its epoch time over ``numpy-2t``'s in the same round. Also prints how far the blocked
weights end from the NumPy passes' after the same batches (float rounding, growing with
the steps), and, with ``--gemms``, the time of the step's eight products alone, on one
thread and as two blocks side by side: what the hardware allows the blocked step.
``--startup`` times, in fresh processes, importing numba and loading the kernels from
numba's cache (what a process pays before the first blocked step). ``--fits N`` fits
the benchmark's whole job (10 epochs, test accuracy every epoch) with the estimator, as
``gradlab bench`` does (the thread governor on), N times each with ``GRADLAB_NUMBA=0``
(NumPy's passes) and unset (the blocks), in alternating order. ``--rules`` times blocked
steps with plain SGD and with Adam, taking turns. ``--overhead`` times the Python
around the kernel: ``train_step`` with the kernel swapped for a function doing nothing.
Run from the repository root::

    python -m bench.experiments.blocked_mlp [--rounds 6] [--gemms] [--startup] [--fits 7]
        [--rules] [--overhead]

Not part of the benchmark: it backs docs/performance.md's section on the blocked step.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from gradlab.data.synthetic import make_images
from gradlab.engines.numpy_mlp import NumpyMLP
from gradlab.models._init import init_params

SIZES = (784, 200, 200, 10)
BATCH, LR = 256, 0.1


def _blas(threads: int):  # type: ignore[no-untyped-def]
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    return ThreadpoolController().select(user_api="blas").limit(limits=threads)


def numpy_gemm_times(rounds: int = 5) -> tuple[float, float]:
    """Seconds of one step's eight products on the whole batch by NumPy, OpenBLAS on one
    thread and on two (which splits each product)."""
    rng = np.random.default_rng(0)

    def f(*shape: int) -> np.ndarray:
        return rng.random(shape, dtype=np.float32)

    x, W1, W2, W3 = f(BATCH, 784), f(784, 200), f(200, 200), f(200, 10)
    A1, A2, Z, D2, D1 = f(BATCH, 200), f(BATCH, 200), f(BATCH, 10), f(BATCH, 200), f(BATCH, 200)
    G1, G2, G3 = f(784, 200), f(200, 200), f(200, 10)

    def products() -> None:
        np.matmul(x, W1, out=A1)
        np.matmul(A1, W2, out=A2)
        np.matmul(A2, W3, out=Z)
        np.matmul(A2.T, Z, out=G3)
        np.matmul(Z, W3.T, out=D2)
        np.matmul(A1.T, D2, out=G2)
        np.matmul(D2, W2.T, out=D1)
        np.matmul(x.T, D1, out=G1)

    best = {1: np.inf, 2: np.inf}
    for _ in range(rounds):
        for threads in (1, 2):
            with _blas(threads):
                products()
                start = time.perf_counter()
                for _ in range(200):
                    products()
                best[threads] = min(best[threads], (time.perf_counter() - start) / 200)
    return best[1], best[2]


def gemm_times(rounds: int = 5) -> tuple[float, float]:
    """Seconds of one step's eight products of two 128-row blocks: one after the other
    on one thread, and the two blocks side by side on two numba threads."""
    import numba

    from bench.experiments.gradient_split import block_products

    @numba.njit(parallel=True, cache=False)
    def products(xs, W1, W2, W3, A1, A2, Z, D2, D1, G1, G2, G3, n):  # type: ignore[no-untyped-def]
        for p in numba.prange(n):
            block_products(p, xs, W1, W2, W3, A1, A2, Z, D2, D1, G1, G2, G3)

    rng = np.random.default_rng(0)

    def f(*shape: int) -> np.ndarray:
        return rng.random(shape, dtype=np.float32)

    h = BATCH // 2
    args = (f(2, h, 784), f(784, 200), f(200, 200), f(200, 10), f(2, h, 200), f(2, h, 200),
            f(2, h, 10), f(2, h, 200), f(2, h, 200), f(2, 784, 200), f(2, 200, 200),
            f(2, 200, 10), 2)  # fmt: skip
    products(*args)
    best = {1: np.inf, 2: np.inf}
    with _blas(1):
        for _ in range(rounds):
            for threads in (1, 2):
                numba.set_num_threads(threads)
                start = time.perf_counter()
                for _ in range(200):
                    products(*args)
                best[threads] = min(best[threads], (time.perf_counter() - start) / 200)
    return best[1], best[2]


def startup(repeats: int = 3) -> float:
    """Best of ``repeats`` fresh processes: seconds to import the kernels and run a
    first blocked step of a small network (numba's import and its cache's load)."""
    code = (
        "import time, numpy as np; from gradlab.engines.numpy_mlp import NumpyMLP;"
        "from gradlab.models._init import init_params; s=(8,4,3);"
        "net=NumpyMLP(s, init_params(s,'kaiming',0.01,0), blocks=2);"
        "t=time.perf_counter(); net=NumpyMLP(s, init_params(s,'kaiming',0.01,0), blocks=2);"
        "net.step(np.ones((4,8),np.float32), np.zeros(4,np.int64), 0.1);"
        "print(time.perf_counter()-t)"
    )
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    base = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import numpy; import gradlab.engines.numpy_mlp"],
            check=True,
            capture_output=True,
        )
        base.append(time.perf_counter() - start)
    return min(times) - min(base)


def estimator_fits(data: object, n: int) -> tuple[list[float], list[float]]:
    """Seconds of ``n`` whole fits with NumPy's passes and ``n`` with the blocks."""
    import os

    from gradlab.models import MLPClassifier
    from gradlab.optim.compiled import ENV

    def fit(setting: str) -> float:
        os.environ[ENV] = setting
        try:
            est = MLPClassifier(lr=0.1, momentum=0.0, batch_size=BATCH, epochs=10)
            start = time.perf_counter()
            est.fit(data.X_train, data.y_train, eval_set=(data.X_test, data.y_test))  # type: ignore[attr-defined]
            return time.perf_counter() - start
        finally:
            os.environ.pop(ENV, None)

    fit("0")
    fit("")  # warm-up
    passes: list[float] = []
    blocks: list[float] = []
    for r in range(n):
        for setting in ("0", "") if r % 2 == 0 else ("", "0"):
            (passes if setting == "0" else blocks).append(fit(setting))
        print(f"fit {r + 1}: NumPy's passes {passes[-1]:.2f} s, blocks {blocks[-1]:.2f} s")
    return passes, blocks


def rule_steps(X: np.ndarray, y: np.ndarray, rounds: int = 8) -> dict[str, float]:
    """Best seconds per blocked step (two blocks on two threads) with plain SGD and with
    Adam (its compiled update where numba has it), taking turns over the same batches."""
    import numba

    from gradlab.optim.rules import Adam

    params = init_params(SIZES, "kaiming", 0.01, 0)
    order = np.random.default_rng(2).permutation(X.shape[0])
    batches = [order[i : i + BATCH] for i in range(0, 120 * BATCH, BATCH)]
    nets = {
        "plain SGD": (NumpyMLP(SIZES, params, blocks=2), LR),
        "Adam": (NumpyMLP(SIZES, params, rule=Adam(lr=1e-3), blocks=2), 1e-3),
    }
    prepared = {k: net.prepare(X, y) for k, (net, _) in nets.items()}
    numba.set_num_threads(2)
    best = dict.fromkeys(nets, np.inf)
    with _blas(1):
        for name, (net, lr) in nets.items():
            for idx in batches[:5]:
                net.train_step(prepared[name], idx, lr)
        for _ in range(rounds):
            for name, (net, lr) in nets.items():
                start = time.perf_counter()
                for idx in batches:
                    net.train_step(prepared[name], idx, lr)
                best[name] = min(best[name], (time.perf_counter() - start) / len(batches))
    return best


def python_around_kernel(X: np.ndarray, y: np.ndarray, rounds: int = 15) -> list[float]:
    """Seconds per step of ``train_step`` with the blocked kernel swapped for a function
    that does nothing: the Python around the kernel, one value per round (the best of
    ten passes over 24 batches)."""
    net = NumpyMLP(SIZES, init_params(SIZES, "kaiming", 0.01, 0), blocks=2)
    data = net.prepare(X, y)
    order = np.random.default_rng(3).permutation(X.shape[0])
    batches = [order[i : i + BATCH] for i in range(0, 24 * BATCH, BATCH)]
    net.train_step(data, batches[0], 0.01)  # the buffers, with the kernel

    def nothing(*args: object) -> tuple[float, int]:
        return 0.0, 0

    net._blocked = nothing
    out: list[float] = []
    for _ in range(rounds):
        best = np.inf
        for _ in range(10):
            start = time.perf_counter()
            for idx in batches:
                net.train_step(data, idx, 0.01)
            best = min(best, (time.perf_counter() - start) / len(batches))
        out.append(best)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--gemms", action="store_true", help="also time the products alone")
    p.add_argument("--startup", action="store_true", help="also time numba's start-up")
    p.add_argument("--fits", type=int, default=0, help="also this many whole fits each")
    p.add_argument("--rules", action="store_true", help="also Adam's blocked step")
    p.add_argument("--overhead", action="store_true", help="also the Python around the kernel")
    args = p.parse_args()
    data = make_images(60000, 10000, seed=0)
    if args.overhead:
        around = np.array(python_around_kernel(data.X_train.reshape(60000, -1), data.y_train))
        q1, med, q3 = np.percentile(around * 1e6, [25, 50, 75])
        print(f"Python around the blocked kernel: {med:.1f} us a step, median of "
              f"{len(around)} rounds [quartiles {q1:.1f}-{q3:.1f}]\n")  # fmt: skip
    if args.fits:
        passes, blocks = estimator_fits(data, args.fits)
        ratio = np.median(np.array(blocks) / np.array(passes))
        print(f"whole fits: NumPy's passes best {min(passes):.3f} s, blocks best "
              f"{min(blocks):.3f} s; blocks / passes, median of pairs: {ratio:.3f}\n")  # fmt: skip
    X = data.X_train.reshape(60000, -1)
    params = init_params(SIZES, "kaiming", 0.01, 0)
    order = np.random.default_rng(1).permutation(60000)
    batches = [order[i : i + BATCH] for i in range(0, 60000 - BATCH + 1, BATCH)]
    nets = {
        "numpy-1t": (NumpyMLP(SIZES, params), 1),
        "numpy-2t": (NumpyMLP(SIZES, params), 2),
        "blocked-1t": (NumpyMLP(SIZES, params, blocks=2), 1),
        "blocked-2t": (NumpyMLP(SIZES, params, blocks=2), 2),
    }
    prepared = {k: net.prepare(X, data.y_train) for k, (net, _) in nets.items()}

    def epoch(name: str) -> float:
        net, threads = nets[name]
        blocked = net.thread_pool is not None
        if blocked:
            net.thread_pool(threads)
        with _blas(1 if blocked else threads):
            start = time.perf_counter()
            for idx in batches:
                net.train_step(prepared[name], idx, LR)
            return time.perf_counter() - start

    for name in nets:  # warm-up: first calls, numba's cache
        epoch(name)
    # the same batches from the same weights: how far apart the two computations end
    a, b = NumpyMLP(SIZES, params), NumpyMLP(SIZES, params, blocks=2)
    pa, pb = a.prepare(X, data.y_train), b.prepare(X, data.y_train)
    with _blas(1):
        for idx in batches:
            a.train_step(pa, idx, LR)
            b.train_step(pb, idx, LR)
    rel = np.abs(a.flat - b.flat).max() / np.abs(a.flat).max()
    print(f"after one epoch from the same weights: largest difference {rel:.2e} of the "
          "largest weight")  # fmt: skip
    names = list(nets)
    times: dict[str, list[float]] = {k: [] for k in names}
    rng = np.random.default_rng(0)
    for r in range(args.rounds):
        for i in rng.permutation(len(names)):
            times[names[i]].append(epoch(names[i]))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()))
    base = np.array(times["numpy-2t"])
    print(f"\none epoch of 60,000 images, {args.rounds} rounds; ratio to numpy-2t in the same "
          "round: median [quartiles]")  # fmt: skip
    for name, t in times.items():
        q1, med, q3 = np.percentile(np.array(t) / base, [25, 50, 75])
        print(f"  {name:10s} x{med:5.3f} [{q1:5.3f}-{q3:5.3f}]  best {min(t):6.3f} s")
    if args.gemms:
        one, two = numpy_gemm_times()
        print(f"\nthe eight products of a step, NumPy, the whole batch: {one * 1e6:.0f} us on "
              f"one BLAS thread, {two * 1e6:.0f} us on two ({one / two:.2f}x)")  # fmt: skip
        one, two = gemm_times()
        print(f"the same as two 128-row blocks: {one * 1e6:.0f} us on one thread, "
              f"{two * 1e6:.0f} us side by side on two ({one / two:.2f}x)")  # fmt: skip
    if args.rules:
        steps = rule_steps(X, data.y_train)
        sgd, adam = steps["plain SGD"], steps["Adam"]
        print(f"\nblocked steps: plain SGD {sgd * 1e6:.0f} us, Adam {adam * 1e6:.0f} us "
              f"({adam / sgd:.3f}x)")  # fmt: skip
    if args.startup:
        print(f"\nnumba's import and the kernels' load, fresh process: {startup():.2f} s")


if __name__ == "__main__":
    main()
