"""Descent on a function with any update rule and schedule, and the built-in test functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab.errors import UsageError
from gradlab.functions import (
    TEST_FUNCTIONS,
    compare_optimizers,
    compare_rates,
    minimize,
    parse_function,
    test_function,
)
from gradlab.functions.descent import BOUNCE_SHARE, optimizer_name
from gradlab.functions.testfunctions import ADAPTIVE_RULES, EXPRESSION_RATE, default_rate
from gradlab.optim.rules import RULES, SGD, Adam, make_rule
from gradlab.optim.schedules import (
    Constant,
    CosineAnnealingLR,
    ExponentialLR,
    OneCycleLR,
    StepLR,
)

TUTORIAL = "x**2*sin(x)"


def plain_loop(text: str, x0: list[float], lr: float, steps: int) -> np.ndarray:
    """The tutorial's loop written out: x <- x - lr * grad f(x), every iterate."""
    f = parse_function(text)
    x = np.array(x0, dtype=np.float64)
    points = [x]
    for _ in range(steps):
        x = x - lr * f.gradient(x)
        points.append(x)
    return np.array(points)


def rule_loop(text: str, x0: list[float], rule: object, steps: int, schedule: object = None):
    """The rule applied to the point directly, as docs/optimizers.md describes."""
    f = parse_function(text)
    x = np.array(x0, dtype=np.float64)
    state = rule.init([x])  # type: ignore[attr-defined]
    points = [x.copy()]
    for t in range(steps):
        lr = None if schedule is None else schedule.lr_at(t)  # type: ignore[attr-defined]
        rule.step([x], [f.gradient(x)], state, lr=lr)  # type: ignore[attr-defined]
        points.append(x.copy())
    return np.array(points)


# ----------------------------------------------------------------- plain descent unchanged


@pytest.mark.parametrize(
    "how",
    [
        {},
        {"optimizer": "sgd"},
        {"optimizer": SGD(lr=0.05)},
        {"optimizer": SGD(lr=0.9)},  # lr given below wins over the rule's own
        {"schedule": Constant(0.05)},
    ],
)
def test_plain_descent_is_bit_for_bit_the_tutorials_loop(how: dict[str, object]) -> None:
    lr = None if "schedule" in how or how.get("optimizer") == SGD(lr=0.05) else 0.05
    run = minimize(TUTORIAL, 4.0, lr=lr, tol=0.0, steps=60, **how)  # type: ignore[arg-type]
    np.testing.assert_array_equal(run.points, plain_loop(TUTORIAL, [4.0], 0.05, 60))
    assert run.lr == 0.05
    assert run.optimizer == "sgd"


def test_a_schedule_sets_each_steps_rate_as_lr_at_says() -> None:
    schedule = StepLR(0.2, step_size=3, gamma=0.5)
    run = minimize("x^2 + 3*y^2", (2.0, 1.0), schedule=schedule, steps=10, tol=0.0)
    np.testing.assert_array_equal(run.rates, [schedule.lr_at(t) for t in range(10)])
    stepped = run.points[:-1] - run.rates[:, None] * run.gradients[:-1]
    np.testing.assert_array_equal(run.points[1:], stepped)
    assert run.lr == 0.2
    assert run.schedule is schedule
    assert run.label == "sgd, lr 0.2, step"


@pytest.mark.parametrize("name", RULES)
def test_every_rule_takes_the_steps_the_rule_takes_on_the_point(name: str) -> None:
    # the loop takes x - (x - p) where the rule wrote p: at most one rounding (half an ulp
    # of |x| ~ 2) per step apart, not amplified on a convex bowl; 1e-13 leaves room
    rule = make_rule(name, lr=0.05)
    schedule = CosineAnnealingLR(0.05, T_max=40)
    for sched in (None, schedule):
        run = minimize("x^2 + 3*y^2 + x*y", (2.0, -1.0), optimizer=rule, schedule=sched,
                       steps=40, tol=0.0)  # fmt: skip
        direct = rule_loop("x^2 + 3*y^2 + x*y", [2.0, -1.0], rule, 40, sched)
        np.testing.assert_allclose(run.points, direct, rtol=0, atol=1e-13)
        assert run.optimizer == name
        assert run.rule == rule


def test_a_rule_object_keeps_its_hyperparameters_and_its_rate_unless_lr_is_given() -> None:
    rule = Adam(lr=0.02, betas=(0.8, 0.99))
    own = minimize("x^2", 1.0, optimizer=rule, steps=5)
    assert own.lr == 0.02
    assert own.rule == rule
    other = minimize("x^2", 1.0, optimizer=rule, lr=0.3, steps=5)
    assert other.lr == 0.3
    assert other.rule == Adam(lr=0.3, betas=(0.8, 0.99))
    assert other.optimizer == "adam (betas=[0.8, 0.99])"


