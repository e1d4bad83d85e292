"""Starting weights of the classifiers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def init_params(sizes: Sequence[int], init: str, std: float, seed: int) -> dict[str, np.ndarray]:
    """Starting weights ``W1, b1, W2, b2, ...`` for layers of widths ``sizes``, float32.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``(784, 200, 200, 10)``.
    init : {"kaiming", "normal"}
        ``kaiming``: normal with std ``sqrt(2 / fan_in)`` (keeps the variance of ReLU
        activations from layer to layer); ``normal``: normal with std ``std``.
    std : float
        The standard deviation for ``init="normal"`` (the tutorial's 0.01).
    seed : int
        Seeds ``numpy.random.default_rng``.

    Returns
    -------
    dict of str to ndarray
        ``W_k`` of shape (sizes[k-1], sizes[k]); ``b_k`` of shape (sizes[k],), zero.
    """
    rng = np.random.default_rng(seed)
    params = {}
    for k in range(1, len(sizes)):
        fan_in, fan_out = sizes[k - 1], sizes[k]
        s = math.sqrt(2.0 / fan_in) if init == "kaiming" else std
        params[f"W{k}"] = rng.normal(0.0, s, size=(fan_in, fan_out)).astype(np.float32)
        params[f"b{k}"] = np.zeros(fan_out, np.float32)
    return params
