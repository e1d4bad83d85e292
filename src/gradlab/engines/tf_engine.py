"""The TensorFlow engine: gradients by ``tf.GradientTape``, steps compiled by ``tf.function``.

The tutorial built a TensorFlow 1 static graph with placeholders and a session;
``tf.function`` is its modern form: the Python step is traced once into a graph
and then run as one call per step.

Plain gradient descent (at any schedule's rates) runs whole in the graph, ``assign_sub``
included. Every other update rule takes the gradient from the tape (the graph returns it)
and steps with gradlab's own NumPy rule (:mod:`gradlab.optim.rules`, PyTorch's formulas),
then assigns the parameters back: ``tf.keras.optimizers`` differ in details (Keras's Adam
adds ``eps`` before correcting ``v`` for its start at zero, PyTorch after; its momentum
keeps the velocity in units of the rate), so they would not give the other engines'
numbers.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import numpy as np

from gradlab.engines import Problem, Trajectory
from gradlab.errors import UsageError
from gradlab.optim import Batch, Rule, Schedule
from gradlab.optim.rules import is_plain


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


def _gradient(
    X: tf.Tensor, y: tf.Tensor, w: tf.Variable, b: tf.Variable, kind: str, reduction: str
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The loss and its gradient, for a rule stepped outside the graph."""
    with tf.GradientTape() as tape:
        loss = _loss(X, y, w, b, kind, reduction)
    grad_w, grad_b = tape.gradient(loss, [w, b])
    return loss, grad_w, grad_b


def _gradient_on(
    X: tf.Tensor,
    y: tf.Tensor,
    idx: tf.Tensor,
    w: tf.Variable,
    b: tf.Variable,
    kind: str,
    reduction: str,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    return _gradient(tf.gather(X, idx), tf.gather(y, idx), w, b, kind, reduction)


# Traced once per (shapes, dtype, kind, reduction) for the whole process, not per fit: the
# variables are arguments, so a new model reuses the graph (67 ms of tracing saved a fit).
_full_step = tf.function(_descend, reduce_retracing=True)
_batch_step = tf.function(_descend_on, reduce_retracing=True)
_full_loss = tf.function(_loss, reduce_retracing=True)
_full_gradient = tf.function(_gradient, reduce_retracing=True)
_batch_gradient = tf.function(_gradient_on, reduce_retracing=True)


class TensorFlowEngine:
    """Parameters as ``tf.Variable``; each step is one call of a traced graph."""

    def __init__(
        self,
        problem: Problem,
        w0: np.ndarray,
        b0: float,
        *,
        dtype: str = "float64",
        rule: Rule | None = None,
        schedule: Schedule | None = None,
    ):
        if dtype not in DTYPES:
            raise UsageError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}.")
        self.dtype = DTYPES[dtype]
        self.kind = problem.kind
        self.reduction = problem.reduction
        self.X = tf.constant(problem.X, dtype=self.dtype)
        self.y = tf.constant(problem.y, dtype=self.dtype)
        self.w = tf.Variable(np.asarray(w0), dtype=self.dtype)
        self.b = tf.Variable(float(b0), dtype=self.dtype)
        # another rule steps [w, b] as one NumPy buffer of the engine's dtype
        self.rule = None if rule is None or is_plain(rule) else rule
        self.theta = np.append(np.asarray(w0), float(b0)).astype(dtype)
        self.grad = np.zeros_like(self.theta)
        self.state = self.rule.init([self.theta]) if self.rule is not None else None

    def step(self, batch: Batch, lr: float) -> float:
        if self.rule is not None:
            return self._rule_step(batch, lr)
        rate = tf.constant(lr, dtype=self.dtype)
        args = (self.w, self.b, rate, self.kind, self.reduction)
        if isinstance(batch, slice):
            return float(_full_step(self.X, self.y, *args))
        idx = tf.constant(batch, dtype=tf.int64)
        return float(_batch_step(self.X, self.y, idx, *args))

    def _rule_step(self, batch: Batch, lr: float) -> float:
        """The tape's gradient, then gradlab's rule on the NumPy copy, assigned back."""
        assert self.rule is not None
        assert self.state is not None
        args = (self.w, self.b, self.kind, self.reduction)
        if isinstance(batch, slice):
            loss, grad_w, grad_b = _full_gradient(self.X, self.y, *args)
        else:
            idx = tf.constant(batch, dtype=tf.int64)
            loss, grad_w, grad_b = _batch_gradient(self.X, self.y, idx, *args)
        self.grad[:-1] = grad_w.numpy()
        self.grad[-1] = grad_b.numpy()
        self.rule.step([self.theta], [self.grad], self.state, lr=lr)
        self.w.assign(self.theta[:-1])
        self.b.assign(self.theta[-1])
        return float(loss)

    def loss(self) -> float:
        return float(_full_loss(self.X, self.y, self.w, self.b, self.kind, self.reduction))

    def params(self) -> tuple[np.ndarray, float]:
        return np.array(self.w.numpy(), dtype=np.float64), float(self.b.numpy())

    def trajectory(self, lr: float, steps: int) -> Trajectory | None:
        """None: this engine's point is its framework's own gradient, taken step by step."""
        return None


def build(problem: Problem, w0: np.ndarray, b0: float, **options: object) -> TensorFlowEngine:
    """Make the TensorFlow engine; options: ``dtype``, and ``rule`` and ``schedule``."""
    return TensorFlowEngine(problem, w0, b0, **options)  # type: ignore[arg-type]
