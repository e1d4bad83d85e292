"""``gradlab bench``: gradlab against the tutorials' code, the strongest peers, scikit-learn
and the hardware floor, side by side in one run.

The benchmark is :mod:`gradlab.bench`, part of the installed package. The tutorial
baselines are PyTorch code; JAX and Keras rows appear when those are installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from gradlab.commands._args import add_out, add_quiet, path_arg, print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quick",
        action="store_true",
        help="a reduced run (6,000 + 1,000 images, 2 epochs, smaller arrays): a few minutes",
    )
    p.add_argument(
        "--points",
        type=path_arg,
        metavar="FILE",
        help="a CSV of x,y points for the linear-regression job, e.g. the tutorial's "
        "data.csv (default: 100 generated points)",
    )
    p.add_argument(
        "--data-dir",
        type=path_arg,
        metavar="DIR",
        help="use the real IDX files in DIR instead of generated images",
    )
    p.add_argument(
        "--dataset",
        choices=("mnist", "fashion-mnist"),
        default="fashion-mnist",
        help="which real data set --data-dir holds (default: fashion-mnist)",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="where the torch rows run (default: cpu)",
    )
    p.add_argument(
        "--no-parallel",
        action="store_true",
        help="skip the data-parallel section (the MLP on torch with 1 process or 2 worker "
        "processes; about a minute, mostly starting the workers)",
    )
    p.add_argument(
        "--no-update-rules",
        action="store_true",
        help="skip the update rules' table (a whole NumPy-engine step under SGD, momentum, "
        "Adam, AdamW and RMSProp)",
    )
    p.add_argument(
        "--markdown", type=path_arg, metavar="FILE", help="also write the Markdown tables to FILE"
    )
    add_out(p, "runs/bench", "bench.json and bench.png")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    add_quiet(p)


#: Every file this command may write in --out (checked before the run starts).
OUTPUTS = ("bench.json", "bench.png")


def run(args: argparse.Namespace) -> int:
    import importlib.util

    if args.markdown is not None:  # before the minutes of benchmarking, not after
        from gradlab.io import check_out_file

        check_out_file(args.markdown, option="--markdown")

    from gradlab.errors import MissingDependencyError

    if importlib.util.find_spec("torch") is None:  # the tutorial baselines are PyTorch code
        raise MissingDependencyError("PyTorch", "torch")
    from gradlab.bench import report
    from gradlab.bench.plan import Plan
    from gradlab.bench.run import run as run_bench
    from gradlab.engines.torch_engine import resolve_device

    device = resolve_device(args.device).type  # cuda without a GPU: refused before any work

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    plan = Plan.quick() if args.quick else Plan.full()
    plan = dataclasses.replace(
        plan,
        parallel=plan.parallel and not args.no_parallel,
        update_rules=plan.update_rules and not args.no_update_rules,
    )
    res = run_bench(
        plan,
        points=args.points,
        data_dir=args.data_dir,
        dataset=args.dataset,
        device=device,
        log=log,
    )
    md = report.markdown(res)
    res["files"] = [
        str(report.save_json(res, args.out / "bench.json")),
        str(report.chart(res, args.out / "bench.png")),
    ]
    if args.markdown:
        from gradlab.io import write_text

        res["files"].append(str(write_text(args.markdown, md)))
    if args.json:
        print_json(res)
    else:
        print(md)
        print("Files: " + ", ".join(res["files"]))
    return 0
