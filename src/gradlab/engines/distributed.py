"""Data parallelism on ``torch.distributed``: join the job, average the gradients, add up numbers.

A worker of a job (started by ``torchrun`` or by :mod:`gradlab.distributed.launch`, which
set ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``...) trains like this::

    world = join(env_world(), device=torch.device("cpu"), timeout=30)   # gloo on CPUs
    model = data_parallel(model, world)       # DistributedDataParallel: averages gradients
    ...                                       # each step on this worker's block of the batch
    world.all_sum([loss_sum, correct])        # the epoch's totals over all workers
    leave(world)

Nothing here is home-made: the store is ``torch.distributed``'s ``TCPStore`` at
``MASTER_ADDR:MASTER_PORT`` (as for ``env://``), the process group is gloo on CPUs and
NCCL on GPUs, and the gradients are averaged by
:class:`torch.nn.parallel.DistributedDataParallel` (an all-reduce of each bucket of
gradients, overlapped with the backward pass). What gradlab adds: the store of a job
started without torch's agent listens on ``MASTER_ADDR`` only (torch's own listens on
every interface), a check that every worker arrived, which names the ones that did not
(``joined/<rank>`` keys in the job's store), a comparison of what the workers train with
(``settings/<rank>``: the model, the data's digest, the hyperparameters...), which stops
them all when they differ, and error messages that say what to do.

Only this module and :mod:`gradlab.distributed.launch` import ``torch.distributed``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed import PrefixStore, TCPStore  # type: ignore[attr-defined]

from gradlab.distributed import JOIN_TIMEOUT_ENV, World, made_a_group
from gradlab.errors import UsageError, WorkerError

__all__ = ["COLLECTIVE_TIMEOUT", "GroupWorld", "backend_for", "data_parallel", "join", "leave"]

#: Seconds a collective (an all-reduce) may wait for the other workers before failing. A
#: worker that dies is noticed at once (its sockets close, and the launcher stops the job);
#: this bounds only a worker that hangs while alive.
COLLECTIVE_TIMEOUT = 300.0


_JOINS = 0
#: The stores rank 0 hosts, by address and port: a later job at the same place reuses one.
_HOSTED: dict[tuple[str, int], TCPStore] = {}


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA devices, ``gloo`` for the CPU."""
    return "nccl" if device.type == "cuda" else "gloo"


