"""JAX, written the way an expert would: a whole epoch is one compiled function.

The data set lives on the device as uint8 (a quarter of the bytes of float32). Each
epoch is one call of a ``jax.jit``-compiled function that runs ``lax.scan`` over the
batches of the permutation; each scanned step gathers its 256 rows, casts them to
float32 and scales them by 1/255, computes the loss and its gradient with ``jax.grad``
and applies plain SGD, all inside the compiled program, so XLA fuses the elementwise
work around the products and Python is not involved between steps. A last, shorter
batch (60,000 is not a multiple of 256) is one more step in the same program. The
parameters' buffers are donated to each epoch, so the update is in place. The test
accuracy is a second compiled function, called after every epoch.

JAX is imported when this module is: import it only when JAX is installed
(:func:`gradlab.bench.peers.available`).
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import numpy as np

jax: Any = importlib.import_module("jax")
jnp: Any = importlib.import_module("jax.numpy")

Params = tuple[tuple[Any, Any], ...]


def _logits(params: Params, x: Any) -> Any:
    *hidden, (W, b) = params
    for Wk, bk in hidden:
        x = jax.nn.relu(x @ Wk + bk)
    return x @ W + b


def _loss(params: Params, x: Any, y: Any) -> tuple[Any, tuple[Any, Any]]:
    """Mean cross-entropy, with the batch's loss sum and number correct as aux outputs."""
    z = _logits(params, x)
    nll = jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]
    return nll.mean(), (nll.sum(), jnp.sum(z.argmax(axis=1) == y))


def _step(params: Params, X: Any, Y: Any, idx: Any, lr: Any) -> tuple[Params, tuple[Any, Any]]:
    x = X[idx].astype(jnp.float32) / 255.0  # the gather and the cast, inside the step
    grads, stats = jax.grad(_loss, has_aux=True)(params, x, Y[idx])
    return jax.tree.map(lambda p, g: p - lr * g, params, grads), stats


def _train_epoch(
    params: Params, X: Any, Y: Any, order: Any, lr: Any, batch: int
) -> tuple[Params, Any, Any]:
    """One epoch of SGD over the rows in ``order`` (a permutation), ``batch`` at a time.

    Returns the new parameters, the sum of the batch losses and the number of correct
    predictions (each before its batch's update, as gradlab reports them).
    """
    full = order.shape[0] // batch

    def body(p: Params, idx: Any) -> tuple[Params, tuple[Any, Any]]:
        return _step(p, X, Y, idx, lr)

    params, (losses, correct) = jax.lax.scan(
        body, params, order[: full * batch].reshape(full, batch)
    )
    loss_sum, n_correct = losses.sum(), correct.sum()
    if full * batch < order.shape[0]:  # the last, shorter batch (a static shape)
        params, (tail_loss, tail_correct) = _step(params, X, Y, order[full * batch :], lr)
        loss_sum, n_correct = loss_sum + tail_loss, n_correct + tail_correct
    return params, loss_sum, n_correct


def _test_correct(params: Params, X: Any, Y: Any) -> Any:
    """The number of rows of ``X`` (uint8 pixels) whose prediction is ``Y``."""
    z = _logits(params, X.astype(jnp.float32) / 255.0)
    return jnp.sum(z.argmax(axis=1) == Y)


#: One epoch, compiled: ``train_epoch(params, X, Y, order, lr, batch=...)``; the
#: parameters' buffers are donated (updated in place).
train_epoch: Any = jax.jit(_train_epoch, static_argnames="batch", donate_argnums=0)
#: The test pass, compiled: ``test_correct(params, X_test, Y_test)``.
test_correct: Any = jax.jit(_test_correct)


class JaxSGD:
    """A data set on the device and the compiled epoch, ready to train from any start.

    Parameters
    ----------
    X, X_test : ndarray of shape (n, d), uint8
        Pixels (flattened images).
    y, y_test : ndarray of shape (n,), integer
        Labels.
    batch_size : int
    lr : float
    """

    name = "jax"

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_test: np.ndarray,
        y_test: np.ndarray,
        *,
        batch_size: int,
        lr: float,
    ) -> None:
        self.X, self.Y = jax.device_put(X), jax.device_put(y.astype(np.int32))
        self.X_test, self.Y_test = jax.device_put(X_test), jax.device_put(y_test.astype(np.int32))
        self.n, self.n_test = X.shape[0], X_test.shape[0]
        self.batch_size = batch_size
        self.lr = np.float32(lr)

    def fit(self, params: dict[str, np.ndarray], *, epochs: int, seed: int = 0) -> dict[str, Any]:
        """Train from ``params`` (``W1, b1, ...``) for ``epochs`` epochs.

        The batches are gradlab's: epoch ``e`` visits ``default_rng([seed, e]).permutation(n)``.

        Returns
        -------
        dict
            ``seconds`` (wall time, compilation included on a first call), per-epoch
            lists ``train_loss``, ``train_accuracy``, ``test_accuracy`` and
            ``epoch_seconds`` (the test evaluation included), and ``params`` (the
            final weights, NumPy arrays).
        """
        start = time.perf_counter()
        layers = len(params) // 2
        p = tuple(
            (jnp.asarray(params[f"W{k}"]), jnp.asarray(params[f"b{k}"]))
            for k in range(1, layers + 1)
        )
        history: dict[str, list[float]] = {
            "train_loss": [],
            "train_accuracy": [],
            "test_accuracy": [],
            "epoch_seconds": [],
        }
        for epoch in range(1, epochs + 1):
            tick = time.perf_counter()
            order = np.random.default_rng([seed, epoch]).permutation(self.n).astype(np.int32)
            p, loss_sum, correct = train_epoch(p, self.X, self.Y, order, self.lr, self.batch_size)
            history["test_accuracy"].append(
                float(test_correct(p, self.X_test, self.Y_test)) / self.n_test
            )
            history["train_loss"].append(float(loss_sum) / self.n)
            history["train_accuracy"].append(float(correct) / self.n)
            history["epoch_seconds"].append(time.perf_counter() - tick)
        seconds = time.perf_counter() - start
        final = {}
        for k, (W, b) in enumerate(p, start=1):
            final[f"W{k}"], final[f"b{k}"] = np.asarray(W), np.asarray(b)
        return {"seconds": seconds, **history, "params": final}
