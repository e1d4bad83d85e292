"""Compiled steps: an update rule's whole step in one loop over the buffers, when numba is
installed (``pip install "gradlab[fast]"``).

The rules of :mod:`gradlab.optim.rules` are the reference: each line of a formula is one
NumPy operation over the whole buffer, easy to read and to check against PyTorch. For a
rule that keeps several buffers that costs passes: Adam's step reads and writes the
parameter buffer, its gradient and two moments in twelve passes, which on the
benchmark's MLP made a training step about 1.2x a plain SGD step. A compiled step does the
same operations, in the same order and precision, element by element in one loop: the
same numbers to the bit (``tests/test_optim_compiled.py``), a fraction of the memory
traffic. The NumPy engine of the classifiers (:class:`gradlab.engines.numpy_mlp.NumpyMLP`)
uses one where this module has it; everything else uses the rules as they are.

Which rules: Adam and AdamW, with any of their hyperparameters. Set the environment
variable ``GRADLAB_NUMBA=0`` to turn compiled steps off (the results do not change, only
the time). The first compiled step of a process imports numba (about 0.2 s) and loads the
kernel from numba's cache (about 0.3 s), or compiles it (about 0.5 s, once per dtype)
where there is no cache yet (``python -m bench.experiments.adam_step --startup``).
"""

from __future__ import annotations

import importlib.util
import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from gradlab.optim.rules import Adam, Params, Rule, State

#: The environment variable that turns compiled steps off when set to ``0``.
ENV = "GRADLAB_NUMBA"

#: ``step(params, grads, state, lr)``, as :meth:`gradlab.optim.rules.Rule.step`.
StepFn = Callable[[Params, Params, State, "float | None"], None]


def available() -> bool:
    """Whether compiled steps can be used: numba is installed and ``GRADLAB_NUMBA`` is not
    ``0``. Does not import numba."""
    if os.environ.get(ENV, "").strip() == "0":
        return False
    return importlib.util.find_spec("numba") is not None


def compiled_step(rule: Rule) -> StepFn | None:
    """A compiled step equal to ``rule.step`` for ``rule``, or None where there is none
    (another rule, numba not installed, or ``GRADLAB_NUMBA=0``).

    The step takes the arguments of :meth:`~gradlab.optim.rules.Rule.step` and keeps the
    same :class:`~gradlab.optim.rules.State` (step count and slots), so the two can take
    turns on one state. Its parameters and gradients must be contiguous float32 or float64
    arrays of one dtype, as the engine's packed buffers are; others go to ``rule.step``.
    """
    if not isinstance(rule, Adam) or not available():
        return None
    try:
        from gradlab.optim._numba_adam import adam_update  # imports numba
    except ImportError as exc:  # e.g. a NumPy newer than this numba supports
        warnings.warn(
            f"gradlab: numba is installed but cannot be imported ({exc}); Adam's step runs "
            f"as NumPy passes (the same numbers, slower). Reinstall with "
            f'`pip install "gradlab[fast]" -c constraints.txt`, or set {ENV}=0 to silence this.',
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return _AdamStep(rule, adam_update)


class _AdamStep:
    """:meth:`Adam.step <gradlab.optim.rules.Adam.step>` through the numba kernel."""

    def __init__(self, rule: Adam, kernel: Any) -> None:
        self.rule = rule
        self.kernel = kernel

    def __call__(
        self, params: Params, grads: Params, state: State, lr: float | None = None
    ) -> None:
        rule = self.rule
        if not all(_fits(p, g) for p, g in zip(params, grads, strict=False)):
            rule.step(params, grads, state, lr)
            return
        lr = rule._begin(params, grads, state, lr)
        b1, b2 = rule.betas
        t = state.step
        c1, c2 = 1 - b1**t, 1 - b2**t  # as Adam.step computes them, in float64
        a = lr * math.sqrt(c2) / c1
        e = rule.eps * math.sqrt(c2)
        wd = rule.weight_decay
        coupled = bool(wd) and not rule.decoupled
        decoupled = bool(wd) and rule.decoupled
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            m, v = state.slots["exp_avg"][i], state.slots["exp_avg_sq"][i]
            vmax = state.slots["max_exp_avg_sq"][i] if rule.amsgrad else m
            f = p.dtype.type  # each constant rounded to the arrays' dtype, as NumPy does
            self.kernel(
                p.reshape(-1),
                g.reshape(-1),
                m.reshape(-1),
                v.reshape(-1),
                vmax.reshape(-1),
                f(b1),
                f(1 - b1),
                f(b2),
                f(1 - b2),
                f(a),
                f(e),
                f(wd),
                f(1 - lr * wd),
                coupled,
                decoupled,
                rule.amsgrad,
            )


def _fits(p: np.ndarray, g: np.ndarray) -> bool:
    return (
        isinstance(p, np.ndarray)
        and isinstance(g, np.ndarray)
        and p.dtype in (np.float32, np.float64)
        and g.dtype == p.dtype
        and p.shape == g.shape
        and p.flags.c_contiguous
        and g.flags.c_contiguous
    )
