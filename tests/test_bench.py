"""``gradlab bench``: its tables' structure, its ratios and agreement checks, its peers, and
that it runs from an installed copy of the package. No timing is asserted: the numbers a
run prints are checked for how they were computed, never for how fast anything was."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradlab.bench import classify, cold, report, rows, update_rules
from gradlab.bench.floors import mlp_flops, step_gemm_flops
from gradlab.bench.plan import Plan
from gradlab.cli import main
from gradlab.models._init import init_params
from gradlab.optim.compiled import available as compiled_available

SRC = Path(__file__).resolve().parents[1] / "src"
BENCH = SRC / "gradlab" / "bench"
F32_EPS = float(np.finfo(np.float32).eps)


def _images(n: int, seed: int = 0) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """A learnable set: a random prototype per class plus noise, 28x28 uint8."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 256, (10, 28, 28))
    y = rng.integers(0, 10, n)
    X = np.clip(protos[y] + rng.normal(0.0, 60.0, (n, 28, 28)), 0, 255).astype(np.uint8)
    return X, y.astype(np.int64)


@dataclasses.dataclass
class Data:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str = "test images"


@pytest.fixture(scope="module")
def data() -> Data:
    X, y = _images(400)
    return Data(X[:300], y[:300], X[300:], y[300:])


def tiny_plan(**changes: Any) -> Plan:
    """The quick plan shrunk to seconds: no peers, no scikit-learn, tiny arrays."""
    plan = dataclasses.replace(
        Plan.quick(),
        name="tiny",
        n_train=300,
        n_test=100,
        epochs=1,
        linreg_repeats=1,
        linreg_points=10**4,
        cold_repeats=1,
        scaling_points=(1000,),
        scaling_images=(200,),
        engine_points=(100,),
        engine_steps=5,
        matmul_size=128,
        bandwidth_bytes=4 << 20,
        floor_repeats=1,
        sklearn=False,
        peers=(),
        rule_rounds=1,
        rule_calls=2,
        parallel=False,  # tests/test_bench_parallel.py runs the section on its own
    )
    return dataclasses.replace(plan, **changes)


# --- the run's settings are the job the benchmark claims -----------------------------------


def test_full_plan_is_the_documented_job() -> None:
    plan = Plan.full()
    assert (plan.n_train, plan.n_test, plan.epochs) == (60000, 10000, 10)
    assert (classify.BATCH, classify.LR) == (256, 0.1)
    assert plan.tutorial
    assert plan.sklearn
    assert plan.peers is None
    assert plan.cold_repeats >= 1
    # the update rules' table and the data-parallel section are part of the run of record
    assert plan.update_rules
    assert plan.parallel
    assert plan.parallel_procs == 2
    assert plan.parallel_images <= plan.n_train
    assert plan.parallel_test <= plan.n_test
    quick = Plan.quick()
    assert quick.update_rules
    assert quick.parallel
    assert quick.parallel_images <= quick.n_train
    assert quick.parallel_test <= quick.n_test


def test_step_gemm_flops_sum_to_the_jobs_flops() -> None:
    sizes = (784, 200, 200, 10)
    # one epoch without a test set: n rows of one step's products, row by row
    assert mlp_flops(sizes, 512, 0, 1) == pytest.approx(512 * step_gemm_flops(sizes, 1))
    # the test pass is the forward products only
    fwd = 2 * (784 * 200 + 200 * 200 + 200 * 10)
    assert mlp_flops(sizes, 0, 100, 3) == pytest.approx(3 * 100 * fwd)


# --- ratios and agreement: computed from the two numbers they name -------------------------


def _table() -> list[rows.Row]:
    job = "a job"
    return [
        rows.row(job, "tutorial", 30.0, 0.880, baseline=True),
        rows.row(job, "gradlab", 0.6, 0.887, gradlab=True),
        rows.row(job, "peer", 1.5, 0.900, peer=True),
        rows.row(job, "floor: peak", 0.1, None, floor=True),
        rows.row(job, "floor: shapes", 0.25, None, floor=True),
    ]


