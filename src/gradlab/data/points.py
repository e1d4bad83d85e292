"""Point data for regression: CSV files and generated lines.

A CSV file holds one point per line: the feature columns, then the target in
the last column (``x,y`` for the tutorials' ``data.csv``).

How a CSV file is read: first its bytes are checked in blocks (a regular file,
not a device or a pipe; no larger than ``max_bytes``; no NUL byte; no line
longer than :data:`MAX_LINE_BYTES`), then ``numpy.loadtxt`` parses it. Its C
parser (NumPy >= 1.23) writes the numbers straight into one float64 array,
with no Python object per cell, and rounds each number exactly as ``float()``
does. pandas.read_csv would be as fast, but pandas is not a gradlab
dependency, and a file of numbers needs nothing it adds. ``loadtxt`` says only
that a file is bad, not why in words a user can act on; so when it refuses a
file, or reads a value that is not finite, the file is read again with the
:mod:`csv` module, a line at a time, which finds the first bad cell and names
its line and column. That pass keeps the numbers in a compact buffer, so it
runs in bounded memory too, and it also reads what ``loadtxt`` cannot (lines
of blanks only, old Mac line endings).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import math
import os
import re
import stat
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import IO, Any

import numpy as np

from gradlab.errors import DataError, MissingFileError
from gradlab.params import MAX_POINTS, Constraint, Interval, Predicate, validate

__all__ = ["Points", "load_csv", "make_line"]

#: The largest CSV file ``load_csv`` reads by default, in bytes.
MAX_CSV_BYTES = 1 << 30
#: The most numbers ``load_csv`` reads by default (about 67 million points of ``x,y``): their
#: array takes 8 bytes each, and parsing it about twice that, whatever the file's size.
MAX_CSV_VALUES = 1 << 27
#: The longest line ``load_csv`` accepts, in bytes.
MAX_LINE_BYTES = 1 << 20
#: Bytes checked at a time.
_BLOCK = 1 << 24


@dataclass(frozen=True)
class Points:
    """Regression data.

    Attributes
    ----------
    X : ndarray of shape (n_points, n_features)
        Features, float64.
    y : ndarray of shape (n_points,)
        Targets, float64.
    source : str
        Where the points came from (a file path or a description).
    header : tuple of str or None
        Column names, when the file had a header row.
    """

    X: np.ndarray
    y: np.ndarray
    source: str
    header: tuple[str, ...] | None = None

    @property
    def n_points(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


def _as_float(cell: str) -> float | None:
    """``cell`` as a float, or None. Python's ``float`` syntax in ASCII only, without the
    underscores it allows between digits: ``1_0`` and Arabic-Indic or full-width digits
    are not numbers here, as they are not to NumPy's reader of the fast pass."""
    if not _plain(cell):
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def _plain(text: str) -> bool:
    """Whether ``text`` may be a number cell: no underscore, and ASCII between the blanks
    at its ends (which may be Unicode's, as NumPy's reader takes them)."""
    return "_" not in text and text.strip().isascii()


def load_csv(
    path: str | os.PathLike[str],
    *,
    delimiter: str = ",",
    max_bytes: int = MAX_CSV_BYTES,
    max_values: int = MAX_CSV_VALUES,
) -> Points:
    """Read points from a CSV file, checking every cell.

    Parameters
    ----------
    path : path-like
        The file, UTF-8 text. Blank lines are skipped. A first row with no
        number in it is taken as a header.
    delimiter : str, default ","
        The column separator.
    max_bytes : int, default MAX_CSV_BYTES
        The largest file accepted, in bytes. A file that grows while it is read is read
        to the size it had when opened.
    max_values : int, default MAX_CSV_VALUES
        The most numbers accepted (rows times columns, counted from the separators
        before any is parsed), which bounds the memory the points take.

    Returns
    -------
    Points
        ``X`` of shape (n, columns - 1), ``y`` of shape (n,).

    Raises
    ------
    DataError
        The file is missing, unreadable, empty, not a regular file (a device
        such as /dev/zero, a pipe), larger than ``max_bytes`` or holding more than
        ``max_values`` numbers; it is not
        text (a NUL byte, or not UTF-8); a line is longer than
        :data:`MAX_LINE_BYTES`; a cell is not a finite number (the message
        names its line and column); a line has another number of columns
        than the first; fewer than 2 points or 2 columns.
    """
    validate(
        _LOAD_CSV_PARAMS,
        {"delimiter": delimiter, "max_bytes": max_bytes, "max_values": max_values},
        owner="load_csv",
    )
    p = Path(path)
    with _open_regular(p, max_bytes) as raw:
        _check_bytes(p, raw, delimiter, max_values)
        header, skip = _find_header(p, raw, delimiter)
        values = None if skip is None else _read_fast(raw, delimiter, skip, header)
        if values is None:
            header, values = _read_carefully(p, raw, delimiter)
    return Points(X=values[:, :-1].copy(), y=values[:, -1].copy(), source=str(p), header=header)