def test_optimizer_names_follow_the_presets() -> None:
    assert optimizer_name(SGD(lr=0.1, momentum=0.9)) == "momentum"
    assert optimizer_name(SGD(lr=0.1, momentum=0.9, nesterov=True)) == "nesterov"
    assert optimizer_name(SGD(lr=0.1, momentum=0.5)) == "sgd (momentum=0.5)"
    assert optimizer_name(Adam(lr=5.0)) == "adam"


def test_a_schedule_factory_is_called_with_the_rate_and_the_budget() -> None:
    calls = []

    def factory(lr: float, steps: int) -> CosineAnnealingLR:
        calls.append((lr, steps))
        return CosineAnnealingLR(lr, T_max=steps)

    run = minimize("rosenbrock", optimizer="adam", schedule=factory)
    assert calls == [(0.1, 1000)]
    assert run.schedule == CosineAnnealingLR(0.1, T_max=1000)
    assert run.rates[-1] == pytest.approx(0.1 * (1 + math.cos(math.pi * 999 / 1000)) / 2)


# ----------------------------------------------------------------- verdicts for every rule


def test_momentum_spiralling_in_is_too_slow_not_oscillating() -> None:
    # x^2 at lr 1: the heavy ball's roots are complex of modulus sqrt(0.9), at more than a
    # right angle, so x overshoots on most steps and still shrinks 0.949 times a step
    run = minimize("x^2", 1.0, lr=1.0, optimizer="momentum", steps=200)
    updates = np.diff(run.points[-21:, 0])
    assert np.mean(updates[1:] * updates[:-1] < 0) > 0.5  # it bounces ...
    assert run.settling  # ... and every bounce is gone within a window
    assert run.verdict == "too slow"
    longer = minimize("x^2", 1.0, lr=1.0, optimizer="momentum", steps=600)
    assert longer.verdict == "converged"


def test_momentum_past_its_stable_rate_still_diverges() -> None:
    # stable below 2 (1 + 0.9) / L = 1.9 on x^2 (L = 2)
    assert minimize("x^2", 1.0, lr=1.95, optimizer="momentum").verdict == "diverged"
    assert minimize("x^2", 1.0, lr=1.85, optimizer="momentum", steps=400).verdict == "converged"


def test_plain_descent_that_bounces_slowly_is_still_oscillating() -> None:
    run = minimize("x^2", 1.0, lr=0.995, steps=200)  # x <- -0.99 x
    assert not run.settling
    assert run.verdict == "oscillating"


def test_a_coordinate_that_has_settled_does_not_count_as_bouncing() -> None:
    # y <- -0.25 y is gone after 30 steps but its updates still alternate in sign, far
    # below a percent of the motion; x creeps along the valley: too slow
    run = minimize("ill-conditioned", optimizer="sgd")
    updates = np.diff(run.points[-21:], axis=0)
    assert np.all(updates[1:, 1] * updates[:-1, 1] < 0)
    assert np.abs(updates[:, 1]).sum() < BOUNCE_SHARE * np.abs(updates).sum()
    assert run.verdict == "too slow"


def test_adaptive_rules_converge_where_their_steps_shrink() -> None:
    run = minimize("himmelblau", optimizer="adam")
    assert run.verdict == "converged"
    np.testing.assert_allclose(run.x_final, [3.0, 2.0], atol=1e-6)


def test_rmsprop_at_a_large_rate_bounces_about_the_minimum() -> None:
    # its step is about lr / sqrt(1 - alpha) per coordinate whatever the gradient: near
    # the minimum of the saddle surface x keeps jumping across x = 0
    run = minimize("saddle", optimizer="rmsprop", lr=0.05)
    assert run.verdict == "oscillating"
    assert not run.settling
    assert np.max(np.abs(run.points[-20:, 0])) < 0.1


# ----------------------------------------------------------------- races


def test_a_race_gives_each_optimizer_its_default_rate() -> None:
    runs = compare_optimizers("rosenbrock", ["sgd", "momentum", "nesterov", "adam"])
    assert [r.optimizer for r in runs] == ["sgd", "momentum", "nesterov", "adam"]
    assert [r.lr for r in runs] == [0.001, 0.001, 0.001, 0.1]
    assert all(r.steps == 1000 for r in runs)
    assert all(np.array_equal(r.points[0], [-1.2, 1.0]) for r in runs)
    distances = {r.optimizer: r.distances[-1] for r in runs}  # type: ignore[index]
    assert distances["sgd"] > 1.0  # still creeping along the valley
    assert max(distances["momentum"], distances["nesterov"], distances["adam"]) < 0.02


