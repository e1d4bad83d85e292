"""Losses, each returning its value and its gradient with respect to its input.

With ``m`` rows in the batch and ``s = 1/m`` for ``reduction="mean"`` (``s = 1`` for
``"sum"``):

===================== ====================================== ==============================
loss                  value                                  gradient
===================== ====================================== ==============================
squared error, mean   sum(r**2) / m,  r = pred - y           d/dpred = 2 r / m
squared error, sum    0.5 * sum(r**2)  (the tutorial's)      d/dpred = r
binary cross-entropy  s * sum(softplus(z) - y*z), z logits   d/dz = s * (sigmoid(z) - y)
cross-entropy         s * sum_i(logsumexp(z_i) - z_i[y_i])   d/dz = s * (softmax(z) - onehot)
===================== ====================================== ==============================

Binary cross-entropy ``-y log p - (1-y) log(1-p)`` with ``p = sigmoid(z)`` equals
``softplus(z) - y*z``, which never takes the log of 0 whatever the size of ``z``; the same
holds for cross-entropy written with ``logsumexp``. Note the squared error's two
conventions differ by more than the reduction: the mean has no factor 1/2, the sum has.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from gradlab.ops.activations import log_softmax, sigmoid

Reduction = Literal["mean", "sum"]
"""How a loss sums its rows: ``"mean"`` divides by their number ``m``, ``"sum"`` does not."""


def squared_error(
    pred: np.ndarray, y: np.ndarray, reduction: Reduction = "mean"
) -> tuple[float, np.ndarray]:
    """Squared error of predictions ``pred`` (m,) against targets ``y`` (m,).

    Returns
    -------
    loss : float
        ``sum(r**2) / m`` for ``"mean"``, ``0.5 * sum(r**2)`` for ``"sum"``.
    grad : ndarray of shape (m,)
        ``dloss/dpred``: ``2 r / m`` or ``r``.
    """
    r = pred - y
    if reduction == "mean":
        m = r.shape[0]
        return float(r @ r) / m, (2.0 / m) * r
    return 0.5 * float(r @ r), r


def binary_cross_entropy(
    z: np.ndarray, y: np.ndarray, reduction: Reduction = "mean"
) -> tuple[float, np.ndarray]:
    """Binary cross-entropy of logits ``z`` (m,) against labels ``y`` (m,) in {0, 1}.

    Returns
    -------
    loss : float
        ``s * sum(softplus(z) - y*z)``.
    grad : ndarray of shape (m,)
        ``dloss/dz = s * (sigmoid(z) - y)``.
    """
    s = 1.0 / z.shape[0] if reduction == "mean" else 1.0
    loss = float(np.sum(np.logaddexp(0.0, z) - y * z))
    return s * loss, s * (sigmoid(z) - y)


def cross_entropy(
    z: np.ndarray, y: np.ndarray, reduction: Reduction = "mean"
) -> tuple[float, np.ndarray]:
    """Cross-entropy of ``softmax(z)`` for logits ``z`` (m, k) against class indices ``y`` (m,).

    Returns
    -------
    loss : float
        ``s * sum_i(logsumexp(z_i) - z_i[y_i])``.
    grad : ndarray of shape (m, k)
        ``dloss/dz = s * (softmax(z) - onehot(y))``.
    """
    m = z.shape[0]
    s = 1.0 / m if reduction == "mean" else 1.0
    logp = log_softmax(z)
    rows = np.arange(m)
    loss = -float(logp[rows, y].sum())
    grad = np.exp(logp)
    grad[rows, y] -= 1.0
    return s * loss, grad * np.asarray(s, dtype=grad.dtype)
