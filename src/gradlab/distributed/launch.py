"""Start the workers of a data-parallel job, watch them, and end the whole job when one fails.

This is PyTorch's own launcher (``torch.distributed.launcher.api``, the engine behind
``torchrun``: an elastic agent that starts the workers, sets ``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``... for each, watches them and stops them all when one fails), with
gradlab's choices:

- **One machine** (``nnodes == 1``): the workers meet on 127.0.0.1 at a port the
  operating system picks, held open by this process from the start, so no other program
  can take it in between.
- **Several machines**: node rank 0 listens at the rendezvous address ``HOST:PORT`` (it
  must be one of its own addresses); every other node connects to it. Node rank ``r``
  starts global ranks ``r * nproc .. (r + 1) * nproc - 1``, so rank 0, the one that
  writes, is on node 0. A port already in use on node 0 is reported at once, with the
  program holding it when this user may see it; a node or worker that never arrives ends
  the job after ``timeout`` seconds with a message that names it, and so does, on the
  other nodes, a program at that address that accepts connections but never answers
  (:func:`store_client`).
- **Everything binds to 127.0.0.1** unless a rendezvous address says otherwise: the
  rendezvous store listens on the address given (torch's own default is every interface),
  and on one machine gloo's connections use the loopback interface.
- **Failures end the job**: no restarts. A worker that dies or is killed stops the others
  within seconds (SIGTERM, then SIGKILL after :data:`SHUTDOWN_SECONDS`), and the error
  names the worker, its process and its exit status. Ctrl-C or SIGTERM to this process
  stops every worker the same way; and should this process be killed outright, every
  worker gets SIGTERM from the kernel (``PR_SET_PDEATHSIG`` on Linux), so nothing is left
  running.
- **Nothing is left behind**: the workers' logs go to one temporary folder, removed at
  the end (and on the next launch, when a killed launcher could not remove its own).

The workers run a function (:func:`run`), started by ``spawn``: a script that launches
must do so under ``if __name__ == "__main__":``, as with any ``multiprocessing`` code.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import logging
import os
import pickle
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradlab.distributed import (
    DEFAULT_TIMEOUT,
    ENV_LAUNCHER,
    JOIN_TIMEOUT_ENV,
    MAX_JOIN_TIMEOUT,
    LostContactError,
    usable_cpus,
)
from gradlab.errors import (
    ExitStatus,
    GradlabError,
    HungUp,
    Terminated,
    UsageError,
    WorkerError,
    stop_status,
)

__all__ = [
    "DEFAULT_TIMEOUT", "Launch", "die_with_parent", "launched_here", "listen", "parse_endpoint",
    "port_holder", "run", "store_client",
]  # fmt: skip

#: Seconds the other workers get to stop after SIGTERM before SIGKILL.
SHUTDOWN_SECONDS = 5
#: Exported to the workers (beside ENV_LAUNCHER): the folder of the workers' logs (where a
#: worker leaves its error).
ENV_LOGS = "GRADLAB_WORKER_LOGS"
#: The prefix of the temporary folder of the workers' logs.
LOG_PREFIX = "gradlab-workers-"
_BACKEND = "gradlab"


#: The shortest rendezvous timeout taken, in seconds: under it even a local rendezvous
#: can time out before the store answers (PyTorch then reports a 0 ms timeout).
MIN_TIMEOUT = 1.0


@dataclass
class Launch:
    """Where and how many workers to start.

    Parameters
    ----------
    nproc : int
        Workers on this machine.
    nnodes : int
        Machines (nodes) in the job; each runs the same launch with its own ``node_rank``.
    node_rank : int
        This machine, ``0 .. nnodes - 1``; node 0 hosts the rendezvous and rank 0.
    endpoint : str, optional
        ``HOST:PORT`` of the rendezvous on node 0 (required with several nodes). On one
        machine the default is 127.0.0.1 and a free port.
    timeout : float, optional
        Seconds to wait for every node and worker to arrive (:data:`DEFAULT_TIMEOUT`).
    """

    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    endpoint: str | None = None
    timeout: float | None = None

    @property
    def world_size(self) -> int:
        return self.nproc * self.nnodes

    @property
    def wait(self) -> float:
        """The join timeout in seconds."""
        if self.timeout is not None:
            return self.timeout
        return DEFAULT_TIMEOUT["one machine" if self.nnodes == 1 else "several machines"]

    def check(self) -> tuple[str, int]:
        """Validate; return the rendezvous host and port (port 0: pick a free one).

        Raises
        ------
        UsageError
            Bad counts, a node rank out of range, several nodes without an endpoint, or an
            endpoint that is not ``HOST:PORT``.
        """
        for value, flag in ((self.nproc, "--nproc"), (self.nnodes, "--nnodes")):
            if value < 1:
                raise UsageError(f"{flag} must be at least 1; got {value}.")
        most = max_workers()
        if self.nproc > most:
            raise UsageError(
                f"--nproc {self.nproc} (n_procs in Python) is more worker processes than this "
                f"machine's {most // PROCS_PER_CPU} CPU(s) can run: at most {most} "
                f"({PROCS_PER_CPU} per CPU).",
                hint="Each worker is a Python process with PyTorch (about 250 MB) and its own "
                "share of the cores; use at most one per core, or --nnodes for more machines.",
            )
        if not 0 <= self.node_rank < self.nnodes:
            raise UsageError(
                f"--node-rank must be 0 .. {self.nnodes - 1} with --nnodes {self.nnodes}; "
                f"got {self.node_rank}."
            )
        if self.timeout is not None and not self.timeout >= MIN_TIMEOUT:
            raise UsageError(
                f"--rdzv-timeout must be a number of seconds >= {MIN_TIMEOUT:g}; got "
                f"{self.timeout:g}.",
                hint="The workers need that long at least to connect (a fresh worker "
                "imports PyTorch first); the default is 30 on one machine.",
            )
        if self.timeout is not None and self.timeout > MAX_JOIN_TIMEOUT:
            raise UsageError(
                f"--rdzv-timeout must be at most {MAX_JOIN_TIMEOUT:,.0f} seconds (a week); got "
                f"{self.timeout:g}.",
                hint="The default is 30 on one machine and 300 with --nnodes > 1; raise it "
                "only as far as the slowest node needs to start.",
            )
        if self.endpoint is None:
            if self.nnodes > 1:
                raise UsageError(
                    f"--nnodes {self.nnodes} needs the rendezvous address: --rdzv-endpoint "
                    "HOST:PORT, an address of node rank 0 and a free port there, the same on "
                    "every node."
                )
            return "127.0.0.1", 0
        host, port = parse_endpoint(self.endpoint)
        if port == 0 and self.nnodes > 1:
            raise UsageError(
                f"--rdzv-endpoint {self.endpoint}: with several nodes the port must be given "
                "(every node must know it in advance)."
            )
        return host, port


#: Workers one machine may start per CPU it lets this process use: more only share the
#: cores, each paying PyTorch's start-up and memory (and 1,000 of them did not start
#: within minutes on 2 cores).
PROCS_PER_CPU = 4


def max_workers() -> int:
    """The most worker processes :func:`run` starts on this machine."""
    return PROCS_PER_CPU * usable_cpus()


def _node_record(raw: bytes | str, rank: int) -> dict[str, Any]:
    """A node's rendezvous record (host, process, ``--nnodes``) as this version writes it;
    anything else comes from another version of gradlab, which cannot join this job."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not {"host", "pid", "nnodes"} <= record.keys():
        raise UsageError(
            f"node rank {rank} of this job runs another version of gradlab: its rendezvous "
            f"record reads {text[:60]!r}.",
            hint="Install the same gradlab on every node.",
        )
    return record


