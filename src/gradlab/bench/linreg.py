"""The linear-regression jobs: the tutorial's per-point loop, NumPy as a learner would write
it, gradlab, scikit-learn and the memory floor, on the same points in the same run.

Every function returns a table (a list of :mod:`gradlab.bench.rows` rows); the ratios are
added by :func:`gradlab.bench.rows.add_ratios`.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from gradlab.bench.floors import Floors
from gradlab.bench.rows import Row, row
from gradlab.bench.timing import best_of

#: Every row here reports a final loss (the tutorial's mean squared error).
loss_row = partial(row, metric="loss")


def linreg_small(points: np.ndarray, floors: Floors, repeats: int = 3) -> list[Row]:
    """The tutorial's run: ``points`` (n, 2), 1000 full-batch iterations at lr 0.0001."""
    from gradlab.bench.baselines import sklearn_rows, tutorial_linreg
    from gradlab.engines.numpy_engine import loss_and_grad
    from gradlab.models import LinearRegression

    job = f"linear regression, {len(points)} points x 1000 iterations"
    X, y = points[:, :1], points[:, 1]
    rows = []
    loop = min(
        (tutorial_linreg.run(points, 0.0001, 1000) for _ in range(repeats)),
        key=lambda r: r["seconds"],
    )
    rows.append(
        loss_row(
            job,
            "tutorial: per-point Python loop",
            loop["seconds"],
            loop["error"],
            "compute_error_for_line_given_points / step_gradient",
            baseline=True,
        )
    )

    def plain() -> float:
        w, b = np.zeros(1), 0.0
        for _ in range(1000):
            _, gw, gb = loss_and_grad(X, y, w, b, "squared", "mean")
            w, b = w - 0.0001 * gw, b - 0.0001 * gb
        return loss_and_grad(X, y, w, b, "squared", "mean")[0]

    rows.append(
        loss_row(
            job,
            "NumPy vectorised, one pass per iteration",
            best_of(plain, repeats),
            plain(),
            "gradlab's readable reference (loss_and_grad)",
        )
    )
    model = LinearRegression(lr=0.0001, epochs=1000)
    t = best_of(lambda: model.fit(X, y), repeats)
    rows.append(
        loss_row(
            job,
            "gradlab LinearRegression (numpy engine)",
            t,
            model.loss_value(X, y),
            "sums once, then every iterate in closed form",
            gradlab=True,
        )
    )
    for r in sklearn_rows.linreg(points, lr=0.0001, iterations=1000):
        rows.append(loss_row(job, r["name"], r["seconds"], r["loss"], r["note"]))
    rows.append(
        loss_row(
            job,
            f"floor: read {len(points)} points once per iteration",
            floors.memory_seconds(1000 * points.nbytes),
            None,
            "bytes / measured read bandwidth",
            floor=True,
        )
    )
    return rows


def linreg_large(n: int, iterations: int, floors: Floors) -> list[Row]:
    """``n`` points: seconds per iteration against one pass over the data."""
    from gradlab.models import LinearRegression

    job = f"linear regression, {n:.0e} points, per iteration"
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 15, n)
    y = 1.5 * x + 4 + rng.normal(size=n)
    lr = 0.001
    rows = []

    def naive() -> None:  # the tutorial's arithmetic, vectorised as a learner would write it
        w = b = 0.0
        for _ in range(3):
            r = y - (w * x + b)
            gb, gw = -2 * r.mean(), -2 * (x * r).mean()
            w, b = w - lr * gw, b - lr * gb

    rows.append(
        loss_row(
            job,
            "NumPy as written: y - (w*x + b), then means",
            best_of(naive, 2) / 3,
            None,
            "three temporaries of n floats per iteration",
        )
    )
    chunk = 1 << 15
    buf = np.empty(chunk)

    def chunked() -> None:  # one streaming pass in cache-sized chunks, no temporaries
        w = b = 0.0
        for _ in range(3):
            gw = gb = 0.0
            for i in range(0, n, chunk):
                xs, ys = x[i : i + chunk], y[i : i + chunk]
                r = buf[: xs.size]
                np.multiply(xs, w, out=r)
                r += b
                r -= ys
                gw += float(r @ xs)
                gb += float(r.sum())
            w, b = w - lr * 2 * gw / n, b - lr * 2 * gb / n

    rows.append(
        loss_row(
            job,
            "NumPy streaming in 32k chunks",
            best_of(chunked, 2) / 3,
            None,
            "one pass per iteration, in cache",
        )
    )
    X = x[:, None]
    model = LinearRegression(lr=lr, epochs=iterations)
    t = best_of(lambda: model.fit(X, y), 2)
    rows.append(
        loss_row(
            job,
            f"gradlab LinearRegression, {iterations} iterations amortised",
            t / iterations,
            model.loss_value(X, y),
            f"one pass for the sums, then O(1) per iteration; whole fit {t:.3f} s",
            gradlab=True,
        )
    )
    rows.append(
        loss_row(
            job,
            "floor: read x and y once",
            floors.memory_seconds(x.nbytes + y.nbytes),
            None,
            "16 bytes a point / measured read bandwidth",
            floor=True,
        )
    )
    return rows
