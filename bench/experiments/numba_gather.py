"""Experiment: what would numba save on the batch's gather and cast, the largest piece of a
softmax-regression step that is not a matrix product?

The NumPy engine gathers a batch's rows of uint8 images and casts them to float32
(``NumpyMLP.rows``: ``np.take`` into a uint8 buffer, then a cast into one of four float
buffers used in turn). This times that against a numba loop doing both in one pass, on
one thread and split over the rows on all of numba's threads (``prange``), on the
benchmark's shapes: 256 random rows of a 60,000 x 784 uint8 array, best of 7 rounds of
200 batches. The three produce the same floats (checked). Alone, that is: in a training
step OpenBLAS's threads also want the cores. Run from the repository root::

    .venv/bin/python -m bench.experiments.numba_gather [--rounds 7] [--batches 200]

Not part of the benchmark: it backs the estimate in docs/performance.md of what a
compiled gather could take off the softmax job.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

ROWS, COLS, BATCH, BUFFERS = 60000, 784, 256, 4


def kernels() -> tuple[Callable[..., None], Callable[..., None]]:
    """The serial and the parallel numba gather-and-cast loops (imports numba)."""
    import numba

    @numba.njit(nogil=True)
    def serial(X: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
        for r in range(idx.shape[0]):
            row = X[idx[r]]
            for k in range(X.shape[1]):
                out[r, k] = row[k]

    @numba.njit(nogil=True, parallel=True)
    def parallel(X: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
        for r in numba.prange(idx.shape[0]):
            row = X[idx[r]]
            for k in range(X.shape[1]):
                out[r, k] = row[k]

    return serial, parallel


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--batches", type=int, default=200)
    args = p.parse_args(argv)
    import numba

    serial, parallel = kernels()
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (ROWS, COLS)).astype(np.uint8)
    raw = np.empty((BATCH, COLS), np.uint8)
    outs = [np.empty((BATCH, COLS), np.float32) for _ in range(BUFFERS)]
    turn = [0]

    def buffer() -> np.ndarray:
        turn[0] = (turn[0] + 1) % BUFFERS
        return outs[turn[0]]

    def engine(idx: np.ndarray) -> None:  # as NumpyMLP.rows does it
        out = buffer()
        np.take(X, idx, axis=0, out=raw, mode="wrap")
        out[...] = raw

    paths: dict[str, Callable[[np.ndarray], None]] = {
        "NumPy (the engine's take + cast)": engine,
        "numba, one loop, 1 thread": lambda idx: serial(X, idx, buffer()),
        f"numba, prange, {numba.get_num_threads()} threads": lambda idx: parallel(X, idx, buffer()),
    }
    batches = [rng.permutation(ROWS)[:BATCH] for _ in range(max(1, args.batches))]
    expected = X[batches[0]].astype(np.float32)
    for name, fn in paths.items():  # compile, and check the floats
        fn(batches[0])
        if not np.array_equal(outs[turn[0]], expected):
            raise AssertionError(f"{name}: not the engine's floats")
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(max(1, args.rounds)):
        for name, fn in paths.items():
            t = time.perf_counter()
            for idx in batches:
                fn(idx)
            best[name] = min(best[name], (time.perf_counter() - t) / len(batches))
    base = best["NumPy (the engine's take + cast)"]
    print(
        f"gather and cast {BATCH} of {ROWS} uint8 rows of {COLS} to float32, alone; "
        f"best of {args.rounds} rounds of {len(batches)} batches:"
    )
    for name, seconds in best.items():
        print(f"  {name:36} {1e6 * seconds:7.1f} us   {seconds / base:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
