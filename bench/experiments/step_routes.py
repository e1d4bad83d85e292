"""Experiment: routes to a faster NumPy engine step, each against the current engine.

Every route trains the same network from the same weights over the same batches (the
benchmark's: batch 256, plain SGD, lr 0.1, generated images of the real shape), and is
checked against the engine (its weights after the run equal the engine's, up to the
rounding its route changes). The routes run interleaved, one run of each per round,
and each reports its best round, in wall time and in process CPU time (which a
neighbour cannot inflate by taking the core away; for the two-thread routes it adds the
threads' times); ratios are route / engine (below 1: faster).

Routes:

``engine``
    :class:`gradlab.engines.numpy_mlp.NumpyMLP` as it is.
``fused-c``
    The elementwise work fused into single passes by small C kernels (built here with
    gcc, called through ctypes): gather and cast in one pass, scale + bias + ReLU in
    one, the ReLU mask of the backward pass in one (no boolean temporary). What a
    numba kernel would do, without adding numba.
``fused-c-ew``
    The same, but the gather and cast left to NumPy (``take``, then a cast).
``mask-copyto``
    NumPy only: the backward ReLU mask as ``np.copyto(back, 0, where=h <= 0)``.
``prefetch``
    A Python thread gathers and casts the next batch while this one computes.
``overlap-bwd``
    Two cores used by running independent products side by side (BLAS on one thread
    each): a layer's weight gradient on a worker thread beside its input gradient, the
    first layer's weight gradient beside the other layers' updates.
``split-2t``
    Data parallelism inside a step: the batch split into two halves of 128 rows, the
    second half on one persistent worker thread while the calling thread does the
    first (BLAS on one thread, NumPy releasing the GIL in its products and ufuncs).
    Each half gathers and casts its rows, runs forward and backward into its own
    gradients (the output gradient divided by the whole batch's 256); the two are
    summed before the engine's plain update. The weight gradients are two sums of 128
    rows added, not one of 256: the same numbers up to float32 rounding.
``engine-1t`` / ``engine-2t``
    The engine with BLAS on one / two threads (the other routes run on ``--threads``,
    default 1); ``--two-threads`` adds ``prefetch-2t``.

Each round runs every route once over the same ``--steps`` batches, in a new random
order; a route's ratio is the median over the rounds of its time over the engine's in
the same round (paired, so that a slow stretch of the host affects both). Run from the
repository root::

    python -m bench.experiments.step_routes [--model mlp] [--steps 100] [--rounds 30]

Not part of the benchmark: it backs the engine changes proposed in docs/performance.md.
"""

from __future__ import annotations

import argparse
import ctypes
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from gradlab.data.synthetic import make_images
from gradlab.engines.numpy_mlp import NumpyMLP
from gradlab.models._init import init_params

NETWORKS = {"softmax": ((784, 10), "normal"), "mlp": ((784, 200, 200, 10), "kaiming")}
BATCH, LR = 256, 0.1

KERNELS = r"""
#include <stdint.h>
void gather_cast(const uint8_t *X, const int64_t *idx, int64_t m, int64_t d, float *out) {
    for (int64_t i = 0; i < m; i++) {
        const uint8_t *src = X + idx[i] * d;
        float *dst = out + i * d;
        for (int64_t j = 0; j < d; j++) dst[j] = (float)src[j];
    }
}
void scale_bias_relu(float *z, const float *b, float scale, int64_t m, int64_t n, int relu) {
    for (int64_t i = 0; i < m; i++) {
        float *row = z + i * n;
        for (int64_t j = 0; j < n; j++) {
            float v = row[j] * scale;   /* two roundings, as out *= scale; out += b */
            v = v + b[j];
            row[j] = relu ? (v > 0.0f ? v : 0.0f) : v;
        }
    }
}
void relu_mask(float *g, const float *h, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = h[i] > 0.0f ? g[i] : 0.0f;
}
"""


def build_kernels() -> Any:
    """The C kernels, compiled with -ffp-contract=off (no FMA: NumPy's roundings)."""
    folder = Path(tempfile.mkdtemp(prefix="gradlab-kernels-"))
    src, lib = folder / "k.c", folder / "k.so"
    src.write_text(KERNELS)
    subprocess.run(
        ["gcc", "-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC", str(src),
         "-o", str(lib)],
        check=True,
    )  # fmt: skip
    k = ctypes.CDLL(str(lib))
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    k.gather_cast.argtypes = [p, p, i64, i64, p]
    k.scale_bias_relu.argtypes = [p, p, ctypes.c_float, i64, i64, ctypes.c_int]
    k.relu_mask.argtypes = [p, p, i64]
    return k


