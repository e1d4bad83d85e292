"""Experiment: what does an Adam step cost against a plain SGD step, whole steps measured?

The measurement itself is part of the benchmark (``gradlab bench`` prints it as the
update rules' table; :mod:`gradlab.bench.update_rules`): whole training steps of the
NumPy engine (``NumpyMLP.train_step``: gather and cast the batch, forward, backward,
update) on the benchmark's MLP, 784-200-200-10, batch 256, float32, with the rule
``MLPClassifier`` builds for each optimizer: plain SGD (the rate folded into the
gradient, one subtraction) against Adam (``gradlab.optim.rules.Adam`` on the packed
parameters, twelve NumPy passes). This script runs the same steps with its own rounds,
thread count and clock, and beside them sketches of faster Adam updates that gradlab
does not use (see below). The variants run interleaved, ``--calls`` steps each per
round, and each keeps its best round: on a shared host the absolute times move with the
load, the ratio between variants measured side by side moves less, and the best of many
rounds is the figure least moved by other processes. Run from the repository root::

    .venv/bin/python -m bench.experiments.adam_step [--rounds 30] [--calls 40]
        [--threads 1] [--clock wall|cpu] [--more] [--sketches] [--startup]

``--threads`` fixes the BLAS threads (default: as found); ``--clock cpu`` counts this
process's CPU time instead of wall time (meaningful with ``--threads 1`` on a busy host);
``--more`` times every rule of the benchmark's table; ``--startup`` instead times what
the compiled step costs a fresh process (importing numba; compiling with an empty numba
cache, loading from a filled one); ``--ref REV`` adds the plain SGD
step of the engine at a git revision (``eede87f``: before the engine took update rules),
to check that plain SGD costs what it did.

Where numba is installed, a third row is the step the classifier takes, with Adam's
compiled step (:mod:`gradlab.optim.compiled`: the same numbers in one loop).

The sketches (``--sketches``), each the engine with its NumPy-passes update replaced:

- **two threads**: the packed buffers cut in two halves, the second half's update on
  a second thread (NumPy releases the GIL inside each operation; every rule acts
  element by element, so the bits are the whole's). It can only help where a core is
  idle during the update.
- **blocks**: the update a block of 65,536 values at a time (``rule.step`` on a list of
  views), so that a block's arrays stay in the core's L2 cache between operations.
- **BLAS axpy**: Adam with SciPy's ``saxpy`` (``y += a x`` in one pass) for three of its
  multiply-adds: nine passes instead of twelve, the same numbers to rounding.
- **PyTorch fused**: ``torch.optim.Adam(fused=True)`` on the same packed buffers
  (``torch.from_numpy``, no copy), one pass, on one intra-op thread.

The sketches and ``--ref`` are not part of the benchmark; the script backs the Adam/SGD
step ratio in docs/optimizers.md.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if __package__ in (None, "") and str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gradlab.bench import update_rules  # noqa: E402
from gradlab.engines.numpy_mlp import NumpyMLP  # noqa: E402
from gradlab.models._init import init_params  # noqa: E402
from gradlab.optim import compiled  # noqa: E402
from gradlab.optim.rules import Adam, State  # noqa: E402

SIZES = update_rules.SIZES
BATCH = update_rules.BATCH
N = 20000
BLOCK = 65536


def stepper(label: str, seed: int = 0, sketch: str = "") -> Callable[[], None]:
    """One training step of the engine with the benchmark's rule ``label`` (a key of
    ``update_rules.RULES``) on generated images, its update replaced by ``sketch`` if
    given."""
    step, net = update_rules.engine_step(update_rules.RULES[label], *images(seed), seed=seed)
    if sketch:
        SKETCHES[sketch](net)
    return step


def images(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``N`` of the benchmark's generated images and their labels."""
    from gradlab.data.synthetic import make_images

    data = make_images(N, 1, seed=seed)
    return data.X_train.reshape(N, -1), data.y_train


