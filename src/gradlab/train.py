"""The training loop for classifiers: epochs -> batches -> step -> metrics -> callbacks.

It knows nothing of plots, progress bars or files: those are callbacks
(:mod:`gradlab.viz.monitor`, :class:`gradlab.checkpoint.Checkpointer`). The data
set is moved to the engine once; each step takes a slice of a seeded permutation, at
the rate a :class:`LearningRate` gives it (a schedule, counted in epochs or steps). A
callback may end training after an epoch (:attr:`Callback.stop_training`, as
:class:`gradlab.callbacks.EarlyStopping` does).

Data-parallel training is the same loop: with a ``world`` of ``W`` workers
(:class:`gradlab.distributed.World`), every worker walks the same global batches, its
engine computes the gradient of the worker's block of each batch (the gradients are
averaged over the workers), and the epoch's sums (loss, correct answers, validation and
test metrics) are added up over the workers, so every worker records the same history
and every callback decides the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gradlab.distributed import SOLO, World
from gradlab.errors import DivergenceError
from gradlab.history import History
from gradlab.optim import DivergenceGuard
from gradlab.optim.schedules import Constant, Schedule

#: An epoch's training loss above EXPLODE times the untrained loss stops training.
EXPLODE = 1e6
#: The columns of every history row, in order.
ROW_COLUMNS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "seconds",
    "lr",
)
#: The columns a validation split adds.
VALIDATION_COLUMNS = ("val_loss", "val_accuracy")


class Net(Protocol):
    """What the loop needs from an engine's network."""

    def prepare(self, X: np.ndarray, y: np.ndarray) -> Any:
        """Move a whole data set to the engine (once)."""
        ...

    def train_step(self, data: Any, idx: np.ndarray, lr: float) -> tuple[Any, Any]:
        """One update at rate ``lr`` on the global batch of rows ``idx``; returns (sum of
        losses, number correct) over this worker's block of it (:meth:`World.block`; all of
        it alone) as numbers or 0-d tensors (kept on the device until the loop needs them)."""
        ...

    def evaluate(self, data: Any) -> tuple[float, int]:
        """(sum of losses, number correct) over a whole prepared data set."""
        ...

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the weights ``W1, b1, ...`` (for callbacks that keep the best)."""
        ...

    def load_params(self, params: dict[str, np.ndarray]) -> None:
        """Set the weights to ``params`` (as :meth:`state` gives them)."""
        ...


class Callback:
    """Hooks into training; every method is optional.

    Attributes
    ----------
    stop_training : bool
        Set it (in ``on_epoch_end``) to end training after the current epoch.
    """

    stop_training = False

    def on_train_begin(self, info: dict[str, Any]) -> None:
        """``info``: epochs, n_train, n_test, n_validation, batch_size, batches_per_epoch,
        start_epoch, ``history`` (the History being filled, with earlier rows when
        resuming), ``net`` (the engine's network: ``state()`` copies its weights,
        ``load_params`` sets them) and ``learning_rate`` (the :class:`LearningRate`)."""

    def on_batch_end(self, epoch: int, batch: int, stats: BatchStats) -> None:
        """After each step; ``stats`` reads the running sums on demand."""

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        """After each epoch's test evaluation; ``row`` is the new history row."""

    def on_train_end(self, history: History) -> None:
        """After the last epoch (not called when training stops with an error)."""

    def on_train_abort(self, error: BaseException) -> None:
        """When training stops with an error or an interrupt (Ctrl-C, SIGTERM), before
        ``error`` is raised on: a progress bar ends its row here, so that the message that
        follows starts on a line of its own. What a callback raises here (an exception,
        or a second Ctrl-C while it draws) is ignored: every callback has its turn, and
        ``error`` is what is raised."""


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


