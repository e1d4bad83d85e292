"""``gradlab predict``: a saved model's predictions as a picture grid and a confusion matrix."""

from __future__ import annotations

import argparse
from pathlib import Path

from gradlab.commands._args import (
    add_data_arguments,
    add_out,
    grid_size,
    non_negative_int,
    path_arg,
    print_json,
)
from gradlab.params import MAX_GRID

CHECKPOINT = "model.safetensors"
#: Every file this command may write in --out (checked before the run starts).
OUTPUTS = ("predictions.png", "confusion.png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        type=path_arg,
        default=Path("runs/train") / CHECKPOINT,
        metavar="FILE",
        help=f"a model saved by 'gradlab train' (default: runs/train/{CHECKPOINT})",
    )
    add_data_arguments(p)
    p.add_argument(
        "--n",
        type=grid_size,
        default=18,
        help=f"images in the grid, at most {MAX_GRID} (0: none; default: 18)",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        help="for --dataset synthetic: the seed the images were generated with "
        "(default: the one the model was trained with)",
    )
    add_out(p, "runs/predict", "predictions.png and confusion.png")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")


def run(args: argparse.Namespace) -> int:
    from gradlab.errors import UsageError
    from gradlab.jobs.predict import run_predict

    if args.seed is not None and args.dataset != "synthetic":
        raise UsageError(
            f"--seed chooses which synthetic images to generate; --dataset {args.dataset} "
            "does not use it.",
            hint="Leave --seed out, or add --dataset synthetic.",
        )
    result = run_predict(
        args.checkpoint,
        dataset=args.dataset,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        seed=args.seed,
        out=args.out,
        n=args.n,
    )
    files = [str(f) for f in result.files]
    if args.json:
        print_json({"dataset": result.data.name, "test_accuracy": result.accuracy, "files": files})
    else:
        print(f"{args.checkpoint}: test accuracy on {result.data.name} {result.accuracy:.4f}")
        print("Files: " + ", ".join(files))
    return 0
