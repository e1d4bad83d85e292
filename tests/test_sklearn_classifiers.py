"""MLPClassifier and SoftmaxRegression are real scikit-learn estimators.

scikit-learn's own estimator checks run over both (no check is marked expected to
fail), then the things people do with estimators: pipelines in ``cross_val_score``,
``GridSearchCV``, ``clone``, pickle and joblib.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from gradlab.models import MLPClassifier, SoftmaxRegression

# Small enough that each check runs in a fraction of a second; one thread, so that a fit
# repeats bit for bit (check_fit_idempotent compares two fits to 1e-7).
CHECKED = [
    SoftmaxRegression(epochs=20, batch_size=16, cpu_threads=1),
    MLPClassifier(hidden=(8,), epochs=20, batch_size=16, cpu_threads=1),
]


@parametrize_with_checks(CHECKED)
def test_scikit_learn_estimator_checks(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X, y


def test_pipeline_in_cross_val_score_gives_finite_scores() -> None:
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = digits()
    pipe = make_pipeline(StandardScaler(), SoftmaxRegression(epochs=5, batch_size=32))
    scores = cross_val_score(pipe, X, y, error_score="raise")
    assert scores.shape == (5,)
    assert np.all(np.isfinite(scores))
    assert scores.mean() > 0.85


def test_grid_search_over_lr_and_hidden() -> None:
    from sklearn.model_selection import GridSearchCV

    X, y = digits()
    search = GridSearchCV(
        MLPClassifier(epochs=3, batch_size=32),
        {"lr": [0.01, 0.05], "hidden": [(16,), (32, 16)]},
        cv=2,
        error_score="raise",
    )
    search.fit(X[:600] / 16, y[:600])
    assert set(search.best_params_) == {"lr", "hidden"}
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.sizes_[1:-1] == search.best_params_["hidden"]


def test_get_params_set_params_and_repr() -> None:
    m = MLPClassifier(hidden=(5,), lr=0.01)
    params = m.get_params(deep=True)
    assert params["hidden"] == (5,)
    assert params["random_state"] == 0
    assert "seed" not in params
    assert m.set_params(lr=0.2, epochs=3) is m
    assert (m.lr, m.epochs) == (0.2, 3)
    assert repr(m) == "MLPClassifier(epochs=3, hidden=(5,), lr=0.2)"
    assert repr(SoftmaxRegression()) == "SoftmaxRegression()"
    assert "hidden" not in SoftmaxRegression().get_params()


def test_clone_of_a_fitted_model_is_unfitted_with_the_same_parameters() -> None:
    X, y = digits()
    m = SoftmaxRegression(epochs=2, lr=0.05).fit(X[:200] / 16, y[:200])
    c = clone(m)
    assert c.get_params() == m.get_params()
    assert not hasattr(c, "params_")
    assert not hasattr(c, "classes_")


def test_pickle_and_joblib_keep_the_predictions(tmp_path: Path) -> None:
    import joblib

    X, y = digits()
    m = MLPClassifier(hidden=(16,), epochs=2, batch_size=32).fit(X / 16, y)
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.predict(X / 16), m.predict(X / 16))
    path = tmp_path / "m.joblib"
    joblib.dump(m, path)
    again = joblib.load(path)
    np.testing.assert_array_equal(again.predict_proba(X / 16), m.predict_proba(X / 16))
    np.testing.assert_array_equal(again.history_["train_loss"], m.history_["train_loss"])


def test_a_dataframe_gives_feature_names_and_they_are_checked() -> None:
    pd = pytest.importorskip("pandas")
    X, y = digits()
    df = pd.DataFrame(X[:300] / 16, columns=[f"px{i}" for i in range(64)])
    m = SoftmaxRegression(epochs=2).fit(df, pd.Series(y[:300]))
    assert m.feature_names_in_.dtype == object
    assert list(m.feature_names_in_[:2]) == ["px0", "px1"]
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        m.predict(df[df.columns[::-1]])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        m.predict(X[:3] / 16)
    # refit on an array: the names are gone
    m.fit(X[:300] / 16, y[:300])
    assert not hasattr(m, "feature_names_in_")


def test_string_and_categorical_labels_from_pandas() -> None:
    pd = pytest.importorskip("pandas")
    X, y = digits()
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])  # fmt: skip
    labels = pd.Series(pd.Categorical(names[y[:400]]))
    m = SoftmaxRegression(epochs=5, batch_size=32).fit(X[:400] / 16, labels)
    assert set(m.classes_) == set(names)
    assert set(m.predict(X[:400] / 16)) <= set(names)
    assert m.score(X[:400] / 16, labels) > 0.8


@pytest.mark.parametrize("make", [SoftmaxRegression, MLPClassifier], ids=["softmax", "mlp"])
def test_column_names_of_mixed_types_are_refused_as_scikit_learn_does(make: type) -> None:
    pd = pytest.importorskip("pandas")
    X, y = digits()
    names = [f"px{i}" for i in range(63)] + [63]
    with pytest.raises(TypeError, match=r"X's column names mix types \(int, str\): feature names"):
        make(epochs=1).fit(pd.DataFrame(X[:100] / 16, columns=names), y[:100])
    fitted = make(epochs=1).fit(X[:100] / 16, y[:100])
    with pytest.raises(TypeError, match=r"Make them all strings \(X.columns = X.columns.astype"):
        fitted.predict(pd.DataFrame(X[:3] / 16, columns=names))
    numbered = make(epochs=1).fit(pd.DataFrame(X[:100] / 16), y[:100])  # all ints: no names
    assert not hasattr(numbered, "feature_names_in_")


@pytest.mark.parametrize(
    "make",
    ["LinearRegression", "LogisticRegression", "SoftmaxRegression", "MLPClassifier"],
)
def test_a_warning_points_at_the_line_that_called_gradlab(make: str) -> None:
    """However deep in the package it is raised (fit now runs _fit inside a guard)."""
    import warnings

    import gradlab.models

    X = np.random.default_rng(0).normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(int)
    model = getattr(gradlab.models, make)(epochs=1)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model.fit(X, y[:, None])
    # the column-vector y's warning, and for LinearRegression's single epoch the
    # ConvergenceWarning too: every one points here
    assert seen, "no warning"
    assert {w.filename for w in seen} == {__file__}, [(w.filename, w.lineno) for w in seen]
