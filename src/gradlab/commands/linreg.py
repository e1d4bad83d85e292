"""``gradlab linreg``: linear regression by gradient descent, beside the closed form.

With the tutorial's ``data.csv``, ``--lr 0.0001 --iters 1000`` prints the
tutorial's own two lines (to 13 significant digits or more).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradlab.commands._args import (
    add_output_options,
    add_seed,
    finite_float,
    positive_float,
    positive_int,
    print_json,
)
from gradlab.data.points import Points, load_csv, make_line
from gradlab.engines.numpy_engine import loss_and_grad
from gradlab.errors import DivergenceError
from gradlab.models.linear import LinearRegression, closed_form
from gradlab.optim import METHODS

NAME = "linreg"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--csv",
        type=Path,
        metavar="PATH",
        help="points as lines 'x,y' (several feature columns, then y, also work); "
        "without it, generated points are used",
    )
    p.add_argument(
        "--lr", type=positive_float, default=0.0001, help="learning rate (default: 0.0001)"
    )
    p.add_argument(
        "--iters",
        "--epochs",
        dest="epochs",
        type=positive_int,
        default=1000,
        help="passes over the data; with --method batch, one pass is one step (default: 1000)",
    )
    p.add_argument("--method", choices=METHODS, default="batch", help="descent method")
    p.add_argument(
        "--batch-size", type=positive_int, default=10, help="points per minibatch (default: 10)"
    )
    p.add_argument("--init-w", type=finite_float, default=0.0, help="starting w (default: 0)")
    p.add_argument("--init-b", type=finite_float, default=0.0, help="starting b (default: 0)")
    g = p.add_argument_group("generated data (without --csv): y = w*x + b + N(0, noise^2)")
    g.add_argument("--w", type=finite_float, default=1.5, help="true slope (default: 1.5)")
    g.add_argument("--b", type=finite_float, default=4.0, help="true intercept (default: 4)")
    g.add_argument("--noise", type=finite_float, default=1.0, help="noise std (default: 1)")
    g.add_argument("--n", type=positive_int, default=100, help="number of points (default: 100)")
    add_seed(p)
    add_output_options(p, "runs/linreg")


@dataclass
class LinregResult:
    """What one run produced: numbers for the summary, paths of the plots."""

    points: Points
    model: LinearRegression
    start: dict[str, Any]
    end: dict[str, Any]
    closed: dict[str, Any]
    plots: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        return {
            "data": self.points.source,
            "n_points": self.points.n_points,
            "method": m.method,
            "lr": m.lr,
            "epochs": m.epochs,
            "steps": m.n_steps_,
            "start": self.start,
            "end": self.end,
            "closed_form": self.closed,
            "gap": {
                "b": self.end["b"] - self.closed["b"],
                "w": _sub(self.end["w"], self.closed["w"]),
                "error": self.end["error"] - self.closed["error"],
            },
            "seconds": m.fit_seconds_,
            "plots": [str(p) for p in self.plots],
        }


def _sub(a: Any, b: Any) -> Any:
    return (np.asarray(a) - np.asarray(b)).tolist()


def _w(w: np.ndarray) -> float | list[float]:
    """A scalar for one feature (as the tutorial prints), else a list."""
    return float(w[0]) if w.size == 1 else [float(v) for v in w]


def fit(
    points: Points,
    *,
    lr: float,
    epochs: int,
    method: str = "batch",
    batch_size: int = 10,
    seed: int = 0,
    init_w: float = 0.0,
    init_b: float = 0.0,
    out: Path | None = None,
) -> LinregResult:
    """Fit, compare with the closed form, and (when ``out`` is given) draw the plots."""
    X, y = points.X, points.y
    w0 = np.full(points.n_features, init_w)
    model = LinearRegression(
        lr=lr, epochs=epochs, method=method, batch_size=batch_size, seed=seed, loss="mse"
    )
    start = {"b": init_b, "w": _w(w0), "error": _mse(X, y, w0, init_b)}
    model.fit(X, y, coef_init=w0, intercept_init=init_b)
    end = {
        "b": model.intercept_,
        "w": _w(model.coef_),
        "error": _mse(X, y, model.coef_, model.intercept_),
    }
    cw, cb = closed_form(X, y)
    closed = {"b": cb, "w": _w(cw), "error": _mse(X, y, cw, cb)}
    result = LinregResult(points, model, start, end, closed)
    if out is not None:
        result.plots = draw(result, out)
    return result


def _mse(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    return loss_and_grad(X, y, np.asarray(w, dtype=float), float(b), "squared", "mean")[0]


def draw(result: LinregResult, out: Path) -> list[Path]:
    """Write fit.png (one feature only), loss.png and surface.png (one feature only)."""
    from gradlab.viz import regression
    from gradlab.viz.save import save_figure

    m = result.model
    hist = m.history_
    paths = [
        save_figure(
            regression.loss_curves(
                [("gradient descent", hist["loss"])],
                xlabel="epoch",
                title=f"Mean squared error ({m.method}, lr={m.lr:g})",
            ),
            out / "loss.png",
        )
    ]
    if result.points.n_features == 1:
        x, y = result.points.X[:, 0], result.points.y
        lines = [
            ("gradient descent", float(result.end["w"]), float(result.end["b"])),
            ("closed form", float(result.closed["w"]), float(result.closed["b"])),
        ]
        paths.append(save_figure(regression.fit_line(x, y, lines), out / "fit.png"))
        surface = regression.loss_surface(
            x,
            y,
            np.asarray(hist["w"]),
            np.asarray(hist["b"]),
            optimum=(float(result.closed["w"]), float(result.closed["b"])),
        )
        paths.append(save_figure(surface, out / "surface.png"))
    return paths


def summary(result: LinregResult) -> str:
    """The tutorial's two lines, then the closed form and the gap."""
    s, e, c = result.start, result.end, result.closed
    m = result.model
    from gradlab.viz.terminal import sparkline

    lines = [
        f"Data: {result.points.source} ({result.points.n_points} points)",
        f"Starting gradient descent at b = {s['b']:g}, w = {_fmt_w(s['w'], g=True)}, "
        f"error = {s['error']!r}",
        "Running...",
        f"After {m.epochs} {'iterations' if m.method == 'batch' else 'epochs'} "
        f"b = {e['b']!r}, w = {_fmt_w(e['w'])}, error = {e['error']!r}",
        f"Closed form (least squares): b = {c['b']!r}, w = {_fmt_w(c['w'])}, "
        f"error = {c['error']!r}",
        f"Gap to the closed form: b {e['b'] - c['b']:+.6g}, w {_fmt_gap(e['w'], c['w'])}, "
        f"error {e['error'] - c['error']:+.6g} "
        f"({100 * (e['error'] - c['error']) / max(c['error'], 1e-300):.3g}% above the minimum)",
        f"Loss per epoch (log scale): {sparkline(m.history_['loss'], log=True)}",
        f"Method {m.method}, lr {m.lr:g}: {m.n_steps_} steps in {m.fit_seconds_ * 1e3:.3g} ms",
    ]
    if result.plots:
        lines.append("Plots: " + ", ".join(str(p) for p in result.plots))
    return "\n".join(lines)


