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
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab.engines.numpy_mlp import NumpyMLP
from gradlab.errors import GradlabWarning
from gradlab.models._init import init_params
from gradlab.optim import compiled
from gradlab.optim.rules import SGD, Adagrad, Adam, AdamW, RMSprop

HAVE_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed (gradlab[fast])")


def _run(rule: Any, step: Any, p0: Any, grads: list[Any], lrs: list[Any]) -> Any:
    """``step`` over the gradients from ``p0``: one array, or a list of arrays (then each
    gradient is a list too); a rate of None is the rule's own."""
    many = isinstance(p0, list)
    params = [p.copy() for p in p0] if many else [p0.copy()]
    state = rule.init(params)
    with np.errstate(all="ignore"):  # eps = 0 and g = 0 give 0/0 = NaN, in both
        for g, lr in zip(grads, lrs, strict=True):
            step(params, g if many else [g], state, lr)
    return params, state


#: What every rule's equality test draws besides the rule's own hyperparameters.
PROBLEM = {
    "eps": st.sampled_from([0.0, 1e-8, 1e-3]),
    "weight_decay": st.sampled_from([0.0, 1e-4, 0.3]),
    "dtype": st.sampled_from([np.float32, np.float64]),
    "size": st.integers(1, 300),
    "steps": st.integers(1, 12),
    "lr": st.floats(1e-5, 0.5),
    "seed": st.integers(0, 2**16),
}


def _problem(
    seed: int, size: int, steps: int, lr: float, dtype: Any
) -> tuple[np.ndarray, list[np.ndarray], list[float]]:
    """Starting parameters, ``steps`` gradients of mixed scales with exact zeros (pixels
    that are always 0 give them), and a rate that changes from step to step, as a
    schedule's does."""
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(size).astype(dtype)
    scales = [10.0 ** rng.integers(-6, 3, size) * (rng.random(size) > 0.2) for _ in range(steps)]
    grads = [(rng.standard_normal(size) * scale).astype(dtype) for scale in scales]
    return p0, grads, [lr * (1 + k % 3) for k in range(steps)]


def _assert_compiled_equals_rule(rule: Any, problem: tuple[Any, ...]) -> None:
    """The rule's compiled step exists and ends ``problem`` where ``rule.step`` does."""
    step = compiled.compiled_step(rule)
    assert step is not None
    _same(_run(rule, rule.step, *problem), _run(rule, step, *problem))


