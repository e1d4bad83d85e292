"""The tour: the curriculum run end to end on built-in data, written up as one HTML report.

Each chapter is a function ``(out_dir, seed) -> Chapter`` (one that needs an optional
engine which is not installed says so, and how to add it); later chapters are appended to
:data:`CHAPTERS`. Chapters only call the public API and the plot
functions, as a user would. Every chapter says what to look for ("What you will
see"), shows the figures to be compared side by side with captions that say what to
notice, and ends with the commands that reproduce it. The descent and linear-regression
chapters add a learning-rate slider over runs precomputed here
(:func:`descent_rate_data`, :func:`linreg_rate_data`).
"""

from __future__ import annotations

import base64
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gradlab.errors import install_command
from gradlab.viz.report import Section

if TYPE_CHECKING:
    from gradlab.data.points import Points
    from gradlab.functions import Function, Trajectory

INTRO = (
    "The whole curriculum, run on built-in data in well under a minute: gradient descent on a "
    "function, linear regression, the same model in three engines, two image "
    "classifiers, and a race of update rules. Each chapter says what to look for, puts "
    "the pictures to compare side by side, and ends with the commands that reproduce it. "
    "The sliders and hover "
    "read-outs need JavaScript; without it, every static figure is still here."
)


@dataclass
class Chapter:
    """A chapter's report section and its one-line summary for the terminal."""

    section: Section
    summary: str


def _sig(values: Any, digits: int = 6) -> list[float | None]:
    """Numbers rounded to ``digits`` significant digits for the page (None if not finite)."""
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in np.asarray(values)]


def rate_grid(low: float, high: float, count: int, keep: Sequence[float] = ()) -> list[float]:
    """``count`` rates spread evenly on a log scale from ``low`` to ``high`` (two
    significant digits), with the rates in ``keep`` exactly; sorted, no repeats."""
    spread = {float(f"{v:.2g}") for v in np.geomspace(low, high, count)}
    return sorted(spread | {float(v) for v in keep})


def descent_verdict(run: Trajectory) -> str:
    """One sentence on what became of a descent on a function of one variable."""
    x, fx = run.x_final[0], run.f_final
    if run.verdict == "converged":
        return (
            f"converged after {run.converged_at} steps: x = {x:.6g}, f = {fx:.6g} "
            "(a step shorter than the tolerance)."
        )
    if run.verdict == "diverged":
        return (
            f"diverged at step {run.diverged_at}: x ran away (last finite x = {x:.3g}); "
            "each step overshoots by more than the last."
        )
    if run.verdict == "too slow":
        return (
            f"too slow: after {run.steps_taken} steps x = {x:.6g} is still creeping "
            f"towards the minimum (f = {fx:.6g})."
        )
    if run.verdict == "diverging":
        return (
            f"diverging: after {run.steps_taken} steps x bounces across the minimum "
            f"further each time (x = {x:.4g})."
        )
    return (
        f"oscillating: after {run.steps_taken} steps x still bounces from side to side "
        f"of the valley (x = {x:.4g}, f = {fx:.4g})."
    )


def descent_rate_data(
    f: Function, x0: float, lrs: Sequence[float], *, steps: int = 200, initial: float = 0.01
) -> dict[str, Any]:
    """The descent slider's data: ``f`` sampled for drawing and one run per rate.

    Parameters
    ----------
    f : Function
        A function of one variable.
    x0 : float
        The common start.
    lrs : sequence of float
        The rates under the slider, ascending.
    steps : int
        Steps per run.
    initial : float
        The rate shown first (the nearest in ``lrs``).
    """
    from gradlab.functions import compare_rates

    runs = compare_rates(f, [x0], list(lrs), steps=steps)
    kept = [r.points[:, 0] for r in runs if r.verdict != "diverged"] or [np.array([x0])]
    allx = np.concatenate(kept)
    lo, hi = float(allx.min()), float(allx.max())
    span = max(hi - lo, abs(x0) * 0.5, 1.0)
    xs = np.linspace(lo - 0.2 * span, hi + 0.2 * span, 300)
    ys = f.value(xs[:, None])
    pad = 0.08 * float(ys.max() - ys.min() or 1.0)
    return {
        "function": f.text,
        "x0": x0,
        "steps": steps,
        "curve": {"x": _sig(xs), "y": _sig(ys)},
        "view": {
            "x": [float(xs[0]), float(xs[-1])],
            "y": [float(ys.min() - pad), float(ys.max() + pad)],
        },
        "initial": int(np.argmin([abs(math.log(r / initial)) for r in lrs])),
        "rates": [
            {
                "lr": r.lr,
                "verdict": r.verdict,
                "text": descent_verdict(r),
                "x": _sig(r.points[:, 0]),
                "f": _sig(r.values),
            }
            for r in runs
        ],
    }


