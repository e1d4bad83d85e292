"""Experiment: where a NumPy engine step's time goes, operation by operation, beside JAX.

Trains softmax regression (784-10) and the MLP 784-200-200-10 at the benchmark's shapes
(batch 256, plain SGD, lr 0.1, generated images of the real shape) with an instrumented
copy of :meth:`gradlab.engines.numpy_mlp.NumpyMLP.step`: the same operations in the same
order, each group timed with ``perf_counter``. The copy is checked against the engine
(same weights after the same batches) so that the profile is of the engine's work.

Prints, per model: microseconds per step of each group (this thread's CPU time, best of
``--rounds`` runs of ``--steps`` steps, the groups' times from the fastest run), the GEMM
rate of each product at its shape per CPU second (NumPy and a jit-compiled JAX dot,
interleaved), the
uninstrumented engine step against JAX's per-step time (a compiled epoch of lax.scan),
interleaved. Both sides run on ``--threads`` threads (default 1: on a shared 2-core host
a BLAS call on two threads waits for whichever thread the neighbours have descheduled,
and a 50 us product can take milliseconds). Run from the repository root::

    python -m bench.experiments.step_profile [--steps 400] [--rounds 5] [--threads 1]

Not part of the benchmark: it backs the profile quoted in docs/performance.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from gradlab.data.synthetic import make_images
from gradlab.engines.numpy_mlp import NumpyMLP
from gradlab.models._init import init_params

NETWORKS = {"softmax": ((784, 10), "normal"), "mlp": ((784, 200, 200, 10), "kaiming")}
BATCH, LR = 256, 0.1


class TimedMLP(NumpyMLP):
    """NumpyMLP whose step records the time of each group of operations."""

    #: The clock of the groups: this thread's CPU time, which a neighbour's process
    #: cannot inflate by taking the core away (with BLAS on one thread, every operation
    #: of the step runs on this thread).
    clock = staticmethod(time.thread_time)

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("fused", False)  # the NumPy passes are what this times
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.times: dict[str, float] = defaultdict(float)

    def timed_step(self, data: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> None:
        t = self.times
        clock = self.clock
        c0 = clock()
        X = self.rows(data[0], idx)
        y = data[1][idx]
        scale = np.float32(1 / 255)
        c1 = clock()
        t["gather + cast (rows)"] += c1 - c0
        m = X.shape[0]
        acts = self._acts(m)
        h = X
        for k in range(self.n_layers):
            out = acts[k]
            a = clock()
            np.matmul(h, self.W[k], out=out)
            b = clock()
            t[f"fwd GEMM {h.shape[0]}x{h.shape[1]} @ {self.W[k].shape[0]}x{out.shape[1]}"] += b - a
            if k == 0:
                out *= scale
            out += self.b[k]
            if k < self.n_layers - 1:
                np.maximum(out, 0, out=out)
            t[f"fwd elementwise L{k + 1} (scale, bias, relu)"] += clock() - b
            h = out
        a = clock()
        z = acts[-1]
        pred = z.argmax(axis=1)
        int(np.count_nonzero(pred == y))
        flat, starts = z.reshape(-1), self._starts[m]
        at_true = starts + y
        z -= flat[starts + pred][:, None]
        z_true = flat[at_true]
        np.exp(z, out=z)
        sums = z.sum(axis=1)
        float(np.log(sums).sum() - z_true.sum())
        z *= (np.float32(LR / m) / sums)[:, None]
        flat[at_true] -= np.float32(LR / m)
        t["softmax, loss, accuracy, dz (256x10)"] += clock() - a
        grad = z
        backs = self._backs[m]
        ones = self._ones[m]
        for k in range(self.n_layers - 1, -1, -1):
            h_prev = X if k == 0 else acts[k - 1]
            a = clock()
            np.matmul(ones, grad, out=self.gb[k])
            b = clock()
            t[f"bias grad L{k + 1} (ones @ grad)"] += b - a
            if k == 0:
                grad *= scale
                a = clock()
                t["dh1 *= 1/255"] += a - b
                b = a
            np.matmul(h_prev.T, grad, out=self.gW[k])
            a = clock()
            t[f"wgrad GEMM {h_prev.shape[1]}x{m} @ {m}x{grad.shape[1]}"] += a - b
            if k > 0:
                back = np.matmul(grad, self.W[k].T, out=backs[k - 1])
                b = clock()
                t[f"back GEMM {m}x{grad.shape[1]} @ {grad.shape[1]}x{back.shape[1]}"] += b - a
                back *= h_prev > 0
                t[f"relu mask L{k} (back *= h > 0)"] += clock() - b
                grad = back
        a = clock()
        assert self._plain, "the profile times the engine's plain SGD update"
        self.flat -= self.grad_flat  # the engine's plain update: the rate is folded in
        self.opt_state.step += 1
        t["SGD update (W -= gW, b -= gb)"] += clock() - a
        t["(whole step)"] += clock() - c0


def batches(n: int, steps: int) -> list[np.ndarray]:
    """``steps`` batches in gradlab's order (epoch e: default_rng([0, e]).permutation)."""
    out: list[np.ndarray] = []
    epoch = 0
    while len(out) < steps:
        epoch += 1
        order = np.random.default_rng([0, epoch]).permutation(n)
        out += [order[i : i + BATCH] for i in range(0, n - BATCH + 1, BATCH)]
    return out[:steps]


