"""Learning-rate schedules: the rate as a function of the step (or epoch) count.

Each schedule is a small immutable object with one method, ``lr_at(t)``: the rate to use
for the step (or epoch) numbered ``t = 0, 1, 2, ...``. It is a pure function of ``t``, so
it needs no state of its own: resuming at step ``t`` needs only ``t``::

    schedule = CosineAnnealingLR(lr=0.1, T_max=100)
    for t in range(100):
        rule.step(params, grads(params), state, lr=schedule.lr_at(t))

Each matches the ``torch.optim.lr_scheduler`` class of the same name: ``lr_at(t)`` is the
rate PyTorch's optimizer uses after ``t`` calls of ``scheduler.step()``
(``tests/test_schedules.py`` checks this). PyTorch's schedulers work on the optimizer's
rate in place; here the schedule holds its base rate ``lr`` itself (``max_lr`` for
:class:`OneCycleLR`).

Whether ``t`` counts epochs or optimizer steps is the caller's choice, as in PyTorch, but
each schedule's parameters are meant in one of them; each docstring says which.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from numbers import Integral, Real
from typing import Any, ClassVar

from gradlab.errors import UsageError
from gradlab.params import Constraint, Interval, Options, Predicate, validate

__all__ = [
    "SCHEDULES",
    "Constant",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LinearLR",
    "OneCycleLR",
    "Schedule",
    "SequentialLR",
    "StepLR",
    "make_schedule",
]

_RATE = Interval(Real, 0, None)
_COUNT = Interval(Integral, 1, None)


@dataclass(frozen=True)
class Schedule:
    """Base class: hyperparameters validated on construction; ``lr_at`` in subclasses."""

    name: ClassVar[str]
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]]

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        validate(self.CONSTRAINTS, values, type(self).__name__)

    def lr_at(self, t: int) -> float:
        """The learning rate for step (or epoch) ``t = 0, 1, ...``."""
        raise NotImplementedError

    @property
    def base_lr(self) -> float:
        """The rate a PyTorch optimizer driven by this schedule is built with."""
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's arguments, JSON-able."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def config(self) -> dict[str, Any]:
        """``{"name": ..., **hyperparameters}``: :func:`make_schedule` ``(**config)``
        rebuilds it."""
        return {"name": self.name, **self.hyperparameters()}

    def _check_t(self, t: int) -> None:
        if isinstance(t, bool) or not isinstance(t, Integral) or t < 0:
            raise UsageError(f"{type(self).__name__}.lr_at: t must be an integer >= 0; got {t!r}.")


@dataclass(frozen=True)
class Constant(Schedule):
    """The same rate at every step: ``lr_at(t) = lr``. (PyTorch: no scheduler.)

    Parameters
    ----------
    lr : float >= 0
    """

    name: ClassVar[str] = "constant"
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]] = {"lr": _RATE}
    lr: float

    @property
    def base_lr(self) -> float:
        return self.lr

    def lr_at(self, t: int) -> float:
        self._check_t(t)
        return self.lr


@dataclass(frozen=True)
class StepLR(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs::

        lr_at(t) = lr * gamma ** (t // step_size)

    ``t`` counts epochs (PyTorch calls ``scheduler.step()`` once per epoch).

    Parameters
    ----------
    lr : float >= 0
    step_size : int >= 1
    gamma : float >= 0, default 0.1
    """

    name: ClassVar[str] = "step"
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "lr": _RATE,
        "step_size": _COUNT,
        "gamma": Interval(Real, 0, None),
    }
    lr: float
    step_size: int
    gamma: float = 0.1

    @property
    def base_lr(self) -> float:
        return self.lr

    def lr_at(self, t: int) -> float:
        self._check_t(t)
        return self.lr * self.gamma ** (t // self.step_size)


@dataclass(frozen=True)
class ExponentialLR(Schedule):
    """Multiply the rate by ``gamma`` every epoch::

        lr_at(t) = lr * gamma ** t

    ``t`` counts epochs.

    Parameters
    ----------
    lr : float >= 0
    gamma : float >= 0
    """

    name: ClassVar[str] = "exponential"
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "lr": _RATE,
        "gamma": Interval(Real, 0, None),
    }
    lr: float
    gamma: float

    @property
    def base_lr(self) -> float:
        return self.lr

    def lr_at(self, t: int) -> float:
        self._check_t(t)
        return self.lr * self.gamma**t