class FusedMLP(NumpyMLP):
    """The engine with its elementwise passes fused by C kernels."""

    kernels: Any = None

    def rows(self, X: np.ndarray, idx: np.ndarray | slice) -> np.ndarray:
        if isinstance(idx, slice) or X.dtype != np.uint8:
            return super().rows(X, idx)
        m = idx.shape[0]
        if m not in self._inputs:
            super().rows(X, idx)  # makes the buffers
        outs = self._inputs[m][1]
        self._turn = (self._turn + 1) % len(outs)
        out = outs[self._turn]
        idx64 = np.ascontiguousarray(idx, np.int64)
        self.kernels.gather_cast(X.ctypes.data, idx64.ctypes.data, m, X.shape[1], out.ctypes.data)
        return out

    def forward(self, X: np.ndarray, scale: float = 1.0) -> list[np.ndarray]:
        acts = self._acts(X.shape[0])
        h = X
        for k in range(self.n_layers):
            out = acts[k]
            np.matmul(h, self.W[k], out=out)
            s = np.float32(scale if k == 0 else 1.0)
            relu = int(k < self.n_layers - 1)
            self.kernels.scale_bias_relu(
                out.ctypes.data, self.b[k].ctypes.data, s, out.shape[0], out.shape[1], relu
            )
            h = out
        return acts

    def step(
        self, X: np.ndarray, y: np.ndarray, lr: float, scale: float = 1.0
    ) -> tuple[float, int]:
        return _step(self, X, y, lr, scale, mask=self._mask)

    def _mask(self, back: np.ndarray, h: np.ndarray) -> None:
        self.kernels.relu_mask(back.ctypes.data, h.ctypes.data, back.size)


class FusedElementwiseMLP(FusedMLP):
    """FusedMLP with the engine's own gather and cast (NumPy's take, then a cast)."""

    def rows(self, X: np.ndarray, idx: np.ndarray | slice) -> np.ndarray:
        return NumpyMLP.rows(self, X, idx)


class CopytoMLP(NumpyMLP):
    """The engine with the backward ReLU mask as ``np.copyto(..., where=h <= 0)``."""

    def step(
        self, X: np.ndarray, y: np.ndarray, lr: float, scale: float = 1.0
    ) -> tuple[float, int]:
        return _step(self, X, y, lr, scale, mask=_copyto_mask)


def _copyto_mask(back: np.ndarray, h: np.ndarray) -> None:
    np.copyto(back, 0.0, where=h <= 0)


def _output_gradient(net: NumpyMLP, z: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, int]:
    """The engine's softmax block: the logits ``z`` become the output gradient with the
    rate folded in, in place; returns (sum of losses, number correct) before it."""
    m = z.shape[0]
    pred = z.argmax(axis=1)
    correct = int(np.count_nonzero(pred == y))
    flat, starts = z.reshape(-1), net._starts[m]
    at_true = starts + y
    z -= flat[starts + pred][:, None]
    z_true = flat[at_true]
    np.exp(z, out=z)
    sums = z.sum(axis=1)
    loss = float(np.log(sums).sum() - z_true.sum())
    z *= (np.float32(lr / m) / sums)[:, None]
    flat[at_true] -= np.float32(lr / m)
    return loss, correct


def _step(
    net: NumpyMLP, X: np.ndarray, y: np.ndarray, lr: float, scale: float,
    mask: Callable[[np.ndarray, np.ndarray], None],
) -> tuple[float, int]:  # fmt: skip
    """NumpyMLP.step with the backward ReLU mask replaced by ``mask``."""
    m = X.shape[0]
    net._lr = lr
    acts = net.forward(X, scale)
    loss, correct = _output_gradient(net, acts[-1], y, lr)
    grad = acts[-1]
    backs, ones = net._backs[m], net._ones[m]
    for k in range(net.n_layers - 1, -1, -1):
        h_prev = X if k == 0 else acts[k - 1]
        np.matmul(ones, grad, out=net.gb[k])
        if k == 0 and scale != 1.0:
            grad *= np.float32(scale)
        np.matmul(h_prev.T, grad, out=net.gW[k])
        if k > 0:
            back = np.matmul(grad, net.W[k].T, out=backs[k - 1])
            mask(back, h_prev)
            grad = back
    assert net._plain, "the routes take the engine's plain SGD update"
    net.flat -= net.grad_flat  # the engine's plain update: the rate is folded in
    net.opt_state.step += 1
    return loss, correct


