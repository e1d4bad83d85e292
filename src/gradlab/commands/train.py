"""``gradlab train``: softmax regression or an MLP on digits, MNIST or Fashion-MNIST."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gradlab.commands._args import (
    add_out,
    add_seed,
    non_negative_int,
    positive_float,
    positive_int,
    print_json,
)
from gradlab.data.images import IMAGE_DATASETS

NAME = "train"
DATASETS = IMAGE_DATASETS
CHECKPOINT = "model.safetensors"


def hidden_sizes(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated positive widths; empty for no hidden layer."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths such as 200,200, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"widths must be at least 1, got {text!r}")
    return sizes


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """``--dataset``, ``--data-dir``, ``--cache-dir`` (shared with ``predict``)."""
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default="digits",
        help="digits: scikit-learn's 8x8 digits, built in (default); mnist, fashion-mnist: "
        "downloaded once into the cache, or read from --data-dir; synthetic: generated "
        "28x28 images of the real shape",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="a folder with the four IDX files (raw or .gz, flat or <Name>/raw/)",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="where downloads are kept (default: $GRADLAB_DATA or ~/.cache/gradlab)",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", choices=("softmax", "mlp"), help="softmax regression or the MLP")
    add_data_arguments(p)
    engine = p.add_mutually_exclusive_group()
    engine.add_argument(
        "--engine",
        choices=("auto", "numpy", "torch"),
        default="auto",
        help="numpy: hand-written forward/backward (fastest on a CPU); torch: torch.nn + "
        "torch.optim; auto: torch on a GPU, else numpy (default)",
    )
    engine.add_argument(
        "--scratch",
        dest="engine",
        action="store_const",
        const="numpy",
        help="from scratch: own softmax, cross-entropy and SGD (the same as --engine numpy)",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="for torch")
    p.add_argument("--epochs", type=positive_int, default=10, help="default: 10")
    p.add_argument(
        "--lr",
        type=positive_float,
        help="learning rate (default: 0.1 for softmax, the tutorial's; 0.05 for the MLP)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        help="default: 256 for softmax (the tutorial's), 200 for the MLP",
    )
    p.add_argument(
        "--hidden",
        type=hidden_sizes,
        metavar="W[,W...]",
        help="MLP hidden widths (default: 200,200)",
    )
    p.add_argument(
        "--momentum",
        type=float,
        help="SGD momentum in [0, 1) (default: 0 for softmax, 0.9 for the MLP)",
    )
    add_seed(p)
    add_out(p, "runs/train", "the checkpoint, history and pictures")
    p.add_argument(
        "--resume",
        action="store_true",
        help=f"continue from DIR/{CHECKPOINT} up to --epochs",
    )
    p.add_argument(
        "--grid",
        type=non_negative_int,
        default=18,
        metavar="N",
        help="images in the grid (0: none)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--no-plots", action="store_true", help="no PNG files")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")


def load_data(args: argparse.Namespace) -> Any:
    """The data set the arguments name."""
    from gradlab.errors import UsageError

    if args.dataset in ("digits", "synthetic") and (args.data_dir or args.cache_dir):
        raise UsageError(
            f"--data-dir and --cache-dir are for mnist and fashion-mnist; "
            f"{args.dataset} is built in.",
            hint="Add --dataset mnist or --dataset fashion-mnist.",
        )
    if args.dataset == "synthetic":
        from gradlab.data.synthetic import make_images

        return make_images(seed=args.seed)
    from gradlab.data.images import load_images

    quiet = getattr(args, "quiet", False)
    return load_images(
        args.dataset,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        progress=False if quiet else None,
        log=_silent if quiet else None,
    )


def _silent(message: str) -> None:
    """A ``log`` that drops download messages (``--quiet``)."""


def check_resume(args: argparse.Namespace, checkpoint: Path, data: Any) -> None:
    """Refuse a checkpoint of another data set; say what a resume will and won't do."""
    from gradlab import checkpoint as ckpt
    from gradlab.errors import UsageError

    meta = ckpt.load_meta(checkpoint)
    classes = tuple(meta["classes"])
    if classes != tuple(data.classes) or tuple(meta["input_shape"]) != tuple(data.image_shape):
        raise UsageError(
            f"--resume: {checkpoint} was trained on other data ({len(classes)} classes: "
            f"{', '.join(classes[:3])}, ...; images {tuple(meta['input_shape'])}), not on "
            f"{data.name} ({', '.join(data.classes[:3])}, ...; images {data.image_shape}).",
            hint="Resume with the --dataset it was trained on, or choose another --out.",
        )
    done = len(meta["history"].get("epoch", []))
    if done >= args.epochs:
        print(
            f"gradlab train: {checkpoint} already holds {done} epoch(s), which is --epochs "
            f"{args.epochs} or more: nothing to train. Raise --epochs to continue.",
            file=sys.stderr,
        )
    saved = meta["hyperparameters"]
    given = {"lr": args.lr, "batch_size": args.batch_size, "momentum": args.momentum}
    changed = [
        f"{'--' + k.replace('_', '-')} {v:g} (the checkpoint's: {saved[k]:g})"
        for k, v in given.items()
        if v is not None and k in saved and float(v) != float(saved[k])
    ]
    if changed:
        print(
            "gradlab train: resuming with " + ", ".join(changed) + "; the run will no longer "
            "match an uninterrupted one.",
            file=sys.stderr,
        )


