"""The command line, run in-process: output, JSON, files and exit statuses."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from gradlab.cli import main
from gradlab.data.points import load_csv
from gradlab.errors import ExitStatus


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == ExitStatus.USAGE
    assert "usage: gradlab" in err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in ("tour", "descend", "linreg", "compare", "train", "predict", "bench", "env"):
        assert name in out


def test_linreg_prints_the_tutorial_lines(
    capsys: pytest.CaptureFixture[str], data_csv: Path, tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys, "linreg", "--csv", str(data_csv), "--lr", "0.0001", "--iters", "1000",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    assert "Starting gradient descent at b = 0, w = 0, error = 5565.1078344832" in out
    assert "After 1000 iterations b = 0.088936519937" in out
    assert "w = 1.47774408518944" in out
    assert "error = 112.614810116134" in out
    assert "Closed form (least squares): b = 7.991020982" in out
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"fit.png", "loss.png", "surface.png"}  # no temp file, no lock left


def test_linreg_json_is_one_object_with_the_results(
    capsys: pytest.CaptureFixture[str], data_csv: Path
) -> None:
    code, out, _ = run(
        capsys, "linreg", "--csv", str(data_csv), "--lr", "0.0001", "--no-plots", "--json"
    )
    assert code == 0
    obj = json.loads(out)
    assert obj["lr"] == 0.0001
    assert obj["lr_auto"] is False
    assert obj["end"]["w"] == pytest.approx(1.4777440851894448, rel=1e-12)
    assert obj["closed_form"]["b"] == pytest.approx(7.99102098227036, rel=1e-9)
    assert obj["gap"]["error"] > 0
    assert obj["files"] == []


def test_linreg_defaults_are_the_estimators(
    capsys: pytest.CaptureFixture[str], data_csv: Path
) -> None:
    from gradlab.models import LinearRegression

    code, out, _ = run(capsys, "linreg", "--csv", str(data_csv), "--no-plots", "--json")
    assert code == 0
    obj = json.loads(out)
    expected = LinearRegression().fit(load_csv(data_csv).X, load_csv(data_csv).y)
    assert obj["lr_auto"] is True
    assert obj["lr"] == expected.lr_
    assert obj["epochs"] == expected.epochs
    assert obj["method"] == expected.method
    assert obj["end"]["w"] == float(expected.coef_[0])


def test_linreg_help_quotes_the_estimators_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    from gradlab.models import LinearRegression

    _, out, _ = run(capsys, "linreg", "--help")
    text = " ".join(out.split())
    defaults = LinearRegression().get_params()
    assert f"(default: {defaults['lr']};" in text
    assert f"(default: {defaults['epochs']})" in text
    assert f"descent method (default: {defaults['method']})" in text
    assert f"points per minibatch (default: {defaults['batch_size']})" in text


def test_linreg_prints_the_auto_rate(capsys: pytest.CaptureFixture[str], data_csv: Path) -> None:
    code, out, _ = run(capsys, "linreg", "--csv", str(data_csv), "--lr", "auto", "--no-plots")
    assert code == 0
    assert "Method batch, lr auto = 0.000201: 1000 steps" in out


def test_linreg_gives_the_gap_in_percent_of_a_nonzero_minimum(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "linreg", "--no-plots")
    assert code == 0
    gap = re.search(r"error \+([0-9.e+-]+) \(([0-9.e+]+)% above the minimum\)", out)
    closed = re.search(r"Closed form \(least squares\): .* error = ([0-9.e+-]+)", out)
    assert gap, out
    assert closed, out
    assert float(gap[2]) == pytest.approx(100 * float(gap[1]) / float(closed[1]), rel=1e-2)


@pytest.mark.parametrize("noise", ["0", "-0", "-0.0"])  # -0.0 once reached NumPy: "scale < 0"
def test_linreg_says_the_minimum_is_zero_for_points_on_a_line(
    capsys: pytest.CaptureFixture[str], noise: str
) -> None:
    """Not a percentage of a rounding error (it was "1.74e+28% above the minimum")."""
    code, out, _ = run(capsys, "linreg", f"--noise={noise}", "--n", "2", "--no-plots")
    assert code == 0
    assert "(the minimum is 0: the points lie on a line)" in out
    assert "% above" not in out


@pytest.mark.parametrize(
    ("csv", "said"),
    [
        ("1,2\n1,4\n1,7\n1,3\n", "every x is 1, so the fit depends on b + 1 w alone"),
        (
            "a,b,y\n1,3,2\n1,4,4\n1,5,7\n1,2,3\n",
            "every x column 1 ('a') is 1, so the fit depends on b + 1 w[0] alone",
        ),
    ],
    ids=["one-column", "named-column"],
)
def test_linreg_warns_that_a_constant_x_column_leaves_the_fit_undetermined(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, csv: str, said: str
) -> None:
    path = tmp_path / "p.csv"
    path.write_text(csv)
    code, _, err = run(capsys, "linreg", "--csv", str(path), "--no-plots")
    assert code == 0
    assert f"gradlab linreg: warning: {path}: {said} and the two are not determined apart. " in err
    assert "gives the pair of least norm. Use points with different x values." in err


def test_linreg_warns_once_for_many_constant_x_columns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """100,000 constant columns printed 100,000 warnings (26 MB on stderr)."""
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(",".join(["1"] * 500 + [y]) for y in "2473") + "\n")
    code, _, err = run(capsys, "linreg", "--csv", str(path), "--no-plots")
    assert code == 0
    assert err.count("warning:") == 1
    assert (
        f"gradlab linreg: warning: {path}: 500 x columns hold one value each (columns 1, 2, "
        "3 and 497 more), so their weights and b are not determined apart. "
    ) in err


def test_linreg_says_a_gap_within_rounding_is_at_the_minimum(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Descent converges on these points; the gap was "-1.27e-14% above the minimum"."""
    path = tmp_path / "p.csv"
    path.write_text("1,2\n1,4\n1,7\n1,3\n")
    code, out, _ = run(capsys, "linreg", "--csv", str(path), "--no-plots")
    assert code == 0
    assert "(at the minimum, to rounding)" in out


