"""Gradient descent on a :class:`~gradlab.functions.Function`, and the verdict on each run.

:func:`minimize` repeats ``x <- x - lr * grad f(x)`` from a starting point and
keeps the path as a :class:`Trajectory`; :func:`compare_rates` does so once per
learning rate from the same start, :func:`compare_optimizers` once per update rule.
Divergence is a result, not an error, so that runs with different rates can be
compared side by side.

The update rule is any of :mod:`gradlab.optim.rules` (``optimizer="momentum"``,
``"adam"``, ... or a :class:`~gradlab.optim.rules.Rule`), and the rate may follow a
schedule (:mod:`gradlab.optim.schedules`): the loop asks a step function
(:data:`StepFn`) for each update and judges only what comes of it, so the stopping
rules and the verdicts are the same for every rule.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Literal, cast

import numpy as np
import numpy.typing as npt

from gradlab.errors import UsageError
from gradlab.functions.function import FloatArray, Function
from gradlab.functions.parse import parse_function
from gradlab.functions.testfunctions import TEST_FUNCTIONS, TestFunction, default_rate
from gradlab.optim.rules import RULES, Rule, is_plain, make_rule
from gradlab.optim.schedules import OneCycleLR, Schedule
from gradlab.params import (
    MAX_DESCENT_STEPS,
    Constraint,
    Interval,
    Options,
    Predicate,
    validate,
    validate_one,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "MINIMIZE_CONSTRAINTS",
    "OSCILLATION_WINDOW",
    "ScheduleFactory",
    "StepFn",
    "Trajectory",
    "Verdict",
    "compare_optimizers",
    "compare_rates",
    "minimize",
    "optimizer_name",
    "plain_step",
    "rule_step",
]

Verdict = Literal["converged", "too slow", "oscillating", "diverging", "diverged"]
"""What a run of :func:`minimize` did, as :attr:`Trajectory.verdict` says it."""

#: Number of final updates :class:`Trajectory` inspects to call a run "oscillating"
#: or "diverging".
OSCILLATION_WINDOW = 20

#: Least share of a window's motion (summed ``|update|`` per coordinate) a coordinate must
#: carry for its sign flips to count as bouncing.
BOUNCE_SHARE = 0.01

#: A schedule made to measure: called with the run's rate and its number of steps, it
#: returns the :class:`~gradlab.optim.schedules.Schedule` to follow (``gradlab descend
#: --schedule cosine`` builds ``CosineAnnealingLR(lr, T_max=steps)`` this way).
ScheduleFactory = Callable[[float, int], Schedule]

_RATE = Interval(Real, 0, None, closed="neither")
_OPTIMIZER: list[Constraint] = [
    Options(RULES),
    Predicate(lambda v: isinstance(v, Rule), "a Rule from gradlab.optim.rules"),
]
_SCHEDULE: list[Constraint] = [
    Predicate(
        lambda v: isinstance(v, Schedule) or callable(v),
        "a Schedule from gradlab.optim.schedules, a function (lr, steps) -> Schedule,",
    ),
    None,
]

#: What each parameter of :func:`minimize` may be (see :mod:`gradlab.params`). ``lr`` and
#: ``steps`` may also be None, their default, which is not checked: it asks for the
#: default rate and budget.
MINIMIZE_CONSTRAINTS: dict[str, Constraint | list[Constraint]] = {
    "lr": _RATE,
    "steps": Interval(Integral, 1, MAX_DESCENT_STEPS),
    "tol": Interval(Real, 0, None),
    "explode": Interval(Real, 0, None, closed="neither"),
    "optimizer": _OPTIMIZER,
    "schedule": _SCHEDULE,
}


def _given(params: Mapping[str, object]) -> dict[str, object]:
    """``params`` without ``lr`` and ``steps`` when they are None (asking for defaults)."""
    return {k: v for k, v in params.items() if not (k in ("lr", "steps") and v is None)}


def _is_rate_list(value: object) -> bool:
    is_sequence = isinstance(value, Sequence | np.ndarray) and not isinstance(value, str)
    return is_sequence and len(value) > 0  # type: ignore[arg-type]


def _is_optimizer_list(value: object) -> bool:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) == 0:
        return False
    return all(any(c is not None and c.accepts(v) for c in _OPTIMIZER) for v in value)


#: What each parameter of :func:`compare_rates` may be; every rate is checked as ``lr``.
COMPARE_CONSTRAINTS: dict[str, Constraint | list[Constraint]] = {
    "lrs": Predicate(_is_rate_list, "a non-empty sequence of learning rates"),
    **{name: rule for name, rule in MINIMIZE_CONSTRAINTS.items() if name != "lr"},
}

#: What each parameter of :func:`compare_optimizers` may be.
RACE_CONSTRAINTS: dict[str, Constraint | list[Constraint]] = {
    "optimizers": Predicate(
        _is_optimizer_list, f"a non-empty sequence of optimizers ({', '.join(RULES)} or Rules)"
    ),
    **{name: rule for name, rule in MINIMIZE_CONSTRAINTS.items() if name != "optimizer"},
}


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The path of one gradient-descent run, and what became of it.

    Parameters
    ----------
    function : Function
        The function minimised.
    lr : float
        The learning rate: the constant rate, or a schedule's nominal one (its ``lr``,
        or ``max_lr`` for a one-cycle schedule).
    points : numpy.ndarray, shape (k + 1, n_vars)
        The iterates, the start included; only finite points are kept.
    values : numpy.ndarray, shape (k + 1,)
        ``f`` at each point.
    gradients : numpy.ndarray, shape (k + 1, n_vars)
        The gradient at each point.
    verdict : {"converged", "too slow", "oscillating", "diverging", "diverged"}
        What happened, by these rules, applied in order:

        1. ``"diverged"`` if the run stopped because an iterate, its value or its
           gradient became non-finite (infinite, or ``nan`` outside the real
           domain), an iterate exceeded ``explode`` in absolute value, or
           ``|f|`` exceeded ``explode * max(1, |f(x0)|)``.
        2. ``"converged"`` if the run stopped because an update (the step the
           rule took: ``lr * grad f(x)`` for plain descent) was shorter
           (Euclidean norm) than ``tol``. With a schedule, each update is first
           scaled to the nominal rate (times ``lr / lr_t``; every rule's step is
           proportional to its rate), so that a rate annealed to almost nothing
           is not taken for convergence.
        3. ``"diverging"`` if the steps ran out, the run oscillates (rule 4),
           each of the last :data:`OSCILLATION_WINDOW` updates is longer than the
           one before, and the last is longer than every update before the
           window: the rate is past the stable limit and more steps would blow
           up, though nothing has exceeded ``explode`` yet.
        4. ``"oscillating"`` if the steps ran out and, over the last
           :data:`OSCILLATION_WINDOW` updates, the update of some coordinate that
           carries at least :data:`BOUNCE_SHARE` of the motion changed sign on
           more than half of the consecutive pairs: the iterate bounces
           across a minimum (or between basins) instead of settling. Not if the
           bounces are dying out fast (see :attr:`settling`): momentum spiralling
           into a minimum overshoots every step on its way and still converges.
        5. ``"too slow"`` otherwise: the steps ran out while the iterate was
           still creeping in one direction, or still settling with bounces that
           halve every :data:`OSCILLATION_WINDOW` steps or faster.
    converged_at : int or None
        The step (counted from 1) whose update was shorter than ``tol``.
    diverged_at : int or None
        The step (counted from 1) that went bad; that step's point is not kept,
        so ``steps_taken == diverged_at - 1``.
    steps : int
        The step budget the run was given.
    tol : float
        The convergence tolerance the run was given.
    optimizer : str
        The update rule's name (``"sgd"`` for plain descent, ``"momentum"``,
        ``"adam"``, ...; see :func:`optimizer_name`).
    rule : Rule or None
        The rule with the hyperparameters used (its ``lr`` is the run's); None for
        a trajectory made by hand.
    schedule : Schedule or None
        The learning-rate schedule followed; None for a constant rate.
    test_function : TestFunction or None
        The built-in surface run on, when it is one: its minima are known.
    """

    function: Function
    lr: float
    points: FloatArray
    values: FloatArray
    gradients: FloatArray
    verdict: Verdict
    converged_at: int | None = None
    diverged_at: int | None = None
    steps: int = 0
    tol: float = 0.0
    optimizer: str = "sgd"
    rule: Rule | None = None
    schedule: Schedule | None = None
    test_function: TestFunction | None = None

    @property
    def x_final(self) -> FloatArray:
        """The last (finite) iterate, shape (n_vars,)."""
        return cast(FloatArray, self.points[-1])

    @property
    def f_final(self) -> float:
        """``f`` at the last iterate."""
        return float(self.values[-1])

    @property
    def steps_taken(self) -> int:
        """Number of updates kept: ``len(points) - 1``."""
        return len(self.points) - 1

    @property
    def stopped_at(self) -> int:
        """The step the run ended at: where it converged or diverged, else ``steps_taken``."""
        return self.converged_at or self.diverged_at or self.steps_taken

    @property
    def rates(self) -> FloatArray:
        """The learning rate of each update kept, shape (steps_taken,)."""
        if self.schedule is None:
            return np.full(self.steps_taken, self.lr)
        return np.array([self.schedule.lr_at(t) for t in range(self.steps_taken)])

    @property
    def settling(self) -> bool:
        """Whether the updates die out fast: the longest update of each of the last three
        windows of :data:`OSCILLATION_WINDOW` steps is under half the longest of the
        window before (``False`` for runs of fewer steps). Updates are compared at the
        nominal rate, so a schedule's falling rate does not count."""
        return _settling(_lengths(np.asarray(self.points), self.lr, self.schedule))

    @property
    def bouncing(self) -> bool:
        """Whether the last updates change direction at most steps (an overshoot each
        time), rather than keep going one way."""
        return _bouncing(np.asarray(self.points))

    @property
    def minima(self) -> FloatArray:
        """The known minima, shape (m, n_vars); empty (m = 0) for a formula typed by hand."""
        if self.test_function is None:
            return np.zeros((0, self.function.n_vars))
        return np.array(self.test_function.minima, dtype=np.float64)

    @property
    def distances(self) -> FloatArray | None:
        """Distance from each point to the nearest known minimum, shape (k + 1,); None if
        no minimum is known."""
        minima = self.minima
        if not len(minima):
            return None
        gaps = self.points[:, None, :] - minima[None, :, :]  # (k + 1, m, n_vars)
        return cast(FloatArray, np.linalg.norm(gaps, axis=2).min(axis=1))

    @property
    def label(self) -> str:
        """The rule and its rate, as a legend says it: ``"adam, lr 0.1"``, ``"sgd, lr
        0.001, cosine"``."""
        text = f"{self.optimizer}, lr {self.lr:g}"
        return text if self.schedule is None else f"{text}, {self.schedule.name}"

    def plot(self) -> Figure:
        """The path drawn on the function (a curve, or contours for two variables); see
        :func:`gradlab.viz.descent.descent_panels`.

        Returns
        -------
        gradlab.viz.figure.Figure
            A :class:`gradlab.viz.figure.Figure`: it shows itself in a notebook, and
            ``gradlab.viz.save.save_figure(fig, "descent.png")`` writes it.
        """
        from gradlab.viz.descent import descent_panels

        return descent_panels([self])


