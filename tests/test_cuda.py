"""The CUDA paths: run only where PyTorch sees a GPU (CI has none; the GPU machine does).

Without a GPU each test is skipped with the reason; the refusal of ``device="cuda"``
without one is tested in test_engines.py and test_classifier.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradlab.cli import main
from gradlab.models import LinearRegression, MLPClassifier, SoftmaxRegression

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def images(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from gradlab.data.synthetic import make_images

    d = make_images(n, 10, seed=seed)
    return d.X_train, d.y_train


def test_mlp_on_cuda_trains_to_the_cpu_history() -> None:
    X, y = images()
    runs = [
        MLPClassifier(hidden=(32,), epochs=3, batch_size=64, engine="torch", device=dev).fit(
            X, y, eval_set=(X[:200], y[:200])
        )
        for dev in ("cpu", "cuda")
    ]
    assert runs[1].engine_ == "torch"
    np.testing.assert_allclose(
        runs[0].history_["train_loss"], runs[1].history_["train_loss"], rtol=1e-3
    )
    assert runs[1].history_["test_accuracy"][-1] == pytest.approx(
        runs[0].history_["test_accuracy"][-1], abs=0.02
    )


def test_auto_device_picks_cuda_and_the_saved_model_predicts_on_the_cpu(tmp_path: Path) -> None:
    X, y = images()
    m = SoftmaxRegression(epochs=2, engine="auto", device="auto").fit(X, y)
    assert m.engine_ == "torch"  # the numpy engine is CPU-only; auto takes torch on a GPU
    path = m.save(tmp_path / "model.safetensors")
    back = SoftmaxRegression.load(path)
    np.testing.assert_array_equal(back.predict(X[:50]), m.predict(X[:50]))


def test_linear_regression_on_cuda_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, (200, 1))
    t = 3 * x[:, 0] + 1 + rng.normal(0, 0.1, 200)
    ref = LinearRegression(lr=0.01, epochs=200).fit(x, t)
    gpu = LinearRegression(
        lr=0.01, epochs=200, engine="torch", engine_options={"device": "cuda"}
    ).fit(x, t)
    np.testing.assert_allclose(gpu.coef_, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(gpu.intercept_, ref.intercept_, rtol=1e-6)


def test_cli_trains_on_cuda(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code = main(
        ["train", "mlp", "--device", "cuda", "--epochs", "1", "--quiet", "--json",
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epochs"] == 1
    assert 0.0 <= out["test_accuracy"] <= 1.0


def test_cuda_tensors_with_grad_are_read_as_arrays() -> None:
    X, y = images(200)
    tX = torch.tensor(X.reshape(len(X), -1), dtype=torch.float32, device="cuda") / 255
    tX.requires_grad_(True)
    m = SoftmaxRegression(epochs=1, engine="numpy").fit(tX, torch.tensor(y, device="cuda"))
    ref = SoftmaxRegression(epochs=1, engine="numpy").fit(tX.detach().cpu().numpy(), y)
    assert np.array_equal(m.params_["W1"], ref.params_["W1"])


def test_auto_engine_finds_the_gpu_through_the_probe() -> None:
    from gradlab.engines.gpu import cuda_available, gpu_may_be_present

    assert gpu_may_be_present()
    assert cuda_available()
