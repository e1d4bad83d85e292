"""The training loop for classifiers: epochs -> batches -> step -> metrics -> callbacks.

It knows nothing of plots, progress bars or files: those are callbacks
(:mod:`gradlab.viz.monitor`, :class:`gradlab.checkpoint.Checkpointer`). The data
set is moved to the engine once; each step takes a slice of a seeded permutation.

Data-parallel training is the same loop: with a ``world`` of ``W`` workers
(:class:`gradlab.distributed.World`), every worker walks the same global batches, its
engine computes the gradient of the worker's block of each batch (the gradients are
averaged over the workers), and the epoch's sums (loss, correct answers, test metrics) are
added up over the workers, so every worker records the same history.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from gradlab.distributed import SOLO, World
from gradlab.history import History
from gradlab.optim import DivergenceGuard

#: An epoch's training loss above EXPLODE times the untrained loss stops training.
EXPLODE = 1e6


class Net(Protocol):
    """What the loop needs from an engine's network."""

    def prepare(self, X: np.ndarray, y: np.ndarray) -> Any:
        """Move a whole data set to the engine (once)."""
        ...

    def train_step(self, data: Any, idx: np.ndarray, lr: float) -> tuple[Any, Any]:
        """One SGD step on the global batch of rows ``idx``; returns (sum of losses, number
        correct) over this worker's block of it (:meth:`World.block`; all of it alone) as
        numbers or 0-d tensors (kept on the device until the loop needs them)."""
        ...

    def evaluate(self, data: Any) -> tuple[float, int]:
        """(sum of losses, number correct) over a whole prepared data set."""
        ...


class Callback:
    """Hooks into training; every method is optional."""

    def on_train_begin(self, info: dict[str, Any]) -> None:
        """``info``: epochs, n_train, n_test, batch_size, batches_per_epoch, start_epoch,
        and ``history`` (the History being filled, with earlier rows when resuming)."""

    def on_batch_end(self, epoch: int, batch: int, stats: BatchStats) -> None:
        """After each step; ``stats`` reads the running sums on demand."""

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        """After each epoch's test evaluation; ``row`` is the new history row."""

    def on_train_end(self, history: History) -> None:
        """After the last epoch (not called when training stops with an error)."""


class BatchStats:
    """Running sums of the current epoch; reading them may synchronise a GPU, so
    callbacks read them only when they are about to show them."""

    def __init__(self) -> None:
        self.loss_sum: Any = 0.0
        self.correct: Any = 0
        self.seen = 0

    @property
    def loss(self) -> float:
        return float(self.loss_sum) / max(self.seen, 1)

    @property
    def accuracy(self) -> float:
        return float(self.correct) / max(self.seen, 1)


def train(
    net: Net,
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    history: History | None = None,
    world: World = SOLO,
) -> History:
    """Train ``net`` with mini-batch SGD and return the per-epoch history.

    Parameters
    ----------
    net : Net
    X : ndarray of shape (n, d), float32
    y : ndarray of shape (n,), int64
    X_test, y_test : the same for the test set (evaluated after every epoch)
    epochs : int
        The last epoch to train to. With a ``history`` from a checkpoint,
        training continues from the epoch after its last row.
    batch_size, lr, seed : the mini-batch size, the learning rate, the shuffle seed.
        Epoch ``e`` shuffles with ``default_rng([seed, e])``, so a resumed run sees
        the same batches as an uninterrupted one.

    Raises
    ------
    DivergenceError
        The training loss of an epoch was not finite, or exploded: above
        :data:`EXPLODE` times the loss of the first batch before any update (of
        the first epoch's, when resuming); see :class:`~gradlab.optim.DivergenceGuard`.
    world : World
        The data-parallel job this worker belongs to (default: a single process). Every
        worker passes the same arguments; the net takes this worker's block of each batch,
        each worker evaluates its block of the test set, and the sums are added up over
        the workers (:meth:`World.all_sum`), so the history is the same on every worker.
    """
    history = history if history is not None else History()
    start = int(history["epoch"][-1]) if len(history) else 0
    n = X.shape[0]
    train_data = net.prepare(X, y)
    mine = world.block(X_test.shape[0])  # this worker's share of the test set
    test_data = net.prepare(X_test[mine], y_test[mine])
    n_batches = math.ceil(n / batch_size)
    info = {
        "epochs": epochs,
        "start_epoch": start,
        "n_train": n,
        "n_test": X_test.shape[0],
        "batch_size": batch_size,
        "batches_per_epoch": n_batches,
        "history": history,
    }
    for cb in callbacks:
        cb.on_train_begin(info)
    guard = DivergenceGuard(lr, explode=EXPLODE, unit="epoch")
    if len(history):
        guard.first = history["train_loss"][0]  # resumed: compare with the first epoch
    n_test = X_test.shape[0]
    # an overflow is for the guard to report, once, rather than NumPy on every batch
    with np.errstate(all="ignore"):
        for epoch in range(start + 1, epochs + 1):
            order = np.random.default_rng([seed, epoch]).permutation(n)
            stats = BatchStats()
            tick = time.perf_counter()
            for b in range(n_batches):
                idx = order[b * batch_size : (b + 1) * batch_size]
                loss_sum, correct = net.train_step(train_data, idx, lr)
                if guard.first is None:
                    # the loss before any update: an epoch that explodes in its first
                    # batches must not become its own yardstick
                    first = float(world.all_sum([loss_sum])[0])
                    if math.isfinite(first):
                        guard.first = first / idx.size
                block = world.block(idx.size)
                stats.loss_sum += loss_sum
                stats.correct += correct
                stats.seen += block.stop - block.start
                for cb in callbacks:
                    cb.on_batch_end(epoch, b, stats)
            # the epoch's totals over all workers (alone: the sums themselves)
            total = world.all_sum([stats.loss_sum, stats.correct, stats.seen])
            stats.loss_sum, stats.correct = float(total[0]), int(total[1])
            stats.seen = int(total[2])
            train_loss = stats.loss
            seconds = time.perf_counter() - tick
            last_good = {"epoch": int(history["epoch"][-1]) if len(history) else 0}
            guard.check(epoch, train_loss, last_good.copy)
            test_loss, test_correct = 0.0, 0
            if n_test:
                test_total = world.all_sum(net.evaluate(test_data))
                test_loss, test_correct = float(test_total[0]), int(test_total[1])
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_accuracy": stats.accuracy,
                "test_loss": test_loss / n_test if n_test else math.nan,
                "test_accuracy": test_correct / n_test if n_test else math.nan,
                "seconds": seconds,
            }
            history.append(**row)
            for cb in callbacks:
                cb.on_epoch_end(epoch, row)
    for cb in callbacks:
        cb.on_train_end(history)
    return history
