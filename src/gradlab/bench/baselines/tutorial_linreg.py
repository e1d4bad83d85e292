"""The linear-regression tutorial's per-point gradient-descent loop, reproduced faithfully.

The linear-regression tutorials fit ``y = w * x + b`` to ``data.csv`` by full-batch
gradient descent on the mean squared error, written as Python loops over the points of a
NumPy array.  The functions below keep their names, their argument order, their per-element
loops and the exact order of their floating-point operations, so that they reproduce the
published digits::

    Starting gradient descent at b = 0, w = 0, error = 5565.107834483211
    After 1000 iterations b = 0.08893651993741346, w = 1.4777440851894448,
    error = 112.61481011613473

They also keep the tutorial's cost profile (``points[i, 0]`` indexing yields NumPy scalars,
and the runner re-wraps ``np.array(points)`` on every iteration), because they serve as the
"tutorial" row of the benchmarks.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt


def compute_error_for_line_given_points(b: float, w: float, points: npt.NDArray[Any]) -> float:
    """Mean squared error of the line ``w * x + b`` over ``points``.

    Parameters
    ----------
    b, w : float
        Intercept and slope.
    points : ndarray of shape (n, 2)
        Columns ``x`` and ``y``.

    Returns
    -------
    float
        ``sum((y - (w * x + b)) ** 2) / n``, accumulated point by point in order.
    """
    total_error: Any = 0
    for i in range(0, len(points)):
        x = points[i, 0]
        y = points[i, 1]
        total_error += (y - (w * x + b)) ** 2
    return float(total_error / float(len(points)))


def step_gradient(
    b_current: float, w_current: float, points: npt.NDArray[Any], learning_rate: float
) -> list[float]:
    """One full-batch gradient-descent step, accumulated point by point.

    Parameters
    ----------
    b_current, w_current : float
        Current intercept and slope.
    points : ndarray of shape (n, 2)
        Columns ``x`` and ``y``.
    learning_rate : float
        Step size.

    Returns
    -------
    list of float
        ``[new_b, new_w]`` (a list, as in the tutorial).

    Notes
    -----
    The arithmetic is the tutorial's, term by term:
    ``b_gradient += -(2 / N) * (y - ((w * x) + b))`` and
    ``w_gradient += -(2 / N) * x * (y - ((w * x) + b))`` (evaluated left to right).
    """
    b_gradient: Any = 0
    w_gradient: Any = 0
    n = float(len(points))
    for i in range(0, len(points)):
        x = points[i, 0]
        y = points[i, 1]
        b_gradient += -(2 / n) * (y - ((w_current * x) + b_current))
        w_gradient += -(2 / n) * x * (y - ((w_current * x) + b_current))
    new_b = b_current - (learning_rate * b_gradient)
    new_w = w_current - (learning_rate * w_gradient)
    return [new_b, new_w]


def gradient_descent_runner(
    points: npt.ArrayLike,
    starting_b: float,
    starting_w: float,
    learning_rate: float,
    num_iterations: int,
) -> list[float]:
    """Run ``num_iterations`` steps of :func:`step_gradient` from ``(starting_b, starting_w)``.

    Parameters
    ----------
    points : array_like of shape (n, 2)
        Columns ``x`` and ``y``; converted with ``np.array`` on every iteration, as the
        tutorial does.
    starting_b, starting_w : float
        Initial intercept and slope (the tutorial uses 0 and 0).
    learning_rate : float
        Step size (the tutorial uses 0.0001).
    num_iterations : int
        Number of steps (the tutorial uses 1000).

    Returns
    -------
    list of float
        ``[b, w]`` after the last step.
    """
    b = starting_b
    w = starting_w
    for _ in range(num_iterations):
        b, w = step_gradient(b, w, np.array(points), learning_rate)
    return [b, w]


def run(points: npt.ArrayLike, lr: float = 0.0001, iterations: int = 1000) -> dict[str, float]:
    """Time the tutorial's loop from ``b = w = 0`` and report where it ends.

    Parameters
    ----------
    points : array_like of shape (n, 2)
        Columns ``x`` and ``y`` (e.g. ``np.genfromtxt("data.csv", delimiter=",")``).
    lr : float, default 0.0001
        Learning rate.
    iterations : int, default 1000
        Number of full-batch steps.

    Returns
    -------
    dict
        ``seconds`` (wall time of :func:`gradient_descent_runner` only), ``b``, ``w`` and
        ``error`` (the final mean squared error, computed after the timer stops).
    """
    pts = np.asarray(points, dtype=np.float64)
    t0 = time.perf_counter()
    b, w = gradient_descent_runner(pts, 0, 0, lr, iterations)
    seconds = time.perf_counter() - t0
    error = compute_error_for_line_given_points(b, w, pts)
    return {"seconds": seconds, "b": float(b), "w": float(w), "error": error}
