"""The learner's data as it comes: arrays, lists, pandas, tensors, Datasets, DataLoaders."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradlab.errors import DataError
from gradlab.models import MLPClassifier, SoftmaxRegression, _input
from gradlab.models._input import as_arrays, feature_names, read_torch_data, to_numpy


def blobs(n: int = 120, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, d)) + 3 * np.eye(3, d)[y]
    return X.astype(np.float32), y


def fitted(X: Any, y: Any = None) -> SoftmaxRegression:
    return SoftmaxRegression(epochs=3, batch_size=16, cpu_threads=1).fit(X, y)


# ------------------------------------------------------------------ plain Python and pandas


def test_lists_fit_like_arrays() -> None:
    X, y = blobs()
    a, b = fitted(X, y), fitted(X.tolist(), y.tolist())
    assert np.array_equal(a.params_["W1"], b.params_["W1"])
    np.testing.assert_array_equal(b.predict(X.tolist()), a.predict(X))


def test_rows_of_different_lengths_are_named() -> None:
    with pytest.raises(DataError) as caught:
        SoftmaxRegression().fit([[1.0, 2.0], [3.0]], [0, 1])
    assert caught.value.message == (
        "X cannot form one array: X[1] has 1 entry but X[0] has 2 entries."
    )
    assert caught.value.hint == "Give every entry the same shape (pad or drop the short rows)."


@given(
    rows=st.integers(2, 6),
    cols=st.integers(1, 5),
    bad=st.data(),
)
def test_the_first_row_of_another_length_is_the_one_named(
    rows: int, cols: int, bad: st.DataObject
) -> None:
    grid = [[float(i * cols + j) for j in range(cols)] for i in range(rows)]
    assert to_numpy(grid).shape == (rows, cols)  # rectangular: one array
    i = bad.draw(st.integers(1, rows - 1), label="short row")
    length = bad.draw(st.integers(0, cols - 1) | st.integers(cols + 1, cols + 3), label="len")
    grid[i] = grid[i][:length] + [0.0] * max(0, length - cols)
    with pytest.raises(DataError) as caught:
        to_numpy(grid)
    entries = f"{length} entr{'y' if length == 1 else 'ies'}"
    assert caught.value.message == (
        f"X cannot form one array: X[{i}] has {entries} but X[0] has "
        f"{cols} entr{'y' if cols == 1 else 'ies'}."
    )


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (  # deeper in: images of rows
            [[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0]]],
            [0, 1],
            "X cannot form one array: X[1][1] has 1 entry but X[1][0] has 2 entries.",
        ),
        (
            [[1.0, 2.0], [3.0, 4.0]],
            [0, [1]],
            "y cannot form one array: y[1] has 1 entry but y[0] is one number.",
        ),
        (  # a 0-d array is one number (len() of it raised TypeError)
            [np.array(1.0), np.array([1.0, 2.0])],
            [0, 1],
            "X cannot form one array: X[1] has 2 entries but X[0] is one number.",
        ),
        (
            {"a": [1.0, 2.0]},
            [0],
            "X is a dict, not array-like: give an array, a list of rows or a pandas object.",
        ),
        ({1.0, 2.0}, [0, 1], "X is a set, not array-like"),
    ],
)
def test_odd_containers_are_named_in_plain_words(X: object, y: object, message: str) -> None:
    with pytest.raises(DataError) as caught:
        SoftmaxRegression().fit(X, y)
    assert caught.value.message.startswith(message)


def test_pandas_objects_fit_like_arrays_and_give_feature_names() -> None:
    pd = pytest.importorskip("pandas")
    X, y = blobs()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    a, b = fitted(X, y), fitted(df, pd.Series(y))
    assert np.array_equal(a.params_["W1"], b.params_["W1"])
    assert list(b.feature_names_in_) == [f"f{i}" for i in range(6)]
    assert feature_names(df.set_axis(range(6), axis=1)) is None  # integer columns: no names
    assert b.score(df, pd.Series(y)) == a.score(X, y)


def test_objects_that_are_not_numbers_are_named_as_both_data_and_type_errors() -> None:
    X, y = blobs()
    bad = X.astype(object)
    bad[0, 0] = {"a": 1}
    with pytest.raises(
        DataError, match=r"X must be numbers: X\[0, 0\] is \{'a': 1\} \(float\(\) argument must be"
    ):
        SoftmaxRegression().fit(bad, y)
    with pytest.raises(TypeError):
        SoftmaxRegression().fit(bad, y)


def test_sparse_and_complex_inputs_are_refused_by_name() -> None:
    sparse = pytest.importorskip("scipy.sparse")
    X, y = blobs()
    with pytest.raises(DataError, match=r"X is a sparse matrix \(csr_matrix\); sparse input"):
        SoftmaxRegression().fit(sparse.csr_matrix(X), y)
    with pytest.raises(DataError, match="Complex data not supported: X has dtype complex"):
        SoftmaxRegression().fit(X + 1j, y)


def test_missing_y_says_what_to_pass() -> None:
    X, _ = blobs()
    with pytest.raises(
        DataError, match="SoftmaxRegression requires y to be passed, but the target"
    ):
        SoftmaxRegression().fit(X)


# ------------------------------------------------------------------ PyTorch


def test_tensors_with_grad_fit_predict_and_score_as_arrays() -> None:
    torch = pytest.importorskip("torch")
    X, y = blobs()
    tX = torch.tensor(X, requires_grad=True)
    a, b = fitted(X, y), fitted(tX, torch.tensor(y))
    assert np.array_equal(a.params_["W1"], b.params_["W1"])
    np.testing.assert_array_equal(b.predict(tX), a.predict(X))
    assert b.score(tX, torch.tensor(y)) == a.score(X, y)
    assert tX.grad is None  # detached, never touched


def test_half_precision_tensors_and_lists_of_tensors_are_read() -> None:
    torch = pytest.importorskip("torch")
    X, _ = blobs(4)
    assert to_numpy(torch.tensor(X, dtype=torch.bfloat16)).dtype == np.float32
    stacked = to_numpy([torch.tensor(r, requires_grad=True) for r in X])
    np.testing.assert_array_equal(stacked, X)


def test_a_tensor_dataset_brings_its_labels() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import TensorDataset

    X, y = blobs()
    ds = TensorDataset(torch.tensor(X), torch.tensor(y))
    a, b = fitted(X, y), fitted(ds)
    assert np.array_equal(a.params_["W1"], b.params_["W1"])
    assert np.array_equal(fitted(ds, None).params_["W1"], a.params_["W1"])
    np.testing.assert_array_equal(b.predict(ds), a.predict(X))
    assert b.score(ds) == a.score(X, y)


def test_a_dataset_with_a_separate_y_is_refused() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import TensorDataset

    X, y = blobs()
    ds = TensorDataset(torch.tensor(X), torch.tensor(y))
    with pytest.raises(DataError, match=r"X is a TensorDataset, which yields .* y must be None"):
        SoftmaxRegression().fit(ds, y)


class ToTensorImages:
    """A stand-in for a torchvision data set with ``transform=ToTensor()``: each item is a
    (1, H, W) float tensor in [0, 1] and an int label, made one at a time."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, item: Any = None) -> None:
        import torch

        self.torch = torch
        self.images, self.labels, self.item = images, labels, item

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Any:
        if self.item is not None:
            return self.item(self, i)
        image = self.torch.from_numpy(self.images[i]).float().div(255).unsqueeze(0)
        return image, int(self.labels[i])


