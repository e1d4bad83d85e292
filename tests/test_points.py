"""CSV loading: every malformed input gets a message naming the file, line and column."""

from __future__ import annotations

import errno
import gzip
import io
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradlab.data import points
from gradlab.data.points import MAX_LINE_BYTES, load_csv, make_line
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


def test_missing_file_is_named_and_caught_as_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: no such file") as caught:
        load_csv(tmp_path / "nope.csv")
    assert isinstance(caught.value, FileNotFoundError)
    assert caught.value.filename == str(tmp_path / "nope.csv")
    assert caught.value.errno == errno.ENOENT


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
        ({"n": 1}, "make_line: n must be an integer in [2, 10000000]; got 1."),
        ({"n": 10.0}, "make_line: n must be an integer in [2, 10000000]; got 10.0."),
        ({"n": 10**9}, "make_line: n must be an integer in [2, 10000000]; got 1000000000."),
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


def test_make_line_takes_a_noise_of_minus_zero_as_zero() -> None:
    """-0.0 passes the check (it is >= 0); NumPy's normal refuses it ("scale < 0")."""
    noisy = make_line(5, noise=-0.0, seed=0)
    np.testing.assert_array_equal(noisy.y, make_line(5, noise=0.0, seed=0).y)
    assert "N(0, 0^2)" in noisy.source


def test_make_line_takes_numpy_numbers_and_no_seed() -> None:
    pts = make_line(np.int64(5), w=np.float32(2.0), x_range=(np.float64(1.0), 2), seed=None)
    assert pts.X.shape == (5, 1)
    assert ((pts.X >= 1) & (pts.X <= 2)).all()


