"""Descent rules: which points each step sees, and the divergence guard.

``batch`` steps once per epoch on all points, ``sgd`` once per point, and
``minibatch`` once per ``batch_size`` points; the order is a seeded shuffle.
The schedule is made with NumPy once, so every engine sees the same batches.

How each step moves the parameters is :mod:`gradlab.optim.rules` (SGD, momentum,
Nesterov, AdaGrad, RMSProp, Adam, AdamW; :data:`RULES`, :func:`make_rule`), and how the
learning rate changes over the steps is :mod:`gradlab.optim.schedules` (:data:`SCHEDULES`,
:func:`make_schedule`); see docs/optimizers.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np

from gradlab.errors import DivergenceError
from gradlab.optim.rules import RULES as RULES
from gradlab.optim.rules import Rule as Rule
from gradlab.optim.rules import State as State
from gradlab.optim.rules import make_rule as make_rule
from gradlab.optim.rules import pack as pack
from gradlab.optim.schedules import SCHEDULES as SCHEDULES
from gradlab.optim.schedules import Schedule as Schedule
from gradlab.optim.schedules import make_schedule as make_schedule

__all__ = [
    "RULES",
    "SCHEDULES",
    "Rule",
    "Schedule",
    "State",
    "make_rule",
    "make_schedule",
    "pack",
]

Method = Literal["batch", "sgd", "minibatch"]
"""The descent methods; their list, for validation and the CLI, is ``gradlab.params.METHODS``."""

Batch = slice | np.ndarray
"""Rows one step uses: ``slice(None)`` for all of them, else an index array."""


def epoch_batches(
    n: int, method: Method, batch_size: int, rng: np.random.Generator
) -> Iterator[Batch]:
    """Yield the batches of one epoch over ``n`` points.

    Parameters
    ----------
    n : int
        Number of points.
    method : {"batch", "sgd", "minibatch"}
        The descent method.
    batch_size : int
        Points per step for ``minibatch`` (the last batch may be smaller).
    rng : numpy.random.Generator
        Source of the shuffle (unused by ``batch``).
    """
    if method == "batch":
        yield slice(None)
        return
    order = rng.permutation(n)
    size = 1 if method == "sgd" else batch_size
    for start in range(0, n, size):
        yield order[start : start + size]


def plain_number(x: float) -> str:
    """``x`` with two significant digits, as a person writes it: ``0.001``, ``1e-05`` as
    ``1e-5``, ``1e+30`` as ``1e30``."""
    text = f"{x:.2g}"
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return text
    return f"{mantissa}e{int(exponent)}"


class DivergenceGuard:
    """Stop descent at the first non-finite or exploding loss.

    Parameters
    ----------
    lr : float
        The learning rate, quoted in the message.
    explode : float, default 1e8
        A loss above ``explode * max(first_loss, 1)`` counts as exploding.
    unit : str, default "iteration"
        What ``step`` counts, for the message ("epoch" for the classifiers' loop).
    stable_lr : callable, optional
        Returns the largest stable learning rate when one is known (for a
        quadratic loss, ``2 / largest eigenvalue of the Hessian``); called only
        on failure, to suggest a rate.
    """

    def __init__(
        self,
        lr: float,
        explode: float = 1e8,
        stable_lr: Callable[[], float | None] | None = None,
        unit: str = "iteration",
    ) -> None:
        self.lr = lr
        self.unit = unit
        self.explode = explode
        self.stable_lr = stable_lr
        self.first: float | None = None

    def suggestion(self) -> str:
        """A smaller learning rate to try, with the reason when one is known."""
        try:
            bound = self.stable_lr() if self.stable_lr is not None else None
        except (ArithmeticError, ValueError, np.linalg.LinAlgError):
            bound = None  # no bound to quote: the advice must not replace the divergence
        if bound is not None and math.isfinite(bound) and 0 < bound < self.lr:
            return (
                f"Try a learning rate below {bound:.2g}: full-batch descent on this data "
                f"is stable only for rates under about {bound:.2g}."
            )
        if self.lr > 1:
            return (
                f"A learning rate of {plain_number(self.lr)} is far above what gradient descent "
                "usually takes; start from 0.1 and divide by 10 until the loss falls."
            )
        return f"Try a smaller learning rate, e.g. {plain_number(self.lr / 10)}."

    def check(self, step: int, loss: float, last_params: Callable[[], dict[str, Any]]) -> None:
        """Raise :class:`DivergenceError` if ``loss`` (seen at 1-based ``step``) went bad.

        ``last_params`` is called only on failure, to report the last finite parameters.
        """
        if self.first is None and math.isfinite(loss):
            self.first = loss
        limit = self.explode * max(self.first or 0.0, 1.0)
        if math.isfinite(loss) and loss <= limit:
            return
        what = f"became {loss}" if not math.isfinite(loss) else f"exploded to {loss:.3g}"
        raise DivergenceError(
            f"descent diverged at {self.unit} {step}: the loss {what} "
            f"(learning rate {self.lr:g} is too large for this problem).",
            hint=self.suggestion(),
            iteration=step,
            loss=loss,
            last_params=last_params(),
        )
