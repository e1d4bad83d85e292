"""A schedule named, built once a run's rate and length are known: :class:`ScheduleSpec`.

``ScheduleSpec("cosine")(lr, steps)`` is the :class:`~gradlab.optim.schedules.Schedule` of
a run of ``steps`` optimizer steps starting at ``lr``. ``gradlab linreg --schedule cosine``
and ``gradlab descend`` build one from their flags; the linear models build one from
``schedule="cosine"`` or ``schedule={"name": "cosine", "min_lr": 1e-4}``. Every option
counts optimizer steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gradlab.errors import UsageError
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
)

#: A warm-up starts from this fraction of the rate.
WARMUP_START = 0.1
#: Without ``gamma``, an exponential schedule falls this much over the run.
EXPONENTIAL_FALL = 0.01
#: Which schedules each option applies to.
APPLIES: Mapping[str, tuple[str, ...]] = {
    "gamma": ("step", "exponential"),
    "step_size": ("step",),
    "min_lr": ("cosine",),
    "pct_start": ("onecycle",),
    "warmup_steps": ("constant", "step", "exponential", "cosine", "warmup"),
}


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule by name and options, built once a run's rate and length are known:
    ``spec(lr, steps)`` is the :class:`~gradlab.optim.schedules.Schedule`.

    ========== ==================================================================
    name       built as, over ``steps`` optimizer steps from ``lr``
    ========== ==================================================================
    constant   ``lr`` at every step
    step       times ``gamma`` (0.1) every ``step_size`` steps (a third of the run)
    exponential times ``gamma`` every step (the rate falls 100-fold over the run)
    cosine     half a cosine from ``lr`` down to ``min_lr`` (0)
    warmup     from 0.1 ``lr`` up to ``lr`` over ``warmup_steps`` (a tenth of the
               run), then constant
    onecycle   up to ``lr`` over ``pct_start`` (0.3) of the run, then down to nearly 0
    ========== ==================================================================

    ``warmup_steps`` puts a linear warm-up before any schedule but onecycle.

    Parameters
    ----------
    name : str
        One of :data:`gradlab.optim.schedules.SCHEDULES`.
    gamma, step_size, warmup_steps, min_lr, pct_start : optional
        The options above (each applies to the schedules :data:`APPLIES` lists).
    flags : bool
        Name the options as command-line flags (``--min-lr``) in messages, rather than
        as keys (``min_lr``).
    """

    name: str
    gamma: float | None = None
    step_size: int | None = None
    warmup_steps: int | None = None
    min_lr: float | None = None
    pct_start: float | None = None
    flags: bool = field(default=False, compare=False, repr=False)

    @classmethod
    def of(cls, value: str | Mapping[str, Any], owner: str = "") -> ScheduleSpec:
        """A spec from a name or a dict ``{"name": ..., **options}``, checked.

        Raises
        ------
        UsageError
            An unknown name or option, or an option that does not apply to the schedule;
            the message names ``owner`` (``"LinearRegression: schedule ..."``).
        """
        who = f"{owner}: " if owner else ""
        options = {"name": value} if isinstance(value, str) else dict(value)
        name = options.pop("name", None)
        if name is None:
            raise UsageError(
                f'{who}schedule {options!r} names no schedule; give its "name" '
                f"({', '.join(SCHEDULES)})."
            )
        if name not in SCHEDULES:
            raise UsageError(
                f"{who}schedule {name!r} is not a schedule; choose one of: {', '.join(SCHEDULES)}."
            )
        unknown = sorted(set(options) - set(APPLIES))
        if unknown:
            own = [key for key, applies in APPLIES.items() if name in applies]
            takes = (
                f"its options are {', '.join(own)}"
                if len(own) > 1
                else f"its one option is {own[0]}"
            )
            raise UsageError(f"{who}schedule {name!r} takes no option {unknown[0]!r}; {takes}.")
        spec = cls(name, **options)
        spec.check(owner)
        return spec

    def option(self, key: str) -> str:
        """How a message names option ``key``: ``--min-lr`` or ``min_lr``."""
        return "--" + key.replace("_", "-") if self.flags else key

    def check(self, owner: str = "") -> None:
        """Refuse an option given for a schedule it does not apply to (``gamma`` with
        ``cosine``, say); the message names both."""
        who = f"{owner}: " if owner else ""
        prefix = "--schedule " if self.flags else "schedule "
        for key, applies in APPLIES.items():
            if getattr(self, key) is not None and self.name not in applies:
                raise UsageError(
                    f"{who}{self.option(key)} applies to {prefix}{' or '.join(applies)}, "
                    f"not to {prefix}{self.name}.",
                    hint="Leave it out, or choose a schedule it applies to.",
                )

    def __call__(self, lr: float, steps: int) -> Schedule:
        if self.name == "onecycle":
            pct = 0.3 if self.pct_start is None else self.pct_start
            if round(pct * steps) < 2 or steps - round(pct * steps) < 2:
                what = "--schedule onecycle" if self.flags else "schedule 'onecycle'"
                raise UsageError(
                    f"{what} needs at least 2 steps rising and 2 falling; "
                    f"{self.option('pct_start')} {pct:g} of {steps} steps leaves too few.",
                    hint=f"Give more steps, or another {self.option('pct_start')}.",
                )
            return OneCycleLR(lr, total_steps=steps, pct_start=pct)
        warm = self.warmup_steps
        if warm is None and self.name == "warmup":
            warm = max(1, steps // 10)
        if warm is not None and warm >= steps:
            raise UsageError(
                f"{self.option('warmup_steps')} {warm} leaves nothing of a run of {steps} "
                "steps; give fewer warm-up steps than the run has."
            )
        rest = steps - (warm or 0)
        main: Schedule
        if self.name == "step":
            size = max(1, -(-rest // 3)) if self.step_size is None else self.step_size
            main = StepLR(lr, step_size=size, gamma=0.1 if self.gamma is None else self.gamma)
        elif self.name == "exponential":
            gamma = EXPONENTIAL_FALL ** (1 / max(rest - 1, 1)) if self.gamma is None else self.gamma
            main = ExponentialLR(lr, gamma=gamma)
        elif self.name == "cosine":
            eta_min = self.min_lr or 0.0
            if eta_min >= lr:
                raise UsageError(
                    f"{self.option('min_lr')} {eta_min:g} is not below the rate {lr:g}; "
                    "cosine would not fall."
                )
            main = CosineAnnealingLR(lr, T_max=max(rest - 1, 1), eta_min=eta_min)
        else:  # constant, warmup
            main = Constant(lr)
        if warm is None:
            return main
        ramp = LinearLR(lr, start_factor=WARMUP_START, total_iters=warm)
        if self.name == "warmup":
            return ramp  # LinearLR stays at the full rate after its warm-up
        return SequentialLR([ramp, main], milestones=[warm])

    def describe(self) -> dict[str, Any]:
        """The options given, for ``--json``."""
        return {k: v for k, v in self.__dict__.items() if v is not None and k != "flags"}