def descent_chapter(out: Path, seed: int) -> Chapter:
    """Gradient descent on ``x**2 * sin(x)`` at four learning rates, and a slider."""
    from gradlab.functions import compare_rates, parse_function
    from gradlab.viz.descent import descent_panels
    from gradlab.viz.save import save_figure

    f = parse_function("x**2*sin(x)")
    lrs = [0.001, 0.01, 0.1, 1.0]
    runs = compare_rates(f, [4.0], lrs, steps=200)
    png = save_figure(descent_panels(runs), out / "descent.png")
    s = Section("1. Gradient descent on a function")
    s.see(
        "What the learning rate does to gradient descent on f(x) = x²·sin(x): too small "
        "and x crawls, well chosen and it settles in the minimum, larger and it bounces "
        "or flies off. The slider tries 25 rates."
    )
    s.text(
        f"f(x) = {f.text}, f'(x) = {f.derivative_text}; each step is x <- x - lr * f'(x), "
        "from x0 = 4 for at most 200 steps."
    )
    rows = []
    for r in runs:
        steps = r.converged_at or r.diverged_at or r.steps_taken
        rows.append([f"{r.lr:g}", r.verdict, steps, f"{r.x_final[0]:.6g}", f"{r.f_final:.6g}"])
    s.table(["learning rate", "verdict", "steps", "end x", "f(end x)"], rows)
    grid = rate_grid(1e-4, 1.5, 21, keep=lrs)
    s.widget(
        "descent-rate",
        descent_rate_data(f, 4.0, grid, steps=200, initial=0.01),
        title="Try a learning rate",
    )
    verdicts = {r.lr: r.verdict for r in runs}
    s.image(
        png,
        "The four rates of the table, one panel each; the dots go from dark (the start, "
        "circled) to bright (the end). Notice how the same slope gives steps of very "
        f"different lengths: lr 0.001 is {verdicts[0.001]} (200 small steps, still "
        f"creeping into the minimum), lr 0.01 {verdicts[0.01]}, lr 0.1 {verdicts[0.1]} (dots "
        f"on both sides of the valley), lr 1 {verdicts[1.0]} (the first step throws x far "
        "off).",
    )
    s.reproduce(f'gradlab descend "{f.text}" --x0 4 --lr 0.001,0.01,0.1,1 --steps 200')
    summary = ", ".join(f"lr {r.lr:g} {r.verdict}" for r in runs)
    return Chapter(s, f"descent on x**2*sin(x): {summary}")


def linreg_verdict(result: Any, lr: float, limit: float, diverged_at: int | None) -> tuple[
    str, str
]:  # fmt: skip
    """(verdict, sentence) for one linear-regression run."""
    if diverged_at is not None:
        return "diverged", (
            f"diverged at epoch {diverged_at}: the loss exploded. Full-batch descent on "
            f"this data is stable only below lr = {limit:.4g}."
        )
    gap = result.end["error"] - result.closed["error"]
    epochs = result.model.epochs
    if gap <= 1e-3 * result.closed["error"]:
        return "converged", (
            f"converged: w = {result.end['w']:.4g}, b = {result.end['b']:.4g} after {epochs} "
            f"epochs, within 0.1% of the least-squares error ({gap:.2g} above it)."
        )
    if result.end["error"] > result.start["error"]:
        return "diverging", (
            f"diverging: each zigzag across the valley is longer than the last; after {epochs} "
            f"epochs the error is {result.end['error']:.3g}, above where it started. More "
            "epochs would blow it up."
        )
    h = result.model.history_
    steps = np.diff(np.array([h["w"][-21:], h["b"][-21:]]), axis=1)  # (2, 20)
    flips = np.mean(steps[:, 1:] * steps[:, :-1] < 0, axis=1)
    if lr > limit / 2 and flips.max() > 0.5:
        return "oscillating", (
            f"zigzags across the valley: after {epochs} epochs the error is {gap:.3g} above "
            "the minimum."
        )
    return "too slow", (
        f"too slow: after {epochs} epochs, w = {result.end['w']:.4g} but b = "
        f"{result.end['b']:.4g} (the least-squares b is {result.closed['b']:.4g}); the "
        f"error is {gap:.3g} above the minimum."
    )


def stable_rate(x: np.ndarray) -> float:
    """The largest stable rate of full-batch descent on the mean squared error of a line:
    ``2 / lambda_max`` of the Hessian ``(2/n) [[sum x^2, sum x], [sum x, n]]``."""
    n = x.size
    hessian = 2.0 / n * np.array([[x @ x, x.sum()], [x.sum(), n]])
    return float(2.0 / np.linalg.eigvalsh(hessian).max())


