"""Parameter validation: one declarative table per estimator or function, one message style.

Every public entry point that takes hyperparameters declares what each one may be,
in the manner of scikit-learn's ``_parameter_constraints``::

    CONSTRAINTS = {
        "lr": Interval(Real, 0, None, closed="neither"),
        "epochs": Interval(Integral, 1, None),
        "method": Options(METHODS),
        "seed": [Interval(Integral, 0, None), None],   # a list means "any of these"
    }

and checks them once, at the boundary (``fit``, ``minimize``, ...), with
:func:`validate`. A bad value raises :class:`~gradlab.errors.UsageError` with a
message of one shape everywhere::

    LinearRegression: lr must be a number > 0; got -1.

This module is also the one home of the sets of choices that several layers share
(engines, devices, descent methods), so a choice list is never copied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import Any, Literal

import numpy as np

from gradlab.errors import InvalidParameterError

#: The most steps one run of descent on a function may take: every step's point is kept
#: for the verdict and the pictures (tens of bytes each), so this bounds a run's memory.
MAX_DESCENT_STEPS = 1_000_000
#: The most passes over the data (or steps of a range test) one run takes, from the
#: command line or an estimator: each keeps a row of history, so this bounds what a
#: mistyped number can ask for.
MAX_EPOCHS = 1_000_000
#: The most points ``gradlab linreg`` generates (16 bytes each, x and y, plus the fit's
#: copies).
MAX_POINTS = 10_000_000
#: The widest hidden layer a classifier takes: 784 inputs x 100,000 is 0.3 GB of float32
#: weights; wider is a typo, or memory the machine does not have.
MAX_WIDTH = 100_000
#: The most images a prediction grid shows (``train --grid``, ``predict --n``): each is an
#: axes of its own, so drawing takes time and memory in proportion (1,000 of them, a
#: minute and 0.6 GB); a grid of more is too tall to read anyway.
MAX_GRID = 100
#: The most BLAS threads one may ask for (OpenBLAS's own limit is far lower; a larger
#: number is a typo, and overflows the C int that takes it).
MAX_THREADS = 1024

__all__ = [
    "CLASSIFIER_ENGINES",
    "DEVICES",
    "LINEAR_ENGINES",
    "METHODS",
    "RANDOM_STATE",
    "SEED",
    "Constraint",
    "Interval",
    "Options",
    "Predicate",
    "SeedLike",
    "describe",
    "draw_seed",
    "validate",
    "validate_one",
]

# ------------------------------------------------------------------ the shared choices

#: Engines of the generalised linear models (linear, polynomial, logistic regression).
LINEAR_ENGINES: tuple[str, ...] = ("numpy", "torch", "tensorflow")
#: Engines of the image classifiers; ``auto`` picks torch on a GPU, numpy otherwise.
CLASSIFIER_ENGINES: tuple[str, ...] = ("auto", "numpy", "torch")
#: Devices of the torch engine.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
#: Descent methods: all points per step, one point per step, ``batch_size`` points per step.
METHODS: tuple[str, ...] = ("batch", "sgd", "minibatch")


# ------------------------------------------------------------------ constraints


@dataclass(frozen=True)
class Interval:
    """A real or integer number in an interval.

    Parameters
    ----------
    kind : ``numbers.Real`` or ``numbers.Integral``
        ``Integral`` accepts Python and NumPy integers only; ``Real`` accepts
        integers and floats. Booleans are never numbers here, nor integers beyond
        float64's range (over 308 digits), which no computation here can use.
    low, high : float or None
        The bounds; None for no bound.
    closed : {"both", "left", "right", "neither"}, default "both"
        Which bounds belong to the interval.
    """

    kind: type
    low: float | None
    high: float | None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        try:
            v = float(value)  # type: ignore[arg-type]
        except OverflowError:  # an integer beyond float64's range
            return False
        if not math.isfinite(v):
            return False
        if self.low is not None:
            left_closed = self.closed in ("both", "left")
            if v < self.low or (v == self.low and not left_closed):
                return False
        if self.high is not None:
            right_closed = self.closed in ("both", "right")
            if v > self.high or (v == self.high and not right_closed):
                return False
        return True

    def describe(self) -> str:
        what = "an integer" if self.kind is Integral else "a number"
        lo, hi = self.low, self.high
        left = ">=" if self.closed in ("both", "left") else ">"
        right = "<=" if self.closed in ("both", "right") else "<"
        if lo is None and hi is None:
            return f"{what} (finite)"
        if hi is None:
            return f"{what} {left} {_num(lo)}"
        if lo is None:
            return f"{what} {right} {_num(hi)}"
        lb = "[" if left == ">=" else "("
        rb = "]" if right == "<=" else ")"
        return f"{what} in {lb}{_num(lo)}, {_num(hi)}{rb}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (compared with ``==``)."""

    values: tuple[Any, ...]

    def __init__(self, values: Iterable[Any]) -> None:
        object.__setattr__(self, "values", tuple(values))

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) and not any(isinstance(v, bool) for v in self.values):
            return False  # True == 1, but True is no option of 1
        try:
            return any(bool(value == v) for v in self.values)
        except Exception:  # an array compared with a string, say
            return False

    def describe(self) -> str:
        if len(self.values) == 1:
            return repr(self.values[0])
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Predicate:
    """Any value ``test`` accepts; ``text`` says what that is ("a sequence of widths >= 1")."""

    test: Callable[[Any], bool]
    text: str

    def accepts(self, value: Any) -> bool:
        try:
            return bool(self.test(value))
        except Exception:
            return False

    def describe(self) -> str:
        return self.text