class Worker:
    """One persistent thread that runs the functions it is given, one at a time."""

    def __init__(self) -> None:
        self.todo: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while (fn := self.todo.get()) is not None:
            fn()
            self.done.put(None)

    def submit(self, fn: Callable[[], object]) -> None:
        self.todo.put(fn)

    def wait(self) -> None:
        self.done.get()

    def close(self) -> None:
        """End the thread (a route that makes a worker per run does not leave it idle)."""
        self.todo.put(None)
        self.thread.join()


class OverlapMLP(NumpyMLP):
    """The engine on one BLAS thread per product, with the backward pass's independent
    products run two at a time: each layer's weight gradient (on a worker thread) beside
    its input gradient and ReLU mask; the first layer's weight gradient beside the other
    layers' updates. The same products as the engine's, each on one thread."""

    worker: Worker | None = None

    def step(
        self, X: np.ndarray, y: np.ndarray, lr: float, scale: float = 1.0
    ) -> tuple[float, int]:
        if OverlapMLP.worker is None:
            OverlapMLP.worker = Worker()
        worker = OverlapMLP.worker
        m = X.shape[0]
        self._lr = lr
        acts = self.forward(X, scale)
        loss, correct = _output_gradient(self, acts[-1], y, lr)
        grad = acts[-1]
        backs, ones = self._backs[m], self._ones[m]
        for k in range(self.n_layers - 1, -1, -1):
            h_prev = X if k == 0 else acts[k - 1]
            np.matmul(ones, grad, out=self.gb[k])
            if k == 0 and scale != 1.0:
                grad *= np.float32(scale)
            worker.submit(lambda h=h_prev, g=grad, k=k: np.matmul(h.T, g, out=self.gW[k]))
            if k > 0:
                back = np.matmul(grad, self.W[k].T, out=backs[k - 1])
                back *= h_prev > 0
                worker.wait()
                grad = back
            else:  # the first layer's weight gradient runs beside the other updates
                for j in range(1, self.n_layers):
                    self.W[j] -= self.gW[j]
                for j in range(self.n_layers):
                    self.b[j] -= self.gb[j]
                worker.wait()
                self.W[0] -= self.gW[0]
        return loss, correct


class Half:
    """One half of a batch: its rows, activations and gradients, made once."""

    def __init__(self, net: NumpyMLP, m: int, grad_flat: np.ndarray) -> None:
        dt, sizes = net.dtype, net.sizes
        self.raw = np.empty((m, sizes[0]), np.uint8)
        self.x = np.empty((m, sizes[0]), dt)
        self.acts = [np.empty((m, s), dt) for s in sizes[1:]]
        self.backs = [np.empty((m, s), dt) for s in sizes[1:-1]]
        self.masks = [np.empty((m, s), bool) for s in sizes[1:-1]]
        self.ones = np.ones(m, dt)
        self.starts = np.arange(m) * sizes[-1]
        self.flat_z = self.acts[-1].reshape(-1)  # the logits' flat view
        self.y, self.pred, self.at, self.at_true = (np.empty(m, np.int64) for _ in range(4))
        self.hits = np.empty(m, bool)
        self.picked, self.sums, self.logs = (np.empty(m, dt) for _ in range(3))
        # the gradients, laid out as the engine's grad_flat (weights and biases in turn)
        self.grad_flat = grad_flat
        views, start = [], 0
        for a in (p for k in range(net.n_layers) for p in (net.W[k], net.b[k])):
            views.append(grad_flat[start : start + a.size].reshape(a.shape))
            start += a.size
        self.gW, self.gb = views[0::2], views[1::2]


