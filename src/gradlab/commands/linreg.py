"""``gradlab linreg``: linear regression by gradient descent, beside the closed form.

With the tutorial's ``data.csv``, ``--lr 0.0001 --iters 1000`` prints the
tutorial's own two lines (to 13 significant digits or more). Settings not given take
the defaults of :class:`gradlab.models.LinearRegression`, the ones the help quotes.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from gradlab.commands._args import (
    add_optimizer_option,
    add_output_options,
    add_schedule_options,
    add_seed,
    epoch_count,
    finite_float,
    learning_rate,
    path_arg,
    point_count,
    positive_int,
    print_json,
    refuse_batch_size_without_minibatch,
    schedule_from_args,
    with_flags,
)
from gradlab.errors import DataError, UsageError
from gradlab.params import METHODS

if TYPE_CHECKING:
    from gradlab.data.points import Points
    from gradlab.jobs.linreg import LinregResult


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--csv",
        type=path_arg,
        metavar="PATH",
        help="points as lines 'x,y' (several feature columns, then y, also work); "
        "without it, generated points are used",
    )
    p.add_argument(
        "--lr",
        type=learning_rate,
        metavar="LR",
        help="learning rate, or 'auto': half the update rule's largest stable rate from the "
        "data's curvature (1/L for plain SGD; the rule's own default for the adaptive "
        "rules) (default: auto; the tutorial's is 0.0001)",
    )
    add_optimizer_option(p)
    p.add_argument(
        "--iters",
        "--epochs",
        dest="epochs",
        type=epoch_count,
        help="passes over the data; with --method batch, one pass is one step (default: 1000)",
    )
    p.add_argument("--method", choices=METHODS, help="descent method (default: batch)")
    p.add_argument("--batch-size", type=positive_int, help="points per minibatch (default: 32)")
    p.add_argument("--init-w", type=finite_float, default=0.0, help="starting w (default: 0)")
    p.add_argument("--init-b", type=finite_float, default=0.0, help="starting b (default: 0)")
    g = p.add_argument_group("generated data (without --csv): y = w*x + b + N(0, noise^2)")
    # no argparse defaults: a flag given with --csv is refused (see load_points)
    g.add_argument("--w", type=finite_float, help="true slope (default: 1.5)")
    g.add_argument("--b", type=finite_float, help="true intercept (default: 4)")
    g.add_argument("--noise", type=finite_float, help="noise std (default: 1)")
    g.add_argument("--n", type=point_count, help="number of points (default: 100)")
    add_schedule_options(p)
    add_seed(p)
    add_output_options(p, "runs/linreg")


def summary(result: LinregResult) -> str:
    """The tutorial's two lines, then the closed form and the gap."""
    import shutil

    from gradlab.jobs.linreg import fmt_w
    from gradlab.viz.terminal import can_encode, sparkline

    s, e, c = result.start, result.end, result.closed
    m = result.model
    rate = f"lr auto = {m.lr_:.3g}" if m.lr == "auto" else f"lr {m.lr_:g}"
    if m.optimizer != "sgd":
        rate = f"optimizer {m.optimizer if isinstance(m.optimizer, str) else m.optimizer_}, {rate}"
    if m.schedule_ is not None:
        rate += f", {m.schedule_.name} schedule"
    # one row of the terminal after its label, in ASCII where stdout takes no Unicode
    width = max(10, min(60, shutil.get_terminal_size().columns - 29))
    chart = sparkline(
        m.history_["loss"], width, log=True, ascii=not can_encode(sys.stdout, "\u2588")
    )
    lines = [
        f"Data: {result.points.source} ({result.points.n_points} points)",
        f"Starting gradient descent at b = {s['b']:g}, w = {fmt_w(s['w'], g=True)}, "
        f"error = {s['error']!r}",
        "Running...",
        f"After {m.epochs} {'iterations' if m.method == 'batch' else 'epochs'} "
        f"b = {e['b']!r}, w = {fmt_w(e['w'])}, error = {e['error']!r}",
        f"Closed form (least squares): b = {c['b']!r}, w = {fmt_w(c['w'])}, error = {c['error']!r}",
        f"Gap to the closed form: b {e['b'] - c['b']:+.6g}, w {_fmt_gap(e['w'], c['w'])}, "
        f"error {e['error'] - c['error']:+.6g} ({_above_minimum(result)})",
        f"Loss per epoch (log scale): {chart}",
        f"Method {m.method}, {rate}: {m.n_steps_} steps in {m.fit_seconds_ * 1e3:.3g} ms",
    ]
    if result.plots:
        lines.append("Plots: " + ", ".join(str(p) for p in result.plots))
    return "\n".join(lines)


