"""``gradlab tour``: the whole curriculum on built-in data, with every plot and an HTML report."""

from __future__ import annotations

import argparse

from gradlab.commands._args import add_out, add_seed


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_out(p, "runs/tour", "the plots and report.html")
    add_seed(p)


def run(args: argparse.Namespace) -> int:
    from gradlab.tour import run_tour

    print(f"gradlab tour: writing to {args.out}/")
    report = run_tour(args.out, seed=args.seed)
    print(f"Report: {report}")
    return 0