class SplitMLP(NumpyMLP):
    """The engine's step on two halves of the batch at once, one per thread (BLAS on one
    thread): each half gathers and casts its rows, runs forward and backward into its
    own gradients (the output gradient divided by the whole batch's size), and the two
    gradients are summed before the engine's plain update. The first half runs on the
    calling thread into the engine's :attr:`grad_flat`, the second on ``worker``."""

    def __init__(
        self, sizes: tuple[int, ...], params: dict[str, np.ndarray], worker: Worker
    ) -> None:
        super().__init__(sizes, params, fused=False)
        assert self._plain, "the route takes the engine's plain SGD update"
        self.worker = worker
        half = BATCH // 2
        self.halves = [
            Half(self, half, self.grad_flat),
            Half(self, BATCH - half, np.empty_like(self.grad_flat)),
        ]
        # what the current step's halves read (set before the worker is given its half)
        self._data: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
        self._idx = [np.empty(0, np.int64)] * 2
        self._rate = np.float32(0.0)
        self._second: tuple[float, int] = (0.0, 0)
        self._run_second = self._second_half  # bound once, not once a step

    def train_step(
        self, data: tuple[np.ndarray, np.ndarray], idx: np.ndarray, lr: float
    ) -> tuple[float, int]:
        assert idx.shape[0] == BATCH, "the halves are made for the batch of 256"
        assert data[0].dtype == np.uint8, "the rows are gathered as uint8 pixels"
        self._data = data
        self._idx = [idx[: BATCH // 2], idx[BATCH // 2 :]]
        self._rate = self.dtype.type(lr / BATCH)  # the whole batch's size, as the engine's
        self.worker.submit(self._run_second)
        loss, correct = self._half(self.halves[0], self._idx[0])
        self.worker.wait()
        self.grad_flat += self.halves[1].grad_flat
        self.flat -= self.grad_flat  # the engine's plain update: the rate is folded in
        self.opt_state.step += 1
        self.last_lr = lr
        return loss + self._second[0], correct + self._second[1]

    def _second_half(self) -> None:
        self._second = self._half(self.halves[1], self._idx[1])

    def _half(self, h: Half, idx: np.ndarray) -> tuple[float, int]:
        """The engine's step on rows ``idx`` into ``h``'s buffers, without the update."""
        X, labels = self._data
        np.take(X, idx, axis=0, out=h.raw, mode="wrap")  # the engine's rows()
        h.x[...] = h.raw
        scale = self.dtype.type(self.input_scale(X))
        inp = h.x
        for k in range(self.n_layers):  # the engine's forward()
            out = h.acts[k]
            np.matmul(inp, self.W[k], out=out)
            if k == 0:
                out *= scale
            out += self.b[k]
            if k < self.n_layers - 1:
                np.maximum(out, 0, out=out)
            inp = out
        z, flat = h.acts[-1], h.flat_z
        np.take(labels, idx, out=h.y)
        np.argmax(z, axis=1, out=h.pred)
        correct = int(np.count_nonzero(np.equal(h.pred, h.y, out=h.hits)))
        np.add(h.starts, h.pred, out=h.at)
        np.add(h.starts, h.y, out=h.at_true)
        z -= np.take(flat, h.at, out=h.picked)[:, None]
        z_true = float(np.take(flat, h.at_true, out=h.picked).sum())
        np.exp(z, out=z)
        z.sum(axis=1, out=h.sums)
        loss = float(np.log(h.sums, out=h.logs).sum()) - z_true
        z *= np.divide(self._rate, h.sums, out=h.sums)[:, None]
        np.take(flat, h.at_true, out=h.picked)
        h.picked -= self._rate
        np.put(flat, h.at_true, h.picked)
        grad = z
        for k in range(self.n_layers - 1, -1, -1):  # the engine's backward pass
            h_prev = h.x if k == 0 else h.acts[k - 1]
            np.matmul(h.ones, grad, out=h.gb[k])
            if k == 0:
                grad *= scale
            np.matmul(h_prev.T, grad, out=h.gW[k])
            if k > 0:
                back = np.matmul(grad, self.W[k].T, out=h.backs[k - 1])
                back *= np.greater(h_prev, 0, out=h.masks[k - 1])
                grad = back
        return loss, correct


class Prefetcher:
    """Gathers and casts batch ``i + 1`` on a thread while batch ``i`` trains."""

    def __init__(self, net: NumpyMLP, X: np.ndarray, order: list[np.ndarray]) -> None:
        self.net, self.X, self.order = net, X, order
        m = order[0].shape[0]
        self.raw = [np.empty((m, X.shape[1]), np.uint8) for _ in range(2)]
        self.bufs = [np.empty((m, X.shape[1]), np.float32) for _ in range(4)]

    def _load(self, i: int) -> np.ndarray:
        out = self.bufs[i % 4]
        raw = self.raw[i % 2]
        np.take(self.X, self.order[i], axis=0, out=raw, mode="wrap")
        out[...] = raw
        return out

    def run(self, y: np.ndarray) -> None:
        result: dict[int, np.ndarray] = {0: self._load(0)}
        for i, idx in enumerate(self.order):
            worker = None
            if i + 1 < len(self.order):

                def load(j: int = i + 1) -> None:
                    result[j] = self._load(j)

                worker = threading.Thread(target=load)
                worker.start()
            self.net.step(result.pop(i), y[idx], LR, 1 / 255)
            if worker is not None:
                worker.join()


def batches(n: int, steps: int) -> list[np.ndarray]:
    """``steps`` batches in gradlab's order (epoch e: default_rng([0, e]).permutation)."""
    out: list[np.ndarray] = []
    epoch = 0
    while len(out) < steps:
        epoch += 1
        order = np.random.default_rng([0, epoch]).permutation(n)
        out += [order[i : i + BATCH] for i in range(0, n - BATCH + 1, BATCH)]
    return out[:steps]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(NETWORKS), default="mlp")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--two-threads", action="store_true", help="also the 2-thread routes")
    p.add_argument("--routes", help="a comma-separated subset (the engine always runs)")
    args = p.parse_args()
    sizes, init = NETWORKS[args.model]
    params = init_params(sizes, init, 0.01, 0)
    data = make_images(60000, 10000, seed=0)
    X, y = data.X_train.reshape(60000, -1), data.y_train
    order = batches(60000, args.steps)
    FusedMLP.kernels = build_kernels()

    Run = Callable[[], tuple[float, float, NumpyMLP]]

    def plain(cls: type[NumpyMLP], threads: int) -> Run:
        def run() -> tuple[float, float, NumpyMLP]:
            net = cls(sizes, {k: v.copy() for k, v in params.items()}, fused=False)
            prepared = net.prepare(X, y)
            with threadpool_limits(threads, user_api="blas"):
                start, cpu = time.perf_counter(), time.process_time()
                for idx in order:
                    net.train_step(prepared, idx, LR)
                return time.perf_counter() - start, time.process_time() - cpu, net

        return run

    def prefetch(threads: int) -> Run:
        def run() -> tuple[float, float, NumpyMLP]:
            net = NumpyMLP(sizes, {k: v.copy() for k, v in params.items()}, fused=False)
            net.prepare(X, y)
            with threadpool_limits(threads, user_api="blas"):
                start, cpu = time.perf_counter(), time.process_time()
                Prefetcher(net, X, order).run(y)
                return time.perf_counter() - start, time.process_time() - cpu, net

        return run

    def split() -> Run:
        def run() -> tuple[float, float, NumpyMLP]:
            worker = Worker()
            try:
                net = SplitMLP(sizes, {k: v.copy() for k, v in params.items()}, worker)
                prepared = net.prepare(X, y)
                # one BLAS thread for both halves (OpenBLAS's limit is process-wide)
                with threadpool_limits(1, user_api="blas"):
                    start, cpu = time.perf_counter(), time.process_time()
                    for idx in order:
                        net.train_step(prepared, idx, LR)
                    return time.perf_counter() - start, time.process_time() - cpu, net
            finally:
                worker.close()

        return run

    routes = {
        "engine": plain(NumpyMLP, args.threads),
        "fused-c": plain(FusedMLP, args.threads),
        "fused-c-ew": plain(FusedElementwiseMLP, args.threads),
        "mask-copyto": plain(CopytoMLP, args.threads),
        "prefetch": prefetch(args.threads),
        "overlap-bwd": plain(OverlapMLP, 1),
        "engine-1t": plain(NumpyMLP, 1),
        "engine-2t": plain(NumpyMLP, 2),
        "split-2t": split(),
    }
    if args.two_threads:
        routes["prefetch-2t"] = prefetch(2)
    if args.routes:
        keep = {"engine", *args.routes.split(",")}
        routes = {k: v for k, v in routes.items() if k in keep}
    times: dict[str, list[float]] = {k: [] for k in routes}
    cpus: dict[str, list[float]] = {k: [] for k in routes}
    nets: dict[str, NumpyMLP] = {}
    for fn in routes.values():
        fn()  # warm-up
    shuffle = np.random.default_rng(1)
    names = list(routes)
    for _ in range(args.rounds):
        for i in shuffle.permutation(len(names)):
            seconds, cpu, nets[names[i]] = routes[names[i]]()
            times[names[i]].append(seconds / len(order))
            cpus[names[i]].append(cpu / len(order))
    ref = nets["engine"]
    print(f"{args.model} {sizes}, batch {BATCH}, {len(order)} steps a run, {args.rounds} rounds "
          f"in random order; --threads {args.threads}. Median of the paired ratios "
          "(route / engine in the same round), with the quartiles; best times")  # fmt: skip
    for name in names:
        net = nets[name]
        diff = max(float(np.abs(a - b).max()) for a, b in zip(net.W, ref.W, strict=True))
        line = f"  {name:12s}"
        for label, series in (("wall", times), ("CPU", cpus)):
            ratios = np.array(series[name]) / np.array(series["engine"])
            q1, med, q3 = np.percentile(ratios, [25, 50, 75])
            line += (f"  {label} x{med:5.3f} [{q1:5.3f}-{q3:5.3f}] "
                     f"best {min(series[name]) * 1e6:6.1f} us")  # fmt: skip
        print(f"{line}  max |W - engine's| {diff:.1e}")


if __name__ == "__main__":
    main()
