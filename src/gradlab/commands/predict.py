"""``gradlab predict``: a saved model's predictions as a picture grid and a confusion matrix."""

from __future__ import annotations

import argparse
from pathlib import Path

from gradlab.commands._args import add_out, non_negative_int, print_json
from gradlab.commands.train import CHECKPOINT, add_data_arguments

NAME = "predict"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=Path("runs/train") / CHECKPOINT,
        metavar="FILE",
        help=f"a model saved by 'gradlab train' (default: runs/train/{CHECKPOINT})",
    )
    add_data_arguments(p)
    p.add_argument(
        "--n", type=non_negative_int, default=18, help="images in the grid (default: 18)"
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
    from gradlab.commands.train import load_data
    from gradlab.errors import DataError
    from gradlab.io import check_out_dir
    from gradlab.jobs.predictions import draw_predictions
    from gradlab.models.classifier import MLPClassifier

    check_out_dir(args.out, create=True)
    model = MLPClassifier.load(args.checkpoint)
    if args.seed is None:
        args.seed = model.seed
    data = load_data(args)
    if tuple(data.image_shape) != tuple(model.input_shape_):
        raise DataError(
            f"{args.checkpoint} was trained on {model.input_shape_} images; "
            f"{data.name} has {data.image_shape}.",
            hint="Pass the --dataset the model was trained on.",
        )
    if tuple(data.classes) != tuple(model.classes_):
        raise DataError(
            f"{args.checkpoint} was trained on the classes {', '.join(model.classes_)}; "
            f"{data.name} has {', '.join(data.classes)}.",
            hint="Pass the --dataset the model was trained on.",
        )
    accuracy = model.score(data.X_test, data.y_test)
    files = draw_predictions(model, data, args.out, args.n)
    if args.json:
        print_json(
            {"dataset": data.name, "test_accuracy": accuracy, "files": [str(f) for f in files]}
        )
    else:
        print(f"{args.checkpoint}: test accuracy on {data.name} {accuracy:.4f}")
        print("Files: " + ", ".join(str(f) for f in files))
    return 0
