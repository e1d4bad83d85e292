"""The estimator base of the linear models, and the loop that trains them.

The loop is the whole algorithm, written once for every engine and method
(:func:`descend`)::

    for epoch in 1..epochs:
        for batch in epoch_batches(method):        # all points, one point, or a slice
            lr_t = schedule.lr_at(t) or lr          # t = 0, 1, ... counts the steps
            loss = engine.step(batch, lr_t)         # loss at w, then the rule's step:
                                                    #   w <- w - lr_t * grad for plain SGD
            guard.check(loss)                       # stop on a non-finite or exploding loss
        history.append(epoch, loss on all points)

with one fast path, asked for by name: before full-batch descent with plain SGD at a
constant rate the loop asks the engine for ``engine.trajectory(lr, epochs)``, the same
iterates computed in closed form (the NumPy engine has it for the squared loss; see
:class:`gradlab.engines.LinearEngine`), and runs the steps itself when the answer is None.
Any other rule (momentum, Adam, ...; ``optimizer=``) or a schedule (``schedule=``) always
takes the loop: the closed form is that of ``w <- w - lr * grad`` alone.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from numbers import Integral, Real
from typing import Any, ClassVar, Self

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.exceptions import DataConversionWarning
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import validate_data

from gradlab.engines import Kind, LinearEngine, Problem, Reduction, Trajectory, make_engine
from gradlab.errors import (
    DataError,
    DivergenceError,
    GradlabWarning,
    UsageError,
    outside_stacklevel,
)
from gradlab.history import History
from gradlab.models._input import as_numbers, to_numpy
from gradlab.ops.linear import squared_error_scale
from gradlab.optim import DivergenceGuard, Method, epoch_batches, plain_number
from gradlab.optim.rules import RULES, SGD, Adagrad, Adam, RMSprop, Rule, is_plain, make_rule
from gradlab.optim.schedules import OneCycleLR, Schedule
from gradlab.optim.spec import ScheduleSpec
from gradlab.params import (
    LINEAR_ENGINES,
    MAX_EPOCHS,
    METHODS,
    RANDOM_STATE,
    Constraint,
    Interval,
    Options,
    Predicate,
    SeedLike,
    draw_seed,
    validate,
)


class NotFittedError(UsageError, SklearnNotFittedError):  # type: ignore[misc]
    """``predict`` (or another method) before ``fit``; scikit-learn's NotFittedError too."""


class ConvergenceWarning(GradlabWarning, SklearnConvergenceWarning):  # type: ignore[misc]
    """A regression's descent ended far from the least-squares fit it was after;
    scikit-learn's ConvergenceWarning too, so its filters and ``GradlabWarning``'s both
    apply."""


#: Set while fits are stopped short on purpose (see :func:`short_fits_expected`); a
#: context variable, so that another thread's fits are still checked.
_SHORT_FITS_EXPECTED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "gradlab_short_fits_expected", default=False
)


@contextlib.contextmanager
def short_fits_expected() -> Iterator[None]:
    """Skip the :class:`ConvergenceWarning` check for the fits this thread makes in the
    block: fits stopped short on purpose (a warm-up epoch, a sweep over rates that shows
    the bad ones too)."""
    token = _SHORT_FITS_EXPECTED.set(True)
    try:
        yield
    finally:
        _SHORT_FITS_EXPECTED.reset(token)


#: A squared-error fit warns when its training loss exceeds the least-squares loss by more
#: than this share of the latter... On the tutorial's data.csv, plain descent at its rate
#: of 0.0001 ends 2.1% above after 1,000 epochs, mini-batches at the auto rate 14% above;
#: constant-rate SGD ended 150% above, the defaults of PolynomialRegression 176% above,
#: and 0.0001 on a generated line (x in 0..15) 330% above, all without a word.
CONVERGENCE_EXCESS = 0.5

#: ... and by more than this share of y's variance (a training R² 0.01 below the closed
#: form's), so that a fit of exact data, whose least-squares loss is about 0, may stop
#: a rounding error away from it.
CONVERGENCE_FLOOR = 0.01

#: Wider than this many features the check's least-squares solve (O(d**3)) is skipped.
CONVERGENCE_CHECK_MAX_D = 200

#: A fit that has not computed the data's sums of products (the NumPy engine computes
#: them; another engine, or ``fast_paths=False``, may not) skips the check above this many
#: input values: the sums would cost a pass of O(n * d**2) and a centred copy of X (80 MB
#: at 1e7 float64 values).
CONVERGENCE_CHECK_MAX_VALUES = 10**7


# ------------------------------------------------------------------ input at the boundary


def _show(v: float) -> str:
    return "NaN" if math.isnan(v) else repr(float(v))


