"""Experiment: what one update of the benchmark MLP costs with each rule.

Times ``rule.step`` on the weight shapes of the benchmark's MLP (784-200-200-10, float32:
199,210 parameters in six arrays) for plain SGD, SGD with momentum and Adam, in two
layouts: six separate arrays, and the same parameters packed into one flat array
(``gradlab.optim.rules.pack``), where each operation is one NumPy call instead of six.
Beside them it times a whole training step of the NumPy MLP engine at batch 256 (forward,
backward and its own SGD update, which subtracts gradients with the rate already folded
in, as ``SGD(lr=1)`` does), and estimates each rule's whole step as that step minus the
folded SGD update plus the rule's update. The variants run interleaved, each timed over
``--calls`` calls, best of ``--rounds``::

    .venv/bin/python -m bench.experiments.optimizer_step [--rounds 15] [--calls 200]
        [--threads 1] [--clock cpu]

On a busy shared host, ``--threads 1 --clock cpu`` counts the work (CPU time, the BLAS on
one thread) rather than the waiting.

"adam, 10 passes" is a sketch kept here for comparison (see :class:`ScaledAdam`), and
where torch is installed, PyTorch's fused CPU Adam runs on the same packed buffers.

Not part of the benchmark: it backs the cost of the update rules in docs/optimizers.md.
On a shared machine the absolute times move with the load; the ratios, taken from
interleaved runs, move less.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradlab.optim.rules import SGD, Adam, Rule, State, pack

SIZES = (784, 200, 200, 10)
BATCH = 256


def shapes() -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    for k in range(len(SIZES) - 1):
        out += [(SIZES[k], SIZES[k + 1]), (SIZES[k + 1],)]
    return out


@dataclass(frozen=True)
class ScaledAdam(Adam):
    """A sketch, not in gradlab: Adam with ``m / (1 - beta1)`` and ``v / (1 - beta2)`` kept
    instead of ``m`` and ``v``, so each update skips their two scalings (10 passes over
    the parameters instead of 12). The saved state would no longer be PyTorch's."""

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], state: State,
             lr: float | None = None) -> None:  # fmt: skip
        lr = self._begin(params, grads, state, lr)
        b1, b2 = self.betas
        c1, c2 = 1 - b1**state.step, 1 - b2**state.step
        a = lr * (1 - b1) * math.sqrt(c2 / (1 - b2)) / c1
        e = self.eps * math.sqrt(c2 / (1 - b2))
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            s = state.scratch[i]
            m, v = state.slots["exp_avg"][i], state.slots["exp_avg_sq"][i]
            m *= b1
            m += g
            v *= b2
            np.square(g, out=s)
            v += s
            np.sqrt(v, out=s)
            s += e
            np.divide(m, s, out=s)
            s *= a
            p -= s


def update(rule: Rule, packed: bool, seed: int = 0) -> Callable[[], None]:
    """One call of ``rule.step`` on the MLP's parameters (as six arrays or one)."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, 0.05, s).astype(np.float32) for s in shapes()]
    grads = [rng.normal(0, 1e-3, s).astype(np.float32) for s in shapes()]
    if packed:
        params, grads = [pack(params)[0]], [pack(grads)[0]]
    state = rule.init(params)

    def call() -> None:
        rule.step(params, grads, state)

    return call


def torch_fused_adam(threads: int | None, seed: int = 0) -> Callable[[], None] | None:
    """PyTorch's fused CPU Adam on the packed NumPy buffers (shared, not copied); None
    without torch."""
    try:
        import torch
    except ImportError:
        return None
    if threads is not None:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    flat = pack([rng.normal(0, 0.05, s).astype(np.float32) for s in shapes()])[0]
    gflat = pack([rng.normal(0, 1e-3, s).astype(np.float32) for s in shapes()])[0]
    x = torch.from_numpy(flat)
    x.grad = torch.from_numpy(gflat)
    opt = torch.optim.Adam([x], lr=1e-3, fused=True)
    return opt.step  # type: ignore[no-any-return]


def engine_step(seed: int = 0) -> Callable[[], None]:
    """One training step of the NumPy MLP engine at batch 256 on random uint8 images."""
    from gradlab.engines.numpy_mlp import NumpyMLP
    from gradlab.models._init import init_params

    rng = np.random.default_rng(seed)
    net = NumpyMLP(SIZES, init_params(SIZES, "kaiming", 0.01, seed))
    X = rng.integers(0, 256, (20000, SIZES[0]), dtype=np.uint8)
    y = rng.integers(0, SIZES[-1], 20000)
    data = net.prepare(X, y)
    batches = [rng.integers(0, 20000, BATCH) for _ in range(64)]
    turn = [0]

    def call() -> None:
        turn[0] = (turn[0] + 1) % len(batches)
        net.train_step(data, batches[turn[0]], 0.01)

    return call


def best_us(
    variants: dict[str, Callable[[], None]], rounds: int, calls: int, clock: Callable[[], float]
) -> dict[str, float]:
    """Best time per call of each variant, in microseconds, the variants interleaved."""
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(rounds):
        for name, fn in variants.items():
            t = clock()
            for _ in range(calls):
                fn()
            best[name] = min(best[name], (clock() - t) / calls * 1e6)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads for the engine step (default: as found)",
    )
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: this process's CPU time, less disturbed by other processes (with --threads 1)",
    )
    args = p.parse_args()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)

    rules: dict[str, Rule] = {
        "sgd (lr folded)": SGD(lr=1.0),
        "sgd": SGD(lr=0.01),
        "momentum": SGD(lr=0.01, momentum=0.9),
        "adam": Adam(lr=1e-3),
        "adam, 10 passes": ScaledAdam(lr=1e-3),
    }
    variants: dict[str, Callable[[], None]] = {"engine step": engine_step()}
    for layout in ("arrays", "packed"):
        for name, rule in rules.items():
            variants[f"{name}, {layout}"] = update(rule, packed=layout == "packed")
    fused = torch_fused_adam(args.threads)
    if fused is not None:
        variants["torch fused adam, packed"] = fused
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    t = best_us(variants, args.rounds, args.calls, clock)

    step = t["engine step"]
    n = sum(int(np.prod(s)) for s in shapes())
    print(
        f"MLP {'-'.join(map(str, SIZES))}, {n} float32 parameters, batch {BATCH}, {args.clock} time"
    )
    print(f"whole engine step (SGD, lr folded): {step:8.1f} us\n")
    for layout in ("arrays", "packed"):
        base = t[f"sgd (lr folded), {layout}"]
        print(f"update only, {layout:6}        us   x sgd   whole step (est.)   x engine step")
        for name in rules:
            u = t[f"{name}, {layout}"]
            whole = step - base + u
            print(f"  {name:18} {u:8.1f}  {u / t[f'sgd, {layout}']:6.2f}   "
                  f"{whole:10.1f} us       {whole / step:6.3f}")  # fmt: skip
        print()
    if fused is not None:
        u = t["torch fused adam, packed"]
        whole = step - t["sgd (lr folded), packed"] + u
        print(f"PyTorch's fused CPU Adam on the packed buffers: {u:.1f} us, "
              f"whole step (est.) {whole / step:.3f} x engine step")  # fmt: skip


if __name__ == "__main__":
    main()
