"""Update rules: how a gradient becomes a step. SGD (momentum, Nesterov), AdaGrad, RMSProp,
Adam and AdamW, with PyTorch's formulas, names and defaults.

A rule is a small immutable object holding hyperparameters; what it remembers between
steps (momentum buffers, running averages, the step count) lives in a separate
:class:`State`, so one rule can drive several parameter lists and a state can be saved
and restored on its own::

    rule = Adam(lr=1e-3)
    state = rule.init(params)                 # params: a list of float arrays
    for t in range(steps):
        grads = gradient(params)              # same shapes as params
        rule.step(params, grads, state)       # updates params in place
    arrays, scalars = state.state_dict()      # named arrays + a JSON-able dict

Every update is written as its formula, in plain math in the docstring and as in-place
NumPy operations in the code, into preallocated buffers: a step allocates nothing, and
parameters keep their dtype (float32 stays float32). Each rule reads ``grads`` and never
writes them.

Names follow ``torch.optim``: the state's arrays are called what PyTorch calls them
(``momentum_buffer``, ``sum``, ``square_avg``, ``grad_avg``, ``exp_avg``, ``exp_avg_sq``,
``max_exp_avg_sq``), the hyperparameters have PyTorch's names and defaults, and
``tests/test_optim_rules.py`` checks 200 steps of every rule against ``torch.optim``.

Speed: every operation is one pass over an array, so a step costs one call per operation
per parameter array. A model with many small arrays (a network's biases) can keep its
parameters and gradients in one buffer each (see :func:`pack`) and hand the rule one
flat array instead of a list: the same numbers in a fraction of the calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np

from gradlab.errors import DataError, UsageError
from gradlab.params import Constraint, Interval, Predicate, validate

__all__ = [
    "RULES",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "RMSprop",
    "Rule",
    "State",
    "make_rule",
    "pack",
]

Params = Sequence[np.ndarray]
"""Parameter (or gradient) arrays, float32 or float64, updated in place."""

# ------------------------------------------------------------------ validation tables

_RATE = Interval(Real, 0, None)  # PyTorch accepts a rate of 0 (a schedule may reach it)
_NONNEG = Interval(Real, 0, None)
_UNIT = Interval(Real, 0, 1, closed="left")  # a decay factor: 1 would never forget
_FLAG = Predicate(lambda v: isinstance(v, bool | np.bool_), "True or False")


def _is_betas(b: Any) -> bool:
    return len(b) == 2 and all(_UNIT.accepts(x) for x in b)


_BETAS = Predicate(_is_betas, "a pair of numbers in [0, 1)")


# ------------------------------------------------------------------ state


@dataclass
class State:
    """What a rule remembers between steps, for one list of parameters.

    Attributes
    ----------
    rule : str
        The name of the rule that made it (``"adam"``); checked when loading.
    slots : dict of str to list of ndarray
        Per-parameter arrays by PyTorch's names: ``slots["exp_avg"][i]`` belongs to
        ``params[i]`` and has its shape and dtype.
    step : int
        Steps taken so far (0 before the first).
    scratch : list of ndarray
        Work space, one array per parameter; overwritten by every step, never saved.
    decayed : list of ndarray
        Where ``g + weight_decay * p`` goes, one array per parameter, for the rules that
        add weight decay to the gradient (empty otherwise); never saved.
    """

    rule: str
    slots: dict[str, list[np.ndarray]]
    step: int = 0
    scratch: list[np.ndarray] = field(default_factory=list, repr=False)
    decayed: list[np.ndarray] = field(default_factory=list, repr=False)

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The state as named arrays (copies) and a JSON-able dict of scalars.

        Returns
        -------
        arrays : dict of str to ndarray
            ``"<slot>.<i>"`` for parameter ``i``: ``exp_avg.0``, ``exp_avg_sq.0``, ...
        scalars : dict
            ``{"rule": name, "step": count}``.
        """
        arrays = {
            f"{name}.{i}": a.copy() for name, arr in self.slots.items() for i, a in enumerate(arr)
        }
        return arrays, {"rule": self.rule, "step": self.step}

    def load_state_dict(self, arrays: Mapping[str, np.ndarray], scalars: Mapping[str, Any]) -> None:
        """Copy a saved state into this one (made by ``rule.init`` for the same parameters).

        After loading, the next step gives bit for bit what the saved run's next step gave.

        Raises
        ------
        DataError
            The saved state belongs to another rule, lacks or adds arrays, or an array's
            shape or dtype differs from the parameter's; the message names it.
        """
        if scalars.get("rule") != self.rule:
            raise DataError(
                f"optimizer state: saved for rule {scalars.get('rule')!r}, not {self.rule!r}.",
                hint="Resume with the update rule the run was saved with.",
            )
        step = scalars.get("step")
        if isinstance(step, bool) or not isinstance(step, Integral) or step < 0:
            raise DataError(f"optimizer state: step must be an integer >= 0; got {step!r}.")
        expected = {f"{name}.{i}" for name, arr in self.slots.items() for i in range(len(arr))}
        missing, extra = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
        if missing or extra:
            parts = [f"missing {', '.join(missing)}"] if missing else []
            parts += [f"unexpected {', '.join(extra)}"] if extra else []
            what, has = "; ".join(parts), ", ".join(sorted(expected)) or "no arrays"
            raise DataError(
                f"optimizer state: {what} (a {self.rule} state for "
                f"{len(self.scratch)} parameter arrays has {has}).",
                hint="Was it saved with other flags or for other parameters?",
            )
        for name, arr in self.slots.items():
            for i, a in enumerate(arr):
                saved = np.asarray(arrays[f"{name}.{i}"])
                if saved.shape != a.shape or saved.dtype != a.dtype:
                    raise DataError(
                        f"optimizer state: {name}.{i} is {saved.dtype} of shape {saved.shape}, "
                        f"but parameter {i} is {a.dtype} of shape {a.shape}."
                    )
        for name, arr in self.slots.items():
            for i, a in enumerate(arr):
                a[...] = arrays[f"{name}.{i}"]
        self.step = int(step)


