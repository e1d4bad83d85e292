"""Classifiers: backpropagation against a plain reference and autograd, the loop, labels."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from float_bounds import U32, assert_step_within_bounds, logits, step_error_bounds
from gradlab.engines import numpy_mlp
from gradlab.engines.numpy_mlp import NumpyMLP, reference_gradients, reference_step
from gradlab.engines.optstate import SavedOptimizer
from gradlab.errors import CompiledStepWarning, DataError, DivergenceError, UsageError
from gradlab.models import MLPClassifier, SoftmaxRegression, load_classifier
from gradlab.models._init import init_params
from gradlab.optim import compiled
from gradlab.optim.rules import SGD
from gradlab.viz.monitor import TerminalProgress

U64 = 2.0**-53


def blobs(n: int = 300, d: int = 16, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, size=(k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


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
    # a velocity from earlier steps, in the engine's units (lr * v) and in torch's (v)
    vel_steps = {
        f"v{k}": (rng.normal(0, 1e-2, v.shape)).astype(np.float32) for k, v in params.items()
    }
    net = NumpyMLP(sizes, params, momentum, vel_steps if momentum else None)
    scale = net.input_scale(X)
    data = net.prepare(X, y)
    loss_sum, correct = net.train_step(data, np.arange(m), lr)

    X64 = X.astype(np.float64) * scale
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    v64 = {k: v.astype(np.float64) / lr for k, v in vel_steps.items()} if momentum else None
    loss, new, _ = reference_step(p64, v64, X64, y, lr, momentum)

    bounds, loss_bound, ambiguous = step_error_bounds(params, X, y, lr=lr, scale=scale)
    got = net.state()
    for name, ref in new.items():
        # the step's error, the velocity update's roundings and the final subtraction's
        old_v = momentum * np.abs(vel_steps[f"v{name}"]) if momentum else 0.0
        tol = bounds[name] + U32 * (old_v + np.abs(ref - p64[name]) + np.abs(ref))
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


def test_numpy_and_torch_engines_train_to_the_same_history() -> None:
    pytest.importorskip("torch")
    X, y = blobs()
    runs = [
        MLPClassifier(hidden=(8,), epochs=3, batch_size=32, engine=e, cpu_threads=1).fit(
            X, y, eval_set=(X, y)
        )
        for e in ("numpy", "torch")
    ]
    # float32 on both, different summation orders: a few ulps per step, over 30 steps
    np.testing.assert_allclose(
        runs[0].history_["train_loss"], runs[1].history_["train_loss"], rtol=1e-4
    )


@pytest.mark.parametrize(
    ("l2_bytes", "n_buffers"), [(None, 4), (2**30, 1)], ids=["four-in-turn", "one-in-place"]
)
def test_uint8_batches_by_index_across_the_rotating_buffers_match_the_reference(
    monkeypatch: pytest.MonkeyPatch, l2_bytes: int | None, n_buffers: int
) -> None:
    # pixels gathered by a shuffled index, cast into buffers used in turn (or one
    # rewritten in place, where the L2 cache holds it) and scaled by 1/255 inside the
    # products: six steps, so every input buffer is reused
    monkeypatch.setattr(numpy_mlp, "this_machines_l2", lambda: l2_bytes)
    rng = np.random.default_rng(3)
    sizes = (12, 7, 3)
    X = rng.integers(0, 256, (50, 12), dtype=np.uint8)
    y = rng.integers(0, 3, 50)
    params = init_params(sizes, "kaiming", 0.01, 3)
    net = NumpyMLP(sizes, params)
    data = net.prepare(X, y)
    order = rng.permutation(50)
    assert len({id(net.rows(X, order[:8])) for _ in range(n_buffers + 1)}) == n_buffers
    for step in range(6):
        idx = order[(step * 8) % 48 : (step * 8) % 48 + 8]
        before = net.state()
        net.train_step(data, idx, 0.1)
        _, expected, _ = reference_step(
            {k: v.astype(np.float64) for k, v in before.items()},
            None,
            X[idx].astype(np.float64) / 255,
            y[idx],
            0.1,
        )
        bounds, _, _ = step_error_bounds(before, X[idx], y[idx], lr=0.1, scale=1 / 255)
        for name, ref in expected.items():
            tol = bounds[name] + U32 * (np.abs(ref - before[name]) + np.abs(ref))
            assert np.all(np.abs(net.state()[name] - ref) <= tol * 1.001), (step, name)


needs_numba = pytest.mark.skipif(
    not compiled.available(), reason="numba is not installed (gradlab[fast])"
)


@needs_numba
@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 40),
    d=st.integers(1, 30),
    classes=st.integers(2, 13),
    seed=st.integers(0, 1000),
    uint8=st.booleans(),
)
def test_fused_softmax_step_equals_the_reference_step_within_float32_rounding(
    m: int, d: int, classes: int, seed: int, uint8: bool
) -> None:
    """Softmax regression's compiled gradient, at every remainder of its blocks (two rows
    by five classes for the logits, eight rows for the weight gradient)."""
    rng = np.random.default_rng(seed)
    sizes = (d, classes)
    params = init_params(sizes, "kaiming", 0.01, seed)
    params["b1"] = rng.normal(0, 0.1, classes).astype(np.float32)
    if uint8:
        X = rng.integers(0, 256, (m, d), dtype=np.uint8)
    else:
        X = rng.normal(size=(m, d)).astype(np.float32)
    y = rng.integers(0, classes, m)
    net = NumpyMLP(sizes, params)
    assert net._fused is not None
    loss_sum, correct = net.train_step(net.prepare(X, y), np.arange(m), 0.05)
    _, X64 = assert_step_within_bounds(net, params, X, y, 0.05, loss_sum, correct)
    got = net.state()
    z = net.logits(X)  # the compiled forward pass alone, with the weights after the step
    after = {k: v.astype(np.float64) for k, v in got.items()}
    z_ref = logits(after, X64)
    # float32 roundings: d in the sum of products, two in the scaling (1/255 itself is
    # rounded to float32, then the product), one in adding the bias
    z_tol = (d + 3) * U32 * (np.abs(X64) @ np.abs(after["W1"]) + np.abs(after["b1"]))
    assert np.all(np.abs(z - z_ref) <= z_tol * 1.001)  # 1.001: the second-order terms


@needs_numba
def test_fused_softmax_keeps_optimizer_slots_under_the_right_names() -> None:
    """The fused engine stores W1 transposed; its momentum buffers must still be read and
    written as (d, classes) under their names: a step from loaded buffers lands where the
    NumPy passes' step lands."""
    rng = np.random.default_rng(0)
    sizes = (12, 7)
    params = init_params(sizes, "kaiming", 0.01, 0)
    X = rng.normal(size=(16, 12)).astype(np.float32)
    y = rng.integers(0, 7, 16)
    buffers = {
        f"momentum_buffer/{k}": rng.normal(size=v.shape).astype(np.float32)
        for k, v in params.items()
    }
    saved = SavedOptimizer(SGD(lr=0.1, momentum=0.9).config(), 1, buffers, "gradient")
    nets = {}
    for fused in (True, False):
        net = NumpyMLP(sizes, params, rule=SGD(lr=0.1, momentum=0.9), fused=fused)
        assert (net._fused is not None) is fused
        net.load_optimizer_state(saved)
        for key, arr in net.optimizer_state().arrays.items():
            np.testing.assert_array_equal(arr, buffers[key])
        net.train_step(net.prepare(X, y), np.arange(16), 0.1)
        nets[fused] = net
    bounds, _, _ = step_error_bounds(params, X, y, lr=0.1 * 2)  # both steps' errors
    for name, value in nets[True].state().items():
        assert value.flags.c_contiguous
        err = np.abs(value - nets[False].state()[name])
        # a buffer read under the wrong name would move the weights by about 0.09
        assert np.all(err <= bounds[name] + 4 * U32 * np.abs(value)), name