# ------------------------------------------------------------------ hostile files


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_device_is_refused_without_being_read() -> None:
    with pytest.raises(DataError) as caught:
        load_csv("/dev/zero")
    assert str(caught.value) == (
        "/dev/zero: is a device, not a regular file; a CSV file must be a file on disk.\n"
        "To read data from a program, write it to a file first."
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "points.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match=r"points\.csv: is a pipe \(FIFO\), not a regular file"):
        load_csv(fifo)


def test_a_file_over_the_size_cap_says_what_to_do(tmp_path: Path) -> None:
    p = write(tmp_path, "1,2\n3,4\n5,6\n")
    with pytest.raises(DataError) as caught:
        load_csv(p, max_bytes=11)
    assert str(caught.value) == (
        f"{p}: is 12 bytes, more than the 11 bytes gradlab reads from a CSV file.\n"
        "Fit on a sample of the rows (for example: head -n 1000000 FILE > sample.csv), or, "
        "where the memory for the whole file is there (16 bytes per number), load it in "
        "Python with gradlab.data.points.load_csv(FILE, max_bytes=N)."
    )
    assert load_csv(p, max_bytes=12).n_points == 3


def refusal(path: Path, content: bytes) -> str:
    """The message of the DataError ``load_csv`` raises for a file of ``content``."""
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        load_csv(path)
    return str(caught.value)


@pytest.mark.parametrize(
    ("content", "line"), [(b"1,2\n3,\x004\n", 2), (b"\x001,2\n3,4\n", 1), (b"1,2\n\n\n5,6\x00", 4)]
)
def test_a_nul_byte_is_refused_naming_its_line(tmp_path: Path, content: bytes, line: int) -> None:
    p = tmp_path / "n.csv"
    assert refusal(p, content) == (
        f"{p}: is not a text file (a NUL byte on line {line}).\n"
        "A CSV file must be plain UTF-8 text; a file saved as UTF-16 or in a spreadsheet's own "
        "format must be saved again as CSV (UTF-8)."
    )


@pytest.mark.parametrize(
    ("content", "line", "at", "reason"),
    [
        (b"x,y\n" + b"1,2\n" * 50_000 + b"3,\xff\n", 50_002, 200_006, "invalid start byte"),
        (b"\xef\xbb\xbfx,y\n1,2\n3,\xc3", 3, 13, "unexpected end of data"),
        (b"caf\xe9,y\n1,2\n3,4\n", 1, 3, "invalid continuation byte"),
    ],
    ids=["deep-in-the-file", "cut-in-a-character-at-the-end", "latin-1-header"],
)
def test_a_byte_that_is_not_utf8_is_named_by_its_line_and_offset_in_the_file(
    tmp_path: Path, content: bytes, line: int, at: int, reason: str
) -> None:
    """The text reader's offset counted from its last 8 KiB chunk: a byte at 200,006 was
    reported "at byte 3398"."""
    p = tmp_path / "t.csv"
    assert content[at] >= 0x80
    assert refusal(p, content) == (
        f"{p}, line {line}: is not UTF-8 text ({reason} at byte {at:,} of the file).\n"
        "A CSV file must be UTF-8 text: save it again as CSV (UTF-8), or convert it (for "
        "example: iconv -f latin1 -t utf-8 FILE > new.csv)."
    )


@pytest.mark.parametrize("cell", ["1_0", "\u0661\u0662", "\uff11\uff12"])
@pytest.mark.parametrize("row", [2, 3], ids=["first-row", "a-later-row"])
def test_a_cell_only_pythons_float_reads_is_not_a_number(
    tmp_path: Path, cell: str, row: int
) -> None:
    """float() takes underscores between digits and other scripts' digits (1_0 was read
    as 10); NumPy's reader, the fast pass, does not: the two passes agree."""
    lines = ["x,y", "4,5", "6,7", "8,9"]
    lines[row - 1] = f"{cell},5"
    p = tmp_path / "u.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_csv(p)
    assert str(caught.value) == f"{p}, line {row}, column 1: {cell!r} is not a number."


@pytest.mark.parametrize("row", [2, 3], ids=["first-row", "a-later-row"])
def test_a_number_between_unicode_blanks_is_read_by_both_passes(tmp_path: Path, row: int) -> None:
    lines = ["x,y", "4,5", "6,7", "8,nan"]  # nan: the careful pass reads the file
    lines[row - 1] = "\u00a012\u2003,5"
    p = tmp_path / "b.csv"
    p.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    assert load_csv(p).X[row - 2, 0] == 12.0
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 4, column 2: 'nan' is not a finite number"):
        load_csv(p)


def test_a_header_may_hold_underscores_and_other_scripts(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_text("x_1,température\n1,2\n3,4\n", encoding="utf-8")
    points = load_csv(p)
    assert points.header == ("x_1", "température")
    assert points.n_points == 2


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_the_number_cap_counts_every_kind_of_line_break(tmp_path: Path, eol: str) -> None:
    """Lines ended by a lone \\r were not counted: such a file held twice the cap."""
    p = tmp_path / "many.csv"
    p.write_bytes(("1,2" + eol).encode() * 1000)
    assert load_csv(p, max_values=2001).n_points == 1000
    with pytest.raises(DataError, match="holds more than 1,999 numbers"):
        load_csv(p, max_values=1999)


def test_a_gzipped_csv_is_not_decompressed(tmp_path: Path) -> None:
    p = tmp_path / "points.csv.gz"
    p.write_bytes(gzip.compress(b"1,2\n3,4\n" * 1000, mtime=0))
    with pytest.raises(DataError, match=r"points\.csv\.gz: is not a text file"):
        load_csv(p)


def test_an_absurdly_long_line_is_refused_before_parsing(tmp_path: Path) -> None:
    p = write(tmp_path, "1,2\n3,4\n5," + "6" * MAX_LINE_BYTES + "\n7,8\n")
    with pytest.raises(DataError) as caught:
        load_csv(p)
    assert str(caught.value) == (
        f"{p}, line 3: not valid CSV (a line longer than {MAX_LINE_BYTES} bytes)."
    )


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 40), min_size=1, max_size=30),
    ending=st.sampled_from(["\n", "\r\n"]),
    block=st.integers(1, 50),
)
def test_the_line_length_check_is_exact_across_blocks(
    lengths: list[int], ending: str, block: int
) -> None:
    limit = 20
    text = ending.join("7" * n for n in lengths) + ending
    too_long = [i + 1 for i, n in enumerate(lengths) if n > limit]
    with (
        mock.patch.object(points, "_BLOCK", block),
        mock.patch.object(points, "MAX_LINE_BYTES", limit),
    ):
        if too_long:
            with pytest.raises(DataError, match=rf"^f\.csv, line {too_long[0]}: not valid CSV"):
                points._check_bytes(Path("f.csv"), io.BytesIO(text.encode()), ",", 1 << 30)
        else:
            points._check_bytes(Path("f.csv"), io.BytesIO(text.encode()), ",", 1 << 30)


# ------------------------------------------------------------------ fast reader, careful reader


finite = st.floats(-1e300, 1e300)  # "{:.3e}" of a float near the top would round to inf


