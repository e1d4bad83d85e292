"""Compiled steps (numba): the same numbers as the reference rules, to the bit, and a
fallback to the rules wherever there is no compiled step.

Equality is exact, not within a tolerance: the kernel does each operation of the
reference's formula on the same two operands in the same precision, in the same order,
and IEEE 754 rounds each of +, -, *, / and sqrt correctly, so every intermediate value is
the same number. A reordered or fused (multiply-add) operation would change last bits, and
these tests would see it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab.engines.numpy_mlp import NumpyMLP
from gradlab.models._init import init_params
from gradlab.optim import compiled
from gradlab.optim.rules import SGD, Adam, AdamW, RMSprop

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed (gradlab[fast])")


def _run(rule: Any, step: Any, p0: np.ndarray, grads: list[np.ndarray], lrs: list[float]) -> Any:
    params = [p0.copy()]
    state = rule.init(params)
    with np.errstate(all="ignore"):  # eps = 0 and g = 0 give 0/0 = NaN, in both
        for g, lr in zip(grads, lrs, strict=True):
            step(params, [g], state, lr)
    return params[0], state


def _same(a: tuple[np.ndarray, Any], b: tuple[np.ndarray, Any]) -> None:
    (pa, sa), (pb, sb) = a, b
    assert sa.step == sb.step
    assert pa.dtype == pb.dtype
    np.testing.assert_array_equal(pa, pb)
    assert sa.slots.keys() == sb.slots.keys()
    for name in sa.slots:
        np.testing.assert_array_equal(sa.slots[name][0], sb.slots[name][0], err_msg=name)


@needs_numba
@settings(max_examples=40, deadline=None)
@given(
    decoupled=st.booleans(),
    amsgrad=st.booleans(),
    b1=st.floats(0.0, 0.99),
    b2=st.floats(0.0, 0.9999),
    eps=st.sampled_from([0.0, 1e-8, 1e-3]),
    weight_decay=st.sampled_from([0.0, 1e-4, 0.3]),
    dtype=st.sampled_from([np.float32, np.float64]),
    size=st.integers(1, 300),
    steps=st.integers(1, 12),
    lr=st.floats(1e-5, 0.5),
    seed=st.integers(0, 2**16),
)
def test_compiled_adam_equals_the_reference_rule_to_the_bit(
    decoupled: bool,
    amsgrad: bool,
    b1: float,
    b2: float,
    eps: float,
    weight_decay: float,
    dtype: Any,
    size: int,
    steps: int,
    lr: float,
    seed: int,
) -> None:
    cls = AdamW if decoupled else Adam
    rule = cls(betas=(b1, b2), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
    step = compiled.compiled_step(rule)
    assert step is not None
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(size).astype(dtype)
    # gradients of mixed scales, with exact zeros (pixels that are always 0 give them)
    grads = [
        (
            rng.standard_normal(size) * 10.0 ** rng.integers(-6, 3, size) * (rng.random(size) > 0.2)
        ).astype(dtype)
        for _ in range(steps)
    ]
    lrs = [lr * (1 + k % 3) for k in range(steps)]  # a rate that changes, as a schedule's
    _same(_run(rule, rule.step, p0, grads, lrs), _run(rule, step, p0, grads, lrs))


@needs_numba
def test_compiled_and_reference_steps_can_take_turns_on_one_state() -> None:
    rule = Adam(amsgrad=True, weight_decay=0.01)
    fast = compiled.compiled_step(rule)
    assert fast is not None
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(1000).astype(np.float32)
    grads = [rng.standard_normal(1000).astype(np.float32) for _ in range(6)]
    lrs = [1e-2] * 6
    turns = iter([rule.step, fast] * 3)
    mixed = _run(rule, lambda *a: next(turns)(*a), p0, grads, lrs)
    _same(_run(rule, rule.step, p0, grads, lrs), mixed)


@needs_numba
def test_nan_and_inf_gradients_flow_as_in_the_reference() -> None:
    rule = Adam(amsgrad=True)
    step = compiled.compiled_step(rule)
    g = np.array([np.nan, np.inf, -np.inf, 0.0, 1e30, -1e-30], np.float32)
    p0 = np.ones(6, np.float32)
    _same(
        _run(rule, rule.step, p0, [g, g[::-1].copy()], [0.1, 0.1]),
        _run(rule, step, p0, [g, g[::-1].copy()], [0.1, 0.1]),
    )


@needs_numba
def test_arrays_the_kernel_does_not_take_go_to_the_reference_step() -> None:
    rule = Adam()
    step = compiled.compiled_step(rule)
    assert step is not None
    rng = np.random.default_rng(0)
    base = rng.standard_normal((6, 8)).astype(np.float32)
    g = rng.standard_normal((6, 8)).astype(np.float32)
    a, b = [base.copy()[:, ::2]], [base.copy()[:, ::2]]  # strided views
    sa, sb = rule.init(a), rule.init(b)
    rule.step(a, [g[:, ::2]], sa, 0.1)
    step(b, [g[:, ::2]], sb, 0.1)
    np.testing.assert_array_equal(a[0], b[0])
    assert sb.step == 1
    half = [np.ones(4, np.float16)]  # a dtype the kernel has no loop for
    sh = rule.init(half)
    step(half, [np.ones(4, np.float16)], sh, 0.1)
    assert half[0].dtype == np.float16
    assert sh.step == 1
    assert np.all(half[0] < 1)


def test_rules_without_a_compiled_step_get_none() -> None:
    for rule in (SGD(), SGD(momentum=0.9), RMSprop()):
        assert compiled.compiled_step(rule) is None


def test_gradlab_numba_0_turns_compiled_steps_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compiled.ENV, "0")
    assert not compiled.available()
    assert compiled.compiled_step(Adam()) is None


def test_without_numba_there_is_no_compiled_step(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.delenv(compiled.ENV, raising=False)
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "numba" else real(name, *a)
    )
    assert not compiled.available()
    assert compiled.compiled_step(AdamW()) is None


def test_available_matches_whether_numba_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(compiled.ENV, raising=False)
    assert compiled.available() is HAVE_NUMBA


SIZES = (20, 16, 12, 5)


def _engine(rule: Any, use: bool) -> NumpyMLP:
    return NumpyMLP(SIZES, init_params(SIZES, "kaiming", 0.01, 0), rule=rule, compiled=use)


@pytest.mark.parametrize("rule", [Adam(), AdamW(amsgrad=True)], ids=["adam", "adamw-amsgrad"])
def test_engine_with_and_without_the_compiled_step_trains_the_same_weights(rule: Any) -> None:
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (120, 20)).astype(np.uint8)
    y = rng.integers(0, 5, 120)
    nets = [_engine(rule, True), _engine(rule, False)]
    assert nets[0].compiled is (HAVE_NUMBA and compiled.available())
    assert nets[1].compiled is False
    for net in nets:
        data = net.prepare(X, y)
        for k in range(8):
            net.train_step(data, np.arange(k * 15, k * 15 + 15), 1e-2)
    np.testing.assert_array_equal(nets[0].flat, nets[1].flat)
    for name, arr in nets[0].optimizer_state().arrays.items():
        np.testing.assert_array_equal(arr, nets[1].optimizer_state().arrays[name], err_msg=name)


def test_engine_keeps_sgd_on_the_rule_step() -> None:
    assert _engine(SGD(lr=1.0, momentum=0.9), True).compiled is False


def test_a_numba_that_cannot_be_imported_warns_and_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.delenv(compiled.ENV, raising=False)
    monkeypatch.setattr(compiled, "available", lambda: True)
    # None in sys.modules makes the import raise ImportError, as a broken numba does
    monkeypatch.setitem(sys.modules, "gradlab.optim._numba_adam", None)
    with pytest.warns(RuntimeWarning, match=r"numba is installed but cannot be imported"):
        assert compiled.compiled_step(Adam()) is None
    with pytest.warns(RuntimeWarning, match=r"GRADLAB_NUMBA=0 to silence this"):
        net = _engine(Adam(), True)
    assert net.compiled is False
