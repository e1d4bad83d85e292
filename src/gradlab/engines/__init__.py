"""Engines: where a linear model's arithmetic runs.

``numpy`` uses hand-derived gradients (compositions of :mod:`gradlab.ops`), ``torch``
uses autograd and ``tensorflow`` uses ``tf.GradientTape``. All three implement
:class:`LinearEngine` for the generalised linear models (linear, polynomial, logistic
regression), so the training loop in :mod:`gradlab.models.base` is written once.

PyTorch and TensorFlow are imported only when their engine is asked for.

The public names here are :func:`import_tensorflow` and the module
:mod:`gradlab.engines.torch_optim` (gradlab's update rules as ``torch.optim`` objects);
everything else is the engines' own plumbing.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Literal, Protocol

import numpy as np

from gradlab.errors import MissingDependencyError, UsageError
from gradlab.ops.linear import SquaredStats, squared_error_scale
from gradlab.optim import Batch, Rule, Schedule
from gradlab.params import LINEAR_ENGINES, Options, validate_one

__all__ = ["import_tensorflow"]

Kind = Literal["squared", "logistic"]
Reduction = Literal["mean", "sum"]

#: Above this many parameters (d + 1) the exact top eigenvalue of ``Z.T @ Z`` is not worth
#: its O(d**3); the curvature is then bounded by ``trace(Z.T @ Z)`` instead, and the NumPy
#: engine steps on the data rather than on the sufficient statistics.
EXACT_CURVATURE_MAX_D = 2000


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
        Squared error with the identity link (:func:`gradlab.ops.squared_error`), or
        cross-entropy with the sigmoid link (:func:`gradlab.ops.binary_cross_entropy`).
    reduction : {"mean", "sum"}
        How per-point losses combine. For ``squared``: ``mean`` is the mean squared
        error, ``sum`` is the tutorial's ``0.5 * sum(r**2)``. For ``logistic``: the
        mean or the sum of the binary cross-entropies.
    """

    X: np.ndarray
    y: np.ndarray
    kind: Kind
    reduction: Reduction

    @cached_property
    def stats(self) -> SquaredStats:
        """The sums of :class:`~gradlab.ops.linear.SquaredStats` (``Z.T @ Z``, the centred
        ``xc.T @ xc``, ...), computed once on first use."""
        return SquaredStats.of(self.X, self.y)

    def curvature(self) -> float:
        """``L``, the largest curvature of the full-batch loss: full-batch descent is stable
        exactly for learning rates below ``2 / L``.

        For squared error ``L`` is the top eigenvalue of the Hessian ``2a * Z.T @ Z``
        (``a = 1/n`` for the mean, ``1/2`` for the half sum). The logistic loss's
        Hessian ``Z.T @ diag(p * (1 - p)) @ Z`` (times ``1/n`` for the mean) is at most a
        quarter of ``Z.T @ Z``, whose top eigenvalue bounds ``L`` then. Wider than
        :data:`EXACT_CURVATURE_MAX_D` columns, ``trace(Z.T @ Z)`` stands in for the
        top eigenvalue (an upper bound, so the rates derived from it stay stable).
        """
        n, d = self.X.shape
        if d + 1 <= EXACT_CURVATURE_MAX_D:
            top = float(self.stats.eigh[0][-1])  # shared with the closed-form trajectory
        else:
            top = float(np.einsum("ij,ij->", self.X, self.X)) + n
        return _loss_scale(self.kind, self.reduction, n) * max(top, 0.0)

    def batch_curvature(self, batch_size: int) -> float:
        """An upper bound on the curvature of the loss on any batch of ``batch_size`` points.

        A sum over a batch has a Hessian no larger than the sum over all points, so
        :meth:`curvature` bounds it. A mean over ``m`` points has top eigenvalue at most
        ``max_i |z_i|**2`` (``z_i = [x_i, 1]``) times the loss's scale, and at most
        ``n/m`` times the full-batch one; the smaller bound is returned.
        """
        full = self.curvature()
        n = self.X.shape[0]
        if self.reduction == "sum" or batch_size >= n:
            return full
        row = float(np.max(np.einsum("ij,ij->i", self.X, self.X))) + 1.0
        per_point = _loss_scale(self.kind, "mean", 1)  # the scale of a mean over one point
        return float(min(full * n / batch_size, per_point * row))


def _loss_scale(kind: Kind, reduction: Reduction, n: int) -> float:
    """``s`` with the loss's Hessian ``<= s * Z.T @ Z`` on ``n`` points.

    Squared error: ``2/n`` for the mean, ``1`` for the half sum (equality). Binary
    cross-entropy: ``1/(4n)`` or ``1/4`` (``p * (1 - p) <= 1/4``).
    """
    per_point = 2.0 * squared_error_scale(n, reduction) if kind == "squared" else 0.25
    if kind == "logistic" and reduction == "mean":
        per_point /= n
    return per_point


