"""Classifiers: stable softmax, backprop against autograd, the loop, checkpoints, resume."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab import checkpoint, ops
from gradlab.engines.numpy_mlp import (
    NumpyMLP,
    cross_entropy,
    log_softmax,
    reference_gradients,
    reference_step,
    softmax,
)
from gradlab.engines.torch_mlp import TorchMLP
from gradlab.errors import DataError, UsageError
from gradlab.models import MLPClassifier, SoftmaxRegression
from gradlab.models.classifier import init_params
from gradlab.train import Callback
from gradlab.viz.monitor import TerminalProgress


def blobs(n: int = 300, d: int = 16, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, size=(k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def test_softmax_does_not_overflow_for_logits_around_1000() -> None:
    z = np.array([[1000.0, 999.0, -1000.0], [5000.0, 5000.0, 0.0]], dtype=np.float32)
    p = softmax(z)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[1, :2], [0.5, 0.5])
    ce = cross_entropy(z, np.array([2, 0]))
    assert np.all(np.isfinite(ce))
    expected = torch.nn.functional.cross_entropy(
        torch.tensor(z), torch.tensor([2, 0]), reduction="none"
    )
    np.testing.assert_allclose(ce, expected.numpy(), rtol=1e-6)


def test_log_softmax_matches_torch() -> None:
    z = np.random.default_rng(0).normal(0, 30, size=(5, 7))
    # Both compute shifted - log(sum(exp(shifted))) with shifted = z - max(z). Each rounding
    # is relative to |shifted| or to the log-sum (at most log 7), so the error is absolute,
    # a few ulps of the largest magnitude involved; entries near 0 (the row maximum, about
    # -1e-4 here) have no relative accuracy to compare, which is what broke rtol=1e-12.
    scale = np.abs(z - z.max(axis=1, keepdims=True)).max() + np.log(z.shape[1])
    atol = 8 * np.finfo(np.float64).eps * scale
    expected = torch.log_softmax(torch.tensor(z), 1).numpy()
    np.testing.assert_allclose(log_softmax(z), expected, rtol=0, atol=atol)


U32 = 2.0**-24  # unit roundoff of float32
U64 = 2.0**-53


# ------------------------------------------------------------------ error bounds


def gamma(n: int, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u): the relative error bound of an n-term sum."""
    return n * u / (1 - n * u)


def step_error_bounds(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    lr: float,
    scale: float = 1.0,
    u: float = U32,
) -> tuple[dict[str, np.ndarray], float, np.ndarray]:
    """Worst-case bounds on how far one SGD step computed in floating point (unit roundoff
    ``u``, any summation order) can be from the exact step, to first order in ``u``.

    Propagated through the network with absolute values (Higham, ch. 3): a product
    ``a @ b`` of ``n`` terms is off by at most ``gamma_n |a| @ |b|`` plus the errors of its
    factors times the other's magnitude; a rounding adds ``u`` of the result's magnitude;
    ReLU passes errors unchanged but its mask may flip where ``|z|`` is within its error;
    softmax turns logit errors ``e`` into probability errors of at most ``2 max(e) p``.

    Returns
    -------
    bounds : dict
        For each ``W_k``/``b_k``: a bound on the error of ``lr * gradient`` (the step).
    loss_bound : float
        On the summed loss.
    ambiguous_rows : ndarray of bool
        Rows whose top two logits are within their errors (the argmax may differ).
    """
    n_layers = sum(1 for k in params if k.startswith("W"))
    W = [params[f"W{k}"].astype(np.float64) for k in range(1, n_layers + 1)]
    b = [params[f"b{k}"].astype(np.float64) for k in range(1, n_layers + 1)]
    Xd = X.astype(np.float64)
    hs, errs, zs = [Xd * scale], [np.zeros_like(Xd)], []
    for k in range(n_layers):
        n = W[k].shape[0]
        magnitude = np.abs(hs[k]) @ np.abs(W[k]) + np.abs(b[k])
        err = (gamma(n, u) + 2 * u) * magnitude + errs[k] @ np.abs(W[k])
        z = hs[k] @ W[k] + b[k]
        zs.append(z)
        hs.append(ops.relu(z) if k < n_layers - 1 else z)
        errs.append(err)
    z, ez = zs[-1], errs[-1]
    m, classes = z.shape
    p = ops.softmax(z)
    onehot = np.eye(classes)[y]
    c = lr / m
    dz = (p - onehot) * c
    row_err = ez.max(axis=1, keepdims=True)
    # exp, the row sum, the division, the product by c (itself rounded) and the subtraction
    edz = c * (2 * row_err * p + (gamma(classes, u) + 6 * u) * p) + u * np.abs(dz)
    bounds: dict[str, np.ndarray] = {}
    for k in range(n_layers, 0, -1):
        h, eh = hs[k - 1], errs[k - 1]
        bounds[f"W{k}"] = (
            gamma(m, u) * np.abs(h).T @ np.abs(dz) + eh.T @ np.abs(dz) + np.abs(h).T @ edz
        )
        bounds[f"b{k}"] = gamma(m, u) * np.abs(dz).sum(axis=0) + edz.sum(axis=0)
        if k > 1:
            back = dz @ W[k - 1].T
            eback = gamma(W[k - 1].shape[1], u) * (np.abs(dz) @ np.abs(W[k - 1]).T) + (
                edz @ np.abs(W[k - 1]).T
            )
            active = zs[k - 2] > 0
            unsure = np.abs(zs[k - 2]) <= errs[k - 1]
            edz = np.where(active, eback + u * np.abs(back), 0.0)
            edz = edz + np.where(unsure, np.abs(back) + eback, 0.0)
            dz = back * active
    lse = np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)
    z_true = z[np.arange(m), y]
    terms = np.abs(lse) + np.abs(z_true)
    loss_bound = float(
        (2 * row_err[:, 0] + (gamma(classes, u) + 4 * u) * terms).sum() + gamma(m, u) * terms.sum()
    )
    top2 = np.sort(z, axis=1)[:, -2:]
    ambiguous = (top2[:, 1] - top2[:, 0]) <= 2 * row_err[:, 0] if classes > 1 else np.zeros(m, bool)
    return bounds, loss_bound, ambiguous