def _fmt_w(w: Any, g: bool = False) -> str:
    if isinstance(w, list):
        return "[" + ", ".join(f"{v:g}" if g else repr(v) for v in w) + "]"
    return f"{w:g}" if g else repr(w)


def _fmt_gap(a: Any, b: Any) -> str:
    d = np.atleast_1d(np.asarray(a) - np.asarray(b))
    return ", ".join(f"{v:+.6g}" for v in d)


def load_points(args: argparse.Namespace) -> Points:
    if args.csv is not None:
        return load_csv(args.csv)
    return make_line(args.n, w=args.w, b=args.b, noise=args.noise, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    points = load_points(args)
    try:
        result = fit(
            points,
            lr=args.lr,
            epochs=args.epochs,
            method=args.method,
            batch_size=args.batch_size,
            seed=args.seed,
            init_w=args.init_w,
            init_b=args.init_b,
            out=None if args.no_plots else args.out,
        )
    except DivergenceError as exc:
        last = exc.last_params
        exc.message += (
            f"\nLast finite parameters (after epoch {last['epoch']}): "
            f"b = {last['intercept']!r}, w = {_fmt_w(_w(np.asarray(last['coef'])))}"
        )
        raise
    if args.json:
        print_json(result.to_dict())
    else:
        print(summary(result))
    return 0
