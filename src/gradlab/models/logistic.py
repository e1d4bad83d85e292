"""Logistic regression: a sigmoid on a linear model, fitted on binary cross-entropy.

End to end, in three places:

1. **The model** (this file). The two classes, sorted, are ``classes_``; ``y`` becomes
   ``t = 1`` for ``classes_[1]`` and ``t = 0`` for ``classes_[0]``, and
   ``P(classes_[1] | x) = sigmoid(z)`` with ``z = x @ coef_ + intercept_``.
2. **Its loss** (:func:`gradlab.ops.binary_cross_entropy`), on a batch of ``m`` points::

       L = mean(softplus(z) - t * z)      (= -t log p - (1 - t) log(1 - p), never log 0)
       dL/dz = (sigmoid(z) - t) / m
       dL/dw = X.T @ dL/dz,  dL/db = sum(dL/dz)        (gradlab.ops.affine_backward)

3. **The loop** (:func:`gradlab.models.base.descend`): for each epoch, for each batch,
   ``w -= lr * dL/dw`` and ``b -= lr * dL/db``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import type_of_target

from gradlab.engines import Kind, Reduction
from gradlab.errors import DataError, UsageError
from gradlab.models._labels import as_label_array
from gradlab.models._pictures import returned
from gradlab.models.base import (
    _COMMON_ATTRIBUTES,
    _COMMON_DOC,
    PARAMETERS,
    GradientDescentModel,
    _show,
    as_features,
    column,
)
from gradlab.models.linear import describe_fit, require_fitted
from gradlab.ops import sigmoid
from gradlab.params import Constraint, Options, SeedLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gradlab.optim import Rule, Schedule

_LOSSES: dict[str, Reduction] = {"bce": "mean", "bce_sum": "sum"}
#: How the plots name each loss.
#: The losses by name, in words (axis labels, titles).
LOSS_NAMES = {"bce": "binary cross-entropy (mean)", "bce_sum": "binary cross-entropy (sum)"}


class LogisticRegression(ClassifierMixin, GradientDescentModel):  # type: ignore[misc]
    __doc__ = f"""Binary classifier ``P(y = classes_[1] | x) = sigmoid(x @ coef_ + intercept_)``.

    A scikit-learn classifier. Labels may be any two values (0/1, -1/1, booleans,
    strings); ``predict`` returns them, and ``predict_proba`` has one column per class
    in the order of ``classes_``. For three or more classes use
    :class:`~gradlab.models.SoftmaxRegression`. No regularisation (scikit-learn's
    LogisticRegression has ``C=1`` by default; ``C=numpy.inf`` matches).

    Parameters
    ----------
{_COMMON_DOC}
    loss : {{"bce", "bce_sum"}}, default "bce"
        Mean or summed binary cross-entropy, computed as ``softplus(z) - t*z``, stable
        for any logit ``z``. scikit-learn's SGDClassifier: ``loss="log_loss"``.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels, sorted; ``classes_[1]`` is the positive class.
{_COMMON_ATTRIBUTES}
    """

    kind: ClassVar[Kind] = "logistic"
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
        loss: str = "bce",
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

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _targets(self, y: Any, n: int) -> np.ndarray:
        """Check that ``y`` holds two classes; set ``classes_``; return 0/1 as float64."""
        labels = column(y, n)
        if labels.dtype.kind == "O":  # one kind of label (mixed types cannot be sorted)
            labels = as_label_array(labels, n)
        if labels.dtype.kind in "fc" and not np.isfinite(labels).all():
            i = int(np.argwhere(~np.isfinite(labels))[0, 0])
            raise DataError(f"y[{i}] is {_show(labels[i])}; labels must be finite.")
        target = type_of_target(labels, input_name="y")
        classes = np.unique(labels)
        name = type(self).__name__
        if target == "multiclass":
            shown = ", ".join(map(str, classes[:5])) + (", ..." if classes.size > 5 else "")
            raise DataError(
                f"Only binary classification is supported. The type of the target is "
                f"multiclass: y holds {classes.size} classes ({shown}); {name} takes two. "
                "For three or more classes use gradlab.models.SoftmaxRegression."
            )
        if target == "continuous":
            i = int(np.argmax(labels != np.round(labels)))
            raise DataError(
                f"Unknown label type: continuous. y[{i}] is {labels[i]}, but {name} needs "
                "labels of two classes: integers, strings or booleans.",
                hint="For a real-valued target use LinearRegression.",
            )
        if target != "binary":
            raise DataError(f"Unknown label type: {target}. {name} takes labels of two classes.")
        if classes.size < 2:
            raise DataError(
                f"y holds one class ({classes.tolist()[0]!r}); "
                f"{name} needs two classes to learn from."
            )
        self.classes_ = classes
        out: np.ndarray = (labels == classes[1]).astype(np.float64)
        return out

    def _targets_seen(self, y: Any, n: int) -> np.ndarray:
        labels = column(y, n)
        unseen = ~np.isin(labels, self.classes_)
        if unseen.any():
            i = int(np.argmax(unseen))
            raise DataError(
                f"y[{i}] is {labels.tolist()[i]!r}, which is not one of the classes seen in fit "
                f"({', '.join(map(repr, self.classes_.tolist()))})."
            )
        out: np.ndarray = (labels == self.classes_[1]).astype(np.float64)
        return out

    def decision_function(self, X: Any) -> np.ndarray:
        """The logits ``x @ coef_ + intercept_``, shape (n_samples,); > 0 means ``classes_[1]``."""
        return self._linear(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, 2), columns in the order of ``classes_``."""
        z = self.decision_function(X)
        return np.column_stack([sigmoid(-z), sigmoid(z)])

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``, computed as ``-softplus(-z)``, finite for any logit."""
        z = self.decision_function(X)
        return -np.column_stack([np.logaddexp(0.0, z), np.logaddexp(0.0, -z)])

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (from ``classes_``), shape (n_samples,)."""
        positive = self.decision_function(X) > 0
        out: np.ndarray = self.classes_[positive.astype(np.intp)]
        return out

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Mean accuracy on ``(X, y)`` (weighted by ``sample_weight`` if given); the labels
        and weights are checked as ``fit`` checks them (text labels for number classes are
        refused, not counted as wrong)."""
        from gradlab.models._input import sample_weights, to_numpy
        from gradlab.models._labels import Classes

        if y is None:
            raise DataError(f"{type(self).__name__}.score needs the labels y.")
        pred = self.predict(X)
        truth = as_label_array(to_numpy(y, "y"), pred.shape[0])
        Classes(self.classes_, tuple(str(c) for c in self.classes_)).check_kind(truth)
        hits = (pred == truth).astype(np.float64)
        if sample_weight is None:
            return float(hits.mean())
        return float(np.average(hits, weights=sample_weights(sample_weight, hits.shape[0])))

    # -------------------------------------------------------------- pictures

    def plot_loss(self, *, ax: Axes | None = None) -> Any:
        """The binary cross-entropy per epoch (epoch 0 is the start), on a log scale.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Draw there, in a figure of your own (a subplot beside others), rather than
            in a new figure.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        """
        from gradlab.viz.estimators import loss_figure

        require_fitted(self, "plot_loss")
        loss = LOSS_NAMES[self.loss]
        return returned(
            loss_figure(
                self.history_["loss"],
                ylabel=loss,
                title=f"{type(self).__name__}: {loss} per epoch\n({describe_fit(self)})",
                ax=ax,
            ),
            ax,
        )

    def plot_decision(
        self,
        X: Any,
        y: Any,
        *,
        feature_names: list[str] | None = None,
        ax: Axes | None = None,
    ) -> Any:
        """What the model decides, drawn over the points, for one or two features.

        One feature: the points at height 0 or 1 by class, the probability curve
        ``sigmoid(w*x + b)`` and the boundary ``x = -b/w``. Two features: the
        probability as coloured contours and the boundary line ``P = 0.5``, where the
        logit ``w1*x1 + w2*x2 + b`` is 0.

        Parameters
        ----------
        X : array-like of shape (n_samples, 1 or 2)
            Points in the units the model was fitted on (inside a pipeline: transformed
            by the steps before the model, ``pipe[:-1].transform(X)``).
        y : array-like of shape (n_samples,)
            Their labels, among ``classes_``.
        feature_names : list of str, optional
            The axis labels; by default the names seen in ``fit`` (a DataFrame's
            columns), else ``x`` or ``x1``, ``x2``.
        ax : matplotlib Axes, optional
            Draw there, in a figure of your own (a subplot beside others), rather than
            in a new figure.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        UsageError
            The model has more than two features.
        DataError
            ``X`` or ``y`` is malformed, or ``y`` holds a label not seen in ``fit``.
        """
        from gradlab.viz.estimators import decision_figure

        require_fitted(self, "plot_decision")
        name = type(self).__name__
        d = self.n_features_in_
        if d > 2:
            raise UsageError(
                f"{name}.plot_decision() draws one or two features, and this {name} was "
                f"fitted on {d}. Fit one on two columns (X[:, [i, j]]) to see its "
                "decision boundary; plot_loss() works for any number."
            )
        Xa = as_features(X)
        self._check_names_and_width(X, Xa, reset=False)
        t = self._targets_seen(y, Xa.shape[0])
        if feature_names is None and hasattr(self, "feature_names_in_"):
            feature_names = [str(v) for v in self.feature_names_in_]
        if feature_names is not None and len(feature_names) != d:
            raise UsageError(
                f"feature_names must name the {d} feature(s); got {len(feature_names)}: "
                f"{feature_names!r}."
            )
        return returned(
            decision_figure(
                Xa,
                t,
                self.coef_,
                self.intercept_,
                [str(c) for c in self.classes_],
                feature_names=feature_names,
                title=f"{name}: what it decides\n({describe_fit(self)})",
                ax=ax,
            ),
            ax,
        )