@needs_numba
def test_a_fused_kernel_that_cannot_compile_warns_and_the_numpy_passes_take_over() -> None:
    rng = np.random.default_rng(0)
    sizes = (9, 4)
    params = init_params(sizes, "kaiming", 0.01, 0)
    X = rng.normal(size=(10, 9)).astype(np.float32)
    y = rng.integers(0, 4, 10)
    net = NumpyMLP(sizes, params)

    def broken(*args: Any) -> None:
        raise TypeError("no matching definition")  # what a numba typing error looks like

    net._fused = broken
    with pytest.warns(CompiledStepWarning, match=r"softmax regression's compiled step cannot"):
        net.train_step(net.prepare(X, y), np.arange(10), 0.05)
    assert net._fused is None
    assert net._fused_logits is None
    _, new, _ = reference_step(
        {k: v.astype(np.float64) for k, v in params.items()}, None, X.astype(np.float64), y, 0.05
    )
    bounds, _, _ = step_error_bounds(params, X, y, lr=0.05)
    for name, ref in new.items():  # the step was taken, by NumPy, on the transposed weights
        tol = bounds[name] + U32 * (np.abs(ref - params[name]) + np.abs(ref))
        assert np.all(np.abs(net.state()[name] - ref) <= tol * 1.001), name


