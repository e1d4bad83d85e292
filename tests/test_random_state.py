"""random_state as scikit-learn takes it: a seed, None, or a NumPy generator to draw from."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import clone

from gradlab.models import (
    LinearRegression,
    LogisticRegression,
    MLPClassifier,
    PolynomialRegression,
    SoftmaxRegression,
)
from gradlab.params import draw_seed

pytestmark = pytest.mark.filterwarnings("ignore::gradlab.models.ConvergenceWarning")

rng = np.random.default_rng(7)
X = rng.normal(size=(60, 3))
Y_REG = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=60)
Y_CLS = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)

# each estimator with a setting where the seed matters (shuffled batches, random weights)
ESTIMATORS: dict[str, tuple[Any, np.ndarray]] = {
    "LinearRegression": (
        LinearRegression(method="minibatch", batch_size=8, epochs=3, lr=0.05),
        Y_REG,
    ),
    "PolynomialRegression": (
        PolynomialRegression(degree=2, method="minibatch", batch_size=8, epochs=3, lr=0.01),
        Y_REG,
    ),
    "LogisticRegression": (
        LogisticRegression(method="minibatch", batch_size=8, epochs=3, lr=0.1),
        (Y_CLS > 0).astype(int),
    ),
    "SoftmaxRegression": (SoftmaxRegression(epochs=2, batch_size=8, lr=0.1), Y_CLS),
    "MLPClassifier": (MLPClassifier(hidden=(5,), epochs=2, batch_size=8, lr=0.1), Y_CLS),
}


def _outputs(model: Any) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X))
    return np.asarray(model.predict(X))


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("make_rng", [np.random.RandomState, np.random.default_rng])
def test_a_numpy_generator_gives_the_fit_the_seed_it_draws_next(name: str, make_rng: Any) -> None:
    template, y = ESTIMATORS[name]
    drawn = draw_seed(make_rng(3))  # what a fresh generator with the same seed gives first
    by_seed = clone(template).set_params(random_state=drawn).fit(X, y)
    generator = make_rng(3)
    model = clone(template).set_params(random_state=generator)
    model.fit(X, y)
    np.testing.assert_array_equal(_outputs(model), _outputs(by_seed))
    # the parameter is the caller's generator still, which has moved on
    assert model.get_params()["random_state"] is generator
    model.fit(X, y)
    assert not np.array_equal(_outputs(model), _outputs(by_seed))


@pytest.mark.parametrize("make", [SoftmaxRegression, MLPClassifier])
def test_a_classifier_keeps_the_drawn_seed_in_seed_(make: Any) -> None:
    model = make(epochs=1, random_state=np.random.RandomState(5)).fit(X, Y_CLS)
    assert model.seed_ == draw_seed(np.random.RandomState(5))


def test_draw_seed_keeps_seeds_and_none() -> None:
    assert draw_seed(12) == 12
    assert draw_seed(np.int64(4)) == 4
    assert draw_seed(None) is None
    assert 0 <= draw_seed(np.random.RandomState(0)) < 2**31  # type: ignore[operator]


def test_a_failed_fit_leaves_the_generator_as_the_parameter() -> None:
    generator = np.random.RandomState(0)
    model = MLPClassifier(epochs=1, random_state=generator, lr=-1.0)
    with pytest.raises(ValueError, match="lr must be"):
        model.fit(X, Y_CLS)
    assert model.random_state is generator