#: What to do about a value too large to fit on (see :func:`_check_magnitude`).
RESCALE_HINT = (
    "Rescale that column (divide it by a power of 10, or standardise it with "
    "sklearn.preprocessing.StandardScaler) and fit again."
)


def _check_magnitude(
    F: np.ndarray, name_of: Callable[[int, int], str], hint: str = RESCALE_HINT
) -> None:
    """Refuse a value so large that sums of squares of the column overflow float64: the
    curvature, the auto rate and the closed form would then be inf or nan (an eigenvalue
    solver that does not converge, a rate of nan). ``name_of(i, j)`` names the features'
    entry ``(i, j)`` in the user's terms."""
    from gradlab.data.points import magnitude_limit

    n = F.shape[0]
    limit = magnitude_limit(n)
    big = np.abs(F)
    over = big.max(axis=0) > limit
    if over.any():
        j = int(np.argmax(over))  # the first such column: for powers, the lowest power
        i = int(big[:, j].argmax())
        raise DataError(
            f"{name_of(i, j)} is {F[i, j]:g}, too large: the sum of the squares "
            f"of {n} such values, which the fit needs (the loss's curvature, the closed "
            f"form), overflows float64 (keep every value within {limit:.3g}).",
            hint=hint,
        )


def as_features(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as a float64 array of shape (n, d), checked.

    Raises
    ------
    DataError
        ``X`` is not 2-D, has no rows or no columns, holds complex numbers, NaN or
        infinities; the message names the first bad entry.
    NotNumbersError
        Some entry of ``X`` is no number.
    """
    if hasattr(X, "tocsr"):
        raise DataError(
            f"{name} is a scipy sparse matrix; gradlab's linear models take dense arrays. "
            f"Pass {name}.toarray()."
        )
    raw = to_numpy(X, name)  # a tensor detached and on the CPU, bfloat16 as float32
    if np.iscomplexobj(raw):
        raise DataError(f"Complex data not supported: {name} holds complex numbers.")
    arr = as_numbers(raw, np.float64, name)
    if arr.ndim == 1:
        raise DataError(
            f"{name} must be 2-D, of shape (n_samples, n_features); got shape {arr.shape}. "
            f"Reshape your data: for one feature pass {name}.reshape(-1, 1)."
        )
    if arr.ndim != 2:
        raise DataError(f"{name} must have shape (n_samples, n_features), got shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise DataError(f"{name} has no rows (shape {arr.shape}).")
    if arr.shape[1] == 0:
        raise DataError(
            f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if not np.isfinite(arr).all():
        i, j = np.argwhere(~np.isfinite(arr))[0]
        shown = "None" if raw.dtype == object and raw[i, j] is None else _show(arr[i, j])
        raise DataError(f"{name}[{i}, {j}] is {shown}; values must be finite.")
    return arr


def column(y: Any, n: int, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D array of ``n`` entries (any dtype); a column (n, 1) is flattened with
    scikit-learn's DataConversionWarning."""
    if hasattr(y, "tocsr"):
        raise DataError(f"{name} is a scipy sparse matrix; pass {name}.toarray().ravel().")
    arr = to_numpy(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        warnings.warn(
            DataConversionWarning(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples, ), for example using ravel()."
            ),
            stacklevel=outside_stacklevel(),
        )
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(f"{name} must have shape (n_samples,), got shape {arr.shape}.")
    if arr.shape[0] != n:
        raise DataError(f"X has {n} rows but {name} has {arr.shape[0]} values; they must match.")
    return arr


def as_targets(y: Any, n: int, name: str = "y") -> np.ndarray:
    """``y`` as finite float64 numbers of shape (n,), checked against the ``n`` rows of X."""
    raw = column(y, n, name)
    if np.iscomplexobj(raw):
        raise DataError(f"Complex data not supported: {name} holds complex numbers.")
    arr = as_numbers(raw, np.float64, name)
    if not np.isfinite(arr).all():
        i = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise DataError(f"{name}[{i}] is {_show(arr[i])}; values must be finite.")
    return arr


def _vector(v: Any, size: int, name: str) -> np.ndarray:
    try:
        arr = np.asarray(v, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name} must be {size} numbers: {exc}") from None
    if arr.size != size or not np.isfinite(arr).all():
        raise UsageError(f"{name} must be {size} finite numbers, got {v!r}.")
    return arr


# ------------------------------------------------------------------ the loop


def _param_columns(w: np.ndarray, b: Any) -> dict[str, Any]:
    """History columns for the parameters: ``b`` and ``w`` (or ``w1``..``wd``); none if d > 8.

    ``w`` may be of shape (d,) for one epoch or (d, epochs) for many.
    """
    if len(w) > 8:
        return {}
    if len(w) == 1:
        return {"b": b, "w": w[0]}
    return {"b": b, **{f"w{i + 1}": w[i] for i in range(len(w))}}


def descend(
    engine: LinearEngine,
    *,
    lr: float,
    epochs: int,
    method: Method,
    batch_size: int,
    n: int,
    rng: np.random.Generator,
    guard: DivergenceGuard,
    schedule: Schedule | None = None,
    closed_form: bool = True,
) -> tuple[History, int, np.ndarray, float]:
    """Gradient descent from the engine's parameters: the loop of the module docstring.

    ``schedule`` gives step ``t``'s rate (``t = 0, 1, ...`` counts steps); without one
    every step takes ``lr``. ``closed_form`` allows the engine's closed-form trajectory
    (plain SGD at a constant rate only: the caller says whether that is the case).

    Returns
    -------
    history : History
        ``loss`` and the parameters per epoch (epoch 0 is the start); ``step_loss``.
    steps : int
    w : ndarray of shape (d,)
    b : float
        The end point.

    Raises
    ------
    DivergenceError
        From ``guard``, with the last parameters whose loss was finite.
    """
    w0, b0 = engine.params()
    start = engine.loss()
    _check_start(start, w0, b0)
    if method == "batch" and closed_form and schedule is None:
        trajectory = engine.trajectory(lr, epochs)
        if trajectory is not None:
            # iterate 0 is the start itself, not its round trip through the eigenbasis
            # (which, for huge values, can come back as anything)
            trajectory.W[0], trajectory.B[0] = w0, b0
            return _from_trajectory(trajectory, guard)
    history = History()
    history.append(epoch=0, loss=start, **_param_columns(w0, b0))
    good: dict[str, Any] = {"epoch": 0, "coef": w0, "intercept": b0}
    last_good = good.copy  # the guard calls this only on failure
    step = 0
    try:
        for epoch in range(1, epochs + 1):
            for batch in epoch_batches(n, method, batch_size, rng):
                rate = lr if schedule is None else schedule.lr_at(step)
                step += 1
                batch_loss = engine.step(batch, rate)
                history.step_loss.append(batch_loss)
                guard.check(step, batch_loss, last_good)
            loss = engine.loss()
            guard.check(step, loss, last_good)
            w, b = engine.params()
            history.append(epoch=epoch, loss=loss, **_param_columns(w, b))
            good.update(epoch=epoch, coef=w, intercept=b)
    except DivergenceError as exc:  # the curve so far, for a comparison that shows it
        exc.losses = list(history["loss"])
        raise
    w, b = engine.params()
    return history, step, w, b


def _check_start(loss: float, w: np.ndarray, b: float) -> None:
    """Refuse a start whose loss is already not finite: no rate can help, and the
    divergence guard would blame the rate."""
    if not math.isfinite(loss) and not np.any(w) and b == 0:  # the loss of y alone
        raise UsageError(
            f"the loss at the starting point (every weight 0) is {loss}: the targets y are "
            "too large for float64 (their squares overflow).",
            hint="Scale y down, for example with scikit-learn's TransformedTargetRegressor "
            "and a StandardScaler.",
        )
    if not math.isfinite(loss):
        coef = ", ".join(f"{v:.6g}" for v in np.atleast_1d(w))
        raise UsageError(
            f"the loss at the starting point (coef_init = [{coef}], intercept_init = {b:.6g})"
            f" is {loss}: those values are too large for this data.",
            hint="Start nearer zero, or leave coef_init and intercept_init out (zeros).",
        )


def _from_trajectory(
    trajectory: Trajectory, guard: DivergenceGuard
) -> tuple[History, int, np.ndarray, float]:
    """What the loop would have recorded, read off the engine's closed-form trajectory."""
    losses, W, B = trajectory.losses, trajectory.W, trajectory.B
    steps = len(losses) - 1

    def at(t: int) -> Any:
        return lambda: {"epoch": t, "coef": W[t].copy(), "intercept": float(B[t])}

    guard.check(1, float(losses[0]), at(0))
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(losses) | (losses > guard.explode * max(losses[0], 1.0))
    if bad.any():  # the loop stops at step t, on the loss after it, keeping iterate t - 1
        t = int(np.argmax(bad))
        try:
            guard.check(max(t, 1), float(losses[t]), at(max(t - 1, 0)))
        except DivergenceError as exc:  # each step is an epoch here: the losses before t
            exc.losses = losses[:t].tolist()
            raise
    columns = {"epoch": np.arange(steps + 1, dtype=float), "loss": losses}
    columns.update(_param_columns(W.T, B))
    history = History(columns={k: np.asarray(v).tolist() for k, v in columns.items()})
    history.step_loss = losses[:-1].tolist()
    return history, steps, W[-1].copy(), float(B[-1])


# ------------------------------------------------------------------ the divergence guard


def step_bound(rule: Rule) -> float | None:
    """How far one step of an adaptive rule can move a parameter, as a multiple of its rate
    (whatever the gradient); None for the SGD family, whose step scales with the gradient.

    Adam's step is at most about ``(1 - beta1) / sqrt(1 - beta2)`` (Kingma and Ba's bound,
    3.2 at the defaults), RMSProp's ``1 / sqrt(1 - alpha)`` (10 at alpha 0.99, on the
    first step) and ``1 / (1 - momentum)`` more with momentum, AdaGrad's 1.
    """
    if isinstance(rule, Adam):
        b1, b2 = rule.betas
        return (1 - b1) / math.sqrt(1 - b2)
    if isinstance(rule, RMSprop):
        return 1 / math.sqrt(1 - rule.alpha) / (1 - rule.momentum)
    if isinstance(rule, Adagrad):
        return 1.0
    return None


class RuleGuard(DivergenceGuard):
    """The divergence guard, with advice that fits the update rule.

    For the SGD family ``stable_lr`` gives the rule's stable rate on the loss's curvature
    (``rule.max_stable_lr``: ``2 / L`` for plain SGD, ``3.8 / L`` with momentum 0.9), named
    in the message. The adaptive rules have none: a rate too large for them makes every
    step about that large (a bounce of about ``lr`` around the minimum, see
    :func:`step_bound`), so the advice says so, and that a loss that is not finite at a
    moderate rate points at the data or the model rather than at the rate.
    """

    def __init__(self, rule: Rule, explode: float, stable_lr: Callable[[], float | None]) -> None:
        super().__init__(rule.lr, explode, stable_lr=stable_lr)
        self.rule = rule

    def suggestion(self) -> str:
        bound = step_bound(self.rule)
        if bound is None:
            advice = super().suggestion()
            if not is_plain(self.rule):  # say whose stable rate it is
                advice = advice.replace("full-batch descent", f"full-batch {self._sgd()}", 1)
            return advice
        name = type(self.rule).__name__
        return (
            f"Try a smaller learning rate, e.g. {plain_number(self.lr / 10)}: with {name} each "
            f"step moves every parameter by up to about {bound:.2g} x lr "
            f"({plain_number(bound * self.lr)} here) whatever the gradient, so the rate must "
            "be small beside the parameters' scale. A loss that becomes nan or inf at a "
            "small rate points at the data (an inf, a huge value) or the loss instead."
        )

    def _sgd(self) -> str:
        """``SGD with momentum 0.9`` (and Nesterov's, dampening, weight decay)."""
        rule = self.rule
        parts = [f"momentum {getattr(rule, 'momentum', 0):g}"]
        if getattr(rule, "nesterov", False):
            parts[0] = f"Nesterov momentum {getattr(rule, 'momentum', 0):g}"
        if getattr(rule, "dampening", 0):
            parts.append(f"dampening {getattr(rule, 'dampening', 0):g}")
        if getattr(rule, "weight_decay", 0):
            parts.append(f"weight decay {getattr(rule, 'weight_decay', 0):g}")
        return "SGD with " + ", ".join(parts)


def _nominal_rate(schedule: Schedule) -> float:
    """The rate a schedule is built around: its ``lr``, or ``max_lr`` for one cycle."""
    return schedule.max_lr if isinstance(schedule, OneCycleLR) else schedule.base_lr


# ------------------------------------------------------------------ the estimator base

_POSITIVE = Interval(Real, 0, None, closed="neither")

#: Every linear model's parameters but ``loss`` (whose options are the model's own).
PARAMETERS: dict[str, Constraint | list[Constraint]] = {
    "lr": [_POSITIVE, Predicate(lambda v: isinstance(v, str) and v == "auto", "'auto'")],
    "epochs": Interval(Integral, 1, MAX_EPOCHS),
    "method": Options(METHODS),
    "batch_size": Interval(Integral, 1, None),
    "engine": Options(LINEAR_ENGINES),
    "random_state": RANDOM_STATE,
    "explode": _POSITIVE,
    "engine_options": [
        Predicate(
            lambda v: isinstance(v, Mapping) and all(isinstance(k, str) for k in v),
            "a dict of engine options",
        ),
        None,
    ],
    "optimizer": [
        Options(RULES),
        Predicate(lambda v: isinstance(v, Rule), "a Rule from gradlab.optim.rules"),
    ],
    "schedule": [
        None,
        Predicate(
            lambda v: (
                isinstance(v, str | Mapping | Schedule) or (callable(v) and not isinstance(v, type))
            ),
            "a schedule's name (constant, step, exponential, cosine, warmup, onecycle), a "
            'dict {"name": ..., **options}, a Schedule from gradlab.optim.schedules or a '
            "function (lr, steps) -> Schedule",
        ),
    ],
}

_COMMON_DOC = """\
    lr : float or "auto", default "auto"
        Learning rate: with plain SGD each step moves the parameters by ``-lr *
        gradient``. ``"auto"`` takes half the largest stable rate of the update rule on
        the loss's largest curvature ``L`` computed from the data (for ``sgd`` and
        ``minibatch``, a bound over every batch): ``1 / L`` for plain SGD (stable below
        ``2 / L``), ``1.9 / L`` with momentum 0.9, ``0.68 / L`` with Nesterov's (see
        ``Rule.max_stable_lr``), so that full-batch descent converges. With ``sgd`` and
        ``minibatch`` momentum takes at most plain SGD's ``1 / L``: its bound holds for
        one fixed quadratic, and steps alternating between batches can grow below it
        (momentum 0.9 at ``1.9 / L`` diverges on the tutorial's data in batches of 32).
        The adaptive rules (adagrad, rmsprop, adam, adamw) have no such rate: each step moves every
        parameter by about ``lr`` whatever the curvature, and ``"auto"`` takes the rule's
        own default (PyTorch's: 0.01, 0.01, 0.001, 0.001; or a Rule's ``lr``). The rate
        used is ``lr_``. The tutorials use 0.0001 (``data.csv``) and 0.001.
        scikit-learn's SGDRegressor/SGDClassifier: ``eta0`` with
        ``learning_rate="constant"``.
    epochs : int, default 1000
        Passes over the data; with ``method="batch"`` one pass is one step (the
        tutorial's ``num_iterations``). scikit-learn: ``max_iter`` (gradlab always runs
        them all; there is no ``tol``).
    method : {"batch", "sgd", "minibatch"}, default "batch"
        All points per step, one point per step (scikit-learn's SGD estimators), or
        ``batch_size`` points per step.
    batch_size : int, default 32
        Points per step for ``minibatch`` (scikit-learn's MLP: ``batch_size``).
    engine : {"numpy", "torch", "tensorflow"}, default "numpy"
        Where the arithmetic runs: hand-derived gradients, autograd or GradientTape.
    random_state : int, RandomState, Generator or None, default 0
        Seeds the shuffling of ``sgd`` and ``minibatch`` (the CLI's ``--seed``); None
        draws a fresh seed each fit, and a NumPy generator gives each fit its next number.
    explode : float, default 1e8
        A loss above ``explode`` times the first loss (or times 1, if the first loss is
        below 1) stops training as diverged.
    engine_options : dict, optional
        Passed to the engine: for numpy ``fast_paths`` (default True); for torch
        ``style="autograd" | "nn"`` and ``device``; for torch and tensorflow
        ``dtype="float64" | "float32"``.
    optimizer : str or Rule, default "sgd"
        The update rule: a name from ``gradlab.optim.RULES`` (``"sgd"``: plain gradient
        descent, the tutorials' rule, with the closed-form fast paths; ``"momentum"`` and
        ``"nesterov"``: SGD with momentum 0.9; ``"adagrad"``, ``"rmsprop"``, ``"adam"``,
        ``"adamw"`` with PyTorch's defaults) or a ``gradlab.optim.rules.Rule`` with its
        own hyperparameters (its ``lr`` is used only by ``lr="auto"`` with an adaptive
        rule; otherwise ``lr`` sets the rate). The numpy
        engine applies gradlab's rules in float64, torch ``torch.optim``'s equivalent,
        tensorflow gradlab's rules on the tape's gradient. Any rule but plain SGD takes
        the step loop (no closed-form trajectory). scikit-learn's MLP: ``solver``.
    schedule : None, str, dict, Schedule or callable, default None
        How the rate changes: step ``t`` (``t = 0, 1, ...`` counts optimizer steps,
        ``epochs`` times the batches per epoch) takes ``schedule.lr_at(t)``. A name
        (``"constant"``, ``"step"``, ``"exponential"``, ``"cosine"``, ``"warmup"``,
        ``"onecycle"``) or a dict ``{"name": ..., **options}`` is built over the run's
        steps from ``lr``, as ``gradlab linreg --schedule`` builds it (the options and
        their defaults: :class:`gradlab.optim.spec.ScheduleSpec`). A
        ``gradlab.optim.schedules.Schedule`` sets the rates itself (``lr`` must then be
        "auto" or the schedule's own rate); a function ``(lr, steps) -> Schedule`` is
        called at fit time with the rate and the number of steps. None or "constant":
        every step takes ``lr``.
        The torch engine runs the schedule as ``torch.optim.lr_scheduler``.
        scikit-learn's SGD estimators: ``learning_rate``."""

_COMMON_ATTRIBUTES = """\
    coef_ : ndarray of shape (n_weights,)
    intercept_ : float
    lr_ : float
        The learning rate used (``lr``, or the rate ``"auto"`` chose).
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Only when ``X`` was a DataFrame with string column names.
    history_ : History
        ``loss`` per epoch (epoch 0 = before training) with the parameters
        (``w``, ``b``, or ``w1``..``w8``), and ``step_loss`` per step.
    n_iter_ : int
        Epochs run (``epochs``), as scikit-learn's SGD estimators count them.
    n_steps_ : int
        Updates made: ``n_iter_`` times the steps per epoch (1 for ``batch``, one per
        sample for ``sgd``, one per batch for ``minibatch``).
    optimizer_ : Rule
        The update rule used, with ``lr_`` as its rate.
    schedule_ : Schedule or None
        The schedule followed (None for a constant rate).
    fit_seconds_ : float
        Time spent descending (without input checks)."""


class GradientDescentModel(BaseEstimator):  # type: ignore[misc]
    """Base of models ``f(X) = link(features(X) @ w + b)`` fitted by gradient descent.

    Subclasses declare ``kind`` (the loss family), ``losses`` (the loss names and their
    reductions), ``_parameter_constraints`` (:data:`PARAMETERS` plus their own) and an
    ``__init__`` listing every parameter, as scikit-learn requires.
    """

    kind: ClassVar[Kind]
    losses: ClassVar[dict[str, Reduction]]
    _parameter_constraints: ClassVar[dict[str, Constraint | list[Constraint]]]

    lr: float | str
    epochs: int
    method: str
    batch_size: int
    loss: str
    engine: str
    random_state: SeedLike
    explode: float
    engine_options: dict[str, Any] | None
    optimizer: str | Rule
    schedule: Schedule | Callable[[float, int], Schedule] | str | None

    # set by fit
    coef_: np.ndarray
    intercept_: float
    lr_: float
    optimizer_: Rule
    schedule_: Schedule | None
    n_iter_: int
    n_steps_: int
    fit_seconds_: float
    history_: History
    n_features_in_: int

    def _validate_params(self) -> None:
        """Check every constructor parameter against the class's table (a UsageError).

        The table names every parameter (a test checks it against ``get_params``), so the
        values are read from it rather than from ``__init__``'s signature.
        """
        params = {name: getattr(self, name) for name in self._parameter_constraints}
        validate(self._parameter_constraints, params, type(self).__name__)

    def _features(self, X: np.ndarray) -> np.ndarray:
        """The feature map; the identity here."""
        return X

    def _targets(self, y: Any, n: int) -> np.ndarray:
        """The training targets as float64 (labels become 0/1); set label attributes."""
        raise NotImplementedError

    def _rule(self) -> Rule:
        """The update rule asked for (its rate not yet settled)."""
        if isinstance(self.optimizer, Rule):
            return self.optimizer
        return make_rule(self.optimizer)

    def _rate(self, problem: Problem, rule: Rule) -> float:
        """The rate: ``lr``, a Schedule's own, or for "auto" half the rule's stable rate
        on the curvature (the rule's own rate for the adaptive rules)."""
        name = type(self).__name__
        if isinstance(self.schedule, Schedule):
            nominal = _nominal_rate(self.schedule)
            if self.lr != "auto" and float(self.lr) != nominal:
                raise UsageError(
                    f"{name}: lr={self.lr!r} and the schedule's rate {nominal:g} disagree; "
                    f"the schedule ({self.schedule.config()}) sets the rates, so leave lr "
                    "at 'auto' or give the schedule's."
                )
            return nominal
        if self.lr != "auto":
            return float(self.lr)
        if self.method == "batch":
            curvature = problem.curvature()
        else:
            size = 1 if self.method == "sgd" else self.batch_size
            curvature = problem.batch_curvature(size)
        stable = rule.max_stable_lr(curvature)  # plain SGD: 2 / L, so 1 / L exactly
        if stable is not None and self.method != "batch" and isinstance(rule, SGD):
            # momentum's bound is that of one fixed quadratic, which batches that take turns
            # are not: at it, per-point SGD with momentum 0.9 diverged on every data set
            # tried. Take plain SGD's rate in the same effective step: momentum adds up
            # the steps to (1 - dampening) / (1 - momentum) times one
            plain = SGD(weight_decay=rule.weight_decay).max_stable_lr(curvature)
            if plain is not None and rule.momentum and rule.dampening < 1:
                plain *= (1 - rule.momentum) / (1 - rule.dampening)
            stable = min(stable, plain) if plain is not None else stable
        return 0.5 * stable if stable is not None else float(rule.lr)

    def _schedule(self, rate: float, steps: int) -> Schedule | None:
        """The schedule to follow for a run of ``steps`` steps at ``rate``, checked."""
        name = type(self).__name__
        if self.schedule is None or self.schedule == "constant":
            return None
        if isinstance(self.schedule, Schedule):
            followed = self.schedule
        elif isinstance(self.schedule, str | Mapping):  # counted in steps, as the CLI's
            followed = ScheduleSpec.of(self.schedule, name)(rate, steps)
        else:
            followed = self.schedule(rate, steps)  # type: ignore[operator]
            if not isinstance(followed, Schedule):
                raise UsageError(
                    f"{name}: the schedule function returned {type(followed).__name__}, "
                    "not a Schedule."
                )
        if isinstance(followed, OneCycleLR) and followed.total_steps < steps:
            raise UsageError(
                f"{name}: OneCycleLR(total_steps={followed.total_steps}) is shorter than the "
                f"{steps} steps of this fit (epochs x batches per epoch); give total_steps "
                f">= {steps}."
            )
        return followed

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        coef_init: Any = None,
        intercept_init: float = 0.0,
    ) -> Self:
        """Fit by gradient descent.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        coef_init : array-like of shape (n_weights,), optional
            Starting weights (zeros by default, as in the tutorials).
        intercept_init : float, default 0.0
            Starting intercept.

        Returns
        -------
        self

        Raises
        ------
        UsageError
            A parameter is out of its range (the message names it).
        DataError
            ``X`` or ``y`` is malformed (the message names the entry).
        DivergenceError
            The loss became non-finite or exploded; the error holds the iteration
            and the last parameters whose loss was finite.

        A fit that raises (or is interrupted) leaves the model as it was before the
        call: fitted with its old attributes, or not fitted.
        """
        before = dict(self.__dict__)
        try:
            return self._fit(X, y, coef_init, intercept_init)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, X: Any, y: Any, coef_init: Any, intercept_init: float) -> Self:
        self._validate_params()
        Xa = as_features(X)
        if y is None:
            raise DataError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        ya = self._targets(y, Xa.shape[0])
        self._check_names_and_width(X, Xa, reset=True)
        with np.errstate(over="ignore"):  # a feature map's overflow: named just below
            F = self._features(Xa)
        _check_magnitude(F, self._feature_name, self._rescale_hint)
        w0 = (
            np.zeros(F.shape[1])
            if coef_init is None
            else _vector(coef_init, F.shape[1], "coef_init")
        )
        if (
            isinstance(intercept_init, bool)
            or not isinstance(intercept_init, Real)
            or not math.isfinite(intercept_init)
        ):
            raise UsageError(f"intercept_init must be a finite number, got {intercept_init!r}.")
        problem = Problem(F, ya, self.kind, self.losses[self.loss])
        asked = self._rule()
        lr = self._rate(problem, asked)
        rule = asked if asked.lr == lr else dataclasses.replace(asked, lr=lr)
        n = F.shape[0]
        per_epoch = {"batch": 1, "sgd": n}.get(self.method, -(-n // self.batch_size))
        schedule = self._schedule(lr, self.epochs * per_epoch)
        engine = make_engine(
            self.engine,
            problem,
            w0,
            float(intercept_init),
            rule=rule,
            schedule=schedule,
            **(self.engine_options or {}),
        )
        guard = RuleGuard(rule, self.explode, lambda: rule.max_stable_lr(problem.curvature()))
        start = time.perf_counter()
        # overflow shows as an inf or nan loss, which the guard reports as a divergence
        with np.errstate(over="ignore", invalid="ignore"):
            history, steps, w, b = descend(
                engine,
                lr=lr,
                epochs=self.epochs,
                method=self.method,  # type: ignore[arg-type]
                batch_size=self.batch_size,
                n=n,
                rng=np.random.default_rng(draw_seed(self.random_state)),
                guard=guard,
                schedule=schedule,
                closed_form=is_plain(rule),
            )
        self.fit_seconds_ = time.perf_counter() - start
        self.lr_ = lr
        self.optimizer_ = rule
        self.schedule_ = schedule
        self.n_steps_ = steps
        self.n_iter_ = self.epochs
        self.coef_ = w
        self.intercept_ = b
        self.history_ = history
        self._warn_if_short(problem)
        return self

    def _warn_if_short(self, problem: Problem) -> None:
        """Warn (:class:`ConvergenceWarning`) when a squared-error fit's training loss lies
        well above the least-squares loss (:data:`CONVERGENCE_EXCESS`,
        :data:`CONVERGENCE_FLOOR`), saying why that may be and what to do. Not for a rule
        with weight decay, whose optimum is not the least-squares fit."""
        decay = float(getattr(self.optimizer_, "weight_decay", 0.0))
        if _SHORT_FITS_EXPECTED.get() or decay:
            return
        if problem.kind != "squared" or problem.X.shape[1] > CONVERGENCE_CHECK_MAX_D:
            return
        if "stats" not in vars(problem) and problem.X.size > CONVERGENCE_CHECK_MAX_VALUES:
            return  # the fit did not compute them: not worth a pass of its own here
        stats = problem.stats
        if not stats.yy > 0:  # y constant: any fit of its mean explains all there is
            return
        try:
            with np.errstate(all="ignore"):
                sse = float(stats.sse(np.append(self.coef_, self.intercept_)))
                best = np.linalg.lstsq(stats.Hc, stats.cc, rcond=None)[0]
                least = max(stats.yy - float(stats.cc @ best), 0.0)
                curvatures = stats.eigh[0]
        except np.linalg.LinAlgError:
            return
        excess = sse - least
        if not (excess > CONVERGENCE_EXCESS * least and excess > CONVERGENCE_FLOOR * stats.yy):
            return
        name = type(self).__name__
        scale = squared_error_scale(stats.n, problem.reduction)
        epochs = f"{self.epochs} epoch{'s' * (self.epochs != 1)}"
        what = (
            f"{name} stopped far from the least-squares fit: its training loss is "
            f"{scale * sse:.4g}, the closed form's {scale * least:.4g} (R² "
            f"{1 - sse / stats.yy:.3g} against {1 - least / stats.yy:.3g}; after "
            f"{epochs} of {self.method} descent at lr {self.lr_:.3g})."
        )
        # the spread of the curvatures that are not 0 up to rounding (a repeated column)
        top = float(curvatures[-1])
        kept = curvatures[curvatures > top * len(curvatures) * np.finfo(np.float64).eps]
        spread = top / float(kept[0]) if len(kept) else 1.0
        if self.method != "batch":
            larger = (
                "mini-batches (method='minibatch'; --method minibatch)"
                if self.method == "sgd"
                else "larger batches (batch_size; --batch-size)"
            )
            falls = (
                ""
                if self.schedule_ is not None
                else ", a rate that falls (schedule='cosine'; --schedule cosine)"
            )
            advice = (
                "Stochastic steps end wherever the last batches left them, and too few of "
                f"them stop short: take {larger}{falls} or more epochs."
            )
        elif spread > 1e4:
            fold = f"{spread:.0e}-fold" if spread < 1e15 else "more than 1e+15-fold"
            advice = (
                f"The loss's curvature differs {fold} between directions (features far from "
                "0 or of very different scales), and descent crawls along the flat ones: "
                f"{self._scale_advice}, or give many more epochs."
            )
        else:
            advice = "Give more epochs, or a larger lr (--epochs, --lr on the command line)."
        warnings.warn(ConvergenceWarning(f"{what} {advice}"), stacklevel=outside_stacklevel())

    #: How to even out the features' scales, for :meth:`_warn_if_short`.
    _scale_advice = "standardise X first (sklearn.preprocessing.StandardScaler)"

    #: What to do about a feature too large to fit on.
    _rescale_hint = RESCALE_HINT

    def _feature_name(self, i: int, j: int) -> str:
        """How a message names entry ``(i, j)`` of the features: ``X[i, j]`` itself, as the
        features are ``X``'s columns (a subclass with a feature map says more)."""
        return f"X[{i}, {j}]"

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X, y) first."
            )

    def _checked_features(self, X: Any) -> np.ndarray:
        """``features(X)`` for a fitted model, with ``X``'s width and names checked."""
        self._check_fitted()
        Xa = as_features(X)
        self._check_names_and_width(X, Xa, reset=False)
        return self._features(Xa)

    def _check_names_and_width(self, X: Any, Xa: np.ndarray, *, reset: bool) -> None:
        """Set (``reset``) or check ``n_features_in_`` and ``feature_names_in_``.

        scikit-learn's ``validate_data`` does it, but costs tens of microseconds, a tenth
        of a small fit; a plain array carries no names, so only its width is handled here.
        """
        if type(X) is np.ndarray:
            if reset:
                self.n_features_in_ = Xa.shape[1]
                self.__dict__.pop("feature_names_in_", None)
                return
            if not hasattr(self, "feature_names_in_") and Xa.shape[1] == self.n_features_in_:
                return
        try:
            validate_data(self, X, reset=reset, skip_check_array=True)
        except ValueError as exc:
            raise DataError(str(exc)) from None

    def _linear(self, X: Any) -> np.ndarray:
        """``features(X) @ coef_ + intercept_``, shape (n_samples,)."""
        out: np.ndarray = self._checked_features(X) @ self.coef_ + self.intercept_
        return out

    def loss_value(self, X: Any, y: Any) -> float:
        """The model's training loss on ``(X, y)``, computed from the residuals."""
        from gradlab.engines.numpy_engine import loss_and_grad

        F = self._checked_features(X)
        ya = self._targets_seen(y, F.shape[0])
        reduction = self.losses[self.loss]
        return loss_and_grad(F, ya, self.coef_, self.intercept_, self.kind, reduction)[0]

    def _targets_seen(self, y: Any, n: int) -> np.ndarray:
        """Targets for a fitted model's loss (labels must be among ``classes_``)."""
        return as_targets(y, n)
