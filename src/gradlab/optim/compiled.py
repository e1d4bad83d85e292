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

Which rules: Adam, AdamW and RMSProp, with any of their hyperparameters (each kernel in
its own ``_numba_<rule>.py``). One kernel is not a rule's: softmax regression's whole
gradient (:mod:`gradlab.engines._numba_softmax`, loaded through :func:`compiled_kernel`).
Those modules are the only ones that import numba. Set the environment
variable ``GRADLAB_NUMBA=0`` to turn compiled steps off (the rules' results do not
change, only the time; softmax regression's change within float rounding, as its sums
are taken in another order). The first compiled step of a process imports numba (about
0.2 s) and loads the kernel from numba's cache (about 0.3 s), or compiles it (about
0.5 s, once per dtype) where there is no cache yet
(``python -m bench.experiments.adam_step --startup``).
"""

from __future__ import annotations

import importlib.util
import math
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradlab.errors import CompiledStepWarning, GradlabWarning, install_command
from gradlab.optim.rules import Adam, Params, RMSprop, Rule, State

#: The environment variable that turns compiled steps off when set to ``0``, and on for
#: every job, whatever its size, when set to ``1`` (see :func:`worth_compiling`).
ENV = "GRADLAB_NUMBA"

#: The least work (input values x epochs: rows x features x epochs) for which softmax
#: regression's compiled gradient is used by default, in row blocks, one per core, or on
#: one thread (one CPU, or ``cpu_threads=1``). A fresh process paid 0.64-0.79 s to import
#: numba and load the kernels from its cache (mostly numba importing SciPy's BLAS); on 2
#: CPUs the blocks saved 37.3 ms an epoch of 60,000 images of 784 pixels (0.79 ns per
#: input value; the fit took 0.59x the NumPy passes' time) and the kernel on one thread
#: 36.1 ms (0.60x): either repays its start-up after about 1.0e9, some 21 such epochs,
#: rounded up here (``python -m bench.experiments.fused_softmax``, 2026-11-30).
KERNEL_MIN_WORK = 1.25e9

#: The same for the MLP's blocked gradient (:mod:`gradlab.engines._numba_mlp`), which
#: saves more per input value: a fresh process paid 0.65 s for numba and the kernels, and
#: an epoch of the benchmark's MLP took 0.35 s instead of 0.39-0.49 s
#: (``python -m bench.experiments.blocked_mlp --startup``, 2026-11-30): 3e8 is about six
#: such epochs.
MLP_KERNEL_MIN_WORK = 3e8

#: ``step(params, grads, state, lr)``, as :meth:`gradlab.optim.rules.Rule.step`.
StepFn = Callable[[Params, Params, State, "float | None"], None]


def available() -> bool:
    """Whether compiled steps can be used: numba is installed and ``GRADLAB_NUMBA`` is not
    ``0``. Does not import numba (see :func:`status` for whether it imports)."""
    if setting() == "off":
        return False
    return importlib.util.find_spec("numba") is not None


#: What ``GRADLAB_NUMBA`` may say, lower-cased: off, on, or (unset) automatic.
SETTINGS = {"0": "off", "off": "off", "no": "off", "false": "off",
            "1": "on", "on": "on", "yes": "on", "true": "on", "": "auto"}  # fmt: skip

#: Values of ``GRADLAB_NUMBA`` already warned about (each once per process).
_WARNED: set[str] = set()


def setting() -> str:
    """``"off"``, ``"on"`` or ``"auto"``: what ``GRADLAB_NUMBA`` asks for. Any other value
    warns once and counts as unset."""
    raw = os.environ.get(ENV, "")
    value = SETTINGS.get(raw.strip().lower())
    if value is None:
        if raw not in _WARNED:
            _WARNED.add(raw)
            warnings.warn(
                f"{ENV}={raw!r} is not understood: set it to 0 (compiled steps off) or 1 "
                "(on for every job), or leave it unset (chosen by the job); it counts as "
                "unset.",
                GradlabWarning,
                stacklevel=2,
            )
        return "auto"
    return value


def forced() -> bool:
    """Whether ``GRADLAB_NUMBA=1`` asks for every compiled kernel, whatever the job's size."""
    return setting() == "on" and available()