@needs_numba
@pytest.mark.parametrize("bad", [3, -1, 10**8])
def test_the_fused_step_refuses_a_label_that_is_not_a_class(bad: int) -> None:
    """The kernel runs without bounds checks; a label past the classes must raise, as
    NumPy's indexing does, not read or write out of bounds."""
    params = init_params((4, 3), "kaiming", 0.01, 0)
    net = NumpyMLP((4, 3), params)
    X = np.ones((5, 4), np.float32)
    with pytest.raises(IndexError, match="a label is not a class number"):
        net.step(X, np.array([0, 1, bad, 0, 1]), 0.1)
    for name, value in net.state().items():  # no step was taken
        np.testing.assert_array_equal(value, params[name])


def test_the_fused_softmax_step_is_off_without_compiled_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = init_params((4, 3), "kaiming", 0.01, 0)
    assert NumpyMLP((4, 3), params, fused=False)._fused is None
    assert NumpyMLP((4, 3), params, compiled=False)._fused is None
    assert NumpyMLP((4, 5, 3), init_params((4, 5, 3), "kaiming", 0.01, 0))._fused is None
    monkeypatch.setenv(compiled.ENV, "0")
    assert NumpyMLP((4, 3), params)._fused is None


def test_rows_read_negative_indices_as_numpy_does_and_a_bad_index_is_refused() -> None:
    X = np.arange(4 * 3, dtype=np.uint8).reshape(4, 3)
    net = NumpyMLP((3, 2), init_params((3, 2), "normal", 0.01, 0))
    np.testing.assert_array_equal(net.rows(X, np.array([-1, 0])), X[[-1, 0]].astype(np.float32))
    data = net.prepare(X, np.array([0, 1, 0, 1]))
    with pytest.raises(IndexError):
        net.train_step(data, np.array([0, 4]), 0.1)


# ------------------------------------------------------------------ the loop


def test_history_has_the_three_curves_per_epoch() -> None:
    X, y = blobs()
    m = SoftmaxRegression(epochs=4, batch_size=50).fit(X, y, eval_set=(X[:100], y[:100]))
    assert m.history_["epoch"] == [1.0, 2.0, 3.0, 4.0]
    for key in ("train_loss", "train_accuracy", "test_accuracy", "seconds"):
        assert len(m.history_[key]) == 4
    assert m.history_["train_loss"][-1] < m.history_["train_loss"][0]
    assert m.score(X, y) > 0.9
    assert m.n_iter_ == 4


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


def test_divergence_is_reported() -> None:
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


def test_fixed_threads_repeat_a_run_bit_for_bit() -> None:
    X, y = blobs()
    a, b = (MLPClassifier(hidden=(8,), epochs=2, cpu_threads=1).fit(X, y) for _ in range(2))
    for name in a.params_:
        assert np.array_equal(a.params_[name], b.params_[name])


# ------------------------------------------------------------------ labels as given


@pytest.mark.parametrize(
    "labels",
    [
        np.arange(1, 4),  # 1..3: three classes, not four
        np.array([-1, 1, 5]),
        np.array(["cat", "dog", "emu"]),
        np.array(["cat", "dog", "emu"], dtype=object),
        np.array([10.0, 20.0, 30.0]),
    ],
)
def test_labels_of_any_values_come_back_from_predict(labels: np.ndarray) -> None:
    X, k = blobs()
    y = labels[k]
    m = SoftmaxRegression(epochs=5, batch_size=32).fit(X, y)
    np.testing.assert_array_equal(m.classes_, np.sort(labels))
    assert m.sizes_ == (16, 3)
    pred = m.predict(X)
    assert set(pred) <= set(labels)
    assert m.score(X, y) > 0.9
    proba = m.predict_proba(X)
    assert proba.shape == (300, 3)
    np.testing.assert_array_equal(m.classes_[proba.argmax(axis=1)], pred)