class GroupWorld(World):
    """A :class:`~gradlab.distributed.World` backed by a ``torch.distributed`` process group.

    Parameters
    ----------
    world : World
        Rank, size, local rank and local size.
    device : torch.device
        Where the numbers of :meth:`all_sum` go for the all-reduce (NCCL reduces on GPUs).
    owns : bool
        Whether :func:`leave` destroys the process group (False when the caller made it).
    """

    def __init__(self, world: World, device: torch.device, owns: bool) -> None:
        super().__init__(world.rank, world.size, world.local_rank, world.local_size)
        self.device = device
        self.owns = owns
        self.backend = str(dist.get_backend())

    def all_sum(self, values: Sequence[float]) -> np.ndarray:
        """The sum of ``values`` over all workers, by one all-reduce, in float64."""
        where = self.device if self.backend == "nccl" else torch.device("cpu")
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=where)
        dist.all_reduce(t)
        out: np.ndarray = t.cpu().numpy()
        return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def join(
    world: World,
    *,
    device: torch.device,
    timeout: float,
    settings: Mapping[str, str] | None = None,
    owner: str | None = None,
) -> GroupWorld:
    """Join the job described by ``world`` and the environment; return the group's world.

    Parameters
    ----------
    world : World
        From :func:`gradlab.distributed.env_world`.
    device : torch.device
        ``cpu`` joins a gloo group; ``cuda`` an NCCL group on GPU ``local_rank``.
    timeout : float
        Seconds to wait for every worker to arrive.
    settings : mapping of str to str, optional
        What every worker of the job must share, by name, each value as a message shows
        it (``{"epochs": "epochs=2"}``); the device's type is added. The workers compare
        theirs while they join (through the job's store, before the process group is
        made), and all stop if they differ. The first one, when it differs, is named
        alone: the others follow from it (the estimator, which sets their defaults).
    owner : str, optional
        The start of that error's message (``"MLPClassifier"``).

    Raises
    ------
    UsageError
        ``MASTER_ADDR`` or ``MASTER_PORT`` is not set, a process group already made by
        the caller disagrees with ``world``, or the workers' ``settings`` differ (the
        message names the first few that do, and the workers and nodes of each value).
    WorkerError
        The job's store could not be reached, or some workers did not arrive within
        ``timeout`` (the message names their ranks).
    """
    if dist.is_initialized():  # the caller's own group (a script under torchrun)
        if (dist.get_rank(), dist.get_world_size()) != (world.rank, world.size):
            raise UsageError(
                f"this process is rank {dist.get_rank()} of a process group of "
                f"{dist.get_world_size()}, but the environment says rank {world.rank} of "
                f"{world.size}.",
                hint="Initialise the process group from the environment (env://), or not at all.",
            )
        return GroupWorld(world, device, owns=False)
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise UsageError(
            f"this process is worker rank {world.rank} of {world.size} (RANK and WORLD_SIZE are "
            f"set), but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not.",
            hint="Start the job with torchrun, or with 'gradlab train --nproc N'; by hand, set "
            "MASTER_ADDR and MASTER_PORT to rank 0's address and a free port.",
        )
    from gradlab.distributed import ENV_LAUNCHER
    from gradlab.distributed.launch import (
        StoreSilent,
        die_with_parent,
        silent_listener,
        store_client,
    )

    if "TORCHELASTIC_RUN_ID" in os.environ and ENV_LAUNCHER not in os.environ:
        die_with_parent(os.getppid())  # a torchrun worker: stop when the agent dies
    addr, port_text = os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]
    where = f"{addr}:{port_text}"
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"MASTER_PORT={port_text!r} is not a port number.") from None
    wait = timedelta(seconds=timeout)
    # torch's env:// store, made here so that it listens on MASTER_ADDR only, a port in use
    # is named, and a worker that never arrives is named (rank 0 does not wait for the
    # others to connect; it waits below for their "joined" keys)
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == str(True)
    try:
        if world.rank == 0 and not agent_store:
            from gradlab.distributed.launch import listen

            store = _HOSTED.get((addr, port))
            if store is None:  # once per process: a group kept by leave() holds it open
                fd = listen(addr, port, hint="Choose another MASTER_PORT, or stop that program.")
                store = TCPStore(
                    addr, port, world.size, True, wait,
                    wait_for_workers=False, master_listen_fd=fd.detach(),
                )  # fmt: skip
                _HOSTED[(addr, port)] = store
        else:
            store = store_client(addr, port, world.size, timeout)
    except (RuntimeError, TimeoutError, ValueError, StoreSilent) as exc:
        if isinstance(exc, StoreSilent) and exc.accepted:
            raise UsageError(
                f"worker rank {world.rank} of {world.size} cannot join the job: "
                f"{silent_listener(where, timeout, exc.holder)}.",
                hint="MASTER_ADDR and MASTER_PORT must be worker rank 0's address and a port "
                "it listens on, the same for every worker; if another program holds that "
                "port, choose another one for every worker.",
            ) from None
        silent = isinstance(exc, StoreSilent)
        reason = "nothing accepts connections there" if silent else _first_line(exc)
        raise WorkerError(
            f"worker rank {world.rank} of {world.size} could not reach the job's store at "
            f"{where} within {timeout:g} s: {reason}",
            hint="Worker rank 0 hosts the store at MASTER_ADDR:MASTER_PORT; start every worker "
            f"within the timeout (--rdzv-timeout, or {JOIN_TIMEOUT_ENV} under torchrun).",
        ) from None
    global _JOINS
    _JOINS += 1  # every worker counts its joins alike: each job's keys are its own
    keys = PrefixStore(f"gradlab/{_JOINS}", store)
    if settings is not None:  # before "joined": a worker that sees all joined sees these
        shared = {**settings, "device": f"device={device.type!r}"}
        node = os.environ.get("GROUP_RANK")  # set by PyTorch's launchers: the node's rank
        keys.set(f"settings/{world.rank}", json.dumps({"node": node, "settings": shared}))
    keys.set(f"joined/{world.rank}", f"{socket.gethostname()} process {os.getpid()}")
    try:
        keys.wait([f"joined/{r}" for r in range(world.size)], wait)
    except (RuntimeError, TimeoutError):
        absent = [r for r in range(world.size) if not keys.check([f"joined/{r}"])]
        if absent:
            names = ", ".join(str(r) for r in absent)
            raise WorkerError(
                f"worker rank{'s' if len(absent) > 1 else ''} {names} of {world.size} never "
                f"joined the job at {where} within {timeout:g} s.",
                hint="A worker that never starts (or starts too late) stops the job; if the "
                f"workers are slow to start, raise the timeout (--rdzv-timeout, or "
                f"{JOIN_TIMEOUT_ENV} under torchrun).",
            ) from None
        raise
    if settings is not None:
        _agree(keys, world, timeout, owner)
    if device.type == "cuda":
        torch.cuda.set_device(world.local_rank)
    dist.init_process_group(
        backend_for(device),
        store=keys,
        rank=world.rank,
        world_size=world.size,
        timeout=timedelta(seconds=COLLECTIVE_TIMEOUT),
    )
    made_a_group(True)
    return GroupWorld(world, device, owns=True)


