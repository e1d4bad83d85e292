"""Keras 3 ``model.fit`` on the TensorFlow backend, as its documentation teaches it.

The images are converted once to float32 in [0, 1] (``X.astype("float32") / 255``, in
memory), the network is a ``keras.Sequential`` of ``Dense`` layers, and ``model.fit``
trains it with ``keras.optimizers.SGD`` (no momentum) on the sparse categorical
cross-entropy of the logits, with ``validation_data`` for the test accuracy after every
epoch. Keras shuffles the batches itself (``shuffle=True``, seeded).

Keras reads its backend once, when first imported: this module asks for TensorFlow
(``KERAS_BACKEND``) unless Keras is already loaded, and :class:`KerasFit` refuses to run
on another backend.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from typing import Any

import numpy as np

if "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    # TensorFlow first, as the engine imports it: without its C++ start-up log on stderr
    importlib.import_module("gradlab.engines.tf_engine")
keras: Any = importlib.import_module("keras")


def backend() -> str:
    """The backend Keras runs on in this process."""
    return str(keras.backend.backend())


class KerasFit:
    """A compiled Keras model of the given layer sizes, ready to ``fit`` from any start.

    The model is built and compiled once: a second :meth:`fit` reuses its traced and
    compiled training function (the warm time), only the weights are set again.

    Parameters
    ----------
    sizes : tuple of int
        Layer widths, e.g. ``(784, 200, 200, 10)``.
    batch_size : int
    lr : float

    Raises
    ------
    RuntimeError
        Keras was loaded earlier in this process with a backend other than TensorFlow.
    """

    name = "keras"

    def __init__(self, sizes: tuple[int, ...], *, batch_size: int, lr: float) -> None:
        if backend() != "tensorflow":
            raise RuntimeError(
                f"Keras runs on {backend()!r} in this process; the benchmark's Keras row "
                "is for the TensorFlow backend (set KERAS_BACKEND=tensorflow)."
            )
        layers = [keras.Input(shape=(sizes[0],))]
        layers += [keras.layers.Dense(s, activation="relu") for s in sizes[1:-1]]
        layers.append(keras.layers.Dense(sizes[-1]))
        self.model = keras.Sequential(layers)
        self.optimizer = keras.optimizers.SGD(learning_rate=lr)
        self.model.compile(
            optimizer=self.optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        self.batch_size = batch_size

    def fit(
        self,
        params: dict[str, np.ndarray],
        X: np.ndarray,
        y: np.ndarray,
        X_test: np.ndarray,
        y_test: np.ndarray,
        *,
        epochs: int,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Train from ``params`` (``W1, b1, ...``) on uint8 pixels ``X`` (n, d).

        Returns
        -------
        dict
            ``seconds`` (wall time from the uint8 arrays to the last epoch's test
            accuracy), per-epoch lists ``train_loss``, ``train_accuracy``,
            ``test_accuracy`` and ``epoch_seconds`` (the first includes the
            conversion of the arrays and, on a first call, the tracing).
        """
        layers = len(params) // 2
        self.model.set_weights(
            [params[f"{kind}{k}"] for k in range(1, layers + 1) for kind in ("W", "b")]
        )
        self.optimizer.iterations.assign(0)
        keras.utils.set_random_seed(seed)
        ticks: list[float] = []
        timer = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: ticks.append(time.perf_counter())
        )
        start = time.perf_counter()
        Xf = X.astype("float32") / 255
        Xtf = X_test.astype("float32") / 255
        hist = self.model.fit(
            Xf,
            y,
            batch_size=self.batch_size,
            epochs=epochs,
            validation_data=(Xtf, y_test),
            shuffle=True,
            verbose=0,
            callbacks=[timer],
        ).history
        seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "train_loss": [float(v) for v in hist["loss"]],
            "train_accuracy": [float(v) for v in hist["accuracy"]],
            "test_accuracy": [float(v) for v in hist["val_accuracy"]],
            "epoch_seconds": [float(v) for v in np.diff([start, *ticks])],
        }