def _check_start(function: Function, x0: float | Sequence[float] | npt.ArrayLike) -> FloatArray:
    try:
        start = np.array(x0, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"x0 must be a number or a sequence of numbers, got {x0!r}") from None
    if start.ndim == 0:
        start = start.reshape(1)
    if start.ndim > 1:
        raise UsageError(
            f"x0 must be flat, one value per variable ({', '.join(function.variables)}); got "
            f"an array of shape {start.shape}"
        )
    if start.shape[0] != function.n_vars:
        raise UsageError(
            f"x0 has {start.shape[0]} value(s) but {function.text!r} is a function of "
            f"{function.variables_text}: give {function.n_vars} starting value(s), "
            f"one per variable ({', '.join(function.variables)})"
        )
    if not np.all(np.isfinite(start)):
        raise UsageError(f"x0 must be finite, got {start.tolist()}")
    return start


#: One step of an update rule: given the point ``x`` and ``grad f(x)`` (each of shape
#: ``(n_vars,)``), the update to subtract, shape ``(n_vars,)``. A rule with state
#: (momentum, Adam) is a callable object that keeps it between calls.
StepFn = Callable[[FloatArray, FloatArray], FloatArray]

_Run = tuple[list[FloatArray], list[float], list[FloatArray], int | None, int | None]


