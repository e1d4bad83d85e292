"""``gradlab.bench.real_data``: the npm Fashion-MNIST conversion and the accuracy-target run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gradlab.bench import real_data
from gradlab.data.idx import read_idx, write_idx
from gradlab.errors import DataError


def _npm_package(root: Path, per_class: int, *, separators: bool = True) -> Path:
    """A stand-in for the npm package: one JSON per class, pixel value = class * 10 + index."""
    clothes = root / "src" / "clothes"
    clothes.mkdir(parents=True)
    for label in range(10):
        rows: list[list[int]] = [[label * 10 + i] * 784 for i in range(per_class)]
        if separators and label == 0:
            rows.insert(2, [])  # the real class-0 file has empty entries
            rows.append([])
        (clothes / f"{label}.json").write_text(json.dumps({"data": rows}))
    return root


def test_fashion_from_npm_takes_the_first_images_of_each_class_as_test(tmp_path: Path) -> None:
    pkg = _npm_package(tmp_path / "package", per_class=5)
    stats = real_data.fashion_from_npm(pkg, tmp_path / "idx", test_per_class=2)
    X_test = read_idx(tmp_path / "idx" / "t10k-images-idx3-ubyte")
    y_test = read_idx(tmp_path / "idx" / "t10k-labels-idx1-ubyte")
    X_train = read_idx(tmp_path / "idx" / "train-images-idx3-ubyte")
    y_train = read_idx(tmp_path / "idx" / "train-labels-idx1-ubyte")
    assert X_test.shape == (20, 28, 28)
    assert X_train.shape == (30, 28, 28)
    assert list(y_test[:4]) == [0, 0, 1, 1]
    assert list(X_test[:2, 0, 0]) == [0, 1]  # the empty separator is skipped
    assert list(X_train[:3, 0, 0]) == [2, 3, 4]
    assert np.bincount(y_train).tolist() == [3] * 10
    assert stats["test"][0] == pytest.approx(X_test.mean() / 255)


def test_fashion_from_npm_names_a_missing_class_file(tmp_path: Path) -> None:
    pkg = _npm_package(tmp_path / "package", per_class=3)
    (pkg / "src" / "clothes" / "7.json").unlink()
    with pytest.raises(DataError, match=r"7\.json: missing; expected the unpacked npm"):
        real_data.fashion_from_npm(pkg, tmp_path / "idx", test_per_class=1)


def test_fashion_from_npm_refuses_a_class_with_too_few_images(tmp_path: Path) -> None:
    pkg = _npm_package(tmp_path / "package", per_class=3, separators=False)
    with pytest.raises(DataError, match=r"0\.json: 3 images of 28x28, need more than 1000"):
        real_data.fashion_from_npm(pkg, tmp_path / "idx")


def _idx_folder(folder: Path, seed: int) -> Path:
    """Four small IDX files of a learnable 10-class problem."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 256, (10, 28, 28))
    folder.mkdir()
    for prefix, n in (("train", 300), ("t10k", 100)):
        y = np.arange(n) % 10
        X = np.clip(protos[y] + rng.normal(0, 30, (n, 28, 28)), 0, 255).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", X)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8))
    return folder


def test_real_data_run_meets_the_targets_on_an_easy_problem_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mnist = _idx_folder(tmp_path / "mnist", 0)
    fashion = _idx_folder(tmp_path / "fashion", 1)
    code = real_data.main(
        ["--mnist", str(mnist), "--fashion", str(fashion), "--engines", "numpy", "--epochs", "5",
         "--json"]
    )  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert [(r["dataset"], r["model"], r["epochs"]) for r in rows] == [
        ("fashion-mnist", "softmax", 5),
        ("mnist", "mlp", 5),
    ]
    assert all(r["met"] for r in rows)
    assert code == 0


def test_real_data_run_reports_a_missed_target_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fashion = _idx_folder(tmp_path / "fashion", 1)
    # two epochs of 300 images are two SGD steps each: the train loss is still above 0.5
    code = real_data.main(["--fashion", str(fashion), "--engines", "numpy", "--epochs", "2"])
    table = capsys.readouterr().out
    assert code == 1
    row = table.splitlines()[-1]
    assert row.startswith("| fashion-mnist | softmax | numpy | 0 |")
    assert row.endswith("| train loss < 0.5, test accuracy >= 0.83 | NO |")


def test_real_data_run_without_data_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        real_data.main([])
    assert exc.value.code == 2
    assert "give --mnist DIR and/or --fashion DIR" in capsys.readouterr().err
