"""``gradlab bench``: gradlab against the tutorials' code, scikit-learn and the hardware floor.

The benchmarks and the tutorial baselines live in ``bench/`` beside ``src/`` (they are
not part of the library), so this command runs from a source checkout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gradlab.commands._args import add_out, print_json

NAME = "bench"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quick",
        action="store_true",
        help="a reduced run (6,000 + 1,000 images, 2 epochs, smaller arrays): about a minute",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
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
        "--markdown", type=Path, metavar="FILE", help="also write the Markdown tables to FILE"
    )
    add_out(p, "runs/bench", "bench.json and bench.png")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")


def bench_root() -> Path:
    """The checkout holding ``bench/``; a UsageError when gradlab is installed without it."""
    from gradlab.errors import UsageError

    root = Path(__file__).resolve().parents[3]
    if not (root / "bench" / "run.py").is_file():
        raise UsageError(
            "gradlab bench runs from a source checkout: the benchmarks live in bench/ "
            f"beside src/, and there is none at {root}.",
            hint="Clone the repository and run 'make bench' there.",
        )
    return root


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from gradlab.errors import MissingDependencyError

    if importlib.util.find_spec("torch") is None:  # the tutorial baselines are PyTorch code
        raise MissingDependencyError("PyTorch", "torch")
    root = bench_root()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import importlib

    bench = importlib.import_module("bench.run")  # outside the package: not type-checked

    device = args.device
    if device == "auto":
        from gradlab.engines.torch_engine import resolve_device

        device = resolve_device("auto").type

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    res = bench.run(
        quick=args.quick, data_dir=args.data_dir, dataset=args.dataset, device=device, log=log
    )
    md = bench.markdown(res)
    res["files"] = [
        str(bench.save_json(res, args.out / "bench.json")),
        str(bench.chart(res, args.out / "bench.png")),
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