def test_linreg_does_not_warn_about_x_columns_that_vary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "p.csv"
    path.write_text("1,2\n2,4\n3,7\n")
    code, _, err = run(capsys, "linreg", "--csv", str(path), "--no-plots")
    assert code == 0
    assert "warning" not in err


def test_linreg_generated_data_with_minibatch(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "linreg", "--lr", "0.005", "--iters", "200", "--method", "minibatch",
        "--batch-size", "8", "--seed", "3", "--no-plots", "--json",
    )  # fmt: skip
    assert code == 0
    obj = json.loads(out)
    assert obj["data"].startswith("generated")
    assert obj["steps"] == 200 * 13


def test_linreg_divergence_exits_3_with_advice_and_no_traceback(
    capsys: pytest.CaptureFixture[str], data_csv: Path
) -> None:
    code, _, err = run(capsys, "linreg", "--csv", str(data_csv), "--lr", "0.001", "--no-plots")
    assert code == ExitStatus.DIVERGED
    assert "diverged at iteration" in err
    assert "Last finite parameters (after epoch" in err
    assert "Try a learning rate below 0.0004" in err
    assert "Traceback" not in err


def test_linreg_bad_csv_exits_2_naming_line_and_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("1,2\n3,x\n")
    code, _, err = run(capsys, "linreg", "--csv", str(p), "--no-plots")
    assert code == ExitStatus.USAGE
    assert "bad.csv, line 2, column 2: 'x' is not a number" in err
    assert "Traceback" not in err


def test_linreg_missing_csv_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "linreg", "--csv", str(tmp_path / "none.csv"))
    assert code == ExitStatus.USAGE
    assert "none.csv: no such file" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["linreg", "--lr", "-1"], "must be a finite number > 0, got '-1'"),
        (["linreg", "--lr", "abc"], "'abc' is not a number"),
        (["linreg", "--iters", "0"], "must be at least 1, got '0'"),
        (["linreg", "--method", "newton"], "invalid choice: 'newton'"),
        (["descend", "x", "--lr", "0.1,nan"], "must be a finite number > 0, got 'nan'"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == ExitStatus.USAGE
    assert message in err


def test_descend_prints_the_derivative_path_and_verdict(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys, "descend", "x**2*sin(x)", "--x0", "4", "--lr", "0.05", "--steps", "200",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0
    assert "f'(x) = x**2*cos(x) + 2*x*sin(x)" in out
    assert "update: x <- x - 0.05 * f'(x)" in out
    assert "verdict: converged after 26 steps" in out
    assert (tmp_path / "descent.png").stat().st_size > 1000


def test_descend_compares_learning_rates(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "descend", "x**2*sin(x)", "--lr", "0.001,0.01,0.1,1", "--no-plots", "--json"
    )
    assert code == 0
    verdicts = [r["verdict"] for r in json.loads(out)["runs"]]
    assert verdicts == ["too slow", "converged", "oscillating", "diverged"]


def test_descend_refuses_code_injection_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    code, _, err = run(capsys, "descend", f"__import__('os').system('touch {marker}')")
    assert code == ExitStatus.USAGE
    assert "not allowed" in err
    assert not marker.exists()
    assert "Traceback" not in err


def test_descend_unknown_name_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "descend", "foo(x)")
    assert code == ExitStatus.USAGE
    assert "'foo'" in err


def test_descend_single_diverging_rate_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "descend", "x**2*sin(x)", "--lr", "1", "--no-plots")
    assert code == ExitStatus.DIVERGED
    assert "diverged at step 5" in err
    assert "Try a smaller --lr" in err


