"""The NumPy engine: the loss and its gradient composed by hand from :mod:`gradlab.ops`.

One step on a batch ``(X, y)`` of ``m`` points, for both models::

    z = X @ w + b                                   ops.affine
    loss, dz = squared_error(z, y)                  ops.squared_error: r = z - y,
                                                      mean: sum(r**2)/m, dz = 2r/m
                                                      sum:  0.5*sum(r**2), dz = r
            or binary_cross_entropy(z, y)           ops.binary_cross_entropy:
                                                      s * sum(softplus(z) - y*z),
                                                      dz = s * (sigmoid(z) - y), s = 1/m or 1
    dw, db = X.T @ dz, sum(dz)                      ops.affine_backward
    w, b = w - lr * dw, b - lr * db

:func:`loss_and_grad` is exactly that. Another update rule (momentum, Adam, ...; see
:mod:`gradlab.optim.rules`) replaces the last line: ``w`` and ``b`` live in one float64
buffer ``theta = [w, b]`` and ``rule.step([theta], [grad], state, lr=lr)`` moves it.
Plain SGD keeps the line as written (the rule's own formula for it, one pass fewer).

Two fast paths (see :class:`gradlab.engines.LinearEngine`) serve full batches of the
squared loss:

- the *sufficient statistics* (:class:`gradlab.ops.linear.SquaredStats`): the same loss
  and gradient from ``X.T @ X``, ``X.T @ y``, ... computed once, O(d**2) per step;
- the *closed-form trajectory* (:func:`closed_form_trajectory`): every iterate of
  full-batch descent at once, in the eigenbasis of ``X.T @ X``; plain SGD at a constant
  rate only (the loop does not ask for it otherwise, and the engine refuses it with
  another rule).

``NumpyEngine(..., fast_paths=False)`` runs the plain loop instead.
"""

from __future__ import annotations

import numpy as np

from gradlab.engines import EXACT_CURVATURE_MAX_D, Problem, Trajectory
from gradlab.errors import UsageError
from gradlab.ops import affine, affine_backward, binary_cross_entropy, squared_error
from gradlab.ops.linear import SquaredStats, squared_error_scale
from gradlab.ops.losses import Reduction
from gradlab.optim import Batch, Rule, Schedule
from gradlab.optim.rules import is_plain

#: The loss of each kind of model, on its logits or predictions ``z``.
LOSSES = {"squared": squared_error, "logistic": binary_cross_entropy}

#: The closed-form trajectory holds every iterate in memory: at most this many floats.
TRAJECTORY_MAX_FLOATS = 4_000_000


