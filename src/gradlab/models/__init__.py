"""Models trained by gradient descent, as scikit-learn estimators.

Each model is ``Model(**hyperparameters).fit(X, y)``, then ``predict`` and
``score``; fitted state ends in ``_`` (``coef_``, ``intercept_``, ``history_``).
The linear models (:class:`LinearRegression`, :class:`PolynomialRegression`,
:class:`LogisticRegression`) subclass scikit-learn's ``BaseEstimator``, so ``clone``,
pipelines, grid search and pickling work, and pass ``check_estimator``.
"""

from gradlab.models.classifier import MLPClassifier, SoftmaxRegression
from gradlab.models.linear import LinearRegression, PolynomialRegression
from gradlab.models.logistic import LogisticRegression

__all__ = [
    "LinearRegression",
    "LogisticRegression",
    "MLPClassifier",
    "PolynomialRegression",
    "SoftmaxRegression",
]