def test_descend_names_a_growing_bounce_diverging_and_suggests_a_smaller_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "descend", "x**2 + 3*y**2", "--x0", "1,1", "--lr", "0.34",
                       "--no-plots")  # fmt: skip
    assert code == 0  # a verdict, not an error: the run finished its steps
    assert (
        "verdict: diverging after 200 steps: each bounce is longer than the last; "
        "try a smaller learning rate"
    ) in out


def test_env_json_reports_versions_and_devices(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "env", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["python"].startswith("3.")
    assert "numpy" in info
    if info["torch"] is not None:
        assert isinstance(info["torch"]["cuda_available"], bool)


@pytest.mark.parametrize(
    ("l2", "said"),
    [
        (2048 * 1024, "CPUs         2, L2 cache 2048 KiB per core\n"),
        (None, ", L2 cache size unknown\n"),
    ],
)
def test_env_reports_the_l2_cache_the_engine_buffers_by(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    l2: int | None,
    said: str,
) -> None:
    from gradlab.jobs import env

    monkeypatch.setattr(env, "l2_cache_bytes", lambda: l2)
    monkeypatch.setattr(env.os, "cpu_count", lambda: 2)
    code, out, _ = run(capsys, "env")
    assert code == 0
    assert said in out
    code, out, _ = run(capsys, "env", "--json")
    assert json.loads(out)["l2_cache_bytes"] == l2


ZEN3_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu vme sse sse2 avx f16c fma avx2 bmi2
processor\t: 1
model name\t: something else
flags\t\t: avx512f
"""


@pytest.mark.parametrize(
    ("cpuinfo", "model", "vector"),
    [
        (ZEN3_CPUINFO, "AMD EPYC 7B13 64-Core Processor", ["AVX2", "AVX"]),
        (
            "model name : Intel(R)  Xeon(R) Processor\nflags : avx avx2 avx512f amx_bf16 amx_tile",
            "Intel(R) Xeon(R) Processor",
            ["AMX", "AVX-512", "AVX2", "AVX"],
        ),
        ("", None, []),
    ],
    ids=["avx2-only", "amx", "empty"],
)
def test_cpu_description_reads_the_first_processors_model_and_vector_units(
    cpuinfo: str, model: str | None, vector: list[str]
) -> None:
    from gradlab.jobs.env import cpu_description

    assert cpu_description(cpuinfo) == {"model": model, "vector": vector}


def test_env_and_the_benchmark_header_name_the_cpu_and_its_vector_units(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark's header said only "x86_64, 2 CPUs", though sessions run on AVX2 and
    on AVX-512 parts whose BLAS kernels differ."""
    from gradlab.bench.report import machine_description
    from gradlab.jobs import env

    described = env.cpu_description(ZEN3_CPUINFO)
    monkeypatch.setattr(env, "_cpu", lambda: described)
    code, out, _ = run(capsys, "env")
    assert code == 0
    assert "  model      AMD EPYC 7B13 64-Core Processor (AVX2, AVX)\n" in out
    line = machine_description(env.collect())
    assert line.startswith("AMD EPYC 7B13 64-Core Processor (AVX2, AVX), ")


def test_env_text_says_whether_torch_sees_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    code, out, _ = run(capsys, "env")
    assert code == 0
    assert "NumPy" in out
    if importlib.util.find_spec("torch") is None:
        assert "PyTorch      not installed" in out
        return
    import torch

    if torch.cuda.is_available():
        assert "  CUDA       yes (CUDA" in out
        assert torch.cuda.get_device_name(0) in out
    else:
        assert "  CUDA       not available: the torch engine runs on the CPU" in out


@pytest.mark.parametrize(
    "switch", ["", "0", "1"], ids=["default", "GRADLAB_NUMBA=0", "GRADLAB_NUMBA=1"]
)
def test_env_says_whether_optimizer_steps_are_compiled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    import importlib.util

    from gradlab.engines.numpy_mlp import block_count

    monkeypatch.setenv("GRADLAB_NUMBA", switch)
    code, out, _ = run(capsys, "env")
    text = out
    assert code == 0
    if importlib.util.find_spec("numba") is None:
        assert "numba        not installed: Adam's and RMSProp's steps in NumPy passes" in out
        assert "pip install 'gradlab[fast]'" in out
    elif switch == "0":
        assert "compiled optimizer steps off (GRADLAB_NUMBA=0)" in out
    elif switch == "1":
        assert "compiled optimizer steps on; softmax regression's kernel (" in out
        assert "for every job (GRADLAB_NUMBA=1)" in out
    else:
        split = f"in {block_count()} row blocks, one per core" if block_count() else "on one thread"
        assert f"compiled optimizer steps on; softmax regression's kernel ({split}" in " ".join(
            out.split()
        )
        assert "for jobs of 1.25e+09 input values x epochs or more" in " ".join(out.split())
        assert (
            f"the MLP's blocked step ({split}) for jobs of 3e+08 input values x epochs or more"
            if block_count()
            else "the MLP's blocked step: not used on one CPU"
        ) in " ".join(out.split())
    code, out, _ = run(capsys, "env", "--json")
    nb = json.loads(out)["numba"]
    assert nb is None or nb["compiled_steps"] == ("off" if switch == "0" else "on")
    if nb is not None and switch != "0":
        assert nb["softmax_kernel_min_work"] == (0 if switch == "1" else 1.25e9)
        assert nb["mlp_kernel_min_work"] == (0 if switch == "1" else 3e8)
        assert nb["row_blocks"] == block_count()
        from gradlab.engines import _numba_gemm

        assert nb["mlp_products"] == _numba_gemm.BLAS
        if block_count():
            by = {"mkl": "MKL, PyTorch's", "openblas": "OpenBLAS, SciPy's"}[_numba_gemm.BLAS]
            assert f"its products by {by} (GRADLAB_BLAS)" in " ".join(text.split())


def test_env_says_when_numba_is_installed_but_cannot_be_used(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util
    import sys

    if importlib.util.find_spec("numba") is None:
        pytest.skip("numba is not installed")
    monkeypatch.delenv("GRADLAB_NUMBA", raising=False)
    # None in sys.modules makes the import fail, as a numba that cannot load does
    monkeypatch.setitem(sys.modules, "gradlab.optim._numba_adam", None)
    code, out, _ = run(capsys, "env")
    assert code == 0
    assert "cannot be used, optimizer steps in NumPy passes (ModuleNotFoundError:" in out


def test_tour_writes_plots_and_a_self_contained_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "tour", "--out", str(tmp_path), "--json", "--quiet")
    assert code == 0
    assert err == ""
    result = json.loads(out)
    report = tmp_path / "report.html"
    assert result["report"] == str(report)
    assert result["chapters"][0].startswith("descent on x**2*sin(x): lr 0.001 too slow")
    html = report.read_text()
    assert html.count("data:image/png;base64,") >= 10
    for chapter in (
        "1. Gradient descent on a function",
        "2. Linear regression by gradient descent",
        "3. One model, three engines; three descent methods",
        "4. Image classification: softmax regression and an MLP",
    ):
        assert chapter in html
    assert (tmp_path / "descent.png").exists()


def test_compare_tutorial_prints_the_notes_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    code, out, err = run(capsys, "compare", "--tutorial")
    assert code == 0
    assert "0.77828922 0.7795984" in out
    assert "w = 2.98927619, b = 2.09818307" in out
    assert "-> 0.2437, b = 0" in out
    assert "w = 2.9645, b = 2.1146" in out
    assert out.count("\n") > 15  # the TensorFlow rows, every 200 steps
    # what is starting, said (on stderr, as progress) before the slow imports
    assert "running the torch tutorial (importing PyTorch) ..." in err
    assert "running the tensorflow tutorial (importing TensorFlow" in err


def test_compare_says_what_starts_on_stderr_under_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("torch")
    code, out, err = run(
        capsys, "compare", "--engines", "numpy,torch", "--epochs", "3", "--no-plots", "--json"
    )
    assert code == 0
    assert json.loads(out)["rows"]
    assert "fitting with numpy: batch ...\nfitting with torch: batch (importing PyTorch) ..." in err


def test_compare_methods_table_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(
        capsys, "compare", "--engines", "numpy", "--methods", "batch,sgd,minibatch",
        "--problem", "line", "--lr", "0.005", "--epochs", "20", "--out", str(tmp_path), "--json",
    )  # fmt: skip
    assert code == 0
    rows = json.loads(out)["rows"]
    assert [r["method"] for r in rows] == ["batch", "sgd", "minibatch"]
    assert [r["steps"] for r in rows] == [20, 2000, 200]
    assert rows[1]["noise"] > rows[0]["noise"]
    assert (tmp_path / "loss-curves.png").exists()


def test_compare_breast_cancer_prints_scikit_learn_beside(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("torch")
    code, out, _ = run(
        capsys, "compare", "--problem", "breast-cancer", "--engines", "numpy,torch", "--no-plots"
    )
    assert code == 0
    assert "scikit-learn LogisticRegression" in out
    assert "test acc" in out


@pytest.mark.parametrize("schedule", ["warmup", "onecycle"])
def test_compare_runs_a_schedule_that_needs_several_steps_with_every_method(
    capsys: pytest.CaptureFixture[str], schedule: str
) -> None:
    """The untimed warm-up fit (one epoch) took the schedule too, and a warm-up or one-cycle
    schedule cannot fit one batch step."""
    code, out, err = run(capsys, "compare", "--engines", "numpy", "--methods",
                         "batch,minibatch", "--schedule", schedule, "--epochs", "10",
                         "--no-plots", "--json")  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert [r["method"] for r in rows] == ["batch", "minibatch"]
    assert all(r["schedule"]["name"] == schedule for r in rows)


@pytest.mark.parametrize(("problem", "noted"), [("quadratic", True), ("breast-cancer", False)])
def test_compare_says_when_numpys_batch_timing_is_its_fast_path(
    capsys: pytest.CaptureFixture[str], problem: str, noted: bool
) -> None:
    """Its ms/step is the closed-form trajectory's, not a loop's: the table must say so."""
    from gradlab.commands.compare import FAST_PATH_NOTE

    code, out, _ = run(capsys, "compare", "--engines", "numpy", "--problem", problem,
                       "--epochs", "5", "--no-plots")  # fmt: skip
    assert code == 0
    assert (FAST_PATH_NOTE in out) is noted


def test_compare_unknown_engine_lists_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "compare", "--engines", "numpy,jax")
    assert code == ExitStatus.USAGE
    assert "unknown engine 'jax'; choose from: numpy, torch, tensorflow" in err


def test_train_softmax_on_digits_writes_everything(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys, "train", "softmax", "--epochs", "3", "--out", str(tmp_path), "--json"
    )
    assert code == 0
    summary = json.loads(out)
    for key in ("train_loss", "train_accuracy", "test_accuracy", "seconds", "epochs"):
        assert key in summary
    assert summary["epochs"] == 3
    assert summary["dataset"] == "digits"
    names = {p.name for p in tmp_path.iterdir()}
    expected = {"model.safetensors", "history.csv", "history.json", "curves.png"}
    assert expected | {"predictions.png", "confusion.png"} <= names
    assert (tmp_path / "history.csv").read_text().startswith("epoch,train_loss,train_accuracy")


def test_train_prints_a_line_per_epoch_and_a_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The epochs are progress, on stderr (as tqdm and Lightning write it); the summary is
    the result, on stdout."""
    code, out, err = run(
        capsys, "train", "mlp", "--hidden", "16", "--epochs", "2", "--out", str(tmp_path),
        "--no-plots",
    )  # fmt: skip
    assert code == 0
    assert "epoch 1/2  train loss" in err
    assert "epoch 1/2" not in out
    assert out.startswith("mlp on digits (numpy engine): after 2 epochs")


def test_train_resume_continues_from_the_checkpoint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["train", "softmax", "--out", str(tmp_path), "--no-plots", "--json"]
    assert run(capsys, *args, "--epochs", "2")[0] == 0
    code, out, _ = run(capsys, *args, "--epochs", "4", "--resume")
    assert code == 0
    assert json.loads(out)["epochs"] == 4
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 5


def test_train_resume_without_checkpoint_says_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "train", "mlp", "--out", str(tmp_path), "--resume")
    assert code == ExitStatus.USAGE
    assert "--resume: there is no checkpoint at" in err
    assert "Train without --resume first" in err


def test_train_softmax_refuses_hidden_layers(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "train", "softmax", "--hidden", "10")
    assert code == ExitStatus.USAGE
    assert "--hidden is for the MLP" in err


def test_train_missing_idx_files_are_listed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "train", "softmax", "--dataset", "mnist", "--data-dir", str(tmp_path)
    )
    assert code == ExitStatus.USAGE
    assert "train-images-idx3-ubyte" in err
    assert str(tmp_path) in err
    assert "Traceback" not in err


def test_predict_draws_the_grid_from_a_saved_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert (
        run(capsys, "train", "softmax", "--epochs", "2", "--out", str(tmp_path), "--json")[0] == 0
    )
    code, out, _ = run(
        capsys, "predict", "--checkpoint", str(tmp_path / "model.safetensors"),
        "--out", str(tmp_path / "p"), "--n", "6", "--json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["test_accuracy"] > 0.5
    assert (tmp_path / "p" / "predictions.png").exists()
    assert (tmp_path / "p" / "confusion.png").exists()


def test_predict_with_a_missing_checkpoint_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "predict", "--checkpoint", str(tmp_path / "none.safetensors"))
    assert code == ExitStatus.USAGE
    assert "no such checkpoint file" in err


@pytest.mark.parametrize(("model", "lr", "momentum"), [("softmax", 0.1, 0.0), ("mlp", 0.05, 0.9)])
def test_train_uses_each_models_own_defaults(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, model: str, lr: float, momentum: float
) -> None:
    from gradlab import checkpoint

    argv = ["train", model, "--epochs", "1", "--out", str(tmp_path), "--no-plots", "--json"]
    assert run(capsys, *argv)[0] == 0
    _, meta = checkpoint.load(tmp_path / "model.safetensors")
    assert meta["hyperparameters"]["lr"] == "auto"
    assert meta["hyperparameters"]["momentum"] == momentum
    rule = meta["optimizer"]["config"]
    assert (rule["name"], rule["lr"], rule["momentum"]) == ("sgd", lr, momentum)


@pytest.mark.parametrize(
    ("schedule", "said", "factors"),
    [
        ("step", "0.1 for step", [1, 1, 0.1, 0.1, 0.01, 0.01]),  # a third of 6 epochs
        ("exponential", "0.9 for exponential", [1, 0.9, 0.81, 0.729, 0.6561, 0.59049]),
    ],
)
def test_train_schedules_follow_the_defaults_its_help_gives(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    schedule: str,
    said: str,
    factors: list[float],
) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--gamma GAMMA the schedule's decay factor (default: 0.1 for step, 0.9 for " in help_text
    assert said in help_text
    assert "epochs between step decays (default: a third of --epochs, at least 1)" in help_text
    argv = ["train", "softmax", "--epochs", "6", "--schedule", schedule, "--no-plots", "--json"]
    assert run(capsys, *argv, "--out", str(tmp_path))[0] == 0
    rates = json.loads((tmp_path / "history.json").read_text())["columns"]["lr"]
    assert rates == pytest.approx([0.1 * f for f in factors], rel=1e-12)


def test_train_quiet_prints_nothing_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(
        capsys, "train", "softmax", "--epochs", "2", "--out", str(tmp_path), "--quiet",
        "--no-plots",
    )  # fmt: skip
    assert code == 0
    assert err == ""
    assert "softmax on digits (numpy engine): after 2 epochs" in out


def test_train_resume_refuses_a_checkpoint_of_other_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["train", "softmax", "--out", str(tmp_path), "--no-plots", "--quiet"]
    assert run(capsys, *args, "--epochs", "1")[0] == 0
    before = (tmp_path / "model.safetensors").read_bytes()
    code, _, err = run(capsys, *args, "--dataset", "synthetic", "--epochs", "2", "--resume")
    assert code == ExitStatus.USAGE
    assert (
        f"{tmp_path / 'model.safetensors'} does not match the synthetic data set: samples of "
        "shape (8, 8) in the checkpoint, (28, 28) in the synthetic data set."
    ) in err
    assert "Resume with the --dataset (and --hidden) it was trained on" in err
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_train_resume_refuses_synthetic_data_drawn_from_another_seed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["train", "softmax", "--dataset", "synthetic", "--out", str(tmp_path), "--no-plots"]
    assert run(capsys, *args, "--quiet", "--epochs", "1", "--seed", "3")[0] == 0
    before = (tmp_path / "model.safetensors").read_bytes()
    code, _, err = run(capsys, *args, "--epochs", "2", "--seed", "4", "--resume")
    assert code == ExitStatus.USAGE
    assert (
        f"{tmp_path / 'model.safetensors'} does not match the synthetic data set: it was "
        "trained on other data (60,000 samples, as in the synthetic data set, but of other "
        "values: SHA-256 "
    ) in err
    assert "Synthetic data is drawn from --seed: give the run's." in err
    assert "resuming" not in err  # refused before it says what it resumes
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_train_resume_says_when_there_is_nothing_left_to_train(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["train", "softmax", "--out", str(tmp_path), "--no-plots", "--quiet"]
    assert run(capsys, *args, "--epochs", "3")[0] == 0
    code, out, err = run(capsys, *args, "--epochs", "2", "--resume")
    assert code == 0
    assert "already holds 3 epoch(s), which is --epochs 2 or more: nothing to train" in err
    assert "after 3 epochs" in out


def test_train_resume_names_changed_hyperparameters(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["train", "softmax", "--out", str(tmp_path), "--no-plots", "--quiet"]
    assert run(capsys, *args, "--epochs", "1")[0] == 0
    code, _, err = run(capsys, *args, "--epochs", "2", "--resume", "--lr", "0.2")
    assert code == 0
    assert "resuming with --lr 0.2 (the checkpoint's: 0.1); the run will no longer match" in err


def test_train_interrupted_during_a_save_names_the_epoch_on_disk(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradlab import checkpoint

    real_save = checkpoint.save
    calls = []

    def save_then_interrupt(*args: object, **kwargs: object) -> Path:
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C while the third epoch is being saved
            raise KeyboardInterrupt
        return real_save(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(checkpoint, "save", save_then_interrupt)
    code, _, err = run(
        capsys, "train", "softmax", "--epochs", "5", "--out", str(tmp_path), "--quiet",
        "--no-plots",
    )  # fmt: skip
    assert code == ExitStatus.INTERRUPTED
    assert (
        f"gradlab train: interrupted; epoch 2 is saved in {tmp_path / 'model.safetensors'}."
    ) in err
    assert "Continue with the same command and --resume." in err
    assert err.count("gradlab train: interrupted") == 1  # the CLI does not say it again
    _, meta = checkpoint.load(tmp_path / "model.safetensors")
    assert meta["history"]["epoch"] == [1.0, 2.0]


def test_train_interrupted_before_any_save_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradlab import checkpoint

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", interrupt)
    code, _, err = run(capsys, "train", "softmax", "--out", str(tmp_path), "--quiet")
    assert code == ExitStatus.INTERRUPTED
    assert "gradlab train: interrupted; no epoch was saved." in err
    assert "--resume" not in err


def test_train_out_inside_a_file_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "f").write_text("")
    code, _, err = run(capsys, "train", "mlp", "--out", str(tmp_path / "f" / "run"))
    assert code == ExitStatus.USAGE
    assert f"is inside {tmp_path / 'f'}, which is a file, not a folder." in err


@pytest.mark.parametrize("kind", ["file", "fifo"])
def test_train_data_dir_that_is_a_file_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    if kind == "file":
        (tmp_path / "f").write_text("")
    else:
        os.mkfifo(tmp_path / "f")
    code, _, err = run(
        capsys, "train", "softmax", "--dataset", "mnist", "--data-dir", str(tmp_path / "f"),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == ExitStatus.USAGE
    what = "a file" if kind == "file" else "not a folder"
    assert f"{tmp_path / 'f'} is {what}; the data folder must be a folder holding" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "softmax", "--grid", "-3"], "argument --grid: must be 0 or more, got '-3'"),
        (["predict", "--n", "-5"], "argument --n: must be 0 or more, got '-5'"),
        # each image is an axes: 10,000 of them (a whole test set) took minutes and GBs
        (["train", "softmax", "--grid", "101"], "argument --grid: must be at most 100, got '101'"),
        (["predict", "--n", "10000"], "argument --n: must be at most 100, got '10000'"),
    ],
)
def test_grid_sizes_out_of_range_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == ExitStatus.USAGE
    assert message in err


def test_train_a_network_too_large_for_memory_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two layers of 100,000 are 40 GB of weights: the allocation fails (simulated here,
    since an operating system that overcommits may grant it and kill the process later)."""

    def no_memory(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr("gradlab.models._init.init_params", no_memory)
    argv = ["train", "mlp", "--hidden", "100000,100000", "--out", str(tmp_path), "--quiet"]
    code, _, err = run(capsys, *argv)
    assert code == ExitStatus.USAGE
    assert (
        "not enough memory for a network of layers (64, 100000, 100000, 10): 10,007,400,000 "
        "weights (40 GB in float32, several times that to train)." in err
    )
    assert "Choose smaller hidden widths." in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("model", "lr"), [("softmax", "1e30"), ("mlp", "1e6")])
def test_train_with_an_absurd_rate_stops_diverged_without_numpy_warnings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, model: str, lr: str
) -> None:
    code, _, err = run(
        capsys, "train", model, "--lr", lr, "--out", str(tmp_path), "--quiet", "--no-plots"
    )
    assert code == ExitStatus.DIVERGED
    assert "descent diverged at epoch 1: the loss" in err
    assert "RuntimeWarning" not in err


