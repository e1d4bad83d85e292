"""The image classifiers draw themselves: ``plot_curves``, ``plot_predictions`` and
``plot_confusion`` return gradlab Figures that show what they promise (the history's
numbers, the model's own predictions, the counts), titled with the model and the data set,
and refuse what they cannot draw with a message that says what to do."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from gradlab.data.dataset import ImageDataset
from gradlab.data.synthetic import make_images
from gradlab.errors import DataError, UsageError
from gradlab.models import MLPClassifier, SoftmaxRegression
from gradlab.viz.classifiers import grid_indices
from gradlab.viz.figure import Figure


@cache
def images() -> ImageDataset:
    """Three classes of 8x10 images: small enough to fit in a moment, hard enough that a
    few epochs of softmax regression still make mistakes."""
    return make_images(240, 90, shape=(8, 10), n_classes=3, seed=1, noise=0.6)


@cache
def fitted() -> SoftmaxRegression:
    d = images()
    model = SoftmaxRegression(epochs=3, batch_size=32, cpu_threads=1)
    return model.fit(d.X_train, d.y_train, eval_set=(d.X_test, d.y_test))


def grid_titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


# ------------------------------------------------------------------ plot_curves


def test_plot_curves_draws_the_history_titled_with_model_data_and_training() -> None:
    model = fitted()
    fig = model.plot_curves(dataset="shapes")
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() == (
        "softmax regression on shapes: loss and accuracy per epoch\n"
        "(3 epochs, sgd, lr=0.1, batch 32, numpy engine)"
    )
    loss_ax, acc_ax = fig.axes
    hist = model.history_
    drawn = {line.get_label(): line for ax in (loss_ax, acc_ax) for line in ax.lines}
    assert set(drawn) == {
        "train loss (epoch mean)",
        "test loss",
        "train accuracy (epoch mean)",
        "test accuracy",
    }
    for label, line in drawn.items():
        column = label.removesuffix(" (epoch mean)").replace(" ", "_")
        np.testing.assert_array_equal(line.get_xdata(), hist["epoch"])
        np.testing.assert_array_equal(line.get_ydata(), hist[column])


def test_plot_curves_without_an_eval_set_draws_the_training_curves_only() -> None:
    d = images()
    model = MLPClassifier(hidden=(8,), epochs=2, momentum=0.5, cpu_threads=1)
    fig = model.fit(d.X_train, d.y_train).plot_curves()
    assert fig.get_suptitle() == (
        "MLP 80-8-3: loss and accuracy per epoch\n"
        "(2 epochs, sgd, lr=0.05, batch 200, momentum 0.5, numpy engine)"
    )
    assert [line.get_label() for ax in fig.axes for line in ax.lines] == [
        "train loss (epoch mean)",
        "train accuracy (epoch mean)",
    ]


def test_a_loaded_model_draws_the_curves_it_was_saved_with(tmp_path: Path) -> None:
    model = fitted()
    again = SoftmaxRegression.load(model.save(tmp_path / "m.safetensors"))
    fig = again.plot_curves()
    (train_loss, _) = fig.axes[0].lines
    np.testing.assert_array_equal(train_loss.get_ydata(), model.history_["train_loss"])
    assert fig.get_suptitle().endswith("(3 epochs, sgd, lr=0.1, batch 32, numpy engine)")


# ------------------------------------------------------------------ plot_predictions


def test_plot_predictions_shows_the_models_own_predictions_mistakes_among_them() -> None:
    d, model = images(), fitted()
    pred = model.predict(d.X_test)
    wrong = int(np.count_nonzero(pred != d.y_test))
    assert 6 <= wrong <= len(pred) - 12  # enough of both for a third of the grid to be wrong
    fig = model.plot_predictions(d.X_test, d.y_test, dataset="shapes")
    idx = grid_indices(d.y_test, pred, 18)
    assert grid_titles(fig) == [
        f"true {t}\npred {p}" for t, p in zip(d.y_test[idx], pred[idx], strict=True)
    ]
    for ax, i in zip(fig.axes, idx, strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), d.X_test[i])
    shown_wrong = int(np.count_nonzero(d.y_test[idx] != pred[idx]))
    assert shown_wrong == 6  # a third of the grid
    red = [ax for ax in fig.axes if ax.title.get_color() != "black"]
    assert len(red) == shown_wrong
    assert fig.get_suptitle().splitlines()[0] == (
        f"softmax regression on shapes: 6 of 18 shown are wrong ({wrong} of 90 in all)"
    )


def test_plot_predictions_names_the_classes_and_shows_all_of_a_small_set() -> None:
    d = images()
    names = np.array(["ring", "bar", "dot"])
    model = SoftmaxRegression(epochs=2, cpu_threads=1).fit(d.X_train, names[d.y_train])
    fig = model.plot_predictions(d.X_test[:5], names[d.y_test[:5]], n=50)
    assert len(fig.axes) == 5
    pred = model.predict(d.X_test[:5])
    assert grid_titles(fig) == [
        f"true {t}\npred {p}" for t, p in zip(names[d.y_test[:5]], pred, strict=True)
    ]


def test_class_names_given_to_fit_label_the_grid() -> None:
    d = images()
    model = SoftmaxRegression(epochs=2, cpu_threads=1)
    model.fit(d.X_train, d.y_train, class_names=["ring", "bar", "dot"])
    fig = model.plot_predictions(d.X_test, d.y_test, n=6)
    words = {w for title in grid_titles(fig) for w in title.split()}
    assert words - {"true", "pred"} <= {"ring", "bar", "dot"}


def test_flat_square_rows_are_drawn_as_square_images() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 16, size=(60, 64))  # as scikit-learn's load_digits() gives them
    y = rng.integers(0, 2, 60)
    model = SoftmaxRegression(epochs=1, cpu_threads=1).fit(X, y)
    fig = model.plot_predictions(X, y, n=4)
    assert fig.axes[0].images[0].get_array().shape == (8, 8)


def test_flat_rows_of_another_shape_need_image_shape() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 30))
    y = rng.integers(0, 2, 40)
    model = SoftmaxRegression(epochs=1, cpu_threads=1).fit(X, y)
    with pytest.raises(UsageError) as err:
        model.plot_predictions(X, y)
    assert err.value.message == (
        "SoftmaxRegression.plot_predictions() draws each sample as a grey-scale image, but "
        "this SoftmaxRegression was fitted on samples of shape (30,), which is no square "
        "image."
    )
    assert err.value.hint == "Pass image_shape=(height, width) with height * width = 30."
    fig = model.plot_predictions(X, y, n=3, image_shape=(5, 6))
    assert fig.axes[0].images[0].get_array().shape == (5, 6)
    with pytest.raises(UsageError, match=r"image_shape \(4, 6\) holds 24 pixels, but each "
                       r"sample has 30 values \(shape \(30,\)\); give a \(height, width\) whose "
                       r"product is 30\."):  # fmt: skip
        model.plot_predictions(X, y, image_shape=(4, 6))


def test_a_torch_dataloader_brings_its_own_labels() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    d, model = images(), fitted()
    loader = DataLoader(
        TensorDataset(torch.from_numpy(d.X_test), torch.from_numpy(d.y_test)), batch_size=32
    )
    from_loader = model.plot_predictions(loader, n=6)
    from_arrays = model.plot_predictions(d.X_test, d.y_test, n=6)
    assert grid_titles(from_loader) == grid_titles(from_arrays)
    assert from_loader.get_suptitle() == from_arrays.get_suptitle()
    assert model.plot_confusion(loader).axes[0].get_title() == (
        model.plot_confusion(d.X_test, d.y_test).axes[0].get_title()
    )


# ------------------------------------------------------------------ plot_confusion


def test_plot_confusion_counts_every_image_once() -> None:
    d, model = images(), fitted()
    pred = model.predict(d.X_test)
    fig = model.plot_confusion(d.X_test, d.y_test, dataset="shapes")
    (ax,) = fig.axes
    counts = np.zeros((3, 3), dtype=int)
    for text in ax.texts:
        col, row = text.get_position()
        counts[int(row), int(col)] = int(text.get_text())
    expected = np.zeros((3, 3), dtype=int)
    np.add.at(expected, (d.y_test, pred), 1)
    np.testing.assert_array_equal(counts, expected)
    wrong = int(np.count_nonzero(pred != d.y_test))
    assert ax.get_title() == (
        "softmax regression on shapes: confusion matrix\n"
        f"accuracy {1 - wrong / 90:.4f}: {wrong} of 90 images wrong (red)"
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]


# ------------------------------------------------------------------ what they refuse


@pytest.mark.parametrize(
    ("method", "args"),
    [("plot_curves", ()), ("plot_predictions", ("X", "y")), ("plot_confusion", ("X", "y"))],
)
@pytest.mark.parametrize("cls", [SoftmaxRegression, MLPClassifier])
def test_an_unfitted_model_says_to_fit_it_first(cls: type, method: str, args: tuple) -> None:
    d = images()
    values = {"X": d.X_test, "y": d.y_test}
    with pytest.raises(NotFittedError) as err:
        getattr(cls(), method)(*(values[a] for a in args))
    assert isinstance(err.value, UsageError)
    name = cls.__name__
    assert str(err.value) == (
        f"{name}.{method}() draws a fitted model, and this {name} is not fitted yet: "
        "call fit(X, y) first."
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "SoftmaxRegression.plot_predictions: n must be an integer >= 1; got 0."),
        ({"n": 2.5}, "SoftmaxRegression.plot_predictions: n must be an integer >= 1; got 2.5."),
        ({"n": True}, "SoftmaxRegression.plot_predictions: n must be an integer >= 1; got True."),
        (
            {"dataset": 3},
            "SoftmaxRegression.plot_predictions: dataset must be a string (the "
            "data set's name); got 3.",
        ),
        (
            {"image_shape": (8, 0)},
            "SoftmaxRegression.plot_predictions: image_shape must be "
            "None or a pair (height, width) of integers >= 1; got (8, 0).",
        ),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    d = images()
    with pytest.raises(UsageError) as err:
        fitted().plot_predictions(d.X_test, d.y_test, **kwargs)
    assert str(err.value) == message


def test_bad_dataset_names_are_refused_by_every_method() -> None:
    d, model = images(), fitted()
    with pytest.raises(UsageError, match=r"^SoftmaxRegression\.plot_curves: dataset must be"):
        model.plot_curves(dataset=None)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"^SoftmaxRegression\.plot_confusion: dataset must be"):
        model.plot_confusion(d.X_test, d.y_test, dataset=["digits"])  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["plot_predictions", "plot_confusion"])
def test_the_labels_are_needed(method: str) -> None:
    with pytest.raises(DataError) as err:
        getattr(fitted(), method)(images().X_test)
    assert err.value.message == (
        f"SoftmaxRegression.{method}() needs the labels y of X, to compare the predictions "
        "with them."
    )
    assert err.value.hint == (
        f"Call {method}(X, y), or pass X as a PyTorch Dataset or DataLoader of (input, "
        "label) pairs."
    )


@pytest.mark.parametrize("method", ["plot_predictions", "plot_confusion"])
def test_unknown_labels_and_other_images_are_named(method: str) -> None:
    d, model = images(), fitted()
    y = d.y_test.copy()
    y[4] = 7
    with pytest.raises(DataError, match=r"^y\[4\] is 7, which is not one of the 3 classes: "):
        getattr(model, method)(d.X_test, y)
    with pytest.raises(DataError, match="X has 64 features, but SoftmaxRegression is expecting "
                       r"80 features as input \(samples of shape \(8, 10\)\)\."):  # fmt: skip
        getattr(model, method)(np.zeros((3, 8, 8), np.uint8), [0, 1, 2])
    with pytest.raises(DataError, match="X has 90 samples but y has 89 labels; they must match"):
        getattr(model, method)(d.X_test, d.y_test[:-1])