def careful(p: Path) -> tuple[tuple[str, ...] | None, np.ndarray]:
    with open(p, "rb") as raw:
        return points._read_carefully(p, raw, ",")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(finite, min_size=2, max_size=2), min_size=2, max_size=30),
    fmt=st.sampled_from(["{!r}", "{:.17g}", "{:.3e}", " {!r} "]),
    header=st.booleans(),
    blank_lines=st.booleans(),
    crlf=st.booleans(),
)
def test_the_fast_reader_gives_the_careful_readers_numbers_bit_for_bit(
    tmp_path: Path,
    rows: list[list[float]],
    fmt: str,
    header: bool,
    blank_lines: bool,
    crlf: bool,
) -> None:
    lines = [",".join(fmt.format(v) for v in row) for row in rows]
    if blank_lines:
        lines = [lines[0], "", *lines[1:], ""]
    if header:
        lines = ["x,y", *lines]
    eol = "\r\n" if crlf else "\n"
    p = tmp_path / "h.csv"
    p.write_text(eol.join(lines) + eol, newline="")
    with mock.patch.object(points, "_read_carefully", side_effect=AssertionError("slow path")):
        fast = load_csv(p)
    slow_header, slow = careful(p)
    assert fast.header == slow_header == (("x", "y") if header else None)
    assert fast.X.tobytes() == slow[:, :-1].tobytes()
    assert fast.y.tobytes() == slow[:, -1].tobytes()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(finite, min_size=3, max_size=3), min_size=2, max_size=20),
    where=st.integers(0, 10**6),
    column=st.integers(0, 2),
    problem=st.sampled_from(["text", "nan", "inf", "-inf", "empty", "width", "blank", "spaces"]),
)
def test_the_careful_reader_names_the_one_bad_cell_wherever_it_is(
    tmp_path: Path, rows: list[list[float]], where: int, column: int, problem: str
) -> None:
    """The careful reader takes a row of good numbers in one step and looks at its cells
    one by one only when that fails: a problem anywhere is still found, and named by its
    line and column, and a file whose only oddity is a blank line reads whole."""
    lines = [",".join(repr(v) for v in row) for row in rows]
    at = 1 + where % (len(lines) - 1)  # after the first row, which sets the width
    cells = lines[at].split(",")
    if problem in ("blank", "spaces"):
        lines.insert(at, "" if problem == "blank" else "   ")
    elif problem == "width":
        lines[at] += ",1.5"
    else:
        cells[column] = {"text": "abc", "empty": ""}.get(problem, problem)
        lines[at] = ",".join(cells)
    p = tmp_path / "one-bad.csv"
    p.write_text("\n".join(lines) + "\n")
    line = at + 1
    if problem in ("blank", "spaces"):
        _, values = careful(p)
        assert values.tobytes() == np.array(rows).tobytes()
        return
    with pytest.raises(DataError) as caught:
        careful(p)
    message = caught.value.message
    if problem == "width":
        assert message == f"{p}, line {line}: has 4 columns, expected 3 (as on line 1)."
    elif problem in ("text", "empty"):
        shown = "'abc'" if problem == "text" else "''"
        assert message == f"{p}, line {line}, column {column + 1}: {shown} is not a number."
    else:
        assert message.startswith(
            f"{p}, line {line}, column {column + 1}: '{problem}' is not a finite number;"
        )


def test_the_tutorial_file_is_read_by_the_fast_reader_exactly(data_csv: Path) -> None:
    with mock.patch.object(points, "_read_carefully", side_effect=AssertionError("slow path")):
        fast = load_csv(data_csv)
    _, slow = careful(data_csv)
    assert fast.X.tobytes() == slow[:, :-1].tobytes()
    assert fast.y.tobytes() == slow[:, -1].tobytes()


@pytest.mark.parametrize(
    "text",
    [
        "1,2\r3,4\r",  # old Mac line endings
        "1,2\n   \n3,4\n",  # a line of blanks
        "1,2\n,\n3,4\n",  # a row of empty cells
        '"1","2"\n"3\n",4\n',  # a quoted cell with a line break in it
        "\ufeffx,y\n1,2\n3,4\n",  # a byte-order mark
    ],
)
def test_what_the_fast_reader_refuses_but_is_valid_is_read_by_the_careful_one(
    tmp_path: Path, text: str
) -> None:
    p = tmp_path / "odd.csv"
    p.write_text(text, newline="")
    pts = load_csv(p)
    np.testing.assert_array_equal(pts.X, [[1.0], [3.0]])
    np.testing.assert_array_equal(pts.y, [2.0, 4.0])


def test_a_header_of_another_width_than_the_data_is_named(tmp_path: Path) -> None:
    p = write(tmp_path, "x,y,z\n1,2\n3,4\n")
    with pytest.raises(DataError, match=r"line 2: has 2 columns, expected 3 \(as on the header\)"):
        load_csv(p)


