"""Errors and exit statuses.

Every error a user can cause derives from :class:`GradlabError`. The CLI turns
them into a one-paragraph message on stderr and the error's exit status, with no
traceback. Library users can catch them by the builtin they also subclass
(``ValueError`` for bad values, ``ImportError`` for a missing engine, ...).
"""

from __future__ import annotations

import errno
import os
import shlex
import sys
from enum import IntEnum
from pathlib import Path
from typing import Any

__all__ = [
    "CompiledStepWarning",
    "DataError",
    "DivergenceError",
    "DownloadError",
    "ExitStatus",
    "GradlabError",
    "GradlabWarning",
    "InvalidParameterError",
    "MissingDependencyError",
    "MissingFileError",
    "OutOfMemoryError",
    "ResourceError",
    "UsageError",
    "WorkerError",
    "install_command",
]


class ExitStatus(IntEnum):
    """Exit statuses of the ``gradlab`` command."""

    OK = 0
    ERROR = 1  #: an unexpected failure (a bug: please report it)
    USAGE = 2  #: bad arguments or bad input data; the message says what to fix
    DIVERGED = 3  #: training diverged (non-finite or exploding loss)
    DOWNLOAD = 4  #: a data set could not be fetched from any mirror
    RESOURCE = 5  #: the machine ran out of disk space or memory, or a file could not be written
    WORKER = 6  #: a worker of a data-parallel job failed, was killed or never joined
    HANGUP = 129  #: stopped by SIGHUP: the terminal it ran in was closed (128 + 1)
    INTERRUPTED = 130  #: stopped by Ctrl-C (SIGINT)
    BROKEN_PIPE = 141  #: the reader of the output left (128 + SIGPIPE, as for any Unix tool)
    TERMINATED = 143  #: stopped by SIGTERM (128 + 15, as a shell reports it)


class GradlabError(Exception):
    """Base class of the errors a user can cause.

    Parameters
    ----------
    message : str
        What went wrong, naming the bad value, file, line or parameter.
    hint : str, optional
        What to do about it.
    """

    exit_status: ExitStatus = ExitStatus.ERROR
    #: a short machine-readable name, reported under ``--json``
    kind: str = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n{self.hint}"
        return self.message


class UsageError(GradlabError, ValueError):
    """A parameter has a bad value (a learning rate of -1, an unknown engine...)."""

    exit_status = ExitStatus.USAGE
    kind = "usage"


class InvalidParameterError(UsageError, TypeError):
    """A parameter fails its declared constraint (:func:`gradlab.params.validate`): a
    ValueError and a TypeError both, as scikit-learn's ``InvalidParameterError`` is, since
    the bad value may be of the wrong type (``lr="0.01"``) or out of range (``lr=-1``)."""


class DataError(GradlabError, ValueError):
    """Input data is malformed (a CSV cell that is no number, a truncated IDX file...)."""

    exit_status = ExitStatus.USAGE
    kind = "data"


