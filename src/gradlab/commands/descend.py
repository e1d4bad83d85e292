"""``gradlab descend``: gradient descent on a function, what the learning rate does, and the
optimizer race.

One run prints its path; several rates (``--lr 0.001,0.01``) or several update rules
(``--optimizer sgd,momentum,adam``) print a table of verdicts. Several rules make a race:
``race.png`` (the paths on the contours, and how fast each closes in) and ``race.gif``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from gradlab.commands._args import (
    add_optimizer_option,
    add_output_options,
    add_schedule_options,
    float_list,
    int_from_1_to,
    positive_float,
    positive_int,
    print_json,
    rate_list,
    schedule_from_args,
    with_flags,
)
from gradlab.errors import ExitStatus, UsageError
from gradlab.params import MAX_DESCENT_STEPS

if TYPE_CHECKING:
    from gradlab.functions import Trajectory
    from gradlab.optim.rules import Rule


#: The built-in test functions (the names of gradlab.functions.testfunctions.TEST_FUNCTIONS,
#: repeated here so that --help need not import SymPy; a test checks they agree).
TEST_FUNCTION_NAMES = ("rosenbrock", "beale", "himmelblau", "saddle", "ill-conditioned")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "function",
        metavar="EXPR|NAME",
        help="f of x, or of x and y, e.g. 'x**2*sin(x)' or 'x**2 + 3*y**2'; "
        "allowed: numbers, x, y, + - * / ** ^, pi, e, sin cos tan asin acos atan "
        "sinh cosh tanh exp log sqrt abs. Or a built-in test function of x and y, with "
        f"its own start, minimum and rates: {', '.join(TEST_FUNCTION_NAMES)}",
    )
    p.add_argument(
        "--x0",
        type=float_list,
        metavar="X[,Y]",
        help="starting point (default: 4, or the test function's; for f(x, y) give two "
        "numbers, e.g. 2,1)",
    )
    p.add_argument(
        "--lr",
        type=rate_list,
        metavar="LR[,LR...]",
        help="learning rate; several (e.g. 0.001,0.01,0.1,1) are compared. Default: 0.05, "
        "or on a test function its own; with several optimizers, each its own default "
        "(the SGD family shares one, the adaptive rules, whose rate is a step length, "
        "another)",
    )
    add_optimizer_option(p, several=True)
    p.add_argument(
        "--steps",
        type=int_from_1_to(MAX_DESCENT_STEPS),
        help=f"most steps, up to {MAX_DESCENT_STEPS:,} (default: 200, or the test function's)",
    )
    p.add_argument(
        "--tol",
        type=positive_float,
        default=1e-8,
        help="converged when a step is shorter than this (default: 1e-8)",
    )
    p.add_argument(
        "--show",
        type=positive_int,
        default=12,
        metavar="N",
        help="rows of the path to print for one run (default: 12)",
    )
    add_schedule_options(p)
    add_output_options(p, "runs/descend")


def _fmt(v: Any) -> str:
    return ", ".join(f"{float(c):.6g}" for c in v) if hasattr(v, "__len__") else f"{v:.6g}"


def path_table(run: Trajectory, rows: int) -> str:
    """The path, compactly: the first steps, every k-th, and the last."""
    n = len(run.points)
    head = min(4, n)
    picks = list(range(head))
    if n > head:
        stride = max(1, (n - head) // max(rows - head, 1))
        picks += list(range(head - 1 + stride, n - 1, stride))[: max(rows - head - 1, 0)]
        picks.append(n - 1)
    names = run.function.variables
    grad = "f'(x)" if len(names) == 1 else "grad f"
    lines = [f"{'step':>6}  {','.join(names):>22}  {'f':>14}  {grad:>22}"]
    for i in sorted(set(picks)):
        lines.append(
            f"{i:>6}  {_fmt(run.points[i]):>22}  {run.values[i]:>14.8g}  "
            f"{_fmt(run.gradients[i]):>22}"
        )
    return "\n".join(lines)


def describe(run: Trajectory) -> str:
    """The verdict in a sentence, with what to try."""
    if run.verdict == "converged":
        return f"converged after {run.converged_at} steps (a step shorter than {run.tol:g})"
    if run.verdict == "diverged":
        return f"diverged at step {run.diverged_at}: try a smaller learning rate"
    if run.verdict == "diverging":
        return (
            f"diverging after {run.steps} steps: each bounce is longer than the last; "
            "try a smaller learning rate"
        )
    if run.verdict == "oscillating":
        return f"oscillating after {run.steps} steps: the rate is too large to settle"
    if run.settling and run.bouncing:
        return (
            f"still settling after {run.steps} steps: it overshoots the minimum and comes "
            "back, each bounce less than half as long 20 steps later; more steps would "
            "converge (too slow)"
        )
    if run.settling:
        return (
            f"still approaching after {run.steps} steps: each step less than half as long "
            "20 steps later, straight on towards the minimum; more steps would converge "
            "(too slow)"
        )
    if run.schedule is not None:
        return (
            f"still descending after {run.steps} steps (too slow): more steps, a larger "
            "rate or a slower decay would get further"
        )
    return f"still descending after {run.steps} steps: the rate is too small (too slow)"


def update_rule(rule: Rule | None, rate: str, var: str, grad: str) -> str:
    """The update in symbols, with the rule's hyperparameters: what one step does."""
    from gradlab.optim.rules import SGD, Adagrad, Adam, AdamW, RMSprop

    if rule is None or (isinstance(rule, SGD) and not rule.momentum):
        return f"{var} <- {var} - {rate} * {grad}"
    wd = float(getattr(rule, "weight_decay", 0.0))
    decay = f" + {wd:g} * {var}" if wd else ""
    g = f"({grad}{decay})" if decay and not isinstance(rule, AdamW) else grad
    if isinstance(rule, SGD):
        mu = f"{rule.momentum:g}"
        damp = f"{1 - rule.dampening:g} * " if rule.dampening else ""
        if rule.nesterov:
            return f"v <- {mu} v + {g};  {var} <- {var} - {rate} * ({g} + {mu} v)"
        return f"v <- {mu} v + {damp}{g};  {var} <- {var} - {rate} * v"
    if isinstance(rule, Adagrad):
        return f"s <- s + {g}^2;  {var} <- {var} - {rate} * {g} / (sqrt(s) + {rule.eps:g})"
    if isinstance(rule, RMSprop):
        a = rule.alpha
        return (
            f"s <- {a:g} s + {1 - a:g} {g}^2;  {var} <- {var} - {rate} * {g} / "
            f"(sqrt(s) + {rule.eps:g})"
        )
    if isinstance(rule, Adam):
        b1, b2 = rule.betas
        shrink = (
            f"{var} <- (1 - {rate} * {wd:g}) {var};  " if isinstance(rule, AdamW) and wd else ""
        )
        return (
            f"{shrink}m <- {b1:g} m + {1 - b1:g} {g};  v <- {b2:g} v + {1 - b2:g} {g}^2;  "
            f"{var} <- {var} - {rate} * m^ / (sqrt(v^) + {rule.eps:g}), m^ and v^ "
            "corrected for starting at 0"
        )
    return f"{rule.name}: {rule.config()}"