def best(fn: Callable[[], float], rounds: int) -> float:
    return min(fn() for _ in range(rounds))


def _per_call(fn: Callable[[], object], reps: int = 200) -> float:
    """Process CPU seconds per call: the rate per core-second, which neighbours taking the
    core away cannot lower (a library on more threads than asked would show here as a
    rate above one core's)."""
    start = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - start) / reps


def gemm_rates(sizes: tuple[int, ...]) -> list[tuple[str, float, float]]:
    """(shape, NumPy GFLOP/s, JAX GFLOP/s) of every product of one step, interleaved."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    shapes = []
    for k, (a, b) in enumerate(itertools.pairwise(sizes)):
        shapes.append((f"fwd {BATCH}x{a} @ {a}x{b}", (BATCH, a), (a, b), False))
        shapes.append((f"wgrad ({BATCH}x{a}).T @ {BATCH}x{b}", (BATCH, a), (BATCH, b), True))
        if k > 0:
            shapes.append((f"back {BATCH}x{b} @ ({a}x{b}).T", (BATCH, b), (a, b), "bt"))
    out = []
    for name, sa, sb, trans in shapes:
        A = rng.random(sa, dtype=np.float32)
        B = rng.random(sb, dtype=np.float32)
        if trans is True:
            m, k, n = sa[1], sa[0], sb[1]
            C = np.empty((m, n), np.float32)

            def np_fn(A: np.ndarray = A, B: np.ndarray = B, C: np.ndarray = C) -> None:
                np.matmul(A.T, B, out=C)

            jfn = jax.jit(lambda a, b: a.T @ b)
        elif trans == "bt":
            m, k, n = sa[0], sa[1], sb[0]
            C = np.empty((m, n), np.float32)

            def np_fn(A: np.ndarray = A, B: np.ndarray = B, C: np.ndarray = C) -> None:
                np.matmul(A, B.T, out=C)

            jfn = jax.jit(lambda a, b: a @ b.T)
        else:
            m, k, n = sa[0], sa[1], sb[1]
            C = np.empty((m, n), np.float32)

            def np_fn(A: np.ndarray = A, B: np.ndarray = B, C: np.ndarray = C) -> None:
                np.matmul(A, B, out=C)

            jfn = jax.jit(lambda a, b: a @ b)
        jA, jB = jnp.asarray(A), jnp.asarray(B)
        jfn(jA, jB).block_until_ready()
        tn = tj = float("inf")
        for _ in range(5):
            tn = min(tn, _per_call(np_fn))
            tj = min(tj, _per_call(lambda f=jfn, a=jA, b=jB: f(a, b).block_until_ready()))
        flops = 2.0 * m * k * n
        out.append((name, flops / tn / 1e9, flops / tj / 1e9))
    return out


def engine_run(
    sizes: tuple[int, ...], params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
    order: list[np.ndarray],
) -> tuple[float, float]:  # fmt: skip
    """Wall and process-CPU seconds per step of the engine's own train_step over ``order``."""
    net = NumpyMLP(sizes, {k: v.copy() for k, v in params.items()})
    prepared = net.prepare(X, y)
    start, cpu = time.perf_counter(), time.process_time()
    for idx in order:
        net.train_step(prepared, idx, LR)
    return (time.perf_counter() - start) / len(order), (time.process_time() - cpu) / len(order)