# ------------------------------------------------------------------ backpropagation


def logits(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    n_layers = sum(1 for k in params if k.startswith("W"))
    h = X
    for k in range(1, n_layers + 1):
        h = h @ params[f"W{k}"] + params[f"b{k}"]
        h = ops.relu(h) if k < n_layers else h
    return h


@settings(max_examples=30, deadline=None)
@given(
    hidden=st.lists(st.integers(1, 12), max_size=2),
    m=st.integers(1, 20),
    seed=st.integers(0, 1000),
    uint8=st.booleans(),
    momentum=st.sampled_from([0.0, 0.9]),
)
def test_tuned_step_equals_the_reference_step_within_float32_rounding(
    hidden: list[int], m: int, seed: int, uint8: bool, momentum: float
) -> None:
    rng = np.random.default_rng(seed)
    sizes = (6, *hidden, 4)
    params = init_params(sizes, "kaiming", 0.01, seed)
    for k in range(1, len(sizes)):  # nonzero biases, so their update is checked too
        params[f"b{k}"] = rng.normal(0, 0.1, sizes[k]).astype(np.float32)
    if uint8:
        X = rng.integers(0, 256, (m, 6), dtype=np.uint8)
    else:
        X = rng.normal(size=(m, 6)).astype(np.float32)
    y = rng.integers(0, 4, m)
    lr = 0.05
    net = NumpyMLP(sizes, {k: v.copy() for k, v in params.items()}, momentum)
    scale = net.input_scale(X)
    data = net.prepare(X, y)
    loss_sum, correct = net.train_step(data, np.arange(m), lr)

    X64 = X.astype(np.float64) * scale
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    loss, new, _ = reference_step(p64, None, X64, y, lr, momentum)

    bounds, loss_bound, ambiguous = step_error_bounds(params, X, y, lr=lr, scale=scale)
    got = net.state()
    for name, ref in new.items():
        # the step's error and the final subtraction's rounding
        tol = bounds[name] + U32 * (np.abs(ref - p64[name]) + np.abs(ref))
        err = np.abs(got[name] - ref)
        assert np.all(err <= tol * 1.001), (name, float((err / np.maximum(tol, 1e-300)).max()))
    assert abs(loss_sum - loss * m) <= loss_bound * 1.001
    if not ambiguous.any():
        assert correct == int(np.count_nonzero(logits(p64, X64).argmax(axis=1) == y))


def test_the_bound_is_tight_enough_to_catch_a_wrong_step() -> None:
    # the check above is not vacuous: a step that forgets the 1/m of the mean loss is
    # far outside the bound
    rng = np.random.default_rng(0)
    sizes = (6, 5, 3)
    params = init_params(sizes, "kaiming", 0.01, 0)
    X = rng.normal(size=(16, 6)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    bounds, _, _ = step_error_bounds(params, X, y, lr=0.05)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    _, grads = reference_gradients(p64, X.astype(np.float64), y)
    wrong_by = 0.05 * grads["W1"] * (16 - 1)  # the step lr*g*m instead of lr*g
    assert np.max(np.abs(wrong_by)) > 100 * np.max(bounds["W1"])


@settings(max_examples=20, deadline=None)
@given(
    hidden=st.lists(st.integers(1, 10), max_size=2),
    m=st.integers(1, 16),
    seed=st.integers(0, 1000),
)
def test_reference_gradients_match_torch_autograd_in_float64(
    hidden: list[int], m: int, seed: int
) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    sizes = (5, *hidden, 3)
    params = {k: v.astype(np.float64) for k, v in init_params(sizes, "kaiming", 0.01, seed).items()}
    for k in range(1, len(sizes)):
        params[f"b{k}"] = rng.normal(0, 0.1, sizes[k])
    X = rng.normal(size=(m, 5))
    y = rng.integers(0, 3, m)
    loss, grads = reference_gradients(params, X, y)

    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.tensor(X)
    n_layers = len(sizes) - 1
    for k in range(1, n_layers + 1):
        h = h @ tp[f"W{k}"] + tp[f"b{k}"]
        if k < n_layers:
            h = torch.relu(h)
    t_loss = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    t_loss.backward()
    # both sides are within the float64 bound of the exact gradient, so within twice it
    bounds, loss_bound, _ = step_error_bounds(params, X, y, lr=1.0, u=U64)
    for name, g in grads.items():
        assert tp[name].grad is not None
        err = np.abs(g - tp[name].grad.numpy())
        assert np.all(err <= 2 * bounds[name] + 4 * U64 * np.abs(g)), name
    assert abs(loss - t_loss.item()) <= 2 * loss_bound / m + 4 * U64 * abs(loss)


@settings(max_examples=25, deadline=None)
@given(
    hidden=st.lists(st.integers(1, 12), max_size=2),
    m=st.integers(1, 20),
    seed=st.integers(0, 1000),
    momentum=st.sampled_from([0.0, 0.9]),
)
def test_hand_derived_backprop_matches_torch_autograd(
    hidden: list[int], m: int, seed: int, momentum: float
) -> None:
    rng = np.random.default_rng(seed)
    sizes = (6, *hidden, 4)
    params = init_params(sizes, "kaiming", 0.01, seed)
    X = rng.normal(size=(m, 6)).astype(np.float32)
    y = rng.integers(0, 4, m)
    a, b = NumpyMLP(sizes, params, momentum), TorchMLP(sizes, params, momentum, "cpu")
    da, db = a.prepare(X, y), b.prepare(X, y)
    idx = np.arange(m)
    for _ in range(3):  # three steps, so momentum matters
        la, ca = a.train_step(da, idx, 0.05)
        lb, cb = b.train_step(db, idx, 0.05)
        assert la == pytest.approx(float(lb), rel=1e-4, abs=1e-5)
        assert ca == int(cb)
    for key, value in a.state().items():
        np.testing.assert_allclose(value, b.state()[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_uint8_batches_by_index_match_autograd_across_the_rotating_buffers() -> None:
    # pixels gathered by a shuffled index, cast into buffers used in turn and scaled by
    # 1/255 inside the products: six steps, so every input buffer is reused
    rng = np.random.default_rng(3)
    sizes = (12, 7, 3)
    X = rng.integers(0, 256, (50, 12), dtype=np.uint8)
    y = rng.integers(0, 3, 50)
    params = init_params(sizes, "kaiming", 0.01, 3)
    a, b = NumpyMLP(sizes, params, 0.9), TorchMLP(sizes, params, 0.9, "cpu")
    da, db = a.prepare(X, y), b.prepare(X, y)
    order = rng.permutation(50)
    for step in range(6):
        idx = order[(step * 8) % 48 : (step * 8) % 48 + 8]
        la, ca = a.train_step(da, idx, 0.1)
        lb, cb = b.train_step(db, idx, 0.1)
        assert la == pytest.approx(float(lb), rel=1e-4)
        assert ca == int(cb)
    for key, value in a.state().items():
        np.testing.assert_allclose(value, b.state()[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_rows_read_negative_indices_as_numpy_does_and_a_bad_index_is_refused() -> None:
    X = np.arange(4 * 3, dtype=np.uint8).reshape(4, 3)
    net = NumpyMLP((3, 2), init_params((3, 2), "normal", 0.01, 0))
    np.testing.assert_array_equal(net.rows(X, np.array([-1, 0])), X[[-1, 0]].astype(np.float32))
    data = net.prepare(X, np.array([0, 1, 0, 1]))
    with pytest.raises(IndexError):
        net.train_step(data, np.array([0, 4]), 0.1)


def test_numpy_and_torch_engines_train_to_the_same_history() -> None:
    X, y = blobs()
    runs = [
        MLPClassifier(hidden=(8,), epochs=3, batch_size=32, engine=e).fit(X, y, eval_set=(X, y))
        for e in ("numpy", "torch")
    ]
    np.testing.assert_allclose(
        runs[0].history_["train_loss"], runs[1].history_["train_loss"], rtol=1e-4
    )


def test_history_has_the_three_curves_per_epoch() -> None:
    X, y = blobs()
    m = SoftmaxRegression(epochs=4, batch_size=50).fit(X, y, eval_set=(X[:100], y[:100]))
    assert m.history_["epoch"] == [1.0, 2.0, 3.0, 4.0]
    for key in ("train_loss", "train_accuracy", "test_accuracy", "seconds"):
        assert len(m.history_[key]) == 4
    assert m.history_["train_loss"][-1] < m.history_["train_loss"][0]
    assert m.score(X, y) > 0.9


def test_without_eval_set_the_test_columns_are_nan() -> None:
    X, y = blobs(100)
    m = SoftmaxRegression(epochs=1).fit(X, y)
    assert np.isnan(m.history_["test_accuracy"][0])


def test_mlp_learns_the_digits() -> None:
    from gradlab.data.images import load_images

    d = load_images("digits")
    m = MLPClassifier(epochs=20, batch_size=32, lr=0.05).fit(
        d.X_train, d.y_train, eval_set=(d.X_test, d.y_test)
    )
    assert m.history_["test_accuracy"][-1] >= 0.95


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_resumed_training_equals_uninterrupted_training(
    tmp_path: Path, engine: str, momentum: float
) -> None:
    X, y = blobs()
    ck = tmp_path / "m.safetensors"
    kw: dict[str, Any] = {"hidden": (8,), "batch_size": 32, "engine": engine, "momentum": momentum}
    straight = MLPClassifier(epochs=4, **kw).fit(X, y)
    MLPClassifier(epochs=2, **kw).fit(X, y, checkpoint=ck)
    resumed = MLPClassifier(epochs=4, **kw)
    resumed.fit(X, y, checkpoint=ck, resume=True)
    assert resumed.history_["epoch"] == [1.0, 2.0, 3.0, 4.0]
    for key, value in straight.params_.items():
        np.testing.assert_allclose(resumed.params_[key], value, rtol=1e-6, atol=1e-7)


def test_resuming_on_other_classes_is_refused(tmp_path: Path) -> None:
    X, y = blobs()
    ck = tmp_path / "m.safetensors"
    SoftmaxRegression(epochs=1).fit(X, y, classes=["a", "b", "c"], checkpoint=ck)
    with pytest.raises(DataError, match=r"trained on the classes a, b, c, not x, y, z"):
        SoftmaxRegression(epochs=2).fit(X, y, classes=["x", "y", "z"], checkpoint=ck, resume=True)


def test_checkpoint_metadata_reads_without_the_arrays(tmp_path: Path) -> None:
    from gradlab import checkpoint

    X, y = blobs()
    ck = tmp_path / "m.safetensors"
    SoftmaxRegression(epochs=2).fit(X, y, classes=["a", "b", "c"], checkpoint=ck)
    meta = checkpoint.load_meta(ck)
    assert meta == checkpoint.load(ck)[1]
    assert meta["history"]["epoch"] == [1.0, 2.0]


class StopInEpoch(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_end(self, epoch: int, batch: int, stats: Any) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_an_interrupted_run_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    X, y = blobs()
    ck = tmp_path / "m.safetensors"
    with pytest.raises(KeyboardInterrupt):
        MLPClassifier(hidden=(8,), epochs=5).fit(X, y, checkpoint=ck, callbacks=[StopInEpoch(3)])
    model = MLPClassifier.load(ck)
    assert model.history_["epoch"] == [1.0, 2.0]
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp files left


def test_saved_model_predicts_like_the_original(tmp_path: Path) -> None:
    X, y = blobs()
    m = SoftmaxRegression(epochs=2).fit(X, y, classes=["a", "b", "c"])
    loaded = MLPClassifier.load(m.save(tmp_path / "s.safetensors"))
    assert isinstance(loaded, SoftmaxRegression)
    assert loaded.classes_ == ("a", "b", "c")
    np.testing.assert_array_equal(loaded.predict(X), m.predict(X))


def test_missing_checkpoint_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.safetensors: no such checkpoint file"):
        checkpoint.load(tmp_path / "nope.safetensors")


def test_garbage_checkpoint_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match="not a readable safetensors file"):
        checkpoint.load(p)


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    p = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, str(p))
    with pytest.raises(DataError, match="a safetensors file, but not a gradlab checkpoint"):
        checkpoint.load(p)


def test_resuming_with_other_layer_sizes_is_refused(tmp_path: Path) -> None:
    X, y = blobs()
    ck = tmp_path / "m.safetensors"
    MLPClassifier(hidden=(8,), epochs=1).fit(X, y, checkpoint=ck)
    with pytest.raises(DataError, match=r"the checkpoint is for layers \(16, 8, 3\)"):
        MLPClassifier(hidden=(9,), epochs=2).fit(X, y, checkpoint=ck, resume=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"hidden": (0,)}, r"hidden must be positive layer widths, got \(0,\)"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
        ({"engine": "jax"}, "unknown engine 'jax'; choose one of: auto, numpy, torch"),
        ({"init": "xavier"}, "unknown init 'xavier'; choose one of: kaiming, normal"),
        (
            {"engine": "numpy", "device": "cuda"},
            r"the numpy engine \(engine='numpy', --engine numpy or --scratch\) runs on the CPU "
            r"only; for CUDA use the torch engine \(engine='torch', --engine torch\)",
        ),
    ],
)
def test_bad_hyperparameters_are_named(kwargs: dict[str, Any], message: str) -> None:
    X, y = blobs(20)
    with pytest.raises(UsageError, match=message):
        MLPClassifier(**kwargs).fit(X, y)


def test_label_outside_the_classes_is_named() -> None:
    X, y = blobs(20)
    y[5] = 7
    with pytest.raises(DataError, match=r"y\[5\] is 7, but labels must be in 0..2"):
        MLPClassifier().fit(X, y, classes=["a", "b", "c"])


def test_image_and_label_counts_must_match() -> None:
    X, y = blobs(20)
    with pytest.raises(DataError, match="there are 20 images but 19 labels"):
        MLPClassifier().fit(X, y[:19])


def test_non_finite_pixels_are_refused() -> None:
    X, y = blobs(20)
    X[3, 3] = np.nan
    with pytest.raises(DataError, match="X contains NaN or infinite values"):
        MLPClassifier().fit(X, y)


def test_divergence_is_reported() -> None:
    from gradlab.errors import DivergenceError

    X, y = blobs(200)
    match = "descent diverged at epoch 2: the loss exploded to"
    with pytest.raises(DivergenceError, match=match):
        MLPClassifier(hidden=(32,), lr=100, momentum=0.0, epochs=3).fit(X * 100, y)


def test_terminal_progress_prints_a_line_per_epoch() -> None:
    X, y = blobs()
    out = io.StringIO()
    SoftmaxRegression(epochs=2).fit(X, y, eval_set=(X, y), callbacks=[TerminalProgress(out)])
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("training on 300 samples, testing on 300")
    assert lines[1].startswith("epoch 1/2  train loss")
    assert "test acc" in lines[2]
    assert "\r" not in out.getvalue()  # no bar when the stream is not a terminal


def test_terminal_progress_draws_a_bar_when_asked() -> None:
    X, y = blobs()
    out = io.StringIO()
    SoftmaxRegression(epochs=1).fit(X, y, callbacks=[TerminalProgress(out, bar=True, every=0)])
    assert "[########################] 2/2" in out.getvalue()
