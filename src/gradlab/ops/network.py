"""A multilayer perceptron's loss and its gradient, composed plainly of the operations.

This is backpropagation written out once, for any number of layers, from
:func:`~gradlab.ops.relu`, :func:`~gradlab.ops.relu_backward` and
:func:`~gradlab.ops.cross_entropy`. The classifiers' training step
(``gradlab.engines.numpy_mlp``) computes the same numbers in place, in float32 and in
preallocated buffers; it is tested equal to this function, and this function is tested
against PyTorch's autograd (``tests/test_classifier.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gradlab.ops.activations import relu, relu_backward
from gradlab.ops.losses import cross_entropy

__all__ = ["mlp_cross_entropy"]


def mlp_cross_entropy(
    params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """The mean cross-entropy of a ReLU network on ``(X, y)``, and its gradient.

    With ``h_0 = X``, ``L`` layers (``L = 1`` is softmax regression) and ``k = 1 .. L``,
    the forward pass, then the backward pass::

        z_k = h_{k-1} @ W_k + b_k          h_k = relu(z_k)   (k < L; z_L are the logits)
        loss = mean_i( logsumexp(z_L[i]) - z_L[i, y_i] )

        dz_L = (softmax(z_L) - onehot(y)) / m                 (cross_entropy)
        dW_k = h_{k-1}.T @ dz_k       db_k = sum_i dz_k[i]
        dh_{k-1} = dz_k @ W_k.T       dz_{k-1} = dh_{k-1} * [h_{k-1} > 0]   (relu_backward)

    Every gradient has the shape of its parameter. The arithmetic runs in the dtype of
    the inputs (float64 for checks against autograd or central differences).

    Parameters
    ----------
    params : mapping of str to ndarray
        ``W1`` of shape (d, n_1), ``b1`` of shape (n_1,), ..., ``WL`` of shape
        (n_{L-1}, K), ``bL`` of shape (K,): the ``L`` layers' weights and biases, as
        a fitted ``MLPClassifier``'s ``params_`` names them.
    X : ndarray of shape (m, d)
        A batch of ``m`` inputs.
    y : ndarray of int of shape (m,)
        Their classes, in ``0 .. K-1``.

    Returns
    -------
    loss : float
        The mean cross-entropy of ``softmax(z_L)`` against ``y``.
    grads : dict of str to ndarray
        ``W1, b1, ..., WL, bL``: the gradient of ``loss`` with respect to each parameter,
        each of that parameter's shape.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> params = {"W1": rng.normal(size=(4, 8)), "b1": np.zeros(8),
    ...           "W2": rng.normal(size=(8, 3)), "b2": np.zeros(3)}
    >>> loss, grads = mlp_cross_entropy(params, rng.normal(size=(5, 4)), np.array([0, 1, 2, 0, 1]))
    >>> {name: g.shape for name, g in grads.items()}
    {'W2': (8, 3), 'b2': (3,), 'W1': (4, 8), 'b1': (8,)}
    """
    n_layers = sum(1 for k in params if k.startswith("W"))
    hs = [X]
    for k in range(1, n_layers + 1):
        z = hs[-1] @ params[f"W{k}"] + params[f"b{k}"]
        hs.append(relu(z) if k < n_layers else z)
    loss, dz = cross_entropy(hs[-1], y)
    grads: dict[str, np.ndarray] = {}
    for k in range(n_layers, 0, -1):
        grads[f"W{k}"] = hs[k - 1].T @ dz
        grads[f"b{k}"] = dz.sum(axis=0)
        if k > 1:
            dz = relu_backward(hs[k - 1], dz @ params[f"W{k}"].T)
    return loss, grads