def magnitude_limit(n: int) -> float:
    """The largest value :func:`check_magnitude` accepts among ``n`` points: sums of ``n``
    squares of such values, and of their differences (up to twice as large), stay finite
    in float64."""
    return math.sqrt(float(np.finfo(np.float64).max) / (4 * max(n, 1)))


def check_magnitude(points: Points) -> Points:
    """``points``, if no value is so large that the sum of a column's squares overflows
    float64: least squares (the closed form, the Hessian, the auto rate) would then
    compute inf and nan. Raises DataError naming the file (``points.source``) otherwise."""
    path = points.source
    values = np.column_stack([points.X, points.y])
    n = values.shape[0]
    limit = magnitude_limit(n)
    big = np.abs(values)
    if values.size and float(big.max()) > limit:
        row, col = np.unravel_index(int(big.argmax()), values.shape)
        raise DataError(
            f"{path}: column {col + 1} holds {values[row, col]:g}, too large for least "
            f"squares: the sum of the squares of {n} such values overflows float64 "
            f"(keep every value within {limit:.3g}).",
            hint="Rescale that column (for example, divide it by a power of 10) and fit again.",
        )
    return points


_LOAD_CSV_PARAMS: dict[str, list[Constraint]] = {
    "delimiter": [
        Predicate(
            lambda v: isinstance(v, str) and len(v) == 1 and v not in '\r\n"',
            "one character, not a quote or a line break",
        )
    ],
    "max_bytes": [Interval(Integral, 1, None)],
    "max_values": [Interval(Integral, 1, None)],
}


class _Prefix(io.RawIOBase):
    """The first ``size`` bytes of an open file, read by position: a file that grows while
    it is read (another program appending) is read to the size it was checked at."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size, self.pos = fd, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self.size - self.pos)
        if want <= 0:
            return 0
        data = os.pread(self.fd, want, self.pos)
        view[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


@contextlib.contextmanager
def _open_regular(path: Path, max_bytes: int) -> Iterator[IO[bytes]]:
    """Open ``path`` for reading bytes after checking it is a regular file of at most ``max_bytes``.

    The file is opened without blocking (a pipe would wait for a writer) and
    checked by its descriptor, so what is checked is what is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise MissingFileError(
            f"{path}: no such file.",
            hint="Check the path (gradlab linreg without --csv, or make_line() in Python, "
            "generates points on a line instead).",
            path=path,
        ) from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a CSV file.") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}).") from None
    try:
        info = os.fstat(fd)
        _check_regular(path, info, max_bytes)
    except BaseException:
        os.close(fd)
        raise
    with io.BufferedReader(_Prefix(fd, info.st_size)) as raw:
        yield raw


