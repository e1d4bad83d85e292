"""The learner's data as it comes: arrays, lists, pandas, tensors, Datasets, DataLoaders."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from gradlab.errors import DataError
from gradlab.models import _input
from gradlab.models._input import as_arrays, as_float_rows, feature_names, read_torch_data, to_numpy


def blobs(n: int = 120, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, d)) + 3 * np.eye(3, d)[y]
    return X.astype(np.float32), y


def test_lists_and_pandas_become_arrays_with_feature_names() -> None:
    pd = pytest.importorskip("pandas")
    X, y = blobs()
    got = as_arrays(X.tolist(), y.tolist())
    np.testing.assert_array_equal(got.X, X)
    np.testing.assert_array_equal(got.y, y)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    got = as_arrays(df, pd.Series(y))
    np.testing.assert_array_equal(got.X, X)
    assert list(got.feature_names) == [f"f{i}" for i in range(6)]
    assert feature_names(df.set_axis(range(6), axis=1)) is None


def test_rows_of_different_lengths_are_named() -> None:
    with pytest.raises(DataError, match="X cannot form one array"):
        to_numpy([[1.0, 2.0], [3.0]])


def test_objects_that_are_not_numbers_are_both_data_and_type_errors() -> None:
    bad = np.array([[1.0, {"a": 1}]], dtype=object)
    with pytest.raises(DataError, match=r"X must be numbers: float\(\) argument must be"):
        as_float_rows(bad)
    with pytest.raises(TypeError):
        as_float_rows(bad)


def test_sparse_and_complex_inputs_are_refused_by_name() -> None:
    sparse = pytest.importorskip("scipy.sparse")
    X, _ = blobs()
    with pytest.raises(DataError, match=r"X is a sparse matrix \(csr_matrix\); sparse input"):
        to_numpy(sparse.csr_matrix(X))
    with pytest.raises(DataError, match="Complex data not supported: X has dtype complex"):
        to_numpy(X + 1j)


def test_tensors_are_detached_and_read() -> None:
    torch = pytest.importorskip("torch")
    X, _ = blobs(4)
    t = torch.tensor(X, requires_grad=True)
    np.testing.assert_array_equal(to_numpy(t), X)
    assert to_numpy(torch.tensor(X, dtype=torch.bfloat16)).dtype == np.float32
    np.testing.assert_array_equal(to_numpy([torch.tensor(r, requires_grad=True) for r in X]), X)


def test_a_tensor_dataset_and_a_dataloader_bring_their_labels() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    X, y = blobs()
    ds = TensorDataset(torch.tensor(X), torch.tensor(y))
    for data in (ds, DataLoader(ds, batch_size=7)):
        got = as_arrays(data)
        np.testing.assert_array_equal(got.X, X)
        np.testing.assert_array_equal(got.y, y)
    with pytest.raises(DataError, match=r"X is a TensorDataset, which yields .* y must be None"):
        as_arrays(ds, y)


def test_a_dataset_of_something_else_shows_what_one_item_looked_like() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import Dataset

    class Dicts(Dataset):  # type: ignore[misc, type-arg]
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> Any:
            return {"image": torch.zeros(2), "label": 0}

    with pytest.raises(DataError, match="item 0 of the Dataset is a dict with keys 'image'"):
        read_torch_data(Dicts())


def test_reading_a_slow_dataset_shows_a_progress_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import Dataset

    class Items(Dataset):  # type: ignore[misc, type-arg]
        def __len__(self) -> int:
            return 90

        def __getitem__(self, i: int) -> Any:
            return torch.zeros(1, 2, 2), i % 3

    monkeypatch.setattr(_input, "PROGRESS_DELAY", 0.0)
    out = io.StringIO()
    X, y = read_torch_data(Items(), progress=out)
    assert X.shape == (90, 1, 2, 2)
    np.testing.assert_array_equal(y, np.arange(90) % 3)
    assert "reading the Dataset: 90 items in " in out.getvalue()


def test_without_torch_imported_nothing_imports_it() -> None:
    code = (
        "import sys\n"
        "from gradlab.models._input import as_arrays\n"
        "as_arrays([[1.0, 2.0]], [0])\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
