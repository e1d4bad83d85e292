"""The prediction grid's choice of test images, and the titles of the pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradlab.jobs.predictions import draw_predictions, grid_indices, model_label, spread_indices


def test_spread_indices_cover_a_test_set_sorted_by_class() -> None:
    labels = np.repeat(np.arange(10), 1000)  # 10,000 images stored class by class
    idx = spread_indices(len(labels), 18)
    assert len(idx) == 18
    assert set(labels[idx]) == set(range(10))  # the first 18 would all be class 0


@given(total=st.integers(0, 5000), n=st.integers(0, 100))
def test_spread_indices_are_distinct_in_range_and_include_both_ends(total: int, n: int) -> None:
    idx = spread_indices(total, n)
    assert len(idx) == min(n, total)
    assert len(set(idx.tolist())) == len(idx)
    assert np.all(np.diff(idx) > 0)
    if len(idx) >= 2:
        assert idx[0] == 0
        assert idx[-1] == total - 1


def test_grid_shows_mistakes_beside_correct_predictions_when_the_model_has_some() -> None:
    true = np.arange(540) % 10
    pred = true.copy()
    wrong_at = np.array([3, 50, 77, 120, 200, 201, 333, 400, 401, 402, 470, 500, 539])
    pred[wrong_at] = (true[wrong_at] + 1) % 10
    idx = grid_indices(true, pred, 18)
    assert len(idx) == 18
    shown_wrong = np.count_nonzero(true[idx] != pred[idx])
    assert shown_wrong == 6  # a third of the grid
    assert len(set(true[idx[true[idx] != pred[idx]]])) > 1  # mistakes of several classes


def test_grid_of_a_perfect_model_and_of_a_hopeless_one() -> None:
    true = np.arange(100) % 10
    assert np.array_equal(grid_indices(true, true, 18), spread_indices(100, 18))
    hopeless = (true + 1) % 10
    idx = grid_indices(true, hopeless, 18)
    assert len(idx) == 18
    assert np.all(true[idx] != hopeless[idx])  # nothing right to show


@given(
    labels=st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=0, max_size=200),
    n=st.integers(0, 40),
)
def test_grid_indices_are_distinct_sorted_and_show_a_mistake_when_there_is_one(
    labels: list[tuple[int, bool]], n: int
) -> None:
    true = np.array([t for t, _ in labels], dtype=np.int64)
    pred = np.array([t if ok else (t + 1) % 4 for t, ok in labels], dtype=np.int64)
    idx = grid_indices(true, pred, n)
    assert len(idx) == min(n, len(true))
    assert np.all(np.diff(idx) > 0)
    n_wrong = int(np.count_nonzero(true != pred))
    shown_wrong = int(np.count_nonzero(true[idx] != pred[idx]))
    if len(idx) and n_wrong:
        assert shown_wrong >= 1
    assert shown_wrong <= max(1, round(len(idx) / 3), len(idx) - (len(true) - n_wrong))


class Stub:
    """A fitted classifier that gets the images at ``wrong`` wrong."""

    _kind = "mlp"
    sizes_ = (4, 8, 3)

    def __init__(self, wrong: list[int]) -> None:
        self.wrong = wrong

    def predict(self, X: np.ndarray) -> np.ndarray:
        pred = np.arange(len(X)) % 3
        pred[self.wrong] = (pred[self.wrong] + 1) % 3
        return pred


def test_titles_name_the_model_the_data_set_and_the_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradlab.data.images import ImageDataset
    from gradlab.viz import save

    saved: dict[str, Any] = {}
    monkeypatch.setattr(save, "save_figure", lambda fig, path: saved.setdefault(path.name, fig))
    X = np.zeros((30, 4, 4), np.uint8)
    y = np.arange(30) % 3
    data = ImageDataset("tiny", X, y, X, y, ("a", "b", "c"))
    titles = {}
    for name, wrong in (("one", [4, 9, 20]), ("two", [])):
        saved.clear()
        draw_predictions(Stub(wrong), data, tmp_path, 9)
        grid, confusion = saved["predictions.png"], saved["confusion.png"]
        titles[name] = grid.get_suptitle()
        assert "MLP 4-8-3 on tiny: confusion matrix" in confusion.axes[0].get_title()
    assert titles["one"].startswith("MLP 4-8-3 on tiny: 3 of 9 shown are wrong (3 of 30 in the")
    assert titles["two"].startswith("MLP 4-8-3 on tiny: all 9 shown are right (0 of 30 in the")
    saved.clear()
    draw_predictions(Stub([1]), data, tmp_path, 6, model_name="my net", dataset="my data")
    assert (
        saved["predictions.png"]
        .get_suptitle()
        .startswith("my net on my data: 1 of 6 shown is wrong (1 of 30 in the test set)")
    )
    assert "my net on my data" in saved["confusion.png"].axes[0].get_title()


def test_model_label() -> None:
    from gradlab.models import MLPClassifier, SoftmaxRegression

    assert model_label(SoftmaxRegression()) == "softmax regression"
    assert model_label(MLPClassifier()) == "MLP"  # unfitted: sizes unknown
    assert model_label(Stub([])) == "MLP 4-8-3"
    assert model_label(object()) == "object"