def _check_regular(path: Path, info: os.stat_result, max_bytes: int) -> None:
    """Refuse a folder, anything but a regular file, and a file over ``max_bytes``."""
    if stat.S_ISDIR(info.st_mode):
        raise DataError(f"{path}: is a folder, not a CSV file.")
    if not stat.S_ISREG(info.st_mode):
        raise DataError(
            f"{path}: is {_kind(info.st_mode)}, not a regular file; a CSV file must be "
            "a file on disk.",
            hint="To read data from a program, write it to a file first.",
        )
    if info.st_size > max_bytes:
        raise DataError(
            f"{path}: is {info.st_size:,} bytes, more than the {max_bytes:,} bytes gradlab "
            "reads from a CSV file.",
            hint="Fit on a sample of the rows (for example: head -n 1000000 FILE > "
            "sample.csv), or, where the memory for the whole file is there (16 bytes per "
            "number), load it in Python with gradlab.data.points.load_csv(FILE, "
            "max_bytes=N).",
        )


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def _check_bytes(path: Path, raw: IO[bytes], delimiter: str, max_values: int) -> None:
    """Refuse a NUL byte, a line longer than :data:`MAX_LINE_BYTES`, or more than
    ``max_values`` numbers, reading block by block.

    The numbers are at most the separators and line breaks, plus one (a quoted separator
    counts too: the bound is an upper one).

    A line ends at ``\\n`` or ``\\r``; lines are numbered by ``\\n``, as the csv
    module numbers them for every usual file. The check costs a few scans of
    each block at the speed of ``memchr``: it looks, one window of
    ``MAX_LINE_BYTES`` at a time, for the last line break in the window.
    """
    raw.seek(0)
    line = 1  # the number of the line the block starts in
    carry = 0  # bytes of that line in earlier blocks
    numbers = 1
    sep = delimiter.encode()
    while block := raw.read(_BLOCK):
        # line breaks: \n, \r\n and a lone \r (as the csv module reads them)
        breaks = block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
        numbers += block.count(sep) + breaks
        if numbers > max_values:
            raise DataError(
                f"{path}: holds more than {max_values:,} numbers, the most load_csv reads "
                "(they take 8 bytes each, and twice that while they are parsed).",
                hint="Fit on a sample of the rows (for example: head -n 1000000 FILE > "
                "sample.csv), or call load_csv(..., max_values=N) from Python when the "
                "memory is there.",
            )
        nul = block.find(b"\0")
        if nul >= 0:
            where = line + block.count(b"\n", 0, nul)
            raise DataError(
                f"{path}: is not a text file (a NUL byte on line {where}).",
                hint="A CSV file must be plain UTF-8 text; a file saved as UTF-16 or in a "
                "spreadsheet's own format must be saved again as CSV (UTF-8).",
            )
        pos = 0  # where the current line continues; it began ``carry`` bytes before
        while True:
            end = pos + MAX_LINE_BYTES - carry + 1  # a break must come before this
            last = max(block.rfind(b"\n", pos, end), block.rfind(b"\r", pos, end))
            if end > len(block):  # the rest of the block is too short to hold a long line
                carry = carry + len(block) - pos if last < 0 else len(block) - last - 1
                break
            if last < 0:
                where = line + block.count(b"\n", 0, pos)
                raise DataError(
                    f"{path}, line {where}: not valid CSV "
                    f"(a line longer than {MAX_LINE_BYTES} bytes)."
                )
            pos, carry = last + 1, 0
        line += block.count(b"\n")


def _first_bad_utf8(raw: IO[bytes]) -> tuple[int, int, str]:
    """Where ``raw`` stops being UTF-8: (byte offset from the file's start, line, reason).
    A text reader's error counts from the start of its last chunk, not of the file."""
    raw.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1  # where the block starts, and its line
    while block := raw.read(_BLOCK):
        pending = len(decoder.getstate()[0])  # bytes of a character the last block began
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            at = offset - pending + exc.start
            return at, line + block.count(b"\n", 0, max(at - offset, 0)), exc.reason
        offset += len(block)
        line += block.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return offset - len(exc.object) + exc.start, line, exc.reason
    return offset, line, "not UTF-8"  # not reached: the text reader found an error


@contextlib.contextmanager
def _text(raw: IO[bytes]) -> Iterator[io.TextIOWrapper]:
    """``raw`` from its start as UTF-8 text (a byte-order mark skipped), left open afterwards."""
    raw.seek(0)
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    try:
        yield text
    finally:
        text.detach()


def _find_header(
    path: Path, raw: IO[bytes], delimiter: str
) -> tuple[tuple[str, ...] | None, int | None]:
    """Find the header row, if any, from the first rows of the file.

    Returns
    -------
    header : tuple of str or None
        The header's cells.
    skip : int or None
        The lines before the first row of numbers; None when there is no such
        row, or the first rows cannot be read (the careful pass says why).
    """
    try:
        with _text(raw) as text:
            reader = csv.reader(text, delimiter=delimiter)
            for row in reader:
                cells = [c.strip() for c in row]
                if not any(cells):
                    continue
                if any(_as_float(c) is not None for c in cells):
                    return None, 0
                header, skip = tuple(cells), reader.line_num
                return (header, skip) if _has_data_row(reader) else (header, None)
    except (csv.Error, UnicodeDecodeError):
        pass
    return None, None


def _has_data_row(reader: Iterator[list[str]]) -> bool:
    """True when a row with a non-blank cell follows."""
    return any(any(c.strip() for c in row) for row in reader)