def test_ratios_are_seconds_over_gradlabs_and_the_first_floors() -> None:
    table = _table()
    rows.add_ratios(table)
    by = {r["path"]: r for r in table}
    assert by["tutorial"]["ratio"] == pytest.approx(30.0 / 0.6)
    assert by["peer"]["ratio"] == pytest.approx(1.5 / 0.6)
    assert by["gradlab"]["ratio"] == 1.0
    assert by["floor: shapes"]["ratio"] == pytest.approx(0.25 / 0.6)
    # x floor: over the *first* floor row (the peak rate), for paths only
    assert by["tutorial"]["vs_floor"] == pytest.approx(30.0 / 0.1)
    assert by["gradlab"]["vs_floor"] == pytest.approx(0.6 / 0.1)
    assert "vs_floor" not in by["floor: peak"]
    assert "vs_floor" not in by["floor: shapes"]


def test_agreement_compares_each_result_with_gradlabs() -> None:
    table = _table()
    rows.add_ratios(table)
    by = {r["path"]: r for r in table}
    assert by["tutorial"]["agrees"] == "yes"  # 0.880 against 0.887
    assert by["peer"]["agrees"] == "no (+0.013)"  # 0.900 against 0.887
    assert by["floor: peak"]["agrees"] == ""  # nothing to compare


@pytest.mark.parametrize(
    ("result", "reference", "metric", "expected"),
    [
        (0.90, 0.91, "accuracy", "yes"),
        (0.90, 0.911, "accuracy", "no (-0.011)"),
        (0.95, 0.93, "accuracy", "no (+0.020)"),
        (112.61481, 112.61481011, "loss", "yes"),
        (155.116, 112.615, "loss", "no (+37.74%)"),
        # a loss below 1 is still a loss: compared relatively, not as an accuracy
        (0.105, 0.100, "loss", "no (+5.00%)"),
        (None, 0.9, "accuracy", ""),
    ],
)
def test_agreement(result: float | None, reference: float, metric: Any, expected: str) -> None:
    assert rows.agreement(result, reference, metric) == expected


@given(
    st.lists(st.floats(1e-6, 1e4), min_size=1, max_size=6),
    st.floats(1e-6, 1e4),
    st.integers(0, 5),
)
def test_every_ratio_times_gradlabs_seconds_is_the_rows_seconds(
    others: list[float], ours: float, at: int
) -> None:
    table = [rows.row("j", f"p{i}", s, None) for i, s in enumerate(others)]
    table.insert(min(at, len(table)), rows.row("j", "gradlab", ours, None, gradlab=True))
    rows.add_ratios(table)
    for r in table:
        assert r["ratio"] * ours == pytest.approx(r["seconds"], rel=1e-12)


def test_a_table_without_a_gradlab_row_gets_no_ratios() -> None:
    table = [rows.row("j", "a", 1.0, 0.5), rows.row("j", "f", 0.5, None, floor=True)]
    rows.add_ratios(table)
    assert "ratio" not in table[0]
    assert "agrees" not in table[0]
    assert table[0]["vs_floor"] == 2.0


# --- the classifier job: each row reports its own path's numbers ---------------------------