def _same(a: tuple[list[np.ndarray], Any], b: tuple[list[np.ndarray], Any]) -> None:
    (pa, sa), (pb, sb) = a, b
    assert sa.step == sb.step
    assert len(pa) == len(pb)
    for x, y in zip(pa, pb, strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    assert sa.slots.keys() == sb.slots.keys()
    for name in sa.slots:
        for x, y in zip(sa.slots[name], sb.slots[name], strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)


@needs_numba
@settings(max_examples=40, deadline=None)
@given(
    decoupled=st.booleans(),
    amsgrad=st.booleans(),
    b1=st.floats(0.0, 0.99),
    b2=st.floats(0.0, 0.9999),
    **PROBLEM,
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
    _assert_compiled_equals_rule(rule, _problem(seed, size, steps, lr, dtype))


@needs_numba
@settings(max_examples=40, deadline=None)
@given(
    centered=st.booleans(),
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    alpha=st.floats(0.0, 0.999),
    **PROBLEM,
)
def test_compiled_rmsprop_equals_the_reference_rule_to_the_bit(
    centered: bool,
    momentum: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    dtype: Any,
    size: int,
    steps: int,
    lr: float,
    seed: int,
) -> None:
    rule = RMSprop(
        alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered
    )
    _assert_compiled_equals_rule(rule, _problem(seed, size, steps, lr, dtype))


@needs_numba
@settings(max_examples=15, deadline=None)
@given(
    shapes=st.lists(
        st.lists(st.integers(0, 7), min_size=0, max_size=2).map(tuple), min_size=1, max_size=4
    ),
    amsgrad=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_compiled_adam_steps_a_list_of_arrays_of_any_shape_like_the_rule(
    shapes: list[tuple[int, ...]], amsgrad: bool, dtype: Any, seed: int
) -> None:
    rule: Any = AdamW(amsgrad=amsgrad, weight_decay=0.1)
    if amsgrad:  # the flag picks the rule too, so that both kernels see lists of arrays
        rule = RMSprop(momentum=0.9, centered=True, weight_decay=0.1)
    step = compiled.compiled_step(rule)
    rng = np.random.default_rng(seed)
    p0 = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    grads = [[rng.standard_normal(shape).astype(dtype) for shape in shapes] for _ in range(3)]
    lrs = [None, 0.05, None]  # None: the rule's own rate
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
@pytest.mark.parametrize(
    "rule", [Adam(amsgrad=True), RMSprop(momentum=0.9, centered=True)], ids=["adam", "rmsprop"]
)
def test_nan_and_inf_gradients_flow_as_in_the_reference(rule: Any) -> None:
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
    for view in (lambda x: x.T, lambda x: x[:, :5], lambda x: x[:, ::2]):  # not C-contiguous
        a, b = [view(base.copy())], [view(base.copy())]
        sa, sb = rule.init(a), rule.init(b)
        rule.step(a, [view(g)], sa, 0.1)
        step(b, [view(g)], sb, 0.1)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(sa.slots["exp_avg"][0], sb.slots["exp_avg"][0])
        assert sb.step == 1
    # C-contiguous parameters whose state is not: the slots must be updated in place
    p = [base.copy()]
    state = rule.init([base.T.copy().T])  # Fortran-ordered slots
    reference = [base.copy()]
    ref_state = rule.init(reference)
    step(p, [g], state, 0.1)
    rule.step(reference, [g], ref_state, 0.1)
    np.testing.assert_array_equal(p[0], reference[0])
    np.testing.assert_array_equal(state.slots["exp_avg"][0], ref_state.slots["exp_avg"][0])
    # read-only parameters: the reference's own error
    frozen = base.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        step([frozen], [g], rule.init([base.copy()]), 0.1)
    half = [np.ones(4, np.float16)]  # a dtype the kernel has no loop for
    sh = rule.init(half)
    step(half, [np.ones(4, np.float16)], sh, 0.1)
    assert half[0].dtype == np.float16
    assert sh.step == 1
    assert np.all(half[0] < 1)


def test_rules_without_a_compiled_step_get_none() -> None:
    for rule in (SGD(), SGD(momentum=0.9), Adagrad()):
        assert compiled.compiled_step(rule) is None


def test_gradlab_numba_0_turns_compiled_steps_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compiled.ENV, "0")
    assert not compiled.available()
    assert compiled.compiled_step(Adam()) is None


def test_without_numba_there_is_no_compiled_step(
    monkeypatch: pytest.MonkeyPatch, hide_packages: Callable[..., None]
) -> None:
    monkeypatch.delenv(compiled.ENV, raising=False)
    hide_packages("numba")
    assert not compiled.available()
    assert compiled.compiled_step(AdamW()) is None


def test_available_matches_whether_numba_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(compiled.ENV, raising=False)
    assert compiled.available() is HAVE_NUMBA


SIZES = (20, 16, 12, 5)


def _engine(rule: Any, use: bool) -> NumpyMLP:
    return NumpyMLP(SIZES, init_params(SIZES, "kaiming", 0.01, 0), rule=rule, compiled=use)


@pytest.mark.parametrize(
    "rule",
    [Adam(), AdamW(amsgrad=True), RMSprop(), RMSprop(momentum=0.9, centered=True)],
    ids=["adam", "adamw-amsgrad", "rmsprop", "rmsprop-momentum-centered"],
)
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
    with pytest.warns(RuntimeWarning, match=r"compiled step cannot be used \(ModuleNotFoundError"):
        assert compiled.compiled_step(Adam()) is None
    with pytest.warns(RuntimeWarning, match=r"GRADLAB_NUMBA=0 to silence this"):
        net = _engine(Adam(), True)
    assert net.compiled is False


@needs_numba
def test_a_kernel_that_fails_to_compile_warns_once_and_leaves_the_steps_to_the_rule() -> None:
    rule = Adam()
    step = compiled.compiled_step(rule)
    assert step is not None
    calls = []

    def broken(*args: Any) -> None:
        calls.append(args)
        raise TypeError("no matching definition")  # what a numba typing error looks like

    step.kernel = broken  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(50).astype(np.float32)
    grads = [rng.standard_normal(50).astype(np.float32) for _ in range(3)]
    with pytest.warns(
        RuntimeWarning, match=r"cannot be used \(TypeError: no matching definition\)"
    ):
        got = _run(rule, step, p0, grads, [0.1] * 3)
    assert len(calls) == 1  # tried once, on empty arrays, before any state changed
    _same(_run(rule, rule.step, p0, grads, [0.1] * 3), got)


@needs_numba
def test_numba_without_a_cache_location_falls_back_with_a_warning(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    code = (
        "import warnings, numpy as np\n"
        "warnings.simplefilter('always')\n"
        "from gradlab.models import MLPClassifier\n"
        "X = np.random.default_rng(0).random((40, 6)); y = np.arange(40) % 3\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    m = MLPClassifier(hidden=(4,), optimizer='adam', epochs=2, engine='numpy')\n"
        "    m.fit(X, y)\n"
        "print(m.n_iter_)\n"
        "print('\\n'.join(str(x.message) for x in w))\n"
    )
    env = {
        **os.environ,
        "NUMBA_CACHE_LOCATOR_CLASSES": "IPythonCacheLocator",  # no locator for a .py file
        "NUMBA_CACHE_DIR": "",
        compiled.ENV: "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("2\n")
    assert "cannot be used (RuntimeError: cannot cache function 'adam_update'" in proc.stdout
    assert "runs as NumPy passes instead" in proc.stdout


# ---------------------------------------------- softmax regression's compiled gradient


@pytest.mark.parametrize(
    ("setting", "work", "expected"),
    [
        (None, compiled.KERNEL_MIN_WORK - 1, False),  # too small to repay numba's start-up
        (None, compiled.KERNEL_MIN_WORK, True),
        ("1", 1.0, True),  # GRADLAB_NUMBA=1: whatever the size
        ("0", 1e12, False),
    ],
)
def test_the_softmax_kernel_is_used_where_it_repays_its_start_up(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, work: float, expected: bool
) -> None:
    real = importlib.util.find_spec  # as if numba were installed, installed or not

    def find_spec(name: str, *args: Any) -> Any:
        return object() if name == "numba" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    if setting is None:
        monkeypatch.delenv(compiled.ENV, raising=False)
    else:
        monkeypatch.setenv(compiled.ENV, setting)
    assert compiled.worth_compiling(work) is expected


def _fused_choices(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record the ``fused`` argument of every NumpyMLP made from now on."""
    choices: list[Any] = []
    init = NumpyMLP.__init__

    def spy(self: NumpyMLP, *args: Any, **kwargs: Any) -> None:
        choices.append(kwargs.get("fused"))
        init(self, *args, **kwargs)

    monkeypatch.setattr(NumpyMLP, "__init__", spy)
    return choices


@needs_numba
def test_a_small_softmax_fit_keeps_numpy_and_gradlab_numba_1_compiles_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gradlab.models import SoftmaxRegression

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (300, 64)).astype(np.uint8)
    y = rng.integers(0, 10, 300)
    choices = _fused_choices(monkeypatch)
    monkeypatch.delenv(compiled.ENV, raising=False)
    plain = SoftmaxRegression(epochs=2, random_state=0).fit(X, y)
    monkeypatch.setenv(compiled.ENV, "1")
    fused = SoftmaxRegression(epochs=2, random_state=0).fit(X, y)
    assert choices == [False, True]
    # the same fit up to float32 rounding (differences near 1e-6 here): 1e-4 is far
    # above that, and far below what a wrong gradient does to the probabilities
    np.testing.assert_allclose(fused.predict_proba(X), plain.predict_proba(X), rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", "off"), (" Off ", "off"), ("false", "off"), ("1", "on"), ("YES", "on"), ("", "auto")],
)
def test_gradlab_numba_reads_off_on_and_unset(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv(compiled.ENV, value)
    assert compiled.setting() == expected


def test_a_gradlab_numba_value_not_understood_warns_once_and_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(compiled.ENV, "2")
    monkeypatch.setattr(compiled, "_WARNED", set())
    with pytest.warns(GradlabWarning) as caught:
        settings = [compiled.setting(), compiled.setting()]
    assert settings == ["auto", "auto"]
    assert len(caught) == 1
    assert str(caught[0].message) == (
        "GRADLAB_NUMBA='2' is not understood: set it to 0 (compiled steps off) or 1 (on for "
        "every job), or leave it unset (chosen by the job); it counts as unset."
    )


#: In a fresh interpreter with an empty numba cache: whether a small kernel of the blocks
#: is cached for this CPU before its first call, and after it; and for a plain function.
CACHED_HERE = """
from gradlab.optim import compiled
from gradlab.engines._numba_blocks import block_rows as kernel
before = compiled.cached_here(kernel)
kernel(0, 2, 10)
print(before, compiled.cached_here(kernel), compiled.cached_here(print))
"""


@needs_numba
def test_cached_here_tells_a_kernel_numba_must_compile_from_one_it_has(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "GRADLAB_NUMBA": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", CACHED_HERE], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["False", "True", "None"]


def test_a_network_says_what_its_first_step_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradlab.engines import numpy_mlp

    sizes = (6, 5, 3)
    plain = NumpyMLP(sizes, init_params(sizes, "kaiming", 0.01, 0), compiled=False)
    assert plain.compiling is None  # no kernel at all
    if not HAVE_NUMBA:
        return
    net = NumpyMLP(sizes, init_params(sizes, "kaiming", 0.01, 0), blocks=2)
    monkeypatch.setattr(numpy_mlp, "cached_here", lambda kernel: False)
    assert net.compiling == (
        "numba compiles the MLP's kernels for this CPU first (about 15 s, once: its cache "
        "keeps them)"
    )
    monkeypatch.setattr(numpy_mlp, "cached_here", lambda kernel: True)
    assert net.compiling is None
    monkeypatch.setattr(numpy_mlp, "cached_here", lambda kernel: None)  # cannot be told
    assert net.compiling is None