def pack(arrays: Sequence[np.ndarray], dtype: Any = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Copy ``arrays`` into one contiguous buffer; return it and views of it shaped like them.

    A model that keeps its parameters (and its gradients) as such views can hand a rule
    the one flat array: every rule here acts element by element, so the result is the
    same as for the list, in one call per operation instead of one per array.

    Parameters
    ----------
    arrays : sequence of ndarray
        Any shapes, including 0-d (a scalar intercept).
    dtype : dtype, optional
        Of the buffer; by default the arrays' common type.

    Returns
    -------
    flat : ndarray, shape (total size,)
    views : list of ndarray
        ``views[i]`` has ``arrays[i]``'s shape and values and shares memory with ``flat``.
    """
    dt = np.dtype(dtype) if dtype is not None else np.result_type(*arrays)
    sizes = [int(np.size(a)) for a in arrays]
    flat = np.empty(sum(sizes), dt)
    views, start = [], 0
    for a, n in zip(arrays, sizes, strict=True):
        view = flat[start : start + n].reshape(np.shape(a))
        view[...] = a
        views.append(view)
        start += n
    return flat, views


# ------------------------------------------------------------------ the rules


@dataclass(frozen=True)
class Rule:
    """Base class: hyperparameters, validated on construction, and the common machinery.

    A subclass declares ``name``, its ``CONSTRAINTS`` table, which ``slots`` it keeps
    (:meth:`slot_names`) and their starting values (:meth:`initial`), and writes its
    update in :meth:`step`.
    """

    name: ClassVar[str]
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]]
    lr: float

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        validate(self.CONSTRAINTS, values, type(self).__name__)

    # -- what a subclass provides
    def slot_names(self) -> tuple[str, ...]:
        """Names of the per-parameter arrays this rule keeps (PyTorch's names)."""
        return ()

    def initial(self, slot: str) -> float:
        """The starting value of every element of ``slot``."""
        return 0.0

    def _decays_gradient(self) -> bool:
        """Whether ``step`` adds ``weight_decay * p`` to the gradient (L2 regularisation)."""
        return bool(getattr(self, "weight_decay", 0.0))

    def step(self, params: Params, grads: Params, state: State, lr: float | None = None) -> None:
        """One update of ``params`` in place from ``grads``; advances ``state``.

        Parameters
        ----------
        params : sequence of ndarray
            The arrays given to :meth:`init`, updated in place.
        grads : sequence of ndarray
            The loss's gradient with respect to each, same shapes; read, never written.
        state : State
            From :meth:`init` (or loaded), advanced by one step.
        lr : float, optional
            The learning rate for this step (a schedule's ``lr_at(t)``); default ``self.lr``.
        """
        raise NotImplementedError

    # -- the common machinery
    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's arguments, JSON-able (betas as a list)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def config(self) -> dict[str, Any]:
        """``{"name": ..., **hyperparameters}``: :func:`make_rule` ``(**config)`` rebuilds it."""
        return {"name": self.name, **self.hyperparameters()}

    def init(self, params: Params) -> State:
        """A fresh state for ``params``: zeroed (or ``initial``) slots, scratch, step 0.

        Raises
        ------
        UsageError
            A parameter is not a floating-point NumPy array.
        """
        owner = type(self).__name__
        for i, p in enumerate(params):
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                what = p.dtype if isinstance(p, np.ndarray) else type(p).__name__
                raise UsageError(
                    f"{owner}: parameter {i} is {what}; parameters must be float32 or "
                    "float64 NumPy arrays (updated in place)."
                )
        slots = {s: [np.full_like(p, self.initial(s)) for p in params] for s in self.slot_names()}
        scratch = [np.empty_like(p) for p in params]
        decayed = [np.empty_like(p) for p in params] if self._decays_gradient() else []
        return State(rule=self.name, slots=slots, scratch=scratch, decayed=decayed)

    def max_stable_lr(self, curvature: float) -> float | None:
        """The largest rate at which full-batch descent with this rule converges on a
        quadratic whose Hessian's largest eigenvalue is ``curvature``; None where the rule
        has no such threshold (the adaptive rules). See docs/optimizers.md."""
        return None

    def _begin(self, params: Params, grads: Params, state: State, lr: float | None) -> float:
        """Check the lists against the state, count the step, return this step's rate."""
        if len(params) != len(state.scratch) or len(grads) != len(params):
            raise ValueError(
                f"{type(self).__name__}.step: {len(params)} parameters and {len(grads)} "
                f"gradients for a state made for {len(state.scratch)}."
            )
        state.step += 1
        return self.lr if lr is None else float(lr)


def _decayed(g: np.ndarray, p: np.ndarray, state: State, i: int, wd: float) -> np.ndarray:
    """``g + wd * p`` (L2 weight decay added to the gradient), in ``state.decayed[i]``; ``g``
    itself when ``wd`` is 0."""
    if not wd:
        return g
    out = state.decayed[i]
    np.multiply(p, wd, out=out)
    out += g
    return out


@dataclass(frozen=True)
class SGD(Rule):
    """Stochastic gradient descent with optional momentum (PyTorch's form), dampening and
    Nesterov momentum.

    For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``::

        d = g + weight_decay * p
        if momentum:
            buf = d                                     (t = 1)
            buf = momentum * buf + (1 - dampening) * d  (t > 1)
            d = d + momentum * buf   if nesterov   else   buf
        p = p - lr * d

    The velocity ``buf`` is in gradient units, as in ``torch.optim.SGD`` (not the
    ``v = momentum * v - lr * g`` form of some textbooks, which differs once lr changes).

    Parameters
    ----------
    lr : float, default 1e-3
    momentum : float in [0, 1), default 0
    dampening : float in [0, 1], default 0
    weight_decay : float >= 0, default 0
    nesterov : bool, default False
        Needs ``momentum > 0`` and ``dampening == 0``.
    """

    name: ClassVar[str] = "sgd"
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "lr": _RATE,
        "momentum": _UNIT,
        "dampening": Interval(Real, 0, 1),
        "weight_decay": _NONNEG,
        "nesterov": _FLAG,
    }
    lr: float = 1e-3
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise UsageError(
                "SGD: nesterov=True needs momentum > 0 and dampening = 0; "
                f"got momentum={self.momentum:g}, dampening={self.dampening:g}."
            )

    def slot_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum else ()

    def max_stable_lr(self, curvature: float) -> float | None:
        # On f = L/2 p^2 (L = curvature + weight_decay) the iteration is linear; its
        # characteristic polynomial is stable exactly below these rates:
        #   plain:     lr * L < 2
        #   momentum:  lr * (1 - dampening) * L < 2 * (1 + momentum)
        #   Nesterov:  lr * L < 2 * (1 + momentum) / (1 + 2 * momentum)
        L = curvature + self.weight_decay
        if L <= 0:
            return None
        mu = self.momentum
        if self.nesterov:
            return 2 * (1 + mu) / ((1 + 2 * mu) * L)
        return 2 * (1 + mu) / ((1 - self.dampening) * L)

    def step(self, params: Params, grads: Params, state: State, lr: float | None = None) -> None:
        lr = self._begin(params, grads, state, lr)
        mu, first = self.momentum, state.step == 1
        bufs = state.slots.get("momentum_buffer")
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            s = state.scratch[i]
            d = _decayed(g, p, state, i, self.weight_decay)  # d = g + weight_decay*p
            if bufs is not None:
                buf = bufs[i]
                if first:
                    buf[...] = d  # buf = d
                else:
                    buf *= mu  # buf = mu*buf + (1 - dampening)*d
                    if self.dampening:
                        np.multiply(d, 1 - self.dampening, out=s)
                        buf += s
                    else:
                        buf += d
                if self.nesterov:  # d = d + mu*buf
                    np.multiply(buf, mu, out=s)
                    s += d
                    d = s
                else:  # d = buf
                    d = buf
            if lr == 1.0:  # p = p - d (an engine that folds lr into its gradients)
                p -= d
            else:  # p = p - lr*d
                np.multiply(d, lr, out=s)
                p -= s


@dataclass(frozen=True)
class Adagrad(Rule):
    """AdaGrad: each coordinate's rate divided by the root of its summed squared gradients.

    At step ``t = 1, 2, ...``::

        g   = g + weight_decay * p
        sum = sum + g * g                      (sum starts at initial_accumulator_value)
        p   = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)

    Parameters
    ----------
    lr : float, default 1e-2
    lr_decay : float >= 0, default 0
    weight_decay : float >= 0, default 0
    initial_accumulator_value : float >= 0, default 0
    eps : float >= 0, default 1e-10
    """

    name: ClassVar[str] = "adagrad"
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "lr": _RATE,
        "lr_decay": _NONNEG,
        "weight_decay": _NONNEG,
        "initial_accumulator_value": _NONNEG,
        "eps": _NONNEG,
    }
    lr: float = 1e-2
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10

    def slot_names(self) -> tuple[str, ...]:
        return ("sum",)

    def initial(self, slot: str) -> float:
        return self.initial_accumulator_value

    def step(self, params: Params, grads: Params, state: State, lr: float | None = None) -> None:
        lr = self._begin(params, grads, state, lr)
        clr = lr / (1 + (state.step - 1) * self.lr_decay)
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            s = state.scratch[i]
            g = _decayed(g, p, state, i, self.weight_decay)  # g = g + weight_decay*p
            total = state.slots["sum"][i]
            np.square(g, out=s)  # sum = sum + g*g
            total += s
            np.sqrt(total, out=s)  # p = p - clr * g / (sqrt(sum) + eps)
            s += self.eps
            np.divide(g, s, out=s)
            s *= clr
            p -= s


