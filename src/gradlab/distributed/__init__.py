"""Data parallelism: who this process is in a job of several workers, and its share of a batch.

When a job outgrows one process, ``W`` workers train one model together: every worker
holds the same weights, takes its own slice of every global batch, computes the gradient
of its slice, and the gradients are averaged (an all-reduce) so that every worker applies
the same step. With the loss of each slice scaled by ``W / global batch`` the average is
exactly the gradient of the whole global batch, however unevenly it splits: data-parallel
SGD over ``W`` workers *is* mini-batch SGD with the global batch (see
``docs/data-parallel.md``).

This module is what the training loop needs to know and imports neither PyTorch nor
anything above it:

- :class:`World`: this worker's rank, the number of workers, its share of a batch
  (:meth:`World.block`) and the sum of numbers over all workers (:meth:`World.all_sum`;
  alone, the numbers themselves). A single process is the world of one, :data:`SOLO`.
- :func:`env_world`: the world PyTorch's launchers describe in the environment
  (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, set by ``torchrun``
  and by gradlab's own launcher), or None outside a job.

The process group itself (``torch.distributed``, gloo on CPUs, NCCL on GPUs) is in
:mod:`gradlab.engines.distributed`; the launcher, which starts the workers and ends the
whole job when one of them fails, is :mod:`gradlab.distributed.launch`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from gradlab.errors import UsageError, WorkerError
from gradlab.process import exit_without_teardown

__all__ = [
    "LOST_CONTACT_SECONDS",
    "SOLO",
    "LostContactError",
    "World",
    "env_world",
    "exit_without_teardown",
    "join_timeout",
    "made_a_group",
    "thread_share",
    "usable_cpus",
]

#: The variables a PyTorch launcher sets in each worker (RANK and WORLD_SIZE are required).
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
#: Seconds a worker waits for all the others to join the job: gradlab's launcher passes
#: ``--rdzv-timeout`` in this variable; under torchrun, whose agents have met already, the
#: workers start together and the default is ample.
JOIN_TIMEOUT_ENV = "GRADLAB_JOIN_TIMEOUT"
DEFAULT_JOIN_TIMEOUT = 30.0
#: Default seconds :mod:`gradlab.distributed.launch` waits for every worker and node: on
#: one machine the workers start within seconds; machines of a cluster may start minutes
#: apart. (Here, not in the launcher, so that the command line's help reads it without
#: importing the launcher.)
DEFAULT_TIMEOUT = {"one machine": 30.0, "several machines": 300.0}
#: Exported to the workers by gradlab's launcher: its process id (a worker checks that it
#: is still its parent).
ENV_LAUNCHER = "GRADLAB_LAUNCHER_PID"
#: The longest join or rendezvous timeout taken, in seconds (a week): longer is a typo, and
#: far longer (1e14 s) overflows the ``timedelta`` that PyTorch's store takes.
MAX_JOIN_TIMEOUT = 7 * 24 * 3600.0


#: How long a worker that lost contact with the others waits before it raises
#: :class:`LostContactError`. The worker that went away is the news: a launcher (gradlab's,
#: or torchrun's agent) polls its workers every 0.1 s, so it sees that one go first and
#: names it, then stops this one during the wait. Exiting at once could be taken for the
#: cause.
LOST_CONTACT_SECONDS = 3.0


class LostContactError(WorkerError):
    """A collective (an all-reduce) failed because another worker went away: a consequence,
    not a cause; the launcher reports the worker that failed first."""


class World:
    """This worker's place in a data-parallel job.

    Parameters
    ----------
    rank : int
        This worker, ``0 .. size - 1``. Rank 0 is the one that prints, draws and writes.
    size : int
        The number of workers, ``W``.
    local_rank, local_size : int
        The same on this machine (the thread share and the GPU depend on them).
    """

    def __init__(self, rank: int = 0, size: int = 1, local_rank: int = 0, local_size: int = 1):
        self.rank = rank
        self.size = size
        self.local_rank = local_rank
        self.local_size = local_size

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(rank={self.rank}, size={self.size}, "
            f"local_rank={self.local_rank}, local_size={self.local_size})"
        )

    @property
    def leader(self) -> bool:
        """Whether this is rank 0: the worker that prints, draws and writes."""
        return self.rank == 0

    def block(self, n: int) -> slice:
        """This worker's rows of a batch of ``n`` rows: a contiguous block.

        Worker ``r`` of ``W`` takes rows ``r * n // W`` up to ``(r + 1) * n // W``, so the
        blocks cover the batch once, in order, and differ in size by at most one row (a
        block may be empty when ``n < W``). With ``W = 1`` it is the whole batch.
        """
        return slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)

    def all_sum(self, values: Sequence[float]) -> np.ndarray:
        """The sum of ``values`` over all workers (every worker passes as many).

        Returns
        -------
        ndarray of shape (len(values),), float64
            Alone: the values themselves. A process group adds them up
            (:class:`gradlab.engines.distributed.GroupWorld`).
        """
        return np.asarray([float(v) for v in values], dtype=np.float64)


#: A single process: the world of one.
SOLO = World()


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    text = env.get(name)
    if text is None or text.strip() == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise UsageError(
            f"the environment variable {name}={text!r} is not a whole number.",
            hint="It is set by torchrun (or another PyTorch launcher) for each worker; "
            "unset it to train in one process.",
        ) from None


def env_world(env: Mapping[str, str] | None = None) -> World | None:
    """The world a PyTorch launcher describes in the environment, or None outside a job.

    ``torchrun`` (and gradlab's launcher) set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``
    and ``LOCAL_WORLD_SIZE`` in every worker. Without ``LOCAL_*`` (a job started by hand
    with ``MASTER_ADDR``/``MASTER_PORT``) the whole job is taken to run on this machine.

    Raises
    ------
    UsageError
        Only one of ``RANK`` and ``WORLD_SIZE`` is set, or they do not describe a worker
        (``RANK`` outside ``0 .. WORLD_SIZE - 1``, ...).
    """
    env = os.environ if env is None else env
    rank, size = _env_int(env, "RANK"), _env_int(env, "WORLD_SIZE")
    if rank is None and size is None:
        return None
    hint = (
        "torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE for each worker; "
        "unset them to train in one process."
    )
    if rank is None or size is None:
        have, lack = ("RANK", "WORLD_SIZE") if size is None else ("WORLD_SIZE", "RANK")
        raise UsageError(f"the environment sets {have} but not {lack}.", hint=hint)
    local_rank = _env_int(env, "LOCAL_RANK")
    local_size = _env_int(env, "LOCAL_WORLD_SIZE")
    local_rank = rank if local_rank is None else local_rank
    local_size = size if local_size is None else local_size
    if size < 1 or not 0 <= rank < size:
        raise UsageError(
            f"the environment sets RANK={rank} and WORLD_SIZE={size}; a worker's rank must "
            f"be 0 .. WORLD_SIZE - 1.",
            hint=hint,
        )
    if local_size < 1 or not 0 <= local_rank < local_size or local_size > size:
        raise UsageError(
            f"the environment sets LOCAL_RANK={local_rank} and LOCAL_WORLD_SIZE={local_size} "
            f"(WORLD_SIZE={size}); a local rank must be 0 .. LOCAL_WORLD_SIZE - 1, and "
            "LOCAL_WORLD_SIZE at most WORLD_SIZE.",
            hint=hint,
        )
    return World(rank, size, local_rank, local_size)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_share(world: World, cpus: int | None = None) -> int:
    """This worker's share of the machine's cores: ``cpus // local_size``, at least 1.

    ``cpus`` defaults to the CPUs this process may run on (:func:`usable_cpus`).
    """
    if cpus is None:
        cpus = usable_cpus()
    return max(1, cpus // max(world.local_size, 1))


def join_timeout(env: Mapping[str, str] | None = None) -> float:
    """Seconds to wait for every worker to join: ``$GRADLAB_JOIN_TIMEOUT``, else
    :data:`DEFAULT_JOIN_TIMEOUT`."""
    env = os.environ if env is None else env
    text = env.get(JOIN_TIMEOUT_ENV)
    if not text:
        return DEFAULT_JOIN_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_JOIN_TIMEOUT:
        raise UsageError(
            f"the environment variable {JOIN_TIMEOUT_ENV}={text!r} is not a number of seconds > 0 "
            f"and at most {MAX_JOIN_TIMEOUT:,.0f} (a week)."
        )
    return value


_MADE_A_GROUP = False


def made_a_group(made: bool | None = None) -> bool:
    """Whether this process has made a process group (``made=True`` records that it has;
    :func:`gradlab.engines.distributed.join` does)."""
    global _MADE_A_GROUP
    if made is not None:
        _MADE_A_GROUP = made
    return _MADE_A_GROUP
