"""The ``gradlab`` command: parse arguments, run one command, map errors to exit statuses.

Each command lives in :mod:`gradlab.commands` as a module with
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import only
light things at module level (NumPy at most); SymPy, matplotlib, PyTorch and
TensorFlow are imported inside ``run``, so ``--help`` is quick and no command
pays for an engine it does not use.

:func:`main` is the one place where errors become exit statuses (see
:class:`~gradlab.errors.ExitStatus`): a :class:`~gradlab.errors.GradlabError` becomes
its message on stderr (and, under ``--json``, one JSON object on stdout), Ctrl-C and
SIGTERM (and SIGHUP, a closed terminal) stop the run cleanly, and no user input produces a
traceback.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import importlib
import io
import json
import os
import re
import signal
import sys
import threading
import traceback
import unicodedata
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TextIO

from gradlab import __version__
from gradlab.errors import (
    DivergenceError,
    ExitStatus,
    GradlabError,
    HungUp,
    ResourceError,
    Terminated,
    stop_reason,
    stop_status,
)
from gradlab.io import check_out_dir, check_out_names, run_lock
from gradlab.process import (
    StopDeadline,
    a_worker_of_several,
    exit_with,
    exit_without_teardown,
    stop_taken,
)

#: command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "tour": ("tour", "run the whole curriculum on built-in data and write an HTML report"),
    "descend": ("descend", "gradient descent on a function of x (and y)"),
    "linreg": ("linreg", "linear regression by gradient descent, beside the closed form"),
    "train": ("train", "softmax regression or an MLP on digits, MNIST or Fashion-MNIST"),
    "lr-find": ("lr_find", "the learning-rate range test: which rate to train a classifier with"),
    "predict": ("predict", "a saved model's predictions: image grid and confusion matrix"),
    "compare": ("compare", "engines (numpy, torch, tensorflow) and descent methods side by side"),
    "bench": ("bench", "side by side: gradlab, tutorials, scikit-learn, JAX, Keras, the floor"),
    "env": ("env", "versions, BLAS, threads and devices of this machine"),
}

#: Commands whose only files are plots: with --no-plots they write nothing, so they
#: neither create nor lock their --out folder.
PLOTS_ONLY = frozenset({"descend", "linreg", "compare"})


class _ArgumentError(Exception):
    """A command-line usage error, raised instead of argparse's exit so --json can report it."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message
        self.hint: str | None = None


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What argparse reads as a value although it starts with a dash. Python 3.11's
        # pattern for a negative number has no exponent ("-1e5" was taken for an option):
        # accept what newer Pythons accept (a dash, then a digit or a point and a digit),
        # and a formula no option name could be ("-x**2", "-sin(x)").
        self._negative_number_matcher = re.compile(r"-\.?\d|-[^-].*[*/^()+ ]")

    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(self, message)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``only`` the arguments of that one command
    (with ``only=""``, of none).

    Every command is listed either way (``gradlab --help`` needs only the names
    and help lines in :data:`COMMANDS`); a command's module is imported to add
    its arguments, so a run that names its command imports no other.
    """
    parser = _Parser(
        prog="gradlab",
        description="Learn and run machine learning by gradient descent.",
        epilog="Run 'gradlab COMMAND --help' for a command's options. Exit statuses: "
        + ", ".join(f"{s.value} {s.name.lower()}" for s in ExitStatus)
        + ".",
    )
    parser.add_argument("--version", action="version", version=f"gradlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:])
        if only is None or name == only:
            _command(name).add_arguments(p)
    return parser


def _refuse_unknown(
    parser: argparse.ArgumentParser, command: str | None, argv: list[str], unknown: list[str]
) -> NoReturn:
    """Refuse arguments no parser took: those after the command by the command's own
    parser (its usage, its options), those before it by the top level's."""
    if command is None:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    where = argv.index(command) if command in argv else len(argv)
    before = [a for a in unknown if a in argv[:where]]
    if before:
        exc = _ArgumentError(parser, f"unrecognized arguments: {' '.join(before)}")
        exc.hint = f"A command's options go after it: gradlab {command} {' '.join(before)} ..."
        raise exc
    _parser_of(parser, command).error(f"unrecognized arguments: {' '.join(unknown)}")


