"""The ``gradlab`` command: parse arguments, run one command, map errors to exit statuses.

Each command lives in :mod:`gradlab.commands` as a module with
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import only
light things at module level (NumPy at most); SymPy, matplotlib, PyTorch and
TensorFlow are imported inside ``run``, so ``--help`` is quick and no command
pays for an engine it does not use.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gradlab import __version__
from gradlab.errors import ExitStatus, GradlabError
from gradlab.io import check_out_dir

#: command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "tour": ("tour", "run the whole curriculum on built-in data and write an HTML report"),
    "descend": ("descend", "gradient descent on a function of x (and y)"),
    "linreg": ("linreg", "linear regression by gradient descent, beside the closed form"),
    "train": ("train", "softmax regression or an MLP on digits, MNIST or Fashion-MNIST"),
    "predict": ("predict", "a saved model's predictions: image grid and confusion matrix"),
    "compare": ("compare", "engines (numpy, torch, tensorflow) and descent methods side by side"),
    "bench": ("bench", "benchmarks: gradlab against the tutorials' code, scikit-learn, the floor"),
    "env": ("env", "versions, BLAS, threads and devices of this machine"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``only`` the arguments of that one command.

    Every command is listed either way (``gradlab --help`` needs only the names
    and help lines in :data:`COMMANDS`); a command's module is imported to add
    its arguments, so a run that names its command imports no other.
    """
    parser = argparse.ArgumentParser(
        prog="gradlab",
        description="Learn and run machine learning by gradient descent.",
        epilog="Run 'gradlab COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"gradlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:])
        if only is None or name == only:
            _command(name).add_arguments(p)
    return parser


def _command(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"gradlab.commands.{COMMANDS[name][0]}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (see :class:`ExitStatus`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)  # options come after it
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(argv)  # exits with status 2 on a usage error
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitStatus.USAGE
    try:
        if isinstance(getattr(args, "out", None), Path):
            # a bad --out is reported now, not after the data is loaded or a model trained
            check_out_dir(args.out, create=False)
        return int(_command(args.command).run(args))
    except GradlabError as exc:
        print(f"gradlab {args.command}: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(exc.hint, file=sys.stderr)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        print(f"gradlab {args.command}: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:  # e.g. `gradlab descend ... | head -1`: the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitStatus.OK
