"""Softmax regression's whole gradient as one compiled call (numba): the kernel behind
:meth:`gradlab.engines.numpy_mlp.NumpyMLP.step` for a network without hidden layers.

Importing this module imports numba; :mod:`gradlab.engines.numpy_mlp` imports it only
when a compiled step is asked for and available (see :mod:`gradlab.optim.compiled`).

With ``W.T`` stored as ``WT`` (K, d), so that each class's weights are contiguous, and a
batch ``X`` (m, d) of inputs to be multiplied by ``scale``, the kernel computes what the
NumPy step computes, in the same order of operations per entry::

    z       = (X @ WT.T) * scale + b                    (m, K) logits
    correct = count(argmax_k z[i] == y[i])
    loss    = sum_i( logsumexp(z[i]) - z[i, y[i]] )
    dz      = (softmax(z) - onehot(y)) * c              (c = 1/m, or lr/m with the rate folded in)
    gb      = sum_i dz[i]                               (K,)
    gWT     = (dz * scale).T @ X                        (K, d)

Why a kernel: at K = 10 the two products are narrow, and BLAS spends more time moving
``X`` than multiplying. Here the logits take two rows and five classes at a time (ten
running sums, each input value and each weight loaded once for several products), and
the weight gradient eight rows at a time (each gradient entry read and written once per
eight rows). The products may be reassociated and fused into multiply-adds
(``fastmath`` reassoc and contract: the sums over d run in vector lanes), so the result
is the NumPy step's within float rounding, not to the bit;
``tests/test_classifier.py`` bounds the difference by the arithmetic of the sums. The
softmax itself is not reordered.
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: What the products may reorder: sums in any order, and multiply-adds fused.
_PRODUCTS = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True, fastmath=_PRODUCTS, boundscheck=False)
def _logits(X: np.ndarray, WT: np.ndarray, z: np.ndarray) -> None:
    """``z = X @ WT.T`` (unscaled, no bias): two rows by five classes at a time."""
    m, d = X.shape
    K = WT.shape[0]
    r = 0
    while r + 1 < m:
        x0 = X[r]
        x1 = X[r + 1]
        k = 0
        while k + 4 < K:
            w0, w1, w2, w3, w4 = WT[k], WT[k + 1], WT[k + 2], WT[k + 3], WT[k + 4]
            a0 = a1 = a2 = a3 = a4 = z.dtype.type(0)
            b0 = b1 = b2 = b3 = b4 = z.dtype.type(0)
            for j in range(d):
                u = x0[j]
                v = x1[j]
                a0 += u * w0[j]
                a1 += u * w1[j]
                a2 += u * w2[j]
                a3 += u * w3[j]
                a4 += u * w4[j]
                b0 += v * w0[j]
                b1 += v * w1[j]
                b2 += v * w2[j]
                b3 += v * w3[j]
                b4 += v * w4[j]
            z[r, k], z[r, k + 1], z[r, k + 2], z[r, k + 3], z[r, k + 4] = a0, a1, a2, a3, a4
            z[r + 1, k], z[r + 1, k + 1], z[r + 1, k + 2] = b0, b1, b2
            z[r + 1, k + 3], z[r + 1, k + 4] = b3, b4
            k += 5
        while k < K:  # the classes left over, one at a time
            w = WT[k]
            a = b = z.dtype.type(0)
            for j in range(d):
                a += x0[j] * w[j]
                b += x1[j] * w[j]
            z[r, k] = a
            z[r + 1, k] = b
            k += 1
        r += 2
    if r < m:  # an odd last row
        x = X[r]
        for k in range(K):
            w = WT[k]
            a = z.dtype.type(0)
            for j in range(d):
                a += x[j] * w[j]
            z[r, k] = a


@numba.njit(cache=True, nogil=True, fastmath=_PRODUCTS, boundscheck=False)
def _accumulate(X: np.ndarray, dz: np.ndarray, gWT: np.ndarray) -> None:
    """``gWT += dz.T @ X``: eight rows at a time, each entry of ``gWT`` read and written
    once per eight rows."""
    m, d = X.shape
    K = gWT.shape[0]
    r = 0
    while r + 7 < m:
        x0, x1, x2, x3 = X[r], X[r + 1], X[r + 2], X[r + 3]
        x4, x5, x6, x7 = X[r + 4], X[r + 5], X[r + 6], X[r + 7]
        for k in range(K):
            g0, g1, g2, g3 = dz[r, k], dz[r + 1, k], dz[r + 2, k], dz[r + 3, k]
            g4, g5, g6, g7 = dz[r + 4, k], dz[r + 5, k], dz[r + 6, k], dz[r + 7, k]
            out = gWT[k]
            for j in range(d):
                out[j] += (g0 * x0[j] + g1 * x1[j] + g2 * x2[j] + g3 * x3[j]) + (
                    g4 * x4[j] + g5 * x5[j] + g6 * x6[j] + g7 * x7[j]
                )
        r += 8
    while r < m:  # the last rows, one at a time
        x = X[r]
        for k in range(K):
            g = dz[r, k]
            out = gWT[k]
            for j in range(d):
                out[j] += g * x[j]
        r += 1


@numba.njit(cache=True, nogil=True)
def softmax_regression_gradient(
    X: np.ndarray,
    y: np.ndarray,
    WT: np.ndarray,
    b: np.ndarray,
    gWT: np.ndarray,
    gb: np.ndarray,
    z: np.ndarray,
    c: float,
    scale: float,
) -> tuple[float, int]:
    """The gradient of softmax regression on one batch, into ``gWT`` and ``gb``.

    Parameters
    ----------
    X : ndarray of shape (m, d), C-contiguous
        The batch, to be multiplied by ``scale``.
    y : ndarray of shape (m,), int64
    WT, gWT : ndarray of shape (K, d), C-contiguous
        The weights, transposed, and where their gradient goes.
    b, gb : ndarray of shape (K,)
    z : ndarray of shape (m, K)
        Scratch space; holds ``dz * scale`` afterwards.
    c : float
        What ``softmax(z) - onehot(y)`` is multiplied by.
    scale : float

    Returns
    -------
    loss : float
        The sum over the rows of the cross-entropy, before the step.
    correct : int
        How many rows the weights before the step classify right.
    """
    m = X.shape[0]
    K = WT.shape[0]
    s = z.dtype.type(scale)
    cc = z.dtype.type(c)
    _logits(X, WT, z)
    loss = 0.0
    correct = 0
    gb[:] = 0
    for i in range(m):
        if y[i] < 0 or y[i] >= K:  # NumPy's indexing would raise; unchecked, this would not
            raise IndexError("a label is not a class number: 0 <= y < the number of classes")
        best = 0
        for k in range(K):
            z[i, k] = z[i, k] * s + b[k]
            if z[i, k] > z[i, best]:
                best = k
        if best == y[i]:
            correct += 1
        top = z[i, best]
        true = z[i, y[i]] - top
        total = z.dtype.type(0)
        for k in range(K):
            z[i, k] = math.exp(z[i, k] - top)
            total += z[i, k]
        loss += math.log(total) - true  # logsumexp(z[i]) - z[i, y[i]]
        ratio = cc / total
        for k in range(K):
            z[i, k] *= ratio
        z[i, y[i]] -= cc
        for k in range(K):
            gb[k] += z[i, k]
            z[i, k] *= s
    gWT[:] = 0
    _accumulate(X, z, gWT)
    return loss, correct


@numba.njit(cache=True, nogil=True)
def softmax_regression_logits(
    X: np.ndarray, WT: np.ndarray, b: np.ndarray, z: np.ndarray, scale: float
) -> None:
    """``z = (X @ WT.T) * scale + b``, shapes as in :func:`softmax_regression_gradient`
    (the forward pass alone, for evaluation and prediction)."""
    _logits(X, WT, z)
    s = z.dtype.type(scale)
    for i in range(X.shape[0]):
        for k in range(WT.shape[0]):
            z[i, k] = z[i, k] * s + b[k]
