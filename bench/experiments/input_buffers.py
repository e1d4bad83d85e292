"""Experiment: how many float input buffers should :meth:`NumpyMLP.rows` take turns with?

Prints this machine's L2 cache per core and the number the engine picks for the batch
(:func:`gradlab.engines.numpy_mlp.input_buffers`), then the measurement. Each batch is
gathered from the uint8 images, cast to float32 into one of N buffers and multiplied by
a 784 x 10 weight matrix on the BLAS threads, as softmax regression does. With N = 1
the buffer is rewritten in place: fast while it stays in the core's L2 cache, but if
it does not, or the other core has just read it, every cache line costs a miss or a
cross-core invalidation; with more buffers than fit in one core's L2 the lines have
left the other core when the buffer comes round again. Prints the time per batch for
each N (best of three runs of 2,000 batches)::

    .venv/bin/python -m bench.experiments.input_buffers [--batch 256]

Not part of the benchmark: it backs :func:`~gradlab.engines.numpy_mlp.input_buffers`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gradlab.engines.cpu_cache import this_machines_l2
from gradlab.engines.numpy_mlp import input_buffers


def per_batch_us(n_buffers: int, batch: int, steps: int = 2000) -> float:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (60000, 784), dtype=np.uint8)
    W = rng.random((784, 10), np.float32)
    z = np.empty((batch, 10), np.float32)
    raw = np.empty((batch, 784), np.uint8)
    outs = [np.empty((batch, 784), np.float32) for _ in range(n_buffers)]
    order = rng.permutation(60000)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for s in range(steps):
            lo = (s * batch) % (60000 - batch)
            out = outs[s % n_buffers]
            np.take(X, order[lo : lo + batch], axis=0, out=raw, mode="wrap")
            out[...] = raw
            np.matmul(out, W, out=z)
        best = min(best, (time.perf_counter() - t) / steps)
    return best * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=256)
    args = p.parse_args()
    l2 = this_machines_l2()
    nbytes = args.batch * 784 * 4
    where = "unknown" if l2 is None else f"{l2 // 1024} KiB"
    print(f"L2 cache per core: {where}; a batch's float buffer: {nbytes // 1024} KiB")
    print(f"the engine takes turns with {input_buffers(nbytes, l2)} buffer(s)")
    for n in (1, 2, 3, 4, 6, 8):
        print(f"{n} buffer(s): {per_batch_us(n, args.batch):6.1f} us per batch", flush=True)


if __name__ == "__main__":
    main()