def image_dataset(item: Any = None) -> Any:
    pytest.importorskip("torch")
    from torch.utils.data import Dataset

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 90)
    images = np.clip(rng.normal(60, 30, (90, 8, 8)) + 120 * (labels[:, None, None] == 1), 0, 255)
    cls = type("Images", (ToTensorImages, Dataset), {})
    return cls(images.astype(np.uint8), labels, item)


def test_a_torchvision_style_dataset_is_read_once_into_arrays() -> None:
    ds = image_dataset()
    m = MLPClassifier(hidden=(8,), epochs=3, batch_size=16).fit(ds)
    assert m.input_shape_ == (1, 8, 8)
    assert m.n_features_in_ == 64
    X, y = read_torch_data(ds)
    assert X.shape == (90, 1, 8, 8)
    assert X.dtype == np.float32
    np.testing.assert_array_equal(y, ds.labels)
    np.testing.assert_array_equal(m.predict(ds), m.predict(X))


def test_a_dataloader_is_read_batch_by_batch() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    X, y = blobs()
    loader = DataLoader(TensorDataset(torch.tensor(X), torch.tensor(y)), batch_size=7)
    a, b = fitted(X, y), fitted(loader)
    assert np.array_equal(a.params_["W1"], b.params_["W1"])
    assert fitted(DataLoader(image_dataset(), batch_size=10)).input_shape_ == (1, 8, 8)