def test_predict_on_synthetic_images_uses_the_models_seed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["train", "softmax", "--dataset", "synthetic", "--epochs", "1", "--seed", "3"]
    code, out, _ = run(capsys, *argv, "--out", str(tmp_path), "--quiet", "--no-plots", "--json")
    assert code == 0
    trained = json.loads(out)["test_accuracy"]
    code, out, _ = run(
        capsys, "predict", "--checkpoint", str(tmp_path / "model.safetensors"),
        "--dataset", "synthetic", "--out", str(tmp_path / "p"), "--n", "4", "--json",
    )  # fmt: skip
    assert code == 0
    # the same test images as in training (seed 3, from the checkpoint), so the same accuracy
    assert json.loads(out)["test_accuracy"] == pytest.approx(trained)


def test_linreg_and_compare_parsers_import_no_model_library() -> None:
    """The commands read their defaults without importing scikit-learn (seconds on a busy
    machine), which the models need: only ``run`` imports them."""
    import subprocess
    import sys

    probe = (
        "from gradlab.cli import build_parser; build_parser().parse_args(['linreg']); "
        "build_parser().parse_args(['compare']); import sys; "
        "print([m for m in ('sklearn', 'gradlab.models.linear', 'gradlab.models.logistic', "
        "'gradlab.models.classifier') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "command",
    ["tour", "descend", "linreg", "train", "lr-find", "predict", "compare", "bench", "env"],
)
def test_help_has_no_unfilled_placeholder(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    # argparse shows choices as {a,b,c}; a single word in braces is an f-string left plain
    assert not re.findall(r"\{[A-Za-z_]+\}", " ".join(out.split())), out


# ------------------------------------------------------------------ output names checked first

QUICK_RUNS = {
    "train": ["train", "softmax", "--epochs", "1", "--quiet"],
    "lr-find": ["lr-find", "softmax", "--steps", "20", "--quiet"],
    "linreg": ["linreg", "--n", "20", "--iters", "5"],
    "compare": ["compare", "--epochs", "2", "--engines", "numpy"],
    "descend": ["descend", "x**2", "--steps", "5"],
    "descend race": ["descend", "rosenbrock", "--optimizer", "sgd,adam", "--steps", "5"],
}


def _outputs(command: str) -> tuple[str, ...]:
    import importlib

    module = importlib.import_module(f"gradlab.commands.{command.split()[0].replace('-', '_')}")
    return tuple(module.OUTPUTS)


@pytest.mark.parametrize("command", sorted(QUICK_RUNS))
def test_every_file_a_command_writes_is_among_the_names_checked_before_it_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    out = tmp_path / "out"
    code, _, err = run(capsys, *QUICK_RUNS[command], "--out", str(out))
    assert code == 0, err
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert written
    assert written <= set(_outputs(command))


@pytest.mark.parametrize("command", sorted(QUICK_RUNS))
def test_a_folder_where_a_command_writes_a_file_is_refused_before_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    """Found at the write, this was exit 5 after the work, with other files written."""
    out = tmp_path / "out"
    name = _outputs(command)[-1]
    (out / name).mkdir(parents=True)
    code, _, err = run(capsys, *QUICK_RUNS[command], "--out", str(out))
    assert code == ExitStatus.USAGE
    assert f"error: --out {out}: {out / name} is a folder, where this command writes a file." in (
        err
    )
    assert "Move it away, or choose another output folder (--out DIR)." in err
    assert sorted(p.name for p in out.iterdir()) == [name]  # nothing else written


def test_a_pipe_where_a_command_writes_a_file_is_refused_before_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "curves.png")
    code, _, err = run(capsys, "train", "softmax", "--epochs", "1", "--out", str(out))
    assert code == ExitStatus.USAGE
    assert f"{out / 'curves.png'} is not a regular file (a device, pipe or socket)" in err
    assert sorted(p.name for p in out.iterdir()) == ["curves.png"]


