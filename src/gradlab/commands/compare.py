"""``gradlab compare``: engines and descent methods side by side, and the tutorial reproduced."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from gradlab.commands._args import (
    add_optimizer_option,
    add_output_options,
    add_quiet,
    add_schedule_options,
    add_seed,
    comma_items,
    epoch_count,
    positive_float,
    positive_int,
    print_json,
    refuse_batch_size_without_minibatch,
    schedule_from_args,
    with_flags,
)
from gradlab.errors import MissingDependencyError, UsageError, install_command
from gradlab.jobs.compare import PROBLEMS
from gradlab.params import LINEAR_ENGINES, METHODS


def _choices(valid: tuple[str, ...], what: str) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = comma_items(text)
        bad = [t for t in items if t not in valid]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(map(repr, bad)) or '(none)'}; "
                f"choose from: {', '.join(valid)}"
            )
        repeated = sorted({t for t in items if items.count(t) > 1})
        if repeated:
            raise argparse.ArgumentTypeError(f"{what} {', '.join(repeated)} is given twice")
        return items

    return parse


#: The minibatch method's batch size unless --batch-size says otherwise.
BATCH_SIZE = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tutorial",
        action="store_true",
        help="reproduce the NumPy / PyTorch / TensorFlow tutorial's printed results exactly",
    )
    p.add_argument(
        "--problem",
        choices=PROBLEMS,
        default="quadratic",
        help="quadratic: the tutorial's y = w*x**2 + b; line: generated y = w*x + b; "
        "breast-cancer: logistic regression on scikit-learn's data (default: quadratic)",
    )
    p.add_argument(
        "--engines",
        type=_choices(LINEAR_ENGINES, "engine"),
        default=None,
        metavar="E[,E...]",
        help="numpy, torch, tensorflow (default: those of the three that are installed)",
    )
    p.add_argument(
        "--methods",
        type=_choices(METHODS, "method"),
        default=["batch"],
        metavar="M[,M...]",
        help="batch, sgd, minibatch (default: batch)",
    )
    add_optimizer_option(p, several=True)
    p.add_argument(
        "--lr",
        type=positive_float,
        help="learning rate, for every optimizer (default: per problem)",
    )
    p.add_argument("--epochs", type=epoch_count, help="passes over the data (default: per problem)")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"minibatch size, for --methods minibatch (default: {BATCH_SIZE})",
    )
    p.add_argument(
        "--loss",
        choices=("mse", "half_sse", "bce", "bce_sum"),
        help="loss convention (default: half_sse for quadratic, mse for line, bce for logistic)",
    )
    add_schedule_options(p)
    add_seed(p)
    add_quiet(p)
    add_output_options(p, "runs/compare")


#: What the NumPy engine's batch rows time, said under the table.
FAST_PATH_NOTE = (
    "numpy batch: full batches of the squared loss take the engine's fast path (the "
    "gradient from X.T @ X, computed once; at a constant rate every iterate at once), so "
    "its ms/step is not a loop's; NumpyEngine(fast_paths=False) runs the plain loop"
)


def _progress(args: argparse.Namespace) -> Callable[[str], None]:
    """Say what is starting, on stderr: progress, not the result."""

    def say(line: str) -> None:
        if not args.quiet:
            print(line + " ...", file=sys.stderr, flush=True)

    return say


def _print_tutorial_run(r: dict[str, Any]) -> None:
    if r.get("missing"):
        name = r["engine"]
        print(f"{name:<11} not installed: {install_command(name)}")
    elif r["engine"] == "numpy":
        print(
            f"numpy       np.random.seed(100); w, b = rand(1,1), rand(1,1) -> "
            f"{r['w0']:.8f} {r['b0']:.7f}\n"
            f"            800 steps, lr 0.001, loss 0.5*sum -> w = {r['w']:.8f}, b = {r['b']:.8f}"
        )
    elif r["engine"] == "torch":
        print(
            f"torch       torch.manual_seed(100); w = randn(1,1) -> {r['w0']:.4f}, b = 0\n"
            f"            800 steps, lr 0.001, loss 0.5*sum, autograd -> "
            f"w = {r['w']:.4f}, b = {r['b']:.4f}"
        )
    else:
        print(
            f"tensorflow  tf.random.set_seed({r['seed']}); w = uniform(0, 1) -> "
            f"{r['w0']:.6f}, b = 0\n"
            "            2000 steps, lr 0.01, mean squared loss, GradientTape + tf.function:"
        )
        print(f"{'step':>16}  {'loss':>8}  {'w':>10}  {'b':>10}")
        for row in r["rows"]:
            print(f"{row['step']:>16}  {row['loss']:>8.4f}  {row['w']:>10.7f}  {row['b']:>10.7f}")


#: engine -> (the package it imports, its name for people)
_PACKAGES = {"torch": ("torch", "PyTorch"), "tensorflow": ("tensorflow", "TensorFlow")}


def _engines(named: list[str] | None) -> list[str]:
    """The engines to compare: those named, each checked to be installed before any fit;
    by default every installed one, saying which are left out and how to add them."""
    import importlib.util

    def installed(engine: str) -> bool:
        return engine not in _PACKAGES or importlib.util.find_spec(_PACKAGES[engine][0]) is not None

    if named is not None:
        for engine in named:
            if not installed(engine):
                raise MissingDependencyError(_PACKAGES[engine][1], engine)
        return named
    missing = [e for e in LINEAR_ENGINES if not installed(e)]
    chosen = [e for e in LINEAR_ENGINES if e not in missing]
    if missing:
        names = " and ".join(_PACKAGES[e][1] for e in missing)
        how = "; ".join(install_command(e) for e in missing)
        print(
            f"gradlab compare: {names} {'is' if len(missing) == 1 else 'are'} not installed: "
            f"comparing {' and '.join(chosen)} (add {'it' if len(missing) == 1 else 'them'} "
            f"with: {how})",
            file=sys.stderr,
        )
    return chosen


def _tutorial(args: argparse.Namespace) -> int:
    from gradlab.jobs.compare import tutorial

    if args.json:
        runs = list(tutorial(args.seed, _progress(args)))
        print_json(
            {
                "tutorial": [r for r in runs if not r.get("missing")],
                "missing_engines": [r["engine"] for r in runs if r.get("missing")],
            }
        )
        return 0
    print("The NumPy / PyTorch / TensorFlow tutorial, reproduced (y = w*x**2 + b):\n")
    for r in tutorial(args.seed, _progress(args)):
        _print_tutorial_run(r)
    return 0


def _fmt_params(coef: list[float], b: float) -> str:
    if len(coef) <= 2:
        return "w=" + ",".join(f"{c:.8g}" for c in coef) + f" b={b:.8g}"
    return f"{len(coef)} weights, b={b:.6g}"


#: Every file this command may write in --out (checked before the run starts).
OUTPUTS = ("loss-curves.png",)


#: What ``--tutorial`` reads: it runs the tutorial's own problem, engines and settings,
#: and prints its results (no files).
_TUTORIAL_READS = frozenset({"tutorial", "seed", "quiet", "json"})


def _given(args: argparse.Namespace) -> list[str]:
    """The options of ``args`` set to other than their defaults, as flags, in order."""
    defaults = argparse.ArgumentParser()
    add_arguments(defaults)
    default = vars(defaults.parse_args([]))
    return [
        "--" + dest.replace("_", "-")
        for dest, value in vars(args).items()
        if dest in default and value != default[dest]
    ]


def _refuse_unused(args: argparse.Namespace) -> None:
    """Refuse options the run would ignore, rather than ignore them."""
    if args.tutorial:
        unused = [
            flag for flag in _given(args) if flag[2:].replace("-", "_") not in _TUTORIAL_READS
        ]
        if unused:
            them = "it" if len(unused) == 1 else "them"
            raise UsageError(
                f"--tutorial runs the tutorial's own problem, engines and settings, and "
                f"prints its results; {', '.join(unused)} would be ignored.",
                hint=f"Leave {them} out, or drop --tutorial to compare with your own settings.",
            )
    elif args.batch_size is not None:
        refuse_batch_size_without_minibatch(args.methods, "--methods")


def run(args: argparse.Namespace) -> int:
    _refuse_unused(args)
    if args.tutorial:
        return _tutorial(args)
    from gradlab.jobs.compare import compare, settings, sklearn_logistic

    try:
        chosen = settings(args.problem, lr=args.lr, epochs=args.epochs, loss=args.loss)
    except UsageError as exc:
        raise with_flags(exc, "compare", {"loss=": "--loss "}) from None
    lr, epochs = chosen["lr"], chosen["epochs"]
    schedule = schedule_from_args(args)
    data, rows = compare(
        args.problem,
        engines=_engines(args.engines),
        methods=args.methods,
        lr=lr,
        epochs=epochs,
        batch_size=BATCH_SIZE if args.batch_size is None else args.batch_size,
        loss=chosen["loss"],
        seed=args.seed,
        progress=_progress(args),
        optimizers=args.optimizer,
        schedule=schedule,
    )
    if rows and all(r.diverged is not None for r in rows):  # nothing to compare
        raise rows[0].diverged  # type: ignore[misc]
    rules = args.optimizer != ["sgd"] or schedule is not None  # else today's table
    reference = sklearn_logistic(data) if data.X_test is not None else None
    plots = []
    if not args.no_plots:
        from gradlab.models import linear, logistic
        from gradlab.viz.regression import loss_curves
        from gradlab.viz.save import save_figure

        names = {**linear.LOSS_NAMES, **logistic.LOSS_NAMES}

        curves = [(f"{r.engine} {r.method}" + (f" {r.optimizer}" if rules else "")
                   + (f" (diverged at step {r.steps})" if r.diverged else ""), r.history)
                  for r in rows]  # fmt: skip
        fig = loss_curves(curves, xlabel="epoch", title=f"Loss per epoch: {data.name}, lr={lr:g}",
                          ylabel=names.get(chosen["loss"], "loss"))  # fmt: skip
        plots.append(str(save_figure(fig, args.out / "loss-curves.png")))
    if args.json:
        out: dict[str, Any] = {
            "problem": data.name,
            "data": data.description,
            "lr": lr,
            "epochs": epochs,
            "optimizers": args.optimizer,
            "schedule_options": schedule.describe() if schedule is not None else None,
            "rows": [r.to_dict() for r in rows],
            "files": plots,
        }
        if reference:
            out["scikit_learn"] = reference
        print_json(out)
        return 0
    sched = f", {schedule.name} schedule" if schedule is not None else ""
    print(f"Problem: {data.name} ({data.description}); lr {lr:g}{sched}, {epochs} epochs, float64")
    acc = data.X_test is not None
    head = (
        f"{'engine':<11} {'method':<10} "
        + (f"{'optimizer':<10} " if rules else "")
        + f"{'parameters':<34} {'final loss':>12} {'steps':>7} "
        f"{'ms/step':>8} {'steps/s':>9} {'s/epoch':>8} {'noise':>6}"
    )
    print(head + (f" {'test acc':>8}" if acc else ""))
    for r in rows:
        line = f"{r.engine:<11} {r.method:<10} " + (f"{r.optimizer:<10} " if rules else "")
        if r.diverged is not None:
            print(line + f"diverged at step {r.steps}: the loss reached {r.loss:.3g}")
            continue
        line += (
            f"{_fmt_params(r.coef, r.intercept):<34} "
            f"{r.loss:>12.6g} {r.steps:>7} {r.ms_per_step:>8.3g} {r.steps_per_second:>9.3g} "
            f"{r.seconds_per_epoch:>8.3g} {r.noise:>6.3f}"
        )
        print(line + (f" {r.test_accuracy:>8.4f}" if acc else ""))
    for hint in dict.fromkeys(r.diverged.hint for r in rows if r.diverged and r.diverged.hint):
        print(f"diverged: {hint}")
    if reference:
        print(f"{reference['name']}: test accuracy {reference['test_accuracy']:.4f}")
    if args.problem != "breast-cancer" and any(
        r.engine == "numpy" and r.method == "batch" for r in rows
    ):
        print(FAST_PATH_NOTE)
    print(
        "noise: median |log L[e+1] - 2 log L[e] + log L[e-1]| of the loss on all the data "
        "after each epoch, over the last half of the epochs (0 for a smooth curve, however "
        "steep): how much the parameters still jitter"
    )
    if plots:
        print(f"Plot: {plots[0]}")
    return 0
