"""Engines: where a model's arithmetic runs.

``numpy`` uses hand-derived gradients, ``torch`` uses autograd and ``tensorflow``
uses ``tf.GradientTape``. All three implement :class:`LinearEngine` for the
generalised linear models (linear, polynomial, logistic regression), so the
training loop in :mod:`gradlab.models.base` is written once.

PyTorch and TensorFlow are imported only when their engine is asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from gradlab.errors import MissingDependencyError, UsageError
from gradlab.optim import Batch

EngineName = Literal["numpy", "torch", "tensorflow"]
ENGINES: tuple[EngineName, ...] = ("numpy", "torch", "tensorflow")
Kind = Literal["squared", "logistic"]
Reduction = Literal["mean", "sum"]


@dataclass(frozen=True)
class Problem:
    """A generalised linear model's data and loss.

    Attributes
    ----------
    X : ndarray of shape (n, d)
        Features (after any feature map, such as polynomial powers).
    y : ndarray of shape (n,)
        Targets (0/1 for ``logistic``).
    kind : {"squared", "logistic"}
        Squared error with the identity link, or cross-entropy with the sigmoid link.
    reduction : {"mean", "sum"}
        How per-point losses combine. For ``squared``: ``mean`` is the mean squared
        error, ``sum`` is the tutorial's ``0.5 * sum(r**2)``. For ``logistic``: the
        mean or the sum of the binary cross-entropies.
    """

    X: np.ndarray
    y: np.ndarray
    kind: Kind
    reduction: Reduction


class LinearEngine(Protocol):
    """The parameters ``w`` (d,) and ``b`` of one model, living on one engine."""

    def step(self, batch: Batch, lr: float) -> float:
        """Compute the loss on ``batch`` at the current parameters, then take one step.

        Returns the batch loss before the step.
        """
        ...

    def loss(self) -> float:
        """The loss on all points at the current parameters."""
        ...

    def params(self) -> tuple[np.ndarray, float]:
        """The current ``(w, b)`` as a float64 NumPy array and a float."""
        ...


#: the engine_options each engine takes
OPTIONS: dict[str, tuple[str, ...]] = {
    "numpy": (),
    "torch": ("device", "dtype", "style"),
    "tensorflow": ("dtype",),
}

_MODULES = {
    "numpy": ("gradlab.engines.numpy_engine", None),
    "torch": ("gradlab.engines.torch_engine", ("PyTorch", "torch")),
    "tensorflow": ("gradlab.engines.tf_engine", ("TensorFlow", "tensorflow")),
}


def check_engine(name: str) -> EngineName:
    """Return ``name`` if it names an engine, else raise a UsageError listing them."""
    if name not in ENGINES:
        raise UsageError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}.")
    return name  # type: ignore[return-value]


def make_engine(
    name: str, problem: Problem, w0: np.ndarray, b0: float, **options: object
) -> LinearEngine:
    """Build engine ``name`` for ``problem`` starting at ``(w0, b0)``.

    Raises
    ------
    UsageError
        ``name`` is no engine.
    MissingDependencyError
        The engine's framework is not installed; the message gives the install command.
    """
    module_name, dep = _MODULES[check_engine(name)]
    unknown = sorted(set(options) - set(OPTIONS[name]))
    if unknown:
        valid = ", ".join(OPTIONS[name]) or "none"
        raise UsageError(
            f"unknown engine option(s) {', '.join(map(repr, unknown))} for the {name} engine; "
            f"it takes: {valid}."
        )
    if dep is not None:
        package, extra = dep
        if importlib.util.find_spec(extra) is None:
            raise MissingDependencyError(package, extra)
    module = importlib.import_module(module_name)
    engine: LinearEngine = module.build(problem, w0, b0, **options)
    return engine
