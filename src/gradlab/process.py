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
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    with contextlib.suppress(OSError, AttributeError):  # C's buffers too (torch's own output)
        import ctypes

        ctypes.CDLL(None).fflush(None)
    os._exit(status)