def plain_step(lr: float) -> StepFn:
    """Plain gradient descent's step: the update is ``lr * grad f(x)``."""

    def step(x: FloatArray, grad: FloatArray) -> FloatArray:
        return lr * grad

    return step


def rule_step(rule: Rule, schedule: Schedule | None = None) -> StepFn:
    """The step function of an update rule, keeping the rule's state between calls.

    Parameters
    ----------
    rule : Rule
        The update rule; its ``lr`` is the rate unless a schedule is given.
    schedule : Schedule, optional
        The rate of the ``t``-th call (``t = 0, 1, ...``) is ``schedule.lr_at(t)``.

    Returns
    -------
    StepFn
        Each call advances the rule by one step from ``x`` with gradient ``grad``, and
        returns the update taken (``x`` minus the new point). For plain SGD it is
        ``lr_t * grad``, as :func:`plain_step` computes it.
    """
    state = None
    calls = 0

    def step(x: FloatArray, grad: FloatArray) -> FloatArray:
        nonlocal state, calls
        rate = rule.lr if schedule is None else schedule.lr_at(calls)
        calls += 1
        if is_plain(rule):
            return rate * grad
        point = np.array(x, dtype=np.float64)  # the rule updates its parameters in place
        if state is None:
            state = rule.init([point])
        rule.step([point], [grad], state, lr=rate)
        if not all(np.all(np.isfinite(a)) for arrays in state.slots.values() for a in arrays):
            # a square of the gradient overflowed (AdaGrad, RMSProp, Adam): the update
            # came out 0, which would pass for convergence; the run has blown up
            return np.full_like(x, np.nan)
        return x - point

    return step