def test_a_large_file_is_read_in_memory_proportional_to_its_numbers(tmp_path: Path) -> None:
    """RSS in a fresh process: the careful pass of old kept a Python object per cell."""
    n = 500_000
    rng = np.random.default_rng(0)
    p = tmp_path / "big.csv"
    p.write_text("".join(f"{x:.6f},{y:.6f}\n" for x, y in rng.uniform(0, 100, (n, 2))))
    probe = (
        "import resource, sys\n"
        "from gradlab.data.points import load_csv\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "pts = load_csv(sys.argv[1])\n"
        "assert pts.n_points == int(sys.argv[2])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [sys.executable, "-c", probe, str(p), str(n)], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
    numbers = n * 2 * 8  # 8 MB of float64
    # the array, X and y (twice the numbers), loadtxt's growing buffer and a block of bytes
    assert int(run.stdout) * 1024 < 8 * numbers


@pytest.mark.parametrize(
    ("text", "name"),
    [("1;2\n2;3\n", "semicolons"), ("1\t2\n2\t3\n", "tabs"), ("1 2\n2 3\n", "spaces")],
)
def test_a_file_separated_otherwise_than_by_commas_is_said_to_be(
    tmp_path: Path, text: str, name: str
) -> None:
    """Its first line read as a header and the next as one column: the message alone did
    not say why."""
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        load_csv(path)
    assert info.value.message.endswith(
        "reads as a header of 1 column; expected at least 2 (features, then the target in "
        "the last column)."
    )
    assert info.value.hint == (
        f"The line looks separated by {name}; gradlab reads values separated by commas. "
        f"Replace the {name}."
    )


def test_a_huge_bad_cell_is_shown_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("1,2\n3," + "9" * 400 + "x\n")
    with pytest.raises(DataError) as info:
        load_csv(path)
    assert info.value.message.endswith(
        f"line 2, column 2: '{'9' * 40}'... (401 chars) is not a number."
    )


def test_one_column_too_few_is_said_in_the_singular(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("1,2\n3\n")
    with pytest.raises(DataError, match=r"line 2: has 1 column, expected 2 \(as on line 1\)"):
        load_csv(path)


def test_a_file_of_more_numbers_than_the_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    """Short lines: a 100 MB file of '1,2' held 25 million points and 823 MB; at the byte
    cap that would be 8 GB. The numbers are counted from the separators first."""
    p = tmp_path / "many.csv"
    p.write_text("1,2\n" * 1000)
    assert load_csv(p, max_values=2001).n_points == 1000  # 2000 numbers, bounded by 2001
    with pytest.raises(DataError) as info:
        load_csv(p, max_values=1999)
    assert info.value.message == (
        f"{p}: holds more than 1,999 numbers, the most load_csv reads (they take 8 bytes each, "
        "and twice that while they are parsed)."
    )
    assert "max_values=N" in str(info.value.hint)


def test_a_file_that_grows_while_it_is_read_is_read_to_its_size_when_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The byte cap was checked once, from fstat; another program appending afterwards
    had the rest read without limit."""
    p = tmp_path / "growing.csv"
    p.write_text("1,2\n2,3\n3,5\n")
    checked = points._check_regular

    def check_then_grow(path: Path, info: os.stat_result, max_bytes: int) -> None:
        checked(path, info, max_bytes)
        with open(p, "a") as f:
            f.write("4,7\n" * 1000)

    monkeypatch.setattr(points, "_check_regular", check_then_grow)
    assert load_csv(p, max_bytes=100).n_points == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delimiter": ";;"}, "delimiter"),
        ({"delimiter": "\n"}, "delimiter"),
        ({"max_bytes": "10"}, "max_bytes"),
        ({"max_bytes": -1}, "max_bytes"),
        ({"max_values": 0}, "max_values"),
    ],
)
def test_load_csv_names_a_bad_parameter(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    p = tmp_path / "ok.csv"
    p.write_text("1,2\n2,3\n")
    with pytest.raises(UsageError, match=f"load_csv: {message} must be"):
        load_csv(p, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content", "message", "hint"),
    [
        (
            "# comment\n1,2\n2,3\n",
            "line 1 ('# comment') reads as a header of 1 column; expected at least 2",
            "A line that starts with # is not a comment in a CSV file; delete it.",
        ),
        (
            "x;y\n1,5;2,5\n2,5;3,5\n",
            "line 1 ('x;y') reads as a header of 1 column; expected at least 2",
            "The numbers look written with decimal commas and separated by semicolons",
        ),
        (
            "1,5;2,5\n2,5;3,5\n",
            "line 1, column 2: '5;2' is not a number.",
            "The numbers look written with decimal commas and separated by semicolons",
        ),
        (
            "x;y\n1;2\n2;3\n",
            "line 1 ('x;y') reads as a header of 1 column; expected at least 2",
            "The line looks separated by semicolons; gradlab reads values separated by commas.",
        ),
    ],
    ids=["comment", "decimal commas, header", "decimal commas", "semicolons"],
)
def test_a_one_column_first_line_is_named_with_what_to_do(
    tmp_path: Path, content: str, message: str, hint: str
) -> None:
    """A comment or a header of one cell read as the width: the message said 'line 2 has
    1 column' of a line of 2, and decimal commas were told to replace the semicolons."""
    p = write(tmp_path, content)
    with pytest.raises(DataError) as info:
        load_csv(p)
    assert message in info.value.message
    assert str(info.value.hint).startswith(hint)
