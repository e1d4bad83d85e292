"""A multilayer perceptron in NumPy with hand-derived backpropagation.

Softmax regression is the case with no hidden layer. For a batch ``X`` (m, d) with
labels ``y`` and layers ``h_0 = X``, ``h_k = relu(h_{k-1} @ W_k + b_k)``, logits
``z = h_{L-1} @ W_L + b_L``:

    loss  = mean_i( logsumexp(z_i) - z_i[y_i] )          (cross-entropy of softmax(z))
    dz    = (softmax(z) - onehot(y)) / m
    dW_k  = h_{k-1}.T @ dh_k,   db_k = sum(dh_k, axis=0)   (dh_L = dz)
    dh_{k-1} = (dh_k @ W_k.T) * (h_{k-1} > 0)     (ReLU passes the gradient where it was active)

The softmax subtracts each row's maximum before ``exp``, so logits of 1000 or more
do not overflow. All arrays are float32 and every step reuses preallocated
buffers, so a step is a handful of BLAS calls and no large allocation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from gradlab import ops

#: Float input buffers used in turn by :meth:`NumpyMLP.rows` (see there why several).
INPUT_BUFFERS = 4


def reference_gradients(
    params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """The mean cross-entropy of the network on ``(X, y)`` and its gradient, written plainly.

    The readable statement of what :meth:`NumpyMLP.step` computes in place, composed of
    :mod:`gradlab.ops` functions, forward then backward. With ``h_0 = X`` (m, d),
    ``L`` layers and ``k = 1 .. L``::

        z_k = h_{k-1} @ W_k + b_k          h_k = relu(z_k)   (k < L; z_L are the logits)
        loss = mean_i( logsumexp(z_L[i]) - z_L[i, y_i] )

        dz_L = (softmax(z_L) - onehot(y)) / m                 (ops.cross_entropy)
        dW_k = h_{k-1}.T @ dz_k       db_k = sum_i dz_k[i]
        dh_{k-1} = dz_k @ W_k.T       dz_{k-1} = dh_{k-1} * [h_{k-1} > 0]   (ops.relu_backward)

    Works in the dtype of its inputs (float64 for checks against autograd).

    Parameters
    ----------
    params : mapping
        ``W1`` (d, n_1), ``b1`` (n_1,), ..., ``WL`` (n_{L-1}, K), ``bL`` (K,).
    X : ndarray of shape (m, d)
    y : ndarray of shape (m,)
        Class numbers in ``0 .. K-1``.

    Returns
    -------
    loss : float
    grads : dict
        ``W1, b1, ...``: the gradient of ``loss`` with respect to each parameter.
    """
    n_layers = sum(1 for k in params if k.startswith("W"))
    hs = [X]
    for k in range(1, n_layers + 1):
        z = hs[-1] @ params[f"W{k}"] + params[f"b{k}"]
        hs.append(ops.relu(z) if k < n_layers else z)
    loss, dz = ops.cross_entropy(hs[-1], y)
    grads: dict[str, np.ndarray] = {}
    for k in range(n_layers, 0, -1):
        grads[f"W{k}"] = hs[k - 1].T @ dz
        grads[f"b{k}"] = dz.sum(axis=0)
        if k > 1:
            dz = ops.relu_backward(hs[k - 1], dz @ params[f"W{k}"].T)
    return loss, grads


def reference_step(
    params: Mapping[str, np.ndarray],
    velocity: Mapping[str, np.ndarray] | None,
    X: np.ndarray,
    y: np.ndarray,
    lr: float,
    momentum: float = 0.0,
) -> tuple[float, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One SGD step, as ``torch.optim.SGD`` takes it, on :func:`reference_gradients`.

    ``v <- momentum * v + g`` (``v = g`` on the first step, ``velocity=None``), then
    ``theta <- theta - lr * v``; without momentum ``theta <- theta - lr * g``.

    Returns
    -------
    loss : float
        The mean loss before the step.
    params, velocity : dict
        The new parameters and velocities (``vW1, vb1, ...``; empty without momentum).
    """
    loss, grads = reference_gradients(params, X, y)
    new: dict[str, np.ndarray] = {}
    vel: dict[str, np.ndarray] = {}
    for name, g in grads.items():
        if momentum:
            v = g if velocity is None else momentum * velocity[f"v{name}"] + g
            vel[f"v{name}"] = v
            g = v
        new[name] = params[name] - lr * g
    return loss, new, vel