def test_boolean_labels_give_a_binary_model_with_a_one_column_decision() -> None:
    X, k = blobs(k=2)
    y = k.astype(bool)
    m = SoftmaxRegression(epochs=5, batch_size=32).fit(X, y)
    np.testing.assert_array_equal(m.classes_, [False, True])
    assert m.predict(X).dtype == bool
    d = m.decision_function(X)
    assert d.shape == (300,)
    np.testing.assert_array_equal(m.predict(X), d > 0)


def test_class_names_are_separate_from_the_labels(tmp_path: Path) -> None:
    X, y = blobs()
    m = SoftmaxRegression(epochs=2).fit(X, y, class_names=["T-shirt/top", "Trouser", "Bag"])
    np.testing.assert_array_equal(m.classes_, [0, 1, 2])
    assert m.class_names_ == ("T-shirt/top", "Trouser", "Bag")
    back = SoftmaxRegression.load(m.save(tmp_path / "m.safetensors"))
    assert back.class_names_ == m.class_names_
    np.testing.assert_array_equal(back.classes_, m.classes_)


def test_classes_may_name_labels_absent_from_y() -> None:
    X, y = blobs()
    m = SoftmaxRegression(epochs=1).fit(X, y, classes=[0, 1, 2, 3])
    assert m.sizes_ == (16, 4)
    with pytest.raises(DataError, match=r"y\[\d+\] is 2, which is not one of the 2 classes: 0, 1"):
        SoftmaxRegression(epochs=1).fit(X, y, classes=[0, 1])


def test_class_names_of_the_wrong_length_are_named() -> None:
    X, y = blobs()
    with pytest.raises(DataError, match="class_names has 2 names but there are 3 classes"):
        SoftmaxRegression(epochs=1).fit(X, y, classes=[0, 1, 2], class_names=["a", "b"])


def test_a_class_name_given_twice_is_refused() -> None:
    X, y = blobs()
    with pytest.raises(DataError) as err:
        SoftmaxRegression(epochs=1).fit(X, y, classes=[0, 1, 2], class_names=["a", "b", "a"])
    assert err.value.message == (
        "class_names gives 'a' to two classes (labels 0 and 2); give each class its own name."
    )


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.linspace(0, 1, 300), r"Unknown label type: continuous. y\[1\] is 0.00334"),
        (np.array([0, "a"] * 150, dtype=object), "Unknown label type: y mixes values of types"),
        (np.full(300, np.nan), r"Input y contains NaN \(y\[0\] is nan\)"),
        (np.arange(300) + 0j, "Complex data not supported: y has dtype complex128"),
    ],
)
def test_labels_that_are_no_classes_are_named(y: np.ndarray, message: str) -> None:
    X, _ = blobs()
    with pytest.raises(DataError, match=message):
        SoftmaxRegression(epochs=1).fit(X, y)


def test_a_label_outside_the_classes_in_the_test_set_is_named() -> None:
    X, y = blobs(20)
    yt = y.copy()
    yt[5] = 7
    with pytest.raises(DataError, match=r"y_test\[5\] is 7, which is not one of the 3 classes"):
        MLPClassifier(hidden=(2,), epochs=1).fit(X, y, eval_set=(X, yt))


def test_image_and_label_counts_must_match() -> None:
    X, y = blobs(20)
    with pytest.raises(DataError, match="X has 20 samples but y has 19 labels; they must match"):
        MLPClassifier().fit(X, y[:19])