@dataclass(frozen=True)
class RMSprop(Rule):
    """RMSProp: the rate divided by a running root mean square of the gradient.

    At each step::

        g          = g + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        if centered:                                   (subtract the squared mean)
            grad_avg = alpha * grad_avg + (1 - alpha) * g
            denom    = sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            denom    = sqrt(square_avg) + eps
        if momentum:
            buf = momentum * buf + g / denom
            p   = p - lr * buf
        else:
            p   = p - lr * g / denom

    Parameters
    ----------
    lr : float, default 1e-2
    alpha : float in [0, 1), default 0.99
    eps : float >= 0, default 1e-8
    weight_decay : float >= 0, default 0
    momentum : float in [0, 1), default 0
    centered : bool, default False
    """

    name: ClassVar[str] = "rmsprop"
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "lr": _RATE,
        "alpha": _UNIT,
        "eps": _NONNEG,
        "weight_decay": _NONNEG,
        "momentum": _UNIT,
        "centered": _FLAG,
    }
    lr: float = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False

    def slot_names(self) -> tuple[str, ...]:
        return (
            "square_avg",
            *(("momentum_buffer",) if self.momentum else ()),
            *(("grad_avg",) if self.centered else ()),
        )

    def step(self, params: Params, grads: Params, state: State, lr: float | None = None) -> None:
        lr = self._begin(params, grads, state, lr)
        a = self.alpha
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            s = state.scratch[i]
            g = _decayed(g, p, state, i, self.weight_decay)  # g = g + weight_decay*p
            sq = state.slots["square_avg"][i]
            sq *= a  # square_avg = alpha*square_avg + (1 - alpha)*g*g
            np.square(g, out=s)
            s *= 1 - a
            sq += s
            if self.centered:
                ga = state.slots["grad_avg"][i]
                ga *= a  # grad_avg = alpha*grad_avg + (1 - alpha)*g
                np.multiply(g, 1 - a, out=s)
                ga += s
                np.square(ga, out=s)  # denom = sqrt(square_avg - grad_avg^2) + eps
                np.subtract(sq, s, out=s)
                np.sqrt(s, out=s)
            else:
                np.sqrt(sq, out=s)  # denom = sqrt(square_avg) + eps
            s += self.eps
            np.divide(g, s, out=s)  # s = g / denom
            if self.momentum:
                buf = state.slots["momentum_buffer"][i]
                buf *= self.momentum  # buf = momentum*buf + g/denom
                buf += s
                np.multiply(buf, lr, out=s)  # p = p - lr*buf
            else:
                s *= lr  # p = p - lr * g/denom
            p -= s