@dataclass(frozen=True)
class CosineAnnealingLR(Schedule):
    """Half a cosine from ``lr`` down to ``eta_min`` over ``T_max`` epochs::

        lr_at(t) = eta_min + (lr - eta_min) * (1 + cos(pi * t / T_max)) / 2

    ``t`` counts epochs. Past ``T_max`` the cosine climbs back up (period ``2 * T_max``),
    as PyTorch's does.

    Parameters
    ----------
    lr : float >= 0
    T_max : int >= 1
    eta_min : float >= 0, default 0
    """

    name: ClassVar[str] = "cosine"
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "lr": _RATE,
        "T_max": _COUNT,
        "eta_min": _RATE,
    }
    lr: float
    T_max: int
    eta_min: float = 0.0

    @property
    def base_lr(self) -> float:
        return self.lr

    def lr_at(self, t: int) -> float:
        self._check_t(t)
        return (
            self.eta_min + (self.lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
        )


@dataclass(frozen=True)
class LinearLR(Schedule):
    """Linear warm-up (or decay): the rate's factor goes in a straight line from
    ``start_factor`` to ``end_factor`` over ``total_iters`` epochs, then stays::

        lr_at(t) = lr * (start_factor + (end_factor - start_factor) * min(t, total_iters)
                                        / total_iters)

    ``t`` counts epochs (or steps, for a warm-up over the first batches).

    Parameters
    ----------
    lr : float >= 0
    start_factor : float in (0, 1], default 1/3
    end_factor : float in [0, 1], default 1
    total_iters : int >= 1, default 5
    """

    name: ClassVar[str] = "warmup"
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "lr": _RATE,
        "start_factor": Interval(Real, 0, 1, closed="right"),
        "end_factor": Interval(Real, 0, 1),
        "total_iters": _COUNT,
    }
    lr: float
    start_factor: float = 1.0 / 3
    end_factor: float = 1.0
    total_iters: int = 5

    @property
    def base_lr(self) -> float:
        return self.lr

    def lr_at(self, t: int) -> float:
        self._check_t(t)
        span = self.end_factor - self.start_factor
        return self.lr * (self.start_factor + span * min(t, self.total_iters) / self.total_iters)


@dataclass(frozen=True)
class OneCycleLR(Schedule):
    """The one-cycle policy: warm up from ``max_lr / div_factor`` to ``max_lr`` over the
    first ``pct_start`` of the steps, then anneal to ``max_lr / div_factor /
    final_div_factor`` by the last one. With ``three_phase``, come back down to the
    starting rate symmetrically first, then anneal.

    Each phase goes from a rate ``a`` to ``b`` as its fraction ``x`` of steps goes 0 -> 1::

        cos:     b + (a - b) * (1 + cos(pi * x)) / 2
        linear:  a + (b - a) * x

    with the phases ending at steps ``pct_start * total_steps - 1`` (and ``2 * pct_start *
    total_steps - 2`` for three phases) and ``total_steps - 1``, exactly as PyTorch's.

    ``t`` counts optimizer steps (batches): ``total_steps`` is epochs times batches per
    epoch, and ``lr_at`` is defined for ``t <= total_steps``. PyTorch's momentum cycling is
    not reproduced: the PyTorch equivalent is ``OneCycleLR(..., cycle_momentum=False)``.

    Parameters
    ----------
    max_lr : float > 0
    total_steps : int >= 1
    pct_start : float in (0, 1), default 0.3
    anneal_strategy : {"cos", "linear"}, default "cos"
    div_factor : float > 0, default 25
    final_div_factor : float > 0, default 1e4
    three_phase : bool, default False
    """

    name: ClassVar[str] = "onecycle"
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "max_lr": Interval(Real, 0, None, closed="neither"),
        "total_steps": _COUNT,
        "pct_start": Interval(Real, 0, 1, closed="neither"),
        "anneal_strategy": Options(("cos", "linear")),
        "div_factor": Interval(Real, 0, None, closed="neither"),
        "final_div_factor": Interval(Real, 0, None, closed="neither"),
        "three_phase": Options((True, False)),
    }
    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        ends = [end for end, _, _ in self._phases()]
        starts = [0.0, *ends[:-1]]
        if any(e == s for s, e in zip(starts, ends, strict=True)):
            raise UsageError(
                f"OneCycleLR: pct_start={self.pct_start:g} with total_steps={self.total_steps} "
                "makes a phase of zero steps; choose another pct_start."
            )

    @property
    def base_lr(self) -> float:
        return self.max_lr / self.div_factor

    def _phases(self) -> list[tuple[float, float, float]]:
        """(last step, start rate, end rate) of each phase."""
        start = self.max_lr / self.div_factor
        low = start / self.final_div_factor
        up = float(self.pct_start * self.total_steps) - 1
        if self.three_phase:
            down = float(2 * self.pct_start * self.total_steps) - 2
            return [(up, start, self.max_lr), (down, self.max_lr, start),
                    (self.total_steps - 1, start, low)]  # fmt: skip
        return [(up, start, self.max_lr), (self.total_steps - 1, self.max_lr, low)]

    def lr_at(self, t: int) -> float:
        self._check_t(t)
        if t > self.total_steps:
            raise UsageError(
                f"OneCycleLR.lr_at: t must be <= total_steps ({self.total_steps}); got {t}."
            )
        phases = self._phases()
        begin = 0.0
        for i, (end, a, b) in enumerate(phases):
            if t <= end or i == len(phases) - 1:
                x = (t - begin) / (end - begin)
                if self.anneal_strategy == "cos":
                    return b + (a - b) / 2.0 * (math.cos(math.pi * x) + 1)
                return (b - a) * x + a
            begin = end
        raise AssertionError("unreachable: the last phase always matches")