def to_dict(run: Trajectory) -> dict[str, Any]:
    out = {
        # as train's and linreg's: the rule's settings; and the --optimizer item it came from
        "optimizer": run.rule.config() if run.rule is not None else None,
        "optimizer_flag": run.optimizer,
        "lr": run.lr,
        "schedule": run.schedule.config() if run.schedule is not None else None,
        "verdict": run.verdict,
        "converged_at": run.converged_at,
        "diverged_at": run.diverged_at,
        "steps": run.steps_taken,
        "x_final": run.x_final.tolist(),
        "f_final": run.f_final,
    }
    distances = run.distances
    if distances is not None:
        out["distance_to_minimum"] = float(distances[-1])
    return out


def _name_a_test_function(text: str, exc: UsageError) -> None:
    """Give a formula that failed to parse a hint naming the built-in test functions
    when it looks like a misspelt one ("rosenbrok", "ill conditioned") or is one unknown
    word; not when it fails as a formula ("pi" has no variable)."""
    import difflib

    if exc.hint:
        return
    word = text.lower().replace("_", "-").replace(" ", "-")
    close = difflib.get_close_matches(word, TEST_FUNCTION_NAMES, n=1, cutoff=0.6)
    one_word = word.replace("-", "").isalpha() and exc.message.startswith("unknown name")
    if not close and not one_word:  # a formula, not a name
        return
    exc.hint = (f"Did you mean {close[0]}? " if close else "") + (
        f"The built-in test functions are {', '.join(TEST_FUNCTION_NAMES)}."
    )


