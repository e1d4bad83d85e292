"""The affine map of the linear models, and the squared loss through its sufficient statistics.

===================== ====================================== ==============================
operation             forward                                backward (given dL/dz)
===================== ====================================== ==============================
affine                z = X @ w + b                          dL/dw = X.T @ dz, dL/db = sum(dz)
===================== ====================================== ==============================

A linear model's loss is one of :mod:`gradlab.ops.losses` applied to ``z``; its gradient
is that loss's ``dL/dz`` passed back through :func:`affine_backward`.

**Sufficient statistics.** For the squared error the loss of *every* ``(w, b)`` depends
on the data only through a few sums. With the data centred (``xc = X - mean(X)``,
``yc = y - mean(y)``) and the intercept moved to the centre (``b' = b + mean(X) @ w -
mean(y)``), the residual is ``r = xc @ w + b' - yc`` and, since ``xc`` and ``yc`` sum to 0::

    sum(r**2) = w @ Hc @ w - 2 * w @ cc + yy + n * b'**2,   Hc = xc.T @ xc, cc = xc.T @ yc,
                                                            yy = yc @ yc
    d sum(r**2) / dw = 2 * (Hc @ w - cc + n * b' * mean(X)),   d sum(r**2) / db = 2 * n * b'

so once the sums are known (one pass over the data) the loss and its gradient cost
O(d**2) instead of O(n*d), and the loss of many parameter vectors at once (a whole
descent path, a grid for a picture) is one matrix product. :class:`SquaredStats` holds
them, with the uncentred ``H = Z.T @ Z`` and ``c = Z.T @ y`` (``Z = [X, 1]``, ``theta =
[w, b]``) whose eigenvectors give the closed-form descent path; ``tests/test_linear.py``
checks the loss and gradient against the plain composition ``squared_error(affine(X, w,
b), y)`` with tolerances derived from float64 rounding.

The expansion subtracts large numbers when the residuals are small: its absolute error is
a few ``eps`` times ``sum((|xc| @ |w| + |b'| + |yc|)**2)``, not times ``sum(r**2)``.
Centring keeps an offset in the data (``y`` near 1e6, say) out of that bound, where the
uncentred sums lost a loss of 1e-6 entirely; a fit whose residuals are below about
``1e-8`` of the spread of ``y`` still reads its loss with that absolute error (the final
loss a model reports is computed from the residuals).
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
    mean_x : ndarray of shape (d,)
    mean_y : float
        The means that centre the data.
    Hc : ndarray of shape (d, d)
        ``xc.T @ xc``, the centred features' sums of products.
    cc : ndarray of shape (d,)
        ``xc.T @ yc``.
    yy : float
        ``yc @ yc``.
    n : int
        Number of points.
    """

    H: np.ndarray
    c: np.ndarray
    mean_x: np.ndarray
    mean_y: float
    Hc: np.ndarray
    cc: np.ndarray
    yy: float
    n: int

    @classmethod
    def of(cls, X: np.ndarray, y: np.ndarray) -> SquaredStats:
        """Compute the sums in a few passes of matrix products.

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
        mean_x = sx / n
        xc = X - mean_x
        # targets too large to square give an infinite loss, which the caller reports
        with np.errstate(over="ignore", invalid="ignore"):
            c = np.append(X.T @ y, y.sum())
            mean_y = float(y.mean())
            yc = y - mean_y
            return cls(H, c, mean_x, mean_y, xc.T @ xc, xc.T @ yc, float(yc @ yc), n)

    def _centred(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(w, b')`` of ``theta = [w, b]``, shape (..., d+1): ``b' = b + mean_x @ w - mean_y``."""
        w = theta[..., :-1]
        return w, theta[..., -1] + w @ self.mean_x - self.mean_y

    def sse(self, theta: np.ndarray) -> np.ndarray:
        """``sum(r**2)`` at each parameter vector ``theta`` of shape (..., d+1); shape (...).

        Clipped at 0 (rounding in the expansion can make an exact fit slightly negative).
        """
        w, b_c = self._centred(theta)
        quad = np.einsum("...i,...i->...", w @ self.Hc, w)
        out: np.ndarray = np.maximum(quad - 2.0 * (w @ self.cc) + self.yy + self.n * b_c**2, 0.0)
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
        # NumPy scalars: a start too far out gives inf (reported by the caller), not an
        # OverflowError
        with np.errstate(over="ignore", invalid="ignore"):
            b_c = np.float64(b + w @ self.mean_x - self.mean_y)
            Hw = self.Hc @ w
            sse = w @ Hw - 2.0 * (w @ self.cc) + self.yy + self.n * b_c**2
            grad_w = (2.0 * a) * (Hw - self.cc + (self.n * b_c) * self.mean_x)
            return a * max(float(sse), 0.0), grad_w, float(2.0 * a * self.n * b_c)

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
