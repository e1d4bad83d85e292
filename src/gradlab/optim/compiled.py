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
    ``0``. Does not import numba (see :func:`status` for whether it imports)."""
    if os.environ.get(ENV, "").strip() == "0":
        return False
    return importlib.util.find_spec("numba") is not None


def status() -> str:
    """``"on"``, ``"off"`` (``GRADLAB_NUMBA=0``), ``"not installed"``, or ``"broken: ..."``
    (numba is installed but the kernel's module cannot be loaded, and why). Imports numba
    when it is installed and on."""
    if os.environ.get(ENV, "").strip() == "0":
        return "off"
    if importlib.util.find_spec("numba") is None:
        return "not installed"
    kernel = _load_kernel()
    return "on" if not isinstance(kernel, str) else f"broken: {kernel}"


def _load_kernel() -> Any:
    """The numba kernel, or the reason it cannot be had, as a string."""
    try:
        from gradlab.optim._numba_adam import adam_update  # imports numba
    except Exception as exc:  # any failure means: run the NumPy passes
        # ImportError: e.g. a NumPy newer than this numba supports; RuntimeError: no
        # writable place for numba's cache ("no locator available")
        return f"{type(exc).__name__}: {exc}"
    return adam_update


def _fallback_warning(reason: str) -> None:
    warnings.warn(
        f"gradlab: numba is installed but Adam's compiled step cannot be used ({reason}); "
        f"it runs as NumPy passes instead (the same numbers, slower). Reinstall with "
        f'`pip install "gradlab[fast]" -c constraints.txt`, or set {ENV}=0 to silence this.',
        RuntimeWarning,
        stacklevel=3,
    )


def compiled_step(rule: Rule) -> StepFn | None:
    """A compiled step equal to ``rule.step`` for ``rule``, or None where there is none
    (another rule, numba not installed, or ``GRADLAB_NUMBA=0``; a numba that cannot be
    loaded warns and gives None).

    The step takes the arguments of :meth:`~gradlab.optim.rules.Rule.step` and keeps the
    same :class:`~gradlab.optim.rules.State` (step count and slots), so the two can take
    turns on one state. It updates C-contiguous, writable float32 or float64 arrays whose
    gradient and slots have their dtype and shape, as the engine's packed buffers are;
    a step with any other array is ``rule.step``'s, as is every step after the kernel
    failed to compile (with a warning).
    """
    if not isinstance(rule, Adam) or not available():
        return None
    kernel = _load_kernel()
    if isinstance(kernel, str):
        _fallback_warning(kernel)
        return None
    return _AdamStep(rule, kernel)


class _AdamStep:
    """:meth:`Adam.step <gradlab.optim.rules.Adam.step>` through the numba kernel."""

    def __init__(self, rule: Adam, kernel: Any) -> None:
        self.rule = rule
        self.kernel = kernel
        #: The dtypes the kernel is compiled (or loaded from numba's cache) for.
        self.ready: set[np.dtype[Any]] = set()
        #: Set when the kernel failed to compile: every step is then ``rule.step``'s.
        self.broken = False

    def _slots(self, state: State, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m, v = state.slots["exp_avg"][i], state.slots["exp_avg_sq"][i]
        vmax = state.slots["max_exp_avg_sq"][i] if self.rule.amsgrad else m
        return m, v, vmax

    def _takes(self, params: Params, grads: Params, state: State) -> bool:
        """Whether every array is one the kernel updates in place, as the reference would."""
        if self.broken or len(params) != len(grads):
            return False
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if not (_fits(p) and p.flags.writeable and _fits(g, p)):
                return False
            try:
                slots = self._slots(state, i)
            except (KeyError, IndexError):  # the reference raises the right error
                return False
            if not all(_fits(s, p) and s.flags.writeable for s in slots):
                return False
        return self._compiled_for({p.dtype for p in params})

    def _compiled_for(self, dtypes: set[np.dtype[Any]]) -> bool:
        """Compile (or load) the kernel for ``dtypes`` on empty arrays, before any state
        changes; on failure warn, and leave every step to ``rule.step`` from now on."""
        for dt in dtypes - self.ready:
            empty = np.empty(0, dt)
            f = dt.type
            try:
                self.kernel(empty, empty, empty, empty, empty, *(f(0),) * 8, False, False, False)
            except Exception as exc:  # numba's typing and lowering errors
                self.broken = True
                _fallback_warning(f"{type(exc).__name__}: {exc}")
                return False
            self.ready.add(dt)
        return True

    def __call__(
        self, params: Params, grads: Params, state: State, lr: float | None = None
    ) -> None:
        rule = self.rule
        if not self._takes(params, grads, state):
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
            m, v, vmax = self._slots(state, i)
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


def _fits(a: Any, like: np.ndarray | None = None) -> bool:
    """``a`` is a C-contiguous float32/float64 ndarray (exactly; a subclass may reshape
    differently), of ``like``'s dtype and shape when given."""
    if type(a) is not np.ndarray or not a.flags.c_contiguous:
        return False
    if like is None:
        return a.dtype in (np.float32, np.float64)
    return bool(a.dtype == like.dtype and a.shape == like.shape)
