"""Linear and polynomial regression by gradient descent, with the closed form beside it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from gradlab.engines import Kind, Reduction
from gradlab.errors import DataError, UsageError
from gradlab.models.base import GradientDescentModel, as_features, as_targets


class LinearRegression(GradientDescentModel):
    """Least squares ``y ~ X @ coef_ + intercept_`` fitted by gradient descent.

    Parameters are those of :class:`~gradlab.models.base.GradientDescentModel`;
    ``loss`` is ``"mse"`` (mean squared error, the default, as in the linear
    regression tutorial) or ``"half_sse"`` (``0.5 * sum`` of squared errors, as in
    the NumPy/PyTorch/TensorFlow tutorial).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    history_ : History
        ``loss`` per epoch (epoch 0 = before training), and ``step_loss`` per step.
    n_steps_ : int
    fit_seconds_ : float

    Examples
    --------
    >>> import numpy as np
    >>> from gradlab.models import LinearRegression
    >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([1.0, 3.0, 5.0])
    >>> m = LinearRegression(lr=0.1, epochs=2000).fit(X, y)
    >>> round(float(m.coef_[0]), 6), round(m.intercept_, 6)
    (2.0, 1.0)
    """

    kind: ClassVar[Kind] = "squared"
    losses: ClassVar[dict[str, Reduction]] = {"mse": "mean", "half_sse": "sum"}
    default_loss: ClassVar[str] = "mse"

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, shape (n_samples,)."""
        return self.decision_function(X)

    def score(self, X: Any, y: Any) -> float:
        """The coefficient of determination R² on ``(X, y)``."""
        pred = self.predict(X)
        ya = as_targets(y, pred.shape[0])
        ss_res = float(np.sum((ya - pred) ** 2))
        ss_tot = float(np.sum((ya - ya.mean()) ** 2))
        return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")

    def closed_form(self, X: Any, y: Any) -> tuple[np.ndarray, float]:
        """The exact least-squares solution on the same features, for comparison.

        Returns
        -------
        coef : ndarray of shape (n_weights,)
        intercept : float
        """
        Xa = as_features(X)
        ya = as_targets(y, Xa.shape[0])
        return closed_form(self._features(Xa), ya)


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


class PolynomialRegression(LinearRegression):
    """Regression on powers of one input: ``y ~ sum_k w_k * x**p_k + b``.

    Parameters
    ----------
    degree : int, default 2
        Use the powers 1..degree.
    powers : sequence of int, optional
        Use exactly these powers instead; ``powers=(2,)`` is the tutorial's
        ``y = w*x**2 + b``.
    **kwargs
        As :class:`LinearRegression`.
    """

    def __init__(self, *, degree: int = 2, powers: Sequence[int] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.degree = degree
        self.powers = powers

    def _powers(self) -> tuple[int, ...]:
        if self.powers is not None:
            ps = tuple(self.powers)
            if not ps or any(not isinstance(p, int | np.integer) or p < 1 for p in ps):
                raise UsageError(f"powers must be positive integers, got {self.powers!r}.")
            return ps
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 1:
            raise UsageError(f"degree must be a positive integer, got {self.degree!r}.")
        return tuple(range(1, self.degree + 1))

    def _features(self, X: np.ndarray) -> np.ndarray:
        if X.shape[1] != 1:
            raise DataError(
                f"PolynomialRegression takes one input feature, got {X.shape[1]}; "
                "use LinearRegression for several."
            )
        return np.column_stack([X[:, 0] ** p for p in self._powers()])