def _runs(args: argparse.Namespace) -> list[Trajectory]:
    from gradlab.functions import compare_optimizers, compare_rates, minimize, test_function

    text = args.function.strip()
    target: Any = test_function(text) if text in TEST_FUNCTION_NAMES else text
    optimizers, lrs = args.optimizer, args.lr
    if len(optimizers) > 1 and lrs is not None and len(lrs) > 1:
        raise UsageError(
            f"give several optimizers ({','.join(optimizers)}) or several learning rates "
            f"({','.join(f'{r:g}' for r in lrs)}), not both.",
            hint="Compare the rules at one rate (or each at its default rate), or one rule "
            "at several rates.",
        )
    if args.x0 is not None:
        x0 = args.x0
    elif target is text:  # a formula: start at 4 in every variable it has
        from gradlab.functions import parse_function

        try:
            target = parse_function(text)
        except UsageError as exc:
            _name_a_test_function(text, exc)
            raise
        x0 = [4.0] * len(target.variables)
    else:
        x0 = None  # a test function's own start
    runs = len(optimizers) if len(optimizers) > 1 else len(lrs or [0.0])
    if args.steps is not None and runs * args.steps > MAX_DESCENT_STEPS:  # all points kept
        raise UsageError(
            f"--steps {args.steps:,} for each of {runs} runs keeps {runs * args.steps:,} "
            f"points; at most {MAX_DESCENT_STEPS:,} in all.",
            hint=f"Take at most {MAX_DESCENT_STEPS // runs:,} steps, or compare fewer runs.",
        )
    spec = schedule_from_args(args)
    common: dict[str, Any] = {"steps": args.steps, "tol": args.tol, "schedule": spec}
    if len(optimizers) > 1:
        lr = lrs[0] if lrs else None
        return compare_optimizers(target, optimizers, x0, lr=lr, **common)
    if lrs is not None and len(lrs) > 1:
        return compare_rates(target, x0, lrs, optimizer=optimizers[0], **common)
    return [minimize(target, x0, lr=lrs[0] if lrs else None, optimizer=optimizers[0], **common)]


#: Every file this command may write in --out (checked before the run starts).
OUTPUTS = ("race.png", "race.gif", "descent.png")


