"""Learning-rate schedules: the same rates and the same parameters as
torch.optim.lr_scheduler, closed forms where they are known, validation messages."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab.errors import UsageError
from gradlab.optim.rules import Rule, make_rule
from gradlab.optim.schedules import (
    SCHEDULES,
    Constant,
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    OneCycleLR,
    Schedule,
    SequentialLR,
    StepLR,
    make_schedule,
)

STEPS = 200
# PyTorch computes most rates recursively (lr_t from lr_{t-1}: ExponentialLR multiplies by
# gamma, CosineAnnealingLR by a ratio of cosines), gradlab in closed form. Each recursive
# step adds a rounding of ~1.1e-16 relative: ~2e-14 of the base rate after 200 steps.
# The cosine's recursion is worse after a trough: it restarts from 1 - cos(pi / T_max),
# which cancels to ~pi^2 / (2 T_max^2) and so carries a relative error of
# ~2 T_max^2 / pi^2 ulps, carried up the next half cycle: up to ~4e-12 of the base rate
# for T_max = 300 (measured for every T_max from 1 to 199: at most 2.5e-13). Rates are
# compared against the base rate, since one that reaches eta_min = 0 has no relative
# error there. The parameters then differ as in test_optim_rules.py (1e-10 relative).
LR_TOL = 1e-11
RTOL = 1e-10


def _torch() -> Any:
    return pytest.importorskip("torch")


def run_both(
    schedule: Schedule, rule: Rule, seed: int, steps: int = STEPS
) -> tuple[list[float], list[float], np.ndarray, np.ndarray]:
    """The rates and end parameters of ``steps`` steps of ``rule`` under ``schedule``, in
    NumPy (rate ``lr_at(t)`` at step ``t``) and in torch (``scheduler.step()`` after each
    ``optimizer.step()``), on a noisy quadratic."""
    torch = _torch()
    from gradlab.engines import torch_optim

    rng = np.random.default_rng(seed)
    n = 5
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    A = (Q * rng.uniform(0.1, 1.0, n)) @ Q.T
    centre, start = rng.normal(size=n), rng.normal(size=n)
    noise = 0.3 * rng.normal(size=(steps, n))

    def grad(p: np.ndarray, t: int) -> np.ndarray:
        return A @ (p - centre) + noise[t]

    p = start.copy()
    state = rule.init([p])
    ours = []
    for t in range(steps):
        ours.append(schedule.lr_at(t))
        rule.step([p], [grad(p, t)], state, lr=ours[-1])

    x = torch.tensor(start, requires_grad=True)
    opt, sched = torch_optim.build(rule, [x], schedule)
    theirs = []
    for t in range(steps):
        theirs.append(float(opt.param_groups[0]["lr"]))
        x.grad = torch.from_numpy(grad(x.detach().numpy(), t))
        opt.step()
        sched.step()
    return ours, theirs, p, x.detach().numpy()


# ------------------------------------------------------------------ strategies

rates = st.floats(1e-3, 0.1)


@st.composite
def step_lrs(draw: st.DrawFn) -> StepLR:
    return StepLR(draw(rates), step_size=draw(st.integers(1, 60)), gamma=draw(st.floats(0.1, 1)))


@st.composite
def exponential_lrs(draw: st.DrawFn) -> ExponentialLR:
    return ExponentialLR(draw(rates), gamma=draw(st.floats(0.9, 1)))


@st.composite
def cosine_lrs(draw: st.DrawFn) -> CosineAnnealingLR:
    lr = draw(rates)
    eta = draw(st.one_of(st.just(0.0), st.floats(0, lr)))
    return CosineAnnealingLR(lr, T_max=draw(st.integers(1, 300)), eta_min=eta)


@st.composite
def linear_lrs(draw: st.DrawFn, lr: float | None = None) -> LinearLR:
    return LinearLR(
        draw(rates) if lr is None else lr,
        start_factor=draw(st.floats(0.01, 1)),
        end_factor=draw(st.floats(0, 1)),
        total_iters=draw(st.integers(1, 300)),
    )


@st.composite
def onecycle_lrs(draw: st.DrawFn) -> OneCycleLR:
    total = draw(st.integers(STEPS, 2 * STEPS))
    pct = draw(st.floats(0.05, 0.95))
    three = draw(st.booleans())
    ends = [pct * total - 1, 2 * pct * total - 2, total - 1]
    if pct * total == 1 or (three and ends[1] == ends[2]):
        pct = 0.3  # a phase of zero length, refused (tested below)
    return OneCycleLR(
        max_lr=draw(rates),
        total_steps=total,
        pct_start=pct,
        anneal_strategy=draw(st.sampled_from(["cos", "linear"])),
        div_factor=draw(st.floats(1, 100)),
        final_div_factor=draw(st.floats(1, 1e5)),
        three_phase=three,
    )


@st.composite
def sequential_lrs(draw: st.DrawFn) -> SequentialLR:
    """A linear warm-up, then another schedule (possibly with a further one), from one lr."""
    lr = draw(rates)
    follow = [
        StepLR(lr, step_size=draw(st.integers(1, 60)), gamma=draw(st.floats(0.1, 1))),
        ExponentialLR(lr, gamma=draw(st.floats(0.9, 1))),
        CosineAnnealingLR(lr, T_max=draw(st.integers(1, 300))),
        Constant(lr),
    ]
    rest = draw(st.lists(st.sampled_from(follow), min_size=1, max_size=2))
    milestones = sorted(draw(st.sets(st.integers(1, 150), min_size=len(rest), max_size=len(rest))))
    return SequentialLR([draw(linear_lrs(lr)), *rest], milestones=milestones)


SCHEDULE_STRATEGIES = {
    "Constant": rates.map(Constant),
    "StepLR": step_lrs(),
    "ExponentialLR": exponential_lrs(),
    "CosineAnnealingLR": cosine_lrs(),
    "LinearLR": linear_lrs(),
    "OneCycleLR": onecycle_lrs(),
    "SequentialLR": sequential_lrs(),
}


# ------------------------------------------------------------------ against torch


@pytest.mark.torch
@pytest.mark.parametrize("which", list(SCHEDULE_STRATEGIES))
def test_200_steps_match_torch_lr_scheduler(which: str) -> None:
    _torch()

    @settings(max_examples=30, deadline=None)
    @given(
        schedule=SCHEDULE_STRATEGIES[which],
        rule=st.sampled_from(["sgd", "momentum", "adam"]),
        seed=st.integers(0, 2**32 - 1),
    )
    def check(schedule: Schedule, rule: str, seed: int) -> None:
        ours, theirs, p, x = run_both(schedule, make_rule(rule), seed)
        base = max(theirs)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=LR_TOL * base)
        np.testing.assert_allclose(p, x, rtol=RTOL, atol=RTOL * float(np.max(np.abs(x))))

    check()


@pytest.mark.torch
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (StepLR(0.1, step_size=10), StepLR(0.1, step_size=11)),
        (CosineAnnealingLR(0.1, T_max=100), CosineAnnealingLR(0.1, T_max=100, eta_min=0.01)),
        (LinearLR(0.1, start_factor=0.1), LinearLR(0.1, start_factor=0.1, total_iters=6)),
        (OneCycleLR(0.1, total_steps=200), OneCycleLR(0.1, total_steps=200, three_phase=True)),
        (OneCycleLR(0.1, total_steps=200), OneCycleLR(0.1, 200, anneal_strategy="linear")),
    ],
    ids=repr,
)
def test_near_misses_give_other_rates(ours: Schedule, theirs: Schedule) -> None:
    """The comparison tells the schedules' options apart: these differ by > 1e-6."""
    rates_ours = run_both(ours, make_rule("sgd"), seed=0)[0]
    rates_theirs = run_both(theirs, make_rule("sgd"), seed=0)[1]
    assert max(abs(a - b) for a, b in zip(rates_ours, rates_theirs, strict=True)) > 1e-6


