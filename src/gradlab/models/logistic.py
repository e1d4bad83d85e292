"""Logistic regression: a sigmoid on a linear model, fitted on binary cross-entropy."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from gradlab.engines import Kind, Reduction
from gradlab.errors import DataError
from gradlab.models.base import GradientDescentModel, as_targets


class LogisticRegression(GradientDescentModel):
    """Binary classifier ``P(y=1 | x) = sigmoid(x @ coef_ + intercept_)``.

    ``loss`` is ``"bce"`` (mean binary cross-entropy, the default) or
    ``"bce_sum"``; both are computed as ``softplus(z) - y*z``, stable for any
    logit ``z``. Labels must be 0 or 1. Other parameters are those of
    :class:`~gradlab.models.base.GradientDescentModel`.
    """

    kind: ClassVar[Kind] = "logistic"
    losses: ClassVar[dict[str, Reduction]] = {"bce": "mean", "bce_sum": "sum"}
    default_loss: ClassVar[str] = "bce"

    def _check_targets(self, y: np.ndarray) -> None:
        bad = ~np.isin(y, (0.0, 1.0))
        if np.any(bad):
            i = int(np.argmax(bad))
            raise DataError(
                f"labels must be 0 or 1 for logistic regression; y[{i}] is {y[i]:g}. "
                "Map your two classes to 0 and 1 first."
            )

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of class 1, shape (n_samples,)."""
        from gradlab.engines.numpy_engine import sigmoid

        return sigmoid(self.decision_function(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (0 or 1), shape (n_samples,)."""
        return (self.decision_function(X) > 0).astype(np.int64)

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on ``(X, y)``."""
        pred = self.predict(X)
        ya = as_targets(y, pred.shape[0])
        if not np.all(np.isin(ya, (0.0, 1.0))):
            raise DataError("labels must be 0 or 1 for logistic regression.")
        return float(np.mean(pred == ya))
