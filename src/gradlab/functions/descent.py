"""Gradient descent on a :class:`~gradlab.functions.Function`, and the verdict on each run.

:func:`minimize` repeats ``x <- x - lr * grad f(x)`` from a starting point and
keeps the path as a :class:`Trajectory`; :func:`compare_rates` does so once per
learning rate from the same start. Divergence is a result, not an error, so that
runs with different rates can be compared side by side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from gradlab.errors import UsageError
from gradlab.functions.function import FloatArray, Function
from gradlab.functions.parse import parse_function
from gradlab.params import Constraint, Interval, Predicate, validate, validate_one

__all__ = [
    "MINIMIZE_CONSTRAINTS",
    "OSCILLATION_WINDOW",
    "StepFn",
    "Trajectory",
    "Verdict",
    "compare_rates",
    "minimize",
    "plain_step",
]

Verdict = Literal["converged", "too slow", "oscillating", "diverging", "diverged"]

#: Number of final updates :class:`Trajectory` inspects to call a run "oscillating"
#: or "diverging".
OSCILLATION_WINDOW = 20

#: What each parameter of :func:`minimize` may be (see :mod:`gradlab.params`).
MINIMIZE_CONSTRAINTS: dict[str, Constraint | list[Constraint]] = {
    "lr": Interval(Real, 0, None, closed="neither"),
    "steps": Interval(Integral, 1, None),
    "tol": Interval(Real, 0, None),
    "explode": Interval(Real, 0, None, closed="neither"),
}


def _is_rate_list(value: object) -> bool:
    is_sequence = isinstance(value, Sequence | np.ndarray) and not isinstance(value, str)
    return is_sequence and len(value) > 0  # type: ignore[arg-type]


#: What each parameter of :func:`compare_rates` may be; every rate is checked as ``lr``.
COMPARE_CONSTRAINTS: dict[str, Constraint | list[Constraint]] = {
    "lrs": Predicate(_is_rate_list, "a non-empty sequence of learning rates"),
    **{name: rule for name, rule in MINIMIZE_CONSTRAINTS.items() if name != "lr"},
}


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The path of one gradient-descent run, and what became of it.

    Parameters
    ----------
    function : Function
        The function minimised.
    lr : float
        The learning rate.
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
        2. ``"converged"`` if the run stopped because an update
           ``lr * grad f(x)`` was shorter (Euclidean norm) than ``tol``.
        3. ``"diverging"`` if the steps ran out, the run oscillates (rule 4),
           each of the last :data:`OSCILLATION_WINDOW` updates is longer than the
           one before, and the last is longer than every update before the
           window: the rate is past the stable limit and more steps would blow
           up, though nothing has exceeded ``explode`` yet.
        4. ``"oscillating"`` if the steps ran out and, over the last
           :data:`OSCILLATION_WINDOW` updates, some coordinate's update changed
           sign on more than half of the consecutive pairs: the iterate bounces
           across a minimum (or between basins) instead of settling.
        5. ``"too slow"`` otherwise: the steps ran out while the iterate was
           still creeping in one direction.
    converged_at : int or None
        The step (counted from 1) whose update was shorter than ``tol``.
    diverged_at : int or None
        The step (counted from 1) that went bad; that step's point is not kept,
        so ``steps_taken == diverged_at - 1``.
    steps : int
        The step budget the run was given.
    tol : float
        The convergence tolerance the run was given.
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


def _check_start(function: Function, x0: float | Sequence[float] | npt.ArrayLike) -> FloatArray:
    try:
        start = np.array(x0, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"x0 must be a number or a sequence of numbers, got {x0!r}") from None
    if start.ndim == 0:
        start = start.reshape(1)
    if start.ndim != 1 or start.shape[0] != function.n_vars:
        count = start.shape[0] if start.ndim == 1 else start.size
        raise UsageError(
            f"x0 has {count} value(s) but {function.text!r} is a function of "
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


def _descend(
    function: Function,
    x: FloatArray,
    step_fn: StepFn,
    *,
    steps: int,
    tol: float,
    limit: float,
) -> _Run:
    """The descent loop: ``x <- x - step_fn(x, grad f(x))``, at most ``steps`` times.

    The loop knows nothing of the rule: it asks ``step_fn`` for each update and
    judges only what comes of it. Refuses a start where ``f`` or its gradient is
    not finite (:class:`UsageError`); stops, diverged, at a non-finite or runaway
    iterate or value (``|x| > limit`` or ``|f| > limit * max(1, |f(x0)|)``),
    and, converged, after an update shorter than ``tol``.

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
        if float(np.linalg.norm(update)) < tol:
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


