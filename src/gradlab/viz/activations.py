"""The activations beside their derivatives, computed by :mod:`gradlab.ops`.

The forward passes are :func:`gradlab.ops.sigmoid` and :func:`gradlab.ops.relu`; the
derivatives come from their backward passes given ``dL/dout = 1``, the same code that
trains the models, so the picture shows what training uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gradlab.viz.save import new_figure

if TYPE_CHECKING:
    from gradlab.viz.figure import Figure

__all__ = ["activation_figure"]


def activation_figure(lo: float = -6.0, hi: float = 6.0) -> Figure:
    """Sigmoid (left) and ReLU (right), each drawn with its derivative.

    Parameters
    ----------
    lo, hi : float
        The range of ``z`` drawn, ``lo < hi``.

    Returns
    -------
    Figure
        Two axes; on each the function (solid) and its derivative (dashed), labelled
        with their formulas.
    """
    from gradlab.errors import UsageError
    from gradlab.ops import relu, relu_backward, sigmoid, sigmoid_backward

    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise UsageError(
            f"activation_figure: lo and hi must be finite with lo < hi; got {lo!r}, {hi!r}."
        )
    z = np.linspace(lo, hi, 601)
    ones = np.ones_like(z)
    p = sigmoid(z)
    h = relu(z)
    fig = new_figure(8.4, 3.8)
    left, right = fig.subplots(1, 2)
    left.plot(z, p, "-", color="#4477aa", lw=2, label="sigmoid(z) = 1 / (1 + exp(-z))")
    left.plot(z, sigmoid_backward(p, ones), "--", color="#ee7733", lw=2,
              label="sigmoid'(z) = sigmoid(z) (1 - sigmoid(z))")  # fmt: skip
    right.plot(z, h, "-", color="#4477aa", lw=2, label="relu(z) = max(z, 0)")
    # drawn as two pieces: the derivative jumps from 0 to 1 at z = 0
    neg, pos = z < 0, z > 0
    d = relu_backward(h, ones)
    right.plot(z[neg], d[neg], "--", color="#ee7733", lw=2, label="relu'(z) = 1 if z > 0 else 0")
    right.plot(z[pos], d[pos], "--", color="#ee7733", lw=2)
    for ax, name in ((left, "sigmoid"), (right, "ReLU")):
        ax.axhline(0, color="#999", lw=0.8)
        ax.axvline(0, color="#999", lw=0.8)
        ax.set_xlabel("z")
        ax.set_ylabel("value")
        ax.set_title(f"{name} and its derivative", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    return fig