class NumpyMLP:
    """Weights ``W_k`` (fan_in, fan_out) and biases ``b_k`` (fan_out,), float32.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``(784, 200, 200, 10)``; ``(784, 10)``
        is softmax regression.
    params : dict of str to ndarray
        Initial ``W1, b1, W2, b2, ...`` (see :func:`gradlab.models._init.init_params`).
    momentum : float
        SGD momentum (0 is plain SGD).
    velocity : dict of str to ndarray, optional
        Momentum buffers ``vW1, vb1, ...`` to continue from, in this engine's units (the
        step itself, ``lr * v`` in :func:`reference_step`'s terms), as
        :meth:`velocities` returns them. Without it they start at zero.
    """

    #: What :meth:`velocities` holds: the step, ``v <- momentum * v + lr * g``.
    VELOCITY_UNITS = "step"

    def __init__(
        self,
        sizes: Sequence[int],
        params: Mapping[str, np.ndarray],
        momentum: float = 0.0,
        velocity: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.sizes = tuple(sizes)
        self.n_layers = len(sizes) - 1
        self.W = [np.array(params[f"W{k}"], np.float32, order="C") for k in self._ks()]
        self.b = [np.array(params[f"b{k}"], np.float32, order="C") for k in self._ks()]
        self.momentum = float(momentum)
        self.vW = [np.zeros_like(w) for w in self.W] if momentum else []
        self.vb = [np.zeros_like(b) for b in self.b] if momentum else []
        if momentum and velocity:
            for k in self._ks():
                self.vW[k - 1][...] = velocity[f"vW{k}"]
                self.vb[k - 1][...] = velocity[f"vb{k}"]
        self.gW = [np.empty_like(w) for w in self.W]
        self.gb = [np.empty_like(b) for b in self.b]
        self._buffers: dict[int, list[np.ndarray]] = {}
        # per batch size: a uint8 gather buffer and INPUT_BUFFERS float32 buffers used in turn
        self._inputs: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}
        self._turn = 0
        # by batch size: dL/dh for each hidden layer; where each row of the logits starts
        # in their flat view (k * classes); ones for the bias gradients (see step)
        self._backs: dict[int, list[np.ndarray]] = {}
        self._starts: dict[int, np.ndarray] = {}
        self._ones: dict[int, np.ndarray] = {}

    def _ks(self) -> range:
        return range(1, self.n_layers + 1)

    def _acts(self, m: int) -> list[np.ndarray]:
        """Activation buffers for a batch of ``m`` rows (made once per batch size)."""
        if m not in self._buffers:
            self._buffers[m] = [np.empty((m, s), np.float32) for s in self.sizes[1:]]
            self._backs[m] = [np.empty((m, s), np.float32) for s in self.sizes[1:-1]]
            self._starts[m] = np.arange(m) * self.sizes[-1]
            self._ones[m] = np.ones(m, np.float32)
        return self._buffers[m]

    @staticmethod
    def input_scale(X: np.ndarray) -> float:
        """What the rows of ``X`` are multiplied by: 1/255 for uint8 pixels, else 1."""
        return 1 / 255 if X.dtype == np.uint8 else 1.0

    def rows(self, X: np.ndarray, idx: np.ndarray | slice) -> np.ndarray:
        """Rows ``idx`` of ``X`` as float32, in a reused buffer, *not yet scaled*.

        uint8 images stay uint8 in memory (a quarter of the bytes to gather) and are
        cast batch by batch, so no float copy of the data set is made. Their 1/255
        scale is applied to the first layer's product instead (``(x @ W) / 255``
        rather than ``(x / 255) @ W``): the same numbers, on 10-200 columns instead
        of 784 (see ``scale`` in :meth:`forward` and :meth:`step`).

        Float buffers take turns (:data:`INPUT_BUFFERS` of them). With two BLAS
        threads, a batch's buffer still sits in the other core's cache after the GEMMs
        have read it, and writing into it again costs a cross-core invalidation per
        cache line: measured at 57 us against 21 us for a 256 x 784 cast on the
        2-vCPU machine (a step of softmax regression is about 250 us). With four
        buffers (3.2 MB, more than a core's 2 MB L2) the lines have left the other
        core by the time a buffer comes round again: gather, cast and first product
        took 129 us a batch with two buffers and 106-112 us with four
        (``bench/experiments/input_buffers.py``).
        """
        if X.dtype != np.uint8:
            return np.ascontiguousarray(X[idx], dtype=np.float32)
        m = len(range(X.shape[0])[idx]) if isinstance(idx, slice) else idx.shape[0]
        if m not in self._inputs:
            self._inputs[m] = (
                np.empty((m, X.shape[1]), np.uint8),
                [np.empty((m, X.shape[1]), np.float32) for _ in range(INPUT_BUFFERS)],
            )
        raw, outs = self._inputs[m]
        self._turn = (self._turn + 1) % INPUT_BUFFERS
        out = outs[self._turn]
        if isinstance(idx, slice):
            out[...] = X[idx]
        else:
            # mode="wrap": the default "raise" writes through a temporary copy of `out`
            # (NumPy buffers it to check the indices). "wrap" reads -1 as the last row,
            # as indexing the labels with the same idx does; an index past the end is
            # refused there (IndexError), so a bad idx cannot pass unnoticed.
            np.take(X, idx, axis=0, out=raw, mode="wrap")
            out[...] = raw
        return out

    def forward(self, X: np.ndarray, scale: float = 1.0) -> list[np.ndarray]:
        """Activations of every layer for inputs ``scale * X``; the last is the logits.

        Shapes (m, size_k).
        """
        acts = self._acts(X.shape[0])
        h = X
        for k in range(self.n_layers):
            out = acts[k]
            np.matmul(h, self.W[k], out=out)
            if k == 0 and scale != 1.0:
                out *= np.float32(scale)
            out += self.b[k]
            if k < self.n_layers - 1:
                np.maximum(out, 0, out=out)
            h = out
        return acts

    def prepare(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The data as it is (uint8 pixels or float32 features) and int64 labels."""
        if X.dtype != np.uint8:
            X = np.ascontiguousarray(X, np.float32)
        return np.ascontiguousarray(X), np.ascontiguousarray(y, np.int64)

    def train_step(
        self, data: tuple[np.ndarray, np.ndarray], idx: np.ndarray, lr: float
    ) -> tuple[float, int]:
        """One SGD step on rows ``idx``; returns (sum of losses, number correct) before it."""
        X = data[0]
        return self.step(self.rows(X, idx), data[1][idx], lr, self.input_scale(X))

    def step(
        self, X: np.ndarray, y: np.ndarray, lr: float, scale: float = 1.0
    ) -> tuple[float, int]:
        """One SGD step on the float32 batch ``scale * X``; returns (sum of losses, number
        correct) before it.

        The learning rate is folded into the output gradient (``lr / m`` instead of
        ``1 / m``), so every gradient below is already ``lr * dL/dtheta`` and each
        update is one in-place subtraction. With momentum the velocity is kept in
        the same units, which is exact while the learning rate stays constant.
        """
        m = X.shape[0]
        acts = self.forward(X, scale)
        z = acts[-1]
        pred = z.argmax(axis=1)
        correct = int(np.count_nonzero(pred == y))
        # softmax in place: z becomes exp(z - max), then the gradient (p - onehot) * lr / m.
        # Flat indices read the row maxima (at the argmax) and the true-class entries
        # without another pass over z.
        flat, starts = z.reshape(-1), self._starts[m]
        at_true = starts + y
        z -= flat[starts + pred][:, None]
        z_true = flat[at_true]
        np.exp(z, out=z)
        sums = z.sum(axis=1)
        loss = float(np.log(sums).sum() - z_true.sum())  # sum of logsumexp(z) - z[y]
        z *= (np.float32(lr / m) / sums)[:, None]
        flat[at_true] -= np.float32(lr / m)
        grad = z
        backs = self._backs[m]
        ones = self._ones[m]
        for k in range(self.n_layers - 1, -1, -1):
            h_prev = X if k == 0 else acts[k - 1]
            # column sums as a matrix-vector product: a third of np.sum's time here
            np.matmul(ones, grad, out=self.gb[k])
            if k == 0 and scale != 1.0:
                # (scale * X).T @ grad, with the scale on the (m, size_1) factor, which
                # is 784 / m times smaller than the gradient (784, size_1)
                grad *= np.float32(scale)
            np.matmul(h_prev.T, grad, out=self.gW[k])
            if k > 0:
                back = np.matmul(grad, self.W[k].T, out=backs[k - 1])
                back *= h_prev > 0
                grad = back
        self._update()
        return loss, correct

    def _update(self) -> None:
        """``theta -= step`` with the lr-scaled gradients (or velocities)."""
        for k in range(self.n_layers):
            gW, gb = self.gW[k], self.gb[k]
            if self.momentum:
                self.vW[k] *= self.momentum
                self.vW[k] += gW
                self.vb[k] *= self.momentum
                self.vb[k] += gb
                gW, gb = self.vW[k], self.vb[k]
            self.W[k] -= gW
            self.b[k] -= gb

    def evaluate(self, data: tuple[np.ndarray, np.ndarray], batch: int = 2000) -> tuple[float, int]:
        """(sum of cross-entropy, number correct) over a prepared data set, in batches."""
        X, y = data
        scale = self.input_scale(X)
        total, correct = 0.0, 0
        for i in range(0, X.shape[0], batch):
            z = self.forward(self.rows(X, slice(i, i + batch)), scale)[-1]
            yb = y[i : i + batch]
            total -= float(ops.log_softmax(z)[np.arange(len(yb)), yb].sum())  # cross-entropy
            correct += int(np.count_nonzero(z.argmax(axis=1) == yb))
        return total, correct

    def logits(self, X: np.ndarray, batch: int = 2000) -> np.ndarray:
        """Logits for every row of ``X`` (uint8 pixels or float32), shape (n, classes)."""
        return np.concatenate(
            [
                self.forward(self.rows(X, slice(i, i + batch)), self.input_scale(X))[-1].copy()
                for i in range(0, X.shape[0], batch)
            ]
        )

    def velocities(self) -> dict[str, np.ndarray]:
        """Copies of the momentum buffers ``vW1, vb1, ...`` as kept (units
        :attr:`VELOCITY_UNITS`); empty without momentum."""
        out = {}
        for k in range(len(self.vW)):
            out[f"vW{k + 1}"] = self.vW[k].copy()
            out[f"vb{k + 1}"] = self.vb[k].copy()
        return out

    def state(self) -> dict[str, np.ndarray]:
        """The parameters as ``W1, b1, ...`` copies."""
        out = {}
        for k in range(self.n_layers):
            out[f"W{k + 1}"] = self.W[k].copy()
            out[f"b{k + 1}"] = self.b[k].copy()
        return out
