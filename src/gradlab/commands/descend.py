"""``gradlab descend``: gradient descent on a function, and what the learning rate does."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from gradlab.commands._args import (
    add_output_options,
    float_list,
    positive_float,
    positive_float_list,
    positive_int,
    print_json,
)
from gradlab.errors import ExitStatus

if TYPE_CHECKING:
    from gradlab.functions import Trajectory

NAME = "descend"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "function",
        metavar="EXPR",
        help="f of x, or of x and y, e.g. 'x**2*sin(x)' or 'x**2 + 3*y**2'; "
        "allowed: numbers, x, y, + - * / ** ^, pi, e, sin cos tan asin acos atan "
        "sinh cosh tanh exp log sqrt abs",
    )
    p.add_argument(
        "--x0",
        type=float_list,
        default=[4.0],
        metavar="X[,Y]",
        help="starting point (default: 4; for f(x, y) give two numbers, e.g. 2,1)",
    )
    p.add_argument(
        "--lr",
        type=positive_float_list,
        default=[0.05],
        metavar="LR[,LR...]",
        help="learning rate; several (e.g. 0.001,0.01,0.1,1) are compared (default: 0.05)",
    )
    p.add_argument("--steps", type=positive_int, default=200, help="most steps (default: 200)")
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
        help="rows of the path to print for one rate (default: 12)",
    )
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
    return f"still descending after {run.steps} steps: the rate is too small (too slow)"


def to_dict(run: Trajectory) -> dict[str, Any]:
    return {
        "lr": run.lr,
        "verdict": run.verdict,
        "converged_at": run.converged_at,
        "diverged_at": run.diverged_at,
        "steps_taken": run.steps_taken,
        "x_final": run.x_final.tolist(),
        "f_final": run.f_final,
    }


def run(args: argparse.Namespace) -> int:
    from gradlab.functions import compare_rates, parse_function

    f = parse_function(args.function)
    runs = compare_rates(f, args.x0, args.lr, steps=args.steps, tol=args.tol)
    plots = []
    if not args.no_plots:
        from gradlab.viz.descent import descent_panels
        from gradlab.viz.save import save_figure

        plots.append(str(save_figure(descent_panels(runs), args.out / "descent.png")))
    if args.json:
        print_json(
            {
                "function": f.text,
                "variables": list(f.variables),
                "derivative": f.derivative_text,
                "x0": args.x0,
                "runs": [to_dict(r) for r in runs],
                "plots": plots,
            }
        )
    else:
        var = ", ".join(f.variables)
        print(f"f({var}) = {f.text}")
        label = "f'(x)" if f.n_vars == 1 else "gradient"
        print(f"{label} = {f.derivative_text}")
        if len(runs) == 1:
            r = runs[0]
            print(f"update: {var} <- {var} - {r.lr:g} * {label}\n")
            print(path_table(r, args.show))
            print(f"\nend: ({var}) = ({_fmt(r.x_final)}), f = {r.f_final:.10g}")
            print(f"verdict: {describe(r)}")
        else:
            print()
            print(f"{'lr':>10}  {'verdict':<12}  {'steps':>6}  {'end point':>24}  {'f(end)':>14}")
            for r in runs:
                steps = r.converged_at or r.diverged_at or r.steps_taken
                print(
                    f"{r.lr:>10g}  {r.verdict:<12}  {steps:>6}  {_fmt(r.x_final):>24}  "
                    f"{r.f_final:>14.8g}"
                )
        if plots:
            print(f"\nPlot: {plots[0]}")
    if len(runs) == 1 and runs[0].verdict == "diverged":
        if not args.json:
            print(
                f"gradlab descend: error: diverged at step {runs[0].diverged_at}; "
                f"last finite point {_fmt(runs[0].x_final)}. Try a smaller --lr.",
                file=sys.stderr,
            )
        return int(ExitStatus.DIVERGED)
    return 0
