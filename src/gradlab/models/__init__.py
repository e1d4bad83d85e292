"""Models trained by gradient descent, as scikit-learn estimators.

Each model is ``Model(**hyperparameters).fit(X, y)``, then ``predict`` and
``score``; fitted state ends in ``_`` (``coef_``, ``intercept_``, ``history_``).
Every estimator subclasses scikit-learn's ``BaseEstimator``, so ``clone``, pipelines,
grid search and pickling work, and each passes scikit-learn's estimator checks.

The estimators are imported on first use (``gradlab.models.MLPClassifier``), so that
importing a helper module of this package (the command line's
``gradlab.models._network``) does not import scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradlab.models.base import ConvergenceWarning, NotFittedError
    from gradlab.models.classifier import MLPClassifier, SoftmaxRegression, load_classifier
    from gradlab.models.linear import LinearRegression, PolynomialRegression
    from gradlab.models.logistic import LogisticRegression

_WHERE = {
    "LinearRegression": "gradlab.models.linear",
    "PolynomialRegression": "gradlab.models.linear",
    "LogisticRegression": "gradlab.models.logistic",
    "NotFittedError": "gradlab.models.base",
    "ConvergenceWarning": "gradlab.models.base",
    "MLPClassifier": "gradlab.models.classifier",
    "SoftmaxRegression": "gradlab.models.classifier",
    "load_classifier": "gradlab.models.classifier",
}

__all__ = [
    "ConvergenceWarning",
    "LinearRegression",
    "LogisticRegression",
    "MLPClassifier",
    "NotFittedError",
    "PolynomialRegression",
    "SoftmaxRegression",
    "load_classifier",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'gradlab.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
