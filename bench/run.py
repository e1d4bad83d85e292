"""``gradlab bench``: every job's paths side by side in one run, as ratios.

Tables: (1) jobs: the tutorial's idiom, gradlab, scikit-learn and the floor;
(2) scaling: how cost grows with the amount of data; (3) engines: one problem under
numpy, torch and tensorflow. Output as Markdown (stdout or a file), JSON and a PNG.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from bench import floors as fl
from bench import jobs

SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "data.csv"


def tutorial_points() -> tuple[np.ndarray, str]:
    """The tutorial's data.csv when it is beside the checkout, else 100 generated points."""
    if SHARED_CSV.exists():
        return np.genfromtxt(SHARED_CSV, delimiter=","), "data.csv (the tutorial's)"
    from gradlab.data.points import make_line

    p = make_line(100, seed=0)
    return np.column_stack([p.X[:, 0], p.y]), "100 generated points"


def image_data(quick: bool, data_dir: Path | None, dataset: str) -> Any:
    """Generated images of the real shape, or the real files with ``data_dir``."""
    if data_dir is not None:
        from gradlab.data.images import load_images

        return load_images(dataset, data_dir=data_dir)
    from gradlab.data.synthetic import make_images

    return make_images(6000 if quick else 60000, 1000 if quick else 10000, seed=0)


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """``ratio``: seconds over gradlab's; ``vs_floor``: seconds over the job's first floor
    row (the peak-rate floor), for every path that is not a floor itself; ``agrees``:
    result within noise of gradlab's."""
    floor = next((r for r in rows if r.get("floor")), None)
    if floor is not None and floor["seconds"] > 0:
        for r in rows:
            if not r.get("floor"):
                r["vs_floor"] = r["seconds"] / floor["seconds"]
    ref = next((r for r in rows if r.get("gradlab")), None)
    if ref is None:
        return
    for r in rows:
        r["ratio"] = r["seconds"] / ref["seconds"] if ref["seconds"] > 0 else float("nan")
        a, b = r["result"], ref["result"]
        if a is None or b is None:
            r["agrees"] = ""
        elif b <= 1.0:  # an accuracy
            r["agrees"] = "yes" if abs(a - b) <= 0.01 else f"no ({a - b:+.3f})"
        else:  # a loss
            r["agrees"] = "yes" if abs(a - b) <= 1e-6 * abs(b) else f"no ({(a - b) / b:+.2%})"


def scaling(quick: bool) -> list[dict[str, Any]]:
    """Cost against the amount of data."""
    from gradlab.data.synthetic import make_images
    from gradlab.models import MLPClassifier, SoftmaxRegression

    out = []
    bw = fl.read_bandwidth(64 << 20 if quick else 256 << 20)
    for n in [10**k for k in range(3, 6 if quick else 8)]:
        rows = jobs.linreg_large(n, 100, fl.Floors(1.0, "", bw))
        naive, _, ours, _ = rows
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
    sizes = [1000, 3000] if quick else [1000, 3000, 10000, 30000, 60000]
    data = make_images(max(sizes), 1000, seed=1)
    for name, make in (("softmax", SoftmaxRegression), ("mlp", MLPClassifier)):
        for n in sizes:
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


def engines_table(quick: bool) -> list[dict[str, Any]]:
    """Polynomial regression (w*x**2 + b), full-batch descent, ms per step per engine."""
    from gradlab.models import PolynomialRegression

    out = []
    available = ["numpy"] + [e for e in ("torch", "tensorflow") if importlib.util.find_spec(e)]
    steps = 50 if quick else 200
    for n in (100, 10_000 if quick else 1_000_000):
        x = np.linspace(-1, 1, n)[:, None]
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
            params = {"powers": (2,), "lr": 0.1, "method": method, "batch_size": n}
            params["engine"] = engine
            PolynomialRegression(epochs=2, **params).fit(x, y)  # warm-up: imports, tracing
            model = PolynomialRegression(epochs=steps, **params)
            t = fl.best_of(lambda m=model, x=x, y=y: m.fit(x, y), 1 if quick else 2)
            out.append({"n": n, "engine": engine, "how": how, "ms_per_step": 1e3 * t / steps})
    return out


def run(
    *,
    quick: bool = False,
    data_dir: Path | None = None,
    dataset: str = "fashion-mnist",
    device: str = "cpu",
    log: Any = print,
) -> dict[str, Any]:
    """Run every table; return plain data."""
    start = time.perf_counter()
    load_start = os.getloadavg()[0]
    log("measuring the floors ...")
    floors = fl.measure(quick)
    points, points_source = tutorial_points()
    log("linear regression ...")
    tables = [jobs.linreg_small(points, floors)]
    tables.append(jobs.linreg_large(10**5 if quick else 10**7, 1000, floors))
    log("image data ...")
    data = image_data(quick, data_dir, dataset)
    epochs = 2 if quick else 10
    for model in ("softmax", "mlp"):
        log(f"{model} ...")
        tables.append(
            jobs.classify(
                model,
                data,
                floors,
                epochs=epochs,
                device=device,
                sklearn=True,
                tutorial=True,
                repeats=1 if quick else 3,
            )
        )
    for rows in tables:
        add_ratios(rows)
    log("scaling ...")
    scale = scaling(quick)
    log("engines ...")
    eng = engines_table(quick)
    from gradlab.commands.env import collect

    return {
        "date": date.today().isoformat(),
        "quick": quick,
        "machine": machine_description(collect()),
        "floors": {
            "matmul_flops": floors.matmul_flops,
            "matmul_source": floors.matmul_source,
            "read_bandwidth": floors.read_bandwidth,
        },
        "data": {
            "points": points_source,
            "images": getattr(data, "name", "?"),
            "n_train": len(data.y_train),
            "n_test": len(data.y_test),
        },
        "jobs": tables,
        "scaling": scale,
        "engines": eng,
        "seconds": time.perf_counter() - start,
        "load_average": [load_start, os.getloadavg()[0]],
    }


