"""Experiment: does another memory layout make the MLP step's products faster?

Each product of one training step (batch 256, 784-200-200-10) can be written with its
operands stored either way round: ``x @ W`` with ``W`` (in, out) or as ``x @ Wt.T``
with ``Wt`` (out, in); ``h.T @ g`` for a weight gradient, or ``(g.T @ h).T``, whose
result is the gradient transposed. This times every way of each product that the engine
could adopt by storing an array the other way round, in process CPU seconds per call
(a core's rate, which neighbours cannot lower by taking the core away), best of 7 runs
of 300 calls, NumPy (OpenBLAS) beside a jit-compiled JAX dot; BLAS and XLA on one
thread. Run from the repository root::

    python -m bench.experiments.gemm_layouts

Not part of the benchmark: it backs the layout advice in docs/performance.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

BATCH = 256
#: (product, m, k, n, layouts): C (m, n) = A (m, k) B (k, n); a layout says how A and B
#: are stored: "n" as used, "t" stored transposed (the product reads it through .T).
PRODUCTS = [
    ("fwd x @ W1", BATCH, 784, 200, ("nn", "nt")),
    ("wgrad x.T @ d1 (gW1)", 784, BATCH, 200, ("tn", "nn")),
    ("wgrad d1.T @ x (gW1 transposed)", 200, BATCH, 784, ("tn",)),
    ("fwd h1 @ W2", BATCH, 200, 200, ("nn", "nt")),
    ("back d2 @ W2.T", BATCH, 200, 200, ("nt", "nn")),
    ("wgrad h1.T @ d2", 200, BATCH, 200, ("tn", "nn")),
    ("fwd h2 @ W3", BATCH, 200, 10, ("nn", "nt")),
    ("back dz @ W3.T", BATCH, 10, 200, ("nt", "nn")),
    ("wgrad h2.T @ dz", 200, BATCH, 10, ("tn", "nn")),
]


def per_call(fn: Callable[[], object], reps: int = 300, runs: int = 7) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        for _ in range(reps):
            fn()
        best = min(best, (time.process_time() - start) / reps)
    return best


def main() -> None:
    flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    print("GFLOP per CPU second, one thread; layout: how A and B are stored (t: transposed)")
    for name, m, k, n, layouts in PRODUCTS:
        for lay in layouts:
            A = rng.random((k, m) if lay[0] == "t" else (m, k), dtype=np.float32)
            B = rng.random((n, k) if lay[1] == "t" else (k, n), dtype=np.float32)
            C = np.empty((m, n), np.float32)
            a_of = (lambda a: a.T) if lay[0] == "t" else (lambda a: a)
            b_of = (lambda b: b.T) if lay[1] == "t" else (lambda b: b)
            np_call = lambda A=A, B=B, C=C, a_of=a_of, b_of=b_of: np.matmul(  # noqa: E731
                a_of(A), b_of(B), out=C
            )
            jf = jax.jit(lambda a, b, a_of=a_of, b_of=b_of: a_of(a) @ b_of(b))
            jA, jB = jnp.asarray(A), jnp.asarray(B)
            jf(jA, jB).block_until_ready()
            flops = 2.0 * m * k * n
            rn = flops / per_call(np_call) / 1e9
            rj = flops / per_call(lambda jf=jf, jA=jA, jB=jB: jf(jA, jB).block_until_ready()) / 1e9
            print(f"  {name:34s} {m}x{k}x{n} {lay}: numpy {rn:6.1f}   jax {rj:6.1f}", flush=True)


if __name__ == "__main__":
    main()
