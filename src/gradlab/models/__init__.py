"""Models trained by gradient descent, in the scikit-learn manner.

Each model is ``Model(**hyperparameters).fit(X, y)``, then ``predict`` and
``score``; fitted state ends in ``_`` (``coef_``, ``intercept_``, ``history_``).
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