def optimizer_name(rule: Rule) -> str:
    """The name a rule goes by: the :data:`~gradlab.optim.RULES` preset it equals but for
    its rate (``"momentum"`` for ``SGD(momentum=0.9)``), else its class's name with the
    hyperparameters that differ from that class's defaults (``"sgd (momentum=0.5)"``)."""
    config = rule.config()
    for name in RULES:
        preset = make_rule(name, lr=rule.lr).config()
        if preset == config:
            return name
    base = make_rule(rule.name, lr=rule.lr).config()
    changed = [f"{k}={v}" for k, v in config.items() if k not in ("name", "lr") and base[k] != v]
    return f"{rule.name} ({', '.join(changed)})" if changed else rule.name


def _descend(
    function: Function,
    x: FloatArray,
    step_fn: StepFn,
    *,
    steps: int,
    tol: float,
    limit: float,
    stretch: Callable[[int], float] | None = None,
) -> _Run:
    """The descent loop: ``x <- x - step_fn(x, grad f(x))``, at most ``steps`` times.

    The loop knows nothing of the rule: it asks ``step_fn`` for each update and
    judges only what comes of it. Refuses a start where ``f`` or its gradient is
    not finite (:class:`UsageError`); stops, diverged, at a non-finite or runaway
    iterate or value (``|x| > limit`` or ``|f| > limit * max(1, |f(x0)|)``),
    and, converged, after an update shorter than ``tol``. With a schedule,
    ``stretch(t)`` (the nominal rate over step ``t``'s, ``t = 0, 1, ...``; inf
    where the rate is 0) scales each update to the nominal rate first, so that a
    rate decaying to nothing does not pass for convergence.

    Returns
    -------
    points, values, gradients : lists, of length k + 1
        The iterates kept (the start first), ``f`` and the gradient at each.
    converged_at, diverged_at : int or None
        The step that converged, or the step that went bad (its point not kept).
    """
    fx = float(function.value(x))
    grad = function.gradient(x)
    _check_finite_start(function, x, fx, grad)
    f_limit = limit * max(1.0, abs(fx))
    points, values, gradients = [x], [fx], [grad]
    for step in range(1, steps + 1):
        with np.errstate(all="ignore"):
            update = step_fn(x, grad)
            x = x - update
        if not np.all(np.isfinite(x)) or float(np.max(np.abs(x))) > limit:
            return points, values, gradients, None, step
        fx = float(function.value(x))
        grad = function.gradient(x)
        if not (math.isfinite(fx) and np.all(np.isfinite(grad))) or abs(fx) > f_limit:
            return points, values, gradients, None, step
        points.append(x)
        values.append(fx)
        gradients.append(grad)
        if stretch is None:
            size = float(np.linalg.norm(update))
        else:  # scaled before the norm, whose squares would underflow a tiny update to 0
            factor = stretch(step - 1)
            size = math.inf if math.isinf(factor) else float(np.linalg.norm(update * factor))
            if size == 0.0 and np.any(grad != 0):
                continue  # the rate has decayed below the point's precision: stalled, not
                # converged (the run ends too slow)
        if size < tol:
            return points, values, gradients, step, None
    return points, values, gradients, None, None