def test_non_finite_inputs_are_refused() -> None:
    X, y = blobs(20)
    X[3, 3] = np.nan
    with pytest.raises(DataError, match=r"X contains NaN or infinite values \(X row 3: nan\)"):
        MLPClassifier().fit(X, y)
    missing = X.astype(object)
    missing[3, 3] = None  # a missing value is named as given, not as the NaN it becomes
    with pytest.raises(DataError, match=r"X contains NaN or infinite values \(X row 3: None\)"):
        MLPClassifier().fit(missing, y)


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1}, "MLPClassifier: lr must be a number > 0 or 'auto'; got -1."),
        ({"lr": "0.1"}, "MLPClassifier: lr must be a number > 0 or 'auto'; got '0.1'."),
        (
            {"hidden": (0,)},
            "MLPClassifier: hidden must be a sequence of layer widths, each an integer from 1 "
            "to 100,000; got (0,).",
        ),
        (
            {"hidden": (10, 10**20)},
            "MLPClassifier: hidden must be a sequence of layer widths, each an integer from 1 "
            "to 100,000; got (10, 100000000000000000000).",
        ),
        ({"momentum": 1.0}, "MLPClassifier: momentum must be a number in [0, 1); got 1.0."),
        ({"init_std": 0.0}, "MLPClassifier: init_std must be a number > 0; got 0.0."),
        ({"epochs": 2.5}, "MLPClassifier: epochs must be an integer in [1, 1000000]; got 2.5."),
        (
            {"epochs": 10**7},
            "MLPClassifier: epochs must be an integer in [1, 1000000]; got 10000000.",
        ),
        (
            {"engine": "jax"},
            "MLPClassifier: engine must be one of 'auto', 'numpy', 'torch'; got 'jax'.",
        ),
        (
            {"init": "xavier"},
            "MLPClassifier: init must be one of 'kaiming', 'normal'; got 'xavier'.",
        ),
        (
            {"engine": "numpy", "device": "cuda"},
            "the numpy engine (engine='numpy', --engine numpy or --scratch) runs on the CPU "
            "only; for CUDA use the torch engine (engine='torch', --engine torch).",
        ),
    ],
)
def test_bad_hyperparameters_are_named(kwargs: dict[str, Any], message: str) -> None:
    X, y = blobs(20)
    with pytest.raises(UsageError, match=re.escape(message)):
        MLPClassifier(**kwargs).fit(X, y)


def test_softmax_regression_names_itself_in_messages() -> None:
    X, y = blobs(20)
    with pytest.raises(UsageError, match=re.escape("SoftmaxRegression: batch_size must be")):
        SoftmaxRegression(batch_size=0).fit(X, y)


def test_defaults_come_from_one_table() -> None:
    import inspect

    from gradlab.models._spec import DEFAULTS

    for cls, kind in ((MLPClassifier, "mlp"), (SoftmaxRegression, "softmax")):
        sig = inspect.signature(cls)
        assert {n: p.default for n, p in sig.parameters.items()} == dict(DEFAULTS[kind])


# ------------------------------------------------------------------ save and load


def test_load_restores_every_constructor_parameter(tmp_path: Path) -> None:
    X, y = blobs()
    m = MLPClassifier(
        hidden=(7, 5), lr=0.03, epochs=2, batch_size=64, momentum=0.5, init="normal",
        init_std=0.02, engine="numpy", device="cpu", cpu_threads=1, random_state=9,
    ).fit(X, y)  # fmt: skip
    back = MLPClassifier.load(m.save(tmp_path / "m.safetensors"))
    assert back.get_params() == m.get_params()
    assert back.seed_ == 9
    assert back.n_features_in_ == 16
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))


def test_load_of_the_other_model_is_refused_and_load_classifier_takes_either(
    tmp_path: Path,
) -> None:
    X, y = blobs()
    path = SoftmaxRegression(epochs=1).fit(X, y).save(tmp_path / "s.safetensors")
    with pytest.raises(DataError, match="holds a SoftmaxRegression, not an MLPClassifier"):
        MLPClassifier.load(path)
    assert isinstance(load_classifier(path), SoftmaxRegression)


def test_predict_before_fit_is_a_usage_error_and_sklearns_not_fitted_error() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(UsageError, match="this SoftmaxRegression is not fitted yet"):
        SoftmaxRegression().predict(np.zeros((1, 4)))
    with pytest.raises(NotFittedError):
        SoftmaxRegression().predict_proba(np.zeros((1, 4)))


