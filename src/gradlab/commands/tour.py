"""``gradlab tour``: the whole curriculum on built-in data, with every plot and an HTML report."""

from __future__ import annotations

import argparse

from gradlab.commands._args import add_out, add_seed, print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_out(p, "runs/tour", "the plots and report.html")
    add_seed(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on stdout: each chapter's summary and the report's path",
    )


def run(args: argparse.Namespace) -> int:
    import sys

    from gradlab.tour import run_tour

    chapters: list[str] = []

    def progress(line: str) -> None:  # on stderr: stdout holds the result, the report's path
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    def chapter(line: str) -> None:
        chapters.append(line.strip())
        progress(line)

    progress(f"gradlab tour: writing to {args.out}/")
    report = run_tour(args.out, seed=args.seed, log=chapter)
    if args.json:
        print_json({"report": str(report), "chapters": chapters})
    else:
        print(f"Report: {report}")
    return 0
