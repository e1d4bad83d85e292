"""Linear and polynomial regression by gradient descent, with the closed form beside it.

The model ``y ~ X @ coef_ + intercept_``; its loss :func:`gradlab.ops.squared_error`
(``mse`` = ``sum(r**2)/n``, ``half_sse`` = ``0.5*sum(r**2)``); the loop
:func:`gradlab.models.base.descend`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
from sklearn.base import RegressorMixin

from gradlab.engines import Kind, Reduction
from gradlab.errors import DataError, UsageError
from gradlab.models._input import available_memory
from gradlab.models._pictures import returned
from gradlab.models.base import (
    _COMMON_ATTRIBUTES,
    _COMMON_DOC,
    PARAMETERS,
    GradientDescentModel,
    NotFittedError,
    as_features,
    as_targets,
)
from gradlab.params import Constraint, Interval, Options, Predicate, SeedLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gradlab.optim import Rule, Schedule

_LOSSES: dict[str, Reduction] = {"mse": "mean", "half_sse": "sum"}
#: How the plots name each loss.
#: The losses by name, in words (axis labels, titles).
LOSS_NAMES = {"mse": "mean squared error", "half_sse": "0.5 * sum of squared errors"}


def require_fitted(model: GradientDescentModel, method: str) -> None:
    """Raise :class:`~gradlab.models.base.NotFittedError` (scikit-learn's too) naming
    ``method`` when ``model`` has not been fitted."""
    if not hasattr(model, "coef_"):
        name = type(model).__name__
        raise NotFittedError(
            f"{name}.{method}() draws a fitted model, and this {name} is not fitted yet: "
            "call fit(X, y) first."
        )


def describe_fit(model: GradientDescentModel) -> str:
    """``"batch, lr=0.0001, 1000 epochs"``: how a fitted model was trained."""
    return f"{model.method}, lr={model.lr_:.3g}, {model.epochs} epochs"


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
        random_state: SeedLike = 0,
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

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """R², the coefficient of determination, of the predictions on ``(X, y)`` (weighted by
        ``sample_weight`` if given), as scikit-learn's regressors give it; ``y`` and the
        weights are checked as ``fit`` checks them."""
        from sklearn.metrics import r2_score

        from gradlab.models._input import sample_weights

        if y is None:
            raise DataError(f"{type(self).__name__}.score needs the targets y.")
        pred = self.predict(X)
        truth = as_targets(y, pred.shape[0])
        weights = None if sample_weight is None else sample_weights(sample_weight, pred.shape[0])
        return float(r2_score(truth, pred, sample_weight=weights))

    def closed_form(self, X: Any, y: Any) -> tuple[np.ndarray, float]:
        """The exact least-squares solution on the same features, for comparison.

        Returns
        -------
        coef : ndarray of shape (n_weights,)
        intercept : float
        """
        if not hasattr(self, "coef_"):  # the features follow the parameters: check them
            self._validate_params()
        Xa = as_features(X)
        return closed_form(self._features(Xa), as_targets(y, Xa.shape[0]))

    # -------------------------------------------------------------- pictures

    def _powers(self) -> tuple[int, ...]:
        return (1,)

    def _plot_input(self, X: Any, y: Any, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, features(X), y)`` as checked arrays, for a fitted model."""
        require_fitted(self, method)
        Xa = as_features(X)
        self._check_names_and_width(X, Xa, reset=False)
        return Xa, self._features(Xa), as_targets(y, Xa.shape[0])

    def _feature_names(self) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        d = self.n_features_in_
        return ["x"] if d == 1 else [f"x{i + 1}" for i in range(d)]

    def plot_fit(self, X: Any, y: Any, *, ax: Axes | None = None) -> Any:
        """The data and the fitted curve, beside the closed form's.

        With one feature: the points and both curves (``y = w*x + b``, or the model's
        polynomial), each labelled with its formula. With several features no curve can
        be drawn, so the predictions of both are plotted against the true ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Usually the training data.
        ax : matplotlib Axes, optional
            Draw there, in a figure of your own (a subplot beside others), rather than
            in a new figure.

        Returns
        -------
        Figure or Axes
            A new figure, which shows itself inline in a notebook (``.show()`` or
            ``savefig`` elsewhere); with ``ax``, that Axes, as matplotlib's and pandas'
            plotting functions return it (the other ``plot_*`` methods do the same).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        DataError
            ``X`` or ``y`` is malformed, or ``X`` has another number of features.
        """
        from gradlab.viz.estimators import equation, fit_figure, parity_figure

        Xa, F, ya = self._plot_input(X, y, "plot_fit")
        cw, cb = closed_form(F, ya)
        name = type(self).__name__
        title = f"{name}: gradient descent beside the closed form"
        descent = f"gradient descent ({describe_fit(self)})"
        if Xa.shape[1] > 1:
            return returned(parity_figure(
                ya,
                [(descent, F @ self.coef_ + self.intercept_),
                 ("closed form (least squares)", F @ cw + cb)],
                title=title, ax=ax,
            ), ax)  # fmt: skip
        lo, hi = float(Xa.min()), float(Xa.max())
        grid = np.linspace(lo, hi, 200)
        G = self._features(grid[:, None])
        powers = self._powers()
        curves = [
            (f"{descent}: {equation(self.coef_, self.intercept_, powers)}",
             G @ self.coef_ + self.intercept_),
            (f"closed form (least squares): {equation(cw, cb, powers)}", G @ cw + cb),
        ]  # fmt: skip
        return returned(fit_figure(Xa[:, 0], ya, grid, curves, xlabel=self._feature_names()[0],
                          title=title, ax=ax), ax)  # fmt: skip

    def plot_loss(self, X: Any = None, y: Any = None, *, ax: Axes | None = None) -> Any:
        """The loss per epoch (epoch 0 is the start), on a log scale.

        Parameters
        ----------
        X, y : array-like, optional
            The training data: with them a dashed line marks the closed form's loss, the
            least any descent can reach.
        ax : matplotlib Axes, optional
            Draw there, in a figure of your own (a subplot beside others), rather than
            in a new figure.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        UsageError
            Only one of ``X`` and ``y`` is given.
        """
        from gradlab.ops import squared_error
        from gradlab.viz.estimators import loss_figure

        require_fitted(self, "plot_loss")
        floor = None
        if (X is None) != (y is None):
            raise UsageError(
                f"{type(self).__name__}.plot_loss() takes both X and y (to mark the closed "
                "form's loss) or neither; got only " + ("X." if y is None else "y.")
            )
        if X is not None:
            _, F, ya = self._plot_input(X, y, "plot_loss")
            cw, cb = closed_form(F, ya)
            best = squared_error(F @ cw + cb, ya, self.losses[self.loss])[0]
            floor = ("closed form (least squares)", best)
        loss = LOSS_NAMES[self.loss]
        return returned(
            loss_figure(
                self.history_["loss"],
                ylabel=loss,
                title=f"{type(self).__name__}: {loss} per epoch\n({describe_fit(self)})",
                floor=floor,
                ax=ax,
            ),
            ax,
        )

    def plot_surface(
        self, X: Any, y: Any, *, ax: Axes | None = None, equal_scale: bool = False
    ) -> Any:
        """The loss over ``(w, b)`` as contours, with the path the descent took on it.

        Only a model with one weight has a loss surface that can be drawn: a
        LinearRegression on one feature, or a PolynomialRegression with one power
        (``powers=(2,)``: then ``w`` multiplies ``x**2``). The closed form is marked
        with a star. The colours show the mean squared error; for ``loss="half_sse"``
        the loss is that times ``n/2``, the same surface.

        Parameters
        ----------
        X : array-like of shape (n_samples, 1)
        y : array-like of shape (n_samples,)
            The data the model was fitted on.
        ax : matplotlib Axes, optional
            Draw there, in a figure of your own (a subplot beside others), rather than
            in a new figure.
        equal_scale : bool, default False
            Draw ``w`` and ``b`` at one scale, so that a round bowl (standardised input)
            looks round; by default each axis spans what the path needs.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        UsageError
            The model has more than one weight, or ``equal_scale`` is not a bool.
        """
        from gradlab.viz.estimators import surface_title
        from gradlab.viz.regression import loss_surface

        require_fitted(self, "plot_surface")
        if not isinstance(equal_scale, bool | np.bool_):
            raise UsageError(
                f"{type(self).__name__}.plot_surface: equal_scale must be True or False; "
                f"got {equal_scale!r}."
            )
        k = self.coef_.shape[0]
        if k != 1:
            name = type(self).__name__
            d = self.n_features_in_
            why = f"{d} feature{'s' if d > 1 else ''}"
            powers = self._powers()
            if powers != (1,):
                why += f", powers {', '.join(map(str, powers))}"
            raise UsageError(
                f"{name}.plot_surface() draws the loss over (w, b), which needs a model with "
                f"one weight; this {name} has {k} ({why}). Fit on one feature"
                + (" with one power, e.g. powers=(2,)," if len(powers) > 1 else "")
                + " to see the surface; plot_loss() and plot_fit(X, y) work for any model."
            )
        _, F, ya = self._plot_input(X, y, "plot_surface")
        cw, cb = closed_form(F, ya)
        hist = self.history_
        return returned(
            loss_surface(
                F[:, 0],
                ya,
                np.asarray(hist["w"]),
                np.asarray(hist["b"]),
                optimum=(float(cw[0]), float(cb)),
                title=surface_title(self.loss),
                ax=ax,
                equal_scale=bool(equal_scale),
            ),
            ax,
        )


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


#: The highest power PolynomialRegression takes: a power of 1,000 of any value beyond
#: 2 (or below 1/2) already lies outside float64's range.
MAX_POWER = 1000


def _is_powers(v: Any) -> bool:
    return (
        isinstance(v, Sequence)
        and not isinstance(v, str)
        and 0 < len(v) <= MAX_POWER
        and all(
            isinstance(p, Integral) and not isinstance(p, bool) and 1 <= int(p) <= MAX_POWER
            for p in v
        )
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
        Use the powers 1..degree, at most {MAX_POWER} (scikit-learn:
        ``PolynomialFeatures(degree)`` without the interaction terms).
    powers : sequence of int, optional
        Use exactly these powers instead (each in [1, {MAX_POWER}]); ``powers=(2,)`` is
        the tutorial's.
{_COMMON_DOC}
    loss : {{"mse", "half_sse"}}, default "mse"
        As :class:`LinearRegression`.

    Attributes
    ----------
{_COMMON_ATTRIBUTES}
    powers_ : tuple of int
        The powers fitted on, in the order of ``coef_``'s blocks.
    """

    _parameter_constraints: ClassVar[dict[str, Constraint | list[Constraint]]] = {
        "degree": Interval(Integral, 1, MAX_POWER),
        "powers": [
            Predicate(_is_powers, f"a non-empty sequence of integers in [1, {MAX_POWER}]"),
            None,
        ],
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
        random_state: SeedLike = 0,
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

    def fit(self, X: Any, y: Any, **kwargs: Any) -> Self:
        """Fit as :meth:`LinearRegression.fit` does, on the powers ``degree`` or ``powers``
        name now; ``powers_`` keeps them, so that ``predict`` uses the fitted powers
        whatever ``set_params`` changes afterwards."""
        self._validate_params()  # before the powers are listed: degree may be huge
        before = getattr(self, "powers_", None)  # a failed fit leaves the last fit's
        self.powers_ = self._asked_powers()
        try:
            return super().fit(X, y, **kwargs)
        except BaseException:
            if before is None:
                del self.powers_
            else:
                self.powers_ = before
            raise

    def _asked_powers(self) -> tuple[int, ...]:
        """The powers the parameters name: ``powers``, else 1..``degree``."""
        if self.powers is not None:
            return tuple(int(p) for p in self.powers)
        return tuple(range(1, self.degree + 1))

    def _powers(self) -> tuple[int, ...]:
        """The powers of each feature, in the order of ``coef_``: the fitted ones
        (``powers_``), else those the parameters name."""
        fitted: tuple[int, ...] | None = getattr(self, "powers_", None)
        return fitted if fitted is not None else self._asked_powers()

    _scale_advice = (
        "scale X into [-1, 1] first (sklearn.preprocessing.MaxAbsScaler), so that its powers "
        "stay comparable"
    )
    _rescale_hint = (
        "Powers of values far from 1 outgrow float64: scale X into [-1, 1] first (sklearn."
        "preprocessing.MaxAbsScaler), or lower the degree."
    )

    def _feature_name(self, i: int, j: int) -> str:
        """Entry ``(i, j)`` of the features: a power of one of ``X``'s entries."""
        d = self.n_features_in_
        power = self._powers()[j // d]
        return f"X[{i}, {j % d}]**{power}" if power != 1 else f"X[{i}, {j % d}]"

    def _features(self, X: np.ndarray) -> np.ndarray:
        powers = self._powers()
        need = 2 * X.size * len(powers) * X.itemsize  # the powers, then joined side by side
        free = available_memory()
        if free is not None and need > free:
            asked = (
                f"powers={self.powers!r}" if self.powers is not None else f"degree={self.degree}"
            )
            raise UsageError(
                f"{asked} makes {X.shape[1] * len(powers):,} features of {X.shape[0]:,} rows: "
                f"computing them takes about {need / 1e9:.3g} GB, more than the "
                f"{free / 1e9:.3g} GB of memory available.",
                hint="Ask for fewer powers (a degree above about 10 rarely helps, and powers "
                "of values far from 1 overflow).",
            )
        return np.hstack([X**p for p in powers])