def test_an_iterable_dataset_is_read_in_order() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import IterableDataset

    X, y = blobs()

    class Stream(IterableDataset):  # type: ignore[misc, type-arg]
        def __iter__(self) -> Any:
            return ((torch.tensor(a), torch.tensor(b)) for a, b in zip(X, y, strict=True))

    Xr, yr = read_torch_data(Stream())
    np.testing.assert_array_equal(Xr, X)
    np.testing.assert_array_equal(yr, y)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            lambda ds, i: {"image": ds.images[i], "label": 0},
            r"item 0 of the Dataset is a dict with keys 'image', 'label'; a Dataset here must "
            r"yield \(input, label\) pairs",
        ),
        (
            lambda ds, i: ds.torch.zeros(5),
            r"item 0 of the Dataset is a Tensor of shape \(5,\); a Dataset here must yield",
        ),
        (
            lambda ds, i: (ds.torch.zeros(3), 1, "extra"),
            r"item 0 of the Dataset is a tuple of 3 \(a Tensor of shape \(3,\), a int, a str\)",
        ),
        (
            lambda ds, i: (ds.torch.zeros(3 if i < 4 else 4), 1),
            r"the input of item 4 of the Dataset has shape \(4,\), that of item 0 \(3,\); every "
            "input must have the same shape",
        ),
    ],
)
def test_a_dataset_of_something_else_shows_what_one_item_looked_like(
    item: Any, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        SoftmaxRegression(epochs=1).fit(image_dataset(item))


def test_an_empty_dataset_is_named() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    empty = DataLoader(TensorDataset(torch.zeros(0, 3), torch.zeros(0)), batch_size=4)
    with pytest.raises(DataError, match="the DataLoader is empty"):
        SoftmaxRegression().fit(empty)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_reading_a_slow_dataset_shows_a_progress_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_input, "PROGRESS_DELAY", 0.0)
    monkeypatch.setenv("TERM", "xterm")
    out = Tty()
    read_torch_data(image_dataset(), progress=out)
    text = out.getvalue()
    assert "\r\x1b[Kreading the Dataset: [" in text
    # the closing line clears the bar's row: a shorter line left the bar's end behind it
    assert text.rsplit("\r", 1)[1].startswith("\x1b[Kreading the Dataset: 90 items in ")
    assert text.endswith(" s\n")
    quiet = io.StringIO()
    monkeypatch.setattr(_input, "PROGRESS_DELAY", 60.0)
    read_torch_data(image_dataset(), progress=quiet)
    assert quiet.getvalue() == ""  # quick reads show nothing


