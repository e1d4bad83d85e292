"""The benchmark's secondary tables: how cost grows with the data, and one problem under
every engine."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from gradlab.bench import floors as fl
from gradlab.bench.linreg import linreg_large
from gradlab.bench.plan import Plan
from gradlab.bench.timing import best_of


def scaling(plan: Plan) -> list[dict[str, Any]]:
    """Cost against the amount of data: linear regression per iteration (NumPy as written,
    gradlab), and the classifiers (numpy engine) per epoch."""
    from gradlab.data.synthetic import make_images
    from gradlab.models import MLPClassifier, SoftmaxRegression

    out: list[dict[str, Any]] = []
    bw = fl.read_bandwidth(max(plan.bandwidth_bytes // 2, 1 << 20), plan.floor_repeats)
    for n in plan.scaling_points:
        naive, _, ours, _ = linreg_large(n, 100, fl.Floors(1.0, "", bw))
        out.append(
            {
                "table": "linear regression",
                "n": n,
                "naive_s_per_iter": naive["seconds"],
                "gradlab_s_per_iter": ours["seconds"],
                "naive_bytes_per_s": 16 * n / naive["seconds"],
                "bandwidth": bw,
            }
        )
    data = make_images(max(plan.scaling_images), 1000, seed=1)
    makers: dict[str, Any] = {"softmax": SoftmaxRegression, "mlp": MLPClassifier}
    for name, make in makers.items():
        for n in plan.scaling_images:
            est = make(epochs=2, engine="numpy")
            est.fit(data.X_train[:n], data.y_train[:n])
            per_epoch = est.history_["seconds"][-1]
            out.append(
                {
                    "table": name,
                    "n": n,
                    "s_per_epoch": per_epoch,
                    "us_per_image": 1e6 * per_epoch / n,
                }
            )
    return out


def engines_table(plan: Plan) -> list[dict[str, Any]]:
    """Polynomial regression (w*x**2 + b), full-batch descent, ms per step per engine."""
    from gradlab.models import PolynomialRegression

    out = []
    available = ["numpy"] + [e for e in ("torch", "tensorflow") if importlib.util.find_spec(e)]
    steps = plan.engine_steps
    for n in plan.engine_points:
        x = np.linspace(-1, 1, n)[:, None]  # one feature, as a column
        y = 3 * x[:, 0] ** 2 + 2 + 0.2 * np.random.default_rng(0).random(n)
        variants = [
            ("numpy", "batch", "closed-form trajectory"),
            ("numpy", "minibatch", "step loop, hand-derived gradient"),
        ]
        variants += [
            (e, "batch", "autograd" if e == "torch" else "GradientTape + tf.function")
            for e in available
            if e != "numpy"
        ]
        for engine, method, how in variants:
            params: dict[str, Any] = {"powers": (2,), "lr": 0.1, "method": method, "batch_size": n}
            params["engine"] = engine
            PolynomialRegression(epochs=2, **params).fit(x, y)  # warm-up: imports, tracing
            model = PolynomialRegression(epochs=steps, **params)

            def fit(model: Any = model, x: np.ndarray = x, y: np.ndarray = y) -> None:
                model.fit(x, y)

            t = best_of(fit, 1 if plan.repeats == 1 else 2)
            out.append({"n": n, "engine": engine, "how": how, "ms_per_step": 1e3 * t / steps})
    return out
