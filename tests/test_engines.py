"""Engines agree, hand-derived gradients are right, and the tutorial is reproduced.

PyTorch and TensorFlow are optional: the tests that need one import it with
``pytest.importorskip``, so a gradlab without the extras runs the rest.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gradlab import engines
from gradlab.engines.numpy_engine import loss_and_grad
from gradlab.errors import DivergenceError, MissingDependencyError, UsageError
from gradlab.jobs.compare import breast_cancer, tutorial_numpy
from gradlab.models import LinearRegression, LogisticRegression, PolynomialRegression
from gradlab.models.base import GradientDescentModel
from gradlab.ops import sigmoid

ENGINE_SETUPS: list[Any] = [
    ("torch", None),
    ("torch", {"style": "nn"}),
    pytest.param("tensorflow", None, marks=pytest.mark.tensorflow),
]
EVERY_ENGINE = ["numpy", "torch", pytest.param("tensorflow", marks=pytest.mark.tensorflow)]


def need(engine: str) -> None:
    """Skip unless ``engine``'s framework is installed (numpy always is)."""
    if engine != "numpy":
        pytest.importorskip(engine)


def problem(model: str, seed: int = 0) -> tuple[GradientDescentModel, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if model == "polynomial":
        x = rng.uniform(-1, 1, (30, 1))
        y = 3 * x[:, 0] ** 2 - x[:, 0] + 2 + 0.1 * rng.normal(size=30)
        return PolynomialRegression(degree=3), x, y
    X = rng.normal(size=(30, 3))
    if model == "linear":
        return LinearRegression(), X, X @ [1.0, -2.0, 0.5] + 0.3 + 0.1 * rng.normal(size=30)
    return LogisticRegression(), X, (X @ [1.0, -2.0, 0.5] + rng.normal(size=30) > 0).astype(float)


@pytest.mark.parametrize(("engine", "options"), ENGINE_SETUPS)
@pytest.mark.parametrize("method", ["batch", "sgd", "minibatch"])
@pytest.mark.parametrize("model_name", ["linear", "polynomial", "logistic"])
def test_engines_agree_with_numpy_to_1e8(
    engine: str, options: dict[str, Any] | None, method: str, model_name: str
) -> None:
    need(engine)
    results = []
    for eng, opts in (("numpy", None), (engine, options)):
        model, X, y = problem(model_name)
        model.set_params(
            lr=0.05, epochs=4, method=method, batch_size=8, engine=eng, engine_options=opts
        )
        model.set_params(random_state=5)
        model.fit(X, y)
        results.append((model.coef_, model.intercept_, model.history_["loss"]))
    (w_np, b_np, h_np), (w, b, h) = results
    np.testing.assert_allclose(w, w_np, rtol=1e-8, atol=1e-12)
    assert b == pytest.approx(b_np, rel=1e-8, abs=1e-12)
    np.testing.assert_allclose(h, h_np, rtol=1e-8)


@pytest.mark.parametrize(
    "engine", ["torch", pytest.param("tensorflow", marks=pytest.mark.tensorflow)]
)
def test_framework_engines_have_no_closed_form_trajectory(engine: str) -> None:
    need(engine)
    problem_ = engines.Problem(np.ones((3, 1)), np.ones(3), "squared", "mean")
    eng = engines.make_engine(engine, problem_, np.zeros(1), 0.0)
    assert eng.trajectory(0.1, 5) is None


finite = st.floats(-3, 3, allow_nan=False)


def draw_batch(
    data: st.DataObject, n: int, d: int, kind: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    X = data.draw(arrays(np.float64, (n, d), elements=finite))
    w = data.draw(arrays(np.float64, (d,), elements=finite))
    b = data.draw(finite)
    labels = finite if kind == "squared" else st.sampled_from([0.0, 1.0])
    y = data.draw(arrays(np.float64, (n,), elements=labels))
    return X, y, w, b


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 12),
    d=st.integers(1, 4),
    kind=st.sampled_from(["squared", "logistic"]),
    reduction=st.sampled_from(["mean", "sum"]),
)
def test_hand_derived_gradient_matches_central_differences(
    data: st.DataObject, n: int, d: int, kind: str, reduction: str
) -> None:
    X, y, w, b = draw_batch(data, n, d, kind)
    _, gw, gb = loss_and_grad(X, y, w, b, kind, reduction)
    h = 1e-6
    theta = np.append(w, b)
    fd = np.empty_like(theta)
    for i in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        f_up = loss_and_grad(X, y, up[:-1], up[-1], kind, reduction)[0]
        f_down = loss_and_grad(X, y, down[:-1], down[-1], kind, reduction)[0]
        fd[i] = (f_up - f_down) / (2 * h)
    np.testing.assert_allclose(np.append(gw, gb), fd, rtol=1e-5, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 12),
    d=st.integers(1, 4),
    kind=st.sampled_from(["squared", "logistic"]),
    reduction=st.sampled_from(["mean", "sum"]),
)
def test_hand_derived_gradient_matches_autograd(
    data: st.DataObject, n: int, d: int, kind: str, reduction: str
) -> None:
    torch = pytest.importorskip("torch")
    from gradlab.engines.torch_engine import batch_loss

    X, y, w, b = draw_batch(data, n, d, kind)
    loss, gw, gb = loss_and_grad(X, y, w, b, kind, reduction)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    lt = batch_loss(torch.tensor(X) @ wt + bt, torch.tensor(y), kind, reduction)
    lt.backward()
    assert loss == pytest.approx(lt.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-10, atol=1e-10)
    assert gb == pytest.approx(bt.grad.item(), rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("z", [-1000.0, -50.0, 0.0, 50.0, 1000.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_logistic_loss_is_finite_and_right_at_extreme_logits(z: float, label: float) -> None:
    torch = pytest.importorskip("torch")
    from gradlab.engines.torch_engine import batch_loss

    X = np.array([[1.0]])
    loss, gw, gb = loss_and_grad(X, np.array([label]), np.array([z]), 0.0, "logistic", "mean")
    wt = torch.tensor([z], dtype=torch.float64, requires_grad=True)
    yt = torch.tensor([label], dtype=torch.float64)
    lt = batch_loss(torch.tensor(X) @ wt, yt, "logistic", "mean")
    lt.backward()
    assert np.isfinite(loss)
    assert loss == pytest.approx(lt.item(), rel=1e-12, abs=1e-15)
    assert gw[0] == pytest.approx(wt.grad.item(), rel=1e-12, abs=1e-15)
    assert gb == pytest.approx(sigmoid(np.array([z]))[0] - label, abs=1e-15)


def test_numpy_tutorial_is_reproduced_to_the_printed_digits() -> None:
    r = tutorial_numpy()
    assert f"{r['w0']:.8f} {r['b0']:.7f}" == "0.77828922 0.7795984"
    assert f"{r['w']:.8f}" == "2.98927619"
    assert f"{r['b']:.8f}" == "2.09818307"


def test_torch_tutorial_is_reproduced_to_the_printed_digits() -> None:
    pytest.importorskip("torch")
    from gradlab.jobs.compare import tutorial_torch

    r = tutorial_torch()
    assert f"{r['w0']:.4f}" == "0.2437"
    assert f"{r['w']:.4f}" == "2.9645"
    assert f"{r['b']:.4f}" == "2.1146"


@pytest.mark.tensorflow
def test_tensorflow_tutorial_runs_2000_steps_and_reports_every_200() -> None:
    pytest.importorskip("tensorflow")
    from gradlab.jobs.compare import tutorial_tensorflow

    r = tutorial_tensorflow(seed=0)
    assert [row["step"] for row in r["rows"]] == list(range(0, 2001, 200))
    losses = [row["loss"] for row in r["rows"]]
    assert losses == sorted(losses, reverse=True)
    assert r["w"] == pytest.approx(3.0, abs=0.15)
    assert r["b"] == pytest.approx(2.1, abs=0.1)


@pytest.mark.parametrize(
    ("package", "name", "run"),
    [("torch", "PyTorch", "tutorial_torch"), ("tensorflow", "TensorFlow", "tutorial_tensorflow")],
)
def test_a_tutorial_run_without_its_framework_gives_the_install_command(
    hide_packages: Callable[..., None], package: str, name: str, run: str
) -> None:
    from gradlab import experiments

    hide_packages(package)
    with pytest.raises(MissingDependencyError, match=f"{name} is not installed") as info:
        getattr(experiments, run)()
    assert f"pip install 'gradlab[{package}]'" in str(info.value)


@pytest.mark.parametrize("engine", EVERY_ENGINE)
def test_logistic_regression_on_breast_cancer_reaches_095(engine: str) -> None:
    need(engine)
    d = breast_cancer()
    m = LogisticRegression(lr=0.1, epochs=300, engine=engine).fit(d.X, d.y)
    assert d.X_test is not None
    assert m.score(d.X_test, d.y_test) >= 0.95


@pytest.mark.parametrize("engine", EVERY_ENGINE)
def test_every_engine_stops_on_divergence_with_the_same_message(engine: str) -> None:
    need(engine)
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 50, size=(40, 1))
    y = 2 * X[:, 0] + 1
    model = LinearRegression(lr=0.01, epochs=50, method="minibatch", batch_size=8, engine=engine)
    with pytest.raises(DivergenceError, match=r"descent diverged at iteration \d+: the loss"):
        model.fit(X, y)


def test_bad_torch_style_lists_the_valid_ones() -> None:
    pytest.importorskip("torch")
    m = LinearRegression(engine="torch", engine_options={"style": "keras"})
    with pytest.raises(
        UsageError, match="unknown torch style 'keras'; choose one of: autograd, nn"
    ):
        m.fit([[0.0], [1.0]], [0.0, 1.0])


def test_cuda_without_a_gpu_is_refused_clearly() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    m = LinearRegression(engine="torch", engine_options={"device": "cuda"})
    with pytest.raises(UsageError) as info:
        m.fit([[0.0], [1.0]], [0.0, 1.0])
    assert info.value.message == "device 'cuda' was asked for, but PyTorch sees no CUDA device."
    assert info.value.hint == (
        "Use device 'cpu' (--device cpu), or 'auto', which takes a GPU where there is one."
    )


def test_missing_engine_prints_the_install_command(hide_packages: Callable[..., None]) -> None:
    hide_packages("tensorflow")
    with pytest.raises(MissingDependencyError, match="TensorFlow is not installed") as info:
        engines.make_engine(
            "tensorflow",
            engines.Problem(np.zeros((2, 1)), np.zeros(2), "squared", "mean"),
            np.zeros(1),
            0.0,
        )
    assert "pip install 'gradlab[tensorflow]'" in str(info.value)


def test_import_tensorflow_without_it_gives_the_install_command(
    hide_packages: Callable[..., None],
) -> None:
    hide_packages("tensorflow")
    with pytest.raises(MissingDependencyError, match="TensorFlow is not installed") as info:
        engines.import_tensorflow()
    assert "pip install 'gradlab[tensorflow]'" in str(info.value)


@pytest.mark.tensorflow
@pytest.mark.slow
def test_import_tensorflow_writes_nothing_to_stderr() -> None:
    """TensorFlow's own import writes its C++ start-up log to file descriptor 2, which a
    notebook shows as an error stream; gradlab's import of it writes nothing there."""
    pytest.importorskip("tensorflow")
    probe = (
        "import sys\n"
        "from gradlab.engines import import_tensorflow\n"
        "tf = import_tensorflow()\n"
        "assert import_tensorflow() is tf is sys.modules['tensorflow']\n"
        "print(float(tf.reduce_sum(tf.constant([1.0, 2.0]))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "3.0\n", "")


def test_make_engine_names_an_unknown_engine() -> None:
    with pytest.raises(UsageError, match="make_engine: engine must be one of 'numpy', 'torch'"):
        engines.make_engine(
            "jax",
            engines.Problem(np.zeros((2, 1)), np.zeros(2), "squared", "mean"),
            np.zeros(1),
            0.0,
        )
