"""The update rules: step for step equal to torch.optim, state saved and restored bit for
bit, dtypes kept, parameters validated, and the stable-rate formula right."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab.errors import DataError, UsageError
from gradlab.optim.rules import (
    RULES,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    RMSprop,
    Rule,
    make_rule,
    pack,
)

# Both sides compute the same formulas in float64; they differ only in the order of
# operations (PyTorch's lerp and addcdiv against NumPy's separate passes, the bias
# correction folded into eps here), each costing a rounding of at most 2**-53 ~ 1.1e-16
# relative. A step does about ten such operations and the problems below do not amplify
# differences (the quadratic is contracting at these rates, and the adaptive rules'
# steps are bounded by about lr), so 200 steps differ by at most ~2e-13 of the
# parameters' scale (measured: at most 3e-14 over 750 random cases). 1e-10 leaves room
# for the divisions by small running averages (Adam's m / sqrt(v), centered RMSProp's
# v - m*m), while a wrong formula or flag moves the parameters by 1e-6 or more
# (test_near_misses_are_far_apart).
RTOL = 1e-10
STEPS = 200


def _torch() -> Any:
    return pytest.importorskip("torch")


# ------------------------------------------------------------------ the problem


class Problem:
    """Parameters of random shapes (0-d to 2-d) and a noisy quadratic's gradient.

    ``grad(params, t) = A_i (p_i - c_i) + noise_t`` for each array, with ``A_i``
    symmetric positive definite (eigenvalues in [0.1, 1]) and a fixed noise sequence, so
    the rules see gradients that depend on the parameters and keep some variance.
    """

    def __init__(self, shapes: list[tuple[int, ...]], seed: int, steps: int = STEPS) -> None:
        rng = np.random.default_rng(seed)
        self.shapes = shapes
        self.start = [rng.normal(size=s) for s in shapes]
        self.centre = [rng.normal(size=s) for s in shapes]
        self.A = []
        for s in shapes:
            n = int(np.prod(s))
            Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
            self.A.append((Q * rng.uniform(0.1, 1.0, n)) @ Q.T)
        self.noise = [[0.3 * rng.normal(size=s) for s in shapes] for _ in range(steps)]

    def grad(self, params: list[np.ndarray], t: int) -> list[np.ndarray]:
        return [
            np.asarray((A @ (p - c).reshape(-1)).reshape(p.shape) + e)
            for A, p, c, e in zip(self.A, params, self.centre, self.noise[t], strict=True)
        ]


def run_numpy(
    rule: Rule, prob: Problem, steps: int = STEPS, lr: Callable[[int], float] | None = None
) -> list[np.ndarray]:
    params = [p.copy() for p in prob.start]
    state = rule.init(params)
    for t in range(steps):
        rule.step(params, prob.grad(params, t), state, lr=None if lr is None else lr(t))
    return params


def run_torch(rule: Rule, prob: Problem, steps: int = STEPS) -> list[np.ndarray]:
    torch = _torch()
    from gradlab.engines import torch_optim

    tensors = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in prob.start]
    opt = torch_optim.optimizer(rule, tensors)
    for t in range(steps):
        grads = prob.grad([x.detach().numpy() for x in tensors], t)
        for x, g in zip(tensors, grads, strict=True):
            x.grad = torch.from_numpy(g)
        opt.step()
    return [x.detach().numpy().copy() for x in tensors]


def assert_close(ours: list[np.ndarray], ref: list[np.ndarray], rtol: float = RTOL) -> None:
    # relative to the parameters' scale: a coordinate passing near zero has no
    # meaningful relative error of its own
    scale = max(float(np.max(np.abs(r))) for r in ref)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def max_rel_diff(ours: list[np.ndarray], ref: list[np.ndarray]) -> float:
    scale = max(float(np.max(np.abs(r))) for r in ref)
    return max(float(np.max(np.abs(a - b))) for a, b in zip(ours, ref, strict=True)) / scale


# ------------------------------------------------------------------ strategies

shapes = st.lists(
    st.lists(st.integers(1, 4), min_size=0, max_size=2).map(tuple), min_size=1, max_size=3
)
seeds = st.integers(0, 2**32 - 1)
decay = st.one_of(st.just(0.0), st.floats(1e-4, 0.1))
epsilons = st.sampled_from([1e-10, 1e-8, 1e-6])


@st.composite
def sgd_rules(draw: st.DrawFn) -> SGD:
    nesterov = draw(st.booleans())
    momentum = draw(
        st.floats(0.05, 0.99) if nesterov else st.one_of(st.just(0.0), st.floats(0, 0.99))
    )
    return SGD(
        lr=draw(st.floats(1e-3, 0.1)),
        momentum=momentum,
        dampening=0.0 if nesterov else draw(st.one_of(st.just(0.0), st.floats(0, 1))),
        weight_decay=draw(decay),
        nesterov=nesterov,
    )


@st.composite
def adagrad_rules(draw: st.DrawFn) -> Adagrad:
    return Adagrad(
        lr=draw(st.floats(1e-3, 0.5)),
        lr_decay=draw(st.one_of(st.just(0.0), st.floats(0, 0.1))),
        weight_decay=draw(decay),
        initial_accumulator_value=draw(st.one_of(st.just(0.0), st.floats(0, 1))),
        eps=draw(epsilons),
    )


@st.composite
def rmsprop_rules(draw: st.DrawFn) -> RMSprop:
    return RMSprop(
        lr=draw(st.floats(1e-4, 0.05)),
        alpha=draw(st.floats(0.5, 0.999)),
        eps=draw(epsilons),
        weight_decay=draw(decay),
        momentum=draw(st.one_of(st.just(0.0), st.floats(0, 0.95))),
        centered=draw(st.booleans()),
    )


@st.composite
def adam_rules(draw: st.DrawFn, cls: type[Adam] = Adam) -> Adam:
    return cls(
        lr=draw(st.floats(1e-4, 0.1)),
        betas=(draw(st.floats(0, 0.99)), draw(st.floats(0.5, 0.9999))),
        eps=draw(epsilons),
        weight_decay=draw(decay),
        amsgrad=draw(st.booleans()),
    )


RULE_STRATEGIES = {
    "SGD": sgd_rules(),
    "Adagrad": adagrad_rules(),
    "RMSprop": rmsprop_rules(),
    "Adam": adam_rules(),
    "AdamW": adam_rules(AdamW),
}


# ------------------------------------------------------------------ against torch.optim


@pytest.mark.torch
@pytest.mark.parametrize("which", list(RULE_STRATEGIES))
def test_200_steps_match_torch_optim(which: str) -> None:
    _torch()

    @settings(max_examples=30, deadline=None)
    @given(rule=RULE_STRATEGIES[which], shape_list=shapes, seed=seeds)
    def check(rule: Rule, shape_list: list[tuple[int, ...]], seed: int) -> None:
        prob = Problem(shape_list, seed)
        assert_close(run_numpy(rule, prob), run_torch(rule, prob))

    check()


@pytest.mark.torch
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (Adam(lr=0.01, amsgrad=True), Adam(lr=0.01)),
        (AdamW(lr=0.01, weight_decay=0.1), Adam(lr=0.01, weight_decay=0.1)),
        (Adam(lr=0.01, betas=(0.9, 0.99)), Adam(lr=0.01, betas=(0.9, 0.999))),
        (SGD(lr=0.05, momentum=0.9, dampening=0.5), SGD(lr=0.05, momentum=0.9)),
        (SGD(lr=0.05, momentum=0.9, nesterov=True), SGD(lr=0.05, momentum=0.9)),
        (RMSprop(centered=True), RMSprop()),
        (RMSprop(momentum=0.5), RMSprop()),
        (Adagrad(lr_decay=0.01), Adagrad()),
        (Adagrad(initial_accumulator_value=0.1), Adagrad()),
    ],
    ids=repr,
)
def test_near_misses_are_far_apart(ours: Rule, theirs: Rule) -> None:
    """The tolerance tells a wrong flag or formula from rounding: these differ by > 1e-6."""
    prob = Problem([(3, 2), (4,)], seed=1)
    assert max_rel_diff(run_numpy(ours, prob), run_torch(theirs, prob)) > 1e-6


@pytest.mark.torch
@pytest.mark.parametrize("name", RULES)
def test_torch_optimizer_gets_every_hyperparameter(name: str) -> None:
    torch = _torch()
    from gradlab.engines import torch_optim

    rule = make_rule(name)
    opt = torch_optim.optimizer(rule, [torch.zeros(2, requires_grad=True)])
    assert type(opt).__name__ == type(rule).__name__
    for key, value in rule.hyperparameters().items():
        got = opt.defaults[key]
        assert (list(got) if isinstance(got, tuple) else got) == value, key


@pytest.mark.torch
@pytest.mark.parametrize(
    "rule",
    [
        SGD(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.01),
        SGD(lr=0.05, momentum=0.9, nesterov=True),
        Adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
        RMSprop(momentum=0.5, centered=True, weight_decay=0.01),
        Adam(lr=0.01, amsgrad=True, weight_decay=0.01),
        AdamW(lr=0.01),
    ],
    ids=repr,
)
def test_state_moves_between_numpy_and_torch(rule: Rule) -> None:
    """100 NumPy steps then 100 torch steps (and the reverse) == 200 NumPy steps."""
    torch = _torch()
    from gradlab.engines import torch_optim

    prob = Problem([(3, 2), (4,), ()], seed=3)
    straight = run_numpy(rule, prob)

    params = [p.copy() for p in prob.start]
    state = rule.init(params)
    for t in range(100):
        rule.step(params, prob.grad(params, t), state)
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    opt = torch_optim.optimizer(rule, tensors)
    torch_optim.load_state(opt, tensors, state)
    for t in range(100, STEPS):
        for x, g in zip(tensors, prob.grad([x.detach().numpy() for x in tensors], t), strict=True):
            x.grad = torch.from_numpy(g)
        opt.step()
    assert_close([x.detach().numpy() for x in tensors], straight)

    tensors = [torch.tensor(p, requires_grad=True) for p in prob.start]
    opt = torch_optim.optimizer(rule, tensors)
    for t in range(100):
        for x, g in zip(tensors, prob.grad([x.detach().numpy() for x in tensors], t), strict=True):
            x.grad = torch.from_numpy(g)
        opt.step()
    state = torch_optim.read_state(rule, opt, tensors)
    assert state.step == (1 if isinstance(rule, SGD) else 100)
    params = [x.detach().numpy().copy() for x in tensors]
    for t in range(100, STEPS):
        rule.step(params, prob.grad(params, t), state)
    assert_close(params, straight)


# ------------------------------------------------------------------ state, dtypes, packing

ALL_SLOTS = [
    SGD(lr=0.05),
    SGD(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    SGD(lr=0.05, momentum=0.9, nesterov=True),
    Adagrad(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1),
    RMSprop(momentum=0.5, centered=True, weight_decay=0.01),
    RMSprop(),
    Adam(lr=0.01, amsgrad=True, weight_decay=0.01),
    AdamW(lr=0.01),
]


@pytest.mark.parametrize("rule", ALL_SLOTS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_state_dict_round_trip_resumes_bit_for_bit(rule: Rule, dtype: type) -> None:
    prob = Problem([(3, 2), (4,), ()], seed=4)
    prob.start = [p.astype(dtype) for p in prob.start]

    def grads(params: list[np.ndarray], t: int) -> list[np.ndarray]:
        return [g.astype(dtype) for g in prob.grad(params, t)]

    straight = [p.copy() for p in prob.start]
    state = rule.init(straight)
    for t in range(STEPS):
        rule.step(straight, grads(straight, t), state)

    params = [p.copy() for p in prob.start]
    state = rule.init(params)
    for t in range(100):
        rule.step(params, grads(params, t), state)
    arrays, scalars = state.state_dict()
    saved_params = [p.copy() for p in params]
    scalars = json.loads(json.dumps(scalars))  # what a checkpoint's metadata holds
    del state, params

    params = saved_params
    fresh = make_rule(**json.loads(json.dumps(rule.config()))).init(params)
    fresh.load_state_dict(arrays, scalars)
    assert fresh.step == 100
    for t in range(100, STEPS):
        rule.step(params, grads(params, t), fresh)
    for a, b in zip(params, straight, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_state_dict_names_arrays_as_torch_does() -> None:
    params = [np.zeros((2, 3)), np.zeros(4)]
    arrays, scalars = Adam(amsgrad=True).init(params).state_dict()
    assert sorted(arrays) == [
        "exp_avg.0", "exp_avg.1", "exp_avg_sq.0", "exp_avg_sq.1",
        "max_exp_avg_sq.0", "max_exp_avg_sq.1",
    ]  # fmt: skip
    assert arrays["exp_avg.0"].shape == (2, 3)
    assert scalars == {"rule": "adam", "step": 0}
    assert SGD().init(params).state_dict() == ({}, {"rule": "sgd", "step": 0})


@pytest.mark.parametrize("name", RULES)
def test_float32_parameters_stay_float32(name: str) -> None:
    rule = make_rule(name, weight_decay=0.01)
    params = [np.ones((3, 2), np.float32), np.ones(2, np.float32)]
    state = rule.init(params)
    for _ in range(5):
        rule.step(params, [np.full_like(p, 0.5) for p in params], state)
    assert all(p.dtype == np.float32 for p in params)
    assert all(a.dtype == np.float32 for slot in state.slots.values() for a in slot)
    assert all(np.all(p < 1) for p in params)  # it moved, downhill


@pytest.mark.parametrize("rule", ALL_SLOTS, ids=repr)
def test_one_packed_array_gives_the_same_bits_as_the_list(rule: Rule) -> None:
    prob = Problem([(3, 2), (4,), ()], seed=5, steps=50)
    listed = run_numpy(rule, prob, steps=50)

    flat, views = pack(prob.start)
    gflat, gviews = pack([np.zeros(s) for s in prob.shapes])
    state = rule.init([flat])
    for t in range(50):
        for v, g in zip(gviews, prob.grad(views, t), strict=True):
            v[...] = g
        rule.step([flat], [gflat], state)
    for a, b in zip(views, listed, strict=True):
        np.testing.assert_array_equal(a, b)


def test_pack_copies_into_views_of_one_buffer() -> None:
    w, b = np.arange(6.0).reshape(2, 3), np.array(7.0)
    flat, (vw, vb) = pack([w, b], dtype=np.float32)
    assert flat.dtype == np.float32
    assert flat.shape == (7,)
    np.testing.assert_array_equal(flat, [0, 1, 2, 3, 4, 5, 7])
    vb -= 1  # a 0-d view updates in place, as a rule's step does
    assert (vw.shape, vb.shape) == ((2, 3), ())
    assert flat[6] == 6
    assert np.shares_memory(flat, vw)
    assert np.shares_memory(flat, vb)


def test_grads_are_never_written() -> None:
    for rule in ALL_SLOTS:
        params = [np.ones(3)]
        grads = [np.array([0.5, -1.0, 2.0])]
        state = rule.init(params)
        for _ in range(3):
            rule.step(params, grads, state)
        np.testing.assert_array_equal(grads[0], [0.5, -1.0, 2.0])


def test_lr_argument_overrides_the_rule_rate() -> None:
    rule = SGD(lr=0.1)
    p = [np.array([1.0])]
    state = rule.init(p)
    rule.step(p, [np.array([1.0])], state, lr=0.5)
    rule.step(p, [np.array([1.0])], state)
    assert p[0][0] == pytest.approx(1.0 - 0.5 - 0.1, abs=1e-15)


# ------------------------------------------------------------------ names and configs


@pytest.mark.parametrize("name", RULES)
def test_config_rebuilds_the_rule_through_json(name: str) -> None:
    rule = make_rule(name)
    again = make_rule(**json.loads(json.dumps(rule.config())))
    assert again == rule
    assert type(again) is type(rule)


def test_presets() -> None:
    assert RULES == ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
    assert make_rule("momentum") == SGD(momentum=0.9)
    assert make_rule("nesterov", lr=0.1) == SGD(lr=0.1, momentum=0.9, nesterov=True)
    assert make_rule("adamw").weight_decay == 0.01  # PyTorch's default for AdamW
    assert make_rule("adam", betas=[0.8, 0.9]).betas == (0.8, 0.9)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SGD(lr=-1), "SGD: lr must be a number >= 0; got -1."),
        (lambda: SGD(momentum=1.0), "SGD: momentum must be a number in [0, 1); got 1.0."),
        (lambda: SGD(dampening=2), "SGD: dampening must be a number in [0, 1]; got 2."),
        (
            lambda: SGD(nesterov=True),
            "SGD: nesterov=True needs momentum > 0 and dampening = 0; got momentum=0, dampening=0.",
        ),
        (
            lambda: SGD(momentum=0.9, dampening=0.1, nesterov=True),
            "SGD: nesterov=True needs momentum > 0 and dampening = 0; "
            "got momentum=0.9, dampening=0.1.",
        ),
        (lambda: SGD(nesterov="yes"), "SGD: nesterov must be True or False; got 'yes'."),
        (lambda: Adagrad(eps=float("nan")), "Adagrad: eps must be a number >= 0; got nan."),
        (
            lambda: Adagrad(initial_accumulator_value=-1),
            "Adagrad: initial_accumulator_value must be a number >= 0; got -1.",
        ),
        (lambda: RMSprop(alpha=1.5), "RMSprop: alpha must be a number in [0, 1); got 1.5."),
        (
            lambda: Adam(betas=(0.9, 1.0)),
            "Adam: betas must be a pair of numbers in [0, 1); got (0.9, 1.0).",
        ),
        (lambda: Adam(betas=0.9), "Adam: betas must be a pair of numbers in [0, 1); got 0.9."),
        (lambda: AdamW(weight_decay=-0.1), "AdamW: weight_decay must be a number >= 0; got -0.1."),
        (lambda: Adam(amsgrad=1), "Adam: amsgrad must be True or False; got 1."),
        (
            lambda: make_rule("adamax"),
            "make_rule: name must be one of sgd, momentum, nesterov, adagrad, rmsprop, adam, "
            "adamw; got 'adamax'.",
        ),
        (
            lambda: make_rule("adam", momentum=0.9),
            "Adam: no hyperparameter momentum; it takes amsgrad, betas, eps, lr, weight_decay.",
        ),
        (
            lambda: Adam().init([np.zeros(3, np.int64)]),
            "Adam: parameter 0 is int64; parameters must be float32 or float64 NumPy arrays "
            "(updated in place).",
        ),
        (
            lambda: SGD().init([np.zeros(3), [1.0, 2.0]]),
            "SGD: parameter 1 is list; parameters must be float32 or float64 NumPy arrays "
            "(updated in place).",
        ),
    ],
)
def test_bad_hyperparameters_are_refused_with_a_clear_message(
    build: Callable[[], Any], message: str
) -> None:
    with pytest.raises(UsageError) as err:
        build()
    assert str(err.value) == message


def test_step_refuses_lists_that_do_not_match_the_state() -> None:
    rule = Adam()
    state = rule.init([np.zeros(3), np.zeros(2)])
    with pytest.raises(
        ValueError, match=r"Adam\.step: 1 parameters and 1 gradients for a state made for 2\."
    ):
        rule.step([np.zeros(3)], [np.zeros(3)], state)


def _saved_adam() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    params = [np.zeros((2, 2)), np.zeros(3)]
    return Adam().init(params).state_dict()


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda a, s: (a, {**s, "rule": "sgd"}),
            "optimizer state: saved for rule 'sgd', not 'adam'.\n"
            "Resume with the update rule the run was saved with.",
        ),
        (
            lambda a, s: (a, {**s, "step": -1}),
            "optimizer state: step must be an integer >= 0; got -1.",
        ),
        (
            lambda a, s: (a, {**s, "step": 2.5}),
            "optimizer state: step must be an integer >= 0; got 2.5.",
        ),
        (
            lambda a, s: ({k: v for k, v in a.items() if k != "exp_avg.1"}, s),
            "optimizer state: missing exp_avg.1 (a adam state for 2 parameter arrays has "
            "exp_avg.0, exp_avg.1, exp_avg_sq.0, exp_avg_sq.1).\n"
            "Was it saved with other flags or for other parameters?",
        ),
        (
            lambda a, s: ({**a, "max_exp_avg_sq.0": a["exp_avg.0"]}, s),
            "optimizer state: unexpected max_exp_avg_sq.0 (a adam state for 2 parameter arrays "
            "has exp_avg.0, exp_avg.1, exp_avg_sq.0, exp_avg_sq.1).\n"
            "Was it saved with other flags or for other parameters?",
        ),
        (
            lambda a, s: ({**a, "exp_avg.1": np.zeros(4)}, s),
            "optimizer state: exp_avg.1 is float64 of shape (4,), but parameter 1 is float64 "
            "of shape (3,).",
        ),
        (
            lambda a, s: ({**a, "exp_avg_sq.0": np.zeros((2, 2), np.float32)}, s),
            "optimizer state: exp_avg_sq.0 is float32 of shape (2, 2), but parameter 0 is "
            "float64 of shape (2, 2).",
        ),
    ],
)
def test_loading_a_state_that_does_not_fit_is_refused(
    tamper: Callable[[Any, Any], Any], message: str
) -> None:
    arrays, scalars = tamper(*_saved_adam())
    state = Adam().init([np.zeros((2, 2)), np.zeros(3)])
    with pytest.raises(DataError) as err:
        state.load_state_dict(arrays, scalars)
    assert str(err.value) == message
    assert state.step == 0  # nothing half-loaded


# ------------------------------------------------------------------ the stable rate


@pytest.mark.parametrize(
    "rule",
    [
        SGD(lr=1.0),
        SGD(lr=1.0, weight_decay=0.5),
        SGD(lr=1.0, momentum=0.9),
        SGD(lr=1.0, momentum=0.5, dampening=0.5),
        SGD(lr=1.0, momentum=0.9, nesterov=True),
        SGD(lr=1.0, momentum=0.3, nesterov=True, weight_decay=0.2),
    ],
    ids=repr,
)
def test_max_stable_lr_separates_converging_from_diverging(rule: SGD) -> None:
    curvature = 3.0
    bound = rule.max_stable_lr(curvature)
    assert bound is not None

    def end(lr: float) -> float:
        p = [np.array([1.0])]
        state = rule.init(p)
        for _ in range(3000):
            rule.step(p, [curvature * p[0]], state, lr=lr)
            if abs(p[0][0]) > 1e6:
                break
        return abs(float(p[0][0]))

    assert end(0.97 * bound) < 1e-3
    assert end(1.03 * bound) > 1e3


@pytest.mark.parametrize("name", ["adagrad", "rmsprop", "adam", "adamw"])
def test_adaptive_rules_have_no_stable_rate(name: str) -> None:
    assert make_rule(name).max_stable_lr(3.0) is None