def test_an_interrupted_run_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    from gradlab.train import Callback

    class StopInEpoch(Callback):
        def on_batch_end(self, epoch: int, batch: int, stats: Any) -> None:
            if epoch == 3:
                raise KeyboardInterrupt

    X, y = blobs()
    ck = tmp_path / "m.safetensors"
    with pytest.raises(KeyboardInterrupt):
        MLPClassifier(hidden=(8,), epochs=5).fit(X, y, checkpoint=ck, callbacks=[StopInEpoch()])
    model = MLPClassifier.load(ck)
    assert model.history_["epoch"] == [1.0, 2.0]
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp files left


@pytest.mark.parametrize("model", [SoftmaxRegression, MLPClassifier])
def test_weights_made_nan_by_the_last_step_are_a_divergence(model: Any) -> None:
    """The guard reads each epoch's loss before its steps: one huge final step returned a
    model whose predict_proba was all NaN."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 3, 40)
    with pytest.raises(DivergenceError) as info:
        model(lr=1e300, epochs=1).fit(X, y)
    assert info.value.message == (
        "descent diverged at epoch 1: its last steps made the weights infinite or NaN "
        "(learning rate 1e+300 is too large for this problem)."
    )


@pytest.mark.parametrize(("optimizer", "lr"), [("sgd", 1e300), ("adam", 1e38)])
def test_a_rate_that_overflows_the_torch_engines_float32_is_named(
    optimizer: str, lr: float
) -> None:
    """torch.optim's own RuntimeError ("value cannot be converted to type float without
    overflow") escaped; the numpy engine reports such rates as a divergence."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 3, 40)
    with pytest.raises(UsageError) as info:
        SoftmaxRegression(engine="torch", optimizer=optimizer, lr=lr, epochs=1).fit(X, y)
    assert info.value.message == (
        f"a learning rate of {lr:g} overflows torch.float32 (largest 3.4e+38) in the "
        "optimizer's step; the torch engine trains in that dtype."
    )
    assert (
        info.value.hint == "Use a far smaller lr (rates above 10 rarely train), or dtype='float64'."
    )


@pytest.mark.parametrize(
    ("eval_set", "given"),
    [("list of pairs", "a list of 1"), ("one array", "a tuple of 1"), ("an array", "ndarray")],
)
def test_an_eval_set_that_is_not_one_pair_is_named(eval_set: str, given: str) -> None:
    """[(X_test, y_test)], as XGBoost and LightGBM take it, raised a raw IndexError."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 3, 40)
    value = {"list of pairs": [(X, y)], "one array": (X,), "an array": X}[eval_set]
    with pytest.raises(DataError) as info:
        SoftmaxRegression(epochs=1).fit(X, y, eval_set=value)
    assert info.value.message == (
        f"SoftmaxRegression: eval_set must be one pair (X_test, y_test); got {given}."
    )
    assert info.value.hint == "Pass eval_set=(X_test, y_test), not a list of pairs."


@pytest.mark.parametrize("hidden", ["map", "iterator", "set", "dict"])
def test_hidden_widths_must_come_in_a_sequence(hidden: str) -> None:
    """An iterator was used up by the check and built a network with no hidden layer; a
    set's order of layers was arbitrary."""
    value = {
        "map": map(int, ["64", "64"]),
        "iterator": iter([64, 64]),
        "set": {64, 32},
        "dict": {64: 1},
    }[hidden]
    rng = np.random.default_rng(0)
    with pytest.raises(UsageError, match=r"hidden must be a sequence of layer widths"):
        MLPClassifier(hidden=value, epochs=1).fit(rng.normal(size=(20, 3)), [0, 1] * 10)


def test_a_finite_value_beyond_float32_is_not_called_nan_or_infinite() -> None:
    """1e39 is finite; it overflowed in the cast to float32 and was reported as "X contains
    NaN or infinite values (X row 0: inf)"."""
    X = np.ones((4, 2))
    X[2, 1] = 1e39
    with pytest.raises(DataError) as info:
        SoftmaxRegression(epochs=1).fit(X, [0, 1, 0, 1])
    assert info.value.message == (
        "X row 2, column 1 is 1e+39, beyond float32's range (largest 3.4e+38), in which the "
        "classifiers read their input."
    )
    assert info.value.hint == "Scale X (standardise it, or divide it by a power of 10)."