@dataclass(frozen=True)
class LearningRate:
    """The rate of every step: a schedule, counted in epochs or in optimizer steps.

    Parameters
    ----------
    schedule : Schedule
    per_step : bool
        ``t`` counts steps (``(epoch - 1) * steps_per_epoch + batch``), else epochs
        (``epoch - 1``).
    steps_per_epoch : int
    """

    schedule: Schedule
    per_step: bool = False
    steps_per_epoch: int = 1

    @classmethod
    def constant(cls, lr: float) -> LearningRate:
        return cls(Constant(lr))

    @property
    def is_constant(self) -> bool:
        return isinstance(self.schedule, Constant)

    def at(self, epoch: int, batch: int = 0) -> float:
        """The rate of step ``batch`` (0-based) of ``epoch`` (1-based)."""
        if self.per_step:
            return self.schedule.lr_at((epoch - 1) * self.steps_per_epoch + batch)
        return self.schedule.lr_at(epoch - 1)

    def curve(self, epochs: int) -> tuple[list[float], list[float]]:
        """Where each rate starts (in epochs from 0, a step being ``1 / steps_per_epoch``)
        and the rates, for every step (or epoch) of ``epochs`` epochs."""
        if not self.per_step:
            return [float(e) for e in range(epochs)], [self.at(e + 1) for e in range(epochs)]
        n = self.steps_per_epoch
        return [t / n for t in range(epochs * n)], [
            self.at(t // n + 1, t % n) for t in range(epochs * n)
        ]


class _Guard(DivergenceGuard):
    """The divergence guard with advice that may depend on the update rule."""

    def __init__(self, lr: float, advice: Callable[[float], str | None] | None) -> None:
        super().__init__(lr, explode=EXPLODE, unit="epoch")
        self.advice = advice

    def suggestion(self) -> str:
        said = self.advice(self.lr) if self.advice is not None else None
        return said if said is not None else super().suggestion()


def train(
    net: Net,
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float | LearningRate,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    history: History | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    advice: Callable[[float], str | None] | None = None,
    world: World = SOLO,
) -> History:
    """Train ``net`` by mini-batch descent and return the per-epoch history.

    Parameters
    ----------
    net : Net
    X : ndarray of shape (n, d), float32
    y : ndarray of shape (n,), int64
    X_test, y_test : the same for the test set (evaluated after every epoch)
    epochs : int
        The last epoch to train to. With a ``history`` from a checkpoint,
        training continues from the epoch after its last row.
    batch_size, seed : the mini-batch size and the shuffle seed. Epoch ``e`` shuffles
        with ``default_rng([seed, e])``, so a resumed run sees the same batches as an
        uninterrupted one.
    lr : float or LearningRate
        The rate (constant), or the rate of every step.
    validation : (X_val, y_val), optional
        Evaluated after every epoch, before the test set: the columns ``val_loss`` and
        ``val_accuracy`` (for early stopping; taken from the training data by the caller,
        never from the test set).
    advice : callable, optional
        ``advice(lr)`` returns what a divergence message should suggest, or None for the
        guard's own suggestion.
    callbacks : sequence of Callback
        Called at the start, after every step and epoch, and at the end (or, when an
        error or a signal stops the run, :meth:`Callback.on_train_abort`).
    history : History, optional
        The rows trained so far (from a checkpoint): training continues after them.
    world : World
        The data-parallel job this worker belongs to (default: a single process). Every
        worker passes the same arguments; the net takes this worker's block of each batch,
        each worker evaluates its block of the test set, and the sums are added up over
        the workers (:meth:`World.all_sum`), so the history is the same on every worker.

    Returns
    -------
    History
        A row per epoch: ``epoch, train_loss, train_accuracy, test_loss, test_accuracy,
        seconds, lr`` (the rate of the epoch's first step), and with ``validation`` also
        ``val_loss, val_accuracy``. Rows of a resumed history that lack a column get NaN
        there.

    Raises
    ------
    DivergenceError
        The training loss of an epoch was not finite, or exploded: above
        :data:`EXPLODE` times the loss of the first batch before any update (of
        the first epoch's, when resuming); see :class:`~gradlab.optim.DivergenceGuard`.
        Or the epoch's last steps made the weights infinite or NaN.
    """
    history = history if history is not None else History()
    rate = lr if isinstance(lr, LearningRate) else LearningRate.constant(float(lr))
    start = int(history["epoch"][-1]) if len(history) else 0
    n = X.shape[0]
    train_data = net.prepare(X, y)
    mine = world.block(X_test.shape[0])  # this worker's share of the test set
    test_data = net.prepare(X_test[mine], y_test[mine])
    val_data, n_val = None, 0
    if validation is not None:
        n_val = validation[0].shape[0]
        own = world.block(n_val)  # and of the validation set
        val_data = net.prepare(validation[0][own], validation[1][own])
    n_batches = math.ceil(n / batch_size)
    columns = [*ROW_COLUMNS, *(VALIDATION_COLUMNS if validation is not None else ())]
    for name in columns:  # an older history without the rate or validation columns
        if len(history) and name not in history.columns:
            history.columns[name] = [math.nan] * len(history)
    info = {
        "epochs": epochs,
        "start_epoch": start,
        "n_train": n,
        "n_test": X_test.shape[0],
        "n_validation": n_val,
        "batch_size": batch_size,
        "batches_per_epoch": n_batches,
        "history": history,
        "net": net,
        "learning_rate": rate,
    }
    for cb in callbacks:
        cb.on_train_begin(info)
    guard = _Guard(rate.at(start + 1), advice)
    if len(history):
        guard.first = history["train_loss"][0]  # resumed: compare with the first epoch
    n_test = X_test.shape[0]
    try:
        # an overflow is for the guard to report, once, rather than NumPy on every batch
        with np.errstate(all="ignore"):
            for epoch in range(start + 1, epochs + 1):
                order = np.random.default_rng([seed, epoch]).permutation(n)
                stats = BatchStats()
                tick = time.perf_counter()
                first_lr = step_lr = rate.at(epoch)
                for b in range(n_batches):
                    if rate.per_step:
                        step_lr = rate.at(epoch, b)
                    idx = order[b * batch_size : (b + 1) * batch_size]
                    loss_sum, correct = net.train_step(train_data, idx, step_lr)
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
                guard.lr = first_lr
                guard.check(epoch, train_loss, last_good.copy)
                # the loss is measured before each step: one last step can still overflow
                if not all(np.isfinite(v).all() for v in net.state().values()):
                    raise DivergenceError(
                        f"descent diverged at epoch {epoch}: its last steps made the weights "
                        f"infinite or NaN (learning rate {first_lr:g} is too large for this "
                        "problem).",
                        hint=guard.suggestion(),
                        iteration=epoch,
                        loss=train_loss,
                        last_params=last_good.copy(),
                    )
                row = {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "train_accuracy": stats.accuracy,
                    "test_loss": math.nan,
                    "test_accuracy": math.nan,
                    "seconds": seconds,
                    "lr": first_lr,
                }
                if val_data is not None:
                    val_total = world.all_sum(net.evaluate(val_data))
                    row["val_loss"] = float(val_total[0]) / n_val
                    row["val_accuracy"] = int(val_total[1]) / n_val
                if n_test:
                    test_total = world.all_sum(net.evaluate(test_data))
                    row["test_loss"] = float(test_total[0]) / n_test
                    row["test_accuracy"] = int(test_total[1]) / n_test
                for name in history.columns:  # columns of earlier runs this one does not fill
                    row.setdefault(name, math.nan)
                history.append(**row)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, row)
                if any(cb.stop_training for cb in callbacks):
                    break
    except BaseException as error:  # a bar ends its row before the message is printed
        stop = _abort(callbacks, error)
        if stop is not None:
            raise stop from error
        raise
    for cb in callbacks:
        cb.on_train_end(history)
    return history