def _parser_of(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The parser of ``command`` (``parser`` itself without one)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]  # type: ignore[no-any-return]
    return parser


def _command(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"gradlab.commands.{COMMANDS[name][0]}")


def _command_word(argv: Sequence[str]) -> str | None:
    """The command that ``argv`` names, if any: its first word that is not an option
    (a command's options come after it)."""
    return next((a for a in argv if not a.startswith("-")), None)


def preload(argv: Sequence[str]) -> None:
    """Import the module of the command that ``argv`` names, as :func:`main` will, with
    what it imports (NumPy, for most): :func:`gradlab.__main__.main` does it while a
    Ctrl-C waits (see there)."""
    first = _command_word(argv)
    if first in COMMANDS:
        _command(first)


def run() -> NoReturn:
    """The ``gradlab`` command (and ``python -m gradlab``): :func:`main`, then exit with its
    status (:func:`gradlab.process.exit_with`); a worker that made a process group exits
    without the interpreter's teardown (:func:`gradlab.process.exit_without_teardown`)."""
    try:
        with _stop_signals_as_exceptions():
            status = main()
    except KeyboardInterrupt as exc:  # before a command took charge (the parser was built)
        status = _interrupted("gradlab", exc, "--json" in sys.argv[1:])
    except Exception as exc:
        interrupt = _interrupt_behind(exc)
        if interrupt is not None:  # an import that a Ctrl-C broke
            status = _interrupted("gradlab", interrupt, "--json" in sys.argv[1:])
        elif not _made_a_group():
            raise
        else:
            traceback.print_exc()  # a crash, as Python reports it
            status = 1
    # the status is chosen and said: a signal now would only replace it with a death by
    # that signal (or a traceback), after the work was done and reported
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
    if _made_a_group():
        exit_without_teardown(status)
    exit_with(status)


