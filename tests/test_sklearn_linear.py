"""The linear models are scikit-learn estimators: the library's own checks, and in use."""

from __future__ import annotations

import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from gradlab.errors import DataError
from gradlab.models import LinearRegression, LogisticRegression, PolynomialRegression

# Few epochs keep the ~50 checks per estimator to seconds; the checks' data are
# standardised, so lr="auto" reaches the scores they ask for (R² > 0.5, accuracy > 0.83).
ESTIMATORS = [
    LinearRegression(epochs=200),
    PolynomialRegression(epochs=200),
    LogisticRegression(epochs=200),
]


@parametrize_with_checks(ESTIMATORS)  # type: ignore[misc]
def test_scikit_learn_estimator_checks(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def classification() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    return X * [1.0, 10.0, 100.0, 0.1, 1000.0], y  # features on very different scales


def test_pipeline_with_a_scaler_in_cross_validation_scores_well() -> None:
    X, y = classification()
    scores = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()), X, y, cv=5)
    assert np.all(np.isfinite(scores))
    assert scores.mean() > 0.8


def test_grid_search_over_the_learning_rate() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.3 + 0.1 * rng.normal(size=120)
    search = GridSearchCV(
        LinearRegression(epochs=100), {"lr": [0.001, 0.01, 0.1, "auto"]}, cv=3, error_score="raise"
    )
    search.fit(X, y)
    assert search.best_params_["lr"] in (0.1, "auto")  # the fastest of the stable rates
    assert search.best_score_ > 0.99


def test_clone_of_a_fitted_model_keeps_the_parameters_and_drops_the_fit() -> None:
    X, y = classification()
    fitted = LogisticRegression(lr=0.5, epochs=20, random_state=3).fit(X, y)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "coef_")
    assert not hasattr(copy, "classes_")
    assert repr(copy) == "LogisticRegression(epochs=20, lr=0.5, random_state=3)"


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_a_saved_model_predicts_the_same_after_loading(dump: str, tmp_path: Path) -> None:
    X, y = classification()
    labels = np.where(y == 1, "spam", "ham")
    model = make_pipeline(StandardScaler(), LogisticRegression(epochs=50)).fit(X, labels)
    path = tmp_path / "model.bin"
    if dump == "pickle":
        path.write_bytes(pickle.dumps(model))
        back = pickle.loads(path.read_bytes())
    else:
        joblib.dump(model, path)
        back = joblib.load(path)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize(
    "labels",
    [
        [0, 1],
        [-1, 1],
        [False, True],
        ["cat", "dog"],
        [2.0, 7.0],
    ],
)
def test_logistic_regression_predicts_the_labels_it_was_given(labels: list[object]) -> None:
    X, y = classification()
    given = np.array(labels, dtype=object if isinstance(labels[0], str) else None)[y]
    m = make_pipeline(StandardScaler(), LogisticRegression(epochs=100)).fit(X, given)
    clf = m[-1]
    np.testing.assert_array_equal(clf.classes_, np.unique(given))
    pred = m.predict(X)
    assert set(pred.tolist()) <= set(np.unique(given).tolist())
    assert np.mean(pred == given) > 0.8
    proba = m.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=4 * np.finfo(float).eps)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], pred)


def test_predict_proba_columns_follow_classes_and_the_positive_class_is_the_second() -> None:
    X = np.array([[-3.0], [-1.0], [1.0], [3.0]])
    m = LogisticRegression(epochs=500).fit(X, ["low", "low", "high", "high"])
    assert m.classes_.tolist() == ["high", "low"]  # sorted: "high" < "low"
    proba = m.predict_proba(X)
    assert np.all(proba[:2, 1] > 0.5)  # the first two are "low", the second column
    # log of a probability near 1 carries its rounding, eps/2 absolute; elsewhere both
    # sides agree to a few ulps relative.
    eps = np.finfo(float).eps
    np.testing.assert_allclose(m.predict_log_proba(X), np.log(proba), rtol=8 * eps, atol=eps)


