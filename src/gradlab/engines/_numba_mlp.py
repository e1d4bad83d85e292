"""The MLP's gradient in row blocks, one block per core (numba): the kernel behind
:meth:`gradlab.engines.numpy_mlp.NumpyMLP.step` for a network with hidden layers.

Importing this module imports numba (and SciPy's BLAS, which numba's ``np.dot`` calls);
:mod:`gradlab.engines.numpy_mlp` imports it only when a blocked step is asked for and
available (see :mod:`gradlab.optim.compiled`).

A batch of ``m`` rows is cut into ``B`` blocks of ``ceil(m / B)`` rows (the last may be
shorter or empty). Each block, on its own core, gathers and casts its rows, then runs the
forward and backward passes of :mod:`gradlab.engines.numpy_mlp` on them, with the same
operations per entry (for layers ``k = 1..L``, ``x`` the block's rows)::

    h_k   = relu(h_{k-1} @ W_k * s + b_k)         (s = scale for k = 1, else 1; no relu at L)
    dz    = (softmax(h_L) - onehot(y)) * c          (c = 1/m or lr/m: the whole batch's m)
    gW_k  = h_{k-1}.T @ dh_k,   gb_k = sum(dh_k)   (dh_L = dz; the first layer's dh is
    dh_{k-1} = (dh_k @ W_k.T) * (h_{k-1} > 0)        multiplied by s after its bias sum)

and writes its share of the gradient into its own row of ``G`` (B, P), laid out as the
packed parameters; then every thread adds up a range of the rows, in block order (for
plain SGD it subtracts their sum from the parameters at once). The products are
single-threaded BLAS calls (:mod:`gradlab.engines._numba_gemm`: MKL or OpenBLAS), the
element-wise work is fused
into one loop per layer (bias, scale and ReLU forward; mask, bias sum and scale
backward). So one step is ``B`` independent pieces of work with no hand-over between
them but the sum at the end, where NumPy's step makes one pass per operation and leaves
the second core to OpenBLAS's split of each product. At the benchmark's shapes
(784-200-200-10, batch 256) OpenBLAS ran a step's eight products 1.3x faster on two
threads than on one, and two 128-row blocks side by side 1.9x
(``python -m bench.experiments.blocked_mlp --gemms``, 2026-11-30).

The only reordering is the sums over the batch: block by block, then the blocks added
(and the bias sums row by row rather than by a matrix-vector product). The result is
NumPy's step within float rounding, and the same numbers for the same ``B`` whatever the
number of threads that run the blocks; ``tests/test_classifier.py`` bounds the
difference by the arithmetic of the sums, as for softmax regression's kernel.

The BLAS library must run single-threaded while the blocks run (else each block's
product starts BLAS threads of its own, and four threads fight over two cores: a step
took 10 ms instead of 1). :func:`gradlab.governor.training_threads` sees to it.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  numba's np.dot calls it; loaded now, so that threadpoolctl sees it

from gradlab.engines._numba_blocks import (
    CHUNK,
    add_blocks,
    block_rows,
    copy_rows,
    gather,
    labels_in_range,
    totals,
)
from gradlab.engines._numba_gemm import gemm, one_blas_thread

#: SHA-256 of the modules whose jitted helpers these kernels compile in
#: (``_numba_blocks.py``, ``_numba_gemm.py``). numba's cache keys a kernel by its own file's
#: contents only: this line changes with the helpers, so the cached kernels are
#: compiled again (``tests/test_numba_cache_keys.py`` checks it, naming the new value).
HELPERS_SHA256 = "065f371d0bd36513967f6aa69809161b5fdc5cede6f28aa2655c095d640a89a2"


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _forward(
    x: np.ndarray,
    flat: np.ndarray,
    layout: np.ndarray,
    work: np.ndarray,
    offsets: np.ndarray,
    scale: float,
) -> None:
    """Every layer's output for the rows ``x`` (mr, d) into ``work`` at ``offsets``."""
    mr = x.shape[0]
    n_layers = layout.shape[0]
    s = flat.dtype.type(scale)
    zero = flat.dtype.type(0)
    h = x
    for k in range(n_layers):
        wo, fi, fo, bo = layout[k, 0], layout[k, 1], layout[k, 2], layout[k, 3]
        W = flat[wo : wo + fi * fo].reshape((fi, fo))
        b = flat[bo : bo + fo]
        a = work[offsets[k] : offsets[k] + mr * fo].reshape((mr, fo))
        gemm(h, W, a)
        relu = k < n_layers - 1
        for i in range(mr):
            row = a[i]
            if k == 0 and s != 1:
                for j in range(fo):
                    v = row[j] * s + b[j]
                    row[j] = zero if relu and v < 0 else v
            else:
                for j in range(fo):
                    v = row[j] + b[j]
                    row[j] = zero if relu and v < 0 else v
        h = a


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _block_gradient(
    X: np.ndarray,
    idx: np.ndarray,
    y: np.ndarray,
    r0: int,
    mr: int,
    flat: np.ndarray,
    layout: np.ndarray,
    offsets: np.ndarray,
    g: np.ndarray,
    wk: np.ndarray,
    xrow: np.ndarray,
    scale: float,
    c: float,
) -> tuple[float, int]:
    """One block's share: rows ``idx[r0 : r0 + mr]``, gradient into ``g``, scratch in
    ``wk`` and ``xrow``; returns the block's summed loss and number right."""
    d = X.shape[1]
    n_layers = layout.shape[0]
    K = layout[n_layers - 1, 2]
    dt = flat.dtype.type
    cc = dt(c)
    s = dt(scale)
    zero = dt(0)
    x = xrow[: mr * d].reshape((mr, d))
    gather(X, idx, r0, x)
    _forward(x, flat, layout, wk, offsets, scale)
    # softmax and cross-entropy, in place: z becomes dz
    z = wk[offsets[n_layers - 1] : offsets[n_layers - 1] + mr * K].reshape((mr, K))
    bo_last = layout[n_layers - 1, 3]
    gb_last = g[bo_last : bo_last + K]
    gb_last[:] = 0
    loss = 0.0
    correct = 0
    for i in range(mr):
        row = z[i]
        t = y[r0 + i]
        best = 0
        for j in range(1, K):
            if row[j] > row[best]:
                best = j
        if best == t:
            correct += 1
        top = row[best]
        total = zero
        for j in range(K):
            row[j] = row[j] - top
        true = row[t]
        for j in range(K):
            row[j] = np.exp(row[j])
            total += row[j]
        loss += np.log(total) - true
        ratio = cc / total
        for j in range(K):
            row[j] *= ratio
        row[t] -= cc
        for j in range(K):
            gb_last[j] += row[j]
    grad = z
    for k in range(n_layers - 1, -1, -1):
        wo, fi, fo = layout[k, 0], layout[k, 1], layout[k, 2]
        h = x if k == 0 else wk[offsets[k - 1] : offsets[k - 1] + mr * fi].reshape((mr, fi))
        gW = g[wo : wo + fi * fo].reshape((fi, fo))
        gemm(h.T, grad, gW)
        if k == 0:
            break
        W = flat[wo : wo + fi * fo].reshape((fi, fo))
        back_at = offsets[n_layers + k - 1]
        back = wk[back_at : back_at + mr * fi].reshape((mr, fi))
        gemm(grad, W.T, back)
        # ReLU's mask, the bias gradient of layer k - 1, and the first layer's scale
        bo = layout[k - 1, 3]
        gb = g[bo : bo + fi]
        gb[:] = 0
        first = k == 1 and s != 1
        for i in range(mr):
            br = back[i]
            hr = h[i]
            for j in range(fi):
                v = br[j] if hr[j] > 0 else zero
                gb[j] += v
                br[j] = v * s if first else v
        grad = back
    return loss, correct