def _abort(callbacks: Sequence[Callback], error: BaseException) -> KeyboardInterrupt | None:
    """Give every callback its ``on_train_abort(error)``, whatever the others raise, and
    return a stop (Ctrl-C, or the CLI's SIGTERM and SIGHUP) that came during them while
    ``error`` is not itself one: the caller raises it instead of ``error``.

    The stop must not be lost there. A worker whose collective failed when another worker
    died is sent SIGTERM by its launcher; arriving while a callback flushed the history
    files, it was swallowed with the callback's errors, and the worker went on to report
    its own lost contact (status 6) where the launcher waited for the stop's 143 (seen in
    1 of 15 runs under load of ``tests/test_distributed_jobs.py``'s torchrun test).
    A second stop during the clean-up after a first one changes nothing.
    """
    stop: KeyboardInterrupt | None = None
    for cb in callbacks:
        try:
            cb.on_train_abort(error)
        except KeyboardInterrupt as exc:
            stop = stop or exc
        except Exception:  # the error being reported matters more
            pass
    return None if isinstance(error, KeyboardInterrupt) else stop


def checked_callbacks(callbacks: Any, owner: str) -> list[Callback]:
    """``callbacks`` as a list, each checked to be a :class:`Callback` (or to have its
    methods), so that a mistake is named before training rather than mid-epoch.

    Raises
    ------
    UsageError
        One callback given alone, a string, something not iterable, or an item that is
        not a callback (the message names its position and type).
    """
    from gradlab.errors import UsageError

    def is_callback(x: Any) -> bool:
        hooks = ("on_train_begin", "on_batch_end", "on_epoch_end", "on_train_end")
        return isinstance(x, Callback) or all(hasattr(x, h) for h in hooks)

    if is_callback(callbacks):
        raise UsageError(
            f"{owner}: callbacks must be a list of callbacks; got one {type(callbacks).__name__}.",
            hint=f"Pass it in a list: callbacks=[{type(callbacks).__name__}(...)].",
        )
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise UsageError(
            f"{owner}: callbacks must be a list of callbacks; got {type(callbacks).__name__}.",
            hint="Give a list of gradlab.train.Callback objects, or leave callbacks out.",
        )
    items = list(callbacks)
    for i, cb in enumerate(items):
        if not is_callback(cb):
            raise UsageError(
                f"{owner}: callbacks[{i}] is {type(cb).__name__} {cb!r:.60}, not a callback.",
                hint="A callback subclasses gradlab.train.Callback and overrides the hooks "
                "it needs (on_epoch_end, ...).",
            )
    return items
