"""CSV loading: every malformed input gets a message naming the file, line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradlab.data.points import load_csv, make_line
from gradlab.errors import DataError, UsageError


def write(tmp_path: Path, text: str, name: str = "p.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_tutorial_csv_has_100_points(data_csv: Path) -> None:
    pts = load_csv(data_csv)
    assert pts.X.shape == (100, 1)
    assert pts.y.shape == (100,)
    assert pts.X[0, 0] == pytest.approx(32.502345269453031)


def test_header_row_is_recognised_and_skipped(tmp_path: Path) -> None:
    pts = load_csv(write(tmp_path, "x,y\n1,2\n3,4\n"))
    assert pts.header == ("x", "y")
    np.testing.assert_array_equal(pts.y, [2.0, 4.0])


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    pts = load_csv(write(tmp_path, "1,2\n\n3,4\n\n"))
    assert pts.n_points == 2


def test_several_feature_columns_then_target(tmp_path: Path) -> None:
    pts = load_csv(write(tmp_path, "1,2,3\n4,5,6\n"))
    assert pts.X.shape == (2, 2)
    np.testing.assert_array_equal(pts.y, [3.0, 6.0])


def test_non_numeric_cell_names_line_and_column(tmp_path: Path) -> None:
    p = write(tmp_path, "1,2\n3,abc\n")
    with pytest.raises(DataError, match=r"p\.csv, line 2, column 2: 'abc' is not a number"):
        load_csv(p)


def test_wrong_number_of_columns_names_the_line(tmp_path: Path) -> None:
    p = write(tmp_path, "1,2\n3,4\n5,6,7\n")
    with pytest.raises(DataError, match=r"line 3: has 3 columns, expected 2 \(as on line 1\)"):
        load_csv(p)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="the file is empty"):
        load_csv(write(tmp_path, "\n\n"))


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_values_are_refused(tmp_path: Path, bad: str) -> None:
    p = write(tmp_path, f"1,2\n{bad},4\n")
    with pytest.raises(DataError, match=rf"line 2, column 1: '{bad}' is not a finite number"):
        load_csv(p)


def test_fewer_than_two_points_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has 1 point; at least 2 are needed"):
        load_csv(write(tmp_path, "1,2\n"))


def test_one_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has 1 column; expected at least 2"):
        load_csv(write(tmp_path, "1\n2\n"))


def test_header_without_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"has a header row .* but no data below it"):
        load_csv(write(tmp_path, "x,y\n"))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        load_csv(tmp_path / "nope.csv")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a folder"):
        load_csv(tmp_path)


def test_binary_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "b.csv"
    p.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(DataError, match="is not a text file"):
        load_csv(p)


def test_make_line_is_seeded_and_in_range() -> None:
    a, b = make_line(50, seed=3), make_line(50, seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.min() >= 0
    assert a.X.max() <= 15
    assert make_line(50, seed=4).X[0, 0] != a.X[0, 0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 1}, "make_line: n must be an integer >= 2; got 1."),
        ({"n": 10.0}, "make_line: n must be an integer >= 2; got 10.0."),
        ({"noise": -1.0}, "make_line: noise must be a number >= 0; got -1.0."),
        ({"noise": float("inf")}, "make_line: noise must be a number >= 0; got inf."),
        (
            {"x_range": (3.0, 1.0)},
            "make_line: x_range must be a pair (low, high) of finite numbers with low < high; "
            "got (3.0, 1.0).",
        ),
        (
            {"x_range": (0.0, float("nan"))},
            "make_line: x_range must be a pair (low, high) of finite numbers with low < high; "
            "got (0.0, nan).",
        ),
        ({"w": float("nan")}, "make_line: w must be a number (finite); got nan."),
        ({"b": "4"}, "make_line: b must be a number (finite); got '4'."),
        ({"seed": -1}, "make_line: seed must be an integer >= 0 or None; got -1."),
    ],
)
def test_make_line_rejects_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        make_line(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_make_line_takes_numpy_numbers_and_no_seed() -> None:
    pts = make_line(np.int64(5), w=np.float32(2.0), x_range=(np.float64(1.0), 2), seed=None)
    assert pts.X.shape == (5, 1)
    assert ((pts.X >= 1) & (pts.X <= 2)).all()