def worth_compiling(work: float, min_work: float = KERNEL_MIN_WORK) -> bool:
    """Whether a job of ``work`` input values times epochs should use a compiled gradient
    (softmax regression's, or the MLP's with ``min_work=MLP_KERNEL_MIN_WORK``): numba is
    installed and on, and the job is large enough to repay numba's start-up
    (``min_work``), or ``GRADLAB_NUMBA=1``.

    The choice depends on the job alone, not on whether this process has loaded numba
    before: the same fit gives the same numbers in any process. (The kernel's sums are
    taken in another order than NumPy's, so its weights differ within float rounding.)
    """
    return available() and (forced() or work >= min_work)


def status(others: Sequence[tuple[str, str]] = ()) -> str:
    """``"on"``, ``"off"`` (``GRADLAB_NUMBA=0``), ``"not installed"``, or ``"broken: ..."``
    (numba is installed but the kernels' modules cannot be loaded, and why): the rules'
    kernels and ``others``, (module, function) pairs of a higher layer's kernels. Imports
    numba when it is installed and on."""
    if setting() == "off":
        return "off"
    if importlib.util.find_spec("numba") is None:
        return "not installed"
    for module, name in [*_KERNELS.values(), *others]:
        kernel = _load_kernel(module, name)
        if isinstance(kernel, str):
            return f"broken: {kernel}"
    return "on"


#: Where each rule's kernel lives: rule class -> (module, function).
_KERNELS: dict[type[Rule], tuple[str, str]] = {
    Adam: ("gradlab.optim._numba_adam", "adam_update"),
    RMSprop: ("gradlab.optim._numba_rmsprop", "rmsprop_update"),
}


def _load_kernel(module: str, name: str) -> Any:
    """The numba kernel ``module.name``, or the reason it cannot be had, as a string."""
    try:
        kernel = getattr(importlib.import_module(module), name)  # imports numba
    except Exception as exc:  # any failure means: run the NumPy passes
        # ImportError: e.g. a NumPy newer than this numba supports; RuntimeError: no
        # writable place for numba's cache ("no locator available")
        return f"{type(exc).__name__}: {exc}"
    return kernel


def compiled_kernel(module: str, name: str, what: str) -> Any:
    """The numba kernel ``module.name``, or None where compiled steps are off or numba is
    not installed; a numba that cannot load it warns (``what`` names the step) and gives
    None. For kernels that are not an update rule's, such as softmax regression's
    gradient (:mod:`gradlab.engines._numba_softmax`)."""
    if not available():
        return None
    kernel = _load_kernel(module, name)
    if isinstance(kernel, str):
        fallback_warning(what, kernel)
        return None
    return kernel


def cached_here(kernel: Any) -> bool | None:
    """Whether numba's cache holds ``kernel`` compiled for this CPU; False when its first
    call will compile it (about 10 s for softmax regression's kernels and 15 s for the
    MLP's, once: the first one-epoch ``gradlab train`` with ``GRADLAB_NUMBA=1`` and an
    empty ``NUMBA_CACHE_DIR`` took 11.2 s and 17.0 s, the second 0.75 s and 1.5 s;
    2026-12-01). None where numba's cache cannot be read that way (it reads numba's
    private index, which another numba may lay out otherwise).

    Only the CPU is compared, not the argument types: an entry for this CPU with other
    dtypes counts as cached."""
    try:
        index = kernel._cache._cache_file._load_index()
        here = kernel.targetctx.codegen().magic_tuple()
    except Exception:  # not a cached numba dispatcher, or another numba
        return None
    # each entry's key: (signature, the CPU's magic tuple, ...)
    return any(isinstance(key, tuple) and len(key) >= 2 and key[1] == here for key in index)


