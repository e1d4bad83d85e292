"""Linear regression as a job: fit by gradient descent, solve in closed form, draw.

Used by ``gradlab linreg`` and the tour; the numbers and plots of one run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradlab.data.points import Points
from gradlab.engines.numpy_engine import loss_and_grad
from gradlab.models.linear import LinearRegression, closed_form


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


def as_w(w: np.ndarray) -> float | list[float]:
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
    start = {"b": init_b, "w": as_w(w0), "error": _mse(X, y, w0, init_b)}
    model.fit(X, y, coef_init=w0, intercept_init=init_b)
    end = {
        "b": model.intercept_,
        "w": as_w(model.coef_),
        "error": _mse(X, y, model.coef_, model.intercept_),
    }
    cw, cb = closed_form(X, y)
    closed = {"b": cb, "w": as_w(cw), "error": _mse(X, y, cw, cb)}
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