#: A least-squares error at most this fraction of the mean square of y is zero but for
#: rounding: the residuals are within 1e-10 of y's scale, the points on one line.
_ZERO_ERROR = 1e-20
#: Errors this close, relative to each other, are equal but for float64 rounding of the
#: mean of the squares.
_ROUNDING = 1e-12


def _above_minimum(result: LinregResult) -> str:
    """How far the end's error is above the closed form's, in percent of it; a percentage
    of a minimum that is zero but for rounding would be noise, so that case is said."""
    end, closed = result.end["error"], result.closed["error"]
    scale = float(np.mean(np.square(result.points.y)))
    if closed <= _ZERO_ERROR * scale:
        return "the minimum is 0: the points lie on a line"
    if abs(end - closed) <= _ROUNDING * closed:
        return "at the minimum, to rounding"
    return f"{100 * (end - closed) / closed:.3g}% above the minimum"


def _fmt_gap(a: object, b: object) -> str:
    from gradlab.jobs.linreg import SHOWN_WEIGHTS, more_weights

    d = np.atleast_1d(np.asarray(a) - np.asarray(b))
    return ", ".join(f"{v:+.6g}" for v in d[:SHOWN_WEIGHTS]) + more_weights(d.size)


#: The generated line's settings when not given: y = 1.5 x + 4 + N(0, 1), 100 points.
GENERATED: dict[str, Any] = {"n": 100, "w": 1.5, "b": 4.0, "noise": 1.0}


def load_points(args: argparse.Namespace) -> Points:
    from gradlab.data.points import check_magnitude, load_csv, magnitude_limit, make_line

    given = {k: getattr(args, k) for k in GENERATED if getattr(args, k) is not None}
    if args.csv is not None:
        if given:
            flags = ", ".join(f"--{k}" for k in given)
            verb = "describes" if len(given) == 1 else "describe"
            raise UsageError(
                f"{flags} {verb} generated data, which --csv replaces; leave "
                f"{'it' if len(given) == 1 else 'them'} out."
            )
        return check_magnitude(load_csv(args.csv))
    settings = {**GENERATED, **given}
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # check_magnitude says it below
            points = make_line(
                settings["n"],
                w=settings["w"],
                b=settings["b"],
                noise=settings["noise"],
                seed=args.seed,
            )
    except UsageError as exc:  # name the flags, not make_line's parameters
        raise with_flags(exc, "make_line", ("n", "w", "b", "noise", "seed")) from None
    try:
        return check_magnitude(points)
    except DataError:
        big = float(np.abs(np.column_stack([points.X, points.y])).max())
        raise UsageError(
            f"--w {settings['w']:g}, --b {settings['b']:g} and --noise {settings['noise']:g} "
            f"make values as large as {big:.3g}"
            + ("" if np.isfinite(big) else " (overflow)")
            + f"; least squares on {len(points.y)} points "
            f"needs every value within {magnitude_limit(len(points.y)):.3g}, or its sums of "
            "squares overflow float64.",
            hint="Choose a smaller --w, --b or --noise.",
        ) from None


#: Every file this command may write in --out (checked before the run starts).
OUTPUTS = ("loss.png", "fit.png", "surface.png")


def run(args: argparse.Namespace) -> int:
    if args.batch_size is not None:
        refuse_batch_size_without_minibatch([args.method or "batch"], "--method")
    schedule = schedule_from_args(args)
    points = load_points(args)
    try:
        result = _fit(args, points, schedule)
    except UsageError as exc:  # name the flags, not the job's parameters
        raise with_flags(exc, "fit", ("init_w", "init_b")) from None
    if args.json:
        print_json(result.to_dict())
    else:
        print(summary(result))
    return 0


def _fit(args: argparse.Namespace, points: Points, schedule: Any) -> LinregResult:
    from gradlab.jobs.linreg import fit

    return fit(
        points,
        optimizer=args.optimizer,
        schedule=schedule,
        lr=args.lr,
        epochs=args.epochs,
        method=args.method,
        batch_size=args.batch_size,
        seed=args.seed,
        init_w=args.init_w,
        init_b=args.init_b,
        out=None if args.no_plots else args.out,
    )
