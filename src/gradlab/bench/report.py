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

#: Packages whose wheels bring their own native thread pools, by their folder under
#: site-packages (``numpy.libs``, ``scikit_learn.libs``, ``torch/lib``: the part before a dot).
_OWNERS = {
    "numpy": "NumPy",
    "scipy": "SciPy",
    "torch": "PyTorch",
    "sklearn": "scikit-learn",
    "scikit_learn": "scikit-learn",
}

_APIS = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}


def library_owner(filepath: str | None) -> str:
    """Which package a loaded native library came with, from its path:
    ``site-packages/scipy.libs/libscipy_openblas.so`` -> "SciPy"; the file's own name
    for a library outside any package (a system one), "?" where the path is unknown."""
    if not filepath:
        return "?"
    parts = Path(filepath).parts
    for i, part in enumerate(parts[:-1]):
        if part in ("site-packages", "dist-packages"):
            package = parts[i + 1].split(".")[0]
            return _OWNERS.get(package, package)
    return parts[-1]


def libraries_text(libraries: list[dict[str, Any]]) -> str:
    """The process's thread-pool libraries (threadpoolctl's records), by owner:
    "BLAS: NumPy's OpenBLAS 0.3.31 (SkylakeX), SciPy's OpenBLAS 0.3.30 (SkylakeX);
    OpenMP: PyTorch's, scikit-learn's". Sorted, so the same libraries read the same way
    whatever order they were loaded in."""

    def kind(b: dict[str, Any]) -> str:  # records from before user_api was kept lack it
        return str(b.get("user_api") or ("openmp" if b["internal_api"] == "openmp" else "blas"))

    blas = sorted(
        f"{library_owner(b.get('filepath'))}'s "
        f"{_APIS.get(b['internal_api'], b['internal_api'])} {b['version']}"
        + (f" ({b['architecture']})" if b.get("architecture") else "")
        for b in libraries
        if kind(b) == "blas"
    )
    openmp = sorted(
        {f"{library_owner(b.get('filepath'))}'s" for b in libraries if kind(b) == "openmp"}
    )
    parts = [f"BLAS: {', '.join(blas) or 'none found'}"]
    if openmp:
        parts.append(f"OpenMP: {', '.join(openmp)}")
    return "; ".join(parts)


