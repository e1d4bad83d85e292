"""Worst-case float error bounds of an MLP step, shared by the tests of its engines."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlab import ops

U32 = 2.0**-24  # unit roundoff of float32


def gamma(n: int, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u): the relative error bound of an n-term sum."""
    return n * u / (1 - n * u)


def step_error_bounds(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    lr: float,
    scale: float = 1.0,
    u: float = U32,
) -> tuple[dict[str, np.ndarray], float, np.ndarray]:
    """Worst-case bounds on how far one SGD step computed in floating point (unit roundoff
    ``u``, any summation order) can be from the exact step, to first order in ``u``.

    Propagated through the network with absolute values (Higham, ch. 3): a product
    ``a @ b`` of ``n`` terms is off by at most ``gamma_n |a| @ |b|`` plus the errors of its
    factors times the other's magnitude; a rounding adds ``u`` of the result's magnitude;
    ReLU passes errors unchanged but its mask may flip where ``|z|`` is within its error;
    softmax turns logit errors ``e`` into probability errors of at most ``2 max(e) p``.

    Returns
    -------
    bounds : dict
        For each ``W_k``/``b_k``: a bound on the error of ``lr * gradient`` (the step).
    loss_bound : float
        On the summed loss.
    ambiguous_rows : ndarray of bool
        Rows whose top two logits are within their errors (the argmax may differ).
    """
    n_layers = sum(1 for k in params if k.startswith("W"))
    W = [params[f"W{k}"].astype(np.float64) for k in range(1, n_layers + 1)]
    b = [params[f"b{k}"].astype(np.float64) for k in range(1, n_layers + 1)]
    Xd = X.astype(np.float64)
    hs, errs, zs = [Xd * scale], [np.zeros_like(Xd)], []
    for k in range(n_layers):
        n = W[k].shape[0]
        magnitude = np.abs(hs[k]) @ np.abs(W[k]) + np.abs(b[k])
        err = (gamma(n, u) + 2 * u) * magnitude + errs[k] @ np.abs(W[k])
        z = hs[k] @ W[k] + b[k]
        zs.append(z)
        hs.append(ops.relu(z) if k < n_layers - 1 else z)
        errs.append(err)
    z, ez = zs[-1], errs[-1]
    m, classes = z.shape
    p = ops.softmax(z)
    onehot = np.eye(classes)[y]
    c = lr / m
    dz = (p - onehot) * c
    row_err = ez.max(axis=1, keepdims=True)
    # exp, the row sum, the division, the product by c (itself rounded) and the subtraction
    edz = c * (2 * row_err * p + (gamma(classes, u) + 6 * u) * p) + u * np.abs(dz)
    bounds: dict[str, np.ndarray] = {}
    for k in range(n_layers, 0, -1):
        h, eh = hs[k - 1], errs[k - 1]
        bounds[f"W{k}"] = (
            gamma(m, u) * np.abs(h).T @ np.abs(dz) + eh.T @ np.abs(dz) + np.abs(h).T @ edz
        )
        bounds[f"b{k}"] = gamma(m, u) * np.abs(dz).sum(axis=0) + edz.sum(axis=0)
        if k > 1:
            back = dz @ W[k - 1].T
            eback = gamma(W[k - 1].shape[1], u) * (np.abs(dz) @ np.abs(W[k - 1]).T) + (
                edz @ np.abs(W[k - 1]).T
            )
            active = zs[k - 2] > 0
            unsure = np.abs(zs[k - 2]) <= errs[k - 1]
            edz = np.where(active, eback + u * np.abs(back), 0.0)
            edz = edz + np.where(unsure, np.abs(back) + eback, 0.0)
            dz = back * active
    lse = np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)
    z_true = z[np.arange(m), y]
    terms = np.abs(lse) + np.abs(z_true)
    loss_bound = float(
        (2 * row_err[:, 0] + (gamma(classes, u) + 4 * u) * terms).sum() + gamma(m, u) * terms.sum()
    )
    top2 = np.sort(z, axis=1)[:, -2:]
    ambiguous = (top2[:, 1] - top2[:, 0]) <= 2 * row_err[:, 0] if classes > 1 else np.zeros(m, bool)
    return bounds, loss_bound, ambiguous


# ------------------------------------------------------------------ backpropagation


def logits(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    n_layers = sum(1 for k in params if k.startswith("W"))
    h = X
    for k in range(1, n_layers + 1):
        h = h @ params[f"W{k}"] + params[f"b{k}"]
        h = ops.relu(h) if k < n_layers else h
    return h


def assert_step_within_bounds(
    net: Any,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    lr: float,
    loss_sum: float,
    correct: int,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Check one SGD step of ``net`` (from ``params``, on the batch ``X``, ``y`` at rate
    ``lr``, which returned ``loss_sum`` and ``correct``) against the float64 reference step
    within :func:`step_error_bounds`. Returns the reference's weights after the step and
    the scaled float64 inputs."""
    from gradlab.engines.numpy_mlp import reference_step

    scale = net.input_scale(X)
    m = X.shape[0]
    X64 = X.astype(np.float64) * scale
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    loss, new, _ = reference_step(p64, None, X64, y, lr)
    bounds, loss_bound, ambiguous = step_error_bounds(params, X, y, lr=lr, scale=scale)
    got = net.state()
    for name, ref in new.items():
        tol = bounds[name] + U32 * (np.abs(ref - p64[name]) + np.abs(ref))
        assert np.all(np.abs(got[name] - ref) <= tol * 1.001), name
    assert abs(loss_sum - loss * m) <= loss_bound * 1.001
    if not ambiguous.any():
        assert correct == int(np.count_nonzero(logits(p64, X64).argmax(axis=1) == y))
    return new, X64
