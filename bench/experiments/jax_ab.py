"""Experiment: gradlab's NumPy engine against JAX on the whole benchmark job, many rounds.

The benchmark's classifier job (60,000 + 10,000 generated images, 10 epochs, batch 256,
plain SGD at lr 0.1, test accuracy every epoch), fitted in rounds of random order by:

``gradlab``
    the estimator as the benchmark runs it (``cpu_threads="auto"``: the thread governor);
``gradlab-1t`` / ``gradlab-2t``
    the estimator on a fixed 1 or 2 BLAS threads;
``gradlab-compiled``
    the estimator with ``GRADLAB_NUMBA=1`` (softmax regression's compiled gradient, which
    a job of this size does not use by default; numba installed);
``jax``
    :class:`gradlab.bench.peers.jax_sgd.JaxSGD` (compiled before the first round).

Prints, per path, the median over rounds of its time over gradlab's in the same round
(paired: a slow stretch of the shared host affects both), with the quartiles, and the
best wall and process CPU times. Run from the repository root::

    python -m bench.experiments.jax_ab [--model mlp] [--rounds 8] [--epochs 10]

Not part of the benchmark: it backs the gradlab-against-JAX figures in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

from gradlab.bench.cold import NETWORKS
from gradlab.bench.peers.jax_sgd import JaxSGD
from gradlab.data.synthetic import make_images
from gradlab.models import MLPClassifier, SoftmaxRegression
from gradlab.models._init import init_params
from gradlab.optim.compiled import ENV, available

Fit = Callable[[], tuple[float, float, float]]


def gradlab_fit(
    model: str, data: object, epochs: int, threads: int | str, compiled: bool = False
) -> Fit:
    def fit() -> tuple[float, float, float]:
        os.environ[ENV] = "1" if compiled else ""
        try:
            return _fit()
        finally:
            os.environ.pop(ENV, None)

    def _fit() -> tuple[float, float, float]:
        kw = {"epochs": epochs, "engine": "numpy", "cpu_threads": threads}
        est = (
            SoftmaxRegression(**kw)  # type: ignore[arg-type]
            if model == "softmax"
            else MLPClassifier(lr=0.1, momentum=0.0, batch_size=256, **kw)  # type: ignore[arg-type]
        )
        d = data
        start, cpu = time.perf_counter(), time.process_time()
        est.fit(d.X_train, d.y_train, eval_set=(d.X_test, d.y_test))  # type: ignore[attr-defined]
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        return wall, cpu, float(est.history_["test_accuracy"][-1])

    return fit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(NETWORKS), default="mlp")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--epochs", type=int, default=10)
    args = p.parse_args()
    data = make_images(60000, 10000, seed=0)
    sizes, init = NETWORKS[args.model]
    params = init_params(sizes, init, 0.01, 0)
    X, Xt = data.X_train.reshape(60000, -1), data.X_test.reshape(10000, -1)
    trainer = JaxSGD(X, data.y_train, Xt, data.y_test, batch_size=256, lr=0.1)

    def jax_fit() -> tuple[float, float, float]:
        cpu = time.process_time()
        r = trainer.fit(params, epochs=args.epochs)
        return r["seconds"], time.process_time() - cpu, r["test_accuracy"][-1]

    fits = {
        "gradlab": gradlab_fit(args.model, data, args.epochs, "auto"),
        "gradlab-1t": gradlab_fit(args.model, data, args.epochs, 1),
        "gradlab-2t": gradlab_fit(args.model, data, args.epochs, 2),
        "jax": jax_fit,
    }
    if args.model == "softmax" and available():
        fits["gradlab-compiled"] = gradlab_fit(args.model, data, args.epochs, "auto", True)
    for fit in fits.values():
        fit()  # warm-up: imports, first-call allocations, compilation
    names = list(fits)
    res: dict[str, list[tuple[float, float, float]]] = {k: [] for k in names}
    shuffle = np.random.default_rng(0)
    for r in range(args.rounds):
        for i in shuffle.permutation(len(names)):
            res[names[i]].append(fits[names[i]]())
        print(
            f"round {r + 1}: "
            + ", ".join(f"{k} {v[-1][0]:.2f} s ({v[-1][1]:.2f} CPU)" for k, v in res.items()),
            flush=True,
        )
    print(f"\n{args.model}, {args.epochs} epochs, {args.rounds} rounds; ratio to gradlab's in "
          "the same round: median [quartiles]")  # fmt: skip
    base = np.array([w for w, _, _ in res["gradlab"]])
    for name, runs in res.items():
        wall = np.array([w for w, _, _ in runs])
        q1, med, q3 = np.percentile(wall / base, [25, 50, 75])
        cpu = min(c for _, c, _ in runs)
        print(f"  {name:11s} x{med:5.3f} [{q1:5.3f}-{q3:5.3f}]  best {wall.min():6.3f} s wall, "
              f"{cpu:6.3f} s CPU; test accuracy {runs[-1][2]:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