def machine_description(env: dict[str, Any]) -> str:
    blas = ", ".join(
        f"{b['internal_api']} {b['version']} ({b.get('architecture')})" for b in env["blas"]
    )
    t = env["torch"]
    torch_part = f"torch {t['version']} ({t['threads']} threads)" if t else "no torch"
    return (
        f"{platform.processor() or platform.machine()}, {env['cpu_count']} CPUs; "
        f"Python {env['python']}, NumPy {env['numpy']} with {blas}; {torch_part}"
    )


def _s(x: float) -> str:
    return f"{x * 1e3:.3g} ms" if x < 1 else f"{x:.3g} s"


def markdown(res: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    f = res["floors"]
    lines = [
        f"# gradlab benchmarks{' (quick)' if res['quick'] else ''}",
        "",
        f"Run {res['date']} on: {res['machine']}.",
        f"Measured in this run: float32 matmul {f['matmul_flops'] / 1e9:.0f} GFLOP/s "
        f"({f['matmul_source']}), memory read {f['read_bandwidth'] / 1e9:.1f} GB/s. "
        f"Data: {res['data']['points']}; images: {res['data']['images']} "
        f"({res['data']['n_train']} + {res['data']['n_test']}). Total {res['seconds']:.0f} s; "
        f"load average {res['load_average'][0]:.2f} at the start, "
        f"{res['load_average'][1]:.2f} at the end (the machine is shared).",
        "",
        "## Jobs",
        "",
        "ratio = seconds / gradlab's seconds (above 1: slower than gradlab; for the floor, "
        "below 1 is the headroom left); x floor = seconds / the job's first floor row (how "
        "far each path is from what the hardware allows). 'same result' compares the final "
        "loss or test accuracy with gradlab's (accuracy within 0.01). Fast rows are the best "
        "of several runs (linear regression: 3; gradlab's classifier rows: 3 in a full run), "
        "as the host is shared; the tutorial and scikit-learn rows run once.",
    ]
    for rows in res["jobs"]:
        lines += [
            "",
            f"### {rows[0]['job']}",
            "",
            "| path | seconds | ratio to gradlab | x floor | result | same result | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            result = "" if r["result"] is None else f"{r['result']:.6g}"
            ratio = f"{r.get('ratio', float('nan')):.3g}x"
            vs_floor = f"{r['vs_floor']:.3g}x" if "vs_floor" in r else ""
            name = f"**{r['path']}**" if r.get("gradlab") else r["path"]
            lines.append(
                f"| {name} | {_s(r['seconds'])} | {ratio} | {vs_floor} | {result} | "
                f"{r.get('agrees', '')} | {r['note']} |"
            )
    lines += [
        "",
        "## Scaling",
        "",
        "Linear regression, seconds per iteration:",
        "",
        "| points | NumPy as written | bytes/s vs bandwidth | gradlab (100 iterations amortised) |",
        "|---|---|---|---|",
    ]
    for r in (r for r in res["scaling"] if r["table"] == "linear regression"):
        lines.append(
            f"| {r['n']:.0e} | {_s(r['naive_s_per_iter'])} | "
            f"{r['naive_bytes_per_s'] / r['bandwidth']:.2f} | {_s(r['gradlab_s_per_iter'])} |"
        )
    lines += [
        "",
        "Classifiers (numpy engine), seconds per epoch:",
        "",
        "| model | images | seconds per epoch | µs per image |",
        "|---|---|---|---|",
    ]
    for r in (r for r in res["scaling"] if r["table"] != "linear regression"):
        lines.append(
            f"| {r['table']} | {r['n']} | {_s(r['s_per_epoch'])} | {r['us_per_image']:.1f} |"
        )
    lines += [
        "",
        "## Engines",
        "",
        "Polynomial regression y = w*x**2 + b, full-batch descent, ms per step:",
        "",
        "| points | engine | how | ms per step |",
        "|---|---|---|---|",
    ]
    for r in res["engines"]:
        lines.append(f"| {r['n']} | {r['engine']} | {r['how']} | {r['ms_per_step']:.4g} |")
    return "\n".join(lines) + "\n"


def chart(res: dict[str, Any], path: Path) -> Path:
    """One PNG: seconds of every path of every job (log scale)."""
    from gradlab.viz.save import new_figure, save_figure

    fig = new_figure(9, 2.2 + 1.6 * len(res["jobs"]))
    for i, rows in enumerate(res["jobs"]):
        ax = fig.add_subplot(len(res["jobs"]), 1, i + 1)
        names = [r["path"][:48] for r in rows]
        colors = [
            "#cc6677"
            if r.get("baseline")
            else "#228833"
            if r.get("gradlab")
            else "#999999"
            if r.get("floor")
            else "#4477aa"
            for r in rows
        ]
        ax.barh(names, [r["seconds"] for r in rows], color=colors)
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_title(rows[0]["job"], fontsize=9)
        ax.tick_params(labelsize=7)
    ax.set_xlabel("seconds (log scale)")
    return save_figure(fig, path)


def save_json(res: dict[str, Any], path: Path) -> Path:
    from gradlab.io import write_text

    return write_text(path, json.dumps(res, indent=2, default=float) + "\n")