def test_one_rate_for_every_optimizer_when_asked() -> None:
    runs = compare_optimizers("x^2", ["sgd", "adam"], 1.0, lr=0.01, steps=5)
    assert [r.lr for r in runs] == [0.01, 0.01]


def test_compare_rates_takes_an_optimizer_and_a_schedule_factory() -> None:
    runs = compare_rates("x^2", 1.0, [0.1, 0.2], optimizer="nesterov",
                         schedule=lambda lr, n: ExponentialLR(lr, gamma=0.9), steps=5)  # fmt: skip
    assert [r.optimizer for r in runs] == ["nesterov", "nesterov"]
    assert [r.rates[1] for r in runs] == [pytest.approx(0.09), pytest.approx(0.18)]


# ----------------------------------------------------------------- the test functions


@pytest.mark.parametrize("name", list(TEST_FUNCTIONS))
def test_each_test_function_has_its_minima_where_it_says(name: str) -> None:
    tf = test_function(name)
    f = tf.function
    assert f.variables == ("x", "y")
    minima = np.array(tf.minima)
    np.testing.assert_allclose(f.value(minima), tf.f_min, atol=1e-12)
    np.testing.assert_allclose(f.gradient(minima), 0.0, atol=1e-9)
    # a minimum: the Hessian (central differences of the exact gradient) is positive definite
    for m in minima:
        h = 1e-5
        H = np.array([(f.gradient(m + h * e) - f.gradient(m - h * e)) / (2 * h) for e in np.eye(2)])
        assert np.all(np.linalg.eigvalsh((H + H.T) / 2) > 0)
    # nothing in the view is lower than the minimum
    gx, gy = np.meshgrid(np.linspace(*tf.view[0], 201), np.linspace(*tf.view[1], 201))
    assert f.value(np.stack([gx, gy], axis=-1)).min() >= tf.f_min - 1e-9
    (xlo, xhi), (ylo, yhi) = tf.view
    for p in (tf.start, *tf.minima):
        assert xlo < p[0] < xhi
        assert ylo < p[1] < yhi


@pytest.mark.parametrize("name", list(TEST_FUNCTIONS))
def test_the_sgd_familys_default_rate_is_stable_at_the_minimum(name: str) -> None:
    # below Nesterov's limit 2 (1 + mu) / ((1 + 2 mu) L), the smallest of the three
    tf = test_function(name)
    L = 0.0
    for m in np.array(tf.minima):
        h = 1e-5
        H = np.array(
            [(tf.function.gradient(m + h * e) - tf.function.gradient(m - h * e)) / (2 * h)
             for e in np.eye(2)]
        )  # fmt: skip
        L = max(L, float(np.linalg.eigvalsh((H + H.T) / 2).max()))
    nesterov = make_rule("nesterov", lr=tf.lr)
    limit = nesterov.max_stable_lr(L)
    assert limit is not None
    assert tf.lr < limit
    for rule in ("sgd", "momentum", "nesterov"):
        assert default_rate(rule, tf) == tf.lr
    for rule in ADAPTIVE_RULES:
        assert default_rate(rule, tf) == tf.step
    assert default_rate("adam") == EXPRESSION_RATE


@pytest.mark.parametrize("name", list(TEST_FUNCTIONS))
def test_every_rule_runs_on_every_test_function_without_error(name: str) -> None:
    runs = compare_optimizers(name, list(RULES), steps=30)
    assert all(r.test_function is TEST_FUNCTIONS[name] for r in runs)
    assert all(len(r.minima) == len(TEST_FUNCTIONS[name].minima) for r in runs)


def test_a_test_function_is_found_by_name_and_its_start_is_the_default() -> None:
    run = minimize("saddle", steps=3)
    np.testing.assert_array_equal(run.points[0], [1.5, 0.001])
    assert run.test_function is TEST_FUNCTIONS["saddle"]
    assert run.distances is not None
    assert minimize(" saddle ", steps=1).test_function is TEST_FUNCTIONS["saddle"]
    assert minimize("x^2", 1.0, steps=1).distances is None
    assert TEST_FUNCTIONS["rosenbrock"].describe() == "minimum f(1, 1) = 0; start (-1.2, 1)"


