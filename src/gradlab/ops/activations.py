"""Activations and their derivatives, side by side.

=========== ================================== ==============================================
operation   forward                            backward (given dL/dout, returns dL/din)
=========== ================================== ==============================================
sigmoid     p = 1 / (1 + exp(-z))              dz = dp * p * (1 - p)
relu        h = max(z, 0)                      dz = dh * [z > 0]   (read from h: [h > 0])
softmax     p_j = exp(z_j) / sum_k exp(z_k)    (only ever used through cross-entropy, whose
log_softmax z_j - log(sum_k exp(z_k))           gradient on the logits is simply p - onehot)
=========== ================================== ==============================================

The backward passes take the forward *output* where that is all they need (p for the
sigmoid, h for ReLU), so a network keeps one array per layer. All functions work on any
float dtype and return the same dtype.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))``, without overflow for any float ``z``.

    Computed as ``exp(-log(1 + exp(-z)))`` through ``logaddexp``, which is finite for
    ``z`` of any size (``sigmoid(-1000) == 0``, ``sigmoid(1000) == 1``).
    """
    out: np.ndarray = np.exp(-np.logaddexp(0.0, -z))
    return out


def sigmoid_backward(p: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """``dL/dz`` from ``p = sigmoid(z)`` and ``dL/dp``: ``grad * p * (1 - p)``."""
    out: np.ndarray = grad * p * (1.0 - p)
    return out


def relu(z: np.ndarray) -> np.ndarray:
    """``max(z, 0)`` elementwise."""
    out: np.ndarray = np.maximum(z, 0)
    return out


def relu_backward(h: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """``dL/dz`` from ``h = relu(z)`` and ``dL/dh``: the gradient passes where ``h > 0``.

    At ``z == 0`` the derivative is taken as 0, as PyTorch does.
    """
    out: np.ndarray = grad * (h > 0)
    return out


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise ``z - logsumexp(z)`` for logits of shape (m, k), stable for any finite ``z``.

    The row maximum is subtracted before ``exp``, so logits of 1000 or more do not
    overflow; the result's error is a few ulps of the largest ``|z - max(z)|``.
    """
    shifted = z - z.max(axis=1, keepdims=True)
    out: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise probabilities ``exp(z_j) / sum_k exp(z_k)`` for logits of shape (m, k)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out