def fallback_warning(what: str, reason: str) -> None:
    """Warn that ``what``'s compiled step cannot be used, and why (``reason``)."""
    warnings.warn(
        f"gradlab: numba is installed but {what}'s compiled step cannot be "
        f"used ({reason}); it runs as NumPy passes instead (slower). "
        f"Reinstall with `{install_command('fast')}`, or set {ENV}=0 "
        "to silence this.",
        CompiledStepWarning,
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
    kind = next((k for k in _KERNELS if isinstance(rule, k)), None)
    if kind is None or not available():
        return None
    kernel = _load_kernel(*_KERNELS[kind])
    if isinstance(kernel, str):
        fallback_warning(type(rule).__name__, kernel)
        return None
    return _AdamStep(rule, kernel) if kind is Adam else _RMSpropStep(rule, kernel)


class _CompiledStep:
    """What every compiled step shares: which arrays the kernel takes, compiling it before
    any state changes, and falling back to ``rule.step``. A subclass names the slots its
    kernel updates and calls the kernel on one parameter's arrays."""

    #: The kernel's scalar arguments: how many numbers, then how many flags.
    N_NUMBERS: int
    N_FLAGS: int

    def __init__(self, rule: Rule, kernel: Any) -> None:
        self.rule = rule
        self.kernel = kernel
        #: The dtypes the kernel is compiled (or loaded from numba's cache) for.
        self.ready: set[np.dtype[Any]] = set()
        #: Set when the kernel failed to compile: every step is then ``rule.step``'s.
        self.broken = False

    def _slots(self, state: State, i: int) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def _constants(self, state: State, lr: float) -> tuple[tuple[float, ...], tuple[bool, ...]]:
        """This step's scalar arguments of the kernel, after the arrays: its numbers (in
        float64; each is rounded to the arrays' dtype, as NumPy rounds a Python float
        against an array) and its flags."""
        raise NotImplementedError

    def _update(self, params: Params, grads: Params, state: State, lr: float) -> None:
        numbers, flags = self._constants(state, lr)
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            f = p.dtype.type
            arrays = (x.reshape(-1) for x in (p, g, *self._slots(state, i)))
            self.kernel(*arrays, *(f(x) for x in numbers), *flags)

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
            zero = dt.type(0)
            try:  # p, g and three slots; then the numbers and the flags
                self.kernel(*(empty,) * 5, *(zero,) * self.N_NUMBERS, *(False,) * self.N_FLAGS)
            except Exception as exc:  # numba's typing and lowering errors
                self.broken = True
                fallback_warning(type(self.rule).__name__, f"{type(exc).__name__}: {exc}")
                return False
            self.ready.add(dt)
        return True

    def __call__(
        self, params: Params, grads: Params, state: State, lr: float | None = None
    ) -> None:
        if not self._takes(params, grads, state):
            self.rule.step(params, grads, state, lr)
            return
        self._update(params, grads, state, self.rule._begin(params, grads, state, lr))


class _AdamStep(_CompiledStep):
    """:meth:`Adam.step <gradlab.optim.rules.Adam.step>` (and AdamW's) through the kernel
    of :mod:`gradlab.optim._numba_adam`."""

    N_NUMBERS, N_FLAGS = 8, 3
    rule: Adam

    def _slots(self, state: State, i: int) -> tuple[np.ndarray, ...]:
        m, v = state.slots["exp_avg"][i], state.slots["exp_avg_sq"][i]
        vmax = state.slots["max_exp_avg_sq"][i] if self.rule.amsgrad else m
        return m, v, vmax

    def _constants(self, state: State, lr: float) -> tuple[tuple[float, ...], tuple[bool, ...]]:
        rule = self.rule
        b1, b2 = rule.betas
        t = state.step
        c1, c2 = 1 - b1**t, 1 - b2**t  # as Adam.step computes them, in float64
        a = lr * math.sqrt(c2) / c1
        e = rule.eps * math.sqrt(c2)
        wd = rule.weight_decay
        numbers = (b1, 1 - b1, b2, 1 - b2, a, e, wd, 1 - lr * wd)
        return numbers, (bool(wd) and not rule.decoupled, bool(wd) and rule.decoupled, rule.amsgrad)


class _RMSpropStep(_CompiledStep):
    """:meth:`RMSprop.step <gradlab.optim.rules.RMSprop.step>` through the kernel of
    :mod:`gradlab.optim._numba_rmsprop`."""

    N_NUMBERS, N_FLAGS = 6, 3
    rule: RMSprop

    def _slots(self, state: State, i: int) -> tuple[np.ndarray, ...]:
        sq = state.slots["square_avg"][i]
        ga = state.slots["grad_avg"][i] if self.rule.centered else sq
        buf = state.slots["momentum_buffer"][i] if self.rule.momentum else sq
        return sq, ga, buf

    def _constants(self, state: State, lr: float) -> tuple[tuple[float, ...], tuple[bool, ...]]:
        rule = self.rule
        a = rule.alpha
        numbers = (a, 1 - a, rule.eps, lr, rule.momentum, rule.weight_decay)
        return numbers, (bool(rule.weight_decay), rule.centered, bool(rule.momentum))


def _fits(a: Any, like: np.ndarray | None = None) -> bool:
    """``a`` is a C-contiguous float32/float64 ndarray (exactly; a subclass may reshape
    differently), of ``like``'s dtype and shape when given."""
    if type(a) is not np.ndarray or not a.flags.c_contiguous:
        return False
    if like is None:
        return a.dtype in (np.float32, np.float64)
    return bool(a.dtype == like.dtype and a.shape == like.shape)
