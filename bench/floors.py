"""What the hardware allows, measured in the same run as the jobs.

* matmul rate: the best float32 GEMM rate of NumPy (OpenBLAS) and PyTorch at a large
  square size (the rate at a job's own shapes is :func:`bench.jobs.job_gemm_rate`);
* memory read bandwidth: the best rate of summing a large float64 array (far larger
  than the caches).

Each measurement is the best of a few repeats: the machine is shared, and the best
run is the one least disturbed by neighbours.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """The shortest wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


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


def measure(quick: bool = False) -> Floors:
    """Measure both floors (smaller and fewer runs with ``quick``)."""
    rate, source = matmul_rate(1024 if quick else 2048, 2 if quick else 3)
    bw = read_bandwidth((128 << 20) if quick else (512 << 20), 2 if quick else 3)
    return Floors(rate, source, bw)


def mlp_flops(sizes: tuple[int, ...], n_train: int, n_test: int, epochs: int) -> float:
    """FLOPs of training an MLP by SGD: forward, backward and the per-epoch test pass.

    Forward is ``2 * sum(fan_in * fan_out)`` per sample; backward is twice that,
    less the gradient with respect to the input (never needed).
    """
    fwd = 2.0 * sum(a * b for a, b in itertools.pairwise(sizes))
    bwd = 2.0 * fwd - 2.0 * sizes[0] * sizes[1]
    return epochs * (n_train * (fwd + bwd) + n_test * fwd)