@pytest.mark.parametrize("where", ["a file", "a dumb terminal"])
def test_a_slow_dataset_read_into_a_log_writes_one_line_and_no_carriage_return(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Every redraw went into the file, ten a second, joined by carriage returns."""
    monkeypatch.setattr(_input, "PROGRESS_DELAY", 0.0)
    monkeypatch.setenv("TERM", "dumb" if where == "a dumb terminal" else "xterm")
    out = Tty() if where == "a dumb terminal" else io.StringIO()
    read_torch_data(image_dataset(), progress=out)
    assert out.getvalue().startswith("reading the Dataset: 90 items in ")
    assert out.getvalue().count("\n") == 1
    assert "\r" not in out.getvalue()


def test_as_arrays_keeps_y_none_and_the_dtype() -> None:
    X, _ = blobs(5)
    got = as_arrays(X.astype(np.uint8))
    assert got.y is None
    assert got.X.dtype == np.uint8
    assert got.feature_names is None


def test_without_torch_imported_nothing_imports_it() -> None:
    code = (
        "import sys, numpy as np\n"
        "from gradlab.models._input import as_arrays\n"
        "from gradlab.models._network import PlainClassifier\n"
        "as_arrays([[1.0, 2.0]], [0])\n"
        "PlainClassifier('softmax', epochs=1, engine='numpy').fit([[0., 1.], [1., 0.]], [0, 1])\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


# ------------------------------------------------------------------ uint8: pixels or numbers


def _pixels() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data[:600] * 255 / 16).round().astype(np.uint8), digits.target[:600]


def test_uint8_columns_of_a_dataframe_are_numbers_not_pixels() -> None:
    """One-hot codes from pd.get_dummies(dtype=uint8) were divided by 255 as if pixels:
    test accuracy 0.22 against 0.91 for the same codes as floats."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    category = rng.integers(0, 5, 400)
    codes = pd.get_dummies(pd.Series(category).astype(str), dtype=np.uint8)
    as_uint8 = SoftmaxRegression(epochs=3, random_state=0).fit(codes, category)
    as_float = SoftmaxRegression(epochs=3, random_state=0).fit(codes.astype(np.float32), category)
    assert as_uint8.input_scale_ == 1.0
    for name, value in as_float.params_.items():
        assert np.array_equal(as_uint8.params_[name], value), name
    assert as_uint8.score(codes, category) == as_float.score(codes, category)


def test_a_model_fitted_on_uint8_pixels_reads_float_images_as_already_scaled() -> None:
    """A model fitted on uint8 images scaled float inputs by 1/255 again: the same images
    from a ToTensor-style float array scored 0.10 instead of 0.79."""
    X, y = _pixels()
    model = MLPClassifier(hidden=(16,), epochs=5, random_state=0).fit(X, y)
    scaled = X.astype(np.float64) / 255
    assert np.array_equal(model.predict(scaled), model.predict(X))
    # the same products, in another order: float64 rounding of sums of 64 terms
    np.testing.assert_allclose(model.predict_proba(scaled), model.predict_proba(X), atol=1e-12)


def test_raw_pixel_values_as_floats_for_a_pixel_model_are_warned_about() -> None:
    from gradlab.errors import GradlabWarning

    X, y = _pixels()
    model = SoftmaxRegression(epochs=2, random_state=0).fit(X, y)
    with pytest.warns(GradlabWarning, match=(
        r"SoftmaxRegression was fitted on uint8 pixels \(read as value / 255\), but X is "
        r"float32 with values up to 255, used as they are\. If X holds pixels in 0\.\.255, "
        r"pass them as uint8 or divide them by 255\."
    )):  # fmt: skip
        model.predict(X.astype(np.float32))


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_a_uint8_array_for_a_model_fitted_on_larger_numbers_is_warned_about() -> None:
    """Fitted on a DataFrame of uint8 counts (numbers, read as they are), then given the
    same values as a uint8 array, which is read as pixels (value / 255): before, only the
    feature-names warning hinted that the predictions came from inputs 255 times smaller."""
    import warnings

    from gradlab.errors import GradlabWarning

    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 200, (300, 4)).astype(np.uint8)
    y = (X[:, 0] > 100).astype(int)
    frame = pd.DataFrame(X, columns=list("abcd"))
    model = SoftmaxRegression(epochs=2, random_state=0).fit(frame, y)
    with pytest.warns(GradlabWarning, match=(
        rf"SoftmaxRegression was fitted on uint8 numbers up to {X.max()}, used as they are, but X "
        r"is a uint8 array, read as pixels \(value / 255\)\. If X holds the same kind of "
        r"numbers, pass them as floats \(X\.astype\(float\)\) or as a DataFrame like the "
        r"one fitted on\."
    )):  # fmt: skip
        model.predict(X)
    with warnings.catch_warnings():  # the ways that read the numbers as fitted say nothing
        warnings.simplefilter("error")
        model.predict(frame)
        # fitted on pixels already scaled to 0..1: a uint8 image is the same picture
        SoftmaxRegression(epochs=2, random_state=0).fit(X / 255, y).predict(X)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_a_uint8_array_of_codes_for_a_model_fitted_on_a_uint8_table_is_warned_about(
    tmp_path: Path,
) -> None:
    """One-hot codes (0 and 1) from a DataFrame's uint8 columns are read as they are; the same
    codes as a uint8 array are read as pixels (1/255). The warning above looked only at the
    largest value (1 is no larger than a pixel), so this passed silently, also after a save
    and load."""
    from gradlab.errors import GradlabWarning
    from gradlab.models import load_classifier

    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, (300, 6)).astype(np.uint8)
    y = X[:, 0] ^ X[:, 1]
    model = MLPClassifier(hidden=(8,), epochs=2, random_state=0)
    model.fit(pd.DataFrame(X, columns=list("abcdef")), y)
    loaded = load_classifier(model.save(tmp_path / "m.safetensors"))
    for fitted in (model, loaded):
        with pytest.warns(GradlabWarning, match=(
            r"MLPClassifier was fitted on uint8 numbers up to 1, used as they are, but X is "
            r"a uint8 array, read as pixels \(value / 255\)\."
        )):  # fmt: skip
            fitted.predict(X)