def _check_finite_start(function: Function, x: FloatArray, fx: float, grad: FloatArray) -> None:
    """Refuse a start where ``f`` or its gradient is not a finite real number."""
    if math.isfinite(fx) and bool(np.all(np.isfinite(grad))):
        return
    where = f"at x0={x.tolist()} (f = {fx}, gradient = {grad.tolist()})"
    if math.isnan(fx) or bool(np.any(np.isnan(grad))):
        raise UsageError(
            f"{function.text!r} or its gradient has no real value {where}: x0 is outside "
            "the function's real domain (a log or square root of a negative number, an "
            "asin of more than 1, ...); start inside its domain"
        )
    raise UsageError(
        f"{function.text!r} or its gradient is infinite {where}: x0 is a singularity, "
        "or the values are beyond float64 (about 1.8e308) there; start elsewhere"
    )


def _bouncing(points: FloatArray) -> bool:
    """Whether the last :data:`OSCILLATION_WINDOW` updates bounce: some coordinate that
    carries a real share of the motion changes direction at most steps."""
    updates = np.diff(points[-(OSCILLATION_WINDOW + 1) :], axis=0)  # (w, n_vars)
    if len(updates) < 3:
        return False
    flips = (updates[1:] * updates[:-1]) < 0  # (w - 1, n_vars)
    # a coordinate that has settled still flips sign at 1e-100 of the motion: only one
    # that carries a real share of it counts as bouncing
    motion = np.abs(updates).sum(axis=0)  # (n_vars,)
    share = motion / max(float(motion.sum()), np.finfo(np.float64).tiny)
    return bool(np.any((flips.mean(axis=0) > 0.5) & (share >= BOUNCE_SHARE)))


def _settling(lengths: FloatArray) -> bool:
    """Whether the longest update of each of the last three windows is under half the
    longest of the window before: bounces that die out geometrically, by at least
    half every :data:`OSCILLATION_WINDOW` steps."""
    w = OSCILLATION_WINDOW
    if len(lengths) < 4 * w:
        return False
    peaks = lengths[len(lengths) - 4 * w :].reshape(4, w).max(axis=1)  # oldest first
    return bool(np.all(peaks[1:] < 0.5 * peaks[:-1]))


def _verdict_of_run(points: FloatArray, lengths: FloatArray) -> Verdict:
    """``"diverging"``, ``"oscillating"`` or ``"too slow"`` for a run that used all its steps.

    ``lengths`` (shape (k,)) are the updates' lengths at the nominal rate (see
    :func:`_lengths`), so that a schedule's changing rate is not taken for a growing or
    dying bounce.
    """
    updates = np.diff(points[-(OSCILLATION_WINDOW + 1) :], axis=0)  # (w, n_vars)
    if not _bouncing(points):
        return "too slow"
    window, before = lengths[-len(updates) :], lengths[: -len(updates)]
    # a bounded but chaotic bounce (x**2*sin(x) at lr 0.1) also has long runs of
    # growing bounces, then falls back: only a bounce longer than any before is escaping
    record = before.size == 0 or window[-1] > before.max()
    growing = bool(np.all(window[1:] > window[:-1])) and record
    if growing:
        return "diverging"
    # momentum spirals into a minimum, overshooting at every turn: a bounce that halves
    # every window is on its way in (more steps will converge), not stuck
    return "too slow" if _settling(lengths) else "oscillating"


def _resolve(f: Function | TestFunction | str) -> tuple[Function, TestFunction | None]:
    """The function to minimise, and the built-in surface it is, if it is one."""
    if isinstance(f, TestFunction):
        return f.function, f
    if isinstance(f, str) and f.strip() in TEST_FUNCTIONS:
        known = TEST_FUNCTIONS[f.strip()]
        return known.function, known
    if isinstance(f, str):
        return parse_function(f), None
    if isinstance(f, Function):
        return f, None
    raise UsageError(
        f"f must be a formula (text), a built-in test function's name or a Function; got "
        f"{type(f).__name__}"
    )