def run(args: argparse.Namespace) -> int:
    spec = schedule_from_args(args)  # a bad combination of flags fails before any work
    try:
        runs = _runs(args)
    except UsageError as exc:  # the starting point is --x0 here (minimize's x0)
        raise with_flags(exc, "minimize", {"x0": "--x0"}) from None
    f = runs[0].function
    known = runs[0].test_function
    race = len({r.optimizer for r in runs}) > 1
    plots = []
    if not args.no_plots:
        from gradlab.viz.save import save_figure

        if race:
            from gradlab.viz.race import race_figure, race_gif

            plots.append(str(save_figure(race_figure(runs), args.out / "race.png")))
            plots.append(str(race_gif(runs, args.out / "race.gif")))
        else:
            from gradlab.viz.descent import descent_panels

            plots.append(str(save_figure(descent_panels(runs), args.out / "descent.png")))
    diverged = None
    if len(runs) == 1 and runs[0].verdict == "diverged":
        diverged = {
            "kind": "diverged",
            "message": f"diverged at step {runs[0].diverged_at}; last finite point "
            f"{_fmt(runs[0].x_final)}.",
            "hint": "Try a smaller --lr.",
            "exit_status": int(ExitStatus.DIVERGED),
        }
    if args.json:
        print_json(
            {
                **({"error": diverged} if diverged else {}),  # as every command's --json
                "function": f.text,
                "test_function": known.name if known is not None else None,
                "minima": [list(m) for m in known.minima] if known is not None else None,
                "variables": list(f.variables),
                "derivative": f.derivative_text,
                "x0": runs[0].points[0].tolist(),
                "schedule_options": spec.describe() if spec is not None else None,
                "runs": [to_dict(r) for r in runs],
                "files": plots,
            }
        )
    else:
        _print_text(runs, args, plots)
    if diverged:
        print(f"gradlab descend: error: {diverged['message']} {diverged['hint']}", file=sys.stderr)
        return int(ExitStatus.DIVERGED)
    return 0


def _rates(run: Trajectory) -> str:
    """A few of a scheduled run's rates: ``"0.05 at step 1, 0.025 at step 100, ..."``."""
    rates = run.rates
    if not len(rates):
        return "no steps taken"
    picks = sorted({0, len(rates) // 4, len(rates) // 2, 3 * len(rates) // 4, len(rates) - 1})
    return ", ".join(f"{rates[i]:.3g} at step {i + 1}" for i in picks)


def _print_text(runs: list[Trajectory], args: argparse.Namespace, plots: list[str]) -> None:
    f = runs[0].function
    known = runs[0].test_function
    var = ", ".join(f.variables)
    head = f"{known.name}: " if known is not None else ""
    print(f"{head}f({var}) = {f.text}")
    label = "f'(x)" if f.n_vars == 1 else "gradient"
    print(f"{label} = {f.derivative_text}")
    if known is not None:
        print(f"{known.describe()}; {runs[0].steps} steps at most")
    if len(runs) == 1:
        r = runs[0]
        rate = f"{r.lr:g}" if r.schedule is None else "lr_t"
        which = "" if r.optimizer == "sgd" else f" ({r.optimizer})"
        print(f"update{which}: {update_rule(r.rule, rate, var, label)}")
        if r.schedule is not None:
            print(f"lr_t: the {r.schedule.name} schedule from {r.lr:g}, {_rates(r)}")
        print()
        print(path_table(r, args.show))
        print(f"\nend: ({var}) = ({_fmt(r.x_final)}), f = {r.f_final:.10g}")
        if r.distances is not None:
            print(f"distance to the nearest minimum: {r.distances[-1]:.3g}")
        print(f"verdict: {describe(r)}")
    else:
        print()
        extra = known is not None
        columns = f"{'optimizer':<10}  " if len({r.optimizer for r in runs}) > 1 else ""
        print(
            f"{columns}{'lr':>10}  {'verdict':<12}  {'steps':>6}  {'end point':>24}  "
            f"{'f(end)':>14}" + (f"  {'from the minimum':>16}" if extra else "")
        )
        for r in runs:
            name = f"{r.optimizer:<10}  " if columns else ""
            line = (
                f"{name}{r.lr:>10g}  {r.verdict:<12}  {r.stopped_at:>6}  "
                f"{_fmt(r.x_final):>24}  {r.f_final:>14.8g}"
            )
            if extra and r.distances is not None:
                line += f"  {r.distances[-1]:>16.3g}"
            print(line)
        if runs[0].schedule is not None:
            print(f"schedule: {runs[0].schedule.name} (each run from its own rate)")
    if plots:
        print(f"\nPlot{'s' if len(plots) > 1 else ''}: {', '.join(plots)}")
