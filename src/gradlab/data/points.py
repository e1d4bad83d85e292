"""Point data for regression: CSV files and generated lines.

A CSV file holds one point per line: the feature columns, then the target in
the last column (``x,y`` for the tutorials' ``data.csv``).
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from gradlab.errors import DataError
from gradlab.params import Constraint, Interval, Predicate, validate


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
    try:
        return float(cell)
    except ValueError:
        return None


def load_csv(path: str | os.PathLike[str], *, delimiter: str = ",") -> Points:
    """Read points from a CSV file, checking every cell.

    Parameters
    ----------
    path : path-like
        The file. Blank lines are skipped. A first row with no number in it is
        taken as a header.
    delimiter : str, default ","
        The column separator.

    Returns
    -------
    Points
        ``X`` of shape (n, columns - 1), ``y`` of shape (n,).

    Raises
    ------
    DataError
        The file is missing, unreadable or empty; a cell is not a finite
        number (the message names its line and column); a line has another
        number of columns than the first; fewer than 2 points or 2 columns.
    """
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            rows = []
            for row in reader:  # line_num: the physical line a record ends on
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise DataError(f"{p}, line {reader.line_num}: not valid CSV ({exc}).") from None
    except FileNotFoundError:
        raise DataError(
            f"{p}: no such file.", hint="Check the path, or leave out --csv to use generated data."
        ) from None
    except IsADirectoryError:
        raise DataError(f"{p}: is a folder, not a CSV file.") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: is not a text file ({exc.reason} at byte {exc.start}).") from None
    except OSError as exc:
        raise DataError(f"{p}: cannot be read ({exc.strerror}).") from None

    rows = [(i, [c.strip() for c in row]) for i, row in rows if any(c.strip() for c in row)]
    if not rows:
        raise DataError(f"{p}: the file is empty; expected lines of numbers such as '1.5,2.0'.")

    header: tuple[str, ...] | None = None
    first = rows[0][1]
    if all(_as_float(c) is None for c in first):
        header = tuple(first)
        rows = rows[1:]
        if not rows:
            raise DataError(f"{p}: has a header row ({','.join(first)}) but no data below it.")

    width = len(header) if header is not None else len(rows[0][1])
    if width < 2:
        raise DataError(
            f"{p}: line {rows[0][0]} has {width} column; expected at least 2 "
            "(features, then the target in the last column)."
        )
    values = np.empty((len(rows), width), dtype=np.float64)
    for r, (line, row) in enumerate(rows):
        if len(row) != width:
            where = "the header" if header is not None else f"line {rows[0][0]}"
            raise DataError(
                f"{p}, line {line}: has {len(row)} columns, expected {width} (as on {where})."
            )
        for c, cell in enumerate(row):
            v = _as_float(cell)
            if v is None:
                raise DataError(f"{p}, line {line}, column {c + 1}: {cell!r} is not a number.")
            if not math.isfinite(v):
                raise DataError(
                    f"{p}, line {line}, column {c + 1}: {cell!r} is not a finite number; "
                    "remove the line or fill in the value."
                )
            values[r, c] = v
    if len(rows) < 2:
        raise DataError(f"{p}: has {len(rows)} point; at least 2 are needed to fit a line.")
    return Points(X=values[:, :-1].copy(), y=values[:, -1].copy(), source=str(p), header=header)


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
    "n": Interval(Integral, 2, None),
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
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, size=n)
    y = w * x + b + rng.normal(0.0, noise, size=n)
    desc = f"generated: y = {w:g}*x + {b:g} + N(0, {noise:g}^2), x ~ U[{lo:g}, {hi:g}], n={n}"
    return Points(X=x[:, None], y=y, source=desc)