def saved_epochs(checkpoint: Path) -> int:
    """How many epochs the checkpoint on disk holds (0 when there is none)."""
    from gradlab import checkpoint as ckpt
    from gradlab.errors import DataError

    try:
        return len(ckpt.load_meta(checkpoint)["history"].get("epoch", []))
    except DataError:
        return 0


def make_model(args: argparse.Namespace) -> Any:
    from gradlab.models import MLPClassifier, SoftmaxRegression

    common = {"epochs": args.epochs, "engine": args.engine, "device": args.device}
    common["seed"] = args.seed
    # lr and momentum: the model's own defaults unless given
    common.update(
        {k: v for k, v in (("lr", args.lr), ("momentum", args.momentum)) if v is not None}
    )
    if args.model == "softmax":
        return SoftmaxRegression(batch_size=args.batch_size or 256, **common)
    hidden = (200, 200) if args.hidden is None else args.hidden
    return MLPClassifier(hidden=hidden, batch_size=args.batch_size or 200, **common)


def run(args: argparse.Namespace) -> int:
    from gradlab.errors import UsageError
    from gradlab.io import check_out_dir
    from gradlab.viz.monitor import CurvesPNG, HistoryFiles, monitors

    if args.model == "softmax" and args.hidden is not None:
        raise UsageError("--hidden is for the MLP; softmax regression has no hidden layer.")
    if args.momentum is not None and not (0.0 <= args.momentum < 1.0):
        raise UsageError(f"--momentum must be in [0, 1), got {args.momentum}.")
    checkpoint = args.out / CHECKPOINT
    if args.resume and not checkpoint.exists():
        raise UsageError(
            f"--resume: there is no checkpoint at {checkpoint}.",
            hint="Train without --resume first, or point --out at the folder of an earlier run.",
        )
    check_out_dir(args.out, create=True)
    data = load_data(args)
    if args.resume:
        check_resume(args, checkpoint, data)
    model = make_model(args)
    callbacks = monitors(quiet=args.quiet or args.json)
    callbacks.append(HistoryFiles(args.out / "history"))
    curves = CurvesPNG(args.out / "curves.png", title=f"{args.model} on {data.name}")
    if not args.no_plots:
        callbacks.append(curves)
    try:
        model.fit(
            data.X_train,
            data.y_train,
            eval_set=(data.X_test, data.y_test),
            classes=data.classes,
            callbacks=callbacks,
            checkpoint=checkpoint,
            resume=args.resume,
        )
    except KeyboardInterrupt:
        done = saved_epochs(checkpoint)  # what is on disk, not what was in memory
        where = f"epoch {done} is saved in {checkpoint}" if done else "no epoch was saved"
        print(f"gradlab train: interrupted; {where}.", file=sys.stderr)
        if done:
            print("Continue with the same command and --resume.", file=sys.stderr)
        raise  # the CLI turns it into the exit status (130 for Ctrl-C, 143 for SIGTERM)
    files = [checkpoint, args.out / "history.csv", args.out / "history.json"]
    if not args.no_plots:
        from gradlab.jobs.predictions import draw_predictions

        files += [p for p in (curves.written,) if p] + draw_predictions(
            model, data, args.out, args.grid
        )
    last = model.history_.last()
    summary = {
        "model": args.model,
        "dataset": data.name,
        "engine": model.engine_,
        "epochs": int(last["epoch"]),
        "train_loss": last["train_loss"],
        "train_accuracy": last["train_accuracy"],
        "test_accuracy": last["test_accuracy"],
        "seconds": float(sum(model.history_["seconds"])),
        "files": [str(f) for f in files],
    }
    if args.json:
        print_json(summary)
    else:
        epochs = f"{summary['epochs']} epoch{'' if summary['epochs'] == 1 else 's'}"
        print(
            f"{args.model} on {data.name} ({model.engine_} engine): after {epochs} "
            f"train loss {summary['train_loss']:.4f}, train acc "
            f"{summary['train_accuracy']:.4f}, test acc {summary['test_accuracy']:.4f} "
            f"({summary['seconds']:.2f} s training)"
        )
        print("Files: " + ", ".join(str(f) for f in files))
    return 0