@pytest.mark.parametrize("model", ["SoftmaxRegression", "LinearRegression"])
@pytest.mark.parametrize(("cell", "shown"), [("na", "<NA>"), ("text", "'hi'")])
def test_a_tables_missing_value_or_text_is_named_with_what_to_do(
    model: str, cell: str, shown: str
) -> None:
    """pandas' NA gave "float() argument must be a string or a real number, not 'NAType'",
    and a text column "could not convert string to float", naming no entry."""
    pd = pytest.importorskip("pandas")
    import gradlab.models

    column = pd.array([1, None, 3, 4], dtype="Int64") if cell == "na" else ["1", "hi", "3", "4"]
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": column})
    estimator = getattr(gradlab.models, model)(epochs=1)
    with pytest.raises(DataError) as info:
        estimator.fit(X, [0, 1, 0, 1])
    assert info.value.message.startswith(f"X must be numbers: X[1, 1] is {shown} (")
    assert info.value.hint is not None
    assert info.value.hint.startswith("Fill or drop the missing values (DataFrame.fillna")


def test_available_memory_reads_linuxs_mem_available(tmp_path: Path) -> None:
    from gradlab.models._input import available_memory

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   1000 kB\n")
    assert available_memory(str(meminfo)) == 1000 * 1024
    meminfo.write_text("MemTotal:       24000000 kB\n")  # an old kernel without the line
    assert available_memory(str(meminfo)) is None
    assert available_memory(str(tmp_path / "absent")) is None


@pytest.mark.parametrize("sized", [True, False], ids=["a length", "no length"])
def test_a_dataset_that_cannot_fit_in_memory_is_refused_before_it_fills_it(
    monkeypatch: pytest.MonkeyPatch, sized: bool
) -> None:
    """A Dataset whose __len__ claimed 10**12 items was read item by item until the
    machine ran out of memory (16.7 GB in two minutes)."""
    torch = pytest.importorskip("torch")
    from gradlab.errors import ResourceError
    from gradlab.models import _input

    monkeypatch.setattr(_input, "available_memory", lambda: 10_000_000)  # 10 MB free
    read = []

    class Claims(torch.utils.data.Dataset):  # type: ignore[misc]
        def __len__(self) -> int:
            return 10**12

        def __getitem__(self, i: int) -> tuple[Any, int]:
            read.append(i)
            return torch.zeros(784), i % 2

    class Endless(torch.utils.data.IterableDataset):  # type: ignore[misc]
        def __iter__(self) -> Any:
            i = 0
            while True:
                read.append(i)
                yield torch.zeros(784), i % 2
                i += 1

    with pytest.raises(ResourceError) as caught:
        read_torch_data(Claims() if sized else Endless(), progress=False)
    holds = (
        "holds 1,000,000,000,000 items of 3,144 bytes: reading it"
        if sized
        else "has yielded 4,096 items so far of 3,144 bytes: reading them"
    )
    assert caught.value.message.startswith(f"the Dataset {holds} takes about ")
    assert "more than the 0.01 GB of memory available." in caught.value.message
    assert len(read) == (1 if sized else 4096)  # stopped at the first check
