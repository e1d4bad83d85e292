"""Experiment: when does data parallelism pay off? The MLP on one process or on N workers.

Trains the benchmark's MLP (784-200-200-10, float32, plain SGD at lr 0.1, batch 256) on
generated MNIST-shaped images with the torch engine, in four ways, each the same
mini-batch SGD (same global batch, same seed, so the same accuracy):

- 1 process x all cores (its intra-op threads share the cores),
- N processes x 1 thread for N = 1, 2 (``n_procs=N``: each worker takes a block of every
  batch, DistributedDataParallel all-reduces the gradients over gloo),
- and, for reference, gradlab's NumPy engine (1 process x all cores), the fastest CPU
  path of the benchmark.

Then it takes one step apart, in a job of 2 workers: the all-reduce of the MLP's 199,210
gradients (gloo, float32, timed between barriers), one worker's arithmetic for its block
of 128 rows without communication, and the whole DDP step, each the median of
``--steps`` steps::

    .venv/bin/python -m bench.experiments.data_parallel [--n-train 20000] [--epochs 2]
        [--rounds 1] [--steps 200]

Training time is the sum of the epochs' seconds (rank 0's, which include waiting for the
others); "wall" adds starting the workers (a fresh Python that imports PyTorch each). The
rows take turns, ``--rounds`` times, and each shows its best round.
Not part of the benchmark: it backs docs/data-parallel.md. On a shared machine the
absolute times move with the load; compare the rows of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

SIZES = (784, 200, 200, 10)
BATCH = 256


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def fit(data: Any, engine: str, workers: int, threads: int, epochs: int) -> dict[str, Any]:
    from gradlab.models import MLPClassifier

    model = MLPClassifier(
        hidden=SIZES[1:-1], lr=0.1, momentum=0.0, batch_size=BATCH, epochs=epochs,
        engine=engine, cpu_threads=threads, n_procs=workers, random_state=0,
    )  # fmt: skip
    tick = time.perf_counter()
    model.fit(data.X_train, data.y_train, eval_set=(data.X_test, data.y_test))
    wall = time.perf_counter() - tick
    return {
        "train": float(sum(model.history_["seconds"])),
        "wall": wall,
        "accuracy": float(model.history_["test_accuracy"][-1]),
    }


def probe(steps: int, threads: int) -> dict[str, float]:
    """In each worker of a job: time the all-reduce, the local arithmetic, the DDP step."""
    import torch
    import torch.distributed as dist

    from gradlab.distributed import SOLO, env_world
    from gradlab.engines.distributed import join, leave
    from gradlab.engines.torch_mlp import TorchMLP
    from gradlab.models._init import init_params

    job = env_world()
    assert job is not None
    torch.set_num_threads(threads)
    world = join(job, device=torch.device("cpu"), timeout=60)
    params = init_params(SIZES, "kaiming", 0.01, 0)
    n_params = sum(p.size for p in params.values())
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(4096, SIZES[0]), dtype=np.uint8)
    y = rng.integers(0, SIZES[-1], size=4096)
    block = BATCH // world.size

    def timed(step: Any) -> float:
        times = []
        for _ in range(steps):
            dist.barrier()
            tick = time.perf_counter()
            step()
            times.append(time.perf_counter() - tick)
        return statistics.median(times) * 1e3

    grads = torch.zeros(n_params, dtype=torch.float32)
    allreduce = timed(lambda: dist.all_reduce(grads))
    alone = TorchMLP(SIZES, params, world=SOLO)
    data = alone.prepare(X, y)
    local = timed(lambda: alone.train_step(data, rng.integers(0, 4096, block), 0.1))
    ddp = TorchMLP(SIZES, params, world=world)
    data = ddp.prepare(X, y)
    whole = timed(lambda: ddp.train_step(data, rng.integers(0, 4096, BATCH), 0.1))
    leave(world)
    return {"params": float(n_params), "allreduce": allreduce, "local": local, "ddp": whole}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--n-train", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1, help="best of this many runs per row")
    p.add_argument("--steps", type=int, default=200, help="steps timed in the step probe")
    args = p.parse_args(argv)

    from gradlab.data.synthetic import make_images
    from gradlab.distributed.launch import Launch, run

    data = make_images(args.n_train, 5000, seed=0)
    n = cores()
    rows = [
        (f"torch, 1 process x {n} threads", "torch", 1, n),
        ("torch, 1 process x 1 thread", "torch", 1, 1),
        ("torch, 2 processes x 1 thread", "torch", 2, 1),
        (f"numpy, 1 process x {n} threads", "numpy", 1, n),
    ]
    print(
        f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, {args.n_train} images, "
        f"{args.epochs} epochs, {n} cores, best of {args.rounds}\n"
    )
    # the rows take turns, round after round, so that a busy spell on a shared machine
    # falls on every row alike; each row's best round is shown
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, *_ in rows}
    for _ in range(args.rounds):
        for label, engine, workers, threads in rows:
            runs[label].append(fit(data, engine, workers, threads, args.epochs))
    print(f"{'':34} {'train s':>8} {'wall s':>8} {'x first':>8} {'test acc':>9}")
    first = None
    for label, *_ in rows:
        best = min(runs[label], key=lambda r: r["train"])
        first = first or best["train"]
        print(
            f"{label:34} {best['train']:8.2f} {best['wall']:8.2f} "
            f"{best['train'] / first:8.2f} {best['accuracy']:9.4f}"
        )
    step = run(Launch(nproc=2), probe, args.steps, 1)
    print(
        f"\nOne step of a 2-worker job (median of {args.steps}; 1 thread each):\n"
        f"  all-reduce of {int(step['params']):,} float32 gradients (gloo): "
        f"{step['allreduce']:.3f} ms\n"
        f"  arithmetic of one worker's block ({BATCH // 2} rows), no communication: "
        f"{step['local']:.3f} ms\n"
        f"  the whole DDP step ({BATCH} rows over 2 workers): {step['ddp']:.3f} ms\n"
        f"  all-reduce / arithmetic: {step['allreduce'] / step['local']:.2f}"
    )


if __name__ == "__main__":
    main()