@numba.njit(cache=True, nogil=True, parallel=True, boundscheck=False)
def mlp_block_gradients(
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
    """The MLP's gradient on the rows ``X[idx]``, block by block, added up into ``G[0]``;
    with ``plain``, the step ``flat -= G[0] + G[1] + ...`` instead (plain SGD, the rate
    folded into ``c``), and ``G[0]`` keeps the first block's share. Returns the batch's
    summed loss and number of rows classified right, before the step; ``(0.0, -1)``,
    and no step, if a label is not a class number.

    Parameters
    ----------
    X : ndarray of shape (n, d), uint8 or float, C-contiguous
        The data; the batch is ``X[idx] * scale``.
    idx : ndarray of shape (m,), int64
        The batch's rows, each in ``[-n, n)``.
    y : ndarray of shape (m,), int64
        The batch's labels, each checked to be in ``[0, classes)`` by its block.
    flat : ndarray of shape (P,)
        The packed parameters.
    layout : ndarray of shape (L, 4), int64
        Per layer: where ``W_k`` starts in ``flat``, its fan-in, its fan-out, where ``b_k``
        starts.
    offsets : ndarray of shape (2L - 1,), int64
        Where, in a row of ``work``, each layer's output starts, then each hidden layer's
        gradient ``dh_k``; each has room for ``ceil(m / B) * width`` values.
    G : ndarray of shape (B, P)
        Each block's share of the gradient, laid out as ``flat``.
    work : ndarray of shape (B, W)
        Each block's activations and gradients.
    xbuf : ndarray of shape (B, ceil(m / B) * d)
        Each block's rows, cast.
    scale, c : float
        The input scale and what ``softmax - onehot`` is multiplied by.
    stats : ndarray of shape (B, 2), float64
        Each block's summed loss and number of rows classified right (-1: a bad label).
    plain : bool
        Take plain SGD's step rather than add the blocks up (see above).
    """
    n_blocks = G.shape[0]
    m = idx.shape[0]
    classes = layout[layout.shape[0] - 1, 2]
    for p in numba.prange(n_blocks):
        r0, mr = block_rows(p, n_blocks, m)
        stats[p, 0] = 0.0
        if mr == 0:
            G[p, :] = 0
            stats[p, 1] = 0.0
        elif not labels_in_range(y, r0, mr, classes):
            stats[p, 1] = -1.0
        else:
            one_blas_thread()
            block_loss, block_right = _block_gradient(
                X, idx, y, r0, mr, flat, layout, offsets, G[p], work[p], xbuf[p], scale, c
            )
            stats[p, 0] = block_loss
            stats[p, 1] = block_right
    loss, correct = totals(stats)
    if correct < 0:
        return loss, correct
    # the blocks' sum, in block order, chunk by chunk on every thread
    for ch in numba.prange((G.shape[1] + CHUNK - 1) // CHUNK):
        add_blocks(G, flat, ch, plain)
    return loss, correct


@numba.njit(cache=True, nogil=True, parallel=True, boundscheck=False)
def mlp_block_logits(
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
    blocks as :func:`mlp_block_gradients` takes them (same arguments)."""
    n_blocks = work.shape[0]
    m = out.shape[0]
    d = X.shape[1]
    n_layers = layout.shape[0]
    K = out.shape[1]
    for p in numba.prange(n_blocks):
        r0, mr = block_rows(p, n_blocks, m)
        if mr == 0:
            continue
        one_blas_thread()
        x = xbuf[p, : mr * d].reshape((mr, d))
        copy_rows(X, start + r0, x)
        wk = work[p]
        _forward(x, flat, layout, wk, offsets, scale)
        z = wk[offsets[n_layers - 1] : offsets[n_layers - 1] + mr * K].reshape((mr, K))
        out[r0 : r0 + mr] = z
