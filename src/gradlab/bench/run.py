"""``gradlab bench``: every job's paths side by side in one run, as ratios.

Tables: (1) jobs: the tutorial's idiom, gradlab, the strongest peers (JAX, Keras),
scikit-learn and the floor, warm, then the same classifiers cold (a fresh process each,
start to finish); (2) scaling: how cost grows with the amount of data; (3) engines: one
problem under numpy, torch and tensorflow; (4) update rules: a whole training step of the
NumPy engine under each rule, as a ratio to plain SGD's; (5) data parallelism: the MLP on
torch with threads or with worker processes, and one data-parallel step taken apart.
:mod:`gradlab.bench.report` writes them as Markdown, JSON and a PNG.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from gradlab.bench import floors as fl
from gradlab.bench import peers
from gradlab.bench.classify import classify, cold_table, tutorial_row
from gradlab.bench.linreg import linreg_large, linreg_small
from gradlab.bench.plan import Plan
from gradlab.bench.rows import add_ratios
from gradlab.bench.tables import engines_table, scaling
from gradlab.errors import install_command
from gradlab.models.base import short_fits_expected


def tutorial_points(path: Path | None) -> tuple[np.ndarray, str]:
    """The points of the linear-regression job, (n, 2): the file at ``path`` (the tutorial's
    ``data.csv``), else 100 generated points on a line."""
    from gradlab.data.points import check_magnitude, load_csv, make_line

    if path is not None:
        p = check_magnitude(load_csv(path))
        if p.X.shape[1] != 1:  # the job is the tutorial's y = w*x + b: one x column
            from gradlab.errors import DataError

            raise DataError(
                f"{path}: {p.X.shape[1]} x columns; the benchmark's linear-regression job "
                "fits one (lines 'x,y', as the tutorial's data.csv).",
                hint="Give a file of two columns, or leave --points out for generated points.",
            )
        return np.column_stack([p.X[:, 0], p.y]), f"{path.name} ({p.n_points} points)"
    p = make_line(100, seed=0)
    return np.column_stack([p.X[:, 0], p.y]), "100 generated points"


def image_data(plan: Plan, data_dir: Path | None, dataset: str) -> Any:
    """Generated images of the real shape, or the real files with ``data_dir``."""
    if data_dir is not None:
        from gradlab.data.images import load_images

        return load_images(dataset, data_dir=data_dir, download=False)
    from gradlab.data.synthetic import make_images

    return make_images(plan.n_train, plan.n_test, seed=0)


def rule_tables(plan: Plan, data: Any, log: Callable[[str], None]) -> list[Any]:
    """The update rules' tables (:mod:`gradlab.bench.update_rules`) on 1 BLAS thread and
    on every core; [] when the plan leaves them out."""
    if not plan.update_rules:
        return []
    from gradlab.bench import update_rules
    from gradlab.distributed import usable_cpus

    log("update rules ...")
    return update_rules.tables(
        data.X_train,
        data.y_train,
        thread_counts=(1, usable_cpus()),
        rounds=plan.rule_rounds,
        calls=plan.rule_calls,
        log=log,
    )


def parallel_section(plan: Plan, data: Any, log: Callable[[str], None]) -> dict[str, Any]:
    """The data-parallel section (:mod:`gradlab.bench.parallel`), or ``{"skipped": why}``."""
    from gradlab.bench import parallel

    if not plan.parallel:
        return {"skipped": "left out of this run (--no-parallel)"}
    if not parallel.available():
        return {"skipped": f"PyTorch is not installed ({install_command('torch')})"}
    log("data parallelism ...")
    return parallel.section(
        data,
        n_train=plan.parallel_images,
        n_test=plan.parallel_test,
        epochs=plan.parallel_epochs,
        rounds=plan.parallel_rounds,
        procs=plan.parallel_procs,
        steps=plan.parallel_steps,
        log=log,
    )


@short_fits_expected()
def run(
    plan: Plan,
    *,
    points: Path | None = None,
    data_dir: Path | None = None,
    dataset: str = "fashion-mnist",
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every table of ``plan``; return plain data (see :mod:`gradlab.bench.report`).

    The fits here are timed, not judged: a regression stopped short (a quick plan's few
    epochs) does not warn.

    Parameters
    ----------
    plan : Plan
    points : Path, optional
        A CSV of (x, y) points for the linear-regression job (the tutorial's ``data.csv``).
    data_dir : Path, optional
        The real IDX files of ``dataset`` instead of generated images.
    device : {"cpu", "cuda"}
        Where the torch rows run.
    log : callable
        Receives progress messages.
    """
    start = time.perf_counter()
    load_start = os.getloadavg()[0]
    pts, points_source = tutorial_points(points)  # a bad file is reported before any work
    data = image_data(plan, data_dir, dataset)  # and so are missing image files
    names = list(plan.peers) if plan.peers is not None else peers.available()
    log("measuring the floors ...")
    floors = fl.measure_sized(plan.matmul_size, plan.bandwidth_bytes, plan.floor_repeats)
    log("linear regression ...")
    tables = [linreg_small(pts, floors, plan.linreg_repeats)]
    tables.append(linreg_large(plan.linreg_points, 1000, floors))
    models = ("softmax", "mlp")
    baselines = {}
    if plan.tutorial:  # first: its DataLoader forks, which JAX's and TensorFlow's threads forbid
        for model in models:
            log(f"{model}: the tutorial's pipeline ...")
            baselines[model] = tutorial_row(model, data, epochs=plan.epochs, repeats=plan.repeats)
    for model in models:
        log(f"{model} ...")
        tables.append(
            classify(
                model,
                data,
                floors,
                epochs=plan.epochs,
                device=device,
                sklearn=plan.sklearn,
                baseline=baselines.get(model),
                peer_names=names,
                repeats=plan.repeats,
                log=log,
            )
        )
    if plan.cold_repeats:
        for model in models:
            tables.append(
                cold_table(
                    model,
                    data,
                    epochs=plan.epochs,
                    peer_names=names,
                    repeats=plan.cold_repeats,
                    log=log,
                )
            )
    for rows in tables:
        add_ratios(rows)
    rules = rule_tables(plan, data, log)
    par = parallel_section(plan, data, log)
    log("scaling ...")
    scale = scaling(plan)
    log("engines ...")
    eng = engines_table(plan)
    from gradlab.bench.report import machine_description
    from gradlab.jobs.env import collect

    return {
        "date": date.today().isoformat(),
        "quick": plan.name != "full",
        "plan": dataclasses.asdict(plan),
        "machine": machine_description(collect()),
        "peers": {name: peers.version(name) for name in names},
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
        "update_rules": rules,
        "parallel": par,
        "seconds": time.perf_counter() - start,
        "load_average": [load_start, os.getloadavg()[0]],
    }