Constraint = Interval | Options | Predicate | None
"""One allowed form; ``None`` allows the value None."""

#: A seed as a file or the command line can hold it: an integer >= 0, or None.
SEED: list[Constraint] = [Interval(Integral, 0, None), None]
#: ``random_state`` in every estimator's table, as scikit-learn takes it: a seed, None (a
#: fresh seed each fit), or a NumPy random generator to draw the seed from.
RANDOM_STATE: list[Constraint] = [
    *SEED,
    Predicate(
        lambda v: isinstance(v, np.random.RandomState | np.random.Generator),
        "a numpy RandomState or Generator",
    ),
]


#: What ``random_state`` may be, for annotations.
SeedLike = int | np.random.RandomState | np.random.Generator | None


def draw_seed(random_state: SeedLike) -> int | None:
    """The seed a fit uses for ``random_state`` (already validated by :data:`RANDOM_STATE`).

    A seed is kept and None stays None; a ``RandomState`` or ``Generator`` gives its next
    number below 2**31, so it moves on, and two fits with the same generator differ, as
    in scikit-learn.
    """
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    return None if random_state is None else int(random_state)


def _num(v: float | None) -> str:
    if isinstance(v, int):  # 1000000, not 1e+06
        return str(v)
    return f"{v:g}" if v is not None else ""


def _accepts(c: Constraint, value: Any) -> bool:
    return value is None if c is None else c.accepts(value)


def describe(rule: Constraint | list[Constraint]) -> str:
    """What ``rule`` allows, in words ("a number > 0 or None")."""
    rules = rule if isinstance(rule, list) else [rule]
    parts = ["None" if c is None else c.describe() for c in rules]
    if len(parts) <= 2:
        return " or ".join(parts)
    return ", ".join(parts[:-1]) + ", or " + parts[-1]


def validate_one(name: str, value: Any, rule: Constraint | list[Constraint], owner: str) -> None:
    """Raise an :class:`~gradlab.errors.InvalidParameterError` (a :class:`UsageError`,
    a ValueError and a TypeError) unless ``value`` satisfies ``rule``.

    Parameters
    ----------
    name : str
        The parameter's name, quoted in the message.
    value : object
        The value to check.
    rule : constraint or list of constraints
        A list means any one of them will do.
    owner : str
        Who takes the parameter (``"LinearRegression"``, ``"minimize"``), quoted first.
    """
    rules = rule if isinstance(rule, list) else [rule]
    if any(_accepts(c, value) for c in rules):
        return
    raise InvalidParameterError(f"{owner}: {name} must be {describe(rule)}; got {_short(value)}.")


def validate(
    table: Mapping[str, Constraint | list[Constraint]], params: Mapping[str, Any], owner: str
) -> None:
    """Check every parameter named in ``table`` (in the table's order); see :func:`validate_one`.

    A parameter in ``params`` that the table does not name is a programming error
    (``KeyError``): every parameter must be declared.
    """
    unknown = set(params) - set(table)
    if unknown:
        raise KeyError(f"{owner}: no constraint declared for {sorted(unknown)}")
    for name, rule in table.items():
        if name in params:
            validate_one(name, params[name], rule, owner)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
