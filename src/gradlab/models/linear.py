"""Linear and polynomial regression by gradient descent, with the closed form beside it.

The model ``y ~ X @ coef_ + intercept_``; its loss :func:`gradlab.ops.squared_error`
(``mse`` = ``sum(r**2)/n``, ``half_sse`` = ``0.5*sum(r**2)``); the loop
:func:`gradlab.models.base.descend`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.base import RegressorMixin

from gradlab.engines import Kind, Reduction
from gradlab.models.base import (
    _COMMON_ATTRIBUTES,
    _COMMON_DOC,
    PARAMETERS,
    GradientDescentModel,
    as_features,
    as_targets,
)
from gradlab.params import Constraint, Interval, Options, Predicate

if TYPE_CHECKING:
    from gradlab.optim import Rule, Schedule

_LOSSES: dict[str, Reduction] = {"mse": "mean", "half_sse": "sum"}


class LinearRegression(RegressorMixin, GradientDescentModel):  # type: ignore[misc]
    __doc__ = f"""Least squares ``y ~ X @ coef_ + intercept_`` fitted by gradient descent.

    A scikit-learn regressor (``fit``, ``predict``, ``score`` = R², ``get_params``,
    ``clone``, pipelines, grid search).

    Parameters
    ----------
{_COMMON_DOC}
    loss : {{"mse", "half_sse"}}, default "mse"
        Mean squared error (the linear-regression tutorial's) or ``0.5 * sum`` of
        squared errors (the NumPy/PyTorch/TensorFlow tutorial's). scikit-learn's
        SGDRegressor: ``loss="squared_error"`` (which is half the mean).

    Attributes
    ----------
{_COMMON_ATTRIBUTES}

    Examples
    --------
    >>> import numpy as np
    >>> from gradlab.models import LinearRegression
    >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([1.0, 3.0, 5.0])
    >>> m = LinearRegression(epochs=2000).fit(X, y)
    >>> round(float(m.coef_[0]), 6), round(m.intercept_, 6)
    (2.0, 1.0)
    """

    kind: ClassVar[Kind] = "squared"
    losses: ClassVar[dict[str, Reduction]] = _LOSSES
    _parameter_constraints: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        **PARAMETERS,
        "loss": Options(_LOSSES),
    }

    def __init__(
        self,
        *,
        lr: float | str = "auto",
        epochs: int = 1000,
        method: str = "batch",
        batch_size: int = 32,
        loss: str = "mse",
        engine: str = "numpy",
        random_state: int | None = 0,
        explode: float = 1e8,
        engine_options: dict[str, Any] | None = None,
        optimizer: str | Rule = "sgd",
        schedule: Schedule | Callable[[float, int], Schedule] | str | None = None,
    ) -> None:
        self.lr = lr
        self.epochs = epochs
        self.method = method
        self.batch_size = batch_size
        self.loss = loss
        self.engine = engine
        self.random_state = random_state
        self.explode = explode
        self.engine_options = engine_options
        self.optimizer = optimizer
        self.schedule = schedule

    def _targets(self, y: Any, n: int) -> np.ndarray:
        return as_targets(y, n)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets ``features(X) @ coef_ + intercept_``, shape (n_samples,)."""
        return self._linear(X)

    def closed_form(self, X: Any, y: Any) -> tuple[np.ndarray, float]:
        """The exact least-squares solution on the same features, for comparison.

        Returns
        -------
        coef : ndarray of shape (n_weights,)
        intercept : float
        """
        Xa = as_features(X)
        return closed_form(self._features(Xa), as_targets(y, Xa.shape[0]))


def closed_form(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares ``min ||X w + b - y||²`` solved exactly (``numpy.linalg.lstsq``).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)

    Returns
    -------
    w : ndarray of shape (d,)
    b : float
    """
    A = np.column_stack([X, np.ones(X.shape[0])])
    sol, *_ = np.linalg.lstsq(A, y, rcond=None)
    return sol[:-1], float(sol[-1])


def _is_powers(v: Any) -> bool:
    return (
        isinstance(v, Sequence)
        and not isinstance(v, str)
        and len(v) > 0
        and all(isinstance(p, Integral) and not isinstance(p, bool) and int(p) >= 1 for p in v)
    )


class PolynomialRegression(LinearRegression):
    __doc__ = f"""Regression on powers of each input: ``y ~ sum_k sum_j w_kj * X[:, j]**p_k + b``.

    With one feature and ``powers=(2,)`` this is the tutorial's ``y = w*x**2 + b``.
    Several features each get the same powers (no cross terms): the features are
    ``[X**p_1, X**p_2, ...]``, so ``coef_[k * n_features + j]`` multiplies
    ``X[:, j]**p_k``. The powers of wide-ranging inputs differ hugely in scale; with
    ``lr="auto"`` descent stays stable but is slow along the small ones (scale the
    inputs first, as with scikit-learn's ``StandardScaler``).

    Parameters
    ----------
    degree : int, default 2
        Use the powers 1..degree (scikit-learn: ``PolynomialFeatures(degree)`` without
        the interaction terms).
    powers : sequence of int, optional
        Use exactly these powers instead; ``powers=(2,)`` is the tutorial's.
{_COMMON_DOC}
    loss : {{"mse", "half_sse"}}, default "mse"
        As :class:`LinearRegression`.

    Attributes
    ----------
{_COMMON_ATTRIBUTES}
    """

    _parameter_constraints: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "degree": Interval(Integral, 1, None),
        "powers": [Predicate(_is_powers, "a non-empty sequence of integers >= 1"), None],
        **LinearRegression._parameter_constraints,
    }

    def __init__(
        self,
        *,
        degree: int = 2,
        powers: Sequence[int] | None = None,
        lr: float | str = "auto",
        epochs: int = 1000,
        method: str = "batch",
        batch_size: int = 32,
        loss: str = "mse",
        engine: str = "numpy",
        random_state: int | None = 0,
        explode: float = 1e8,
        engine_options: dict[str, Any] | None = None,
        optimizer: str | Rule = "sgd",
        schedule: Schedule | Callable[[float, int], Schedule] | str | None = None,
    ) -> None:
        self.degree = degree
        self.powers = powers
        super().__init__(
            lr=lr,
            epochs=epochs,
            method=method,
            batch_size=batch_size,
            loss=loss,
            engine=engine,
            random_state=random_state,
            explode=explode,
            engine_options=engine_options,
            optimizer=optimizer,
            schedule=schedule,
        )

    def _powers(self) -> tuple[int, ...]:
        if self.powers is not None:
            return tuple(int(p) for p in self.powers)
        return tuple(range(1, self.degree + 1))

    def _features(self, X: np.ndarray) -> np.ndarray:
        return np.hstack([X**p for p in self._powers()])