@pytest.mark.parametrize(
    ("history", "noise"),
    [
        ([10.0 * 0.5**t for t in range(40)], 0.0),  # steep but smooth
        ([1.0, math.e] * 20, 2.0),  # up and down by a factor e
    ],
)
def test_compare_noise_is_jaggedness_not_steepness(history: list[float], noise: float) -> None:
    """The median |log(L[t+1] / L[t])| called a smooth fall noisy (0.031 for batch descent,
    under a caption saying ~0)."""
    from gradlab.jobs.compare import Row

    row = Row("numpy", "batch", [0.0], 0.0, 0.0, len(history), 1.0, history, [1.0, 9.0] * 20)
    assert row.noise == pytest.approx(noise, abs=1e-12)


def test_compare_noise_is_the_parameters_jitter_not_which_point_a_step_drew() -> None:
    """On each step's own batch, SGD scored 2.39 with the parameters held at the minimum:
    one point's loss spreads over orders of magnitude whatever the parameters do."""
    from gradlab.jobs.compare import Row

    held = [1.0] * 40  # the loss on all the data: the parameters do not move
    jumpy = [10.0 ** (k % 3) for k in range(400)]  # each step's single point: all over
    assert Row("numpy", "sgd", [0.0], 0.0, 0.0, 400, 1.0, held, jumpy).noise == 0.0