def parse_endpoint(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6addr]:PORT`` for IPv6) as (host, port).

    Raises
    ------
    UsageError
        No port, a port that is not a number in 0 .. 65535, or no host.
    """
    hint = "Give it as HOST:PORT, e.g. 127.0.0.1:29500 or [::1]:29500."
    host, sep, port_text = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text:
        raise UsageError(f"--rdzv-endpoint {text!r} is not HOST:PORT.", hint=hint)
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"--rdzv-endpoint {text!r}: the port {port_text!r} is not a number.",
                         hint=hint) from None  # fmt: skip
    if not 0 <= port <= 65535:
        raise UsageError(f"--rdzv-endpoint {text!r}: a port is 0 .. 65535; got {port}.", hint=hint)
    return host, port


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# ------------------------------------------------------------------ the port


def port_holder(port: int) -> str | None:
    """The program listening on TCP ``port`` on this machine (``"process 123 (python)"``),
    when this user may see it (Linux ``/proc``), else None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                listening = len(fields) > 9 and fields[3] == "0A"
                if listening and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        name = (proc / "comm").read_text().strip()
                        return f"process {proc.name} ({name})"
    return None


def listen(
    host: str,
    port: int,
    hint: str = "Choose another port (--rdzv-endpoint HOST:PORT), or stop that program.",
) -> socket.socket:
    """A socket bound to ``host:port`` and listening (the rendezvous store's), or an error
    that names the port and, when it can, the program that holds it (``hint`` says what
    to do about it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(
            f"--rdzv-endpoint {host}:{port}: cannot resolve {host!r} ({exc.strerror}).",
            hint="Give node rank 0's address (an IP address or a host name this machine knows).",
        ) from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past a closed store's TIME_WAIT
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            holder = port_holder(port)
            by = f" by {holder}" if holder else " by another program"
            raise UsageError(
                f"the rendezvous port {host}:{port} is already in use{by}.", hint=hint
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(
                f"cannot listen on {host}:{port}: {host} is not an address of this machine.",
                hint="Node rank 0 hosts the rendezvous: run it on the machine whose address "
                "--rdzv-endpoint names.",
            ) from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
    return sock


# ------------------------------------------------------------------ the store's clients


class StoreSilent(Exception):
    """No PyTorch store answered at an address within the timeout (see :func:`store_client`).

    Attributes
    ----------
    accepted : bool
        Whether a plain TCP connection to that address is accepted: something listens
        there but did not answer as a store does. False: nothing accepts connections.
    holder : str or None
        The program listening there, when the address is this machine's loopback and this
        user may see it (:func:`port_holder`).
    """

    def __init__(self, accepted: bool, holder: str | None) -> None:
        super().__init__(accepted, holder)
        self.accepted = accepted
        self.holder = holder


#: Seconds a node or worker that found the others started with different settings waits
#: for them to have read what it read, before it ends (and, on node 0, the store with it).
AGREE_SECONDS = 10.0
#: Seconds :func:`store_client` gives a plain TCP connection once the store has not answered.
PROBE_SECONDS = 2.0


def store_client(host: str, port: int, world_size: int, timeout: float) -> Any:
    """A client of the PyTorch store (``TCPStore``) at ``host:port``, within ``timeout`` seconds.

    torch's ``TCPStore`` bounds only its connection attempts by its timeout (and tries
    twice, which can take more than twice as long). Once connected, it checks the server with a ping
    whose answer it reads without any timeout (torch 2.13: a blocking ``recv`` in
    ``TCPStore::ping``), so a program that accepts the connection and never answers (any
    other server on that port, or a stopped one) holds it until that program goes away; and
    in the main thread not even SIGTERM or Ctrl-C end it, since Python runs its signal
    handlers between bytecodes only. The store is therefore made in a helper thread (the
    call releases the GIL) while this thread waits, in short slices so that a signal is
    handled within 0.1 s. When nothing came back within ``timeout``, a plain TCP connection
    tells a silent listener from an absent one. The helper thread is then left behind,
    blocked until that program closes the connection (or torch's own retries end); the
    caller reports the error and the process ends without the interpreter's teardown
    (:func:`gradlab.process.left_a_native_thread`).

    Returns
    -------
    torch.distributed.TCPStore
        A client (not the server) of the store.

    Raises
    ------
    RuntimeError, TimeoutError
        torch's own error within the timeout (a refused, reset or malformed connection).
    StoreSilent
        No store answered within ``timeout``.
    """
    from datetime import timedelta

    from torch.distributed import TCPStore  # type: ignore[attr-defined]

    made: dict[str, Any] = {}

    def connect() -> None:
        try:
            made["store"] = TCPStore(host, port, world_size, False, timedelta(seconds=timeout))
        except BaseException as exc:  # handed to the waiting thread
            made["error"] = exc

    helper = threading.Thread(target=connect, name="gradlab-store-client", daemon=True)
    helper.start()
    deadline = time.monotonic() + timeout
    while helper.is_alive() and time.monotonic() < deadline:
        helper.join(min(0.1, max(deadline - time.monotonic(), 0.0)))
    if not helper.is_alive():
        if "error" in made:
            raise made["error"]
        return made["store"]
    try:
        with socket.create_connection((host, port), timeout=min(PROBE_SECONDS, timeout)):
            accepted = True
    except OSError:
        accepted = False
    holder = port_holder(port) if accepted and _is_loopback(host) else None
    from gradlab.process import left_a_native_thread

    left_a_native_thread()  # the helper is still inside torch: end without teardown
    raise StoreSilent(accepted, holder)


def silent_listener(where: str, timeout: float, holder: str | None) -> str:
    """The words for what :class:`StoreSilent` found at ``where`` (``accepted`` true)."""
    who = f"{holder} at {where}" if holder else f"the program at {where}"
    return (
        f"{who} accepted the connection but did not answer as PyTorch's store (TCPStore) "
        f"within {timeout:g} s"
    )


# ------------------------------------------------------------------ the rendezvous


def _rendezvous_handler(params: Any) -> Any:
    """torch's static rendezvous, except that node 0's store listens on the given address
    only (a socket bound by :func:`run`), and that a node that never arrives is named."""
    from datetime import timedelta

    from torch.distributed import PrefixStore, TCPStore  # type: ignore[attr-defined]
    from torch.distributed.elastic.rendezvous import (
        RendezvousHandler,
        RendezvousInfo,
        RendezvousStoreInfo,
    )

    class GradlabRendezvous(RendezvousHandler):  # type: ignore[misc]
        def __init__(self) -> None:
            self.host, port = parse_endpoint(params.endpoint)
            self.port = int(params.config["port"]) if port == 0 else port
            self.node_rank = int(params.config["rank"])
            self.nnodes = int(params.max_nodes)
            self.timeout = float(params.config["wait"])
            self.listen_fd = params.config.get("listen_fd")
            self.run_id = params.run_id
            self.store: Any = None

        def _reach(self, where: str) -> Any:
            """A client of node 0's store, or an error that says what is at ``where``."""
            try:
                return store_client(self.host, self.port, self.nnodes, self.timeout)
            except StoreSilent as exc:
                if exc.accepted:
                    raise UsageError(
                        f"node rank {self.node_rank} cannot join the rendezvous: "
                        f"{silent_listener(where, self.timeout, exc.holder)}.",
                        hint="Check --rdzv-endpoint: node rank 0's address and the port it "
                        "was given, the same on every node. Start node rank 0 first (or "
                        "raise --rdzv-timeout); if another program holds that port on node 0, "
                        "choose another port for every node.",
                    ) from None
                reason = "nothing accepts connections there"
            except (RuntimeError, TimeoutError) as exc:
                reason = _first_line(exc)
            raise WorkerError(
                f"node rank {self.node_rank} could not reach the rendezvous at {where} within "
                f"{self.timeout:g} s ({reason}).",
                hint="Start node rank 0 with the same --nnodes and --rdzv-endpoint "
                "(it must listen at that address), or raise --rdzv-timeout.",
            )

        def _meet(self, store: Any, where: str) -> None:
            """Claim this node's rank (its key ``"<node rank>"``: host, process and
            ``--nnodes``) and wait for every node's. A node whose rank is taken is refused
            (the first stays in the job); nodes that disagree on the number of nodes all
            stop at once (torchelastic would wait for a node that never comes, then fail
            with a traceback)."""
            me = {"host": socket.gethostname(), "pid": os.getpid(), "nnodes": self.nnodes}
            mine = json.dumps(me)
            taken = store.compare_set(str(self.node_rank), "", mine).decode()
            if taken != mine:
                other = _node_record(taken, self.node_rank)
                raise UsageError(
                    f"node rank {self.node_rank} is taken: process {other['pid']} on "
                    f"{other['host']} joined the rendezvous at {where} as node rank "
                    f"{self.node_rank} first.",
                    hint="Give every node its own --node-rank: 0 to N - 1 with --nnodes N.",
                )
            keys = [str(r) for r in range(self.nnodes)]
            seen: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + self.timeout
            while True:
                for key in keys:
                    if key not in seen and store.check([key]):
                        seen[key] = _node_record(store.get(key), int(key))
                if any(node["nnodes"] != self.nnodes for node in seen.values()):
                    self._disagree(store, seen, where)
                if len(seen) == len(keys):
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                with contextlib.suppress(RuntimeError, TimeoutError):  # a slice of the wait
                    store.wait(keys, timedelta(seconds=min(1.0, left)))
            absent = [r for r in range(self.nnodes) if str(r) not in seen]
            names = ", ".join(str(r) for r in absent)
            raise WorkerError(
                f"node rank{'s' if len(absent) > 1 else ''} {names} of {self.nnodes} never "
                f"reached the rendezvous at {where} within {self.timeout:g} s.",
                hint="Start 'gradlab train ... --nnodes N --node-rank R --rdzv-endpoint "
                "HOST:PORT' on every node, or raise --rdzv-timeout.",
            )

        def _disagree(self, store: Any, seen: dict[str, dict[str, Any]], where: str) -> None:
            """Raise the error of nodes started with different ``--nnodes``; node 0, whose
            exit ends the store, first waits a little for the others to have read it."""
            store.set(f"told/{self.node_rank}", "1")
            if self.node_rank == 0:
                others = [f"told/{k}" for k in seen if k != "0"]
                with contextlib.suppress(RuntimeError, TimeoutError):
                    store.wait(others, timedelta(seconds=min(self.timeout, AGREE_SECONDS)))
            counts = ", ".join(
                f"{v['nnodes']} on node rank {k} ({v['host']})"
                for k, v in sorted(seen.items(), key=lambda kv: int(kv[0]))
            )
            raise UsageError(
                f"the nodes were started with different --nnodes: {counts}.",
                hint="Start every node with the same --nnodes and --rdzv-endpoint; only "
                "--node-rank (and --nproc) may differ.",
            )

        def get_backend(self) -> str:
            return _BACKEND

        @property
        def use_agent_store(self) -> bool:
            return True

        def next_rendezvous(self) -> Any:
            where = f"{self.host}:{self.port}"
            wait = timedelta(seconds=self.timeout)
            if self.store is None:
                if self.node_rank == 0:
                    self.store = TCPStore(
                        self.host, self.port, self.nnodes, True, wait,
                        wait_for_workers=False, master_listen_fd=self.listen_fd,
                    )  # fmt: skip
                    if self.listen_fd in _LISTENERS:  # the store owns (and closes) it now
                        _LISTENERS.pop(self.listen_fd).detach()
                else:
                    self.store = self._reach(where)
            self._meet(PrefixStore("gradlab-nodes", self.store), where)
            return RendezvousInfo(
                PrefixStore(self.run_id, self.store),
                self.node_rank,
                self.nnodes,
                RendezvousStoreInfo(self.host, self.port),
            )

        def is_closed(self) -> bool:
            return False

        def set_closed(self) -> None:
            pass

        def num_nodes_waiting(self) -> int:
            return 0

        def get_run_id(self) -> str:
            return str(self.run_id)

        def shutdown(self) -> bool:
            return True

    return GradlabRendezvous()


#: The listening sockets handed to the rendezvous store, by file descriptor.
_LISTENERS: dict[int, socket.socket] = {}


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _register() -> None:
    from torch.distributed.elastic.rendezvous import rendezvous_handler_registry as registry

    with contextlib.suppress(ValueError):  # registered already
        registry.register(_BACKEND, _rendezvous_handler)


# ------------------------------------------------------------------ in the workers


def die_with_parent(parent: int | None = None) -> None:
    """Ask the kernel for SIGTERM when this worker's parent, its launcher, dies (Linux
    ``PR_SET_PDEATHSIG``); if it has died already, stop now.

    ``parent`` is the launcher's process id (default: gradlab's launcher's, from the
    environment; nothing happens outside it). Under torchrun, whose agent is the parent,
    :func:`gradlab.engines.distributed.join` asks the same: torchrun killed outright
    otherwise leaves its workers running.
    """
    if parent is None:
        text = os.environ.get(ENV_LAUNCHER)
        if text is None:
            return
        parent = int(text)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(128 + signal.SIGTERM)


_IN_WORKER_CALL = False


def launched_here() -> bool:
    """Whether this process is a worker of :func:`run` inside the function it was given
    (not, say, re-importing a script's ``__main__`` before that function starts)."""
    return _IN_WORKER_CALL


def _stop(signum: int, frame: Any) -> None:
    """The first SIGINT, SIGTERM or SIGHUP stops the worker (KeyboardInterrupt, Terminated,
    HungUp); later ones are ignored, so that the worker's clean-up is not interrupted in
    turn."""
    for ignored in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(ignored, signal.SIG_IGN)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise HungUp if signum == signal.SIGHUP else Terminated


class _CarriedError:
    """A gradlab error raised in a worker, carried to the launcher, which raises it again
    (pickling the exception itself would lose its keyword arguments)."""

    def __init__(self, exc: GradlabError) -> None:
        self.cls = type(exc)
        self.message = exc.message
        self.state = dict(vars(exc))
        # an OSError keeps these outside its __dict__
        self.os_fields = (
            (exc.errno, exc.strerror, exc.filename) if isinstance(exc, OSError) else None
        )

    def rebuild(self) -> GradlabError:
        # OSError's allocator for its subclasses (MissingFileError is a ValueError first)
        new = OSError.__new__ if issubclass(self.cls, OSError) else self.cls.__new__
        exc = new(self.cls)
        Exception.__init__(exc, self.message)
        vars(exc).update(self.state)
        if self.os_fields is not None and isinstance(exc, OSError):
            exc.errno, exc.strerror, exc.filename = self.os_fields
        return exc


def _carried_path(rank: int | str) -> Path:
    return Path(os.environ.get(ENV_LOGS, tempfile.gettempdir())) / f"error-{rank}.pickle"


def _worker_of_file(payload: str) -> Any:
    """The workers' entry point: :func:`_worker` with the ``(fn, args)`` the launcher wrote."""
    fn, args = pickle.loads(Path(payload).read_bytes())
    return _worker(fn, *args)


def _worker(fn: Callable[..., Any], *args: Any) -> Any:
    """The workers' entry point: die with the launcher, then run ``fn(*args)``.

    A gradlab error is left for the launcher (which raises it again) and ends this worker
    with the error's exit status, so that the launcher stops the whole job at once; a stop
    signal ends it with 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP). Anything else is a
    crash, which PyTorch records (with its traceback) for the launcher's message.
    """
    global _IN_WORKER_CALL, _WORKER_STATUS
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # not under nohup
        signal.signal(signal.SIGHUP, _stop)
    if hasattr(signal, "pthread_sigmask"):  # started with SIGINT held (see _sigint_held)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    die_with_parent()
    _at_shutdown(_end_worker)
    _IN_WORKER_CALL = True
    stopped = False
    _WORKER_STATUS = 1  # a crash, until the result has gone to the launcher
    try:
        return _Delivered(fn(*args))
    except SystemExit as exc:
        code = exc.code
        _WORKER_STATUS = code if isinstance(code, int) else 0 if code is None else 1
        raise
    except GradlabError as exc:
        with contextlib.suppress(OSError, pickle.PicklingError):
            _carried_path(os.environ.get("RANK", "0")).write_bytes(pickle.dumps(_CarriedError(exc)))
        _WORKER_STATUS = int(exc.exit_status)
        raise SystemExit(_WORKER_STATUS) from None
    except KeyboardInterrupt as exc:
        stopped = True
        _WORKER_STATUS = int(stop_status(exc))
        raise SystemExit(_WORKER_STATUS) from None
    except Exception as exc:
        # A crash: recorded here, in the job's log folder, as PyTorch's elastic agent
        # records one (the launcher quotes it). Raised on, it would also be pickled by
        # torch.multiprocessing into a pytorch-errorfile-*.pickle of the temporary folder
        # that nothing removes.
        from torch.distributed.elastic.multiprocessing.errors import get_error_handler

        get_error_handler().record_exception(exc)
        raise SystemExit(1) from None
    finally:
        _IN_WORKER_CALL = False
        logs = os.environ.get(ENV_LOGS, "")
        launcher = os.environ.get(ENV_LAUNCHER, "")
        wait = LAUNCHER_EXIT_SECONDS if stopped else 0.0
        if LOG_PREFIX in logs and _launcher_gone(launcher, wait):
            shutil.rmtree(logs, ignore_errors=True)  # the launcher was killed: clean for it


#: The exit status of this worker (see :func:`_worker`).
_WORKER_STATUS = 1


class _Delivered:
    """A worker's result on its way to the launcher: pickled (as PyTorch sends it), it
    records the worker's success and arrives as the result itself."""

    def __init__(self, result: Any) -> None:
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        global _WORKER_STATUS
        _WORKER_STATUS = 0
        return _identity, (self.result,)


def _identity(result: Any) -> Any:
    return result


def _at_shutdown(fn: Callable[[], None]) -> None:
    """Call ``fn`` when the interpreter starts to shut down, before the ``atexit`` handlers
    (``threading``'s own hook, which ``concurrent.futures`` uses too; without it, nothing:
    the process ends as usual)."""
    hook = getattr(threading, "_register_atexit", None)
    if hook is not None:
        hook(fn)


def _end_worker() -> None:
    """At a worker's exit (multiprocessing's, once its result has gone to the launcher): a
    worker that made a process group ends here, with its exit handlers run but without the
    interpreter's teardown (:func:`gradlab.distributed.exit_without_teardown`). Handlers
    registered with ``threading`` before the worker started (``concurrent.futures``) are
    skipped: gradlab starts no threads of its own in a worker."""
    from gradlab.distributed import exit_without_teardown, made_a_group

    if made_a_group():
        exit_without_teardown(_WORKER_STATUS)


#: How long a worker stopped by a signal watches for its launcher's exit before it leaves
#: the log folder to the launcher (see :func:`_launcher_gone`).
LAUNCHER_EXIT_SECONDS = 0.5


def _launcher_gone(launcher: str, wait: float) -> bool:
    """Whether the launcher (process id ``launcher``) has exited or is exiting, watched
    for up to ``wait`` seconds.

    A launcher killed outright sends its workers SIGTERM (``PR_SET_PDEATHSIG``) when the
    thread that started them exits, which can come before the rest of the process has
    gone: for that moment the worker's parent is still the launcher's process id. So a
    worker stopped by a signal also reads the launcher's state (a zombie, or no process,
    is gone) and waits a little for it to change; a launcher that is alive and stopping
    its workers itself keeps its log folder and removes it afterwards.
    """
    deadline = time.monotonic() + wait
    while True:
        if str(os.getppid()) != launcher:
            return True
        try:
            state = Path(f"/proc/{launcher}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = "?"  # no /proc (not Linux): the parent id is all there is to go on
        if state in ("Z", "X"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


# ------------------------------------------------------------------ the launch


def _remove_stale_logs() -> None:
    """Remove the log folders of launchers that were killed before they could."""
    for folder in Path(tempfile.gettempdir()).glob(LOG_PREFIX + "*"):
        pid = folder.name[len(LOG_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                if folder.stat().st_uid == os.getuid():
                    shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # another user's live process


def _loopback_interface() -> str | None:
    with contextlib.suppress(OSError, AttributeError):
        for _, name in socket.if_nameindex():
            if name == "lo" or name.startswith("lo0"):
                return name
    return None


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


#: The signals torchelastic's agent turns into a stop of every worker while it runs.
_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")


def _signals_to_handle() -> str:
    """The signals torchelastic may handle, as its comma list: those of :data:`_SIGNALS`
    that this process does not ignore. A signal ignored here (SIGHUP under nohup) must
    stay ignored: torchelastic would handle it anyway, and the workers it spawns would not
    inherit the ignoring."""
    names = [name for name in _SIGNALS if hasattr(signal, name)]
    return ",".join(n for n in names if signal.getsignal(getattr(signal, n)) is not signal.SIG_IGN)


@contextlib.contextmanager
def _own_signal_handlers() -> Iterator[None]:
    """Put the caller's signal handlers back afterwards: torchelastic installs its own for
    the agent's run and leaves them (a notebook's Ctrl-C must work as before)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [getattr(signal, name) for name in _SIGNALS if hasattr(signal, name)]
    before = {sig: signal.getsignal(sig) for sig in signals}
    try:
        with _environment({"TORCHELASTIC_SIGNALS_TO_HANDLE": _signals_to_handle()}):
            yield
    finally:
        for sig, handler in before.items():
            if handler is not None:
                signal.signal(sig, handler)


@contextlib.contextmanager
def _starts_uninterrupted() -> Iterator[None]:
    """Hold a stopping signal that arrives while multiprocessing starts a worker, and
    deliver it once the worker has its start-up data.

    A worker is started by ``spawn``: the child runs, then reads its pickled start-up data
    from a pipe that this process writes. A Ctrl-C raised in this thread between the two
    closes the pipe half-written, and the child prints multiprocessing's own traceback
    (``EOFError: Ran out of input``) before any gradlab code runs in it. While a start is
    under way the Python handlers of SIGINT, SIGTERM and SIGHUP only note the signal; it
    is sent again, to this process, right after.
    """
    import threading

    try:
        from multiprocessing import popen_spawn_posix
    except ImportError:  # no POSIX spawn (Windows): nothing to guard
        yield
        return
    popen = popen_spawn_posix.Popen
    start = getattr(popen, "_launch", None)  # where the child starts and gets its data
    if start is None:  # another Python's multiprocessing: left as it is
        yield
        return
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    signals = [getattr(signal, name) for name in names if hasattr(signal, name)]

    def held(self: Any, process_obj: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return start(self, process_obj)
        pending: list[int] = []
        before = {sig: signal.getsignal(sig) for sig in signals}
        for sig, handler in before.items():
            if callable(handler):  # a Python handler: it would raise in this thread
                signal.signal(sig, lambda signum, frame: pending.append(signum))
        try:
            return start(self, process_obj)
        finally:
            for sig, handler in before.items():
                if callable(handler):
                    signal.signal(sig, handler)
            for signum in dict.fromkeys(pending):
                os.kill(os.getpid(), signum)  # to the process: a thread that takes it

    setattr(popen, "_launch", held)  # noqa: B010 (a private method, on purpose)
    try:
        yield
    finally:
        setattr(popen, "_launch", start)  # noqa: B010


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Start the workers with SIGINT blocked; each unblocks it once its handler is in place
    (:func:`_worker`).

    A terminal's Ctrl-C goes to the whole process group. A worker still importing PyTorch
    would print a KeyboardInterrupt traceback. A blocked signal waits instead, and the
    children inherit the mask of the thread that starts them, this one. This process
    still hears Ctrl-C: a thread started before the block, with SIGINT open, receives it,
    and Python runs the handler in the main thread, as for any signal.
    """
    import threading

    main = threading.current_thread() is threading.main_thread()
    if not main or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    from multiprocessing import resource_tracker

    # the tracker, started on the first spawn, unblocks SIGINT after starting itself
    # (it does not put the mask back): start it now, before the block
    resource_tracker.ensure_running()
    done = threading.Event()
    catcher = threading.Thread(target=done.wait, name="gradlab-sigint", daemon=True)
    catcher.start()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
        done.set()
        catcher.join()


@contextlib.contextmanager
def _quiet_torch_logs() -> Iterator[None]:
    """Silence torchelastic's own log lines while it runs: gradlab says what happened."""
    import torch.distributed.elastic.agent.server.local_elastic_agent
    import torch.distributed.elastic.multiprocessing.api
    import torch.multiprocessing.spawn  # noqa: F401  (its logger must exist to be silenced)

    loggers = [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name.startswith(("torch.distributed", "torch.multiprocessing"))
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _describe(rank: int, failure: Any, node_rank: int, nnodes: int) -> str:
    where = f" on node {node_rank}" if nnodes > 1 else ""
    who = f"worker rank {rank} (process {failure.pid}{where})"
    code = int(failure.exitcode)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{who} was killed by {name}"
    recorded = (getattr(failure, "error_file_data", None) or {}).get("message")
    if isinstance(recorded, dict):  # PyTorch's record of the exception
        recorded = recorded.get("message")
    message = str(recorded or failure.message or "")
    if message.startswith("To enable traceback") or not message:
        return f"{who} exited with status {code}"
    return f"{who} failed with status {code}: {message.strip().splitlines()[-1]}"


def _last_words(failure: Any, log_dir: Path, lines: int = 4) -> str:
    """The end of a failed worker's traceback (recorded by PyTorch) or of its stderr."""
    data = getattr(failure, "error_file_data", None) or {}
    stack = ""
    if isinstance(data.get("message"), dict):
        stack = str(data["message"].get("extraInfo", {}).get("py_callstack", ""))
    text = [t for t in stack.splitlines() if t.strip()]
    if not text:
        for path in sorted(log_dir.glob(f"**/attempt_*/{failure.local_rank}/stderr.log")):
            with contextlib.suppress(OSError):
                text = [t for t in path.read_text(errors="replace").splitlines() if t.strip()]
    return "\n".join(text[-lines:])


def _carried(rank: int, log_dir: Path) -> GradlabError | None:
    with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError):
        carried = pickle.loads((log_dir / f"error-{rank}.pickle").read_bytes())
        if isinstance(carried, _CarriedError):
            return carried.rebuild()
    return None


def _failed(failures: dict[int, Any], launch: Launch, log_dir: Path) -> GradlabError:
    """The error that explains a failed job: a worker killed by a signal, else a worker's
    own error (a gradlab error it raised, or a crash), before the consequences (workers
    that lost contact or were stopped)."""
    errors = {rank: _carried(rank, log_dir) for rank in failures}
    stopped = (int(ExitStatus.INTERRUPTED), int(ExitStatus.TERMINATED), int(ExitStatus.HANGUP))

    def order(rank: int) -> tuple[int, int]:
        code, error = failures[rank].exitcode, errors[rank]
        if code < 0:
            return (0, rank)
        if isinstance(error, LostContactError) or code in stopped:
            return (2, rank)
        return (1, rank)

    first = min(failures, key=order)
    error = errors[first]
    if error is not None:
        return error
    failure = failures[first]
    message = _describe(first, failure, launch.node_rank, launch.nnodes)
    message += "; every worker of the job was stopped."
    tail = _last_words(failure, log_dir) if failure.exitcode >= 0 else ""
    return WorkerError(message, hint=f"Its last words:\n{tail}" if tail else None)


def run(launch: Launch, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in ``launch.nproc`` workers on this machine; wait for the job.

    Each worker finds its rank, the world size and the rendezvous in its environment
    (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``,
    ``MASTER_PORT``), as under ``torchrun``. Global rank 0 keeps this process's stdout and
    stderr; the others' go to log files, quoted when they fail. ``fn`` and ``args`` are
    pickled to the workers (``spawn``).

    Returns
    -------
    The return value of ``fn`` on global rank 0 (None on nodes other than node 0).

    Raises
    ------
    UsageError
        Bad counts or endpoint; the rendezvous port is taken (named, with its holder).
    GradlabError
        The error a worker raised (a :class:`~gradlab.errors.DataError`, a
        :class:`~gradlab.errors.DivergenceError`...), raised again here.
    WorkerError
        A worker died, was killed or crashed (named, with its exit status), or a node or
        worker never arrived within the timeout (named).
    KeyboardInterrupt, Terminated
        This process got SIGINT (Ctrl-C) or SIGTERM; every worker was stopped.
    """
    host, port = launch.check()
    listener = listen(host, port) if launch.node_rank == 0 else None
    if listener is not None:
        port = listener.getsockname()[1]
        _LISTENERS[listener.fileno()] = listener
    _remove_stale_logs()
    log_dir = Path(tempfile.mkdtemp(prefix=f"{LOG_PREFIX}{os.getpid()}-"))
    env = {
        ENV_LAUNCHER: str(os.getpid()),
        ENV_LOGS: str(log_dir),
        JOIN_TIMEOUT_ENV: repr(launch.wait),
        # torchelastic's Python log lines and torch's C++ ones (read when torch loads):
        # gradlab's messages say what went wrong
        "LOGLEVEL": "ERROR",
        "TORCH_CPP_LOG_LEVEL": os.environ.get("TORCH_CPP_LOG_LEVEL", "FATAL"),
    }
    loopback = _loopback_interface()
    if _is_loopback(host) and loopback and "GLOO_SOCKET_IFNAME" not in os.environ:
        env["GLOO_SOCKET_IFNAME"] = loopback
    try:
        with (
            _environment(env),
            _quiet_torch_logs(),
            _own_signal_handlers(),
            _sigint_held(),
            _starts_uninterrupted(),
        ):
            return _launch(launch, host, port, listener, log_dir, fn, args)
    finally:
        # the store may have taken the socket and closed it already (a rendezvous that
        # timed out at once): its error, not a close's EBADF, is the one to report
        with contextlib.suppress(OSError):
            if listener is not None and _LISTENERS.pop(listener.fileno(), None) is not None:
                listener.close()  # the store never took it
        shutil.rmtree(log_dir, ignore_errors=True)


def _launch(
    launch: Launch,
    host: str,
    port: int,
    listener: socket.socket | None,
    log_dir: Path,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
) -> Any:
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, SignalException, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, launch_agent

    _register()
    # global rank 0 (node 0, local rank 0) prints; the others write to log files
    redirects = {r: Std.ALL for r in range(launch.nproc) if not (launch.node_rank == 0 and r == 0)}
    config = LaunchConfig(
        min_nodes=launch.nnodes,
        max_nodes=launch.nnodes,
        nproc_per_node=launch.nproc,
        run_id="gradlab",
        rdzv_backend=_BACKEND,
        rdzv_endpoint=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        rdzv_configs={
            "rank": launch.node_rank,
            "port": port,
            "wait": launch.wait,
            "listen_fd": None if listener is None else listener.fileno(),
        },
        max_restarts=0,
        monitor_interval=0.1,
        signals_to_handle=_signals_to_handle(),  # launch_agent sets its variable from it
        start_method="spawn",
        logs_specs=DefaultLogsSpecs(log_dir=str(log_dir), redirects=redirects),
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    # The call travels in a file, not in the spawn pipe: a worker that dies while it
    # starts (a script without the "__main__" guard) would leave the launcher blocked for
    # good writing a payload bigger than the pipe holds (multiprocessing keeps the pipe's
    # read end open until the write is done).
    payload = log_dir / "call.pickle"
    payload.write_bytes(pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL))
    try:
        values = launch_agent(config, _worker_of_file, [str(payload)])
    except ChildFailedError as exc:
        raise _failed(exc.failures, launch, log_dir) from None
    except SignalException as exc:
        if exc.sigval == signal.SIGINT:
            raise KeyboardInterrupt from None
        if exc.sigval == signal.SIGHUP:
            raise HungUp from None
        raise Terminated from None
    return values.get(0)
