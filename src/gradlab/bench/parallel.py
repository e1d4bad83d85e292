"""Data parallelism against threads: the benchmark's MLP on one process or on N workers.

The MLP (784-200-200-10, float32, plain SGD at lr 0.1, batch 256) trains on the
benchmark's images with the torch engine on the CPU, in three ways that compute the same
mini-batch SGD (same global batch, same seed, hence the same test accuracy):

- 1 process x all cores (its intra-op threads split each product),
- 1 process x 1 thread,
- N processes x 1 thread (``MLPClassifier(n_procs=N)``: each worker takes a block of
  every batch, DistributedDataParallel all-reduces the gradients over gloo),

and, for reference, gradlab's NumPy engine in one process as the classifier jobs run it
(its BLAS threads chosen by the thread governor). Each row reports
its training seconds (rank 0's sum of epoch times) and its wall seconds (the whole
``fit``: for N workers, starting N fresh Pythons that import PyTorch included).

Then one step of an N-worker job is taken apart (:func:`probe`, run in every worker):
the all-reduce of the MLP's gradients, one worker's arithmetic for its block of the
batch without communication, the whole batch's arithmetic in one process, and the whole
DDP step, each the median over many steps. The all-reduce against one worker's
arithmetic is the ratio that decides whether splitting the batch can pay.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gradlab.bench.rows import Row, add_ratios, row

SIZES = (784, 200, 200, 10)
#: The benchmark's batch and rate (:mod:`gradlab.bench.classify`).
BATCH = 256
LR = 0.1
#: Rows of the benchmark's images each worker of the step probe draws its batches from.
PROBE_ROWS = 4096
#: Untimed calls of each probed step before its timed ones.
PROBE_WARMUP = 5

#: Train once: returns {"train": s, "wall": s, "accuracy": a, "epochs": n}.
Fit = Callable[[], dict[str, float]]


def available() -> bool:
    """Whether PyTorch is installed (the section needs it), without importing it."""
    return importlib.util.find_spec("torch") is not None


def cores() -> int:
    """CPUs this process may run on."""
    from gradlab.distributed import usable_cpus

    return usable_cpus()


def make_fit(data: Any, engine: str, procs: int, threads: int | str, epochs: int) -> Fit:
    """A fit of the benchmark's MLP on ``data`` with ``procs`` worker(s) of ``threads``
    thread(s) each (``"auto"``: the thread governor's choice), on the CPU, timed."""

    def fit() -> dict[str, float]:
        from gradlab.models import MLPClassifier

        model = MLPClassifier(
            hidden=SIZES[1:-1], lr=LR, momentum=0.0, batch_size=BATCH, epochs=epochs,
            engine=engine, device="cpu", cpu_threads=threads, n_procs=procs, random_state=0,
        )  # fmt: skip
        start = time.perf_counter()
        model.fit(data.X_train, data.y_train, eval_set=(data.X_test, data.y_test))
        wall = time.perf_counter() - start
        return {
            "train": float(sum(model.history_["seconds"])),
            "wall": wall,
            "accuracy": float(model.history_["test_accuracy"][-1]),
            "epochs": float(len(model.history_["seconds"])),
            "world_size": float(getattr(model, "world_size_", 1)),
        }

    return fit


def paths(n_cores: int, procs: int) -> list[tuple[str, str, int, int | str, str]]:
    """The rows: (label, engine, processes, threads per process, note). The first is the
    reference of every ratio. The NumPy row runs as the benchmark's classifier jobs run
    it, its BLAS threads chosen by the thread governor (``cpu_threads="auto"``)."""
    out: list[tuple[str, str, int, int | str, str]] = [
        (f"torch, 1 process x {n_cores} threads", "torch", 1, n_cores,
         "intra-op threads split each product"),
        ("torch, 1 process x 1 thread", "torch", 1, 1, "no parallelism"),
        (f"torch, {procs} processes x 1 thread", "torch", procs, 1,
         f"MLPClassifier(n_procs={procs}): DDP over gloo, each worker a block of "
         f"{BATCH // procs} rows"),
        ("numpy, 1 process (reference)", "numpy", 1, "auto",
         "gradlab's NumPy engine, as the jobs above run it: BLAS threads chosen by the "
         "thread governor"),
    ]  # fmt: skip
    if n_cores == 1:  # "all threads" is one thread: the second row would repeat the first
        del out[1]
    return out


def fit_rows(
    data: Any,
    *,
    epochs: int,
    rounds: int,
    procs: int = 2,
    n_cores: int | None = None,
    fits: dict[str, Fit] | None = None,
    log: Callable[[str], None] = print,
) -> list[Row]:
    """Every path of :func:`paths`, interleaved ``rounds`` times, each its best round.

    The in-process fits are run once untimed first (imports, first-call costs); the
    N-worker fit is not (each of its runs starts fresh processes anyway). ``fits``
    replaces the fits by label (tests).

    Row fields: ``seconds`` (training), ``wall_seconds``, ``result`` (test accuracy),
    ``ratio`` and ``agrees`` against the first row (:func:`gradlab.bench.rows.add_ratios`),
    ``wall_ratio`` (wall seconds over the first row's), ``procs``, ``threads``, ``engine``,
    ``epochs``, ``world_size`` (workers that trained, as the model reports it).
    """
    n_cores = cores() if n_cores is None else n_cores
    spec = paths(n_cores, procs)
    made = {label: make_fit(data, engine, p, t, epochs) for label, engine, p, t, _ in spec}
    made.update(fits or {})
    log(f"  data parallelism: {len(spec)} paths, {rounds} round(s) ...")
    for label, _, p, _, _ in spec:
        if p == 1:
            made[label]()
    best: dict[str, dict[str, float]] = {}
    for _ in range(max(1, rounds)):
        for label, *_ in spec:
            r = made[label]()
            if label not in best or r["train"] < best[label]["train"]:
                best[label] = r
    n, nt = len(data.y_train), len(data.y_test)
    job = (
        f"data parallelism: MLP {'-'.join(map(str, SIZES))}, {n}+{nt} images, {epochs} "
        f"epoch{'s' if epochs != 1 else ''}"
    )
    of = f"; best of {rounds}" if rounds > 1 else ""
    out = []
    for i, (label, engine, p, t, note) in enumerate(spec):
        b = best[label]
        out.append(
            row(
                job, label, b["train"], b["accuracy"], note + of, gradlab=i == 0,
                wall_seconds=b["wall"], procs=p, threads=t, engine=engine,
                epochs=int(b["epochs"]), world_size=int(b.get("world_size", p)),
            )
        )  # fmt: skip
    add_ratios(out)
    ref = out[0]
    for r in out:
        r["wall_ratio"] = r["wall_seconds"] / ref["wall_seconds"]
    return out


def probe(X: np.ndarray, y: np.ndarray, steps: int, threads: int) -> dict[str, float]:
    """Run in each worker of a job: median seconds of one step's parts.

    Returns
    -------
    dict
        ``params`` (the gradients' length), ``workers``, ``block_rows``, and the median
        seconds of ``allreduce`` (the gradients, between barriers), ``block`` (this
        worker's arithmetic for its block, alone: no communication), ``batch`` (the
        whole batch's arithmetic in one process) and ``ddp`` (the whole DDP step).
    """
    import torch
    import torch.distributed as dist

    from gradlab.distributed import SOLO, env_world, join_timeout
    from gradlab.engines.distributed import join, leave
    from gradlab.engines.torch_mlp import TorchMLP
    from gradlab.models._init import init_params

    job = env_world()
    if job is None:
        raise RuntimeError("probe runs in the workers of a job (gradlab.distributed.launch.run)")
    torch.set_num_threads(threads)
    world = join(job, device=torch.device("cpu"), timeout=join_timeout())
    try:
        params = init_params(SIZES, "kaiming", 0.01, 0)
        n_params = sum(p.size for p in params.values())
        rng = np.random.default_rng(world.rank)
        block = world.block(BATCH)
        block_rows = block.stop - block.start

        def timed(step: Callable[[], object]) -> float:
            for _ in range(PROBE_WARMUP):
                step()
            times = []
            for _ in range(steps):
                dist.barrier()
                tick = time.perf_counter()
                step()
                times.append(time.perf_counter() - tick)
            return statistics.median(times)

        grads = torch.zeros(n_params, dtype=torch.float32)
        allreduce = timed(lambda: dist.all_reduce(grads))
        alone = TorchMLP(SIZES, params, device="cpu", world=SOLO)
        data = alone.prepare(X, y)
        n = len(y)
        local = timed(lambda: alone.train_step(data, rng.integers(0, n, block_rows), LR))
        whole = timed(lambda: alone.train_step(data, rng.integers(0, n, BATCH), LR))
        ddp = TorchMLP(SIZES, params, device="cpu", world=world)
        data = ddp.prepare(X, y)
        step = timed(lambda: ddp.train_step(data, rng.integers(0, n, BATCH), LR))
    finally:
        leave(world)
    return {
        "params": float(n_params),
        "workers": float(world.size),
        "block_rows": float(block_rows),
        "allreduce": allreduce,
        "block": local,
        "batch": whole,
        "ddp": step,
    }


def step_parts(
    data: Any, *, procs: int, steps: int, log: Callable[[str], None] = print
) -> dict[str, float]:
    """:func:`probe` in a job of ``procs`` workers of 1 thread; rank 0's medians, with
    ``steps`` and the ratios ``allreduce_over_block`` (all-reduce / one worker's block) and
    ``ddp_over_batch`` (the DDP step / the whole batch in one process)."""
    from gradlab.distributed.launch import Launch, run

    m = min(PROBE_ROWS, len(data.y_train))
    X = np.ascontiguousarray(data.X_train[:m].reshape(m, -1))
    y = np.asarray(data.y_train[:m], np.int64)
    log(f"  data parallelism: one step of a {procs}-worker job, taken apart ({steps} steps) ...")
    parts: dict[str, float] = run(Launch(nproc=procs), probe, X, y, steps, 1)
    return with_ratios({**parts, "steps": float(steps)})


def with_ratios(parts: dict[str, float]) -> dict[str, float]:
    """``parts`` with ``allreduce_over_block`` and ``ddp_over_batch`` added."""
    return {
        **parts,
        "allreduce_over_block": parts["allreduce"] / parts["block"],
        "ddp_over_batch": parts["ddp"] / parts["batch"],
    }


def section(
    data: Any,
    *,
    n_train: int,
    n_test: int,
    epochs: int,
    rounds: int,
    procs: int,
    steps: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The whole section on the first ``n_train`` + ``n_test`` images of ``data``.

    Returns
    -------
    dict
        ``cores``, ``procs``, ``n_train``, ``n_test``, ``epochs``, ``rounds``, ``rows``
        (:func:`fit_rows`) and ``step`` (:func:`step_parts`).
    """
    from types import SimpleNamespace

    part = SimpleNamespace(
        X_train=data.X_train[:n_train], y_train=data.y_train[:n_train],
        X_test=data.X_test[:n_test], y_test=data.y_test[:n_test],
    )  # fmt: skip
    n_cores = cores()
    rows = fit_rows(part, epochs=epochs, rounds=rounds, procs=procs, n_cores=n_cores, log=log)
    return {
        "cores": n_cores,
        "procs": procs,
        "n_train": len(part.y_train),
        "n_test": len(part.y_test),
        "epochs": epochs,
        "rounds": rounds,
        "rows": rows,
        "step": step_parts(part, procs=procs, steps=steps, log=log),
    }
