"""An update rule's state as the classifiers save it, the same for every engine.

The NumPy engine keeps its rule's state in one packed buffer per slot, PyTorch per
parameter tensor (weights transposed); a checkpoint holds neither layout but this one:
one array per slot and parameter, named ``"<slot>/<param>"`` (``exp_avg/W1``,
``momentum_buffer/b2``), each of its parameter's shape in gradlab's layout (``W_k`` is
``(fan_in, fan_out)``), with the rule's config and step count beside them. Moving a
state between engines is then a copy, and resuming restores it bit for bit.

One wrinkle: the NumPy engine runs SGD with the learning rate folded into the
gradient when that is exact (plain SGD; SGD with momentum at a constant rate), so its
momentum buffers then hold ``lr * buffer`` (``units = "step"``) rather than PyTorch's
buffer (``units = "gradient"``). :meth:`SavedOptimizer.in_units` converts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradlab.errors import DataError
from gradlab.optim.rules import Rule, make_rule

#: Momentum buffers in PyTorch's units (``buf <- mu buf + g``, step ``lr buf``), or in the
#: step's (``buf <- mu buf + lr g``, step ``buf``: SGD with the rate folded in).
UNITS = ("gradient", "step")


def param_names(n_layers: int) -> list[str]:
    """``["W1", "b1", "W2", "b2", ...]``: the parameters in the order every engine uses."""
    return [f"{p}{k}" for k in range(1, n_layers + 1) for p in ("W", "b")]


def param_shapes(sizes: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """Each parameter's shape in gradlab's layout, by name."""
    out: dict[str, tuple[int, ...]] = {}
    for k in range(1, len(sizes)):
        out[f"W{k}"] = (int(sizes[k - 1]), int(sizes[k]))
        out[f"b{k}"] = (int(sizes[k]),)
    return out


@dataclass
class SavedOptimizer:
    """A rule's state for a classifier's parameters, engine-neutral.

    Attributes
    ----------
    config : dict
        ``rule.config()``: :func:`gradlab.optim.make_rule` ``(**config)`` rebuilds the rule.
    step : int
        Updates taken so far.
    arrays : dict of str to ndarray
        ``"<slot>/<param>"`` -> the slot's array for that parameter, float32, the
        parameter's shape (``W_k``: (fan_in, fan_out)).
    units : {"gradient", "step"}
        What the ``momentum_buffer`` arrays hold (see the module docstring).
    lr : float or None
        The rate folded into ``"step"`` buffers (None for ``"gradient"``).
    """

    config: dict[str, Any]
    step: int
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    units: str = "gradient"
    lr: float | None = None

    @property
    def name(self) -> str:
        """The rule's name (``"adam"``)."""
        return str(self.config["name"])

    def rule(self) -> Rule:
        """The rule that made this state."""
        return make_rule(**self.config)

    def fits(self, rule: Rule) -> bool:
        """Whether this state can drive ``rule``: the same kind of rule keeping the same
        slots (its rate, betas or momentum may differ)."""
        return rule.name == self.name and set(rule.slot_names()) == set(self.rule().slot_names())

    def require_fits(self, rule: Rule) -> None:
        """Raise :class:`~gradlab.errors.DataError` unless this state can drive ``rule``.

        Raises
        ------
        DataError
            The state belongs to another rule, or to one with other slots.
        """
        from gradlab.errors import DataError

        if not self.fits(rule):
            raise DataError(
                f"optimizer state: saved for {self.name}, not {rule.name} (or with other slots).",
                hint="Resume with the optimizer the run was saved with.",
            )

    def in_units(self, units: str, lr: float | None) -> SavedOptimizer:
        """This state with its momentum buffers in ``units`` (at rate ``lr`` for ``"step"``).

        Unchanged, bit for bit, when the units and the rate are the same; otherwise
        converted through gradient units (``step = lr * buffer``), each conversion one
        rounding in the arrays' dtype.
        """
        if units == self.units and (units == "gradient" or self.lr == lr):
            return self
        arrays = dict(self.arrays)
        for key, value in self.arrays.items():
            if not key.startswith("momentum_buffer/"):
                continue
            kind = value.dtype.type  # float32 in checkpoints; rounded once per conversion
            grad = value / kind(self.lr) if self.units == "step" else value
            if units == "step":
                assert lr is not None
                grad = grad * kind(lr)
            arrays[key] = np.asarray(grad, value.dtype)
        return SavedOptimizer(
            dict(self.config), self.step, arrays, units, lr if units == "step" else None
        )

    def check(self, shapes: Mapping[str, tuple[int, ...]], what: str = "optimizer state") -> None:
        """Raise a :class:`DataError` unless the arrays are exactly the rule's slots for
        parameters of these ``shapes``."""
        slots = self.rule().slot_names()
        expected = {f"{s}/{p}": shape for s in slots for p, shape in shapes.items()}
        missing = sorted(set(expected) - set(self.arrays))
        extra = sorted(set(self.arrays) - set(expected))
        if missing or extra:
            parts = [f"missing {', '.join(missing)}"] if missing else []
            parts += [f"unexpected {', '.join(extra)}"] if extra else []
            raise DataError(f"{what}: {'; '.join(parts)} (a {self.name} state).")
        for key, shape in expected.items():
            got = np.shape(self.arrays[key])
            if tuple(got) != shape:
                raise DataError(f"{what}: {key} has shape {tuple(got)}, the parameter {shape}.")
