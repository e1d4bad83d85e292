"""How a gradlab process ends: with the exit status it chose, whatever happened before.

Standard library only, so that it can be imported first and used even when a Ctrl-C
interrupted the import of everything else (:mod:`gradlab.__main__`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import NoReturn

from gradlab.errors import ExitStatus

#: Whether a thread was left inside a native call (:func:`left_a_native_thread`).
_NATIVE_THREAD_LEFT = False


def left_a_native_thread() -> None:
    """Note that a thread of this process was left inside a native call that cannot be
    interrupted (a PyTorch store client waiting on a connection), so that
    :func:`exit_with` ends the process without the interpreter's teardown.

    At teardown, CPython ends a daemon thread that wants the GIL back with
    ``pthread_exit``, whose unwinding through C++ frames can abort the whole process
    (seen as exit status -6 where the command had chosen 6).
    """
    global _NATIVE_THREAD_LEFT
    _NATIVE_THREAD_LEFT = True


def native_thread_left() -> bool:
    """Whether :func:`left_a_native_thread` was called in this process."""
    return _NATIVE_THREAD_LEFT


def exit_with(status: int) -> NoReturn:
    """Exit with ``status``, as ``raise SystemExit(status)`` does, also after a Ctrl-C that
    was caught and handled, and without the interpreter's teardown where nothing waits
    for it.

    The teardown (every module's objects freed, the libraries' thread pools joined) does
    nothing a finished command needs: gradlab's files are written and closed, and the
    ``atexit`` handlers still run (:func:`exit_without_teardown`). It added 29.6 ms to a
    one-epoch ``gradlab train softmax`` and 177 ms to a ``gradlab train mlp`` that had
    loaded numba's kernels and threads (the median difference over 16 rounds of
    ``python -m bench.experiments.exit_teardown``, the second with ``GRADLAB_NUMBA=1
    ... --model mlp``; 2026-12-01). So the process skips it, unless a thread that
    Python's exit waits for (one that is not a daemon) is still running: then it exits
    as usual, after that thread.

    CPython notes a KeyboardInterrupt that leaves an ``exec`` or ``eval`` of a string
    (``dataclasses`` and ``namedtuple`` make their methods that way, so an import can be
    one) in a flag. It does not clear the flag when outer code catches the exception, and
    at exit it then kills the process with SIGINT: status -2 where gradlab chose 130. Where
    the flag can be cleared (:func:`forget_caught_interrupt`), the process exits as usual;
    where it cannot and the status is Ctrl-C's, it exits without the interpreter's teardown
    (:func:`exit_without_teardown`), which never looks at the flag. A process that left a
    thread in a native call (:func:`left_a_native_thread`) also exits without teardown.
    """
    if _NATIVE_THREAD_LEFT or not _threads_to_wait_for():
        exit_without_teardown(status)
    if forget_caught_interrupt() or status != ExitStatus.INTERRUPTED:
        raise SystemExit(status)
    exit_without_teardown(status)


def _threads_to_wait_for() -> bool:
    """Whether a thread that Python's exit would wait for (not a daemon) still runs."""
    import threading

    main = threading.main_thread()
    return any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate())


def forget_caught_interrupt() -> bool:
    """Clear CPython's record of an interrupted ``exec`` (see :func:`exit_with`); False
    where this interpreter keeps it elsewhere (CPython 3.12 and later keep it inside
    ``_PyRuntime``, out of reach) and it could not be cleared."""
    import ctypes

    try:
        flag = ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt")
    except (AttributeError, ValueError, OSError):
        return False
    flag.value = 0
    return True


def exit_without_teardown(status: int) -> NoReturn:
    """End this process with ``status`` the way a normal exit does, less the interpreter's
    teardown: the ``atexit`` handlers run, standard output and error (and C's buffers) are
    flushed, then :func:`os._exit`.

    For a worker that made a process group: the gloo threads of a group outlive it (see
    :func:`gradlab.engines.distributed.leave`), and tearing the interpreter down under them
    can abort the worker after its work is done and saved. And for a Ctrl-C that CPython
    would turn into a death by SIGINT (:func:`exit_with`).
    """
    atexit._run_exitfuncs()
    _flush_standard_streams()
    with contextlib.suppress(OSError, AttributeError):  # C's buffers too (torch's own output)
        import ctypes

        ctypes.CDLL(None).fflush(None)
    os._exit(status)


#: Seconds a stop signal (Ctrl-C, SIGTERM, SIGHUP) may wait for the main thread to take it
#: before :class:`StopDeadline` ends the process; under gradlab's launcher, below the
#: seconds it gives a worker before SIGKILL (``SHUTDOWN_SECONDS``, 5).
STOP_GRACE_SECONDS = 3.0

#: The stop signals' statuses, by signal number (128 + the number, as a shell reports it).
_STOP_STATUSES = {
    int(status) - 128: status
    for status in (ExitStatus.INTERRUPTED, ExitStatus.TERMINATED, ExitStatus.HANGUP)
}