@dataclass(frozen=True)
class Adam(Rule):
    """Adam: momentum on the gradient, divided by a running root mean square, both
    corrected for starting at zero.

    At step ``t = 1, 2, ...``::

        g  = g + weight_decay * p                  (Adam; AdamW decays p instead)
        m  = beta1 * m + (1 - beta1) * g           (exp_avg)
        v  = beta2 * v + (1 - beta2) * g * g       (exp_avg_sq)
        vmax = max(vmax, v);  v = vmax             (amsgrad only: max_exp_avg_sq)
        p  = p - lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)

    The code computes the last line as ``p - a * m / (sqrt(v) + e)`` with
    ``a = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`` and ``e = eps * sqrt(1 - beta2^t)``,
    the same number in one pass fewer.

    Parameters
    ----------
    lr : float, default 1e-3
    betas : (float, float) in [0, 1), default (0.9, 0.999)
    eps : float >= 0, default 1e-8
    weight_decay : float >= 0, default 0
        Added to the gradient (L2 regularisation); see :class:`AdamW` for the decoupled
        form.
    amsgrad : bool, default False
        Divide by the largest ``v`` seen so far.
    """

    name: ClassVar[str] = "adam"
    CONSTRAINTS: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "lr": _RATE,
        "betas": _BETAS,
        "eps": _NONNEG,
        "weight_decay": _NONNEG,
        "amsgrad": _FLAG,
    }
    decoupled: ClassVar[bool] = False
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "betas", tuple(self.betas))  # a JSON list back to a pair

    def slot_names(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq", *(("max_exp_avg_sq",) if self.amsgrad else ()))

    def _decays_gradient(self) -> bool:
        return bool(self.weight_decay) and not self.decoupled

    def step(self, params: Params, grads: Params, state: State, lr: float | None = None) -> None:
        lr = self._begin(params, grads, state, lr)
        b1, b2 = self.betas
        t = state.step
        c1, c2 = 1 - b1**t, 1 - b2**t  # the bias corrections
        a = lr * math.sqrt(c2) / c1
        e = self.eps * math.sqrt(c2)
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            s = state.scratch[i]
            if self.decoupled:
                if self.weight_decay:
                    p *= 1 - lr * self.weight_decay  # p = p - lr*wd*p
            else:
                g = _decayed(g, p, state, i, self.weight_decay)  # g = g + weight_decay*p
            m, v = state.slots["exp_avg"][i], state.slots["exp_avg_sq"][i]
            m *= b1  # m = beta1*m + (1 - beta1)*g
            np.multiply(g, 1 - b1, out=s)
            m += s
            v *= b2  # v = beta2*v + (1 - beta2)*g*g
            np.square(g, out=s)
            s *= 1 - b2
            v += s
            if self.amsgrad:  # vmax = max(vmax, v); the step divides by vmax
                vmax = state.slots["max_exp_avg_sq"][i]
                np.maximum(vmax, v, out=vmax)
                v = vmax
            np.sqrt(v, out=s)  # p = p - a * m / (sqrt(v) + e)
            s += e
            np.divide(m, s, out=s)
            s *= a
            p -= s


@dataclass(frozen=True)
class AdamW(Adam):
    """Adam with decoupled weight decay: the parameters shrink by ``lr * weight_decay``
    of themselves before the Adam step, instead of the decay entering the gradient.

    At step ``t``::

        p = p - lr * weight_decay * p
        (then Adam's update with weight_decay = 0)

    Parameters
    ----------
    lr : float, default 1e-3
    betas : (float, float) in [0, 1), default (0.9, 0.999)
    eps : float >= 0, default 1e-8
    weight_decay : float >= 0, default 1e-2
    amsgrad : bool, default False
    """

    name: ClassVar[str] = "adamw"
    decoupled: ClassVar[bool] = True
    weight_decay: float = 1e-2


# ------------------------------------------------------------------ names


_PRESETS: dict[str, tuple[type[Rule], dict[str, Any]]] = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (Adagrad, {}),
    "rmsprop": (RMSprop, {}),
    "adam": (Adam, {}),
    "adamw": (AdamW, {}),
}