def _verdict_of_run(points: FloatArray) -> Verdict:
    """``"diverging"``, ``"oscillating"`` or ``"too slow"`` for a run that used all its steps."""
    updates = np.diff(points[-(OSCILLATION_WINDOW + 1) :], axis=0)  # (w, n_vars)
    if len(updates) < 3:
        return "too slow"
    flips = (updates[1:] * updates[:-1]) < 0  # (w - 1, n_vars)
    if not bool(np.any(flips.mean(axis=0) > 0.5)):
        return "too slow"
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)  # every update, (k,)
    window, before = lengths[-len(updates) :], lengths[: -len(updates)]
    # a bounded but chaotic bounce (x**2*sin(x) at lr 0.1) also has long runs of
    # growing bounces, then falls back: only a bounce longer than any before is escaping
    record = before.size == 0 or window[-1] > before.max()
    growing = bool(np.all(window[1:] > window[:-1])) and record
    return "diverging" if growing else "oscillating"


def minimize(
    f: Function | str,
    x0: float | Sequence[float] | FloatArray,
    *,
    lr: float,
    steps: int = 200,
    tol: float = 1e-8,
    explode: float = 1e12,
) -> Trajectory:
    """Minimise ``f`` by plain gradient descent: ``x <- x - lr * grad f(x)``.

    Parameters
    ----------
    f : Function or str
        The function, or its text for :func:`parse_function`.
    x0 : float or sequence of float, length n_vars
        The starting point.
    lr : float
        The learning rate, finite and > 0.
    steps : int, default 200
        The most updates to make (> 0).
    tol : float, default 1e-8
        Stop, converged, after an update shorter than this (>= 0; 0 never stops).
    explode : float, default 1e12
        Stop, diverged, when ``|x|`` exceeds this or ``|f|`` exceeds
        ``explode * max(1, |f(x0)|)``.

    Returns
    -------
    Trajectory
        The path and its verdict. Divergence is a result, not an error, so that
        runs with different rates can be compared.

    Raises
    ------
    UsageError
        For a bad parameter (the message names it and its value), an ``x0``
        whose length is not the number of variables, or an ``x0`` at which
        ``f`` or its gradient is not a finite real number (outside the real
        domain, at a singularity, or beyond float64). A run that later steps
        out of the real domain stops there, ``"diverged"``.

    Notes
    -----
    The loop asks a step function (:data:`StepFn`) for each update; plain
    descent's is :func:`plain_step`. Another update rule (momentum, Adam) needs
    only its own step function: the loop, the stopping rules and the verdicts
    stay as they are.
    """
    params = {"lr": lr, "steps": steps, "tol": tol, "explode": explode}
    validate(MINIMIZE_CONSTRAINTS, params, "minimize")
    rate, budget, tolerance, limit = float(lr), int(steps), float(tol), float(explode)
    function = parse_function(f) if isinstance(f, str) else f
    x = _check_start(function, x0)

    run = _descend(function, x, plain_step(rate), steps=budget, tol=tolerance, limit=limit)
    points, values, gradients, converged_at, diverged_at = run

    path = np.array(points)
    verdict: Verdict
    if diverged_at is not None:
        verdict = "diverged"
    elif converged_at is not None:
        verdict = "converged"
    else:
        verdict = _verdict_of_run(path)
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
    )


def compare_rates(
    f: Function | str,
    x0: float | Sequence[float] | FloatArray,
    lrs: Sequence[float],
    *,
    steps: int = 200,
    tol: float = 1e-8,
    explode: float = 1e12,
) -> list[Trajectory]:
    """Run :func:`minimize` from the same start once per learning rate.

    Parameters
    ----------
    f : Function or str
        The function, or its text (parsed once).
    x0 : float or sequence of float, length n_vars
        The common starting point.
    lrs : sequence of float, length m
        The learning rates to compare (at least one).
    steps, tol, explode
        As for :func:`minimize`.

    Returns
    -------
    list of Trajectory, length m
        One trajectory per rate, in the order of ``lrs``.

    Raises
    ------
    UsageError
        If ``lrs`` is empty or any parameter is bad (see :func:`minimize`).
    """
    params = {"lrs": lrs, "steps": steps, "tol": tol, "explode": explode}
    validate(COMPARE_CONSTRAINTS, params, "compare_rates")
    rates = list(lrs)
    for i, rate in enumerate(rates):
        validate_one(f"lrs[{i}]", rate, MINIMIZE_CONSTRAINTS["lr"], "compare_rates")
    function = parse_function(f) if isinstance(f, str) else f
    return [
        minimize(function, x0, lr=rate, steps=steps, tol=tol, explode=explode) for rate in rates
    ]
