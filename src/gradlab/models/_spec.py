"""The classifiers' hyperparameters: each model's defaults and the one table that checks them.

This module imports neither scikit-learn nor any engine, so that the command line (which
must start quickly), the checkpoint schema and the estimators all read the same
defaults and the same rules: the estimators' signatures take their defaults from
:data:`DEFAULTS`, ``gradlab train`` shows and uses them, and a checkpoint's stored
hyperparameters are checked against :data:`CONSTRAINTS`.

Two models share everything but their defaults:

========= =================== ============ ===== ======== ======== =========
kind      estimator           hidden       batch momentum init     (others)
========= =================== ============ ===== ======== ======== =========
softmax   SoftmaxRegression   (none)       256   0        normal   as below
mlp       MLPClassifier       (200, 200)   200   0.9      kaiming  as below
========= =================== ============ ===== ======== ======== =========

Both: ``lr="auto", epochs=10, optimizer="sgd", schedule="constant", init_std=0.01,
early_stopping=False, validation_fraction=0.1, n_iter_no_change=3, tol=1e-4,
engine="auto", device="auto", dtype="float32", cpu_threads="auto", n_procs=1,
random_state=0``.

``lr="auto"`` is the rate of :data:`RATES` for the model and the optimizer (0.1 for
softmax regression and 0.05 for the MLP with SGD, as before there were optimizers to
choose). :func:`resolve_optimizer` and :func:`resolve_schedule` turn the
hyperparameters into the :mod:`gradlab.optim` rule and schedule a fit uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any

from gradlab.errors import UsageError
from gradlab.optim.rules import RULES, SGD, Rule, make_rule
from gradlab.optim.schedules import (
    SCHEDULES,
    Constant,
    LinearLR,
    OneCycleLR,
    Schedule,
    SequentialLR,
    StepLR,
    make_schedule,
)
from gradlab.params import (
    CLASSIFIER_ENGINES,
    DEVICES,
    MAX_EPOCHS,
    MAX_THREADS,
    MAX_WIDTH,
    RANDOM_STATE,
    Constraint,
    Interval,
    Options,
    Predicate,
    validate,
)

#: The two models, by the name the command line uses.
KINDS: tuple[str, ...] = ("softmax", "mlp")
#: The estimator class of each kind (for messages and checkpoints).
ESTIMATORS: Mapping[str, str] = MappingProxyType(
    {"softmax": "SoftmaxRegression", "mlp": "MLPClassifier"}
)
#: The precisions of training: float64 (torch engine) shows data-parallel training to be
#: the same mini-batch SGD to rounding.
DTYPES: tuple[str, ...] = ("float32", "float64")
#: Weight initialisations: Kaiming-normal (std sqrt(2 / fan_in), for ReLU), or normal
#: with std ``init_std`` (the tutorial's 0.01).
INITS: tuple[str, ...] = ("kaiming", "normal")

_COMMON: dict[str, Any] = {
    "epochs": 10,
    "init_std": 0.01,
    "early_stopping": False,
    "validation_fraction": 0.1,
    "n_iter_no_change": 3,
    "tol": 1e-4,
    "engine": "auto",
    "device": "auto",
    "dtype": "float32",
    "cpu_threads": "auto",
    "n_procs": 1,
    "random_state": 0,
}


def _model(**own: Any) -> Mapping[str, Any]:
    return MappingProxyType(
        {
            **own,
            "init_std": _COMMON["init_std"],
            **{k: v for k, v in _COMMON.items() if k not in own and k != "init_std"},
        }
    )


#: Each model's constructor parameters and their defaults, in signature order.
DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "softmax": _model(
            lr="auto",
            epochs=_COMMON["epochs"],
            batch_size=256,
            momentum=0.0,
            optimizer="sgd",
            schedule="constant",
            init="normal",
        ),
        "mlp": _model(
            hidden=(200, 200),
            lr="auto",
            epochs=_COMMON["epochs"],
            batch_size=200,
            momentum=0.9,
            optimizer="sgd",
            schedule="constant",
            init="kaiming",
        ),
    }
)

#: ``lr="auto"``: the rate for each model and optimizer name. SGD's are the tutorial's
#: (softmax regression) and the MLP's long-standing default (with its momentum 0.9);
#: the adaptive rules take PyTorch's defaults but RMSProp, whose 1e-2 makes each first
#: step move every weight by up to 10 lr = 0.1 (docs/optimizers.md): 1e-3 here.
RATES: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "softmax": MappingProxyType(
            {
                "sgd": 0.1,
                "momentum": 0.01,
                "nesterov": 0.01,
                "adagrad": 0.1,
                "rmsprop": 1e-3,
                "adam": 1e-3,
                "adamw": 1e-3,
            }
        ),
        "mlp": MappingProxyType(
            {
                "sgd": 0.05,
                "momentum": 0.05,
                "nesterov": 0.05,
                "adagrad": 0.01,
                "rmsprop": 1e-3,
                "adam": 1e-3,
                "adamw": 1e-3,
            }
        ),
    }
)

#: Keys a schedule given as a dict may hold besides the schedule's own hyperparameters.
SCHEDULE_EXTRAS = ("warmup_steps",)


def _is_widths(value: Any) -> bool:
    """A sequence (a tuple, a list, a 1-D array) of layer widths. Not an iterator, which
    checking would use up, nor a set or a mapping, which have no order of layers."""
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__getitem__"):
        return False
    if not hasattr(value, "__len__") or getattr(value, "ndim", 1) != 1:
        return False
    return all(
        isinstance(h, Integral) and not isinstance(h, bool) and 1 <= int(h) <= MAX_WIDTH
        for h in value
    )


def _is_schedule_spec(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("name") in (*SCHEDULES, "sequential")


#: What each hyperparameter may be (see :mod:`gradlab.params`).
CONSTRAINTS: Mapping[str, Constraint | list[Constraint]] = MappingProxyType(
    {
        "hidden": Predicate(
            _is_widths, f"a sequence of layer widths, each an integer from 1 to {MAX_WIDTH:,}"
        ),
        "lr": [
            Interval(Real, 0, None, closed="neither"),
            Predicate(lambda v: isinstance(v, str) and v == "auto", "'auto'"),
        ],
        "epochs": Interval(Integral, 1, MAX_EPOCHS),
        "batch_size": Interval(Integral, 1, None),
        "momentum": Interval(Real, 0, 1, closed="left"),
        "optimizer": [
            Options(RULES),
            Predicate(lambda v: isinstance(v, Rule), "a gradlab.optim rule (Adam(), ...)"),
        ],
        "schedule": [
            Options(SCHEDULES),
            Predicate(_is_schedule_spec, 'a dict {"name": <schedule>, ...}'),
            Predicate(lambda v: isinstance(v, Schedule), "a gradlab.optim schedule"),
        ],
        "init": Options(INITS),
        "init_std": Interval(Real, 0, None, closed="neither"),
        "early_stopping": Options((True, False)),
        "validation_fraction": Interval(Real, 0, 1, closed="neither"),
        "n_iter_no_change": Interval(Integral, 1, None),
        "tol": Interval(Real, 0, None),
        "engine": Options(CLASSIFIER_ENGINES),
        "device": Options(DEVICES),
        "dtype": Options(DTYPES),
        "cpu_threads": [Options(("auto",)), Interval(Integral, 1, MAX_THREADS), None],
        "n_procs": Interval(Integral, 1, None),
        "random_state": RANDOM_STATE,
    }
)


def check_hyperparameters(kind: str, params: Mapping[str, Any]) -> None:
    """Raise a :class:`~gradlab.errors.UsageError` naming the first bad value in ``params``.

    The message reads ``MLPClassifier: lr must be a number > 0; got -1.``
    """
    validate(CONSTRAINTS, params, ESTIMATORS[kind])


# ------------------------------------------------------------------ optimizer and schedule


def _schedule_rate(schedule: Any) -> float | None:
    """The base rate a schedule carries itself (a Schedule, or a dict with ``lr`` or
    ``max_lr``), or None."""
    if isinstance(schedule, OneCycleLR):
        return float(schedule.max_lr)
    if isinstance(schedule, SequentialLR):
        return _schedule_rate(schedule.schedules[0])
    if isinstance(schedule, Schedule):
        return float(schedule.base_lr)
    if isinstance(schedule, Mapping):
        if schedule.get("name") == "sequential" and schedule.get("schedules"):
            return _schedule_rate(schedule["schedules"][0])
        for key in ("lr", "max_lr"):
            if key in schedule:
                return float(schedule[key])
    return None


def base_rate(kind: str, params: Mapping[str, Any]) -> float:
    """The learning rate a fit starts from (a schedule's base rate).

    In this order: ``lr`` when it is a number; else the schedule's own rate (a Schedule,
    or a dict with ``lr``); else the optimizer's own ``lr`` (a Rule); else
    :data:`RATES` for the optimizer's name.

    Raises
    ------
    UsageError
        ``lr`` is a number and the schedule carries another rate.
    """
    lr, opt = params["lr"], params["optimizer"]
    own = _schedule_rate(params["schedule"])
    if lr != "auto":
        if own is not None and own != float(lr):
            raise UsageError(
                f"{ESTIMATORS[kind]}: lr={lr:g}, but the schedule starts from {own:g}; "
                "give the rate once (leave lr='auto' to take the schedule's)."
            )
        return float(lr)
    if own is not None:
        return own
    if isinstance(opt, Rule):
        return float(opt.lr)
    return RATES[kind][opt]


def resolve_optimizer(kind: str, params: Mapping[str, Any]) -> Rule:
    """The update rule of a fit: ``optimizer`` with :func:`base_rate` as its ``lr``.

    ``"sgd"`` is SGD with the estimator's ``momentum``; the other names are
    :func:`gradlab.optim.make_rule` presets (``"momentum"`` and ``"nesterov"`` bring their
    own momentum 0.9), and a Rule keeps its hyperparameters but the rate.
    """
    rate = base_rate(kind, params)
    opt = params["optimizer"]
    if isinstance(opt, Rule):
        return dataclasses.replace(opt, lr=rate)
    if opt == "sgd":
        return SGD(lr=rate, momentum=float(params["momentum"]))
    return make_rule(opt, lr=rate)


#: Named schedules that count optimizer steps; the others count epochs.
STEP_SCHEDULES = ("warmup", "onecycle")


def counts_steps(schedule: Schedule) -> bool:
    """Whether a schedule's ``t`` counts optimizer steps (else epochs): OneCycleLR and
    LinearLR (a warm-up) count steps, and a SequentialLR that holds either."""
    if isinstance(schedule, SequentialLR):
        return any(counts_steps(s) for s in schedule.schedules)
    return isinstance(schedule, OneCycleLR | LinearLR)


def resolve_schedule(
    kind: str, params: Mapping[str, Any], steps_per_epoch: int
) -> tuple[Schedule, bool]:
    """The schedule of a fit and whether it counts steps (else epochs).

    A name or a dict ``{"name": ..., **hyperparameters}`` is built from
    :func:`base_rate` and the run's length, each hyperparameter not given taking:

    ============ ====== ====================================================================
    name         counts built as
    ============ ====== ====================================================================
    constant     epochs ``Constant(lr)``
    step         epochs ``StepLR(lr, step_size=max(1, epochs // 3), gamma=0.1)``
    exponential  epochs ``ExponentialLR(lr, gamma=0.9)``
    cosine       epochs ``CosineAnnealingLR(lr, T_max=epochs, eta_min=0)``
    warmup       steps  ``LinearLR(lr, start_factor=1/3, total_iters=steps_per_epoch)``
    onecycle     steps  ``OneCycleLR(max_lr=lr, total_steps=epochs * steps_per_epoch)``
    ============ ====== ====================================================================

    ``warmup_steps=N`` in the dict puts a linear warm-up of ``N`` steps
    (``LinearLR(lr, total_iters=N)``) before the schedule, which then counts steps too:
    a ``step_size`` or ``T_max`` given in epochs becomes that many epochs of steps
    (``T_max`` less the warm-up), and ``exponential`` decays by ``gamma`` once per epoch's
    worth of steps (``StepLR(step_size=steps_per_epoch)``). As PyTorch's ``SequentialLR``
    runs them, these count from the warm-up's end: after a warm-up of ``N`` steps the
    decays come at steps ``N + k * step_size``, inside an epoch unless ``N`` is whole
    epochs (``history_["lr"]`` records each epoch's first rate). A Schedule object is
    used as it is.

    Raises
    ------
    UsageError
        A hyperparameter the schedule does not take, or a bad value; the message names
        the estimator and the schedule.
    """
    owner = ESTIMATORS[kind]
    spec = params["schedule"]
    if isinstance(spec, Schedule):
        return spec, counts_steps(spec)
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    if spec["name"] == "sequential":  # parts with their own rates, as a Schedule would be
        try:
            schedule = make_schedule(**spec)
        except UsageError as exc:
            raise UsageError(f"{owner}: schedule 'sequential': {exc}") from None
        return schedule, counts_steps(schedule)
    name = spec.pop("name")
    given = set(spec)
    warmup = spec.pop("warmup_steps", 0)
    epochs, spe = int(params["epochs"]), int(steps_per_epoch)
    lr = base_rate(kind, params)
    rate_key = "max_lr" if name == "onecycle" else "lr"
    spec.pop(rate_key, None)
    if not Interval(Integral, 0, None).accepts(warmup):
        raise UsageError(f"{owner}: schedule warmup_steps must be an integer >= 0; got {warmup!r}.")
    warmup = int(warmup)
    if name == "warmup" and "warmup_steps" in given and not warmup:
        raise UsageError(
            f"{owner}: the warmup schedule needs warmup_steps >= 1; got 0.",
            hint="Leave it out for a warm-up over the first epoch, or choose another schedule.",
        )
    if name == "warmup" and warmup:
        spec.setdefault("total_iters", warmup)
        warmup = 0
    if name == "onecycle" and warmup:
        raise UsageError(
            f"{owner}: the onecycle schedule warms up by itself (pct_start); "
            "leave out warmup_steps."
        )
    defaults: dict[str, dict[str, Any]] = {
        "constant": {},
        "step": {"step_size": max(1, epochs // 3), "gamma": 0.1},
        "exponential": {"gamma": 0.9},
        "cosine": {"T_max": epochs},
        "warmup": {"total_iters": spe},
        "onecycle": {"total_steps": epochs * spe},
        "sequential": {},
    }
    hp = {**defaults.get(name, {}), **spec}
    try:
        schedule = make_schedule(name, **{rate_key: lr}, **hp)  # checks every key
        if warmup:
            main = _in_steps(name, lr, hp, spe, warmup)
            ramp = LinearLR(lr, total_iters=warmup)
            return SequentialLR([ramp, main], milestones=[warmup]), True
    except UsageError as exc:
        raise UsageError(f"{owner}: schedule {name!r}: {exc}") from None
    return schedule, counts_steps(schedule) or name in STEP_SCHEDULES


def _in_steps(name: str, lr: float, hp: dict[str, Any], spe: int, warmup: int) -> Schedule:
    """The epoch schedule ``name`` restated in optimizer steps, to follow a warm-up."""
    if name == "step":
        return StepLR(lr, step_size=int(hp["step_size"]) * spe, gamma=hp["gamma"])
    if name == "exponential":
        return StepLR(lr, step_size=spe, gamma=hp["gamma"])
    if name == "cosine":
        steps = int(hp["T_max"]) * spe - warmup
        if steps < 1:
            raise UsageError(
                f"warmup_steps={warmup} leaves no steps for the cosine (T_max {hp['T_max']} "
                f"epochs of {spe} steps); choose a shorter warm-up."
            )
        return make_schedule("cosine", lr=lr, T_max=steps, eta_min=hp.get("eta_min", 0.0))
    if name == "constant":
        return Constant(lr)
    raise UsageError(f"warmup_steps cannot go before a {name} schedule.")