class StopDeadline:
    """End this process with a stop signal's status when its main thread cannot take it.

    Python runs a signal's handler in the main thread, between two bytecodes. A main thread
    inside a native call that waits for good never gets there: a PyTorch worker whose
    partner died can wait in DDP's gradient reduction until the collective's timeout
    (300 s), and a SIGTERM from its launcher did nothing; torchrun killed it 30 s later,
    and named it as failed beside the worker that died (seen in 2 of 40 runs under load
    of ``tests/test_distributed_jobs.py``'s torchrun test).

    The signal still reaches Python's C handler, which writes its number to the wakeup fd
    (:func:`signal.set_wakeup_fd`). A daemon thread reads it there; if the main thread has
    not run a stop handler (:meth:`took`) within ``grace`` seconds, the thread says so on
    standard error, flushes the streams and ends the process with the signal's status
    (130, 143 or 129), without the ``atexit`` handlers, which could wait on the same call.
    The files gradlab writes are replaced whole (:func:`gradlab.io.atomic_path`), so
    none is left half-written; the temporary files of the writes under way are removed.

    Made in the main thread of a job's worker (:func:`a_worker_of_several`, checked by the
    CLI), while no other code uses the wakeup fd (else it does nothing: :attr:`active` is
    False). A forked child forgets it (the pipe is the parent's).
    """

    def __init__(self, grace: float | None = None) -> None:
        import signal
        import threading

        self.grace = STOP_GRACE_SECONDS if grace is None else grace
        self.active = False
        self._taken = threading.Event()
        read, write = os.pipe()
        os.set_blocking(write, False)
        try:
            previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        except ValueError:  # not the main thread
            previous = -2
        if previous != -1:  # someone else's (an event loop), or not the main thread
            if previous >= 0:
                signal.set_wakeup_fd(previous)
            os.close(read)
            os.close(write)
            return
        self.active = True
        self._read, self._write = read, write
        _DEADLINES.append(self)
        self._thread = threading.Thread(
            target=self._watch, name="gradlab-stop-deadline", daemon=True
        )
        self._thread.start()

    def took(self) -> None:
        """Note that the main thread ran a stop signal's handler: it is acting on it."""
        self._taken.set()

    def close(self) -> None:
        """Give the wakeup fd back and end the watching thread."""
        if not self.active:
            return
        import signal

        self.active = False
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        _DEADLINES.remove(self)
        os.close(self._write)  # the thread reads the end of the pipe, and closes it
        self._thread.join(timeout=1)

    def _watch(self) -> None:
        try:
            signum = self._first_stop()
            if signum is not None and not self._taken.wait(self.grace) and self.active:
                self._end(signum)
            while os.read(self._read, 64):  # later signals, until close()
                pass
        finally:
            os.close(self._read)

    def _first_stop(self) -> int | None:
        """The number of the first stop signal written to the pipe; None once it closes."""
        while got := os.read(self._read, 64):
            for signum in got:
                if signum in _STOP_STATUSES:
                    return signum
        return None

    def _end(self, signum: int) -> NoReturn:
        import signal

        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.write(
                f"gradlab: {signal.Signals(signum).name} came while the run was inside a "
                f"call that did not return within {self.grace:g} s; ending the process\n"
            )
        _flush_standard_streams()
        # the main thread's writes will not unwind: remove their temporary files (only if
        # gradlab.io was loaded: an import here could wait on a lock the main thread holds)
        io = sys.modules.get("gradlab.io")
        if io is not None:
            io.remove_parts_under_way()
        os._exit(_STOP_STATUSES[signum])


#: The :class:`StopDeadline` in force (at most one).
_DEADLINES: list[StopDeadline] = []


def _forget_deadlines_in_child() -> None:
    if _DEADLINES:
        import signal

        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        for deadline in _DEADLINES:
            deadline.active = False
        _DEADLINES.clear()


os.register_at_fork(after_in_child=_forget_deadlines_in_child)


def a_worker_of_several() -> bool:
    """Whether this process is one worker of a job of several (``WORLD_SIZE`` above 1, as
    torchrun and gradlab's launcher set it): where a partner's death can leave the main
    thread waiting inside a collective, the one place :class:`StopDeadline` is armed.

    Elsewhere a stop's handler may be another's, as in a launcher, where PyTorch's elastic
    agent takes Ctrl-C with its own handler and then stops its workers for several
    seconds: a deadline there ended the launcher before its workers (seen in the clean
    clone's run of ``test_ctrl_c_while_the_workers_start_prints_no_traceback``)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def stop_taken() -> None:
    """Note, for the :class:`StopDeadline` in force, that the main thread ran a stop
    signal's handler (called by the CLI's handlers)."""
    for deadline in _DEADLINES:
        deadline.took()


def _flush_standard_streams() -> None:
    """Flush standard output and error, whatever state they are in (closed, replaced)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