def timed_run(
    sizes: tuple[int, ...], params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
    order: list[np.ndarray],
) -> dict[str, float]:  # fmt: skip
    """Seconds per step of each group of the instrumented copy over ``order``."""
    net = TimedMLP(sizes, {k: v.copy() for k, v in params.items()})
    prepared = net.prepare(X, y)
    for idx in order:
        net.timed_step(prepared, idx)
    return {k: v / len(order) for k, v in net.times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--models", default="softmax,mlp")
    p.add_argument("--threads", type=int, default=1, help="BLAS and XLA threads (default 1)")
    args = p.parse_args()
    if args.threads == 1:  # before JAX is imported: XLA reads its flags once
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads, user_api="blas")
    from gradlab.bench.peers.jax_sgd import JaxSGD

    data = make_images(60000, 10000, seed=0)
    X = data.X_train.reshape(60000, -1)
    Xt = data.X_test.reshape(10000, -1)
    jax_trainer = JaxSGD(X, data.y_train, Xt, data.y_test, batch_size=BATCH, lr=LR)
    order = batches(60000, args.steps)
    for model in args.models.split(","):
        sizes, init = NETWORKS[model]
        params = init_params(sizes, init, 0.01, 0)

        # the copy does the engine's arithmetic: the same weights after the same batches
        ref = NumpyMLP(sizes, {k: v.copy() for k, v in params.items()}, fused=False)
        timed = TimedMLP(sizes, {k: v.copy() for k, v in params.items()})
        for idx in order[:20]:
            ref.train_step(ref.prepare(X, data.y_train), idx, LR)
            timed.timed_step(timed.prepare(X, data.y_train), idx)
        for k in range(len(sizes) - 1):
            np.testing.assert_array_equal(ref.W[k], timed.W[k])

        runs: list[dict[str, float]] = []
        jax_trainer.fit(params, epochs=1)  # compiled here, not in a timed run
        engine, jax_step, engine_cpu, jax_cpu = [], [], [], []
        steps = 60000 // BATCH + 1
        for _ in range(args.rounds):
            wall, cpu = engine_run(sizes, params, X, data.y_train, order)
            engine.append(wall)
            engine_cpu.append(cpu)
            runs.append(timed_run(sizes, params, X, data.y_train, order))
            cpu0 = time.process_time()
            r = jax_trainer.fit(params, epochs=1)
            jax_cpu.append((time.process_time() - cpu0) / steps)
            jax_step.append(r["epoch_seconds"][0] / steps)  # the test pass included
        prof = min(runs, key=lambda r: r["(whole step)"])
        whole = prof["(whole step)"]
        print(f"\n== {model} {sizes}, batch {BATCH}, {args.threads} thread(s): per step, best "
              f"of {args.rounds} runs of {len(order)} steps ==")  # fmt: skip
        for name, sec in sorted(prof.items(), key=lambda kv: -kv[1]):
            if name != "(whole step)":
                print(f"  {sec * 1e6:8.1f} us  {100 * sec / whole:5.1f}%  {name}")
        accounted = sum(v for k, v in prof.items() if k != "(whole step)")
        print(f"  {whole * 1e6:8.1f} us  instrumented step ({accounted / whole:.0%} in the groups)")
        print(f"  {min(engine) * 1e6:8.1f} us  engine train_step, uninstrumented "
              f"(runs: {', '.join(f'{v * 1e6:.0f}' for v in engine)})")  # fmt: skip
        print(f"  {min(jax_step) * 1e6:8.1f} us  JAX, compiled epoch / steps, test pass "
              f"included (runs: {', '.join(f'{v * 1e6:.0f}' for v in jax_step)})")  # fmt: skip
        print(f"  engine / JAX: {min(engine) / min(jax_step):.2f} wall; in process CPU time "
              f"{min(engine_cpu) * 1e6:.1f} against {min(jax_cpu) * 1e6:.1f} us a step, "
              f"{min(engine_cpu) / min(jax_cpu):.2f}")  # fmt: skip
        print("  GEMM rates at this step's shapes (GFLOP per CPU second, best of 5 x 200 calls):")
        for name, rn, rj in gemm_rates(sizes):
            print(f"    {name:34s} numpy {rn:6.1f}   jax {rj:6.1f}")


if __name__ == "__main__":
    main()