def loss_and_grad(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, kind: str, reduction: str
) -> tuple[float, np.ndarray, float]:
    """The loss on one batch and its gradient: the composition in the module docstring.

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
    loss, dz = LOSSES[kind](affine(X, w, b), y, reduction)  # type: ignore[arg-type]
    grad_w, grad_b = affine_backward(X, dz)
    return loss, grad_w, grad_b


def closed_form_trajectory(
    stats: SquaredStats,
    w0: np.ndarray,
    b0: float,
    lr: float,
    steps: int,
    reduction: Reduction,
) -> Trajectory:
    """Every iterate of ``steps`` full-batch descent steps on the squared loss, at once.

    With ``theta = [w, b]``, ``H = Z.T @ Z`` and ``c = Z.T @ y`` (``stats``), one step is
    ``theta <- theta - lr * 2a * (H @ theta - c)`` (``a = 1/n`` for the mean, ``1/2`` for
    the half sum): an affine recurrence. In the eigenbasis ``H = Q diag(lam) Q.T`` each
    coordinate ``u = Q.T @ theta`` evolves on its own, ``u <- mu * u + k`` with
    ``mu = 1 - lr * 2a * lam`` and ``k = lr * 2a * (Q.T @ c)``, so after ``t`` steps
    ``u_t = mu**t * u_0 + (1 + mu + ... + mu**(t-1)) * k``. This gives the iterates of the
    step loop (to rounding: ``tests/test_linear.py`` bounds the difference), for every
    ``t`` at once, in O(steps * d**2) vectorised work.

    Parameters
    ----------
    stats : SquaredStats
    w0 : ndarray of shape (d,)
    b0 : float
        The start.
    lr : float
    steps : int
    reduction : {"mean", "sum"}
    """
    s = 2.0 * squared_error_scale(stats.n, reduction)
    lam, Q = stats.eigh
    a = lr * s * lam
    u0 = Q.T @ np.append(w0, b0)
    drive = lr * s * (Q.T @ stats.c)
    t = np.arange(steps + 1, dtype=np.float64)[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        small = a < 0.5  # accurate powers through log1p/expm1 when mu is near 1
        log_mu = np.log1p(-np.where(small, a, 0.0))
        mu_t = np.where(small, np.exp(t * log_mu), np.power(1.0 - a, t))
        safe_a = np.where(a == 0.0, 1.0, a)
        geo = np.where(small, -np.expm1(t * log_mu) / safe_a, (1.0 - mu_t) / safe_a)
        geo = np.where(a == 0.0, t, geo)
        theta = (mu_t * u0 + geo * drive) @ Q.T
        losses = stats.losses(theta, reduction)
    return Trajectory(losses, theta[:, :-1], theta[:, -1])


class NumpyEngine:
    """Parameters ``w`` (d,) and ``b`` held as NumPy float64; see the module docstring.

    Parameters
    ----------
    problem : Problem
    w0 : ndarray of shape (d,)
    b0 : float
    fast_paths : bool, default True
        Use the sufficient statistics and the closed-form trajectory for full batches of
        the squared loss; False runs the plain composition every step.
    rule : Rule, optional
        The update rule; default (or any SGD without momentum or weight decay): plain
        gradient descent, ``w -= lr * dw``.
    schedule : Schedule, optional
        Unused: the rates come from :meth:`step`.
    """

    def __init__(
        self,
        problem: Problem,
        w0: np.ndarray,
        b0: float,
        *,
        fast_paths: bool = True,
        rule: Rule | None = None,
        schedule: Schedule | None = None,
    ) -> None:
        if not isinstance(fast_paths, bool):
            raise UsageError(
                f"the numpy engine's fast_paths must be True or False, got {fast_paths!r}."
            )
        self.X = np.ascontiguousarray(problem.X, dtype=np.float64)
        self.y = np.ascontiguousarray(problem.y, dtype=np.float64)
        self.kind = problem.kind
        self.reduction = problem.reduction
        # the sums are (d+1)**2 numbers and the closed form an O(d**3) eigendecomposition:
        # a wide X (a CSV of thousands of columns) takes the plain steps instead
        narrow = self.X.shape[1] + 1 <= EXACT_CURVATURE_MAX_D
        self.stats = problem.stats if fast_paths and problem.kind == "squared" and narrow else None
        self.rule = None if rule is None or is_plain(rule) else rule
        # theta = [w, b] in one buffer for the rule; w is a view of it, b mirrored
        self.theta = np.append(np.asarray(w0, dtype=np.float64), float(b0))
        self.grad = np.zeros_like(self.theta)
        self.state = self.rule.init([self.theta]) if self.rule is not None else None
        self.w = self.theta[:-1]
        self.b = float(b0)

    def _full_batch(self) -> tuple[float, np.ndarray, float]:
        if self.stats is not None:
            return self.stats.loss_and_grad(self.w, self.b, self.reduction)
        return loss_and_grad(self.X, self.y, self.w, self.b, self.kind, self.reduction)

    def step(self, batch: Batch, lr: float) -> float:
        if isinstance(batch, slice):  # the methods' only slice is the full batch
            loss, gw, gb = self._full_batch()
        else:
            loss, gw, gb = loss_and_grad(
                self.X[batch], self.y[batch], self.w, self.b, self.kind, self.reduction
            )
        if self.rule is None:
            self.w -= lr * gw
            self.b -= lr * gb
            return loss
        assert self.state is not None
        self.theta[-1] = self.b
        self.grad[:-1] = gw
        self.grad[-1] = gb
        self.rule.step([self.theta], [self.grad], self.state, lr=lr)
        self.b = float(self.theta[-1])
        return loss

    def loss(self) -> float:
        return self._full_batch()[0]

    def params(self) -> tuple[np.ndarray, float]:
        return self.w.copy(), self.b

    def trajectory(self, lr: float, steps: int) -> Trajectory | None:
        """The closed-form trajectory (plain SGD on the squared loss, fast paths on, when it
        fits in memory)."""
        if self.rule is not None or self.stats is None:
            return None
        if (steps + 1) * (self.w.size + 1) > TRAJECTORY_MAX_FLOATS:
            return None
        return closed_form_trajectory(self.stats, self.w, self.b, lr, steps, self.reduction)


def build(problem: Problem, w0: np.ndarray, b0: float, **options: object) -> NumpyEngine:
    """Make the NumPy engine; options: ``fast_paths``, and ``rule`` and ``schedule``."""
    return NumpyEngine(problem, w0, b0, **options)  # type: ignore[arg-type]