def engine_at(rev: str, seed: int = 0) -> Callable[[], None]:
    """The plain SGD step of ``engines/numpy_mlp.py`` as it was at git revision ``rev``."""
    import importlib.util
    import subprocess
    import tempfile

    source = subprocess.run(
        ["git", "show", f"{rev}:src/gradlab/engines/numpy_mlp.py"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "numpy_mlp_ref.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("numpy_mlp_ref", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(seed)
    net = module.NumpyMLP(SIZES, init_params(SIZES, "kaiming", 0.01, seed))
    data = net.prepare(*images(seed))
    batches = [rng.permutation(N)[:BATCH] for _ in range(64)]
    turn = [0]

    def call() -> None:
        turn[0] = (turn[0] + 1) % len(batches)
        net.train_step(data, batches[turn[0]], 0.1)

    return call


def _parts(net: NumpyMLP, spans: list[tuple[int, int]]) -> tuple[list[Any], list[Any], State]:
    """Views of the packed parameters, gradients and state over ``spans``."""
    full = net.opt_state
    state = State(
        rule=full.rule,
        slots={k: [v[0][lo:hi] for lo, hi in spans] for k, v in full.slots.items()},
        scratch=[full.scratch[0][lo:hi] for lo, hi in spans],
        decayed=[full.decayed[0][lo:hi] for lo, hi in spans] if full.decayed else [],
    )
    return [net.flat[lo:hi] for lo, hi in spans], [net.grad_flat[lo:hi] for lo, hi in spans], state


def two_threads(net: NumpyMLP) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)
    half = net.flat.size // 2 // 16 * 16
    a = _parts(net, [(0, half)])
    b = _parts(net, [(half, net.flat.size)])
    rule = net.rule

    def update(lr: float) -> None:
        job = pool.submit(rule.step, *b, lr)
        rule.step(*a, lr=lr)
        job.result()

    _route(net, update)


def blocks(net: NumpyMLP) -> None:
    n = net.flat.size
    cuts = [*range(0, n, BLOCK), n]
    part = _parts(net, list(itertools.pairwise(cuts)))
    rule = net.rule

    def update(lr: float) -> None:
        rule.step(*part, lr=lr)

    _route(net, update)


def blas_axpy(net: NumpyMLP) -> None:
    from scipy.linalg import blas  # type: ignore[import-untyped]

    assert isinstance(net.rule, Adam)
    b1, b2 = net.rule.betas
    eps = net.rule.eps
    m, v = net.opt_state.slots["exp_avg"][0], net.opt_state.slots["exp_avg_sq"][0]
    s, g, p = net.opt_state.scratch[0], net.grad_flat, net.flat
    state = net.opt_state

    def update(lr: float) -> None:
        state.step += 1
        c1, c2 = 1 - b1**state.step, 1 - b2**state.step
        np.multiply(m, b1, out=m)
        blas.saxpy(g, m, a=1 - b1)  # m += (1 - b1) g
        np.square(g, out=s)
        np.multiply(v, b2, out=v)
        blas.saxpy(s, v, a=1 - b2)  # v += (1 - b2) g^2
        np.sqrt(v, out=s)
        np.add(s, eps * math.sqrt(c2), out=s)
        np.divide(m, s, out=s)
        blas.saxpy(s, p, a=-lr * math.sqrt(c2) / c1)  # p -= a m / (sqrt(v) + e)

    _route(net, update)


def torch_fused(net: NumpyMLP) -> None:
    import torch

    torch.set_num_threads(1)
    flat = torch.from_numpy(net.flat)
    flat.grad = torch.from_numpy(net.grad_flat)
    assert isinstance(net.rule, Adam)
    opt = torch.optim.Adam([flat], lr=net.rule.lr, betas=net.rule.betas, eps=net.rule.eps,
                           fused=True)  # fmt: skip

    def update(lr: float) -> None:
        opt.param_groups[0]["lr"] = lr
        opt.step()

    _route(net, update)


def _route(net: NumpyMLP, update: Callable[[float], None]) -> None:
    """Make the engine's one call of its rule go to ``update`` instead."""

    def step(params: Any, grads: Any, state: Any, lr: float | None = None) -> None:
        update(float(lr if lr is not None else net.rule.lr))

    net._rule_step = step


SKETCHES: dict[str, Callable[[NumpyMLP], None]] = {
    "two threads": two_threads,
    "blocks": blocks,
    "BLAS axpy": blas_axpy,
    "PyTorch fused": torch_fused,
}


#: A fresh process's first compiled Adam step, timed in parts (printed as JSON).
_FIRST_STEP = """
import json, time
t0 = time.perf_counter()
import numba
t1 = time.perf_counter()
import numpy as np
from gradlab.optim.compiled import compiled_step
from gradlab.optim.rules import Adam
p, g = [np.ones(199210, np.float32)], [np.ones(199210, np.float32)]
rule = Adam()
state = rule.init(p)
t2 = time.perf_counter()
compiled_step(rule)(p, g, state, 1e-3)
t3 = time.perf_counter()
compiled_step(rule)(p, g, state, 1e-3)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t3 - t2, "second": t4 - t3}))
"""


def startup(repeats: int = 3) -> None:
    """Print what a fresh process's first compiled Adam step costs: importing numba, and
    the first step with an empty numba cache (it compiles) and with a filled one (it
    loads), best of ``repeats`` fresh processes each."""
    import json
    import os
    import shutil
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "GRADLAB_NUMBA": "1"}
        runs: dict[str, list[dict[str, float]]] = {"empty cache": [], "filled cache": []}
        for _ in range(repeats):
            for label in runs:
                if label == "empty cache":
                    shutil.rmtree(cache)
                    Path(cache).mkdir()
                out = subprocess.run(
                    [sys.executable, "-c", _FIRST_STEP],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                runs[label].append(json.loads(out.strip().splitlines()[-1]))
    print(f"a fresh process's first compiled Adam step (best of {repeats} processes):")
    for label, found in runs.items():
        best = {k: min(r[k] for r in found) for k in found[0]}
        print(
            f"  {label:12}  import numba {best['import']:.3f} s, first step "
            f"{best['first']:.3f} s, second step {1e6 * best['second']:.0f} us"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    p.add_argument("--more", action="store_true", help="every rule of the benchmark's table")
    p.add_argument("--sketches", action="store_true", help="time the faster-Adam sketches")
    p.add_argument("--ref", metavar="REV", help="also the plain SGD step of the engine at REV")
    p.add_argument(
        "--startup",
        action="store_true",
        help="only time a fresh process's first compiled step (numba's import, compile, cache)",
    )
    args = p.parse_args(argv)
    if args.startup:
        if not compiled.available():
            print("numba is not installed (or GRADLAB_NUMBA=0): no compiled step to time")
            return 0
        startup()
        return 0
    if args.sketches:  # import them first, so that the thread limit reaches their BLAS
        import scipy.linalg  # type: ignore[import-untyped]  # noqa: F401
        import torch  # noqa: F401
    if args.threads is not None:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        threadpool_limits(args.threads)
    variants = {
        "sgd (plain, folded)": stepper("plain SGD"),
        "adam (NumPy passes)": stepper("Adam, NumPy passes"),
    }
    if compiled.available():
        variants["adam (compiled, numba)"] = stepper("Adam")
    if args.ref:
        variants[f"sgd (plain) at {args.ref}"] = engine_at(args.ref)
    if args.sketches:
        for name in SKETCHES:
            variants[f"adam, {name}"] = stepper("Adam, NumPy passes", sketch=name)
    if args.more:
        for label in update_rules.RULES:
            if label not in ("plain SGD", "Adam", "Adam, NumPy passes"):
                variants[label] = stepper(label)
    best = update_rules.interleaved_best(variants, args.rounds, args.calls)
    t = {name: 1e6 * (wall if args.clock == "wall" else cpu) for name, (wall, cpu) in best.items()}
    from threadpoolctl import threadpool_info

    blas = next((i for i in threadpool_info() if i.get("user_api") == "blas"), {})
    base = t["sgd (plain, folded)"]
    print(
        f"NumPy engine, MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32; whole steps, "
        f"{args.clock} time, best of {args.rounds} rounds of {args.calls} steps, interleaved; "
        f"BLAS {blas.get('internal_api', '?')} on {blas.get('num_threads', '?')} thread(s)"
    )
    for name, us in t.items():
        print(f"  {name:30} {us:9.1f} us   {us / base:6.3f} x plain SGD")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
