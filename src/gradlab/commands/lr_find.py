"""``gradlab lr-find``: the learning-rate range test of softmax regression or the MLP.

Parses the arguments, loads the data as ``gradlab train`` does, runs
:func:`gradlab.jobs.lr_find.lr_range_test`, prints the suggested rate with its reason,
and writes ``lr-find.png`` (the curve, the suggestion marked) and ``lr-find.csv``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from gradlab.commands._args import (
    add_data_arguments,
    add_out,
    int_from_to,
    non_negative_int,
    positive_float,
    positive_int,
    print_json,
    with_flags,
)
from gradlab.jobs.lr_find import DEFAULTS as TEST_DEFAULTS
from gradlab.jobs.lr_find import MIN_STEPS
from gradlab.models._spec import DEFAULTS
from gradlab.optim.rules import RULES
from gradlab.params import MAX_EPOCHS

_MLP, _SOFTMAX = DEFAULTS["mlp"], DEFAULTS["softmax"]
#: option dest -> the estimators' parameter name
_PARAMS = {
    "hidden": "hidden",
    "batch_size": "batch_size",
    "momentum": "momentum",
    "optimizer": "optimizer",
    "seed": "random_state",
    "engine": "engine",
    "device": "device",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from gradlab.commands._classifiers import hidden_sizes

    p.add_argument("model", choices=("softmax", "mlp"), help="softmax regression or the MLP")
    add_data_arguments(p)
    p.add_argument(
        "--optimizer",
        choices=RULES,
        help="the update rule to find a rate for (default: sgd, with --momentum)",
    )
    p.add_argument(
        "--momentum",
        type=float,
        help=f"SGD momentum for --optimizer sgd (default: {_SOFTMAX['momentum']:g} for "
        f"softmax, {_MLP['momentum']:g} for the MLP)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"default: {_SOFTMAX['batch_size']} for softmax, {_MLP['batch_size']} for the MLP",
    )
    p.add_argument(
        "--hidden",
        type=hidden_sizes,
        metavar="W[,W...]",
        help=f"MLP hidden widths (default: {','.join(str(h) for h in _MLP['hidden'])})",
    )
    p.add_argument("--engine", choices=("auto", "numpy", "torch"), help="default: auto")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: auto")
    p.add_argument("--seed", type=non_negative_int, help="random seed (default: 0)")
    p.add_argument(
        "--min-lr",
        type=positive_float,
        default=TEST_DEFAULTS["min_lr"],
        help=f"the first rate (default: {TEST_DEFAULTS['min_lr']:g})",
    )
    p.add_argument(
        "--max-lr",
        type=positive_float,
        default=TEST_DEFAULTS["max_lr"],
        help=f"the last rate (default: {TEST_DEFAULTS['max_lr']:g})",
    )
    p.add_argument(
        "--steps",
        type=int_from_to(MIN_STEPS, MAX_EPOCHS),
        default=TEST_DEFAULTS["steps"],
        help=f"steps of the test (default: {TEST_DEFAULTS['steps']})",
    )
    p.add_argument(
        "--beta",
        type=float,
        help="smoothing of the loss, in [0, 1) (default: a lag of a quarter decade of rate)",
    )
    add_out(p, "runs/lr-find", "lr-find.png and lr-find.csv")
    p.add_argument("--quiet", action="store_true", help="no download messages")
    p.add_argument("--no-plots", action="store_true", help="no PNG file")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")


#: Every file this command may write in --out (checked before the run starts).
OUTPUTS = ("lr-find.csv", "lr-find.png")


def run(args: argparse.Namespace) -> int:
    from gradlab.commands._classifiers import estimator_flags
    from gradlab.errors import UsageError
    from gradlab.io import check_out_dir, write_text
    from gradlab.jobs.lr_find import lr_range_test
    from gradlab.jobs.train import load_data, refuse_unused
    from gradlab.models._network import PlainClassifier
    from gradlab.models._spec import DEFAULTS

    given = {
        param: getattr(args, dest)
        for dest, param in _PARAMS.items()
        if getattr(args, dest) is not None
    }
    if args.model == "softmax" and "hidden" in given:
        raise UsageError("--hidden is for the MLP; softmax regression has no hidden layer.")
    refuse_unused(given, {**DEFAULTS[args.model], **given})
    seed = int(given.get("random_state", 0))
    data = load_data(
        args.dataset,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        seed=seed,
        quiet=args.quiet or args.json,
    )
    model = PlainClassifier(args.model, **given)
    try:
        test = lr_range_test(
            model,
            data.X_train,
            data.y_train,
            min_lr=args.min_lr,
            max_lr=args.max_lr,
            steps=args.steps,
            beta=args.beta,
        )
    except UsageError as exc:  # name the flags, not the parameters of the code below
        exc = estimator_flags(exc, args.model)
        raise with_flags(exc, "lr_range_test", ("min_lr", "max_lr", "steps", "beta")) from None
    check_out_dir(args.out, create=True)
    rows = ["step,lr,loss,smoothed"] + [
        f"{t},{float(r)!r},{float(loss)!r},{float(s)!r}"
        for t, (r, loss, s) in enumerate(zip(test.rates, test.losses, test.smoothed, strict=True))
    ]
    files = [write_text(args.out / "lr-find.csv", "\n".join(rows) + "\n")]
    if not args.no_plots:
        from gradlab.viz.save import save_figure

        sizes = "-".join(str(s) for s in test.settings["sizes"])
        label = "softmax regression" if args.model == "softmax" else f"MLP {sizes}"
        rule = test.settings["optimizer"]["name"]
        fig = test.plot(title=f"Learning-rate range test: {label}, {rule}, on {data.name}")
        files.append(save_figure(fig, args.out / "lr-find.png"))
    command = _train_command(args, given, test.suggestion)
    if args.json:
        print_json({**test.to_dict(), "dataset": data.name, "train_command": command,
                    "files": [str(f) for f in files]})  # fmt: skip
        return 0
    _report(test, data.name, command, files, sys.stdout)
    return 0


def _train_command(args: argparse.Namespace, given: dict[str, Any], lr: float) -> str:
    """The ``gradlab train`` command that trains at the suggested rate, quoted for a shell."""
    parts = ["gradlab", "train", args.model]
    if args.dataset != "digits":
        parts += ["--dataset", args.dataset]
    if args.data_dir is not None:
        parts += ["--data-dir", str(args.data_dir)]
    if args.cache_dir is not None:
        parts += ["--cache-dir", str(args.cache_dir)]
    for dest, flag in (("optimizer", "--optimizer"), ("momentum", "--momentum"),
                       ("batch_size", "--batch-size"), ("engine", "--engine"),
                       ("device", "--device"), ("seed", "--seed")):  # fmt: skip
        if getattr(args, dest) is not None:
            parts += [flag, str(getattr(args, dest))]
    if "hidden" in given:
        parts += ["--hidden", ",".join(str(h) for h in given["hidden"])]
    parts += ["--lr", f"{lr:.2g}"]
    return shlex.join(parts)


def _report(test: Any, dataset: str, command: str, files: list[Any], out: Any) -> None:
    s = test.settings
    sizes = "-".join(str(v) for v in s["sizes"])
    rule = s["optimizer"]["name"]
    if s["optimizer"].get("momentum"):
        rule += f" (momentum {s['optimizer']['momentum']:g})"
    print(
        f"learning-rate range test: {s['model']} {sizes} on {dataset}, {rule}, batch "
        f"{s['batch_size']}, {s['engine']} engine: {test.rates.size} steps, the rate growing "
        f"from {s['min_lr']:g} to {test.rates[-1]:.2g}, the loss smoothed with beta "
        f"{s['beta']:.3g} (the test stopped: {test.stopped}).",
        file=out,
    )
    low = float(test.smoothed[test.rates == test.minimum][0])
    steep = f"falls fastest at {test.steepest:.2g} and " if test.steepest is not None else ""
    print(f"The smoothed loss {steep}is lowest ({low:.4f}) at {test.minimum:.2g}.", file=out)
    print(f"Suggested learning rate: {test.suggestion:.2g}, {test.reason}.", file=out)
    print(f"Train with it: {command}", file=out)
    print("Files: " + ", ".join(str(f) for f in files), file=out)