def _lengths(points: FloatArray, nominal: float, schedule: Schedule | None) -> FloatArray:
    """The length of each update, scaled to the nominal rate (shape (k,))."""
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    if schedule is None:
        return cast(FloatArray, lengths)
    stretch = _stretch(schedule, nominal)
    scale = np.array([stretch(t) for t in range(len(lengths))])
    with np.errstate(invalid="ignore"):
        return cast(FloatArray, np.where(lengths == 0, 0.0, lengths * scale))


def _stretch(schedule: Schedule, nominal: float) -> Callable[[int], float]:
    """``t -> nominal / schedule.lr_at(t)`` (inf where the rate is 0): every rule's update
    is proportional to its rate, so this scales step ``t``'s to the nominal rate."""

    def stretch(t: int) -> float:
        rate = schedule.lr_at(t)
        return nominal / rate if rate > 0 else math.inf

    return stretch


def _nominal_rate(schedule: Schedule) -> float:
    """The rate a schedule is built around: its ``lr``, or ``max_lr`` for one cycle."""
    return schedule.max_lr if isinstance(schedule, OneCycleLR) else schedule.base_lr


def _setup(
    optimizer: str | Rule,
    lr: float | None,
    schedule: Schedule | ScheduleFactory | None,
    budget: int,
    known: TestFunction | None,
    owner: str,
) -> tuple[Rule, str, float, Schedule | None]:
    """The rule (with the run's rate), its name, the rate, and the schedule to follow."""
    name = optimizer if isinstance(optimizer, str) else optimizer_name(optimizer)
    followed: Schedule | None = None
    if isinstance(schedule, Schedule):
        nominal = _nominal_rate(schedule)
        if lr is not None and float(lr) != nominal:
            raise UsageError(
                f"{owner}: lr={lr:g} and the schedule's rate {nominal:g} disagree; the "
                f"schedule sets the rates ({type(schedule).__name__}: {schedule.config()}), "
                "so leave lr out or give the schedule's"
            )
        rate, followed = nominal, schedule
    elif lr is not None:
        rate = float(lr)
    elif isinstance(optimizer, Rule):
        rate = float(optimizer.lr)
    else:
        rate = default_rate(optimizer, known)
    if schedule is not None and not isinstance(schedule, Schedule):
        followed = schedule(rate, budget)
        if not isinstance(followed, Schedule):
            raise UsageError(
                f"{owner}: the schedule function returned {type(followed).__name__}, not a Schedule"
            )
    if isinstance(followed, OneCycleLR) and followed.total_steps < budget:
        raise UsageError(
            f"{owner}: OneCycleLR(total_steps={followed.total_steps}) is shorter than the "
            f"{budget} steps asked for; give total_steps >= steps"
        )
    rule = make_rule(optimizer, lr=rate) if isinstance(optimizer, str) else optimizer
    if rule.lr != rate:
        rule = dataclasses.replace(rule, lr=rate)
    return rule, name, rate, followed