def machine_description(env: dict[str, Any]) -> str:
    """One line: CPU, cores, Python, NumPy, the native thread pools the process has loaded
    (BLAS and OpenMP libraries, by the package that brought each), torch (from
    ``gradlab env``)."""
    t = env["torch"]
    torch_part = f"torch {t['version']} ({t['threads']} threads)" if t else "no torch"
    cpu = env.get("cpu") or {}
    model = cpu.get("model") or platform.processor() or platform.machine()
    vector = cpu.get("vector") or []
    return (
        f"{model}{' (' + ', '.join(vector) + ')' if vector else ''}, "
        f"{env['cpu_count']} CPUs; "
        f"Python {env['python']}, NumPy {env['numpy']}; {libraries_text(env['blas'])}; "
        f"{torch_part}"
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
    if res.get("update_rules"):
        lines += update_rules_markdown(res["update_rules"])
    if res.get("parallel") is not None:
        lines += parallel_markdown(res["parallel"])
    return "\n".join(lines) + "\n"


def micro_text(x: float) -> str:
    """``0.0012345`` -> "1234.5 µs" (a step's time, to a tenth of a microsecond)."""
    return f"{x * 1e6:.1f} µs"


def rule_cells(r: dict[str, Any]) -> list[str]:
    """An update-rule row's Markdown cells: rule, step, ratio, update beyond plain SGD,
    CPU time, CPU ratio, note."""
    cpu_ratio = r.get("cpu_ratio")
    note = r["note"] if r.get("finite", True) else r["note"] + "; THE WEIGHTS BECAME NON-FINITE"
    return [
        f"**{r['path']}**" if r.get("gradlab") else r["path"],
        micro_text(r["seconds"]),
        f"{r['ratio']:.3f}x",
        f"{r['update_seconds'] * 1e6:+.1f} µs",
        micro_text(r["cpu_seconds"]),
        "" if cpu_ratio is None else f"{cpu_ratio:.3f}x",
        note,
    ]


#: The target the update rules' table is read against: Adam's step at most this many
#: times plain SGD's.
ADAM_TARGET = 1.15


def update_rules_markdown(tables: list[list[dict[str, Any]]]) -> list[str]:
    """The update rules' tables and how to read them (every number from the rows)."""
    first = tables[0][0]
    lines = [
        "",
        "## Update rules: what each costs per training step",
        "",
        "A whole training step of the NumPy engine (`NumpyMLP.train_step`: gather and cast "
        "the batch, forward, backward, update) of the MLP 784-200-200-10, batch 256, "
        'float32, on this run\'s images, with the rule `MLPClassifier(engine="numpy")` '
        "builds for each optimizer; the rules take turns, "
        f"{first['calls']} steps each per round, best of {first['rounds']} rounds.",
    ]
    for table in tables:
        lines += [
            "",
            f"### {table[0]['job']}",
            "",
            "| rule | step | ratio to plain SGD | update beyond plain SGD's | step, CPU time "
            "| CPU ratio | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in table:
            lines.append("| " + " | ".join(rule_cells(r)) + " |")
    lines += ["", "**How to read these tables.** " + update_rules_reading(tables)]
    return lines


def update_rules_reading(tables: list[list[dict[str, Any]]]) -> str:
    """The paragraph under the update rules' tables; its claims are computed from them."""
    text = (
        "Each row is the best round of one rule's whole steps, timed in the same rounds as "
        "the others over the same batches, so every rule saw the same load. 'step' is wall "
        "time; 'step, CPU time' is this process's CPU time, which on one BLAS thread is the "
        "step's own work whatever else runs on the machine, and on several threads also "
        "counts the threads' waiting for each other. 'ratio to plain SGD' is the row's step "
        "over plain SGD's step in the same table (1.15x: 15% more per step), and 'update "
        "beyond plain SGD's' their difference: the forward and backward passes are the "
        "same for every rule, so this is what the rule's update costs beyond plain SGD's "
        "single subtraction (the rate folded into the gradient). More BLAS threads shorten "
        "the matrix products but not the update, which runs element by element on one "
        "thread, so a rule's ratio is expected to grow with the threads. 'Adam' is the "
        "step the classifier takes: with numba installed (`gradlab[fast]`), Adam's compiled "
        "step, one loop over the buffers (the note says 'compiled step'); 'Adam, NumPy "
        "passes' is the reference rule, one NumPy operation per line of its formula, twelve "
        "passes; the two compute the same numbers to the bit."
    )
    adam = [(t[0]["threads"], r) for t in tables for r in t if r["path"] == "Adam"]
    if adam:
        measured = ", ".join(
            f"{r['ratio']:.3f}x on {n} thread{'s' if n > 1 else ''}"
            + (f" (CPU time {r['cpu_ratio']:.3f}x)" if r.get("cpu_ratio") is not None else "")
            for n, r in adam
        )
        met = [n for n, r in adam if r["ratio"] <= ADAM_TARGET]
        verdict = (
            "met in every table"
            if len(met) == len(adam)
            else "not met in any table"
            if not met
            else "met on " + " and ".join(_threads(n) for n in met) + " only"
        )
        how = (
            "compiled"
            if all("compiled step" in str(r.get("note", "")) for _, r in adam)
            else "NumPy passes: numba not installed, not loadable, or GRADLAB_NUMBA=0"
        )
        text += (
            f" In this run Adam's step ({how}) was {measured} plain SGD's; the target of at most "
            f"{ADAM_TARGET}x (wall time) is {verdict}."
        )
    bad = [
        f"{r['path']} ({_threads(t[0]['threads'])})" for t in tables for r in t if not r["finite"]
    ]
    if bad:
        text += (
            " The weights of " + ", ".join(bad) + " became non-finite while timed: those "
            "steps computed on NaNs or infinities, and their times are not a training step's."
        )
    return text


def parallel_cells(r: dict[str, Any]) -> list[str]:
    """A data-parallel row's Markdown cells: path, training, wall, both ratios, test
    accuracy, same accuracy, note."""
    return [
        f"**{r['path']}**" if r.get("gradlab") else r["path"],
        seconds_text(r["seconds"]),
        seconds_text(r["wall_seconds"]),
        f"{r['ratio']:.3g}x",
        f"{r['wall_ratio']:.3g}x",
        f"{r['result']:.4f}",
        r.get("agrees", ""),
        r["note"],
    ]


def step_lines(step: dict[str, float]) -> list[tuple[str, str]]:
    """The step probe's (what, value) pairs, in the order of the table."""
    w, rows = int(step["workers"]), int(step["block_rows"])
    return [
        (
            f"all-reduce of the {int(step['params']):,} float32 gradients (gloo, loopback)",
            seconds_text(step["allreduce"]),
        ),
        (
            f"one worker's arithmetic for its block of {rows} rows, no communication",
            seconds_text(step["block"]),
        ),
        ("the whole batch of 256 rows in one process", seconds_text(step["batch"])),
        (f"the whole DDP step (256 rows over {w} workers)", seconds_text(step["ddp"])),
        ("all-reduce / one worker's arithmetic", f"{step['allreduce_over_block']:.2f}x"),
        ("DDP step / the whole batch in one process", f"{step['ddp_over_batch']:.2f}x"),
    ]


def _compared(ratio: float) -> str:
    """How a time compares with another, from their ratio, in words."""
    if ratio < 0.8:
        return "less than"
    if ratio <= 1.25:
        return "about as much as"
    return "more than"


def parallel_markdown(sec: dict[str, Any]) -> list[str]:
    """The data-parallel section and how to read it (every number from the run)."""
    lines = ["", "## Data parallelism: threads or worker processes", ""]
    if "skipped" in sec:
        return [*lines, f"Not run: {sec['skipped']}."]
    rows, step = sec["rows"], sec["step"]
    lines += [
        f"The MLP 784-200-200-10 (float32, plain SGD at lr 0.1, batch 256) with the torch "
        f"engine on the CPU, on the first {sec['n_train']} + {sec['n_test']} of this run's "
        f"images for {sec['epochs']} epoch{'s' if sec['epochs'] != 1 else ''} (fewer than "
        f"the classifier jobs', to keep this section short); {sec['cores']} cores; the rows "
        f"take turns, best of {sec['rounds']} round{'s' if sec['rounds'] != 1 else ''}.",
        "",
        f"### {rows[0]['job']}",
        "",
        "| path | training | wall | ratio (training) | ratio (wall) | test accuracy "
        "| same accuracy | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| " + " | ".join(parallel_cells(r)) + " |")
    lines += [
        "",
        f"### One step of a {int(step['workers'])}-worker job, taken apart (1 thread per "
        f"worker, median of {int(step['steps'])} steps)",
        "",
        "| | time |",
        "|---|---|",
    ]
    lines += [f"| {what} | {value} |" for what, value in step_lines(step)]
    lines += ["", "**How to read these tables.** " + parallel_reading(sec)]
    return lines


def parallel_reading(sec: dict[str, Any]) -> str:
    """The paragraph under the data-parallel tables; its claims are computed from them."""
    rows, step = sec["rows"], sec["step"]
    ref = rows[0]
    multi = next(r for r in rows if r["procs"] > 1)
    single = next(  # one process on one thread, when that is not the first row already
        (r for r in rows[1:] if r["engine"] == "torch" and r["procs"] == 1 and r["threads"] == 1),
        None,
    )
    w = int(step["workers"])
    text = (
        "'training' is the sum of the epochs' times (rank 0's, which includes waiting for "
        "the other workers); 'wall' is the whole `fit`, which for several processes "
        "includes starting each worker (a fresh Python that imports PyTorch). Both ratios "
        "are to the first row. Every torch row computes the same mini-batch SGD (the same "
        "global batch and seed), so their test accuracies should agree (within 0.01: "
        "float32 sums in another order can move a prediction that sat on a tie). A "
        "data-parallel step costs one worker's arithmetic on its block of the batch plus "
        "the all-reduce of the gradients and DDP's bookkeeping: the arithmetic shrinks "
        "with the workers, the all-reduce does not. "
        f"In this run one all-reduce of the {int(step['params']):,} gradients took "
        f"{seconds_text(step['allreduce'])}, {step['allreduce_over_block']:.2f}x one "
        f"worker's arithmetic for its {int(step['block_rows'])} rows "
        f"({seconds_text(step['block'])}), i.e. {_compared(step['allreduce_over_block'])} "
        f"the arithmetic it shares out; the whole DDP step took "
        f"{seconds_text(step['ddp'])}, {step['ddp_over_batch']:.2f}x the whole batch in "
        f"one process ({seconds_text(step['batch'])}). Trained end to end, {w} processes x "
        f"1 thread took {multi['ratio']:.2f}x the training time of 1 process x "
        f"{_threads(ref['threads'])}"
    )
    wall = f" (and {multi['wall_ratio']:.2f}x the first row's wall time, start-up included)"
    if single is None:
        return (
            text + wall + f": in this run, data parallelism {_outcome(multi['ratio'])} "
            "threads." + _disagreement(rows)
        )
    to_single = multi["seconds"] / single["seconds"]
    text += (
        f" and {to_single:.2f}x that of 1 process x 1 thread{wall}: in this run, {w} "
        f"processes {_outcome(multi['ratio'])} one process's {_threads(ref['threads'])} and "
        f"{_outcome(to_single)} its single thread."
    )
    if single["seconds"] < ref["seconds"]:
        text += (
            f" One process trained faster on 1 thread than on {_threads(ref['threads'])} "
            "here: its threads wait for each other at every operation, which costs most "
            "when other processes hold a core (see the load average at the top)."
        )
    return text + _disagreement(rows)


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


def _outcome(ratio: float) -> str:
    """Whether a time ``ratio`` times another's lost, beat or matched it."""
    return "lost to" if ratio > 1.05 else "beat" if ratio < 0.95 else "about matched"


def _disagreement(rows: list[dict[str, Any]]) -> str:
    disagree = [x["path"] for x in rows if x.get("agrees") not in ("yes", "")]
    if not disagree:
        return ""
    return (
        " The test accuracy of " + ", ".join(disagree) + " differs from the first row's by "
        "more than 0.01, which the same SGD should not do: check that run."
    )


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
