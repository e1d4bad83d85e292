"""Choosing CPU threads by measuring how busy the machine is.

On a small shared machine the right number of threads for BLAS (or PyTorch) changes
with what else runs: on 2 cores, two threads made an MLP step 1.6x faster when the
machine was idle and 30x slower when another process held one core (each thread
spins waiting for the other). :class:`ThreadGovernor` measures the other processes'
CPU use (Linux ``/proc/stat`` busy time minus this process's own CPU time) and trains
on the cores left free, deciding again after every epoch.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from gradlab.distributed import usable_cpus
from gradlab.train import BatchStats, Callback

#: Seconds of training on one thread before the first decision: long enough for the
#: kernel's CPU accounting (10 ms ticks) to tell how busy the machine is.
PROBE_SECONDS = 0.05


def cpu_busy_seconds(path: str = "/proc/stat") -> float | None:
    """CPU seconds spent busy by the whole machine since boot (Linux), else None.

    Read from the first line of ``/proc/stat``: the ticks of ``user nice system idle
    iowait irq softirq steal``, of which all but idle and iowait are busy.
    """
    try:
        with open(path) as fh:
            fields = fh.readline().split()
        ticks = [int(v) for v in fields[1:9]]
    except (OSError, ValueError):
        return None
    if not fields or fields[0] != "cpu" or len(ticks) < 5:
        return None
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


class ThreadGovernor(Callback):
    """Set the thread count to the cores other processes leave free.

    Parameters
    ----------
    set_threads : callable
        Applies a thread count (``threadpoolctl`` for BLAS, ``torch.set_num_threads``).
    max_threads : int
        The most threads to use (the CPU count by default).
    """

    def __init__(self, set_threads: Callable[[int], None], max_threads: int | None = None):
        self.set_threads = set_threads
        self.max_threads = max_threads or usable_cpus()
        self.threads = 1
        self.choices: list[int] = []
        self._mark: tuple[float, float, float] | None = None

    def _now(self) -> tuple[float, float, float] | None:
        busy = cpu_busy_seconds()
        return None if busy is None else (time.perf_counter(), busy, time.process_time())

    def _decide(self) -> None:
        now = self._now()
        if self._mark is not None and now is not None:
            wall = now[0] - self._mark[0]
            others = (now[1] - self._mark[1]) - (now[2] - self._mark[2])
            if wall > 0.02:  # too short a window says nothing (clock ticks are 10 ms)
                free = self.max_threads - max(others / wall, 0.0)
                self.threads = max(1, min(self.max_threads, int(free + 0.25)))
                self.set_threads(self.threads)
                self.choices.append(self.threads)
        self._mark = now

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.set_threads(1)
        self._mark = self._now()

    def on_batch_end(self, epoch: int, batch: int, stats: BatchStats) -> None:
        if self.choices or self._mark is None:
            return
        if time.perf_counter() - self._mark[0] >= PROBE_SECONDS:
            self._decide()

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        self._decide()


_BLAS: Any = None


def _blas_controller() -> Any:
    """threadpoolctl's controller of the BLAS libraries, found once per process.

    Each ``threadpool_limits()`` call scans the process's memory map for libraries
    again: about a millisecond per fit and per epoch once scikit-learn's libraries are
    loaded. NumPy's BLAS, the one the numpy engine uses, is loaded before this runs.
    """
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

        _BLAS = ThreadpoolController().select(user_api="blas")
    return _BLAS


@contextlib.contextmanager
def training_threads(
    engine: str,
    cpu_threads: int | str | None,
    on_cpu: bool,
    pool: Callable[[int], Any] | None = None,
) -> Iterator[Callback | None]:
    """The CPU threads to train with; the caller's setting comes back afterwards.

    Parameters
    ----------
    engine : {"numpy", "torch"}
        Whose threads: BLAS's (through ``threadpoolctl``) or PyTorch's intra-op pool.
    cpu_threads : "auto", int or None
        ``"auto"`` starts on one thread and yields a :class:`ThreadGovernor` (a training
        callback) that moves to the cores other processes leave free; an integer fixes
        the count (a seeded run then repeats bit for bit); None changes nothing.
    on_cpu : bool
        False when training runs on a GPU: nothing changes then.
    pool : callable, optional
        The engine's own threads (the numpy engine's row blocks,
        :attr:`gradlab.engines.numpy_mlp.NumpyMLP.thread_pool`): ``cpu_threads`` then
        sets how many of them run, and every BLAS library runs on one thread, whatever
        ``cpu_threads`` says (each block's products are one thread's work). ``pool(n)``
        returns the count it replaced, which is set back afterwards.

    Yields
    ------
    Callback or None
        The callback to pass to the training loop: a :class:`ThreadGovernor` under
        ``"auto"``; with ``pool`` and a fixed count, a :class:`KeepThreads`; else None.
    """
    if pool is not None and on_cpu:
        with _blocks_threads(cpu_threads, pool) as governor:
            yield governor
        return
    if cpu_threads is None or not on_cpu:
        yield None
        return
    first = 1 if cpu_threads == "auto" else int(cpu_threads)
    setter: Callable[[int], Any]
    if engine == "torch":
        import torch

        from gradlab.engines.torch_engine import intra_op_threads

        limits: contextlib.AbstractContextManager[Any] = intra_op_threads(first)
        setter = torch.set_num_threads
    else:
        blas = _blas_controller()
        limits = blas.limit(limits=first)

        def setter(n: int) -> None:
            blas.limit(limits=n)

    with limits:
        yield ThreadGovernor(setter) if cpu_threads == "auto" else None


@contextlib.contextmanager
def _blocks_threads(
    cpu_threads: int | str | None, pool: Callable[[int], Any]
) -> Iterator[Callback | None]:
    """:func:`training_threads` for an engine with its own threads (``pool``)."""
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    # scanned afresh: the engine's kernels may have loaded a BLAS library (SciPy's,
    # for numba) since the cached controller was made
    blas = ThreadpoolController().select(user_api="blas")
    before = None
    if cpu_threads is not None:
        before = pool(1 if cpu_threads == "auto" else int(cpu_threads))
    keeper: Callback | None = None
    if cpu_threads == "auto":
        keeper = ThreadGovernor(pool)
    elif cpu_threads is not None:
        keeper = KeepThreads(pool, int(cpu_threads))
    with blas.limit(limits=1):
        try:
            yield keeper
        finally:
            if before is not None:  # the caller's count comes back
                pool(before)


class KeepThreads(Callback):
    """Give the engine's pool a fixed thread count again at the first batch of every epoch.

    While an engine's row blocks run, BLAS is held on one thread and ``pool`` (its
    ``thread_pool``) runs ``threads`` blocks at once. An engine that drops its blocks
    partway through a fit (a kernel that fails to compile at its first step, or a
    forked process) computes with NumPy's passes from then on, and its pool then sets
    BLAS's threads instead: this callback hands them the fixed count, as a
    :class:`ThreadGovernor` hands them its count under ``"auto"``.
    """

    def __init__(self, pool: Callable[[int], Any], threads: int) -> None:
        self.pool = pool
        self.threads = threads

    def on_batch_end(self, epoch: int, batch: int, stats: BatchStats) -> None:
        if batch == 0:
            self.pool(self.threads)
