"""The tour: the curriculum run end to end on built-in data, written up as one HTML report.

Each chapter is a function ``(out_dir, seed) -> Chapter``; later chapters are
appended to :data:`CHAPTERS`. Chapters only call the public API and the plot
functions, as a user would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gradlab.viz.report import Section


@dataclass
class Chapter:
    """A chapter's report section and its one-line summary for the terminal."""

    section: Section
    summary: str


def descent_chapter(out: Path, seed: int) -> Chapter:
    """Gradient descent on ``x**2 * sin(x)`` at four learning rates."""
    from gradlab.functions import compare_rates, parse_function
    from gradlab.viz.descent import descent_panels
    from gradlab.viz.save import save_figure

    f = parse_function("x**2*sin(x)")
    lrs = [0.001, 0.01, 0.1, 1.0]
    runs = compare_rates(f, [4.0], lrs, steps=200)
    png = save_figure(descent_panels(runs), out / "descent.png")
    s = Section("1. Gradient descent on a function")
    s.text(
        f"f(x) = {f.text}, f'(x) = {f.derivative_text}; each step is x <- x - lr * f'(x), "
        "from x0 = 4 for at most 200 steps."
    )
    rows = []
    for r in runs:
        steps = r.converged_at or r.diverged_at or r.steps_taken
        rows.append([f"{r.lr:g}", r.verdict, steps, f"{r.x_final[0]:.6g}", f"{r.f_final:.6g}"])
    s.table(["learning rate", "verdict", "steps", "end x", "f(end x)"], rows)
    s.text(
        "A rate too small crawls; a good one converges in a few dozen steps; a larger one "
        "bounces across the minimum; too large, and x runs away."
    )
    s.image(png, "One panel per learning rate; dots go from dark (start) to bright (end).")
    verdicts = ", ".join(f"lr {r.lr:g} {r.verdict}" for r in runs)
    return Chapter(s, f"descent on x**2*sin(x): {verdicts}")


def linreg_chapter(out: Path, seed: int) -> Chapter:
    """Linear regression on generated points, beside the closed form."""
    from gradlab.data.points import make_line
    from gradlab.jobs.linreg import fit

    points = make_line(100, w=1.5, b=4.0, noise=1.0, seed=seed)
    slow = fit(points, lr=0.0001, epochs=1000, out=out / "linreg-lr0.0001")
    good = fit(points, lr=0.01, epochs=1000, out=out / "linreg-lr0.01")
    s = Section("2. Linear regression by gradient descent")
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
    c = good.closed
    rows.append(["closed form", f"{c['w']:.6g}", f"{c['b']:.6g}", f"{c['error']:.6g}", "0"])
    s.table(["learning rate", "w", "b", "error", "above the minimum"], rows)
    s.text(
        "With the tutorial's rate 0.0001 the slope is found quickly but the intercept "
        "barely moves: the loss surface is a long, narrow valley, and a small rate creeps "
        "along its floor. Rate 0.01 reaches the least-squares solution."
    )
    for r in (slow, good):
        for p in r.plots:
            s.image(p, f"lr = {r.model.lr:g}: {p.stem}")
    return Chapter(
        s,
        f"linear regression: lr 0.0001 ends {slow.end['error'] - slow.closed['error']:.3g} "
        f"above the least-squares error, lr 0.01 {good.end['error'] - good.closed['error']:.2g}",
    )


def engines_chapter(out: Path, seed: int) -> Chapter:
    """The tutorial's y = w*x**2 + b three ways, then batch vs stochastic vs mini-batch."""
    import importlib.util

    from gradlab.compare import compare, tutorial_numpy
    from gradlab.viz.regression import loss_curves
    from gradlab.viz.save import save_figure

    engines = ["numpy"] + [e for e in ("torch", "tensorflow") if importlib.util.find_spec(e)]
    s = Section("3. One model, three engines; three descent methods")
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
    s.text(
        "NumPy with hand-derived gradients, PyTorch autograd and TensorFlow's GradientTape "
        "reach the same parameters from the same start (float64, to 1e-8 or better; the "
        "test suite checks every model and method). They differ in cost per step: for a "
        "problem this small the frameworks' per-call overhead dominates."
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
        "the median |log(loss[t+1]/loss[t])| over the last half of the steps."
    )
    png = save_figure(
        loss_curves([(r.method, r.history) for r in mrows], xlabel="epoch",
                    title="Batch, stochastic and mini-batch descent (MSE per epoch)"),
        out / "methods.png",
    )  # fmt: skip
    s.image(png, "Loss per epoch for the three methods.")
    return Chapter(
        s,
        f"engines {', '.join(engines)} agree (w = {rows[0].coef[0]:.8f}); final MSE after 50 "
        + ", ".join(f"{r.method} {r.loss:.3g}" for r in mrows),
    )


def classify_chapter(out: Path, seed: int) -> Chapter:
    """Softmax regression and the MLP on the built-in digits, with curves and predictions."""
    from gradlab.data.images import load_images
    from gradlab.jobs.predictions import draw_predictions
    from gradlab.models import MLPClassifier, SoftmaxRegression
    from gradlab.viz.monitor import CurvesPNG

    d = load_images("digits")
    s = Section("4. Image classification: softmax regression and an MLP")
    s.text(
        f"Data: scikit-learn's handwritten digits, 8x8 pixels, {len(d.y_train)} training and "
        f"{len(d.y_test)} test images (built in, no download). The same commands train on "
        "MNIST and Fashion-MNIST: gradlab train softmax --dataset fashion-mnist."
    )
    rows, summary = [], []
    for name, model in (
        (
            "softmax regression",
            SoftmaxRegression(lr=0.1, epochs=30, batch_size=32, random_state=seed),
        ),
        (
            "MLP 64-200-200-10",
            MLPClassifier(lr=0.05, momentum=0.0, epochs=30, batch_size=32, random_state=seed),
        ),
    ):
        folder = out / name.split()[0].lower()
        curves = CurvesPNG(folder / "curves.png", title=f"{name} on digits")
        model.fit(d.X_train, d.y_train, eval_set=(d.X_test, d.y_test), class_names=d.classes,
                  callbacks=[curves])  # fmt: skip
        last = model.history_.last()
        seconds = sum(model.history_["seconds"])
        rows.append([name, f"{last['train_loss']:.4f}", f"{last['train_accuracy']:.4f}",
                     f"{last['test_accuracy']:.4f}", f"{seconds:.2f}"])  # fmt: skip
        summary.append(f"{name} test acc {last['test_accuracy']:.3f}")
        assert curves.written is not None
        s.image(curves.written, f"{name}: train loss, train accuracy, test accuracy per epoch")
        for p in draw_predictions(model, d, folder, 18):
            s.image(p, f"{name}: {p.stem}")
    s.table(["model", "train loss", "train acc", "test acc", "seconds"], rows)
    s.text(
        "30 epochs, batch 32, plain SGD. The MLP's hidden ReLU layers let it draw curved "
        "boundaries between classes that one linear layer cannot."
    )
    return Chapter(s, "digits: " + ", ".join(summary))


CHAPTERS: list[Callable[[Path, int], Chapter]] = [
    descent_chapter,
    linreg_chapter,
    engines_chapter,
    classify_chapter,
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
    return write_report(out / "report.html", "gradlab tour", sections)