def test_distances_are_to_the_nearest_minimum() -> None:
    run = minimize("himmelblau", (3.5, -1.8), steps=1)
    assert run.distances is not None
    expected = np.hypot(3.5 - 3.5844283403304917, -1.8 + 1.8481265269644036)
    assert run.distances[0] == pytest.approx(expected)


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(RULES),
    lr=st.floats(1e-4, 2.0),
    steps=st.integers(1, 50),
)
def test_any_rule_and_rate_gives_a_verdict_and_finite_points(
    name: str, lr: float, steps: int
) -> None:
    run = minimize("x^2 + 3*y^2", (2.0, 1.0), lr=lr, optimizer=name, steps=steps)
    assert run.verdict in ("converged", "too slow", "oscillating", "diverging", "diverged")
    assert np.all(np.isfinite(run.points))
    assert 0 < run.stopped_at <= steps
    assert len(run.rates) == run.steps_taken


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "adma"}, r"^minimize: optimizer must be one of 'sgd', 'momentum', "
         r"'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw' or a Rule from gradlab\.optim\.rules; "
         r"got 'adma'\.$"),
        ({"schedule": "cosine"}, r"^minimize: schedule must be a Schedule from "
         r"gradlab\.optim\.schedules, a function \(lr, steps\) -> Schedule, or None; got 'cosine'"),
        ({"lr": 0.1, "schedule": CosineAnnealingLR(0.2, T_max=10)},
         r"^minimize: lr=0\.1 and the schedule's rate 0\.2 disagree; the schedule sets the rates"),
        ({"schedule": OneCycleLR(0.1, total_steps=100), "steps": 200},
         r"^minimize: OneCycleLR\(total_steps=100\) is shorter than the 200 steps asked for"),
        ({"schedule": lambda lr, n: 3}, r"the schedule function returned int, not a Schedule"),
    ],
)  # fmt: skip
def test_bad_optimizers_and_schedules_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        minimize("x^2", 1.0, **kwargs)  # type: ignore[arg-type]


def test_a_formula_needs_a_start() -> None:
    with pytest.raises(UsageError, match=r"^minimize: x0 is needed for 'x\^2 \+ y\^2': give 2 "):
        minimize("x^2 + y^2")


def test_f_of_another_type_is_refused() -> None:
    with pytest.raises(UsageError, match=r"f must be a formula .* got int"):
        minimize(3, 1.0)  # type: ignore[arg-type]


def test_an_unknown_test_function_lists_the_built_in_ones() -> None:
    with pytest.raises(UsageError, match="no test function 'rosenbrok'; the built-in ones are "
                       "rosenbrock, beale, himmelblau, saddle, ill-conditioned"):  # fmt: skip
        test_function("rosenbrok")


def test_a_race_refuses_one_schedule_for_several_rates() -> None:
    with pytest.raises(UsageError, match="compare_optimizers: a Schedule fixes its own rate"):
        compare_optimizers("x^2", ["sgd"], 1.0, schedule=Constant(0.1))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="compare_rates: a Schedule fixes its own rate"):
        compare_rates("x^2", 1.0, [0.1], schedule=Constant(0.1))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"optimizers must be a non-empty sequence of optimizers"):
        compare_optimizers("x^2", [], 1.0)
    with pytest.raises(UsageError, match=r"optimizers must be .*; got \['sgd', 'sdg'\]"):
        compare_optimizers("x^2", ["sgd", "sdg"], 1.0)


@pytest.mark.parametrize("rule", ["adagrad", "rmsprop", "adam"])
def test_an_adaptive_rule_whose_squared_gradient_overflows_has_diverged(rule: str) -> None:
    """The accumulated square went inf, the update came out 0, and the run was taken for
    converged at its start (f = 5e173)."""
    run = minimize("exp(x**2)", 20.0, optimizer=rule, lr=0.05)
    assert run.verdict == "diverged"
    assert run.diverged_at == 1


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_rate_decayed_below_the_points_precision_is_not_convergence(optimizer: str) -> None:
    """The nominal-rate update underflowed to 0 in the norm's squares (SGD), or the point
    stopped moving (Adam): neither is a step shorter than tol at the nominal rate."""
    schedule = ExponentialLR(0.05 if optimizer == "sgd" else 0.1, gamma=1e-10)
    run = minimize("x**2", 3.0, optimizer=optimizer, schedule=schedule, steps=50)
    assert run.verdict != "converged"
    assert run.converged_at is None


def test_a_start_beyond_the_divergence_bound_is_refused_up_front() -> None:
    with pytest.raises(UsageError) as info:
        minimize("x**2", 1e13, lr=1e-9)
    assert info.value.message == (
        "minimize: x0 = [10000000000000.0] lies beyond 1e+12, where a descent counts as diverged."
    )
    assert info.value.hint == "Start within 1e+12 of 0 (from Python, explode= sets that bound)."
    assert minimize("x**2", 1e13, lr=0.1, explode=1e15).verdict != "diverged"
