"""The NumPy engine: vectorised forward pass, gradients derived by hand.

With residuals ``r = X @ w + b - y`` on a batch of ``m`` points:

squared, mean (MSE)       L = sum(r**2) / m     dL/dw = 2/m * X.T @ r     dL/db = 2/m * sum(r)
squared, sum (tutorial)   L = 0.5 * sum(r**2)   dL/dw = X.T @ r           dL/db = sum(r)

With ``z = X @ w + b``, ``p = sigmoid(z)`` and labels ``y`` in {0, 1}:

logistic, mean            L = sum(softplus(z) - y*z) / m
                          dL/dw = X.T @ (p - y) / m                 dL/db = sum(p - y) / m
logistic, sum             the same without ``/ m``

``softplus(z) - y*z`` is the binary cross-entropy ``-y*log(p) - (1-y)*log(1-p)``
written so that it never takes the log of 0, whatever the size of ``z``.

For full-batch squared error the gradient depends on the data only through the
sums ``X.T @ X``, ``X.T @ y``, ``sum(X)``, ``sum(y)`` and ``y @ y``: they are
computed once, and each step then costs O(d**2) instead of O(n*d).
"""

from __future__ import annotations

import numpy as np

from gradlab.engines import Problem
from gradlab.optim import Batch


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow for any float ``z``."""
    out: np.ndarray = np.exp(-np.logaddexp(0.0, -z))
    return out


def loss_and_grad(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, kind: str, reduction: str
) -> tuple[float, np.ndarray, float]:
    """The loss and its gradient on one batch, straight from the formulas above.

    Parameters
    ----------
    X : ndarray of shape (m, d)
    y : ndarray of shape (m,)
    w : ndarray of shape (d,)
    b : float
    kind : {"squared", "logistic"}
    reduction : {"mean", "sum"}

    Returns
    -------
    loss : float
    grad_w : ndarray of shape (d,)
    grad_b : float
    """
    m = X.shape[0]
    z = X @ w + b
    if kind == "squared":
        r = z - y
        if reduction == "mean":
            return float(r @ r / m), (2.0 / m) * (X.T @ r), 2.0 / m * float(r.sum())
        return 0.5 * float(r @ r), X.T @ r, float(r.sum())
    err = sigmoid(z) - y
    loss = float(np.sum(np.logaddexp(0.0, z) - y * z))
    scale = 1.0 / m if reduction == "mean" else 1.0
    return loss * scale, scale * (X.T @ err), scale * float(err.sum())


class NumpyEngine:
    """Parameters ``w`` (d,) and ``b`` held as NumPy float64; see the module docstring."""

    def __init__(self, problem: Problem, w0: np.ndarray, b0: float) -> None:
        self.X = np.ascontiguousarray(problem.X, dtype=np.float64)
        self.y = np.ascontiguousarray(problem.y, dtype=np.float64)
        self.kind = problem.kind
        self.reduction = problem.reduction
        self.w = np.array(w0, dtype=np.float64)
        self.b = float(b0)
        self._stats: tuple[np.ndarray, np.ndarray, np.ndarray, float, float] | None = None
        if self.kind == "squared":
            X, y = self.X, self.y
            self._stats = (X.T @ X, X.T @ y, X.sum(axis=0), float(y.sum()), float(y @ y))

    def _full_batch_squared(self) -> tuple[float, np.ndarray, float]:
        """Loss and gradient on all points from the precomputed sums, O(d**2)."""
        assert self._stats is not None
        G, c, sx, sy, yy = self._stats
        n = self.X.shape[0]
        w, b = self.w, self.b
        xtr = G @ w + b * sx - c  # X.T @ r
        sr = float(sx @ w) + n * b - sy  # sum(r)
        # sum(r**2) expanded; may lose a few digits to cancellation near the optimum.
        srr = float(w @ G @ w) + 2 * b * float(sx @ w) + n * b * b - 2 * float(w @ c) - 2 * b * sy
        srr = max(srr + yy, 0.0)
        if self.reduction == "mean":
            return srr / n, (2.0 / n) * xtr, 2.0 / n * sr
        return 0.5 * srr, xtr, sr

    def step(self, batch: Batch, lr: float) -> float:
        if self._stats is not None and isinstance(batch, slice):
            loss, gw, gb = self._full_batch_squared()
        else:
            loss, gw, gb = loss_and_grad(
                self.X[batch], self.y[batch], self.w, self.b, self.kind, self.reduction
            )
        self.w -= lr * gw
        self.b -= lr * gb
        return loss

    def loss(self) -> float:
        if self._stats is not None:
            return self._full_batch_squared()[0]
        return loss_and_grad(self.X, self.y, self.w, self.b, self.kind, self.reduction)[0]

    def exact_loss(self) -> float:
        """The loss on all points computed from the residuals (no cancellation)."""
        return loss_and_grad(self.X, self.y, self.w, self.b, self.kind, self.reduction)[0]

    def params(self) -> tuple[np.ndarray, float]:
        return self.w.copy(), self.b

    def batch_trajectory(self, lr: float, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All iterates of full-batch descent on the squared loss at once.

        With ``theta = [w, b]``, ``Z = [X, 1]``, ``H = Z.T @ Z`` and ``c = Z.T @ y``,
        one step is ``theta <- theta - lr * s * (H @ theta - c)`` (``s = 2/n`` for the
        mean, ``1`` for the half sum): an affine recurrence. In the eigenbasis
        ``H = Q diag(lam) Q.T`` each coordinate ``u = Q.T @ theta`` evolves on its own,
        ``u <- (1 - a) * u + lr * s * (Q.T @ c)`` with ``a = lr * s * lam``, so after
        ``t`` steps ``u_t = mu**t * u_0 + (1 + mu + ... + mu**(t-1)) * lr * s * (Q.T @ c)``
        with ``mu = 1 - a``. This evaluates exactly the iterates of the step loop
        (to rounding), for every ``t`` at once, in O(steps * d) vectorised work.

        Returns
        -------
        losses : ndarray of shape (steps + 1,)
            The loss at each iterate (index 0 is the start).
        W : ndarray of shape (steps + 1, d)
            The weights at each iterate.
        B : ndarray of shape (steps + 1,)
            The intercept at each iterate.
        """
        assert self._stats is not None
        G, c, sx, sy, yy = self._stats
        n = self.X.shape[0]
        H = np.block([[G, sx[:, None]], [sx[None, :], np.array([[float(n)]])]])
        cz = np.append(c, sy)
        s = 2.0 / n if self.reduction == "mean" else 1.0
        lam, Q = np.linalg.eigh(H)
        a = lr * s * lam
        u0 = Q.T @ np.append(self.w, self.b)
        drive = lr * s * (Q.T @ cz)
        t = np.arange(steps + 1, dtype=np.float64)[:, None]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            small = a < 0.5  # accurate powers through log1p/expm1 when mu is near 1
            log_mu = np.log1p(-np.where(small, a, 0.0))
            mu_t = np.where(small, np.exp(t * log_mu), np.power(1.0 - a, t))
            safe_a = np.where(a == 0.0, 1.0, a)
            geo = np.where(small, -np.expm1(t * log_mu) / safe_a, (1.0 - mu_t) / safe_a)
            geo = np.where(a == 0.0, t, geo)
            U = mu_t * u0 + geo * drive
            quad = np.einsum("ti,i,ti->t", U, lam, U) - 2.0 * (U @ (Q.T @ cz)) + yy
            quad = np.maximum(quad, 0.0)
            losses = quad / n if self.reduction == "mean" else 0.5 * quad
            theta = U @ Q.T
        return losses, theta[:, :-1], theta[:, -1]

    def set_params(self, w: np.ndarray, b: float) -> None:
        """Move the engine to ``(w, b)``."""
        self.w = np.array(w, dtype=np.float64)
        self.b = float(b)


def build(problem: Problem, w0: np.ndarray, b0: float, **options: object) -> NumpyEngine:
    """Make the NumPy engine (it takes no options; :func:`gradlab.engines.make_engine`
    has already refused any)."""
    return NumpyEngine(problem, w0, b0)