# ------------------------------------------------------------------ closed forms


def test_closed_forms_at_known_points() -> None:
    assert [StepLR(1.0, step_size=3, gamma=0.5).lr_at(t) for t in (0, 2, 3, 6)] == [
        1.0, 1.0, 0.5, 0.25,
    ]  # fmt: skip
    assert ExponentialLR(2.0, gamma=0.5).lr_at(3) == 0.25
    cos = CosineAnnealingLR(1.0, T_max=10, eta_min=0.1)
    assert cos.lr_at(0) == 1.0
    assert cos.lr_at(5) == pytest.approx(0.55, abs=1e-15)
    assert cos.lr_at(10) == pytest.approx(0.1, abs=1e-15)
    assert cos.lr_at(20) == pytest.approx(1.0, abs=1e-15)  # back up, as PyTorch's
    warm = LinearLR(1.0, start_factor=0.25, total_iters=3)
    assert [warm.lr_at(t) for t in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    one = OneCycleLR(1.0, total_steps=10, pct_start=0.5, div_factor=10, final_div_factor=100)
    assert one.lr_at(0) == pytest.approx(0.1, abs=1e-15)  # max_lr / div_factor
    assert one.lr_at(4) == pytest.approx(1.0, abs=1e-15)  # the peak, at pct_start * total - 1
    assert one.lr_at(9) == pytest.approx(0.001, abs=1e-15)  # / final_div_factor, last step
    seq = SequentialLR([LinearLR(1.0, start_factor=0.5, total_iters=2), Constant(1.0)], [4])
    assert [seq.lr_at(t) for t in range(6)] == [0.5, 0.75, 1.0, 1.0, 1.0, 1.0]


def test_sequential_restarts_each_schedule_at_its_milestone() -> None:
    exp = ExponentialLR(1.0, gamma=0.5)
    seq = SequentialLR([Constant(1.0), exp, Constant(1.0)], milestones=[3, 5])
    assert [seq.lr_at(t) for t in range(7)] == [1.0, 1.0, 1.0, 1.0, 0.5, 1.0, 1.0]
    assert math.isclose(seq.base_lr, 1.0)


# ------------------------------------------------------------------ names and configs


@pytest.mark.parametrize(
    "schedule",
    [
        Constant(0.1),
        StepLR(0.1, step_size=5),
        ExponentialLR(0.1, gamma=0.9),
        CosineAnnealingLR(0.1, T_max=10, eta_min=0.001),
        LinearLR(0.1, start_factor=0.1, total_iters=4),
        OneCycleLR(0.1, total_steps=100, three_phase=True, anneal_strategy="linear"),
        SequentialLR([LinearLR(0.1), CosineAnnealingLR(0.1, T_max=10)], milestones=[5]),
    ],
    ids=repr,
)
def test_config_rebuilds_the_schedule_through_json(schedule: Schedule) -> None:
    again = make_schedule(**json.loads(json.dumps(schedule.config())))
    assert again == schedule
    assert [again.lr_at(t) for t in range(50)] == [schedule.lr_at(t) for t in range(50)]


def test_names() -> None:
    assert SCHEDULES == ("constant", "step", "exponential", "cosine", "warmup", "onecycle")
    assert make_schedule("warmup", lr=0.1) == LinearLR(0.1)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Constant(-0.1), "Constant: lr must be a number >= 0; got -0.1."),
        (lambda: StepLR(0.1, step_size=0), "StepLR: step_size must be an integer >= 1; got 0."),
        (lambda: StepLR(0.1, step_size=2.0), "StepLR: step_size must be an integer >= 1; got 2.0."),
        (
            lambda: ExponentialLR(0.1, gamma=float("inf")),
            "ExponentialLR: gamma must be a number >= 0; got inf.",
        ),
        (
            lambda: CosineAnnealingLR(0.1, T_max=10, eta_min=-1),
            "CosineAnnealingLR: eta_min must be a number >= 0; got -1.",
        ),
        (
            lambda: LinearLR(0.1, start_factor=0),
            "LinearLR: start_factor must be a number in (0, 1]; got 0.",
        ),
        (
            lambda: LinearLR(0.1, end_factor=1.5),
            "LinearLR: end_factor must be a number in [0, 1]; got 1.5.",
        ),
        (
            lambda: OneCycleLR(0.1, total_steps=100, pct_start=1.0),
            "OneCycleLR: pct_start must be a number in (0, 1); got 1.0.",
        ),
        (
            lambda: OneCycleLR(0.1, total_steps=100, anneal_strategy="exp"),
            "OneCycleLR: anneal_strategy must be one of 'cos', 'linear'; got 'exp'.",
        ),
        (
            lambda: OneCycleLR(0.1, total_steps=10, pct_start=0.1),
            "OneCycleLR: pct_start=0.1 with total_steps=10 makes a phase of zero steps; "
            "choose another pct_start.",
        ),
        (
            lambda: SequentialLR([Constant(0.1)], milestones=[5]),
            "SequentialLR: milestones must number one fewer than schedules; got 1 milestones "
            "for 1 schedules.",
        ),
        (
            lambda: SequentialLR([Constant(0.1), Constant(0.2)], milestones=[5]),
            "SequentialLR: every schedule must start from the same lr; got 0.1, 0.2.",
        ),
        (
            lambda: SequentialLR([Constant(0.1), Constant(0.1)], milestones=[5, 3]),
            "SequentialLR: milestones must be an increasing sequence of integers >= 1; got [5, 3].",
        ),
        (lambda: Constant(0.1).lr_at(-1), "Constant.lr_at: t must be an integer >= 0; got -1."),
        (
            lambda: StepLR(0.1, 3).lr_at(1.5),  # type: ignore[arg-type]
            "StepLR.lr_at: t must be an integer >= 0; got 1.5.",
        ),
        (
            lambda: OneCycleLR(0.1, total_steps=100).lr_at(101),
            "OneCycleLR.lr_at: t must be <= total_steps (100); got 101.",
        ),
        (
            lambda: make_schedule("cyclic", lr=0.1),
            "make_schedule: name must be one of constant, step, exponential, cosine, warmup, "
            "onecycle; got 'cyclic'.",
        ),
        (
            lambda: make_schedule("cosine", lr=0.1, T=10),
            "CosineAnnealingLR: no hyperparameter T; it takes T_max, eta_min, lr.",
        ),
        (  # was Python's "__init__() missing 1 required positional argument"
            lambda: make_schedule("step", lr=0.1),
            "StepLR: step_size must be given; it has no default.\n"
            "For example: make_schedule('step', lr=..., step_size=...).",
        ),
        (
            lambda: make_schedule("step"),
            "StepLR: lr, step_size must be given; they have no default.\n"
            "For example: make_schedule('step', lr=..., step_size=...).",
        ),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(
    build: Callable[[], Any], message: str
) -> None:
    with pytest.raises(UsageError) as err:
        build()
    assert str(err.value) == message


def test_sequential_refuses_onecycle() -> None:
    with pytest.raises(UsageError) as err:
        SequentialLR([Constant(0.1), OneCycleLR(0.1, 100)], milestones=[5])
    assert str(err.value).startswith(
        "SequentialLR: schedules must be a non-empty sequence of schedules (not OneCycleLR); "
        "got [Constant(lr=0.1), OneCycleLR(max_lr=0.1, "
    )