def surface_png(
    x: np.ndarray, y: np.ndarray, extent: tuple[tuple[float, float], tuple[float, float]]
) -> str:
    """The loss surface over ``extent`` as a PNG data URI, no axes: the slider's background."""
    from matplotlib import colormaps
    from matplotlib.image import imsave

    from gradlab.viz.regression import mse_grid

    (w_lo, w_hi), (b_lo, b_hi) = extent
    W, B = np.meshgrid(np.linspace(w_lo, w_hi, 240), np.linspace(b_lo, b_hi, 180))
    levels = np.log10(mse_grid(x, y, W, B))
    buf = io.BytesIO()
    imsave(buf, levels, cmap=colormaps["viridis"], origin="lower", format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _epoch_samples(epochs: int) -> np.ndarray:
    """Every one of the first 60 epochs, then 60 spread on a log scale to the last."""
    late = np.geomspace(60, epochs, 60).round() if epochs > 60 else np.zeros(0)
    return np.unique(np.concatenate([np.arange(min(epochs, 60) + 1), late])).astype(int)


def linreg_rate_data(
    points: Points,
    lrs: Sequence[float],
    *,
    epochs: int = 1000,
    initial: float = 0.01,
    extent: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """The linear-regression slider's data: the surface, and the path and loss per rate.

    Parameters
    ----------
    points : Points
        One feature.
    lrs : sequence of float
        Rates under the slider, ascending; diverging ones are drawn up to the epoch
        before the loss exploded.
    epochs : int
        Epochs per run.
    initial : float
        The rate shown first (the nearest in ``lrs``).
    extent : ((w_lo, w_hi), (b_lo, b_hi)), optional
        The (w, b) box drawn; by default one around the runs that stay finite.
    """
    from gradlab.errors import DivergenceError
    from gradlab.jobs.linreg import fit
    from gradlab.models.base import short_fits_expected
    from gradlab.viz.regression import surface_extent

    x, y = points.X[:, 0], points.y
    limit = stable_rate(x)
    keep = _epoch_samples(epochs)
    rates: list[dict[str, Any]] = []
    paths = []

    def sweep_fit(lr: float, epochs: int) -> Any:
        with short_fits_expected():  # the sweep shows the slow rates as they are
            return fit(points, lr=lr, epochs=epochs)

    closed = sweep_fit(min(lrs), 1).closed  # one epoch, for the closed form beside it
    for lr in lrs:
        diverged_at = None
        try:
            result = sweep_fit(lr, epochs)
        except DivergenceError as err:
            diverged_at = err.iteration
            try:  # the finite part of the path
                result = sweep_fit(lr, max(err.iteration - 1, 1))
            except DivergenceError:
                result = None
        if result is None:  # bad from the first step: only the start is known
            w, b, loss = np.zeros(1), np.zeros(1), np.full(1, np.nan)
        else:
            h = result.model.history_
            idx = keep[keep < len(h["w"])]
            w, b = np.asarray(h["w"])[idx], np.asarray(h["b"])[idx]
            loss = np.asarray(h["loss"])[idx]
        if diverged_at is None:
            paths.append((w, b))
        verdict, text = linreg_verdict(result, lr, limit, diverged_at)
        rates.append({"lr": lr, "verdict": verdict, "text": text, "w": _sig(w), "b": _sig(b),
                      "loss": _sig(loss)})  # fmt: skip
    optimum = (float(closed["w"]), float(closed["b"]))
    box = extent or surface_extent(paths or [(np.zeros(1), np.zeros(1))], optimum)
    start_loss = next(v for r in rates for v in r["loss"][:1] if v is not None and v > 0)
    top = 3 * start_loss  # rates that blow up leave the chart at the top
    return {
        "extent": {"w": list(box[0]), "b": list(box[1])},
        "background": surface_png(x, y, box),
        "optimum": {"w": optimum[0], "b": optimum[1], "loss": float(closed["error"])},
        "epochs": [int(e) for e in keep],
        "loss_range": [math.log10(closed["error"]) - 0.15, math.log10(top) + 0.15],
        "stable_below": limit,
        "initial": int(np.argmin([abs(math.log(r / initial)) for r in lrs])),
        "rates": rates,
    }


def linreg_chapter(out: Path, seed: int) -> Chapter:
    """Linear regression on generated points, beside the closed form, and a slider."""
    from gradlab.data.points import make_line
    from gradlab.jobs.linreg import fit
    from gradlab.models.base import short_fits_expected
    from gradlab.viz.regression import fit_line, loss_curves, loss_surface, surface_extent
    from gradlab.viz.save import save_figure

    points = make_line(100, w=1.5, b=4.0, noise=1.0, seed=seed)
    x, y = points.X[:, 0], points.y
    with short_fits_expected():  # shown stopping short on purpose, and said so
        slow = fit(points, lr=0.0001, epochs=1000)
    good = fit(points, lr=0.01, epochs=1000)
    c = good.closed
    s = Section("2. Linear regression by gradient descent")
    s.see(
        "A line fitted by gradient descent to 100 noisy points, beside the exact "
        "least-squares answer. The tutorial's rate 0.0001 and a rate of 0.01 take the same "
        "1000 steps and end in very different places; the loss surface shows why. The "
        "slider tries rates up to past the stable limit."
    )
    s.text(f"Data: {points.source}. Loss: mean squared error; batch gradient descent from 0.")
    rows = []
    for r in (slow, good):
        rows.append(
            [
                f"{r.model.lr:g}",
                f"{r.end['w']:.6g}",
                f"{r.end['b']:.6g}",
                f"{r.end['error']:.6g}",
                f"{r.end['error'] - r.closed['error']:.3g}",
            ]
        )
    rows.append(["closed form", f"{c['w']:.6g}", f"{c['b']:.6g}", f"{c['error']:.6g}", "0"])
    s.table(["learning rate", "w", "b", "error", "above the minimum"], rows)
    s.text(
        "With the tutorial's rate 0.0001 the slope is found quickly but the intercept "
        "barely moves: the loss surface is a long, narrow valley, and a small rate creeps "
        "along its floor. Rate 0.01 reaches the least-squares solution."
    )
    limit = stable_rate(x)
    near = [float(f"{limit * k:.4g}") for k in (0.97, 0.995, 0.999, 1.002, 1.01, 1.1, 1.5)]
    grid = rate_grid(1e-5, 0.9 * limit, 14, keep=[0.0001, 0.01, *near])  # dense at the limit
    paths = [(np.asarray(r.model.history_["w"]), np.asarray(r.model.history_["b"]))
             for r in (slow, good)]  # fmt: skip
    extent = surface_extent(paths, (c["w"], c["b"]))
    s.widget(
        "linreg-rate",
        linreg_rate_data(points, grid, epochs=1000, initial=0.01, extent=extent),
        title=f"Try a learning rate (descent on this data is stable below {limit:.4g})",
    )
    figs = {}
    for r in (slow, good):
        lr = r.model.lr
        tag = f"{lr:g}"
        line = [("gradient descent", float(r.end["w"]), float(r.end["b"])),
                ("least squares", float(c["w"]), float(c["b"]))]  # fmt: skip
        figs[f"fit {tag}"] = save_figure(
            fit_line(x, y, line, title=f"lr = {tag}: the line after 1000 steps"),
            out / f"linreg-lr{tag}" / "fit.png",
        )
        h = r.model.history_
        figs[f"surface {tag}"] = save_figure(
            loss_surface(x, y, np.asarray(h["w"]), np.asarray(h["b"]), optimum=(c["w"], c["b"]),
                         extent=extent, title=f"lr = {tag}: the path on the loss surface"),
            out / f"linreg-lr{tag}" / "surface.png",
        )  # fmt: skip
    losses = save_figure(
        loss_curves(
            [(f"lr = {r.model.lr:g}", r.model.history_["loss"]) for r in (slow, good)],
            xlabel="epoch",
            title="Mean squared error per epoch, both rates",
            floor=("least squares", float(c["error"])),
        ),
        out / "linreg-loss.png",
    )
    gap = slow.end["error"] - c["error"]

    def knee(r: Any) -> int:
        """The epoch where the steep drop ends: the first whose step lowers the loss by
        less than 1%."""
        loss = np.asarray(r.model.history_["loss"])
        gentle = np.flatnonzero(np.diff(np.log(loss)) > -0.01)
        return int(gentle[0]) if len(gentle) else len(loss) - 1

    s.figures(
        [
            (figs["fit 0.0001"], f"lr 0.0001: the fitted line (solid) is too steep and "
             f"starts near y = {slow.end['b']:.2f}; the least-squares line (dashed) crosses "
             f"the y axis at {c['b']:.2f}. The intercept has barely left 0."),
            (figs["fit 0.01"], "lr 0.01: the fitted line lies on the least-squares line."),
        ]
    )  # fmt: skip
    s.image(
        losses,
        "Both runs' loss on one log scale, with the least-squares minimum dashed. Each "
        "curve first drops steeply (the slope w is found: lr 0.01 needs "
        f"{knee(good)} epochs, lr 0.0001 {knee(slow)}), then bends into a slow decline along "
        f"the valley floor, where only b still moves. Notice that lr 0.0001 stays {gap:.3g} "
        "above the minimum after 1000 epochs, while lr 0.01 reaches it.",
    )
    s.figures(
        [
            (figs["surface 0.0001"], "lr 0.0001 on the loss surface (same box as its "
             "neighbour): the path heads for the valley floor and then barely moves along "
             f"it; b has gone from 0 to {slow.end['b']:.2f} of the {c['b']:.2f} it needs, so "
             "the end (square) is far from the least-squares star."),
            (figs["surface 0.01"], "lr 0.01: the steps zigzag across the narrow valley, "
             "then run down it to the star; the end square sits inside the star."),
        ]
    )  # fmt: skip
    s.reproduce(
        f"gradlab linreg --lr 0.0001 --iters 1000 --seed {seed}",
        f"gradlab linreg --lr 0.01 --iters 1000 --seed {seed}",
    )
    return Chapter(
        s,
        f"linear regression: lr 0.0001 ends {gap:.3g} "
        f"above the least-squares error, lr 0.01 {good.end['error'] - c['error']:.2g}",
    )


def engines_chapter(out: Path, seed: int) -> Chapter:
    """The tutorial's y = w*x**2 + b three ways, then batch vs stochastic vs mini-batch."""
    import importlib.util

    from gradlab.jobs.compare import compare, tutorial_numpy
    from gradlab.viz.regression import loss_curves
    from gradlab.viz.save import save_figure

    engines = ["numpy"] + [e for e in ("torch", "tensorflow") if importlib.util.find_spec(e)]
    s = Section("3. One model, three engines; three descent methods")
    s.see(
        "The tutorial's fit of y = w·x² + b done with hand-derived gradients (NumPy), "
        "autograd (PyTorch) and GradientTape (TensorFlow): the same numbers at different "
        "costs. Then batch, stochastic and mini-batch descent on the same data: how close "
        "each gets in 50 epochs, and how noisy its loss is."
    )
    t = tutorial_numpy()
    s.text(
        "The tutorial fits y = w*x**2 + b to y = 3x^2 + 2 + noise. Reproduced with its own "
        f"seed: start w, b = {t['w0']:.8f}, {t['b0']:.7f}; after 800 steps at lr 0.001 "
        f"w = {t['w']:.8f}, b = {t['b']:.8f} (the note printed 2.98927619, 2.09818307)."
    )
    _, rows = compare("quadratic", engines=engines, methods=["batch"], seed=seed)
    s.table(
        ["engine", "w", "b", "final loss (0.5*sum)", "ms per step"],
        [[r.engine, f"{r.coef[0]:.8f}", f"{r.intercept:.8f}", f"{r.loss:.6g}",
          f"{r.ms_per_step:.3g}"] for r in rows],
    )  # fmt: skip
    missing = [e for e in ("torch", "tensorflow") if e not in engines]
    if not missing:
        s.text(
            "NumPy with hand-derived gradients, PyTorch autograd and TensorFlow's GradientTape "
            "reach the same parameters from the same start (float64, to 1e-8 or better; the "
            "test suite checks every model and method). The costs per step are not alike: "
            "NumPy's row takes gradlab's fast path for full batches of the squared loss (all "
            "800 iterates at once, from X.T @ X; NumpyEngine(fast_paths=False) runs the plain "
            "loop), while PyTorch and TensorFlow run each step as calls into the framework, "
            "whose overhead dominates on a problem this small."
        )
    else:
        names = {"torch": "PyTorch", "tensorflow": "TensorFlow"}
        s.text(
            f"Only {', '.join(names.get(e, 'NumPy') for e in engines)} ran here: "
            + " and ".join(names[e] for e in missing)
            + f" {'is' if len(missing) == 1 else 'are'} not installed, so "
            + ("its row is" if len(missing) == 1 else "their rows are")
            + " missing. Add "
            + ("it" if len(missing) == 1 else "them")
            + " with "
            + "; ".join(install_command(e) for e in missing)
            + ", then run the tour again. NumPy's row takes gradlab's fast path for full "
            "batches of the squared loss (all 800 iterates at once, from X.T @ X; "
            "NumpyEngine(fast_paths=False) runs the plain loop)."
        )
    _, mrows = compare(
        "quadratic", engines=["numpy"], methods=["batch", "sgd", "minibatch"],
        lr=0.1, epochs=50, loss="mse", seed=seed,
    )  # fmt: skip
    s.table(
        ["method", "steps", "final loss (MSE)", "seconds per epoch", "noise"],
        [[r.method, r.steps, f"{r.loss:.4g}", f"{r.seconds_per_epoch:.2g}", f"{r.noise:.3f}"]
         for r in mrows],
    )  # fmt: skip
    s.text(
        "Same data, lr 0.1, 50 epochs, mean squared error, batch size 10. Batch descent is "
        "smooth (noise ~0) but takes one step per epoch, so it is still far from the "
        "minimum; SGD takes 100 steps per epoch and gets close, with the noisiest curve; "
        "mini-batch gets as close with a tenth of SGD's steps and a calmer curve. Noise is "
        "the median |log L[e+1] - 2 log L[e] + log L[e-1]| of the loss L on all the data "
        "after each epoch, over the last half of the epochs: how far each epoch departs "
        "from the line through its neighbours, 0 for a smooth curve however steep. It "
        "measures how much the parameters still jitter at a fixed rate."
    )
    png = save_figure(
        loss_curves([(r.method, r.history) for r in mrows], xlabel="epoch",
                    title="Batch, stochastic and mini-batch descent (MSE per epoch)"),
        out / "methods.png",
    )  # fmt: skip
    s.image(
        png,
        "The three methods' loss per epoch on a log scale. Notice the smooth but slow batch "
        "curve, SGD's fast drop and jagged floor, and mini-batch between them: nearly as "
        "low as SGD, nearly as smooth as batch.",
    )
    s.reproduce(
        "gradlab compare --tutorial",
        f"gradlab compare --problem quadratic --engines {','.join(engines)} --seed {seed}",
        "gradlab compare --problem quadratic --engines numpy --methods batch,sgd,minibatch "
        f"--lr 0.1 --epochs 50 --loss mse --seed {seed}",
    )
    return Chapter(
        s,
        f"engines {', '.join(engines)} agree (w = {rows[0].coef[0]:.8f}); final MSE after 50 "
        + ", ".join(f"{r.method} {r.loss:.3g}" for r in mrows),
    )


def classify_chapter(out: Path, seed: int) -> Chapter:
    """Softmax regression and the MLP on the built-in digits, with curves and predictions."""
    from gradlab.data.images import load_images
    from gradlab.jobs.predictions import draw_predictions, model_label
    from gradlab.models import MLPClassifier, SoftmaxRegression
    from gradlab.viz.curves import readout
    from gradlab.viz.images import confusion_matrix
    from gradlab.viz.monitor import CurvesPNG

    d = load_images("digits")
    s = Section("4. Image classification: softmax regression and an MLP")
    s.see(
        "Softmax regression (one linear layer) and an MLP with two hidden ReLU layers learn "
        "the built-in 8x8 digits. Their training curves side by side (hover over them for "
        "the numbers), then some of the images each gets wrong, and which digits each "
        "confuses."
    )
    s.text(
        f"Data: scikit-learn's handwritten digits, 8x8 pixels, {len(d.y_train)} training and "
        f"{len(d.y_test)} test images (built in, no download). The same commands train on "
        "MNIST and Fashion-MNIST: gradlab train softmax --dataset fashion-mnist."
    )
    rows, summary, curves, grids, confusions = [], [], [], [], []
    models = (
        ("softmax", SoftmaxRegression(lr=0.1, epochs=30, batch_size=32, random_state=seed), 0.1),
        (
            "mlp",
            MLPClassifier(lr=0.05, momentum=0.0, epochs=30, batch_size=32, random_state=seed),
            0.05,
        ),
    )
    commands = []
    for key, model, lr in models:
        folder = out / key
        model.fit(d.X_train, d.y_train, eval_set=(d.X_test, d.y_test), class_names=d.classes)
        name = model_label(model)
        probe = CurvesPNG(folder / "curves.png", model=name, dataset="digits")
        written = probe.write(model.history_)
        hist = model.history_
        last = hist.last()
        seconds = sum(hist["seconds"])
        rows.append([name, f"{last['train_loss']:.4f}", f"{last['train_accuracy']:.4f}",
                     f"{last['test_accuracy']:.4f}", f"{seconds:.2f}"])  # fmt: skip
        summary.append(f"{name} test acc {last['test_accuracy']:.3f}")
        curves.append((written, curves_caption(name, hist.columns),
                       readout(probe.figure, hist.columns)))  # fmt: skip
        pred = model.predict(d.X_test)
        wrong = int(np.count_nonzero(pred != d.y_test))
        cm = confusion_matrix(d.y_test, pred, len(d.classes))
        off = cm - np.diag(np.diag(cm))
        i, j = np.unravel_index(int(off.argmax()), off.shape)
        grid_png, confusion_png = draw_predictions(model, d, folder, 18)
        grids.append((
            grid_png,
            f"{name}: {wrong} of {len(pred)} test images wrong. A third of the grid is "
            "mistakes chosen on purpose (red frames), the rest spread over the test set, so "
            "it is not a random sample: look at what the mistakes have in common.",
        ))  # fmt: skip
        confusions.append((
            confusion_png,
            f"{name}: rows are the true digits, columns the predictions; red cells are "
            f"mistakes. Its most frequent one: {d.classes[i]} read as {d.classes[j]} "
            f"({off[i, j]} times).",
        ))  # fmt: skip
        momentum = "" if key == "softmax" else " --momentum 0"  # softmax's default is 0
        commands.append(f"gradlab train {key} --epochs 30 --batch-size 32 --lr {lr:g}{momentum} "
                        f"--seed {seed} --out runs/{key}")  # fmt: skip
    s.table(["model", "train loss", "train acc", "test acc", "seconds"], rows)
    s.text(
        "30 epochs, batch 32, plain SGD. The MLP's hidden ReLU layers let it draw curved "
        "boundaries between classes that one linear layer cannot."
    )
    s.figures(curves)
    s.figures(grids)
    s.figures(confusions)
    s.reproduce(*commands)
    return Chapter(s, "digits: " + ", ".join(summary))


def curves_caption(name: str, columns: dict[str, list[float]]) -> str:
    """What to notice in a model's training curves: the final numbers, the gap between
    training and test, and whether the test loss has turned up (overfitting)."""
    test_loss, epochs = columns["test_loss"], columns["epoch"]
    low = int(np.argmin(test_loss))
    gap = columns["train_accuracy"][-1] - columns["test_accuracy"][-1]
    if test_loss[-1] > 1.2 * test_loss[low] and low < len(test_loss) - 1:
        turn = (
            f"the test loss was lowest at epoch {epochs[low]:g} ({test_loss[low]:.3f}) and has "
            f"risen to {test_loss[-1]:.3f} since, while the train loss kept falling: the "
            "model has started to learn its training images rather than digits"
        )
    else:
        turn = (
            f"the test loss is still near its lowest ({test_loss[low]:.3f} at epoch "
            f"{epochs[low]:g}): no sign of overfitting yet"
        )
    return (
        f"{name}: after {epochs[-1]:g} epochs train loss {columns['train_loss'][-1]:.3f}, "
        f"test accuracy {columns['test_accuracy'][-1]:.3f}, {gap * 100:.1f} points below "
        f"the training accuracy. Notice that {turn}. Hover for each epoch's numbers."
    )


#: The rules the race compares, and the surfaces it runs on.
RACE_RULES = ("sgd", "momentum", "nesterov", "adam")
RACE_FUNCTIONS = ("rosenbrock", "ill-conditioned")


def race_chapter(out: Path, seed: int) -> Chapter:
    """SGD, momentum, Nesterov and Adam racing on Rosenbrock's valley and a narrow bowl."""
    from gradlab.functions import compare_optimizers, test_function
    from gradlab.viz.race import race_figure, race_gif
    from gradlab.viz.save import save_figure

    s = Section("5. The optimizer race: momentum and Adam")
    s.see(
        "The same start, four update rules: plain gradient descent (SGD), momentum, "
        "Nesterov momentum and Adam, on a curved valley (Rosenbrock's) and on a bowl 50 "
        "times steeper across than along. Plain descent crawls where the valley is narrow; "
        "momentum gathers speed along the floor, and Adam scales each coordinate's step by "
        "its own gradient's size. The paths, how fast each closes in, and an animation."
    )
    s.text(
        "Chapter 1 ended on a warning: with plain gradient descent the learning rate decides "
        "everything, and a narrow valley leaves no good choice, since the steep walls "
        "limit the rate (above 2/L, L the largest curvature, it diverges) while the gentle "
        "floor needs a large one. Momentum keeps a running sum of the gradients (v <- 0.9 v "
        "+ grad, x <- x - lr v): across the valley the gradients alternate and cancel, along "
        "the floor they add up, so the same rate moves up to 10 times further there. Adam "
        "divides each coordinate's running mean gradient by the root of its running mean "
        "square, so every coordinate moves about lr per step, however flat or steep."
    )
    figures, animations, rows, summary = [], [], [], []
    for name in RACE_FUNCTIONS:
        surface = test_function(name)
        runs = compare_optimizers(surface, list(RACE_RULES))
        folder = out / f"race-{name}"
        png = save_figure(race_figure(runs), folder / "race.png")
        gif = race_gif(runs, folder / "race.gif", frames=40)
        ends = {r.optimizer: float(r.distances[-1]) for r in runs if r.distances is not None}
        for r in runs:
            gap = r.f_final - surface.f_min
            rows.append([name, r.optimizer, f"{r.lr:g}", r.verdict, r.stopped_at,
                         f"{ends[r.optimizer]:.2g}", f"{gap:.2g}"])  # fmt: skip
        closest = min(ends, key=ends.__getitem__)
        figures.append((png, _race_caption(surface.name, surface.describe(), runs, ends, closest)))
        animations.append((gif, f"{name}: the race as it runs ({runs[0].steps} steps; the "
                           "last frame holds). Watch where each rule is early on, and which "
                           "one is still creeping at the end."))  # fmt: skip
        summary.append(
            f"{name}: " + ", ".join(f"{k} {v:.2g}" for k, v in ends.items()) + " from the minimum"
        )
    lrs = {test_function(n).name: (test_function(n).lr, test_function(n).step)
           for n in RACE_FUNCTIONS}  # fmt: skip
    s.text(
        "SGD, momentum and Nesterov share one rate on each surface (about half of 2/L at "
        "the minimum: "
        + ", ".join(f"{n} {lr:g}" for n, (lr, _) in lrs.items())
        + "), so what momentum adds is seen at the same rate. Adam's rate is a step length, "
        "not a multiple of the gradient, so it gets its own ("
        + ", ".join(f"{n} {step:g}" for n, (_, step) in lrs.items())
        + "). The verdict 'too slow' (in the legends: still moving) means the steps ran "
        "out before a step was shorter than 1e-8, which says nothing of how close a run "
        "got: one may circle the minimum or step about it by its rate. The distance column "
        "says how close each got."
    )
    s.table(
        ["function", "optimizer", "lr", "verdict", "steps", "distance to the minimum",
         "f - f_min"],
        rows,
    )  # fmt: skip
    s.figures(figures)
    s.figures(animations)
    s.reproduce(
        *(
            f"gradlab descend {n} --optimizer {','.join(RACE_RULES)} --out runs/race-{n}"
            for n in RACE_FUNCTIONS
        )
    )
    return Chapter(s, "optimizer race: " + "; ".join(summary))


def _race_caption(
    name: str, about: str, runs: Sequence[Trajectory], ends: dict[str, float], closest: str
) -> str:
    """What to notice in a race's picture, from its numbers."""
    sgd, momentum = ends.get("sgd"), ends.get("momentum")
    gain = ""
    if sgd is not None and momentum is not None and momentum > 0:
        gain = (
            f" At the same rate momentum ends {sgd / momentum:.0f} times closer than plain "
            f"SGD ({momentum:.2g} against {sgd:.2g})."
        )
    return (
        f"{name} ({about}): the paths on the contours, a dot every tenth of the run, so "
        "bunched dots mean slow progress; right, f - f_min and the distance to the minimum "
        f"on log scales.{gain} Closest after {runs[0].steps} steps: {closest}. Notice the "
        "momentum paths overshooting and curling back, and SGD's dots piling up."
    )


#: The rules compared on the digits MLP, with the estimator's settings for each.
NETWORK_RULES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("sgd", {"optimizer": "sgd", "momentum": 0.0}),
    ("momentum", {"optimizer": "momentum"}),
    ("adam", {"optimizer": "adam"}),
)


def network_optimizers_chapter(out: Path, seed: int) -> Chapter:
    """Plain SGD, momentum and Adam training the same MLP on the digits, curves side by side."""
    from gradlab.data.images import load_images
    from gradlab.models import MLPClassifier
    from gradlab.viz.curves import readout
    from gradlab.viz.monitor import CurvesPNG

    d = load_images("digits")
    s = Section("6. The same rules on a network: SGD, momentum and Adam on the digits MLP")
    s.see(
        "The race of chapter 5 was on two-variable surfaces; here the same three rules train "
        "the 64-200-200-10 MLP of chapter 4 on the digits, from the same weights and the "
        "same batches, each at its default rate. The three training curves side by side, "
        "when each first reached 95% test accuracy, and from which epoch it stayed there."
    )
    epochs, batch = 20, 32
    curves, rows, summary, commands = [], [], [], []
    for name, settings in NETWORK_RULES:
        model = MLPClassifier(epochs=epochs, batch_size=batch, random_state=seed, **settings)
        model.fit(d.X_train, d.y_train, eval_set=(d.X_test, d.y_test), class_names=d.classes)
        hist = model.history_
        probe = CurvesPNG(
            out / f"mlp-{name}" / "curves.png", model=f"MLP with {name}", dataset="digits"
        )
        written = probe.write(hist)
        acc = hist["test_accuracy"]
        first, stays = _epochs_at(hist["epoch"], acc, 0.95)
        last = hist.last()
        rows.append([name, f"{model.lr_:g}", f"{last['train_loss']:.4f}",
                     f"{last['test_accuracy']:.4f}", first or f"not in {epochs}",
                     stays or f"not in {epochs}"])  # fmt: skip
        summary.append(f"{name} {last['test_accuracy']:.3f}")
        curves.append((
            written,
            f"{name} at lr {model.lr_:g}: train loss {last['train_loss']:.3f} after {epochs} "
            f"epochs, test accuracy {last['test_accuracy']:.3f}"
            + (
                f", 0.95 first at epoch {first}"
                + (f" and from epoch {stays} on." if stays else ", not kept to the end.")
                if first
                else ", never at 0.95."
            ),
            readout(probe.figure, hist.columns),
        ))  # fmt: skip
        flags = f"--optimizer {settings['optimizer']}"
        if "momentum" in settings:
            flags += f" --momentum {settings['momentum']:g}"
        commands.append(f"gradlab train mlp {flags} --epochs {epochs} --batch-size {batch} "
                        f"--seed {seed} --out runs/mlp-{name}")  # fmt: skip
    s.table(
        ["optimizer", "lr", "train loss", "test acc", "first epoch at 0.95", "at 0.95 from epoch"],
        rows,
    )
    s.text(_network_reading(rows))
    s.figures(curves)
    s.reproduce(*commands)
    return Chapter(s, "digits MLP, test accuracy: " + ", ".join(summary))


def _epochs_at(
    epochs: Sequence[float], accuracy: Sequence[float], level: float
) -> tuple[int | None, int | None]:
    """The first epoch whose accuracy is at least ``level``, and the first from which every
    later one is too (None for either when there is none): a noisy curve can touch a level
    and fall back."""
    first = next((int(e) for e, a in zip(epochs, accuracy, strict=True) if a >= level), None)
    stays = None
    for e, a in zip(reversed(epochs), reversed(accuracy), strict=True):
        if a < level:
            break
        stays = int(e)
    return first, stays


def _network_reading(rows: Sequence[Sequence[Any]]) -> str:
    """What the table of the digits MLP's optimizers says, from its numbers."""
    reached = {r[0]: r[5] for r in rows if isinstance(r[5], int)}
    rates = {r[0]: float(r[1]) for r in rows}
    accs = [float(r[3]) for r in rows]
    order = sorted(reached, key=reached.__getitem__)
    if order:
        speed = "Test accuracy stayed at 95% or more from epoch " + ", ".join(
            f"{reached[name]} for {name}" for name in order
        )
        touched = [
            f"{r[0]} at epoch {r[4]}" for r in rows if isinstance(r[4], int) and r[4] != r[5]
        ]
        if touched:
            speed += " (reached earlier, then lost again: " + ", ".join(touched) + ")"
        missing = [r[0] for r in rows if r[0] not in reached]
        speed += (f"; {', '.join(missing)} never got there" if missing else "") + ". "
    else:
        speed = "None of the three stayed at 95% test accuracy to the end. "
    ratio = rates.get("momentum", 0.0) / rates["adam"] if rates.get("adam") else 0.0
    return (
        speed + "Momentum adds up the gradients of successive steps, so where they agree it "
        "moves further per step than plain SGD; Adam scales each weight's step by the size "
        "of its own gradients, so it works at a rate "
        + (f"{ratio:.0f} times smaller than momentum's. " if ratio > 1 else "of its own. ")
        + "The curves show how soon each gets there; after the last epoch the test "
        f"accuracies lie between {min(accs):.3f} and {max(accs):.3f}."
    )


def data_parallel_chapter(out: Path, seed: int) -> Chapter:
    """One process against two workers on torch.distributed: the same curves (where PyTorch
    is installed; elsewhere the chapter says how to add it)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        s = Section("7. Data parallelism: two workers, one model")
        s.text(
            "This chapter trains the MLP in two worker processes on torch.distributed and "
            "compares them with one process. PyTorch is not installed here, so it did not "
            f"run: add it with {install_command('torch')}, then run the tour again."
        )
        return Chapter(s, "data parallelism: skipped, PyTorch is not installed")
    from gradlab.data.images import load_images
    from gradlab.models import MLPClassifier
    from gradlab.viz.parallel import equivalence, largest_difference
    from gradlab.viz.save import save_figure

    d = load_images("digits")
    s = Section("7. Data parallelism: two workers, one model")
    s.see(
        "The MLP trained twice in float64 with the torch engine: once in one process, once "
        "by two worker processes on torch.distributed, each taking half of every batch and "
        "averaging the gradients. The two loss curves lie on top of each other, and the "
        "difference between the runs is at the level of floating-point rounding."
    )
    settings: dict[str, Any] = {
        "hidden": (64,), "epochs": 5, "batch_size": 64, "engine": "torch",
        "dtype": "float64", "random_state": seed, "cpu_threads": 1,
    }  # fmt: skip
    one = MLPClassifier(**settings).fit(d.X_train, d.y_train, eval_set=(d.X_test, d.y_test))
    two = MLPClassifier(n_procs=2, **settings).fit(
        d.X_train, d.y_train, eval_set=(d.X_test, d.y_test)
    )
    diff = largest_difference(one.params_, two.params_)
    png = save_figure(equivalence(one, two), out / "data-parallel.png")
    s.text(
        f"After {settings['epochs']} epochs the largest difference between the two runs' "
        f"weights is {diff:.1e} (float64 rounds at 1.1e-16). Each worker computed the "
        "gradient of its half of every global batch of 64, its summed loss scaled by "
        "2 / 64, and the all-reduce averaged them: exactly the gradient of the whole batch, "
        "so two workers take the same steps as one process. On this small job the workers "
        "cost more than they save (their start-up and one all-reduce per step); "
        "docs/data-parallel.md says when data parallelism pays."
    )
    s.figures([(png, "Left: the train loss of one process and of two workers per epoch. "
                "Right: their relative difference, against float64's rounding unit.")])  # fmt: skip
    s.reproduce(
        "gradlab train mlp --engine torch --dtype float64 --hidden 64 --epochs 5 "
        f"--batch-size 64 --seed {seed} --nproc 2 --out runs/mlp-2-workers"
    )
    return Chapter(s, f"data parallelism: 2 workers match 1 process to {diff:.1e}")


CHAPTERS: list[Callable[[Path, int], Chapter]] = [
    descent_chapter,
    linreg_chapter,
    engines_chapter,
    classify_chapter,
    race_chapter,
    network_optimizers_chapter,
    data_parallel_chapter,
]


def run_tour(out: Path, *, seed: int = 0, log: Callable[[str], None] = print) -> Path:
    """Run every chapter, write ``out/report.html``, and return its path."""
    from gradlab.viz.report import write_report

    sections = []
    for chapter in CHAPTERS:
        start = time.perf_counter()
        result = chapter(out, seed)
        log(f"  {result.summary} ({time.perf_counter() - start:.1f} s)")
        sections.append(result.section)
    intro = f"{INTRO} The whole report: gradlab tour --out {out} --seed {seed}."
    return write_report(out / "report.html", "gradlab tour", sections, intro=intro)