def minimize(
    f: Function | TestFunction | str,
    x0: float | Sequence[float] | FloatArray | None = None,
    *,
    lr: float | None = None,
    steps: int | None = None,
    tol: float = 1e-8,
    explode: float = 1e12,
    optimizer: str | Rule = "sgd",
    schedule: Schedule | ScheduleFactory | None = None,
) -> Trajectory:
    """Minimise ``f`` by gradient descent: ``x <- x - lr * grad f(x)``, or another rule.

    Parameters
    ----------
    f : Function, TestFunction or str
        The function: a formula for :func:`parse_function`, the name of a built-in
        test function (``"rosenbrock"``, ...; see
        :mod:`gradlab.functions.testfunctions`), or either object.
    x0 : float or sequence of float, length n_vars, optional
        The starting point; by default a test function's own (a formula needs one).
    lr : float, optional
        The learning rate, finite and > 0. By default: the rule's own when
        ``optimizer`` is a :class:`~gradlab.optim.rules.Rule`, the schedule's when
        ``schedule`` is a :class:`~gradlab.optim.schedules.Schedule`, else the
        optimizer's default on ``f`` (:func:`~gradlab.functions.testfunctions.default_rate`:
        0.05 on a formula; each test function has its own).
    steps : int, optional
        The most updates to make (> 0); default 200, or a test function's own.
    tol : float, default 1e-8
        Stop, converged, after an update shorter than this (>= 0; 0 never stops).
    explode : float, default 1e12
        Stop, diverged, when ``|x|`` exceeds this or ``|f|`` exceeds
        ``explode * max(1, |f(x0)|)``.
    optimizer : str or Rule, default "sgd"
        The update rule: a name from :data:`gradlab.optim.RULES` (``"sgd"`` is plain
        gradient descent, ``"momentum"`` and ``"nesterov"`` SGD with momentum 0.9,
        ``"adam"``, ...; PyTorch's defaults otherwise) or a Rule. A Rule's
        hyperparameters are used as they are, but for its rate when ``lr`` is given.
    schedule : Schedule or callable, optional
        The rate of step ``t = 0, 1, ...`` is ``schedule.lr_at(t)``; ``lr``, if given,
        must then be the schedule's (its ``lr``; ``max_lr`` for a one-cycle schedule). A
        callable ``(lr, steps) -> Schedule`` is called with the run's rate and budget
        (:data:`ScheduleFactory`). Default: the constant rate ``lr``.

    Returns
    -------
    Trajectory
        The path and its verdict. Divergence is a result, not an error, so that
        runs with different rates can be compared.

    Raises
    ------
    UsageError
        For a bad parameter (the message names it and its value), an ``x0``
        whose length is not the number of variables (or no ``x0`` for a
        formula), an ``x0`` at which ``f`` or its gradient is not a finite real
        number (outside the real domain, at a singularity, or beyond float64), a
        rate that disagrees with the schedule's, or a one-cycle schedule shorter
        than ``steps``. A run that later steps out of the real domain stops
        there, ``"diverged"``.

    Notes
    -----
    The loop asks a step function (:data:`StepFn`) for each update: plain
    descent's is :func:`plain_step`, every other rule's :func:`rule_step`. The
    loop, the stopping rules and the verdicts are the same for all of them.
    """
    params = {
        "lr": lr,
        "steps": steps,
        "tol": tol,
        "explode": explode,
        "optimizer": optimizer,
        "schedule": schedule,
    }
    validate(MINIMIZE_CONSTRAINTS, _given(params), "minimize")
    function, known = _resolve(f)
    if x0 is None:
        if known is None:
            raise UsageError(
                f"minimize: x0 is needed for {function.text!r}: give "
                f"{function.n_vars} starting value(s), one per variable "
                f"({', '.join(function.variables)})"
            )
        x0 = known.start
    budget = int(steps) if steps is not None else known.steps if known else 200
    tolerance, limit = float(tol), float(explode)
    rule, name, rate, followed = _setup(optimizer, lr, schedule, budget, known, "minimize")
    x = _check_start(function, x0)
    if float(np.max(np.abs(x))) > limit:
        raise UsageError(
            f"minimize: x0 = {x.tolist()} lies beyond {limit:g}, where a descent counts as "
            "diverged.",
            hint=f"Start within {limit:g} of 0 (from Python, explode= sets that bound).",
        )

    stretch = None
    if is_plain(rule) and followed is None:
        step_fn = plain_step(rate)  # exactly the tutorial's update
    else:
        step_fn = rule_step(rule, followed)
        if followed is not None:
            stretch = _stretch(followed, rate)
    run = _descend(function, x, step_fn, steps=budget, tol=tolerance, limit=limit, stretch=stretch)
    points, values, gradients, converged_at, diverged_at = run

    path = np.array(points)
    verdict: Verdict
    if diverged_at is not None:
        verdict = "diverged"
    elif converged_at is not None:
        verdict = "converged"
    else:
        verdict = _verdict_of_run(path, _lengths(path, rate, followed))
    arrays = [path, np.array(values), np.array(gradients)]
    for array in arrays:
        array.setflags(write=False)
    return Trajectory(
        function=function,
        lr=rate,
        points=arrays[0],
        values=arrays[1],
        gradients=arrays[2],
        verdict=verdict,
        converged_at=converged_at,
        diverged_at=diverged_at,
        steps=budget,
        tol=tolerance,
        optimizer=name,
        rule=rule,
        schedule=followed,
        test_function=known,
    )


