"""The experiments in bench/experiments still run against the package as it is.

They back figures in docs/ (performance, optimizers, data parallelism) and are not part
of the benchmark, so nothing else exercises them: each runs here once, on the smallest
arguments it takes, and must exit 0 and print its result. Times are not checked. Not run
here: ``adam_mnist``, ``bf16_mlp``, ``lr_find_check`` and ``optimizer_table`` need the real MNIST /
Fashion-MNIST files, and ``data_parallel_bugs`` is a module of probes that the
data-parallel tests import.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# name, arguments, modules it needs, a line its output must contain
EXPERIMENTS: list[tuple[str, list[str], tuple[str, ...], str]] = [
    ("step_profile", ["--steps", "3", "--rounds", "1"], ("jax",), "engine train_step"),
    ("xla_fusions", [], ("jax",), "the scanned step"),
    ("jax_ab", ["--rounds", "1", "--epochs", "1", "--model", "softmax"], ("jax",), "jax"),
    ("gemm_layouts", [], ("jax",), "256"),
    ("optimizer_step", ["--rounds", "1", "--calls", "2"], (), "adam"),
    ("adam_step", ["--rounds", "1", "--calls", "2"], (), "Adam"),
    ("adam_step", ["--startup"], ("numba",), "first step"),
    ("numba_gather", ["--rounds", "1", "--batches", "2"], ("numba",), "prange"),
    ("fused_softmax", ["--parts", "--rounds", "1"], ("numba",), "eight rows by one class"),
    ("fused_softmax", ["--engine", "--rounds", "1"], ("numba",), "one-thread kernel"),
    ("gradient_split", ["--rounds", "1", "--steps", "2"], ("numba",), "features"),
    ("input_buffers", [], (), "per batch"),
    ("live_plot", ["--repeats", "1", "--epochs", "1"], ("matplotlib",), "monitor"),
    ("engine_ab", ["--model", "softmax", "--rounds", "1", "--epochs", "1"], (), "best"),
    ("cold_ab", ["--rounds", "1", "--epochs", "1", "--n-train", "600"], (), "faster in"),
    ("exit_teardown", ["--rounds", "1", "--n-train", "600"], (), "teardown - skipped"),
    (
        "data_parallel",
        ["--n-train", "2000", "--epochs", "1", "--steps", "5"],
        ("torch",),
        "process",
    ),
]


def _missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "args", "needs", "expect"),
    EXPERIMENTS,
    ids=[" ".join([e[0], *e[1]]) for e in EXPERIMENTS],
)
def test_experiment_runs_on_its_smallest_arguments(
    name: str, args: list[str], needs: tuple[str, ...], expect: str
) -> None:
    if missing := _missing(needs):
        pytest.skip(f"bench.experiments.{name} needs {', '.join(missing)}")
    if name in ("engine_ab", "cold_ab") and not (ROOT / ".git").exists():
        pytest.skip(f"{name} compares with a git revision: not a git checkout")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.experiments.{name}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert expect.lower() in proc.stdout.lower(), proc.stdout[-3000:]


@pytest.mark.slow
def test_step_routes_reach_the_engines_weights_on_their_smallest_arguments() -> None:
    if shutil.which("gcc") is None:
        pytest.skip("step_routes builds its C kernels with gcc, which is not installed")
    args = ["--model", "softmax", "--steps", "3", "--rounds", "1", "--two-threads"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.experiments.step_routes", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    routes = [line for line in proc.stdout.splitlines() if "max |W - engine's|" in line]
    assert len(routes) >= 8, proc.stdout
    for line in routes:  # float32 sums in another order: far below 1e-4 after 3 steps
        assert float(line.rsplit(" ", 1)[-1]) < 1e-4, line
