"""RMSProp's step as one compiled loop (numba): a kernel behind :mod:`gradlab.optim.compiled`.

As :mod:`gradlab.optim._numba_adam` does for Adam: the operations of
:meth:`gradlab.optim.rules.RMSprop.step`, element by element, in the same order and
precision (each line below one rounding, as one NumPy pass), so the results are the same
to the bit; ``error_model="numpy"`` and no fastmath, for the same reasons.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def rmsprop_update(
    p: np.ndarray,
    g: np.ndarray,
    sq: np.ndarray,
    ga: np.ndarray,
    buf: np.ndarray,
    alpha: np.floating,
    one_minus_alpha: np.floating,
    eps: np.floating,
    lr: np.floating,
    momentum: np.floating,
    wd: np.floating,
    coupled: bool,
    centered: bool,
    use_momentum: bool,
) -> None:
    """One RMSProp step on 1-D arrays of one dtype, in place.

    Per element, in the reference's order::

        g  = p * wd + g                          (weight decay)
        sq = sq * alpha + (g * g) * (1 - alpha)
        ga = ga * alpha + g * (1 - alpha)        (centered)
        d  = sqrt(sq - ga * ga)  or  sqrt(sq)    (centered or not)
        s  = g / (d + eps)
        buf = buf * momentum + s; s = buf * lr   (momentum)
        s  = s * lr                              (no momentum)
        p  = p - s

    ``ga`` and ``buf`` are ignored where their option is off (pass any array of the dtype).
    """
    for i in range(p.size):
        pi = p[i]
        gi = g[i]
        if coupled:
            gi = pi * wd + gi
        si = sq[i] * alpha + (gi * gi) * one_minus_alpha
        sq[i] = si
        if centered:
            ai = ga[i] * alpha + gi * one_minus_alpha
            ga[i] = ai
            d = np.sqrt(si - ai * ai)
        else:
            d = np.sqrt(si)
        s = gi / (d + eps)
        if use_momentum:
            bi = buf[i] * momentum + s
            buf[i] = bi
            s = bi * lr
        else:
            s = s * lr
        p[i] = pi - s
