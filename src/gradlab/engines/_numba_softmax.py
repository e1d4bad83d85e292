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
the weight gradient four rows by five classes at a time (each input value loaded once
for five classes, each gradient entry read and written once per four rows). The products
may be reassociated and fused into multiply-adds (``fastmath`` reassoc and contract: the
sums over d run in vector lanes), so the result is the NumPy step's within float
rounding, not to the bit; ``tests/test_classifier.py`` bounds the difference by the
arithmetic of the sums. The softmax itself is not reordered.

On a machine with several cores, :func:`softmax_block_gradients` and
:func:`softmax_block_logits` run the same three stages on row blocks of the batch, one
block per thread, each gathering and casting its own rows, and add the blocks'
gradients up as the MLP's blocked kernel does (:mod:`gradlab.engines._numba_blocks`).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from gradlab.engines._numba_blocks import (
    CHUNK,
    add_blocks,
    block_rows,
    copy_rows,
    gather,
    labels_in_range,
    totals,
)

#: SHA-256 of the modules whose jitted helpers these kernels compile in
#: (``_numba_blocks.py``). numba's cache keys a kernel by its own file's
#: contents only: this line changes with the helpers, so the cached kernels are
#: compiled again (``tests/test_numba_cache_keys.py`` checks it, naming the new value).
HELPERS_SHA256 = "f258337aec906f38759ce666fd1a9ef60ef5087f83859bdbe5cbfcd6b6fffd13"

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
    """``gWT += dz.T @ X``: four rows by five classes at a time, the twenty factors
    ``dz[r, k]`` held in registers while the loop runs along the rows of ``X`` and
    ``gWT`` (four input values and five gradient entries loaded for twenty multiply-adds).
    Eight rows by one class, the earlier layout, loads nine values for eight multiply-adds
    and took 1.55-1.66x as long on a block of 128 rows
    (``python -m bench.experiments.fused_softmax --parts``, two runs, 2026-11-30)."""
    m, d = X.shape
    K = gWT.shape[0]
    r = 0
    while r + 3 < m:
        x0, x1, x2, x3 = X[r], X[r + 1], X[r + 2], X[r + 3]
        k = 0
        while k + 4 < K:
            a0, a1, a2, a3 = dz[r, k], dz[r + 1, k], dz[r + 2, k], dz[r + 3, k]
            b0, b1, b2, b3 = dz[r, k + 1], dz[r + 1, k + 1], dz[r + 2, k + 1], dz[r + 3, k + 1]
            c0, c1, c2, c3 = dz[r, k + 2], dz[r + 1, k + 2], dz[r + 2, k + 2], dz[r + 3, k + 2]
            e0, e1, e2, e3 = dz[r, k + 3], dz[r + 1, k + 3], dz[r + 2, k + 3], dz[r + 3, k + 3]
            f0, f1, f2, f3 = dz[r, k + 4], dz[r + 1, k + 4], dz[r + 2, k + 4], dz[r + 3, k + 4]
            o0, o1, o2, o3, o4 = gWT[k], gWT[k + 1], gWT[k + 2], gWT[k + 3], gWT[k + 4]
            for j in range(d):
                u0, u1, u2, u3 = x0[j], x1[j], x2[j], x3[j]
                o0[j] += (a0 * u0 + a1 * u1) + (a2 * u2 + a3 * u3)
                o1[j] += (b0 * u0 + b1 * u1) + (b2 * u2 + b3 * u3)
                o2[j] += (c0 * u0 + c1 * u1) + (c2 * u2 + c3 * u3)
                o3[j] += (e0 * u0 + e1 * u1) + (e2 * u2 + e3 * u3)
                o4[j] += (f0 * u0 + f1 * u1) + (f2 * u2 + f3 * u3)
            k += 5
        while k < K:  # the classes left over, one at a time
            a0, a1, a2, a3 = dz[r, k], dz[r + 1, k], dz[r + 2, k], dz[r + 3, k]
            out = gWT[k]
            for j in range(d):
                out[j] += (a0 * x0[j] + a1 * x1[j]) + (a2 * x2[j] + a3 * x3[j])
            k += 1
        r += 4
    while r < m:  # the last rows, one at a time
        x = X[r]
        for k in range(K):
            g = dz[r, k]
            out = gWT[k]
            for j in range(d):
                out[j] += g * x[j]
        r += 1


