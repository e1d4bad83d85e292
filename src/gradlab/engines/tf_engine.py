"""The TensorFlow engine: gradients by ``tf.GradientTape``, steps compiled by ``tf.function``.

The tutorial built a TensorFlow 1 static graph with placeholders and a session;
``tf.function`` is its modern form: the Python step is traced once into a graph
and then run as one call per step.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import numpy as np

from gradlab.engines import Problem, Trajectory
from gradlab.errors import UsageError
from gradlab.optim import Batch


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null (TensorFlow's C++ start-up log ignores
    TF_CPP_MIN_LOG_LEVEL: absl prints before its logging is set up)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with _stderr_silenced():
    import tensorflow as tf

__all__ = ["TensorFlowEngine", "batch_loss", "build", "tf"]

DTYPES = {"float64": tf.float64, "float32": tf.float32}


def batch_loss(z: tf.Tensor, y: tf.Tensor, kind: str, reduction: str) -> tf.Tensor:
    """The loss of logits/predictions ``z`` against ``y``."""
    if kind == "squared":
        sq = tf.square(z - y)
        return tf.reduce_mean(sq) if reduction == "mean" else 0.5 * tf.reduce_sum(sq)
    per_point = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z)
    return tf.reduce_mean(per_point) if reduction == "mean" else tf.reduce_sum(per_point)


def _loss(
    X: tf.Tensor, y: tf.Tensor, w: tf.Variable, b: tf.Variable, kind: str, reduction: str
) -> tf.Tensor:
    return batch_loss(tf.linalg.matvec(X, w) + b, y, kind, reduction)


def _descend(
    X: tf.Tensor,
    y: tf.Tensor,
    w: tf.Variable,
    b: tf.Variable,
    lr: tf.Tensor,
    kind: str,
    reduction: str,
) -> tf.Tensor:
    """One step: the loss under a GradientTape, then ``w -= lr * dL/dw`` (and ``b``)."""
    with tf.GradientTape() as tape:
        loss = _loss(X, y, w, b, kind, reduction)
    grad_w, grad_b = tape.gradient(loss, [w, b])
    w.assign_sub(lr * grad_w)
    b.assign_sub(lr * grad_b)
    return loss


def _descend_on(
    X: tf.Tensor,
    y: tf.Tensor,
    idx: tf.Tensor,
    w: tf.Variable,
    b: tf.Variable,
    lr: tf.Tensor,
    kind: str,
    reduction: str,
) -> tf.Tensor:
    return _descend(tf.gather(X, idx), tf.gather(y, idx), w, b, lr, kind, reduction)


# Traced once per (shapes, dtype, kind, reduction) for the whole process, not per fit: the
# variables are arguments, so a new model reuses the graph (67 ms of tracing saved a fit).
_full_step = tf.function(_descend, reduce_retracing=True)
_batch_step = tf.function(_descend_on, reduce_retracing=True)
_full_loss = tf.function(_loss, reduce_retracing=True)


class TensorFlowEngine:
    """Parameters as ``tf.Variable``; each step is one call of a traced graph."""

    def __init__(self, problem: Problem, w0: np.ndarray, b0: float, *, dtype: str = "float64"):
        if dtype not in DTYPES:
            raise UsageError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}.")
        self.dtype = DTYPES[dtype]
        self.kind = problem.kind
        self.reduction = problem.reduction
        self.X = tf.constant(problem.X, dtype=self.dtype)
        self.y = tf.constant(problem.y, dtype=self.dtype)
        self.w = tf.Variable(np.asarray(w0), dtype=self.dtype)
        self.b = tf.Variable(float(b0), dtype=self.dtype)

    def step(self, batch: Batch, lr: float) -> float:
        rate = tf.constant(lr, dtype=self.dtype)
        args = (self.w, self.b, rate, self.kind, self.reduction)
        if isinstance(batch, slice):
            return float(_full_step(self.X, self.y, *args))
        idx = tf.constant(batch, dtype=tf.int64)
        return float(_batch_step(self.X, self.y, idx, *args))

    def loss(self) -> float:
        return float(_full_loss(self.X, self.y, self.w, self.b, self.kind, self.reduction))

    def params(self) -> tuple[np.ndarray, float]:
        return np.array(self.w.numpy(), dtype=np.float64), float(self.b.numpy())

    def trajectory(self, lr: float, steps: int) -> Trajectory | None:
        """None: this engine's point is its framework's own gradient, taken step by step."""
        return None


def build(problem: Problem, w0: np.ndarray, b0: float, **options: object) -> TensorFlowEngine:
    """Make the TensorFlow engine; option: ``dtype``."""
    return TensorFlowEngine(problem, w0, b0, **options)  # type: ignore[arg-type]
