"""What the hardware allows, measured in the same run as the jobs.

* matmul rate: the best float32 GEMM rate of NumPy (OpenBLAS) and PyTorch at a large
  square size, and the rate of exactly the products one training step makes at a job's
  own shapes (:func:`job_gemm_rate`);
* memory read bandwidth: the best rate of summing a large float64 array (far larger
  than the caches).

Each measurement is the best of a few repeats: the machine is shared, and the best
run is the one least disturbed by neighbours.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradlab.bench.timing import best_of


@dataclass(frozen=True)
class Floors:
    """Measured rates: FLOP/s for float32 matmul, bytes/s for reading memory."""

    matmul_flops: float
    matmul_source: str
    read_bandwidth: float

    def compute_seconds(self, flops: float) -> float:
        return flops / self.matmul_flops

    def memory_seconds(self, nbytes: float) -> float:
        return nbytes / self.read_bandwidth


def matmul_rate(n: int = 2048, repeats: int = 3) -> tuple[float, str]:
    """Best float32 GEMM FLOP/s over NumPy and (when installed) PyTorch."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    flops = 2.0 * n**3
    rates = {"numpy": flops / best_of(lambda: np.matmul(a, b, out=out), repeats)}
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        tout = torch.empty(n, n)
        rates["torch"] = flops / best_of(lambda: torch.mm(ta, tb, out=tout), repeats)
    except ImportError:
        pass
    source = max(rates, key=lambda k: rates[k])
    return rates[source], f"{source} sgemm {n}x{n}"


def read_bandwidth(nbytes: int = 512 << 20, repeats: int = 3) -> float:
    """Best bytes/s of ``sum`` over a float64 array of ``nbytes``."""
    a = np.ones(nbytes // 8)
    return nbytes / best_of(lambda: a.sum(), repeats)


def measure_sized(matmul_size: int, bandwidth_bytes: int, repeats: int) -> Floors:
    """Measure both floors: a square GEMM of ``matmul_size``, a sum over ``bandwidth_bytes``."""
    rate, source = matmul_rate(matmul_size, repeats)
    return Floors(rate, source, read_bandwidth(bandwidth_bytes, repeats))


def mlp_flops(sizes: tuple[int, ...], n_train: int, n_test: int, epochs: int) -> float:
    """FLOPs of training an MLP by SGD: forward, backward and the per-epoch test pass.

    Forward is ``2 * sum(fan_in * fan_out)`` per sample; backward is twice that,
    less the gradient with respect to the input (never needed).
    """
    fwd = 2.0 * sum(a * b for a, b in itertools.pairwise(sizes))
    bwd = 2.0 * fwd - 2.0 * sizes[0] * sizes[1]
    return epochs * (n_train * (fwd + bwd) + n_test * fwd)


def step_gemm_flops(sizes: tuple[int, ...], batch: int) -> float:
    """FLOPs of the matrix products of one SGD step on ``batch`` rows (see :func:`mlp_flops`).

    Forward ``2 * batch * sum(fan_in * fan_out)``; backward twice that, less the gradient
    with respect to the input.
    """
    fwd = 2.0 * batch * sum(a * b for a, b in itertools.pairwise(sizes))
    return 3.0 * fwd - 2.0 * batch * sizes[0] * sizes[1]


def job_gemm_rate(sizes: tuple[int, ...], batch: int, repeats: int = 5) -> tuple[float, str]:
    """FLOP/s of exactly the matrix products one training step makes at these shapes.

    Forward products, weight gradients, and the input gradients of the hidden layers,
    written into reused buffers as the NumPy engine does (no allocation timed); the best
    of NumPy with the BLAS library's default threads and with one thread.

    Returns
    -------
    (float, str)
        The rate, and a description of how it was measured.
    """
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    rng = np.random.default_rng(0)
    acts = [rng.random((batch, s), dtype=np.float32) for s in sizes]
    Ws = [rng.random((a, b), dtype=np.float32) for a, b in itertools.pairwise(sizes)]
    outs = [np.empty((batch, s), np.float32) for s in sizes]
    grads = [np.empty_like(W) for W in Ws]

    def step() -> None:
        for k, W in enumerate(Ws):
            np.matmul(acts[k], W, out=outs[k + 1])
            np.matmul(acts[k].T, acts[k + 1], out=grads[k])
            if k > 0:
                np.matmul(acts[k + 1], W.T, out=outs[k])

    flops = step_gemm_flops(sizes, batch)
    best, label = 0.0, ""
    threads: Any
    for threads in (None, 1):
        with threadpool_limits(limits=threads, user_api="blas"):
            rate = flops / best_of(step, repeats)
        if rate > best:
            best, label = rate, f"numpy, {'default' if threads is None else 1} thread(s)"
    return best, f"the GEMMs of one batch-{batch} step, {label}"