#: How many differing settings the error of :func:`_agree` names.
SETTINGS_NAMED = 3


def _agree(keys: PrefixStore, world: World, timeout: float, owner: str | None) -> None:
    """Compare the settings every worker wrote (see :func:`join`); raise the error that
    names those that differ, on every worker alike, once all have read them (the store
    may end with the first worker that exits)."""
    from gradlab.distributed.launch import AGREE_SECONDS

    views = [json.loads(keys.get(f"settings/{r}")) for r in range(world.size)]
    names = list(dict.fromkeys(name for view in views for name in view["settings"]))
    nodes = {view["node"] for view in views}
    differ = []
    for name in names:
        values = [view["settings"].get(name) for view in views]
        if len(set(values)) == 1:
            continue
        holders: dict[str | None, list[int]] = {}
        for rank, value in enumerate(values):
            holders.setdefault(value, []).append(rank)
        differ.append(", ".join(
            f"{value or f'no {name}'} on {_ranks(ranks, views, len(nodes) > 1)}"
            for value, ranks in holders.items()
        ))  # fmt: skip
        if name == names[0]:  # the others follow from it
            break
    if not differ:
        return
    keys.set(f"told/{world.rank}", "1")
    with contextlib.suppress(RuntimeError, TimeoutError):
        wait = timedelta(seconds=min(timeout, AGREE_SECONDS))
        keys.wait([f"told/{r}" for r in range(world.size)], wait)
    more = len(differ) - SETTINGS_NAMED
    named = "; ".join(differ[:SETTINGS_NAMED])
    if more > 0:
        named += f"; and {more} more setting{'s differ' if more > 1 else ' differs'}"
    raise UsageError(
        f"{owner + ': ' if owner else ''}the workers of this job were started with "
        f"different settings: {named}.",
        hint="Every worker must run the same training on the same data: start every node "
        "with the same command (with gradlab train, only --node-rank, --nproc and the "
        "folders --out, --data-dir and --cache-dir may differ).",
    )


def _ranks(ranks: list[int], views: list[dict[str, Any]], by_node: bool) -> str:
    """``worker ranks 0, 1 (node 0)``: some workers of a job, and their nodes."""
    text = f"worker rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}"
    if not by_node:
        return text
    nodes = list(dict.fromkeys(str(views[r]["node"]) for r in ranks))
    return f"{text} (node{'s' if len(nodes) > 1 else ''} {', '.join(nodes)})"


#: The groups :func:`leave` took out of ``torch.distributed``, kept to the end of the process.
_LEFT: list[object] = []


def leave(world: World) -> None:
    """Take the process group :func:`join` made out of ``torch.distributed`` (nothing for
    the caller's own group); a later :func:`join` makes a new one.

    The group object itself is kept until the process ends. Freeing it joins its gloo
    threads while this thread holds the GIL, and a gloo thread still releasing its last
    collective's Python objects waits for the GIL: the worker hangs. At the interpreter's
    teardown the same thread is stopped instead, and the worker aborts ("terminate called
    without an active exception"). gradlab's workers therefore end without that teardown
    (:func:`gradlab.distributed.exit_without_teardown`).
    """
    if isinstance(world, GroupWorld) and world.owns and dist.is_initialized():
        _LEFT.append(dist.group.WORLD)
        dist.destroy_process_group()


def data_parallel(module: nn.Module, world: World) -> nn.Module:
    """``module`` wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` when there
    are several workers (the module itself when alone).

    DDP averages the gradients over the workers during ``backward()`` (bucket by bucket,
    overlapped with the rest of the backward pass), so every worker's optimizer applies the
    same step. The wrapped module shares its parameters with ``module``.
    """
    if world.size == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device = next(module.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def is_collective_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective that failed because another worker went away."""
    if isinstance(exc, dist.DistError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        mark in text for mark in ("gloo", "Connection closed", "Connection reset", "NCCL")
    )
