"""Fast tests of the benchmark baselines in :mod:`gradlab.bench.baselines`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from gradlab.bench.baselines import sklearn_rows, tutorial_classify, tutorial_linreg


def _images(
    n: int, *, seed: int = 0, n_classes: int = 10, size: tuple[int, int] = (28, 28)
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """A learnable set: one random prototype per class plus Gaussian noise, clipped to uint8."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(n_classes, *size))
    y = rng.integers(0, n_classes, size=n)
    X = np.clip(prototypes[y] + rng.normal(0.0, 60.0, size=(n, *size)), 0, 255)
    return X.astype(np.uint8), y.astype(np.int64)


@pytest.fixture(scope="module")
def images() -> tuple[npt.NDArray[np.uint8], ...]:
    X, y = _images(700)
    return X[:600], y[:600], X[600:], y[600:]


# --- linear regression: the tutorial's published digits ------------------------------------


@pytest.fixture
def points(data_csv: Path) -> npt.NDArray[np.float64]:
    return np.genfromtxt(data_csv, delimiter=",")


def test_linreg_loop_reproduces_tutorial_digits(points: npt.NDArray[np.float64]) -> None:
    # Printed by the tutorial (the linear-regression notes); compared with repr-exact equality.
    assert tutorial_linreg.compute_error_for_line_given_points(0, 0, points) == 5565.107834483211
    b, w = tutorial_linreg.gradient_descent_runner(points, 0, 0, 0.0001, 1000)
    assert b == 0.08893651993741346
    assert w == 1.4777440851894448
    error = tutorial_linreg.compute_error_for_line_given_points(b, w, points)
    assert error == 112.61481011613473


def test_linreg_run_reports_the_same(points: npt.NDArray[np.float64]) -> None:
    result = tutorial_linreg.run(points, 0.0001, 1000)
    assert set(result) == {"seconds", "b", "w", "error"}
    assert result["seconds"] > 0
    assert (result["b"], result["w"], result["error"]) == (
        0.08893651993741346,
        1.4777440851894448,
        112.61481011613473,
    )


def test_step_gradient_matches_closed_form() -> None:
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(50, 2))
    b, w, lr = 0.3, -0.7, 0.01
    new_b, new_w = tutorial_linreg.step_gradient(b, w, pts, lr)
    x, y = pts[:, 0], pts[:, 1]
    r = y - (w * x + b)
    assert new_b == pytest.approx(b + lr * 2 * r.mean(), rel=1e-12)
    assert new_w == pytest.approx(w + lr * 2 * (x * r).mean(), rel=1e-12)


# --- classification: d2l's pipeline ---------------------------------------------------------


def test_to_tensor_matches_torchvision_semantics() -> None:
    from PIL import Image

    arr = np.arange(6 * 4, dtype=np.uint8).reshape(6, 4) * 10
    t = tutorial_classify.to_tensor(Image.fromarray(arr))
    assert t.shape == (1, 6, 4)
    assert str(t.dtype) == "torch.float32"
    np.testing.assert_array_equal(t.numpy()[0], arr.astype(np.float32) / np.float32(255))


def test_dataset_item_is_tensor_and_int(images: tuple[npt.NDArray[np.uint8], ...]) -> None:
    X, y = images[0], images[1]
    ds = tutorial_classify.ImageDataset(X, y)
    img, label = ds[3]
    assert len(ds) == len(X)
    assert tuple(img.shape) == (1, 28, 28)
    assert type(label) is int
    assert label == int(y[3])
    assert float(img.min()) >= 0.0
    assert float(img.max()) <= 1.0


def test_dataset_rejects_float_images() -> None:
    with pytest.raises(ValueError, match="uint8 array of shape"):
        tutorial_classify.ImageDataset(np.zeros((2, 28, 28)), np.zeros(2, dtype=np.int64))


def _check_result(result: dict[str, object], epochs: int) -> None:
    assert {"seconds", "train_loss", "train_accuracy", "test_accuracy", "epochs"} <= set(result)
    assert result["epochs"] == epochs
    for key in ("seconds", "train_loss", "train_accuracy", "test_accuracy"):
        value = result[key]
        assert isinstance(value, float), key
        assert math.isfinite(value), key
    assert 0.0 <= result["train_accuracy"] <= 1.0  # type: ignore[operator]
    assert 0.0 < result["train_loss"] < 10.0  # type: ignore[operator]
    assert len(result["history"]) == epochs  # type: ignore[arg-type]


@pytest.mark.parametrize("model", ["softmax", "mlp"])
def test_classify_one_epoch_in_process(
    images: tuple[npt.NDArray[np.uint8], ...], model: str
) -> None:
    result = tutorial_classify.run(model, *images, epochs=1, num_workers=0, seed=0)  # type: ignore[arg-type]
    _check_result(result, 1)
    if model == "softmax":  # one epoch of lr 0.1 on well-separated prototypes
        assert result["test_accuracy"] > 0.5


def test_classify_with_worker_processes(images: tuple[npt.NDArray[np.uint8], ...]) -> None:
    in_process = tutorial_classify.run("softmax", *images, epochs=1, num_workers=0, seed=3)
    workers = tutorial_classify.run("softmax", *images, epochs=1, num_workers=2, seed=3)
    _check_result(workers, 1)
    # The shuffling is drawn in the main process, so workers do not change the result.
    assert workers["train_loss"] == pytest.approx(in_process["train_loss"], rel=1e-6)
    assert workers["test_accuracy"] == in_process["test_accuracy"]


def test_classify_rejects_unknown_model(images: tuple[npt.NDArray[np.uint8], ...]) -> None:
    with pytest.raises(ValueError, match="'softmax' or 'mlp'"):
        tutorial_classify.run("cnn", *images, epochs=1, num_workers=0)  # type: ignore[arg-type]


# --- scikit-learn rows ----------------------------------------------------------------------


def _check_rows(rows: list[dict[str, object]], metric: str, count: int) -> None:
    assert len(rows) == count
    for row in rows:
        assert {"seconds", metric, "name", "note"} <= set(row)
        assert str(row["name"]).startswith("sklearn")
        assert "ConvergenceWarning" in str(row["note"])
        assert isinstance(row["seconds"], float)
        assert row["seconds"] > 0


def test_sklearn_linreg_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(20, 70, size=100)
    pts = np.column_stack([x, 1.3 * x + 8 + rng.normal(0, 10, size=100)])
    rows = sklearn_rows.linreg(pts, lr=0.0001, iterations=50)
    _check_rows(rows, "loss", 2)
    ols, sgd = rows
    assert ols["w"] == pytest.approx(1.3, abs=0.2)
    assert ols["loss"] <= sgd["loss"]  # least squares is the optimum


def test_sklearn_softmax_rows() -> None:
    X, y = _images(300, seed=5)
    rows = sklearn_rows.softmax(X[:240], y[:240], X[240:], y[240:], epochs=3, logistic_max_iter=20)
    _check_rows(rows, "accuracy", 2)
    for row in rows:
        assert row["accuracy"] > 0.8  # type: ignore[operator]


def test_sklearn_mlp_row_records_convergence_warning() -> None:
    X, y = _images(300, seed=6)
    with_warnings = sklearn_rows.mlp(X[:240], y[:240], X[240:], y[240:], epochs=2, batch_size=64)
    _check_rows(with_warnings, "accuracy", 1)
    (row,) = with_warnings
    assert row["converged"] is False
    assert "silenced" in row["note"]  # type: ignore[operator]