def _is_schedule_list(v: Any) -> bool:
    return len(v) >= 1 and all(isinstance(s, Schedule) and not isinstance(s, OneCycleLR) for s in v)


def _is_milestones(v: Any) -> bool:
    ints = [x for x in v if _COUNT.accepts(x)]
    return len(ints) == len(v) and ints == sorted(set(ints))


@dataclass(frozen=True)
class SequentialLR(Schedule):
    """One schedule after another: ``schedules[i]`` runs from ``milestones[i - 1]``,
    restarted at its own ``t = 0`` there (PyTorch's ``SequentialLR``)::

        lr_at(t) = schedules[i].lr_at(t - milestones[i - 1]),  i = number of milestones <= t

    A linear warm-up and then a cosine, say, over 100 epochs::

        SequentialLR([LinearLR(0.1, start_factor=0.01, total_iters=5),
                      CosineAnnealingLR(0.1, T_max=95)], milestones=[5])

    ``t`` counts what the schedules count. In PyTorch every schedule works from the
    optimizer's one base rate, so all of them must have the same ``lr``.

    Parameters
    ----------
    schedules : sequence of Schedule
        Not :class:`OneCycleLR`, which sets its own rates.
    milestones : sequence of int
        Increasing, ``len(schedules) - 1`` of them, each >= 1.
    """

    name: ClassVar[str] = "sequential"
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "schedules": Predicate(
            _is_schedule_list, "a non-empty sequence of schedules (not OneCycleLR)"
        ),
        "milestones": Predicate(_is_milestones, "an increasing sequence of integers >= 1"),
    }
    schedules: Sequence[Schedule]
    milestones: Sequence[int]

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "schedules", tuple(self.schedules))
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        if len(self.milestones) != len(self.schedules) - 1:
            raise UsageError(
                f"SequentialLR: milestones must number one fewer than schedules; got "
                f"{len(self.milestones)} milestones for {len(self.schedules)} schedules."
            )
        rates = {s.base_lr for s in self.schedules}
        if len(rates) > 1:
            raise UsageError(
                "SequentialLR: every schedule must start from the same lr; got "
                f"{', '.join(f'{s.base_lr:g}' for s in self.schedules)}."
            )

    @property
    def base_lr(self) -> float:
        return self.schedules[0].base_lr

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "schedules": [s.config() for s in self.schedules],
            "milestones": list(self.milestones),
        }

    def lr_at(self, t: int) -> float:
        self._check_t(t)
        i = bisect_right(self.milestones, t)
        begin = self.milestones[i - 1] if i else 0
        return self.schedules[i].lr_at(t - begin)


# ------------------------------------------------------------------ names

_CLASSES: dict[str, type[Schedule]] = {
    c.name: c for c in (Constant, StepLR, ExponentialLR, CosineAnnealingLR, LinearLR, OneCycleLR)
}

#: The schedules by name, for the CLI's choices and for checkpoints (``warmup`` is
#: :class:`LinearLR`). :class:`SequentialLR` (``"sequential"``) is built from them and is
#: not in this list.
SCHEDULES: tuple[str, ...] = tuple(_CLASSES)
_CLASSES["sequential"] = SequentialLR


def make_schedule(name: str, **hyperparameters: Any) -> Schedule:
    """The schedule called ``name`` (one of :data:`SCHEDULES`, or ``"sequential"`` with
    ``schedules`` given as configs); ``make_schedule(**schedule.config())`` rebuilds it.

    Raises
    ------
    UsageError
        An unknown name, an unknown hyperparameter, or a bad value.
    """
    if name not in _CLASSES:
        raise UsageError(
            f"make_schedule: name must be one of {', '.join(SCHEDULES)}; got {name!r}."
        )
    cls = _CLASSES[name]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(hyperparameters) - known)
    if unknown:
        raise UsageError(
            f"{cls.__name__}: no hyperparameter {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(known))}."
        )
    missing = [
        f.name
        for f in fields(cls)
        if f.init
        and f.name not in hyperparameters
        and f.default is MISSING
        and f.default_factory is MISSING
    ]
    if missing:
        raise UsageError(
            f"{cls.__name__}: {', '.join(missing)} must be given; "
            f"{'it has' if len(missing) == 1 else 'they have'} no default.",
            hint=f"For example: make_schedule({name!r}, lr=..., "
            + ", ".join(f"{m}=..." for m in missing if m != "lr")
            + ").",
        )
    if cls is SequentialLR and "schedules" in hyperparameters:
        subs = hyperparameters["schedules"]
        hyperparameters["schedules"] = [
            s if isinstance(s, Schedule) else make_schedule(**s) for s in subs
        ]
    return cls(**hyperparameters)