def test_every_commands_json_names_its_files_and_optimizer_alike(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Written files were "plots" in some commands and "files" in others; the optimizer a
    name in some and its settings in others."""
    jobs = {
        "descend": ["descend", "x**2", "--steps", "5"],
        "linreg": ["linreg", "--iters", "5"],
        "compare": ["compare", "--engines", "numpy", "--epochs", "5"],
        "train": ["train", "softmax", "--epochs", "1", "--quiet"],
    }
    for name, argv in jobs.items():
        code, out, _ = run(capsys, *argv, "--json", "--out", str(tmp_path / name))
        assert code == 0, name
        obj = json.loads(out)
        assert isinstance(obj["files"], list), name
        assert obj["files"], name
        assert all(Path(f).exists() for f in obj["files"]), name
        assert "plots" not in obj, name
        optimizers = [row["optimizer"] for row in obj.get("runs", obj.get("rows", [obj]))]
        assert all(isinstance(o, dict) and "name" in o for o in optimizers), name


def test_compare_quiet_prints_no_progress(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "compare", "--engines", "numpy", "--epochs", "5", "--no-plots",
                         "--quiet")  # fmt: skip
    assert code == 0
    assert "numpy" in out
    assert err == ""


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\x1b[2Jb\x07", "a\\x1b[2Jb\\x07"),  # an escape sequence, a bell
        ("x\u202ey", "x\\u202ey"),  # a right-to-left override
        ("bad\udc80name", "bad\\udc80name"),  # a file name's undecodable byte
        ("caf\xe9 \x9b", "caf\xe9 \\x9b"),  # a C1 control beside Latin text
        ("模型\u3000文件", "模型\u3000文件"),  # CJK with an ideographic space
        ("مدل\u200cها", "مدل\u200cها"),  # Persian with a zero-width non-joiner
        ("line 1\nline 2\tend", "line 1\nline 2\tend"),
    ],
)
def test_messages_show_controls_as_escapes_and_text_of_any_script_as_it_is(
    text: str, shown: str
) -> None:
    from gradlab.cli import _shown

    assert _shown(text) == shown
