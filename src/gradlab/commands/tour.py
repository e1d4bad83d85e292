"""``gradlab tour``: the whole curriculum on built-in data, with every plot and an HTML report."""

from __future__ import annotations

import argparse

from gradlab.commands._args import add_out, add_seed


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_out(p, "runs/tour", "the plots and report.html")
    add_seed(p)


def run(args: argparse.Namespace) -> int:
    import sys

    from gradlab.tour import run_tour

    def progress(line: str) -> None:  # on stderr: stdout holds the result, the report's path
        print(line, file=sys.stderr, flush=True)

    progress(f"gradlab tour: writing to {args.out}/")
    report = run_tour(args.out, seed=args.seed, log=progress)
    print(f"Report: {report}")
    return 0
