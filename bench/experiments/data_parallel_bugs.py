"""Experiment: how far the usual data-parallel mistakes move the weights, beside none.

Trains the same small MLP (12-16-4, momentum 0.9, batch 256, 2 epochs, float64, torch
engine) on 3,001 generated rows, whose last batch of each epoch has 185 rows, once in one
process and four times with 2 workers: as gradlab does it, and with three mistakes put
into the workers' step (this script patches :meth:`TorchMLP.train_step` in the workers;
gradlab itself has none of them):

- ``own-mean``: each worker averages the loss over its own block, so a block of 92 rows
  and one of 93 weigh the same in the average of the two;
- ``padding``: an odd batch is padded to split evenly by repeating its first row, as
  ``torch.utils.data.DistributedSampler`` pads the data set;
- ``other-shuffle``: worker 1 draws its rows from another random stream than worker 0.

It prints the largest weight difference from one process for each::

    .venv/bin/python -m bench.experiments.data_parallel_bugs

Not part of the benchmark: it backs the numbers in docs/data-parallel.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KW = {"hidden": (16,), "epochs": 2, "batch_size": 256, "momentum": 0.9, "dtype": "float64",
      "engine": "torch", "cpu_threads": 1, "random_state": 5}  # fmt: skip
N = 3001


def blobs(n: int = N, d: int = 12, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 2, size=(k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def _patch(mistake: str) -> None:
    import torch

    from gradlab.distributed import env_world
    from gradlab.engines import torch_mlp

    right = torch_mlp.TorchMLP.train_step
    job = env_world()
    rank = 0 if job is None else job.rank

    def own_mean(self: Any, data: Any, idx: np.ndarray, lr: float) -> Any:
        X, y = data
        rows = torch.from_numpy(idx[self.world.block(idx.size)])
        Xb, yb = self.floats(X[rows]), y[rows]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        logits = self.stepper(Xb)
        total = self.loss_fn(logits, yb)
        self.optimizer.zero_grad(set_to_none=True)
        (total / max(len(rows), 1)).backward()
        self.optimizer.step()
        return total.detach(), (logits.argmax(1) == yb).sum()

    def padding(self: Any, data: Any, idx: np.ndarray, lr: float) -> Any:
        if idx.size % self.world.size:
            idx = np.concatenate([idx, idx[: self.world.size - idx.size % self.world.size]])
        return right(self, data, idx, lr)

    def other_shuffle(self: Any, data: Any, idx: np.ndarray, lr: float) -> Any:
        if rank == 1:
            idx = np.random.default_rng([99, int(idx[0])]).permutation(N)[: idx.size]
        return right(self, data, idx, lr)

    steps = {"own-mean": own_mean, "padding": padding, "other-shuffle": other_shuffle}
    if mistake in steps:
        torch_mlp.TorchMLP.train_step = steps[mistake]  # type: ignore[method-assign]


def worker(mistake: str) -> dict[str, np.ndarray]:
    from gradlab.models._network import PlainClassifier

    _patch(mistake)
    X, y = blobs()
    return PlainClassifier("mlp", **KW, n_procs=2).fit(X, y).params_


def main() -> None:
    from gradlab.distributed.launch import Launch, run
    from gradlab.models._network import PlainClassifier

    X, y = blobs()
    one = PlainClassifier("mlp", **KW).fit(X, y).params_
    print(f"largest weight difference from one process (float64, {N} rows, 2 epochs):")
    for mistake in ("none", "own-mean", "padding", "other-shuffle"):
        two = run(Launch(nproc=2), worker, mistake)
        gap = max(float(np.max(np.abs(one[k] - two[k]))) for k in one)
        print(f"  {mistake:14} {gap:.1e}")


if __name__ == "__main__":
    main()