def compare_rates(
    f: Function | TestFunction | str,
    x0: float | Sequence[float] | FloatArray | None,
    lrs: Sequence[float],
    *,
    steps: int | None = None,
    tol: float = 1e-8,
    explode: float = 1e12,
    optimizer: str | Rule = "sgd",
    schedule: ScheduleFactory | None = None,
) -> list[Trajectory]:
    """Run :func:`minimize` from the same start once per learning rate.

    Parameters
    ----------
    f : Function, TestFunction or str
        The function, or its text or name (parsed once).
    x0 : float or sequence of float, length n_vars, or None
        The common starting point (None: a test function's own).
    lrs : sequence of float, length m
        The learning rates to compare (at least one).
    steps, tol, explode, optimizer
        As for :func:`minimize`.
    schedule : callable, optional
        ``(lr, steps) -> Schedule``, called once per rate (a
        :class:`~gradlab.optim.schedules.Schedule` fixes its own rate, so it cannot
        serve several).

    Returns
    -------
    list of Trajectory, length m
        One trajectory per rate, in the order of ``lrs``.

    Raises
    ------
    UsageError
        If ``lrs`` is empty or any parameter is bad (see :func:`minimize`).
    """
    params = {
        "lrs": lrs,
        "steps": steps,
        "tol": tol,
        "explode": explode,
        "optimizer": optimizer,
        "schedule": schedule,
    }
    validate(COMPARE_CONSTRAINTS, _given(params), "compare_rates")
    if isinstance(schedule, Schedule):
        raise UsageError(
            "compare_rates: a Schedule fixes its own rate; give a function (lr, steps) -> "
            "Schedule to follow the schedule at each rate"
        )
    rates = list(lrs)
    for i, rate in enumerate(rates):
        validate_one(f"lrs[{i}]", rate, _RATE, "compare_rates")
    function, known = _resolve(f)
    target = known if known is not None else function
    return [
        minimize(
            target,
            x0,
            lr=rate,
            steps=steps,
            tol=tol,
            explode=explode,
            optimizer=optimizer,
            schedule=schedule,
        )
        for rate in rates
    ]


def compare_optimizers(
    f: Function | TestFunction | str,
    optimizers: Sequence[str | Rule],
    x0: float | Sequence[float] | FloatArray | None = None,
    *,
    lr: float | None = None,
    steps: int | None = None,
    tol: float = 1e-8,
    explode: float = 1e12,
    schedule: ScheduleFactory | None = None,
) -> list[Trajectory]:
    """A race: :func:`minimize` from the same start once per update rule.

    Parameters
    ----------
    f : Function, TestFunction or str
        The function, or its text or a test function's name (parsed once).
    optimizers : sequence of str or Rule, length m
        The rules to race (names from :data:`gradlab.optim.RULES`, or Rules).
    x0 : float or sequence of float, optional
        The common start (default: a test function's own).
    lr : float, optional
        One rate for every rule; by default each takes its own default on ``f``
        (:func:`~gradlab.functions.testfunctions.default_rate`): a rate is a multiple
        of the gradient for the SGD family but a step length for the adaptive rules,
        so one number rarely suits both.
    steps, tol, explode
        As for :func:`minimize`.
    schedule : callable, optional
        ``(lr, steps) -> Schedule``, called once per rule with its rate.

    Returns
    -------
    list of Trajectory, length m
        One trajectory per rule, in the order of ``optimizers``; draw them with
        :func:`gradlab.viz.race.race_figure` and :func:`gradlab.viz.race.race_gif`.
    """
    params = {
        "optimizers": optimizers,
        "lr": lr,
        "steps": steps,
        "tol": tol,
        "explode": explode,
        "schedule": schedule,
    }
    validate(RACE_CONSTRAINTS, _given(params), "compare_optimizers")
    if isinstance(schedule, Schedule):
        raise UsageError(
            "compare_optimizers: a Schedule fixes its own rate; give a function (lr, steps) "
            "-> Schedule to follow the schedule at each rule's rate"
        )
    function, known = _resolve(f)
    target = known if known is not None else function
    return [
        minimize(
            target,
            x0,
            lr=lr,
            steps=steps,
            tol=tol,
            explode=explode,
            optimizer=optimizer,
            schedule=schedule,
        )
        for optimizer in optimizers
    ]
