"""Adam's step as one compiled loop (numba): the kernel behind :mod:`gradlab.optim.compiled`.

Importing this module imports numba; :mod:`gradlab.optim.compiled` imports it only when a
compiled step is asked for. The loop does, element by element, the operations of
:meth:`gradlab.optim.rules.Adam.step` in the same order and the same precision (the
scalars come in the arrays' dtype, as NumPy casts a Python float against an array), so
each value is rounded where NumPy rounds it and the results are the same to the bit. It
reads the parameters, gradients and both moments once and writes them once, where the
NumPy version makes twelve passes over the buffers.

``error_model="numpy"`` lets a division by zero give inf or NaN as NumPy's does (the
default raises ``ZeroDivisionError``, and its check keeps LLVM from vectorising the loop);
``fastmath`` stays off, so nothing is reordered or fused into a multiply-add.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def adam_update(
    p: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    vmax: np.ndarray,
    b1: np.floating,
    one_minus_b1: np.floating,
    b2: np.floating,
    one_minus_b2: np.floating,
    a: np.floating,
    e: np.floating,
    wd: np.floating,
    shrink: np.floating,
    coupled: bool,
    decoupled: bool,
    amsgrad: bool,
) -> None:
    """One Adam step on 1-D arrays of one dtype, in place.

    Per element, in the reference's order (each line one rounding, as one NumPy pass)::

        p = p * shrink                    (decoupled: shrink = 1 - lr * weight_decay)
        g = p * wd + g                    (coupled weight decay)
        m = m * b1 + g * (1 - b1)
        v = v * b2 + (g * g) * (1 - b2)
        vmax = max(vmax, v); v = vmax     (amsgrad; NaN wins, as in np.maximum)
        p = p - (m / (sqrt(v) + e)) * a

    ``vmax`` is ignored without ``amsgrad`` (pass any array of the dtype).
    """
    for i in range(p.size):
        pi = p[i]
        if decoupled:
            pi = pi * shrink
        gi = g[i]
        if coupled:
            gi = pi * wd + gi
        mi = m[i] * b1 + gi * one_minus_b1
        m[i] = mi
        vi = v[i] * b2 + (gi * gi) * one_minus_b2
        v[i] = vi
        if amsgrad:
            top = vmax[i]
            if vi > top or vi != vi:
                top = vi
            vmax[i] = top
            vi = top
        p[i] = pi - (mi / (np.sqrt(vi) + e)) * a
