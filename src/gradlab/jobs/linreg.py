"""Linear regression as a job: fit by gradient descent, solve in closed form, draw.

Used by ``gradlab linreg`` and the tour; the numbers and plots of one run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gradlab.data.points import Points
from gradlab.errors import DivergenceError, GradlabWarning, UsageError
from gradlab.models.linear import LinearRegression, closed_form
from gradlab.ops import affine, squared_error
from gradlab.optim.rules import is_plain

if TYPE_CHECKING:
    from gradlab.models.base import GradientDescentModel
    from gradlab.optim import Rule, Schedule


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
            "optimizer": m.optimizer_.config(),
            "schedule": m.schedule_.config() if m.schedule_ is not None else None,
            "lr": m.lr_,
            "lr_auto": m.lr == "auto",
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
            "files": [str(p) for p in self.plots],
        }


def _sub(a: Any, b: Any) -> Any:
    return (np.asarray(a) - np.asarray(b)).tolist()


def as_w(w: np.ndarray) -> float | list[float]:
    """A scalar for one feature (as the tutorial prints), else a list."""
    return float(w[0]) if w.size == 1 else [float(v) for v in w]


def fit(
    points: Points,
    *,
    lr: float | str | None = None,
    epochs: int | None = None,
    method: str | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    init_w: float = 0.0,
    init_b: float = 0.0,
    out: Path | None = None,
    optimizer: str | Rule | None = None,
    schedule: Schedule | Callable[[float, int], Schedule] | None = None,
) -> LinregResult:
    """Fit, compare with the closed form, and (when ``out`` is given) draw the plots.

    A setting left at None takes :class:`LinearRegression`'s default, so the command
    line and the Python API share one set of defaults (plain SGD at a constant rate).
    The loss is the mean squared error, as in the tutorial. ``optimizer`` and
    ``schedule`` are :class:`LinearRegression`'s.

    Raises
    ------
    DivergenceError
        The message ends with the last finite parameters.
    """
    X, y = points.X, points.y
    w0 = np.full(points.n_features, init_w)
    given: dict[str, Any] = {
        "lr": lr,
        "epochs": epochs,
        "method": method,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "schedule": schedule,
    }
    settings = {k: v for k, v in given.items() if v is not None}
    model = LinearRegression(loss="mse", random_state=seed, **settings)
    with np.errstate(over="ignore", invalid="ignore"):
        start = {"b": init_b, "w": as_w(w0), "error": mse(X, y, w0, init_b)}
    if not np.isfinite(start["error"]):
        raise UsageError(
            f"fit: the loss at the start (init_w {init_w:g}, init_b {init_b:g}) is "
            f"{start['error']}: those values are too large for this data.",
            hint="Start nearer zero, or leave init_w and init_b out (zeros).",
        )
    try:
        model.fit(X, y, coef_init=w0, intercept_init=init_b)
    except DivergenceError as exc:
        last = exc.last_params
        exc.message += (
            f"\nLast finite parameters (after epoch {last['epoch']}): "
            f"b = {last['intercept']!r}, w = {fmt_w(as_w(np.asarray(last['coef'])))}"
        )
        raise
    end = {
        "b": model.intercept_,
        "w": as_w(model.coef_),
        "error": mse(X, y, model.coef_, model.intercept_),
    }
    _warn_if_constant(points)
    cw, cb = closed_form(X, y)
    closed = {"b": cb, "w": as_w(cw), "error": mse(X, y, cw, cb)}
    result = LinregResult(points, model, start, end, closed)
    if out is not None:
        result.plots = draw(result, out)
    return result


#: The most constant x columns warned about one by one; more get one warning together.
_CONSTANT_COLUMNS_NAMED = 3


def _warn_if_constant(points: Points) -> None:
    """Warn when an x column holds one value: beside the intercept, its weight is then not
    determined (a whole line of (w, b) fits equally well). Many such columns get one
    warning, not one each."""
    X = points.X
    one = X.shape[1] == 1
    constant = np.flatnonzero(np.ptp(X, axis=0) == 0) if len(X) else np.array([], int)
    if len(constant) > _CONSTANT_COLUMNS_NAMED:
        shown = ", ".join(str(j + 1) for j in constant[:_CONSTANT_COLUMNS_NAMED])
        warnings.warn(
            f"{points.source}: {len(constant)} x columns hold one value each (columns "
            f"{shown} and {len(constant) - _CONSTANT_COLUMNS_NAMED} more), so their "
            "weights and b are not determined apart. Gradient descent stops at one such "
            "set; the closed form gives the one of least norm. Drop those columns, or use "
            "points with different x values.",
            GradlabWarning,
            stacklevel=3,
        )
        return
    for j in constant:
        if points.header is not None:
            x = f"x column {j + 1} ({points.header[j]!r})"
        else:
            x = "x" if one else f"x column {j + 1}"
        w = "w" if one else f"w[{j}]"
        warnings.warn(
            f"{points.source}: every {x} is {X[0, j]:g}, so the fit depends on b + "
            f"{X[0, j]:g} {w} alone and the two are not determined apart. Gradient descent "
            "stops at one such pair; the closed form gives the pair of least norm. "
            "Use points with different x values.",
            GradlabWarning,
            stacklevel=3,
        )


def rule_text(model: GradientDescentModel) -> str:
    """The rule and rate as a title says them: ``lr=0.01`` for plain SGD at a constant rate
    (as always), else ``adam, lr=0.01`` or ``momentum, lr=0.01, cosine schedule``."""
    text = f"lr={model.lr_:.3g}"
    name = model.optimizer if isinstance(model.optimizer, str) else model.optimizer_.name
    if name != "sgd" or not is_plain(model.optimizer_):
        text = f"{name}, {text}"
    if model.schedule_ is not None:
        text += f", {model.schedule_.name} schedule"
    return text


#: How many weights a line of text shows (the JSON output has them all).
SHOWN_WEIGHTS = 8


def more_weights(n: int) -> str:
    """``", ... and K more"`` after the first :data:`SHOWN_WEIGHTS` of ``n`` weights."""
    return f", ... and {n - SHOWN_WEIGHTS:,} more" if n > SHOWN_WEIGHTS else ""


def fmt_w(w: Any, g: bool = False) -> str:
    """``w`` as printed: ``repr`` of each value (``g`` for the short ``:g`` form), the first
    :data:`SHOWN_WEIGHTS` of a long one."""
    if isinstance(w, list):
        shown = ", ".join(f"{v:g}" if g else repr(v) for v in w[:SHOWN_WEIGHTS])
        return "[" + shown + more_weights(len(w)) + "]"
    return f"{w:g}" if g else repr(w)


def mse(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """The mean squared error of ``y ~ X @ w + b``, from the residuals."""
    return squared_error(affine(X, np.asarray(w, dtype=float), float(b)), y, "mean")[0]


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
                title=f"Mean squared error ({m.method}, {rule_text(m)})",
                # the minimum the descent aims at: the gap to it is the lesson
                floor=("least squares", float(result.closed["error"])),
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
