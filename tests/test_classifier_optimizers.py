"""The classifiers with every update rule and schedule.

The NumPy engine (its own backpropagation, gradlab's rules on one packed buffer) and the
torch engine (autograd, ``torch.optim``) take the same steps: one epoch of every rule on
the same batches, in float64, agrees to 1e-10 of the weights' scale. Then what the
estimators make of ``optimizer=``, ``momentum=``, ``lr="auto"`` and ``schedule=``, and
every message about them.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np
import pytest

from gradlab.engines.numpy_mlp import NumpyMLP
from gradlab.errors import DivergenceError, UsageError
from gradlab.models import MLPClassifier, SoftmaxRegression
from gradlab.models._init import init_params
from gradlab.models._spec import RATES, resolve_schedule
from gradlab.optim import RULES, make_rule
from gradlab.optim.rules import SGD, Adam, AdamW, RMSprop
from gradlab.optim.schedules import (
    Constant,
    CosineAnnealingLR,
    LinearLR,
    OneCycleLR,
    SequentialLR,
    StepLR,
)


def blobs(n: int = 240, d: int = 12, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, size=(k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


# ------------------------------------------------------------------ NumPy against torch

#: Every rule by name, and the flags the names leave out.
PARITY_RULES = [
    *[make_rule(name, lr=0.01) for name in RULES],
    SGD(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3),
    RMSprop(lr=1e-3, momentum=0.5, centered=True, weight_decay=1e-3),
    Adam(lr=1e-3, amsgrad=True, weight_decay=1e-3),
    AdamW(lr=1e-3, betas=(0.8, 0.99), weight_decay=0.1),
]


#: (rule, fold): the NumPy engine folds the rate into SGD without weight decay
CASES = [(r, False) for r in PARITY_RULES] + [
    (r, True) for r in PARITY_RULES if isinstance(r, SGD) and not r.weight_decay
]


@pytest.mark.torch
@pytest.mark.parametrize(
    ("rule", "fold"), CASES, ids=[f"{r.config()}{', folded' if f else ''}" for r, f in CASES]
)
def test_numpy_and_torch_take_the_same_epoch_with_every_rule_in_float64(
    rule: Any, fold: bool
) -> None:
    # Both engines compute the same formulas in float64 and differ only in the order of
    # their sums (GEMMs of 12-40 terms, softmax rows of 4): relative differences of a
    # few 1e-16 a step. Over 10 steps, with the adaptive rules dividing by running
    # averages of the gradient, that stays many orders of magnitude under 1e-10 of the
    # weights' scale, while a wrong formula (another beta, no bias correction, dampening
    # forgotten) moves them by 1e-4 or more.
    pytest.importorskip("torch")
    from gradlab.engines.torch_mlp import TorchMLP

    X, y = blobs()
    X64 = X.astype(np.float64)
    sizes = (12, 16, 9, 4)
    params = init_params(sizes, "kaiming", 0.01, 1)
    # a schedule that changes the rate every step (folded momentum needs a constant one)
    schedule = Constant(rule.lr) if fold and rule.momentum else OneCycleLR(rule.lr * 3, 10)
    a = NumpyMLP(sizes, params, rule=rule, fold=fold, dtype=np.float64)
    b = TorchMLP(sizes, params, device="cpu", rule=rule, dtype="float64")
    da, db = a.prepare(X64, y), b.prepare(X64, y)
    order = np.random.default_rng(5).permutation(len(y))
    for t in range(10):
        idx = order[t * 24 : (t + 1) * 24]
        la, _ = a.train_step(da, idx, schedule.lr_at(t))
        lb, _ = b.train_step(db, idx, schedule.lr_at(t))
        assert abs(la - float(lb)) <= 1e-10 * abs(la)
    sa, sb = a.state(), b.state()
    for name in sa:
        scale = np.abs(sa[name]).max() + np.abs(params[name]).max()
        np.testing.assert_allclose(sa[name], sb[name], rtol=0, atol=1e-10 * scale, err_msg=name)
    # the states agree too (NumPy's folded buffers are lr * PyTorch's)
    oa = a.optimizer_state().in_units("gradient", None)
    ob = b.optimizer_state()
    assert set(oa.arrays) == set(ob.arrays)
    for key, value in oa.arrays.items():
        scale = np.abs(value).max() + 1e-300
        np.testing.assert_allclose(value, ob.arrays[key], rtol=0, atol=1e-9 * scale, err_msg=key)


@pytest.mark.torch
def test_the_parity_check_tells_a_wrong_rule_apart() -> None:
    # the tolerance above is no formality: Adam with beta2 0.99 instead of 0.999 is
    # 10^4 times outside it after the same ten steps
    pytest.importorskip("torch")
    from gradlab.engines.torch_mlp import TorchMLP

    X, y = blobs()
    sizes = (12, 16, 4)
    params = init_params(sizes, "kaiming", 0.01, 1)
    a = NumpyMLP(sizes, params, rule=Adam(lr=1e-3, betas=(0.9, 0.99)), dtype=np.float64)
    b = TorchMLP(sizes, params, device="cpu", rule=Adam(lr=1e-3), dtype="float64")
    da, db = a.prepare(X.astype(np.float64), y), b.prepare(X.astype(np.float64), y)
    for t in range(10):
        idx = np.arange(t * 24, (t + 1) * 24)
        a.train_step(da, idx, 1e-3)
        b.train_step(db, idx, 1e-3)
    diff = np.abs(a.state()["W1"] - b.state()["W1"]).max()
    assert diff > 1e-6 * np.abs(params["W1"]).max()  # 10^4 times the tolerance


@pytest.mark.torch
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "nesterov"])
def test_the_estimators_train_the_same_history_on_both_engines(optimizer: str) -> None:
    pytest.importorskip("torch")
    X, y = blobs()
    kw: dict[str, Any] = {"hidden": (8,), "epochs": 3, "batch_size": 32, "cpu_threads": 1,
                          "optimizer": optimizer, "schedule": "cosine"}  # fmt: skip
    runs = [MLPClassifier(engine=e, **kw).fit(X, y, eval_set=(X, y)) for e in ("numpy", "torch")]
    # float32 on both, different summation orders: a few ulps a step, over 24 steps
    np.testing.assert_allclose(
        runs[0].history_["train_loss"], runs[1].history_["train_loss"], rtol=1e-4
    )
    assert runs[0].history_["lr"] == runs[1].history_["lr"]


def test_the_numpy_engine_refuses_to_fold_the_rate_where_it_is_not_exact() -> None:
    sizes = (3, 2)
    with pytest.raises(ValueError, match="the rate folds only into SGD without weight decay"):
        NumpyMLP(sizes, init_params(sizes, "normal", 0.01, 0), rule=Adam(), fold=True)


def test_packed_parameters_are_views_of_one_buffer() -> None:
    sizes = (5, 4, 3)
    net = NumpyMLP(sizes, init_params(sizes, "kaiming", 0.01, 0), rule=Adam())
    assert net.flat.size == 5 * 4 + 4 + 4 * 3 + 3
    for view in (*net.W, *net.b):
        assert np.shares_memory(view, net.flat)
    for view in (*net.gW, *net.gb):
        assert np.shares_memory(view, net.grad_flat)
    assert list(net.opt_state.slots) == ["exp_avg", "exp_avg_sq"]
    assert net.opt_state.slots["exp_avg"][0].shape == net.flat.shape


# ------------------------------------------------------------------ optimizer and momentum


def test_momentum_is_sgds_and_the_other_optimizers_ignore_it() -> None:
    X, y = blobs(60)
    sgd = MLPClassifier(hidden=(4,), epochs=1, momentum=0.5).fit(X, y)
    assert sgd.optimizer_ == SGD(lr=0.05, momentum=0.5)
    adam = MLPClassifier(hidden=(4,), epochs=1, momentum=0.5, optimizer="adam").fit(X, y)
    assert adam.optimizer_ == Adam(lr=1e-3)
    nesterov = MLPClassifier(hidden=(4,), epochs=1, momentum=0.5, optimizer="nesterov")
    assert nesterov.fit(X, y).optimizer_ == SGD(lr=0.05, momentum=0.9, nesterov=True)


@pytest.mark.parametrize("kind", ["softmax", "mlp"])
@pytest.mark.parametrize("name", RULES)
def test_lr_auto_takes_each_optimizers_rate(kind: str, name: str) -> None:
    X, y = blobs(40)
    cls = SoftmaxRegression if kind == "softmax" else MLPClassifier
    extra = {"hidden": (3,)} if kind == "mlp" else {}
    m = cls(optimizer=name, epochs=1, **extra).fit(X, y)
    assert m.lr_ == RATES[kind][name] == m.optimizer_.lr
    assert m.history_["lr"] == [RATES[kind][name]]


def test_the_rate_comes_from_lr_then_the_schedule_then_the_rule() -> None:
    X, y = blobs(40)
    fit = {"epochs": 2, "hidden": (3,)}
    assert MLPClassifier(optimizer=Adam(lr=0.02), **fit).fit(X, y).lr_ == 0.02
    given = MLPClassifier(optimizer=Adam(lr=0.02, betas=(0.8, 0.9)), lr=0.03, **fit).fit(X, y)
    assert given.optimizer_ == Adam(lr=0.03, betas=(0.8, 0.9))
    own = MLPClassifier(optimizer="adam", schedule=CosineAnnealingLR(0.004, T_max=2), **fit)
    assert own.fit(X, y).history_["lr"] == [0.004, 0.002]
    in_dict = MLPClassifier(schedule={"name": "step", "lr": 0.2, "step_size": 1}, **fit)
    assert in_dict.fit(X, y).history_["lr"] == pytest.approx([0.2, 0.02])


def test_a_rate_given_twice_must_agree() -> None:
    X, y = blobs(40)
    m = MLPClassifier(lr=0.1, schedule=CosineAnnealingLR(0.05, T_max=3), hidden=(3,))
    with pytest.raises(
        UsageError,
        match=re.escape(
            "MLPClassifier: lr=0.1, but the schedule starts from 0.05; give the rate once "
            "(leave lr='auto' to take the schedule's)."
        ),
    ):
        m.fit(X, y)


# ------------------------------------------------------------------ schedules


def spec(schedule: Any, epochs: int = 9, lr: Any = 0.1) -> dict[str, Any]:
    return {"lr": lr, "optimizer": "sgd", "momentum": 0.0, "schedule": schedule, "epochs": epochs}


@pytest.mark.parametrize(
    ("schedule", "expected", "per_step"),
    [
        ("constant", Constant(0.1), False),
        ("step", StepLR(0.1, step_size=3, gamma=0.1), False),
        ({"name": "step", "step_size": 2, "gamma": 0.5}, StepLR(0.1, 2, 0.5), False),
        ("cosine", CosineAnnealingLR(0.1, T_max=9), False),
        ("warmup", LinearLR(0.1, total_iters=7), True),
        ("onecycle", OneCycleLR(0.1, total_steps=63), True),
        ({"name": "warmup", "warmup_steps": 20}, LinearLR(0.1, total_iters=20), True),
        (
            {"name": "cosine", "warmup_steps": 5},
            SequentialLR([LinearLR(0.1, total_iters=5), CosineAnnealingLR(0.1, T_max=58)], [5]),
            True,
        ),
        (
            {"name": "exponential", "gamma": 0.5, "warmup_steps": 3},
            SequentialLR([LinearLR(0.1, total_iters=3), StepLR(0.1, 7, 0.5)], [3]),
            True,
        ),
        (
            {"name": "step", "step_size": 2, "warmup_steps": 3},
            SequentialLR([LinearLR(0.1, total_iters=3), StepLR(0.1, 14, 0.1)], [3]),
            True,
        ),
        (LinearLR(0.1, start_factor=0.5, total_iters=4), LinearLR(0.1, 0.5, 1.0, 4), True),
    ],
)
def test_schedules_are_laid_out_over_the_run(schedule: Any, expected: Any, per_step: bool) -> None:
    assert resolve_schedule("mlp", spec(schedule), steps_per_epoch=7) == (expected, per_step)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            {"name": "cosine", "gamma": 0.5},
            "MLPClassifier: schedule 'cosine': CosineAnnealingLR: no hyperparameter gamma; it "
            "takes T_max, eta_min, lr.",
        ),
        (
            {"name": "step", "step_size": 0},
            "MLPClassifier: schedule 'step': StepLR: step_size must be an integer >= 1; got 0.",
        ),
        (
            {"name": "onecycle", "warmup_steps": 5},
            "MLPClassifier: the onecycle schedule warms up by itself (pct_start); leave out "
            "warmup_steps.",
        ),
        (
            {"name": "cosine", "warmup_steps": -1},
            "MLPClassifier: schedule warmup_steps must be an integer >= 0; got -1.",
        ),
        (
            {"name": "cosine", "T_max": 2, "warmup_steps": 20},
            "MLPClassifier: schedule 'cosine': warmup_steps=20 leaves no steps for the cosine "
            "(T_max 2 epochs of 7 steps); choose a shorter warm-up.",
        ),
    ],
)
def test_bad_schedules_are_named(schedule: Any, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        resolve_schedule("mlp", spec(schedule), steps_per_epoch=7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"optimizer": "lbfgs"},
            "MLPClassifier: optimizer must be one of 'sgd', 'momentum', 'nesterov', 'adagrad', "
            "'rmsprop', 'adam', 'adamw' or a gradlab.optim rule (Adam(), ...); got 'lbfgs'.",
        ),
        (
            {"schedule": "linear"},
            "MLPClassifier: schedule must be one of 'constant', 'step', 'exponential', "
            "'cosine', 'warmup', 'onecycle', a dict {\"name\": <schedule>, ...}, or a "
            "gradlab.optim schedule; got 'linear'.",
        ),
        (
            {"validation_fraction": 1.0},
            "MLPClassifier: validation_fraction must be a number in (0, 1); got 1.0.",
        ),
        (
            {"n_iter_no_change": 0},
            "MLPClassifier: n_iter_no_change must be an integer >= 1; got 0.",
        ),
        ({"tol": -1.0}, "MLPClassifier: tol must be a number >= 0; got -1.0."),
        (
            {"early_stopping": "yes"},
            "MLPClassifier: early_stopping must be one of True, False; got 'yes'.",
        ),
    ],
)
def test_bad_optimizer_and_early_stopping_parameters_are_named(
    kwargs: dict[str, Any], message: str
) -> None:
    X, y = blobs(20)
    with pytest.raises(UsageError, match=re.escape(message)):
        MLPClassifier(**kwargs).fit(X, y)


def test_history_records_the_rate_of_each_epoch_and_step_schedules_move_within_it() -> None:
    X, y = blobs(120)
    m = MLPClassifier(hidden=(4,), epochs=4, batch_size=40, optimizer="adam",
                      schedule="onecycle").fit(X, y)  # fmt: skip
    one = OneCycleLR(1e-3, total_steps=12)
    assert m.history_["lr"] == [one.lr_at(3 * e) for e in range(4)]
    assert m.schedule_ == one


# ------------------------------------------------------------------ the divergence guard


def test_an_adaptive_rule_that_blows_up_is_told_its_step_bound() -> None:
    X, y = blobs(200)
    with pytest.raises(DivergenceError) as info:
        MLPClassifier(hidden=(32,), lr=1e4, optimizer="adam", epochs=3).fit(X * 100, y)
    assert info.value.hint == (
        "Try a smaller learning rate, e.g. 1e3: with Adam each step moves every weight by up "
        "to about 3.2e4 whatever the gradient, so a loss that blows up points at a rate far "
        "too large (or at the data: check for huge values)."
    )


def test_softmax_regression_with_sgd_is_told_a_stable_rate() -> None:
    # its loss curves by at most half the top eigenvalue of [X 1]^T [X 1] / n
    X, y = blobs(200)
    X = X * 30
    with pytest.raises(DivergenceError) as info:
        SoftmaxRegression(lr=1e4, epochs=5, batch_size=200, cpu_threads=1).fit(X, y)
    Z = np.hstack([X.astype(np.float64), np.ones((200, 1))])
    bound = 2 / (np.linalg.eigvalsh(Z.T @ Z / 200)[-1] / 2)
    assert info.value.hint is not None
    curvature = 2 / bound
    assert info.value.hint == (
        f"Try a learning rate below {bound:.2g}: softmax regression's loss curves by at most "
        f"{curvature:.3g} on this data, and below 2 / {curvature:.3g} every full-batch step is "
        "sure to lower the loss; mini-batches need some margin below that."
    )
    # and below it, every full-batch step lowers the loss
    m = SoftmaxRegression(lr=0.9 * bound, epochs=20, batch_size=200, cpu_threads=1).fit(X, y)
    loss = m.history_["train_loss"]
    assert all(b < a for a, b in itertools.pairwise(loss))


@pytest.mark.parametrize("kind", ["mlp", "softmax"])
def test_a_divergence_on_huge_inputs_says_to_standardise_them(kind: str) -> None:
    """The advice was a rate ten times smaller, again and again (0.005, then 0.0005, ...,
    then 1e-13), when a feature of 1e30 made every rate diverge."""
    from gradlab.errors import DivergenceError
    from gradlab.models import MLPClassifier, SoftmaxRegression

    X = np.random.default_rng(0).random((60, 8))
    X[:, 0] = 1e30
    model = MLPClassifier(hidden=(8,), epochs=2, lr=1e-12) if kind == "mlp" else (
        SoftmaxRegression(epochs=2))  # fmt: skip
    with pytest.raises(DivergenceError) as caught:
        model.fit(X, np.arange(60) % 3)
    assert caught.value.hint == (
        "The inputs reach 1e+30: a weight of such a feature moves the loss so far that no "
        "learning rate suits the others. Standardise the features "
        "(sklearn.preprocessing.StandardScaler, or divide each column by its typical size), "
        "then train again."
    )
