"""``python -m gradlab`` and the ``gradlab`` command: :func:`main`.

This module imports nothing at its top but :mod:`sys`, so that a Ctrl-C in the first
milliseconds, while everything else is imported, already meets :func:`main`'s handler.
(One that comes sooner, while Python itself starts, gets Python's own traceback: nothing
of gradlab's runs yet.)
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time (see above)
if TYPE_CHECKING:
    from typing import Any


def main() -> None:
    """Load the command line and run it (:func:`gradlab.cli.run`, which exits with the
    command's status); a Ctrl-C while it loads ends with status 130 and a line, not a
    traceback."""
    try:
        sys.unraisablehook = _stops_raised_again(sys.unraisablehook)
        with _CtrlCWaits():
            from gradlab.cli import preload, run

            preload(sys.argv[1:])
    except KeyboardInterrupt:
        # nothing of gradlab's may be loaded (the Ctrl-C came inside its imports): end
        # here, as gradlab.process.exit_without_teardown would, with the status of Ctrl-C
        import os

        sys.stderr.flush()
        os.write(2, b"gradlab: interrupted\n")
        os._exit(130)
    run()


class _CtrlCWaits:
    """While the block runs, a Ctrl-C is noted, not raised; it is raised as the block ends.

    For the imports before a command runs (a few hundred milliseconds). A Ctrl-C raised
    inside an import can be lost, or turned into another error, by code that was not
    written for it: NumPy's C extensions reported one as "Importing the numpy
    C-extensions failed" (an ImportError, status 1), and one inside the callback that
    releases a module's lock was printed and ignored (the command then ran to the end).
    A second Ctrl-C is raised at once, for an import that hangs (a slow network drive).
    Where Ctrl-C is ignored (a job started in the background) it stays ignored.
    """

    def __enter__(self) -> None:
        import signal

        self.came = False
        self.previous: Any = None
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            try:
                self.previous = signal.signal(signal.SIGINT, self._note)
            except ValueError:  # not the main thread: nothing to hold
                self.previous = None

    def _note(self, signum: int, frame: object) -> None:
        if self.came:  # pressed again: an import that hangs must not hold it back
            raise KeyboardInterrupt
        self.came = True

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        if self.came and kind is None:
            raise KeyboardInterrupt


def _stops_raised_again(previous: Any) -> Any:
    """A :data:`sys.unraisablehook` that does not let a Ctrl-C be lost.

    Python cannot raise an exception out of a weak reference's callback or a ``__del__``:
    it prints it ("Exception ignored in ...") and goes on. A Ctrl-C that arrives while
    such a callback runs (the import system runs one as each module's lock is released)
    was printed that way, and the command went on to the end with status 0. Instead, the
    stop is raised again in the main thread, where the command's handlers see it: Ctrl-C
    as SIGINT, and the CLI's :class:`~gradlab.errors.Terminated` and
    :class:`~gradlab.errors.HungUp` as SIGTERM and SIGHUP (which then raise them again).
    Anything else goes to ``previous``.
    """
    import _thread
    import signal

    def hook(unraisable: Any) -> None:
        exc = unraisable.exc_value
        if not isinstance(exc, KeyboardInterrupt):
            previous(unraisable)
            return
        errors = sys.modules.get("gradlab.errors")  # only the CLI raises its subclasses
        signum = signal.SIGINT
        if errors is not None and isinstance(exc, errors.HungUp):
            signum = signal.SIGHUP
        elif errors is not None and isinstance(exc, errors.Terminated):
            signum = signal.SIGTERM
        # as if the signal came again, from another thread, so that it is raised after
        # this hook returns (raised in here, it would be printed and lost too); nothing
        # happens where the signal is ignored or has its default action (once the CLI
        # chose its status, say)
        _thread.start_new_thread(_thread.interrupt_main, (signum,))

    return hook


if __name__ == "__main__":
    main()