@pytest.mark.parametrize(("classes", "shown"), [(3, "3"), ({0, 1, 2}, "{0, 1, 2}")])
def test_classes_that_are_not_a_sequence_of_labels_are_named(classes: Any, shown: str) -> None:
    """classes=3 raised "object of type 'int' has no len()"."""
    rng = np.random.default_rng(0)
    with pytest.raises(DataError) as info:
        SoftmaxRegression(epochs=1).fit(rng.normal(size=(6, 2)), [0, 1, 2] * 2, classes=classes)
    assert info.value.message == (
        f"classes must be a sequence of every label value (such as [0, 1, 2]); got {shown}."
    )


def test_too_few_class_names_say_that_the_classes_came_from_them() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(DataError) as info:
        SoftmaxRegression(epochs=1).fit(
            rng.normal(size=(6, 2)), [0, 1, 2] * 2, class_names=["a", "b"]
        )
    assert info.value.message == "y[2] is 2, which is not one of the 2 classes: 0, 1."
    assert info.value.hint == (
        "The classes were taken to be 0 .. 1, one per name in class_names: give a name for "
        "every class, or the labels in classes=."
    )


def test_a_list_of_two_eval_pairs_is_named_not_read_as_one_pair() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 2)), rng.integers(0, 2, 40)
    with pytest.raises(DataError) as info:
        SoftmaxRegression(epochs=1).fit(X, y, eval_set=[(X, y), (X, y)])
    assert info.value.message == (
        "SoftmaxRegression: eval_set must be one pair (X_test, y_test); got a list of 2."
    )
    # one pair whose X_test is a list of rows is still one pair
    SoftmaxRegression(epochs=1).fit(X, y, eval_set=[[[1.0, 2.0], [3.0, 4.0]], [0, 1]])


def test_an_integer_beyond_float64_is_named_by_its_entry() -> None:
    """int(10**400) raised Python's own OverflowError from the cast."""
    with pytest.raises(DataError) as info:
        SoftmaxRegression(epochs=1).fit([[1, 10**400], [2, 3], [3, 4], [4, 5]], [0, 1, 0, 1])
    assert info.value.message == (
        "X must be numbers within float64's range: X[0, 1] is an integer of 401 digits."
    )


@pytest.mark.parametrize("model", [SoftmaxRegression, MLPClassifier])
def test_the_classifiers_raise_the_one_not_fitted_error_of_every_estimator(model: Any) -> None:
    """They had a class of their own, NotFittedClassifierError, beside the linear models'
    NotFittedError: one except clause could not catch both as gradlab's."""
    from sklearn.exceptions import NotFittedError as SklearnNotFitted

    from gradlab.models.base import NotFittedError

    with pytest.raises(NotFittedError) as info:
        model().predict([[1.0]])
    assert isinstance(info.value, SklearnNotFitted)
    assert isinstance(info.value, UsageError)


@pytest.mark.parametrize(
    ("callbacks", "said"),
    [
        ("one", "callbacks must be a list of callbacks; got one EarlyStopping."),
        ([42], "callbacks[0] is int 42, not a callback."),
        ("abc", "callbacks must be a list of callbacks; got str."),
    ],
)
def test_callbacks_that_are_not_a_list_of_callbacks_are_named_before_training(
    callbacks: Any, said: str
) -> None:
    """A lone callback failed with "'EarlyStopping' object is not iterable", a number with
    "'int' object has no attribute 'on_train_begin'" after the network was built."""
    from gradlab.callbacks import EarlyStopping

    X, y = np.random.default_rng(0).random((30, 4)), np.arange(30) % 3
    given = EarlyStopping() if callbacks == "one" else callbacks
    with pytest.raises(UsageError) as caught:
        SoftmaxRegression(epochs=1).fit(X, y, callbacks=given)
    assert caught.value.message == f"SoftmaxRegression: {said}"


def test_class_names_given_as_one_string_are_refused() -> None:
    """'abc' was taken as the three names 'a', 'b', 'c'."""
    X, y = np.random.default_rng(0).random((30, 4)), np.arange(30) % 3
    with pytest.raises(UsageError, match="class_names must be a sequence of names, one per "
                       "class; got the string 'abc'"):  # fmt: skip
        SoftmaxRegression(epochs=1).fit(X, y, class_names="abc")