def _read_fast(
    raw: IO[bytes], delimiter: str, skip: int, header: tuple[str, ...] | None
) -> np.ndarray | None:
    """Parse the file with ``numpy.loadtxt``; None when it refuses or the result needs a check.

    None also for a result the careful pass must look at: a value that is not
    finite, fewer than 2 rows or columns, or another width than the header's.
    """
    try:
        with _text(raw) as text:
            values = np.loadtxt(
                text,
                delimiter=delimiter,
                dtype=np.float64,
                ndmin=2,
                skiprows=skip,
                comments=None,
                quotechar='"',
                encoding=None,
            )
    except ValueError:  # a bad cell or line, or not UTF-8 (UnicodeDecodeError)
        return None
    rows, width = values.shape
    if rows < 2 or width < 2 or (header is not None and len(header) != width):
        return None
    if not np.isfinite(values).all():
        return None
    return values


def _read_carefully(
    path: Path, raw: IO[bytes], delimiter: str
) -> tuple[tuple[str, ...] | None, np.ndarray]:
    """Read the file a line at a time, checking every cell; raise at the first problem.

    Returns
    -------
    header : tuple of str or None
    values : ndarray of shape (n_points, width)
    """
    header: tuple[str, ...] | None = None
    header_line, header_row = 0, []
    width = 0
    first_line = 0  # the line of the first row of numbers
    seen_first_row = False
    values = array("d")
    n_rows = 0
    try:
        with _text(raw) as text:
            reader = csv.reader(text, delimiter=delimiter)
            for row in reader:  # line_num: the physical line a record ends on
                if first_line:  # the common case, at C speed: width finite numbers
                    try:
                        # float() ignores the blanks; _plain refuses what only it reads
                        numbers = list(map(float, row)) if _plain("".join(row)) else []
                    except ValueError:
                        numbers = []
                    # (a sum can also overflow on finite cells; the checks below pass it)
                    if len(numbers) == width and math.isfinite(sum(numbers)):
                        values.extend(numbers)
                        n_rows += 1
                        continue
                line = reader.line_num
                cells = [c.strip() for c in row]
                if not any(cells):
                    continue
                if not seen_first_row:
                    seen_first_row = True
                    if all(_as_float(c) is None for c in cells):
                        header, header_line, header_row = tuple(cells), line, row
                        continue
                if not first_line:
                    first_line = line
                    width = len(header) if header is not None else len(cells)
                    if width < 2 and header is not None:
                        comment = header[0].startswith("#")
                        raise DataError(
                            f"{path}: line {header_line} ({_shown(delimiter.join(header))}) "
                            "reads as a header of 1 column; expected at least 2 (features, "
                            "then the target in the last column).",
                            hint="A line that starts with # is not a comment in a CSV file; "
                            "delete it."
                            if comment
                            else _DECIMAL_COMMAS
                            if _decimal_commas(cells, delimiter)
                            else _separator_hint(header_row, delimiter),
                        )
                    if width < 2:
                        raise DataError(
                            f"{path}: line {line} has {width} column; expected at least 2 "
                            "(features, then the target in the last column).",
                            hint=_separator_hint(cells, delimiter),
                        )
                if len(cells) != width:
                    where = "the header" if header is not None else f"line {first_line}"
                    raise DataError(
                        f"{path}, line {line}: has {_columns(len(cells))}, expected {width} "
                        f"(as on {where})."
                    )
                for c, cell in enumerate(cells):
                    values.append(_number(path, line, c, cell))
                n_rows += 1
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: not valid CSV ({exc}).") from None
    except UnicodeDecodeError:
        at, line, reason = _first_bad_utf8(raw)
        raise DataError(
            f"{path}, line {line}: is not UTF-8 text ({reason} at byte {at:,} of the file).",
            hint="A CSV file must be UTF-8 text: save it again as CSV (UTF-8), or convert it "
            "(for example: iconv -f latin1 -t utf-8 FILE > new.csv).",
        ) from None
    if not seen_first_row:
        raise DataError(f"{path}: the file is empty; expected lines of numbers such as '1.5,2.0'.")
    if n_rows == 0:
        assert header is not None
        raise DataError(f"{path}: has a header row ({','.join(header)}) but no data below it.")
    if n_rows < 2:
        raise DataError(f"{path}: has {n_rows} point; at least 2 are needed to fit a line.")
    return header, np.frombuffer(values, dtype=np.float64).reshape(n_rows, width)


def _columns(n: int) -> str:
    return f"{n} column" if n == 1 else f"{n} columns"


#: The hint for numbers written as some spreadsheets export them: ``1,5;2,5``.
_DECIMAL_COMMAS = (
    "The numbers look written with decimal commas and separated by semicolons (1,5;2,5), "
    "as some spreadsheets export them; export the file with decimal points and commas "
    "between values (1.5,2.5)."
)


