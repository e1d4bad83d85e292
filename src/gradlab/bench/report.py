"""The benchmark's results as Markdown tables, a JSON file and one PNG chart.

The results are the plain dict :func:`gradlab.bench.run.run` returns; every number in
the Markdown is read from it, and every ratio was computed by
:func:`gradlab.bench.rows.add_ratios` from the two timings it names.
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any


def machine_description(env: dict[str, Any]) -> str:
    """One line: CPU, cores, Python, NumPy and its BLAS, torch (from ``gradlab env``)."""
    blas = ", ".join(
        f"{b['internal_api']} {b['version']} ({b.get('architecture')})" for b in env["blas"]
    )
    t = env["torch"]
    torch_part = f"torch {t['version']} ({t['threads']} threads)" if t else "no torch"
    return (
        f"{platform.processor() or platform.machine()}, {env['cpu_count']} CPUs; "
        f"Python {env['python']}, NumPy {env['numpy']} with {blas}; {torch_part}"
    )


def seconds_text(x: float) -> str:
    """``0.0123`` -> "12.3 ms", ``4.56`` -> "4.56 s"."""
    return f"{x * 1e3:.3g} ms" if x < 1 else f"{x:.3g} s"


def row_cells(r: dict[str, Any]) -> list[str]:
    """A row's Markdown cells: path, seconds, ratio, x floor, result, same result, note."""
    result = "" if r["result"] is None else f"{r['result']:.6g}"
    ratio = r.get("ratio", math.nan)
    return [
        f"**{r['path']}**" if r.get("gradlab") else r["path"],
        seconds_text(r["seconds"]),
        f"{ratio:.3g}x",
        f"{r['vs_floor']:.3g}x" if "vs_floor" in r else "",
        result,
        r.get("agrees", ""),
        r["note"],
    ]


def markdown(res: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    f = res["floors"]
    plan = res["plan"]
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
        "Peers: "
        + (
            "; ".join(f"{k} ({v})" for k, v in res["peers"].items())
            if res["peers"]
            else "none installed (JAX and Keras rows appear when they are)"
        )
        + ".",
        "",
        "## Jobs",
        "",
        "ratio = seconds / gradlab's seconds (above 1: slower than gradlab; for the floor, "
        "below 1 is the headroom left); x floor = seconds / the job's first floor row (how "
        "far each path is from what the hardware allows). 'same result' compares the final "
        "loss or test accuracy with gradlab's (accuracy within 0.01). The classifiers' fast "
        "paths (gradlab, JAX, Keras) are timed in interleaved rounds after an untimed warm-up "
        f"(imports, compilation, tracing), each the best of its {plan['repeats']} round(s), "
        "as the host is shared; the tutorial's pipeline is the best of as many runs, "
        "scikit-learn runs once. The 'cold' tables time fresh processes from start to exit "
        "(interpreter, imports, data, compilation, training), interleaved, best of "
        f"{plan['cold_repeats']}; their ratios are to the `gradlab train` process.",
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
            lines.append("| " + " | ".join(row_cells(r)) + " |")
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
            f"| {r['n']:.0e} | {seconds_text(r['naive_s_per_iter'])} | "
            f"{r['naive_bytes_per_s'] / r['bandwidth']:.2f} | "
            f"{seconds_text(r['gradlab_s_per_iter'])} |"
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
            f"| {r['table']} | {r['n']} | {seconds_text(r['s_per_epoch'])} | "
            f"{r['us_per_image']:.1f} |"
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
    """One PNG: seconds of every path of every job (log scale); ``path``."""
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
            else "#ee7733"
            if r.get("peer")
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
    """``res`` as indented JSON at ``path``; returns ``path``."""
    from gradlab.io import write_text

    return write_text(path, json.dumps(res, indent=2, default=float) + "\n")
