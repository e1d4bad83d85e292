"""The estimator base shared by the generalised linear models.

The loop is the whole algorithm, written once for every engine::

    for epoch in 1..epochs:
        for batch in epoch_batches(method):        # all points, one point, or a slice
            loss = engine.step(batch, lr)           # loss at w, then w <- w - lr * grad
            guard.check(loss)                       # stop on a non-finite or exploding loss
        history.append(epoch, loss on all points)
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

import numpy as np

from gradlab.engines import (
    Kind,
    LinearEngine,
    Problem,
    Reduction,
    check_engine,
    make_engine,
)
from gradlab.errors import DataError, UsageError
from gradlab.history import History
from gradlab.optim import (
    DivergenceGuard,
    check_method,
    check_positive,
    check_seed,
    epoch_batches,
)


def as_features(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as a float64 array of shape (n, d); a 1-D array is one feature."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numbers: {exc}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{name} must have shape (n_samples, n_features), got shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise DataError(f"{name} has no rows.")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataError(f"{name}[{bad[0]}, {bad[1]}] is {arr[tuple(bad)]}; values must be finite.")
    return arr


def as_targets(y: Any, n: int, name: str = "y") -> np.ndarray:
    """``y`` as a float64 array of shape (n,), checked against the ``n`` rows of X."""
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numbers: {exc}") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(f"{name} must have shape (n_samples,), got shape {arr.shape}.")
    if arr.shape[0] != n:
        raise DataError(f"X has {n} rows but {name} has {arr.shape[0]} values; they must match.")
    if not np.all(np.isfinite(arr)):
        i = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise DataError(f"{name}[{i}] is {arr[i]}; values must be finite.")
    return arr


def stable_lr(F: np.ndarray, kind: Kind, reduction: Reduction) -> float | None:
    """``2 / L``, with ``L`` the largest curvature of the full-batch loss on features ``F``.

    For squared error ``L`` is the top eigenvalue of the Hessian ``s * Z.T @ Z``
    (``Z = [F, 1]``, ``s = 2/n`` or ``1``); for the logistic loss the Hessian is at
    most a quarter of that of ``0.5*sum`` squared error. None when ``F`` is too wide
    to bother.
    """
    n, d = F.shape
    if d > 2000:
        return None
    Z = np.column_stack([F, np.ones(n)])
    top = float(np.linalg.eigvalsh(Z.T @ Z)[-1])
    scale = 1.0 if kind == "squared" else 0.25
    if reduction == "mean":
        scale *= (2.0 if kind == "squared" else 1.0) / n
    return 2.0 / (scale * top) if top > 0 else None


def _param_columns(w: np.ndarray, b: Any) -> dict[str, Any]:
    """History columns for the parameters: ``b`` and ``w`` (or ``w1``..``wd``); none if d > 8.

    ``w`` may be of shape (d,) for one epoch or (d, epochs) for many.
    """
    if len(w) > 8:
        return {}
    if len(w) == 1:
        return {"b": b, "w": w[0]}
    return {"b": b, **{f"w{i + 1}": w[i] for i in range(len(w))}}


def _params_at(W: np.ndarray, B: np.ndarray, t: int) -> dict[str, Any]:
    return {"epoch": t, "coef": W[t].copy(), "intercept": float(B[t])}


class GradientDescentModel:
    """Base of models ``f(X) = link(features(X) @ w + b)`` fitted by gradient descent.

    Parameters
    ----------
    lr : float
        Learning rate: each step moves the parameters by ``-lr * gradient``.
    epochs : int
        Passes over the data. With ``method="batch"`` one pass is one step.
    method : {"batch", "sgd", "minibatch"}
        All points per step, one point per step, or ``batch_size`` points per step.
    batch_size : int
        Points per step for ``minibatch``.
    loss : str
        Which loss convention; see the subclass.
    engine : {"numpy", "torch", "tensorflow"}
        Where the arithmetic runs: hand-derived gradients, autograd or GradientTape.
    seed : int
        Seeds the shuffling of ``sgd`` and ``minibatch``.
    explode : float
        A loss above ``explode`` times the first loss stops training as diverged.
    engine_options : dict, optional
        Passed to the engine (for torch: ``style="autograd" | "nn"``, ``device``;
        for every engine but numpy: ``dtype="float64" | "float32"``).
    """

    kind: ClassVar[Kind]
    losses: ClassVar[dict[str, Reduction]]
    default_loss: ClassVar[str]

    def __init__(
        self,
        *,
        lr: float = 0.01,
        epochs: int = 100,
        method: str = "batch",
        batch_size: int = 32,
        loss: str | None = None,
        engine: str = "numpy",
        seed: int = 0,
        explode: float = 1e8,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        self.lr = lr
        self.epochs = epochs
        self.method = method
        self.batch_size = batch_size
        self.loss = loss
        self.engine = engine
        self.seed = seed
        self.explode = explode
        self.engine_options = engine_options

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters, as scikit-learn's ``get_params``."""
        return {k: getattr(self, k) for k in self._param_names()}

    @classmethod
    def _param_names(cls) -> list[str]:
        import inspect

        names: list[str] = []
        for klass in reversed(cls.__mro__):
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            sig = inspect.signature(init)
            names += [
                name
                for name, p in sig.parameters.items()
                if name != "self" and p.kind == p.KEYWORD_ONLY and name not in names
            ]
        return names

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_params(self) -> Reduction:
        check_positive("lr", self.lr)
        check_positive("epochs", self.epochs, integer=True)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("explode", self.explode)
        check_method(self.method)
        check_engine(self.engine)
        check_seed(self.seed)
        loss = self.default_loss if self.loss is None else self.loss
        if loss not in self.losses:
            raise UsageError(
                f"unknown loss {loss!r} for {type(self).__name__}; "
                f"choose one of: {', '.join(self.losses)}."
            )
        return self.losses[loss]

    def _features(self, X: np.ndarray) -> np.ndarray:
        """The feature map; the identity here."""
        return X

    def _check_targets(self, y: np.ndarray) -> None:
        """Subclasses reject targets their loss cannot take."""

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        coef_init: Any = None,
        intercept_init: float = 0.0,
    ) -> GradientDescentModel:
        """Fit by gradient descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples,)
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
        DivergenceError
            The loss became non-finite or exploded; the error holds the iteration
            and the last parameters whose loss was finite.
        """
        reduction = self._check_params()
        Xa = as_features(X)
        ya = as_targets(y, Xa.shape[0])
        self._check_targets(ya)
        F = self._features(Xa)
        w0 = (
            np.zeros(F.shape[1])
            if coef_init is None
            else as_targets(coef_init, F.shape[1], "coef_init")
        )
        if not math.isfinite(intercept_init):
            raise UsageError(f"intercept_init must be finite, got {intercept_init!r}.")
        problem = Problem(F, ya, self.kind, reduction)
        engine = make_engine(
            self.engine, problem, w0, float(intercept_init), **(self.engine_options or {})
        )
        guard = DivergenceGuard(
            self.lr, self.explode, stable_lr=lambda: stable_lr(F, self.kind, reduction)
        )
        rng = np.random.default_rng(self.seed)
        method = check_method(self.method)

        start = time.perf_counter()
        trajectory = getattr(engine, "batch_trajectory", None)
        fits_in_memory = (self.epochs + 1) * (F.shape[1] + 1) <= 4_000_000
        if (
            method == "batch"
            and trajectory is not None
            and self.kind == "squared"
            and fits_in_memory
        ):
            history, step = self._descend_closed(engine, guard, w0, float(intercept_init))
        else:
            history, step = self._descend(engine, guard, rng, F.shape[0], w0, float(intercept_init))
        self.fit_seconds_ = time.perf_counter() - start
        self.n_steps_ = step
        w, b = engine.params()
        self.coef_: np.ndarray = w
        self.intercept_: float = b
        self.history_ = history
        self.n_features_in_ = Xa.shape[1]
        return self

    def _descend(
        self,
        engine: LinearEngine,
        guard: DivergenceGuard,
        rng: np.random.Generator,
        n: int,
        w0: np.ndarray,
        b0: float,
    ) -> tuple[History, int]:
        """The step-by-step loop (every engine, every method)."""
        method = check_method(self.method)
        history = History()
        history.append(epoch=0, loss=engine.loss(), **_param_columns(w0, b0))
        good: dict[str, Any] = {"epoch": 0, "coef": w0.copy(), "intercept": b0}
        last_good = good.copy  # the guard calls this only on failure
        step = 0
        for epoch in range(1, self.epochs + 1):
            for batch in epoch_batches(n, method, self.batch_size, rng):
                step += 1
                batch_loss = engine.step(batch, self.lr)
                history.step_loss.append(batch_loss)
                guard.check(step, batch_loss, last_good)
            loss = engine.loss()
            guard.check(step, loss, last_good)
            w, b = engine.params()
            history.append(epoch=epoch, loss=loss, **_param_columns(w, b))
            good.update(epoch=epoch, coef=w, intercept=b)
        return history, step

    def _descend_closed(
        self, engine: Any, guard: DivergenceGuard, w0: np.ndarray, b0: float
    ) -> tuple[History, int]:
        """Full-batch squared loss on NumPy: every iterate at once (same numbers as the loop)."""
        losses, W, B = engine.batch_trajectory(self.lr, self.epochs)
        guard.check(1, float(losses[0]), lambda: _params_at(W, B, 0))
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(losses) | (losses > guard.explode * max(losses[0], 1.0))
        if bad.any():
            t = int(np.argmax(bad))
            guard.check(max(t, 1), float(losses[t]), lambda: _params_at(W, B, max(t - 1, 0)))
        engine.set_params(W[-1], float(B[-1]))
        columns = {"epoch": np.arange(len(losses), dtype=float), "loss": losses}
        columns.update(_param_columns(W.T, B))
        history = History(columns={k: np.asarray(v).tolist() for k, v in columns.items()})
        history.step_loss = losses[:-1].tolist()
        return history, self.epochs

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise UsageError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first.")

    def decision_function(self, X: Any) -> np.ndarray:
        """``features(X) @ coef_ + intercept_``, shape (n_samples,)."""
        self._check_fitted()
        Xa = as_features(X)
        if Xa.shape[1] != self.n_features_in_:
            raise DataError(
                f"X has {Xa.shape[1]} features but the model was fitted on {self.n_features_in_}."
            )
        out: np.ndarray = self._features(Xa) @ self.coef_ + self.intercept_
        return out

    def loss_value(self, X: Any, y: Any) -> float:
        """The model's training loss on ``(X, y)``, computed from residuals."""
        from gradlab.engines.numpy_engine import loss_and_grad

        reduction = self._check_params()
        self._check_fitted()
        Xa = as_features(X)
        ya = as_targets(y, Xa.shape[0])
        F = self._features(Xa)
        return loss_and_grad(F, ya, self.coef_, self.intercept_, self.kind, reduction)[0]