@dataclass(frozen=True)
class Trajectory:
    """Every iterate of a run of full-batch descent, from the start (index 0) to the end.

    Attributes
    ----------
    losses : ndarray of shape (steps + 1,)
        The full-batch loss at each iterate.
    W : ndarray of shape (steps + 1, d)
        The weights at each iterate.
    B : ndarray of shape (steps + 1,)
        The intercept at each iterate.
    """

    losses: np.ndarray
    W: np.ndarray
    B: np.ndarray


class LinearEngine(Protocol):
    """The parameters ``w`` (d,) and ``b`` of one model, living on one engine.

    Fast paths
    ----------
    An engine may reach the same iterates as the plain step loop by a cheaper route.
    The NumPy engine has two, for the squared loss only; ``engine_options={"fast_paths":
    False}`` turns both off and runs the plain loop (tests compare the two):

    *sufficient statistics*
        A full-batch :meth:`step` or :meth:`loss` reads the data only through
        :class:`gradlab.ops.linear.SquaredStats` (``X.T @ X``, ... computed once), so it
        costs O(d**2) instead of O(n*d). Nothing changes for the loop.
    *closed-form trajectory*
        :meth:`trajectory`: every iterate of full-batch descent at once. The loop asks
        for it before stepping; an engine without it returns None.
    """

    def step(self, batch: Batch, lr: float) -> float:
        """Compute the loss on ``batch`` at the current parameters, then take one step of
        the engine's update rule (plain gradient descent unless built with another) at
        rate ``lr`` (the schedule's rate for this step, when there is one).

        Returns the batch loss before the step.
        """
        ...

    def loss(self) -> float:
        """The loss on all points at the current parameters."""
        ...

    def params(self) -> tuple[np.ndarray, float]:
        """The current ``(w, b)`` as a float64 NumPy array and a float."""
        ...

    def trajectory(self, lr: float, steps: int) -> Trajectory | None:
        """Optional fast path: ``steps`` full-batch steps at rate ``lr`` evaluated at once.

        Returns every iterate from the current parameters (which it does not change),
        equal to what ``steps`` calls of ``step(slice(None), lr)`` would visit, to
        rounding; or None when the engine has no closed form for its problem.
        """
        ...


#: the engine_options each engine takes
OPTIONS: dict[str, tuple[str, ...]] = {
    "numpy": ("fast_paths",),
    "torch": ("device", "dtype", "style"),
    "tensorflow": ("dtype",),
}

_MODULES = {
    "numpy": ("gradlab.engines.numpy_engine", None),
    "torch": ("gradlab.engines.torch_engine", ("PyTorch", "torch")),
    "tensorflow": ("gradlab.engines.tf_engine", ("TensorFlow", "tensorflow")),
}


def make_engine(
    name: str,
    problem: Problem,
    w0: np.ndarray,
    b0: float,
    *,
    rule: Rule | None = None,
    schedule: Schedule | None = None,
    **options: object,
) -> LinearEngine:
    """Build engine ``name`` for ``problem`` starting at ``(w0, b0)``.

    ``rule`` is the update rule each step applies (None: plain gradient descent) and
    ``schedule`` the rates it will be given, for an engine that drives its framework's own
    scheduler (torch); every engine takes the rate of each step from :meth:`step`.

    Raises
    ------
    UsageError
        ``name`` is no engine, or an option is not one the engine takes.
    MissingDependencyError
        The engine's framework is not installed; the message gives the install command.
    """
    validate_one("engine", name, Options(LINEAR_ENGINES), "make_engine")
    module_name, dep = _MODULES[name]
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
    engine: LinearEngine = module.build(problem, w0, b0, rule=rule, schedule=schedule, **options)
    return engine


def import_tensorflow() -> ModuleType:
    """TensorFlow, imported without the lines of C++ start-up log it writes to stderr.

    TensorFlow's native code logs on import (its oneDNN and CPU-feature notices) before
    its logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` alone does not silence it; the
    TensorFlow engine imports it with the process's stderr sent to ``/dev/null`` for the
    duration of the import. Later calls return the module already imported.

    Returns
    -------
    module
        The ``tensorflow`` module, as ``import tensorflow as tf`` gives it.

    Raises
    ------
    MissingDependencyError
        TensorFlow is not installed; the message gives the command that installs it.

    Examples
    --------
    >>> tf = import_tensorflow()  # doctest: +SKIP
    >>> tf.constant([1.0, 2.0]) * 2  # doctest: +SKIP
    """
    if importlib.util.find_spec("tensorflow") is None:
        raise MissingDependencyError("TensorFlow", "tensorflow")
    tf_engine = importlib.import_module("gradlab.engines.tf_engine")
    module: ModuleType = tf_engine.tf
    return module
