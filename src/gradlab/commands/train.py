"""``gradlab train``: softmax regression or an MLP on digits, MNIST or Fashion-MNIST.

Parses the arguments, runs :func:`gradlab.jobs.train.run_train`, prints. The defaults
shown and used are the estimators' (:data:`gradlab.models._spec.DEFAULTS`); an option
left out is "not given", so that ``--resume`` can take the checkpoint's value instead.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gradlab.commands._args import (
    add_data_arguments,
    add_out,
    non_negative_int,
    positive_float,
    positive_int,
    print_json,
)
from gradlab.models._spec import DEFAULTS, RATES
from gradlab.optim.rules import RULES
from gradlab.optim.schedules import SCHEDULES

NAME = "train"
CHECKPOINT = "model.safetensors"
_MLP, _SOFTMAX = DEFAULTS["mlp"], DEFAULTS["softmax"]
#: option dest -> the estimators' parameter name
_PARAMS = {
    "hidden": "hidden",
    "lr": "lr",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "momentum": "momentum",
    "optimizer": "optimizer",
    "schedule": "schedule",
    "validation_fraction": "validation_fraction",
    "seed": "random_state",
    "engine": "engine",
    "device": "device",
}
#: option dest -> the key of :data:`gradlab.jobs.train.SCHEDULE_FLAGS`
_SCHEDULE_FLAGS = ("gamma", "step_size", "t_max", "warmup_steps")


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    v = positive_float(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return v


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


def _both(name: str, show: Any = str) -> str:
    return f"{show(_SOFTMAX[name])} for softmax, {show(_MLP[name])} for the MLP"


def add_arguments(p: argparse.ArgumentParser) -> None:
    resumed = "; with --resume: the checkpoint's"
    p.add_argument("model", choices=("softmax", "mlp"), help="softmax regression or the MLP")
    add_data_arguments(p)
    engine = p.add_mutually_exclusive_group()
    engine.add_argument(
        "--engine",
        choices=("auto", "numpy", "torch"),
        help="numpy: hand-written forward/backward (fastest on a CPU); torch: torch.nn + "
        f"torch.optim; auto: torch on a GPU, else numpy (default: {_MLP['engine']}{resumed})",
    )
    engine.add_argument(
        "--scratch",
        dest="engine",
        action="store_const",
        const="numpy",
        help="from scratch: own softmax, cross-entropy and SGD (the same as --engine numpy)",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help=f"for torch (default: {_MLP['device']}{resumed})",
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        help=f"train up to this epoch (default: {_MLP['epochs']}{resumed})",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        help=f"learning rate (default: {_both('lr')}{resumed})",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"default: {_both('batch_size')}{resumed}",
    )
    p.add_argument(
        "--hidden",
        type=hidden_sizes,
        metavar="W[,W...]",
        help=f"MLP hidden widths (default: {','.join(str(h) for h in _MLP['hidden'])}{resumed})",
    )
    p.add_argument(
        "--momentum",
        type=float,
        help="SGD momentum in [0, 1), for --optimizer sgd only (default: "
        f"{_both('momentum', lambda v: f'{v:g}')}{resumed})",
    )
    rates = ", ".join(f"{name} {RATES['softmax'][name]:g}/{RATES['mlp'][name]:g}" for name in RULES)
    p.add_argument(
        "--optimizer",
        choices=RULES,
        help="the update rule: sgd (with --momentum), momentum and nesterov (SGD with "
        "momentum 0.9), adagrad, rmsprop, adam, adamw; without --lr each takes its rate "
        f"(softmax/MLP: {rates}) (default: sgd{resumed})",
    )
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="how the rate changes: constant; step, exponential, cosine (per epoch: "
        "x gamma every --step-size epochs, x gamma every epoch, half a cosine down to 0 over "
        "--t-max epochs); warmup, onecycle (per step) (default: constant{resumed})",
    )
    p.add_argument("--gamma", type=positive_float, help="the schedule's decay factor")
    p.add_argument(
        "--step-size", type=positive_int, metavar="EPOCHS", help="epochs between step decays"
    )
    p.add_argument(
        "--t-max", type=positive_int, metavar="EPOCHS", help="the cosine's length in epochs"
    )
    p.add_argument(
        "--warmup-steps",
        type=non_negative_int,
        metavar="N",
        help="a linear warm-up over the first N steps, before the schedule",
    )
    p.add_argument(
        "--early-stopping",
        type=non_negative_int,
        metavar="PATIENCE",
        help="hold back --validation-fraction of the training data; stop when its loss has "
        "not fallen for PATIENCE epochs and keep the best epoch's weights (0: off; "
        f"default: off{resumed})",
    )
    p.add_argument(
        "--validation-fraction",
        type=fraction,
        metavar="F",
        help=f"share of the training data held back for early stopping (default: "
        f"{_MLP['validation_fraction']:g}{resumed})",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        help=f"random seed (default: {_MLP['random_state']}{resumed})",
    )
    add_out(p, "runs/train", "the checkpoint, history and pictures")
    p.add_argument(
        "--resume",
        action="store_true",
        help=f"continue from DIR/{CHECKPOINT} up to --epochs, with its settings unless given",
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


def run(args: argparse.Namespace) -> int:
    from gradlab.jobs.train import TrainRequest, run_train
    from gradlab.viz.monitor import monitors

    given = {
        param: getattr(args, dest)
        for dest, param in _PARAMS.items()
        if getattr(args, dest) is not None
    }
    if args.early_stopping is not None:
        given["early_stopping"] = args.early_stopping > 0
        if args.early_stopping:
            given["n_iter_no_change"] = args.early_stopping
    request = TrainRequest(
        model=args.model,
        dataset=args.dataset,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        out=args.out,
        given=given,
        resume=args.resume,
        grid=args.grid,
        plots=not args.no_plots,
        quiet=args.quiet,
        schedule_flags={
            k: getattr(args, k) for k in _SCHEDULE_FLAGS if getattr(args, k) is not None
        },
    )

    def say(message: str) -> None:
        print(f"gradlab train: {message}", file=sys.stderr)

    result = run_train(request, progress=monitors(quiet=args.quiet, json=args.json), say=say)
    if result.interrupted:
        done = result.saved_epochs
        where = f"epoch {done} is saved in {result.checkpoint}" if done else "no epoch was saved"
        print(f"gradlab train: interrupted; {where}.", file=sys.stderr)
        if done:
            print("Continue with the same command and --resume.", file=sys.stderr)
        # the CLI turns it into the exit status (130 for Ctrl-C, 143 for SIGTERM)
        raise result.interrupt or KeyboardInterrupt
    model, data = result.model, result.data
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
        "lr": model.lr_,
        "optimizer": model.optimizer_.config(),
        "schedule": model.schedule_.config(),
        "early_stopping": _early(model),
        "files": [str(f) for f in result.files],
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
        print(training_line(model))
        print("Files: " + ", ".join(str(f) for f in result.files))
    return 0


def _early(model: Any) -> dict[str, Any] | None:
    if not model.early_stopping:
        return None
    history = model.history_
    best = getattr(model, "best_epoch_", 0)
    return {
        "patience": model.n_iter_no_change,
        "validation_fraction": model.validation_fraction,
        "best_epoch": best,
        "stopped_epoch": getattr(model, "stopped_epoch_", 0),
        "best_val_loss": history["val_loss"][best - 1] if best else None,
        "best_val_accuracy": history["val_accuracy"][best - 1] if best else None,
    }


def training_line(model: Any) -> str:
    """``Optimizer: adam, lr 0.001; schedule: cosine(T_max=10, eta_min=0)``, and what early
    stopping did."""
    from gradlab.jobs.train import describe_choice

    rule = model.optimizer_.config()
    name = rule["name"]
    if rule.get("momentum"):
        nesterov = ", Nesterov" if rule.get("nesterov") else ""
        name += f" (momentum {rule['momentum']:g}{nesterov})"
    # the rate is said once: a schedule's own lr (or max_lr) is the same number
    schedule = {k: v for k, v in model.schedule_.config().items() if k not in ("lr", "max_lr")}
    text = f"Optimizer: {name}, lr {model.lr_:g}; schedule: {describe_choice(schedule)}"
    early = _early(model)
    if early is not None:
        stopped = early["stopped_epoch"]
        when = f"stopped after epoch {stopped}" if stopped else "ran to the last epoch"
        text += (
            f"; early stopping {when}, keeping epoch {early['best_epoch']} "
            f"(validation loss {early['best_val_loss']:.4f})"
            if early["best_epoch"]
            else f"; early stopping {when}"
        )
    return text