class MissingFileError(DataError, FileNotFoundError):
    """A file given as input does not exist (or is a link that leads to no file).

    A :class:`DataError` (the CLI exits with status 2 and says what to check) and a
    :class:`FileNotFoundError` both, so Python code catches it as it would catch
    :func:`open`'s: ``errno`` is ``ENOENT`` and ``filename`` the path.

    Parameters
    ----------
    message : str
        What is missing, naming the file.
    hint : str, optional
        What to do about it.
    path : str or os.PathLike, optional
        The file that is missing (``filename``).
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.errno = errno.ENOENT
        self.strerror = os.strerror(errno.ENOENT)
        self.filename = None if path is None else os.fspath(path)

    def __reduce__(self) -> tuple[Any, ...]:
        # OSError's own would call the class with (errno, strerror, filename)
        return _missing_file, (type(self), self.message, self.hint, self.filename)


def _missing_file(
    cls: type[MissingFileError], message: str, hint: str | None, path: str | None
) -> MissingFileError:
    """Unpickle a :class:`MissingFileError` (see its ``__reduce__``)."""
    return cls(message, hint=hint, path=path)


#: PyTorch's wheels for the CPU alone (PyPI's Linux wheels bring CUDA's, gigabytes of them).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def install_command(extra: str) -> str:
    """The command that installs gradlab's optional ``extra`` ("torch", "tensorflow",
    "fast"): pinned by the checkout's ``constraints.txt`` where gradlab runs from a checkout
    (named by its full path, so it works from any folder); else from the package index,
    PyTorch from its CPU wheels."""
    constraints = Path(__file__).resolve().parents[2] / "constraints.txt"
    if constraints.is_file():
        index = f" --extra-index-url {TORCH_CPU_INDEX}" if extra == "torch" else ""
        return f"pip install 'gradlab[{extra}]' -c {shlex.quote(str(constraints))}{index}"
    if extra == "torch":
        return f"pip install 'gradlab[torch]' --extra-index-url {TORCH_CPU_INDEX}"
    return f"pip install 'gradlab[{extra}]'"


class MissingDependencyError(GradlabError, ImportError):
    """An optional engine (PyTorch, TensorFlow) is not installed."""

    exit_status = ExitStatus.USAGE
    kind = "missing-dependency"

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed, and this needs it.",
            hint=f"Install it with: {install_command(extra)}",
        )
        self.package = package
        self.extra = extra


class DownloadError(GradlabError, OSError):
    """No mirror could deliver a data set file."""

    exit_status = ExitStatus.DOWNLOAD
    kind = "download"


class ResourceError(GradlabError, OSError):
    """The machine ran out of something: disk space while writing a file, or memory.

    Raised for a write that fails part-way (no space left, a read-only file system,
    a folder where a file should go); the file being written is left as it was.
    """

    exit_status = ExitStatus.RESOURCE
    kind = "resource"


class WorkerError(GradlabError, RuntimeError):
    """A worker process of a data-parallel job failed, was killed or never joined (or a
    node never reached the rendezvous); the whole job was stopped. The message names the
    worker."""

    exit_status = ExitStatus.WORKER
    kind = "worker"


class GradlabWarning(UserWarning):
    """Base of the warnings gradlab gives, so they can be filtered together::

        warnings.filterwarnings("ignore", category=gradlab.errors.GradlabWarning)

    (scikit-learn's ``DataConversionWarning`` for a column-vector ``y`` stays
    scikit-learn's, as its estimator checks expect.)"""


class CompiledStepWarning(GradlabWarning, RuntimeWarning):
    """numba is installed, but a compiled step cannot be used: the NumPy passes run instead,
    with the same numbers, more slowly."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception by the CLI so it unwinds like Ctrl-C.

    Subclassing ``KeyboardInterrupt`` means every ``except KeyboardInterrupt`` that
    keeps the last checkpoint and cleans up temporary files handles it the same way.
    """


class HungUp(Terminated):
    """SIGHUP (the terminal the run was started from was closed), turned into an exception
    by the CLI as SIGTERM is. Not raised where SIGHUP is ignored, as under ``nohup``."""


def stop_status(exc: KeyboardInterrupt) -> ExitStatus:
    """The exit status of a run that ``exc`` stopped: 129 for SIGHUP, 143 for SIGTERM, 130
    for Ctrl-C."""
    if isinstance(exc, HungUp):
        return ExitStatus.HANGUP
    if isinstance(exc, Terminated):
        return ExitStatus.TERMINATED
    return ExitStatus.INTERRUPTED


def stop_reason(exc: KeyboardInterrupt) -> str:
    """How a run that ``exc`` stopped is reported: "interrupted" (Ctrl-C), "stopped by
    SIGTERM", "stopped by SIGHUP"."""
    status = stop_status(exc)
    if status == ExitStatus.INTERRUPTED:
        return "interrupted"
    return "stopped by SIGHUP" if status == ExitStatus.HANGUP else "stopped by SIGTERM"


class OutOfMemoryError(GradlabError, MemoryError):
    """Training ran out of memory (host or GPU) after it had started; the last checkpoint
    written is intact."""

    exit_status = ExitStatus.RESOURCE
    kind = "out-of-memory"


class DivergenceError(GradlabError, ArithmeticError):
    """The loss became non-finite or exploded during descent.

    Attributes
    ----------
    iteration : int
        The step (counted from 1) at which the loss went bad.
    loss : float
        The offending loss value.
    last_params : dict
        The last parameters for which the loss was finite.
    losses : list of float
        The loss on all the data after each epoch that ended before the loss went bad
        (epoch 0 is the start), where the descent recorded them; else empty.
    """

    exit_status = ExitStatus.DIVERGED
    kind = "diverged"

    def __init__(
        self,
        message: str,
        *,
        iteration: int,
        loss: float,
        last_params: dict[str, Any],
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.iteration = iteration
        self.loss = loss
        self.last_params = last_params
        self.losses: list[float] = []


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def outside_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first line outside gradlab.

    Call it in the ``warnings.warn`` of a gradlab function: however deep in the package
    the warning is raised, Python then reports the line of the user's code that called
    into gradlab (``model.fit(X, y)``), as scikit-learn's warnings do.
    """
    frame = sys._getframe(1)  # the function that warns: stacklevel 1
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