def _made_a_group() -> bool:
    """Whether this process made a process group (never, if it did not load the module
    that makes them)."""
    dist = sys.modules.get("gradlab.distributed")
    return dist is not None and bool(dist.made_a_group())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (see :class:`ExitStatus`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first = _command_word(argv)
    # without a command (--help, --version, a typo) the commands' own options are not
    # needed, and their modules are not imported
    parser = build_parser(first if first in COMMANDS else "")
    wants_json = "--json" in argv
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            _refuse_unknown(parser, args.command, argv, unknown)
    except _ArgumentError as exc:
        exc.parser.print_usage(sys.stderr)
        print(_shown(f"{exc.parser.prog}: error: {exc.message}"), file=sys.stderr)
        hint = exc.hint or _dash_hint(argv)
        if hint:
            print(_shown(hint), file=sys.stderr)
        if wants_json:
            _print_error_json("usage", exc.message, hint, ExitStatus.USAGE)
        return ExitStatus.USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitStatus.USAGE
    wants_json = bool(getattr(args, "json", False))
    name = args.command
    try:
        with _stop_signals_as_exceptions(), _warnings_as_lines(name), _stdout_takes_any_name():
            return _run(name, args)
    except GradlabError as exc:
        print(_shown(f"gradlab {name}: error: {exc.message}"), file=sys.stderr)
        if exc.hint:
            print(_shown(exc.hint), file=sys.stderr)
        if wants_json:
            extra = _divergence_fields(exc) if isinstance(exc, DivergenceError) else {}
            _print_error_json(exc.kind, exc.message, exc.hint, exc.exit_status, **extra)
        return int(exc.exit_status)
    except BrokenPipeError:  # e.g. `gradlab descend ... | head -1`: the reader left
        # Whatever was left to do was not done: not a success, but no message either (the
        # reader is gone), as a Unix tool ends on SIGPIPE. Nothing more reaches the
        # closed stream, not even the flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull, stream.fileno())
        return ExitStatus.BROKEN_PIPE
    except OSError as exc:  # one no code path reworded (a path too long, a full disk)
        interrupt = _interrupt_behind(exc)
        if interrupt is not None:  # said while stopping: the closed terminal of a SIGHUP
            return _interrupted(f"gradlab {name}", interrupt, wants_json)
        from gradlab.io import os_error

        err = os_error(exc)
        print(_shown(f"gradlab {name}: error: {err.message}\n{err.hint}"), file=sys.stderr)
        if wants_json:
            _print_error_json(err.kind, err.message, err.hint, err.exit_status)
        return int(err.exit_status)
    except MemoryError:
        err = ResourceError(
            "ran out of memory.",
            hint="Ask for less: a smaller data set, model or batch, or fewer steps. Files "
            "written before this point (a checkpoint among them) are intact.",
        )
        print(f"gradlab {name}: error: {err.message}\n{err.hint}", file=sys.stderr)
        if wants_json:
            _print_error_json(err.kind, err.message, err.hint, err.exit_status)
        return int(err.exit_status)
    except KeyboardInterrupt as exc:
        return _interrupted(f"gradlab {name}", exc, wants_json)
    except Exception as exc:
        interrupt = _interrupt_behind(exc)
        if interrupt is None:
            raise
        # a Ctrl-C (or SIGTERM) inside an import, which the module turned into its own
        # error: matplotlib's ft2font, NumPy's "your installation is broken"
        return _interrupted(f"gradlab {name}", interrupt, wants_json)


def _interrupted(who: str, exc: KeyboardInterrupt, wants_json: bool) -> int:
    """Say that Ctrl-C (or SIGTERM, or SIGHUP) stopped the run, as a line (unless the
    command said so already) and with ``--json`` as the error object; return 130 (143, 129).

    After SIGHUP the terminal may be gone, and writing to it fails: the status is still
    the signal's."""
    status = stop_status(exc)
    what = stop_reason(exc)
    with contextlib.suppress(OSError, ValueError):
        if not getattr(exc, "said", False):  # a command that said it, with what it saved
            print(f"{who}: {what}", file=sys.stderr)
        if wants_json:  # with what the command saved, where it says (train: the checkpoint)
            details = getattr(exc, "details", None)
            extra = details if isinstance(details, dict) else {}
            _print_error_json(status.name.lower(), what, None, status, **extra)
    return int(status)


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (or Terminated) that ``exc`` was raised from or while handling,
    however deep in its chain; None when there is none."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _dash_hint(argv: Sequence[str]) -> str | None:
    """What to do when a value that starts with a minus was read as an option (``-x``)."""
    dashed = next((a for a in argv if re.fullmatch(r"-[^-\d.h]\w*", a)), None)
    if dashed is None:
        return None
    return (
        f"'{dashed}' reads as an option. Write a formula that starts with a minus as "
        f"'0{dashed}', and an option's value as --option={dashed}."
    )


def _run(name: str, args: argparse.Namespace) -> int:
    """Check and take the --out folder, then run the command."""
    out = getattr(args, "out", None)
    if not isinstance(out, Path):
        return int(_command(name).run(args))
    # a bad --out is reported now, not after the data is loaded or a model trained
    check_out_dir(out, create=False)
    check_out_names(out, getattr(_command(name), "OUTPUTS", ()))
    if name in PLOTS_ONLY and getattr(args, "no_plots", False):
        return int(_command(name).run(args))
    locks = getattr(_command(name), "locks_out", None)  # a command may write nothing here
    if locks is not None and not locks(args):
        return int(_command(name).run(args))
    with run_lock(out):
        return int(_command(name).run(args))


#: Characters that change what a terminal shows, besides the C0 and C1 controls: the
#: bidirectional overrides and isolates (text that reads in another order than it is).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _shown(text: str) -> str:
    """``text`` as it may reach a terminal: control characters (but newlines and tabs),
    bidirectional overrides and lone surrogates (from a file's contents or a path, say)
    written as their escapes; any other text, in any script, as it is."""
    return "".join(
        c.encode("unicode_escape", "backslashreplace").decode("ascii")
        if (c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cs")) or c in _BIDI
        else c
        for c in text
    )


@contextlib.contextmanager
def _warnings_as_lines(name: str) -> Iterator[None]:
    """While the block runs, a warning prints as one line, ``gradlab NAME: warning: ...``,
    as the command's errors do, rather than as Python's file, line and source."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        print(_shown(f"gradlab {name}: warning: {message}"), file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _write_unencodable(exc: UnicodeError) -> tuple[bytes, int]:
    """The ``errors`` handler of stdout while a command runs (``"gradlab.unencodable"``).

    A file name's bytes that are not UTF-8 reach Python as lone surrogates (in ``sys.argv``
    as in ``os.listdir``); they are written back as those bytes, as ``ls`` and Python's own
    stdout under the C locale do. Any other character the terminal's encoding lacks is
    written as a backslash escape. Either way the result is printed, not a traceback.
    """
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    pieces = [
        bytes([ord(c) - 0xDC00])
        if "\udc80" <= c <= "\udcff"
        else c.encode("ascii", "backslashreplace")
        for c in exc.object[exc.start : exc.end]
    ]
    return b"".join(pieces), exc.end


codecs.register_error("gradlab.unencodable", _write_unencodable)


@contextlib.contextmanager
def _stdout_takes_any_name() -> Iterator[None]:
    """While the block runs, stdout writes what its encoding cannot (see
    :func:`_write_unencodable`) instead of raising UnicodeEncodeError, which under a UTF-8
    locale it does for the name of a file that is not UTF-8 (``--out $'run\\xff'``)."""
    stream = sys.stdout
    errors = getattr(stream, "errors", None)
    if errors != "strict" or not isinstance(stream, io.TextIOWrapper):
        yield
        return
    stream.reconfigure(errors="gradlab.unencodable")
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):  # a closed stream (a reader that left)
            stream.reconfigure(errors=errors)


@contextlib.contextmanager
def _stop_signals_as_exceptions() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` and SIGHUP :class:`HungUp`
    (both handled like Ctrl-C). A SIGHUP that is ignored (``nohup``) stays ignored, as does
    an ignored Ctrl-C. In a worker of a job, a stop that the main thread cannot take, being
    inside a native call that does not return (a collective whose partner died), ends the
    process after a few seconds all the same (:class:`gradlab.process.StopDeadline`).

    Only the main thread can install signal handlers; elsewhere (a test runner's
    worker thread, say) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop_taken()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise HungUp if signum == signal.SIGHUP else Terminated

    signums = [signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signums.append(signal.SIGHUP)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signums.append(signal.SIGINT)
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    # a job's worker only; does nothing inside another's block
    deadline = StopDeadline() if a_worker_of_several() else None
    try:
        yield
    finally:
        if deadline is not None:
            deadline.close()
        for signum, before in previous.items():
            signal.signal(signum, before)


def _divergence_fields(exc: DivergenceError) -> dict[str, Any]:
    fields = {"iteration": exc.iteration, "loss": exc.loss, "last_params": exc.last_params}
    if exc.losses:  # the curve until then, where the descent recorded one
        fields["losses"] = exc.losses
    return fields


def _print_error_json(kind: str, message: str, hint: str | None, status: int, **extra: Any) -> None:
    """One JSON object on stdout describing the error (``--json``)."""
    from gradlab.io import finite_json

    error = {"kind": kind, "message": message, "hint": hint, "exit_status": int(status), **extra}
    sys.stdout.write(json.dumps({"error": finite_json(error)}, indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()
