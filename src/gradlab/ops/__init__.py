"""The differentiable operations of the curriculum, each stated once with its gradient.

Every model in gradlab is built from these few operations. Each one's forward pass and
its hand-derived backward pass sit side by side (as in micrograd, and as scikit-learn
pairs each activation with its derivative), and ``tests/test_ops.py`` checks every
backward pass against PyTorch's autograd and against central differences.

- :mod:`gradlab.ops.activations`: sigmoid, ReLU, softmax and log-softmax.
- :mod:`gradlab.ops.losses`: squared error, binary cross-entropy and cross-entropy on
  logits, each returning the loss and its gradient with respect to its input.
- :mod:`gradlab.ops.linear`: the linear models' affine map ``X @ w + b`` and its backward
  pass, and the squared loss through its sufficient statistics (``X.T @ X``, ...).
- :mod:`gradlab.ops.network`: a ReLU network's cross-entropy and its gradient by
  backpropagation (:func:`mlp_cross_entropy`), composed of the above.

The engines' fast paths (the NumPy MLP's in-place step, the linear models' sufficient
statistics) are tested equal to plain compositions of these functions.
"""

from gradlab.ops.activations import (
    log_softmax,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
)
from gradlab.ops.linear import (
    SquaredStats,
    affine,
    affine_backward,
    mse_surface,
    squared_error_scale,
)
from gradlab.ops.losses import (
    Reduction,
    binary_cross_entropy,
    cross_entropy,
    squared_error,
)
from gradlab.ops.network import mlp_cross_entropy

__all__ = [
    "Reduction",
    "SquaredStats",
    "affine",
    "affine_backward",
    "binary_cross_entropy",
    "cross_entropy",
    "log_softmax",
    "mlp_cross_entropy",
    "mse_surface",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "squared_error",
    "squared_error_scale",
]