@numba.njit(cache=True, nogil=True)
def _softmax_rows(
    z: np.ndarray, y: np.ndarray, b: np.ndarray, gb: np.ndarray, scale: float, c: float
) -> tuple[float, int]:
    """Row by row: the logits ``z * scale + b``, their loss and argmax, then ``z`` becomes
    ``dz * scale`` and ``gb += sum_i dz[i]`` (``dz = (softmax - onehot(y)) * c``).
    Returns the summed loss and the number of rows right."""
    m, K = z.shape
    s = z.dtype.type(scale)
    cc = z.dtype.type(c)
    loss = 0.0
    correct = 0
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
    return loss, correct


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
    _logits(X, WT, z)
    gb[:] = 0
    loss, correct = _softmax_rows(z, y, b, gb, scale, c)
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


@numba.njit(cache=True, nogil=True)
def _weights(flat: np.ndarray, layout: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Views of the packed parameters: ``WT`` (K, d), stored first, the bias (K,), and
    where the bias starts."""
    K = layout[0, 2]
    bo = layout[0, 3]
    return flat[: K * d].reshape((K, d)), flat[bo : bo + K], bo


@numba.njit(cache=True, nogil=True, parallel=True, boundscheck=False)
def softmax_block_gradients(
    X: np.ndarray,
    idx: np.ndarray,
    y: np.ndarray,
    flat: np.ndarray,
    layout: np.ndarray,
    offsets: np.ndarray,
    G: np.ndarray,
    work: np.ndarray,
    xbuf: np.ndarray,
    scale: float,
    c: float,
    stats: np.ndarray,
    plain: bool,
) -> tuple[float, int]:
    """Softmax regression's gradient on the rows ``X[idx]`` in row blocks, one block per
    thread, added up into ``G[0]``; with ``plain``, the step ``flat -= G[0] + G[1] + ...``
    instead. Returns the batch's summed loss and number right, or ``(0.0, -1)`` and no
    step if a label is not a class number. The arguments are those of
    :func:`gradlab.engines._numba_mlp.mlp_block_gradients` for one layer, whose weights
    are stored transposed, ``WT`` (K, d), at the start of ``flat`` (``layout[0, 0] == 0``)
    and the bias after them; ``work`` holds each block's ``ceil(m / B) * K`` logits.
    Each block gathers and casts its rows, then runs :func:`softmax_regression_gradient`'s
    three stages on them."""
    n_blocks = G.shape[0]
    m = idx.shape[0]
    d = X.shape[1]
    WT, b, bo = _weights(flat, layout, d)
    K = WT.shape[0]
    for p in numba.prange(n_blocks):
        r0, mr = block_rows(p, n_blocks, m)
        g = G[p]
        stats[p, 0] = 0.0
        if mr == 0:
            g[:] = 0
            stats[p, 1] = 0.0
        elif not labels_in_range(y, r0, mr, K):
            stats[p, 1] = -1.0
        else:
            x = xbuf[p, : mr * d].reshape((mr, d))
            gather(X, idx, r0, x)
            z = work[p, : mr * K].reshape((mr, K))
            _logits(x, WT, z)
            gb = g[bo : bo + K]
            gb[:] = 0
            block_loss, block_right = _softmax_rows(z, y[r0 : r0 + mr], b, gb, scale, c)
            gWT = g[: K * d].reshape((K, d))
            gWT[:] = 0
            _accumulate(x, z, gWT)
            stats[p, 0] = block_loss
            stats[p, 1] = block_right
    # the blocks' sum, on this thread: (d + 1) * K values, too few to repay a second
    # parallel region
    loss, correct = totals(stats)
    if correct >= 0:
        for ch in range((G.shape[1] + CHUNK - 1) // CHUNK):
            add_blocks(G, flat, ch, plain)
    return loss, correct


@numba.njit(cache=True, nogil=True, parallel=True, boundscheck=False)
def softmax_block_logits(
    X: np.ndarray,
    start: int,
    flat: np.ndarray,
    layout: np.ndarray,
    offsets: np.ndarray,
    work: np.ndarray,
    xbuf: np.ndarray,
    scale: float,
    out: np.ndarray,
) -> None:
    """The logits of rows ``start .. start + len(out)`` of ``X`` into ``out`` (r, K), in
    blocks as :func:`softmax_block_gradients` takes them (same arguments)."""
    n_blocks = work.shape[0]
    m = out.shape[0]
    d = X.shape[1]
    WT, b, _ = _weights(flat, layout, d)
    K = WT.shape[0]
    s = out.dtype.type(scale)
    for p in numba.prange(n_blocks):
        r0, mr = block_rows(p, n_blocks, m)
        if mr == 0:
            continue
        x = xbuf[p, : mr * d].reshape((mr, d))
        copy_rows(X, start + r0, x)
        z = out[r0 : r0 + mr]
        _logits(x, WT, z)
        for i in range(mr):
            for k in range(K):
                z[i, k] = z[i, k] * s + b[k]