def test_dataframe_feature_names_are_kept() -> None:
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0], "age": [4.0, 1.0, 3.0, 2.0]})
    m = PolynomialRegression(epochs=50).fit(X, [1.0, 2.0, 3.0, 4.0])
    assert m.feature_names_in_.tolist() == ["size", "age"]
    assert m.n_features_in_ == 2
    assert m.coef_.shape == (4,)


def test_a_failed_refit_leaves_the_fitted_model_as_it_was() -> None:
    """The labels, width and weights stay together: a refit that raises changes nothing."""
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).normal(size=(40, 2))
    m = LogisticRegression(epochs=50).fit(X, np.where(X[:, 0] > 0, "spam", "ham"))
    before = m.predict(X)
    with pytest.raises(TypeError, match="Feature names are only supported"):
        m.fit(pd.DataFrame(X, columns=["a", 1]), np.where(X[:, 0] > 0, "cat", "dog"))
    np.testing.assert_array_equal(m.predict(X), before)

    lin = LinearRegression(epochs=5).fit(X, X.sum(1))
    coef = lin.coef_.copy()
    wide = np.ones((40, 5))
    with pytest.raises(ValueError, match=r"coef_init must be 5 finite numbers, got \[0, 0\]"):
        lin.fit(wide, wide.sum(1), coef_init=[0, 0])
    assert lin.n_features_in_ == 2
    np.testing.assert_array_equal(lin.coef_, coef)


def test_a_failed_first_fit_leaves_the_model_unfitted() -> None:
    from sklearn.exceptions import NotFittedError

    X = np.random.default_rng(0).normal(size=(40, 2))
    m = LinearRegression(lr=1e6, epochs=50)
    with pytest.raises(ArithmeticError):
        m.fit(X, X.sum(1))
    assert not hasattr(m, "n_features_in_")
    with pytest.raises(NotFittedError):
        m.predict(X)


@pytest.mark.parametrize("model", [LinearRegression, PolynomialRegression, LogisticRegression])
def test_linear_models_take_tensors_that_require_grad_and_bfloat16(model: type) -> None:
    """As the classifiers do: a tensor is detached and copied to the CPU, bfloat16 read as
    float32 (np.asarray raised "Can't call numpy() on Tensor that requires grad")."""
    torch = pytest.importorskip("torch")
    X, y = classification()
    on_arrays = model(epochs=5).fit(X, y)
    on_tensors = model(epochs=5).fit(
        torch.tensor(X, requires_grad=True), torch.tensor(y.astype(np.float64), requires_grad=True)
    )
    np.testing.assert_array_equal(on_tensors.coef_, on_arrays.coef_)
    half = torch.tensor(X, dtype=torch.bfloat16)
    np.testing.assert_array_equal(on_tensors.predict(half), on_arrays.predict(half.float().numpy()))


@pytest.mark.parametrize(
    ("labels", "types"), [(["a", 1], "int, str"), ([None, 1], "NoneType, int")]
)
def test_logistic_regression_names_labels_of_mixed_types(labels: list[object], types: str) -> None:
    X, _ = classification()
    y = np.array(labels * (len(X) // 2), dtype=object)
    with pytest.raises(DataError, match=f"Unknown label type: y mixes values of types {types};"):
        LogisticRegression().fit(X, y)


def test_polynomial_predict_uses_the_powers_it_was_fitted_on() -> None:
    """After set_params(powers=(3,)), predict cubed the inputs for weights fitted on squares
    (-23 for 13); a new degree raised numpy's matmul error."""
    import numpy as np

    from gradlab.models import PolynomialRegression

    x = np.linspace(-2, 2, 50)[:, None]
    m = PolynomialRegression(powers=(2,), epochs=500).fit(x, 3 * x[:, 0] ** 2 + 1)
    before = m.predict(x[:3])
    np.testing.assert_allclose(before, 3 * x[:3, 0] ** 2 + 1, rtol=1e-6)
    m.set_params(powers=(3,))
    np.testing.assert_array_equal(m.predict(x[:3]), before)
    m.set_params(powers=None, degree=4)
    np.testing.assert_array_equal(m.predict(x[:3]), before)
    assert m.powers_ == (2,)
    m.fit(x, x[:, 0] ** 4)  # a new fit takes the new parameters
    assert m.powers_ == (1, 2, 3, 4)