def test_classify_rows_report_the_fits_own_test_accuracy(
    data: Data, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradlab.models
    from gradlab.bench.floors import Floors

    made: list[Any] = []

    class Recorded(gradlab.models.SoftmaxRegression):
        def fit(self, *args: Any, **kwargs: Any) -> Any:
            made.append(self)
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(gradlab.models, "SoftmaxRegression", Recorded)
    table = classify.classify(
        "softmax", data, Floors(1e11, "given", 1e10), epochs=2, torch_engine=False,
        sklearn=False, peer_names=[], repeats=1, log=lambda m: None,
    )  # fmt: skip
    ours = next(r for r in table if r.get("gradlab"))
    assert ours["path"] == "gradlab, numpy engine"
    # a warm-up fit, then the timed one: the row reports the timed fit's last test accuracy
    # (with numba, the compiled path's two fits come after each of the numpy path's)
    paths = 2 if compiled_available() else 1
    assert len(made) == 2 * paths
    timed = made[paths]
    assert timed.epochs == 2
    assert timed.lr == 0.1
    assert timed.batch_size == 256
    assert ours["result"] == timed.history_["test_accuracy"][-1]
    assert ours["seconds"] >= timed.fit_seconds_
    floors = [r for r in table if r.get("floor")]
    flops = mlp_flops((784, 10), 300, 100, 2)
    assert floors[0]["seconds"] == pytest.approx(flops / 1e11)
    assert [r["path"] for r in floors] == [
        "floor: FLOPs / peak matmul rate",
        "floor: FLOPs / matmul rate at this job's shapes",
    ]


def test_rounds_keep_each_paths_best_time_with_its_accuracy() -> None:
    times = {"a": iter([9.0, 3.0, 2.0, 5.0]), "b": iter([9.0, 1.0, 4.0, 0.5])}
    accs = {"a": iter([0.0, 0.1, 0.2, 0.3]), "b": iter([0.0, 0.5, 0.6, 0.7])}

    def fit(name: str) -> classify.Fit:
        return lambda: (next(times[name]), next(accs[name]))

    best = classify.rounds({"a": fit("a"), "b": fit("b")}, repeats=3)
    # the first call of each is the untimed warm-up (9.0)
    assert best == {"a": (2.0, 0.2), "b": (0.5, 0.7)}


@pytest.mark.slow
@pytest.mark.torch
def test_tutorial_row_is_the_pipelines_own_accuracy(data: Data) -> None:
    pytest.importorskip("torch")
    from gradlab.bench.baselines import tutorial_classify

    r = classify.tutorial_row("softmax", data, epochs=1)
    again = tutorial_classify.run(
        "softmax", data.X_train, data.y_train, data.X_test, data.y_test, epochs=1, lr=0.1,
        batch_size=256, num_workers=4,
    )  # fmt: skip
    assert r["result"] == again["test_accuracy"]  # seeded: the same run computes the same
    assert r["baseline"] is True
    assert r["job"] == classify.job_name("softmax", 300, 100, 1)


# --- a whole (tiny) run: structure, Markdown, JSON, chart ----------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pytest.importorskip("torch")
    from gradlab.bench.run import run

    return run(tiny_plan(), log=lambda m: None)


ROW_FIELDS = {"job", "path", "seconds", "result", "metric", "note"}


@pytest.mark.slow
@pytest.mark.torch
def test_tiny_run_has_every_table(tiny_run: dict[str, Any]) -> None:
    names = [t[0]["job"] for t in tiny_run["jobs"]]
    assert names == [
        "linear regression, 100 points x 1000 iterations",
        "linear regression, 1e+04 points, per iteration",
        "softmax regression, 300+100 images, 1 epochs",
        "MLP 784-200-200-10, 300+100 images, 1 epochs",
        "softmax regression, 300+100 images, 1 epochs: cold, a fresh process each",
        "MLP 784-200-200-10, 300+100 images, 1 epochs: cold, a fresh process each",
    ]
    for table in tiny_run["jobs"]:
        assert len({r["job"] for r in table}) == 1
        assert sum(bool(r.get("gradlab")) for r in table) == 1
        for r in table:
            assert set(r) >= ROW_FIELDS, r["path"]
            assert r["seconds"] > 0
            assert "ratio" in r
    classifier = tiny_run["jobs"][2]
    compiled_row = ["gradlab, numpy engine, compiled gradient (numba, GRADLAB_NUMBA=1)"]
    assert [r["path"] for r in classifier][: 3 + compiled_available()] == [
        "tutorial: per-image ToTensor, DataLoader(num_workers=4)",
        "gradlab, numpy engine",
        *(compiled_row if compiled_available() else []),
        "gradlab, torch engine",
    ]
    cold_rows = tiny_run["jobs"][4]
    assert cold_rows[0]["gradlab"]
    assert cold_rows[0]["path"].startswith("gradlab train softmax")
    assert {r["table"] for r in tiny_run["scaling"]} == {"linear regression", "softmax", "mlp"}
    assert {r["engine"] for r in tiny_run["engines"]} >= {"numpy", "torch"}
    from gradlab.distributed import usable_cpus

    rules = tiny_run["update_rules"]
    assert [t[0]["threads"] for t in rules] == list(dict.fromkeys([1, usable_cpus()]))
    for table in rules:
        assert [r["path"] for r in table] == list(update_rules.RULES)
        for r in table:
            assert r["ratio"] == pytest.approx(r["seconds"] / table[0]["seconds"], rel=1e-12)
            assert (r["rounds"], r["calls"]) == (1, 2)
    assert tiny_run["parallel"] == {"skipped": "left out of this run (--no-parallel)"}


@pytest.mark.slow
@pytest.mark.torch
def test_tiny_run_ratios_and_agreement_follow_from_its_rows(tiny_run: dict[str, Any]) -> None:
    for table in tiny_run["jobs"]:
        ref = next(r for r in table if r.get("gradlab"))
        for r in table:
            assert r["ratio"] == pytest.approx(r["seconds"] / ref["seconds"], rel=1e-12)
            assert r["agrees"] == rows.agreement(r["result"], ref["result"], r["metric"])
    linreg = tiny_run["jobs"][0]
    assert {r["metric"] for r in linreg} == {"loss"}
    tutorial = next(r for r in linreg if r.get("baseline"))
    assert tutorial["agrees"] == "yes"  # the tutorial's loop and gradlab end at the same loss


@pytest.mark.slow
@pytest.mark.torch
def test_markdown_shows_every_row_with_its_own_numbers(
    tiny_run: dict[str, Any], tmp_path: Path
) -> None:
    text = report.markdown(tiny_run)
    for table in tiny_run["jobs"]:
        assert f"### {table[0]['job']}\n" in text
        for r in table:
            line = "| " + " | ".join(report.row_cells(r)) + " |"
            assert line in text.splitlines()
    assert "Peers: none installed" in text
    for table in tiny_run["update_rules"]:
        assert f"### {table[0]['job']}\n" in text
        for r in table:
            assert "| " + " | ".join(report.rule_cells(r)) + " |" in text.splitlines()
    assert "## Data parallelism: threads or worker processes\n\nNot run: left out" in text
    # the cells are this row's: seconds, ratio and result in the right columns
    r = tiny_run["jobs"][2][0]
    cells = report.row_cells(r)
    assert cells[1] == report.seconds_text(r["seconds"])
    assert cells[2] == f"{r['ratio']:.3g}x"
    assert cells[4] == f"{r['result']:.6g}"
    path = report.save_json(tiny_run, tmp_path / "bench.json")
    assert json.loads(path.read_text())["jobs"] == json.loads(json.dumps(tiny_run["jobs"]))
    assert report.chart(tiny_run, tmp_path / "bench.png").stat().st_size > 1000


def test_seconds_text() -> None:
    assert report.seconds_text(0.0123) == "12.3 ms"
    assert report.seconds_text(4.567) == "4.57 s"


# --- the command ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.torch
def test_command_writes_its_files_and_reads_the_points_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    tiny = tiny_plan(cold_repeats=0)
    monkeypatch.setattr(Plan, "quick", classmethod(lambda cls: tiny))
    csv = tmp_path / "points.csv"
    csv.write_text("".join(f"{x},{2 * x + 1 + 0.1 * (x % 3)}\n" for x in range(20)))
    md = tmp_path / "BENCH.md"
    out = tmp_path / "out"
    code = main(["bench", "--quick", "--json", "--points", str(csv), "--out", str(out),
                 "--markdown", str(md), "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr()
    assert printed.err == ""  # --quiet: no progress lines
    res = json.loads(printed.out)
    assert res["plan"]["name"] == "tiny"
    assert res["data"]["points"] == "points.csv (20 points)"
    assert res["jobs"][0][0]["job"] == "linear regression, 20 points x 1000 iterations"
    assert sorted(Path(f).name for f in res["files"]) == ["BENCH.md", "bench.json", "bench.png"]
    from gradlab.commands.bench import OUTPUTS

    assert {p.name for p in out.iterdir()} <= set(OUTPUTS)  # checked before the run
    assert md.read_text().startswith("# gradlab benchmarks (quick)")


@pytest.fixture
def no_work_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark fails if it starts measuring (its floors come first)."""
    pytest.importorskip("torch")  # the benchmark needs it, and says so first
    import gradlab.bench.floors as floors

    def no_floors(*args: object) -> None:
        raise AssertionError("measured the floors before checking the input")

    monkeypatch.setattr(floors, "measure_sized", no_floors)


@pytest.mark.torch
@pytest.mark.parametrize(
    ("content", "message"),
    [
        # as linreg --csv does, rather than NumPy's overflow warnings and a nan start
        ("1e200,2\n1,2\n", "column 1 holds 1e+200, too large for least squares"),
        # its second x column was dropped without a word
        ("x1,x2,y\n1,2,3\n2,3,5\n3,5,8\n",
         "2 x columns; the benchmark's linear-regression job fits one"),
    ],
    ids=["too large", "several x columns"],
)  # fmt: skip
def test_command_refuses_a_bad_points_file_before_any_work(
    no_work_yet: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    csv = tmp_path / "points.csv"
    csv.write_text(content)
    code = main(["bench", "--quick", "--points", str(csv), "--out", str(tmp_path / "out")])
    assert code == 2
    assert f"error: {csv}: {message}" in capsys.readouterr().err


@pytest.mark.torch
def test_command_refuses_missing_image_files_before_any_work(
    no_work_yet: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "--quick", "--data-dir", str(tmp_path / "none"), "--out",
                 str(tmp_path / "out")])  # fmt: skip
    assert code == 2
    assert "error: cannot find the fashion-mnist file(s) train-images-idx3-ubyte" in (
        capsys.readouterr().err
    )


@pytest.mark.torch
def test_command_refuses_cuda_without_a_gpu_before_any_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    import gradlab.bench.run as bench_run

    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("started benchmarking before checking the device")

    monkeypatch.setattr(bench_run, "run", no_run)
    code = main(["bench", "--quick", "--device", "cuda", "--out", str(tmp_path / "out")])
    assert code == 2
    assert "device 'cuda' was asked for, but PyTorch sees no CUDA device" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("flags", "parallel", "rules"),
    [
        ([], True, True),
        (["--no-parallel"], False, True),
        (["--no-update-rules"], True, False),
        (["--no-parallel", "--no-update-rules"], False, False),
    ],
)
def test_command_switches_leave_the_sections_out(
    flags: list[str], parallel: bool, rules: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    import gradlab.bench.run

    class Stop(Exception):
        """Raised by the fake run: only the plan it was given is looked at."""

    plans: list[Plan] = []

    def fake_run(plan: Plan, **kwargs: Any) -> Any:
        plans.append(plan)
        raise Stop

    monkeypatch.setattr(gradlab.bench.run, "run", fake_run)
    with pytest.raises(Stop):
        main(["bench", "--quick", "--out", str(tmp_path), *flags])
    (plan,) = plans
    assert (plan.parallel, plan.update_rules) == (parallel, rules)
    assert dataclasses.replace(plan, parallel=True, update_rules=True) == Plan.quick()


def test_run_skips_the_parallel_section_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradlab.bench import parallel
    from gradlab.bench.run import parallel_section

    monkeypatch.setattr(parallel, "available", lambda: False)
    got = parallel_section(tiny_plan(parallel=True), None, lambda m: None)
    from gradlab.errors import install_command

    how = install_command("torch")
    assert got == {"skipped": f"PyTorch is not installed ({how})"}
    assert report.parallel_markdown(got)[-1] == f"Not run: PyTorch is not installed ({how})."


def test_command_without_torch_says_how_to_install_it(
    hide_packages: Callable[..., None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:

    hide_packages("torch")
    assert main(["bench", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "PyTorch is not installed" in err
    assert "pip install 'gradlab[torch]'" in err


# --- cold runs ------------------------------------------------------------------------------


def test_write_job_writes_what_gradlab_train_reads(data: Data, tmp_path: Path) -> None:
    from gradlab.data.images import load_images

    folder = cold.write_job(tmp_path / "job", data, "mlp")
    back = load_images("mnist", data_dir=folder, download=False)
    np.testing.assert_array_equal(back.X_train, data.X_train)
    np.testing.assert_array_equal(back.y_test, data.y_test)
    with np.load(folder / "init.npz") as npz:
        expected = init_params((784, 200, 200, 10), "kaiming", 0.01, 0)
        assert sorted(npz.files) == sorted(expected)
        for k, v in expected.items():
            np.testing.assert_array_equal(npz[k], v)


@pytest.mark.slow
def test_gradlab_train_cold_run_reports_its_wall_time_and_accuracy(
    data: Data, tmp_path: Path
) -> None:
    folder = cold.write_job(tmp_path / "job", data, "softmax")
    r = cold.gradlab_train("softmax", folder, epochs=1, batch_size=256, lr=0.1)
    assert r["model"] == "softmax"
    assert r["epochs"] == 1
    assert 0.0 <= r["test_accuracy"] <= 1.0
    assert r["wall_seconds"] > r["seconds"] > 0  # the process outlives its training


def test_a_failing_cold_run_shows_its_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"exited with status 2:\n.*cannot find the mnist file"):
        cold.gradlab_train("softmax", tmp_path / "missing", epochs=1, batch_size=256, lr=0.1)


def test_cold_runs_read_gradlabs_bytecode_caches_as_an_installed_package_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    import gradlab

    # a copy of the package, without caches, stands in for an editable install
    copy = tmp_path / "gradlab"
    shutil.copytree(
        Path(gradlab.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.setattr(gradlab, "__path__", [str(copy)])
    cache = Path(importlib.util.cache_from_source(str(copy / "train.py")))
    assert not cache.exists()
    cold.compile_sources()
    assert cache.exists()


# --- the peers (optional: JAX, Keras) -------------------------------------------------------


def _numpy_sgd(
    sizes: tuple[int, ...], params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
    epochs: int, batch: int,
) -> tuple[dict[str, np.ndarray], list[float]]:  # fmt: skip
    """gradlab's engine over the same batches: final weights and per-epoch mean losses."""
    from gradlab.engines.numpy_mlp import NumpyMLP

    net = NumpyMLP(sizes, {k: v.copy() for k, v in params.items()})
    prepared = net.prepare(X, y)
    losses = []
    for epoch in range(1, epochs + 1):
        order = np.random.default_rng([0, epoch]).permutation(len(y))
        total = sum(
            net.train_step(prepared, order[lo : lo + batch], 0.1)[0]
            for lo in range(0, len(y), batch)
        )
        losses.append(total / len(y))
    return net.state(), losses


def _needs(module: str) -> None:
    """Skip unless ``module`` is installed, *without importing it* (JAX must not start its
    threads in this process: other tests here fork DataLoader workers)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


JAX_FIT = """
import json, sys
import numpy as np
from gradlab.bench.peers.jax_sgd import JaxSGD
with np.load(sys.argv[1]) as f:
    a = {k: f[k] for k in f.files}
params = {k[2:]: v for k, v in a.items() if k.startswith("p_")}
r = JaxSGD(a["X"], a["y"], a["Xt"], a["yt"], batch_size=int(a["batch"]), lr=0.1).fit(
    params, epochs=int(a["epochs"]))
np.savez(sys.argv[2], **{f"p_{k}": v for k, v in r.pop("params").items()})
print(json.dumps(r))
"""


def _jax_fit_in_a_fresh_process(
    tmp_path: Path, data: Data, params: dict[str, np.ndarray], epochs: int, batch: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """JaxSGD.fit run in a child process: its report and its final weights."""
    inputs, outputs = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(
        inputs, X=data.X_train.reshape(len(data.X_train), -1), y=data.y_train,
        Xt=data.X_test.reshape(len(data.X_test), -1), yt=data.y_test, batch=batch,
        epochs=epochs, **{f"p_{k}": v for k, v in params.items()},
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", JAX_FIT, str(inputs), str(outputs)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    with np.load(outputs) as f:
        final = {k[2:]: f[k] for k in f.files}
    return json.loads(done.stdout.strip().splitlines()[-1]), final


@pytest.mark.parametrize(("sizes", "init"), [((784, 10), "normal"), ((784, 32, 32, 10), "kaiming")])
def test_jax_peer_does_gradlabs_sgd_step_for_step(
    data: Data, sizes: tuple[int, ...], init: str, tmp_path: Path
) -> None:
    _needs("jax")
    X = data.X_train.reshape(300, -1)
    params = init_params(sizes, init, 0.01, 0)
    # batch 64: 4 full batches through lax.scan and a last one of 44
    r, final = _jax_fit_in_a_fresh_process(tmp_path, data, params, epochs=2, batch=64)
    ours, losses = _numpy_sgd(sizes, params, X, data.y_train, 2, 64)
    # the same batches and updates; only the order of float32 sums differs (BLAS against
    # XLA), a few ulps per product: allow 64 ulps of the largest weight
    for k, v in ours.items():
        tol = 64 * F32_EPS * float(np.abs(v).max())
        np.testing.assert_allclose(final[k], v, rtol=0, atol=tol, err_msg=k)
    np.testing.assert_allclose(r["train_loss"], losses, rtol=1e-5)
    assert len(r["test_accuracy"]) == len(r["epoch_seconds"]) == 2
    # the test accuracy is of the final weights
    h = data.X_test.reshape(100, -1) / 255.0
    for k in range(1, len(sizes)):
        h = h @ ours[f"W{k}"] + ours[f"b{k}"]
        h = np.maximum(h, 0) if k < len(sizes) - 1 else h
    assert r["test_accuracy"][-1] == pytest.approx(np.mean(h.argmax(1) == data.y_test))


def test_the_keras_peer_keeps_tensorflows_cpp_start_up_log_off_stderr() -> None:
    """`gradlab bench` printed absl's "All log messages before absl::InitializeLog()" and
    oneDNN's notice twice: TF_CPP_MIN_LOG_LEVEL does not reach them."""
    _needs("keras")
    probe = (
        "from gradlab.bench.peers.keras_fit import KerasFit\n"
        "KerasFit((64, 10), batch_size=32, lr=0.1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "absl" not in proc.stderr
    assert "oneDNN" not in proc.stderr


def test_keras_peer_starts_from_the_given_weights(data: Data) -> None:
    _needs("keras")
    from gradlab.bench.peers import keras_fit

    if keras_fit.backend() != "tensorflow":
        pytest.skip(f"Keras was loaded on {keras_fit.backend()} in this process")
    sizes = (784, 16, 10)
    params = init_params(sizes, "kaiming", 0.01, 0)
    trainer = keras_fit.KerasFit(sizes, batch_size=64, lr=0.0)  # no step: the weights stay
    r = trainer.fit(params, data.X_train.reshape(300, -1), data.y_train,
                    data.X_test.reshape(100, -1), data.y_test, epochs=2)  # fmt: skip
    h = np.maximum(data.X_test.reshape(100, -1) / 255.0 @ params["W1"] + params["b1"], 0)
    expected = np.mean((h @ params["W2"] + params["b2"]).argmax(1) == data.y_test)
    assert r["test_accuracy"] == pytest.approx([expected, expected])
    assert len(r["train_loss"]) == len(r["epoch_seconds"]) == 2


@pytest.mark.slow
def test_jax_cold_run_in_a_fresh_process(data: Data, tmp_path: Path) -> None:
    _needs("jax")
    folder = cold.write_job(tmp_path / "job", data, "softmax")
    r = cold.peer("jax", folder, epochs=2, batch_size=64, lr=0.1)
    assert r["peer"] == "jax"
    assert len(r["test_accuracy"]) == len(r["epoch_seconds"]) == 2
    assert r["wall_seconds"] > r["seconds"] >= r["train_seconds"] > 0
    # the job it read is the one written: gradlab's engine on the same batches ends at
    # weights a few ulps away, which can flip at most a prediction that sat on a tie
    ours, _ = _numpy_sgd((784, 10), init_params((784, 10), "normal", 0.01, 0),
                         data.X_train.reshape(300, -1), data.y_train, 2, 64)  # fmt: skip
    z = data.X_test.reshape(100, -1) / 255.0 @ ours["W1"] + ours["b1"]
    assert r["test_accuracy"][-1] == pytest.approx(np.mean(z.argmax(1) == data.y_test), abs=0.01)


# --- the package stands alone --------------------------------------------------------------


def test_bench_package_never_reaches_outside_itself() -> None:
    """No path arithmetic on ``__file__`` and no ``sys.path`` changes in the benchmark."""
    files = [*BENCH.rglob("*.py"), SRC / "gradlab" / "commands" / "bench.py"]
    assert len(files) > 10
    for path in files:
        text = path.read_text()
        for needle in ("sys.path", "__file__", ".parents[", "shared/", "../"):
            assert needle not in text, f"{path.relative_to(SRC)} contains {needle!r}"


@pytest.mark.slow
def test_bench_imports_from_a_copy_of_the_package_outside_the_checkout(tmp_path: Path) -> None:
    """Every module of gradlab.bench imports from a copy of ``gradlab`` alone (as a wheel
    installs it), run from another folder, and leaves ``sys.path`` as it found it."""
    import shutil

    site = tmp_path / "site"
    shutil.copytree(SRC / "gradlab", site / "gradlab")
    probe = """
import importlib, importlib.util, json, pkgutil, sys
import gradlab.bench
before = list(sys.path)
optional = {"tutorial_classify": "torch", "jax_sgd": "jax"}
skip = {"gradlab.bench.peers.keras_fit"}  # TensorFlow's import alone takes seconds
files = {}
for m in pkgutil.walk_packages(gradlab.bench.__path__, "gradlab.bench."):
    need = optional.get(m.name.rsplit(".", 1)[-1])
    if m.name in skip or (need and importlib.util.find_spec(need) is None):
        continue
    files[m.name] = importlib.import_module(m.name).__file__
print(json.dumps({"files": files, "path_changed": sys.path != before}))
"""
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    res = json.loads(out.strip().splitlines()[-1])
    assert not res["path_changed"]
    assert {"gradlab.bench.run", "gradlab.bench.report", "gradlab.bench.peers.worker"} <= set(
        res["files"]
    )
    for name, file in res["files"].items():
        assert Path(file).is_relative_to(site), f"{name} came from {file}"


def test_nan_ratio_when_gradlab_took_no_time() -> None:
    table = [rows.row("j", "g", 0.0, None, gradlab=True), rows.row("j", "a", 1.0, None)]
    rows.add_ratios(table)
    assert math.isnan(table[1]["ratio"])


def test_the_headers_libraries_are_named_by_the_package_that_brought_them() -> None:
    """The header once read "NumPy 2.4.6 with openmp None (None), openblas 0.3.30 ...":
    every thread pool in the process listed as NumPy's, in load order."""
    site = "/env/lib/python3.11/site-packages"
    libraries = [
        {
            "user_api": "openmp",
            "internal_api": "openmp",
            "version": None,
            "filepath": f"{site}/torch/lib/libgomp-a34b3233.so.1",
        },
        {
            "user_api": "blas",
            "internal_api": "openblas",
            "version": "0.3.30",
            "architecture": "Haswell",
            "filepath": f"{site}/scipy.libs/libscipy_openblas.so",
        },
        {
            "user_api": "blas",
            "internal_api": "openblas",
            "version": "0.3.31",
            "architecture": "Haswell",
            "filepath": f"{site}/numpy.libs/libscipy_openblas64_.so",
        },
        {
            "user_api": "openmp",
            "internal_api": "openmp",
            "version": None,
            "filepath": f"{site}/scikit_learn.libs/libgomp-a34b3233.so.1",
        },
        {
            "user_api": "blas",
            "internal_api": "mkl",
            "version": "2025.1",
            "architecture": None,
            "filepath": "/usr/lib/libmkl_rt.so.2",
        },
    ]
    expected = (
        "BLAS: NumPy's OpenBLAS 0.3.31 (Haswell), SciPy's OpenBLAS 0.3.30 (Haswell), "
        "libmkl_rt.so.2's MKL 2025.1; OpenMP: PyTorch's, scikit-learn's"
    )
    assert report.libraries_text(libraries) == expected
    assert report.libraries_text(libraries[::-1]) == expected
    # a bench.json written before the records kept user_api
    old = [{k: v for k, v in b.items() if k != "user_api"} for b in libraries]
    assert report.libraries_text(old) == expected
    assert report.libraries_text([]) == "BLAS: none found"
