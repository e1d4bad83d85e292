"""The affine map of the linear models, and the squared loss through its sufficient statistics.

===================== ====================================== ==============================
operation             forward                                backward (given dL/dz)
===================== ====================================== ==============================
affine                z = X @ w + b                          dL/dw = X.T @ dz, dL/db = sum(dz)
===================== ====================================== ==============================

A linear model's loss is one of :mod:`gradlab.ops.losses` applied to ``z``; its gradient
is that loss's ``dL/dz`` passed back through :func:`affine_backward`.

**Sufficient statistics.** For the squared error the loss of *every* ``(w, b)`` depends
on the data only through a few sums. With ``Z = [X, 1]`` of shape (n, d+1) and
``theta = [w, b]``::

    sum(r**2) = theta @ H @ theta - 2 * theta @ c + yy,   H = Z.T @ Z, c = Z.T @ y, yy = y @ y
    d sum(r**2) / d theta = 2 * (H @ theta - c)

so once ``H``, ``c`` and ``yy`` are known (one pass over the data) the loss and its
gradient cost O(d**2) instead of O(n*d), and the loss of many parameter vectors at once
(a whole descent path, a grid for a picture) is one matrix product. :class:`SquaredStats`
holds those sums; ``tests/test_linear.py`` checks it against the plain composition
``squared_error(affine(X, w, b), y)`` with tolerances derived from float64 rounding.

The expansion subtracts large numbers when the residuals are small against ``y``: its
absolute error is a few ``eps`` times ``sum((|Z| @ |theta| + |y|)**2)``, not times
``sum(r**2)``. That is ample for descent and pictures; an exact final loss is computed
from the residuals.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from gradlab.ops.losses import Reduction


def affine(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """``X @ w + b``: logits or predictions of shape (m,) from ``X`` (m, d) and ``w`` (d,)."""
    out: np.ndarray = X @ w + b
    return out


def affine_backward(X: np.ndarray, dz: np.ndarray) -> tuple[np.ndarray, float]:
    """``(dL/dw, dL/db) = (X.T @ dz, sum(dz))`` from ``dL/dz`` of shape (m,)."""
    return X.T @ dz, float(dz.sum())


def squared_error_scale(n: int, reduction: Reduction) -> float:
    """``a`` in ``loss = a * sum(r**2)``: ``1/n`` for the mean, ``1/2`` for the tutorial's sum.

    The same convention as :func:`gradlab.ops.losses.squared_error`.
    """
    return 1.0 / n if reduction == "mean" else 0.5


@dataclass(frozen=True)
class SquaredStats:
    """The sums through which the squared loss of ``y ~ X @ w + b`` sees the data.

    Attributes
    ----------
    H : ndarray of shape (d+1, d+1)
        ``Z.T @ Z`` with ``Z = [X, 1]``; the last row and column are ``sum(X, 0)`` and ``n``.
    c : ndarray of shape (d+1,)
        ``Z.T @ y``; the last entry is ``sum(y)``.
    yy : float
        ``y @ y``.
    n : int
        Number of points.
    """

    H: np.ndarray
    c: np.ndarray
    yy: float
    n: int

    @classmethod
    def of(cls, X: np.ndarray, y: np.ndarray) -> SquaredStats:
        """Compute the sums in one pass of matrix products (no copy of ``X`` with a ones column).

        Parameters
        ----------
        X : ndarray of shape (n, d)
        y : ndarray of shape (n,)
        """
        n, d = X.shape
        sx = X.sum(axis=0)
        H = np.empty((d + 1, d + 1))
        H[:d, :d] = X.T @ X
        H[:d, d] = H[d, :d] = sx
        H[d, d] = n
        c = np.append(X.T @ y, y.sum())
        return cls(H, c, float(y @ y), n)

    def sse(self, theta: np.ndarray) -> np.ndarray:
        """``sum(r**2)`` at each parameter vector ``theta`` of shape (..., d+1); shape (...).

        Clipped at 0 (rounding in the expansion can make an exact fit slightly negative).
        """
        quad = np.einsum("...i,...i->...", theta @ self.H, theta)
        out: np.ndarray = np.maximum(quad - 2.0 * (theta @ self.c) + self.yy, 0.0)
        return out

    def losses(self, theta: np.ndarray, reduction: Reduction) -> np.ndarray:
        """The squared loss at many parameter vectors ``theta = [w, b]`` at once.

        Parameters
        ----------
        theta : ndarray of shape (..., d+1)
        reduction : {"mean", "sum"}

        Returns
        -------
        ndarray of shape (...)
        """
        out: np.ndarray = squared_error_scale(self.n, reduction) * self.sse(theta)
        return out

    def loss_and_grad(
        self, w: np.ndarray, b: float, reduction: Reduction
    ) -> tuple[float, np.ndarray, float]:
        """The squared loss at ``(w, b)`` and its gradient, in O(d**2).

        Equal, to rounding, to ``squared_error(affine(X, w, b), y, reduction)`` followed
        by :func:`affine_backward`.

        Returns
        -------
        loss : float
        grad_w : ndarray of shape (d,)
        grad_b : float
        """
        a = squared_error_scale(self.n, reduction)
        theta = np.append(w, b)
        Ht = self.H @ theta
        sse = max(float(theta @ Ht) - 2.0 * float(theta @ self.c) + self.yy, 0.0)
        grad = (2.0 * a) * (Ht - self.c)
        return a * sse, grad[:-1], float(grad[-1])

    @cached_property
    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        """``H = Q @ diag(lam) @ Q.T``: ``(lam, Q)``, eigenvalues ascending; computed once."""
        lam, Q = np.linalg.eigh(self.H)
        return lam, Q


def mse_surface(x: np.ndarray, y: np.ndarray, W: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Mean squared error of ``y ~ w*x + b`` at every point of a ``(w, b)`` grid.

    Computed from :class:`SquaredStats` (one pass over the data, then one product per
    grid point), for the loss-surface picture.

    Parameters
    ----------
    x, y : ndarray of shape (n,)
        One feature and the targets.
    W, B : ndarray, same shape (for example from ``numpy.meshgrid``)
        Slopes and intercepts.

    Returns
    -------
    ndarray of the shape of ``W``
    """
    stats = SquaredStats.of(np.asarray(x, dtype=np.float64)[:, None], np.asarray(y, np.float64))
    theta = np.stack(np.broadcast_arrays(np.asarray(W, np.float64), np.asarray(B, np.float64)), -1)
    return stats.losses(theta, "mean")