def _decimal_commas(row: list[str], delimiter: str) -> bool:
    """Whether a row split at commas looks like ``1,5;2,5``: a cell ``5;2`` among others."""
    return (
        delimiter == "," and len(row) > 1 and any(re.search(r"\d;\d", c) is not None for c in row)
    )


def _separator_hint(cells: list[str], delimiter: str) -> str | None:
    """A hint when a one-column line looks separated by something else than ``delimiter``."""
    if _decimal_commas(cells, delimiter):
        return _DECIMAL_COMMAS
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars"), (" ", "spaces")):
        if sep != delimiter and any(sep in c.strip() for c in cells):
            return (
                f"The line looks separated by {name}; gradlab reads values separated by "
                f"{'commas' if delimiter == ',' else repr(delimiter)}. Replace the {name}."
            )
    return None


def _shown(cell: str, limit: int = 40) -> str:
    """``cell`` quoted for a message, cut to ``limit`` characters (a cell may be a megabyte)."""
    return repr(cell) if len(cell) <= limit else repr(cell[:limit]) + f"... ({len(cell):,} chars)"


def _number(path: Path, line: int, column: int, cell: str) -> float:
    """``cell`` as a finite float, or a DataError naming its line and column (from 0)."""
    v = _as_float(cell)
    if v is None:
        raise DataError(
            f"{path}, line {line}, column {column + 1}: {_shown(cell)} is not a number.",
            hint=_DECIMAL_COMMAS if re.search(r"\d;\d", cell) else None,
        )
    if not math.isfinite(v):
        raise DataError(
            f"{path}, line {line}, column {column + 1}: {_shown(cell)} is not a finite number; "
            "remove the line or fill in the value."
        )
    return v


def _is_finite_range(value: object) -> bool:
    """True for a pair ``(low, high)`` of finite real numbers with ``low < high``."""
    return (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, Real) and not isinstance(v, bool) for v in value)
        and math.isfinite(value[0])
        and math.isfinite(value[1])
        and value[0] < value[1]
    )


#: What each parameter of :func:`make_line` may be.
MAKE_LINE_PARAMETERS: dict[str, Constraint | list[Constraint]] = {
    "n": Interval(Integral, 2, MAX_POINTS),
    "w": Interval(Real, None, None),
    "b": Interval(Real, None, None),
    "noise": Interval(Real, 0, None),
    "x_range": Predicate(_is_finite_range, "a pair (low, high) of finite numbers with low < high"),
    "seed": [Interval(Integral, 0, None), None],
}


def make_line(
    n: int = 100,
    *,
    w: float = 1.5,
    b: float = 4.0,
    noise: float = 1.0,
    x_range: tuple[float, float] = (0.0, 15.0),
    seed: int | None = 0,
) -> Points:
    """Generate ``y = w*x + b + eps`` with ``x ~ U(x_range)`` and ``eps ~ N(0, noise**2)``.

    This is the tutorials' set-up: 100 noisy samples of a line for ``x`` in [0, 15].

    Parameters
    ----------
    n : int, default 100
        The number of points, at least 2.
    w, b : float, default 1.5, 4.0
        Slope and intercept of the line, finite.
    noise : float, default 1.0
        Standard deviation of the noise, finite and >= 0.
    x_range : (float, float), default (0.0, 15.0)
        ``(low, high)``, finite, ``low < high``.
    seed : int or None, default 0
        Seed of the random numbers (>= 0); None for fresh ones on every call.

    Returns
    -------
    Points
        ``X`` of shape (n, 1) and ``y`` of shape (n,).

    Raises
    ------
    UsageError
        A parameter is out of range (see :data:`MAKE_LINE_PARAMETERS`); the
        message names it: ``make_line: n must be an integer >= 2; got 1.``
    """
    validate(
        MAKE_LINE_PARAMETERS,
        {"n": n, "w": w, "b": b, "noise": noise, "x_range": x_range, "seed": seed},
        "make_line",
    )
    lo, hi = x_range
    noise = abs(noise)  # -0.0 is >= 0, but NumPy refuses a scale whose sign bit is set
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, size=n)
    y = w * x + b + rng.normal(0.0, noise, size=n)
    desc = f"generated: y = {w:g}*x + {b:g} + N(0, {noise:g}^2), x ~ U[{lo:g}, {hi:g}], n={n}"
    return Points(X=x[:, None], y=y, source=desc)