#: The rules by name, for the CLI's choices and for checkpoints. ``momentum`` and
#: ``nesterov`` are SGD with momentum 0.9 (and Nesterov's form); the rest take PyTorch's
#: defaults.
RULES: tuple[str, ...] = tuple(_PRESETS)


def is_plain(rule: Rule) -> bool:
    """Whether ``rule`` is plain gradient descent, ``p -= lr * g``: SGD without momentum or
    weight decay, whatever its other settings. The closed-form fast paths hold only for it."""
    return isinstance(rule, SGD) and rule.momentum == 0 and rule.weight_decay == 0


def make_rule(name: str, **hyperparameters: Any) -> Rule:
    """The rule called ``name`` (one of :data:`RULES`), with ``hyperparameters`` over its
    defaults; ``make_rule(**rule.config())`` rebuilds ``rule``.

    Raises
    ------
    UsageError
        An unknown name, an unknown hyperparameter, or a bad value.
    """
    if name not in _PRESETS:
        raise UsageError(f"make_rule: name must be one of {', '.join(RULES)}; got {name!r}.")
    cls, preset = _PRESETS[name]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(hyperparameters) - known)
    if unknown:
        raise UsageError(
            f"{cls.__name__}: no hyperparameter {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(known))}."
        )
    return cls(**{**preset, **hyperparameters})
