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
buffers, so a step is a handful of BLAS calls and no large allocation; the update is
a gradlab rule (:mod:`gradlab.optim.rules`) on the packed parameters.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradlab import ops
from gradlab.engines.cpu_cache import this_machines_l2
from gradlab.engines.optstate import SavedOptimizer, param_names
from gradlab.optim.compiled import cached_here, compiled_kernel, compiled_step, fallback_warning
from gradlab.optim.rules import SGD, Rule, pack

#: Softmax regression's compiled kernels (module, function): its gradient, its logits.
FUSED_KERNELS = (
    ("gradlab.engines._numba_softmax", "softmax_regression_gradient"),
    ("gradlab.engines._numba_softmax", "softmax_regression_logits"),
)

#: The blocked kernels (module, function), the gradient's and the logits', for the MLP
#: (``True``: hidden layers) and for softmax regression (``False``).
BLOCKED_KERNELS = {
    True: (
        ("gradlab.engines._numba_mlp", "mlp_block_gradients"),
        ("gradlab.engines._numba_mlp", "mlp_block_logits"),
    ),
    False: (
        ("gradlab.engines._numba_softmax", "softmax_block_gradients"),
        ("gradlab.engines._numba_softmax", "softmax_block_logits"),
    ),
}

#: The most row blocks a step is cut into (one per core, up to this many).
MAX_BLOCKS = 8


def _never() -> bool:
    return False


def block_count(cpus: int | None = None) -> int:
    """Row blocks for the MLP's blocked step on this machine: one per CPU this process may
    use (``cpus``, by default :func:`gradlab.distributed.usable_cpus`), at most
    :data:`MAX_BLOCKS`; 0 on one CPU, where NumPy's passes are as fast.

    It depends on the machine, not on how busy it is, so that a fit repeats its numbers
    on the same machine whatever the load (the load decides how many blocks run at once).
    """
    if cpus is None:
        from gradlab.distributed import usable_cpus

        cpus = usable_cpus()
    return min(cpus, MAX_BLOCKS) if cpus > 1 else 0


#: Float input buffers used in turn by :meth:`NumpyMLP.rows` when one batch's buffer
#: does not fit in half of a core's L2 cache, or the cache is unknown (see there why).
INPUT_BUFFERS = 4


def input_buffers(nbytes: int, l2_bytes: int | None) -> int:
    """How many float buffers of ``nbytes`` each :meth:`NumpyMLP.rows` takes turns with.

    One when it fits in half of the L2 cache (``l2_bytes``), so that the cast writes
    into lines the core still holds; :data:`INPUT_BUFFERS` otherwise.
    """
    if l2_bytes is not None and 2 * nbytes <= l2_bytes:
        return 1
    return INPUT_BUFFERS


#: Rows per batch of :meth:`NumpyMLP.evaluate`, by whether the network has hidden layers.
#: Softmax regression: small enough that the batch, cast to floats (800 KB for 256
#: MNIST rows as float32), is still in the core's L2 cache when the product reads it;
#: its evaluation of 10,000 test images took 5.6-5.8 ms in batches of 256 against
#: 9.1 ms in batches of 2000, whose 6.3 MB buffer goes out to memory and back. The MLP's
#: wide products gain from tall batches instead: 25.2-25.4 ms at 2000 rows, 26.4-26.9 ms
#: at 256 (``python -m bench.experiments.evaluation_batch [--model mlp]``, 2026-11-30).
EVALUATION_ROWS = {False: 256, True: 2000}


#: The plain statement of what :meth:`NumpyMLP.step` computes in place: the mean
#: cross-entropy and its gradient, composed of :mod:`gradlab.ops` functions
#: (:func:`gradlab.ops.mlp_cross_entropy`); the step is tested equal to it.
reference_gradients = ops.mlp_cross_entropy


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
    """Weights ``W_k`` (fan_in, fan_out) and biases ``b_k`` (fan_out,), float32, updated by a
    gradlab update rule.

    The parameters live in one contiguous buffer (:attr:`flat`) and ``W_k``, ``b_k`` are
    views of it; the gradients likewise live in :attr:`grad_flat`, and the products write
    straight into their views. The rule (:mod:`gradlab.optim.rules`) then updates all the
    parameters in one NumPy call per operation of its formula, however many layers there
    are (``rule.step([flat], [grad_flat], state)``; every rule acts element by element,
    so this is exactly the update of the separate arrays).

    SGD without weight decay runs with the rate *folded* into the gradient (the output
    gradient is scaled by ``lr / m`` instead of ``1 / m``, and the rule steps with rate 1):
    one pass fewer, and for plain SGD the update ``theta -= lr * g`` in a single
    subtraction. With momentum the buffers are then kept in step units (``lr * buffer``
    in PyTorch's terms), which is exact only while the rate stays constant, so a caller
    with a changing rate and momentum passes ``fold=False``.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``(784, 200, 200, 10)``; ``(784, 10)``
        is softmax regression.
    params : dict of str to ndarray
        Initial ``W1, b1, W2, b2, ...`` (see :func:`gradlab.models._init.init_params`).
    momentum : float
        Without ``rule``: SGD with this momentum (0 is plain SGD), rate folded in.
    velocity : dict of str to ndarray, optional
        Without ``rule``: momentum buffers ``vW1, vb1, ...`` to continue from, in step
        units (``lr * v`` in :func:`reference_step`'s terms).
    rule : Rule, optional
        The update rule (its own ``lr`` is not used: every step is given its rate).
    saved : SavedOptimizer, optional
        The rule's state to continue from, in this engine's :attr:`units`.
    fold : bool, optional
        Fold the rate into the gradient; by default for SGD without weight decay and
        without momentum (with ``rule``), always without ``rule``.
    dtype : numpy dtype, default float32
        float64 for checks against other engines in double precision.
    compiled : bool, default True
        Update with the rule's compiled step where there is one
        (:func:`gradlab.optim.compiled.compiled_step`: Adam, AdamW and RMSProp, with numba
        installed): the same numbers in one pass instead of one per operation. False
        always updates with ``rule.step``.
    fused : bool, optional
        Softmax regression only (no hidden layer): compute the gradient with one compiled
        call (:mod:`gradlab.engines._numba_softmax`) instead of NumPy's passes; the same
        numbers within float rounding. By default wherever ``compiled`` is on and numba
        is installed. The weights are then stored transposed, (classes, d), so that each
        class's weights are contiguous; ``W1`` is still seen as (d, classes).
    blocks : int, default 0
        Compute each step's gradient in this many blocks of the batch's rows, each block
        on its own core, in one compiled call (:mod:`gradlab.engines._numba_mlp`, or
        :mod:`gradlab.engines._numba_softmax` without hidden layers, where it replaces
        ``fused``) instead of NumPy's passes; the same numbers within float rounding,
        whatever the number of threads that run the blocks. 0 or 1: NumPy's passes (or
        ``fused``). Needs ``compiled`` and numba. The BLAS library must then run on one
        thread, and :attr:`thread_pool` sets how many blocks run at once
        (:func:`gradlab.governor.training_threads` does both).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        params: Mapping[str, np.ndarray],
        momentum: float = 0.0,
        velocity: Mapping[str, np.ndarray] | None = None,
        *,
        rule: Rule | None = None,
        saved: SavedOptimizer | None = None,
        fold: bool | None = None,
        dtype: Any = np.float32,
        compiled: bool = True,
        fused: bool | None = None,
        blocks: int = 0,
    ) -> None:
        self.sizes = tuple(sizes)
        self.n_layers = len(sizes) - 1
        self.dtype = np.dtype(dtype)
        self.names = param_names(self.n_layers)
        #: Softmax regression's compiled gradient and logits, or None (see ``fused``).
        self._fused: Any = None
        self._fused_logits: Any = None
        #: What the kernels' warnings call this network.
        self._what = "the MLP" if self.n_layers > 1 else "softmax regression"
        #: The blocked gradient and logits, or None (see ``blocks``).
        self._blocked: Any = None
        self._blocked_logits: Any = None
        #: Sets how many blocks run at once (numba's threads) and returns the count it
        #: replaced; None without blocks (see :meth:`_threads`).
        self.thread_pool: Any = None
        self._numba_threads: Callable[[int], int] | None = None
        #: Whether this process may not run them (a fork; set with the kernels).
        self._forked_from_openmp: Callable[[], bool] = _never
        if blocks > 1 and compiled:
            kernels = [compiled_kernel(*k, self._what) for k in BLOCKED_KERNELS[self.n_layers > 1]]
            if all(k is not None for k in kernels):
                self._blocked, self._blocked_logits = kernels
                from gradlab.engines._numba_blocks import forked_from_openmp, thread_setter

                self._numba_threads = thread_setter(blocks)
                self.thread_pool = self._threads
                self._forked_from_openmp = forked_from_openmp
                self._cannot_run_blocks()  # in such a fork: NumPy's passes from the start
        if self._blocked is None and self.n_layers == 1 and (compiled if fused is None else fused):
            gradient, logits = FUSED_KERNELS
            self._fused = compiled_kernel(*gradient, "softmax regression")
            if self._fused is not None:
                self._fused_logits = compiled_kernel(*logits, "softmax regression")
        #: Row blocks of a step's gradient (1: NumPy's passes, the whole batch at once).
        self.blocks = blocks if self._blocked is not None else 1
        #: Names of the parameters stored transposed in the packed buffers: softmax
        #: regression's kernels keep each class's weights contiguous.
        kernel = self._fused is not None or self._blocked is not None
        self._transposed = {"W1"} if self.n_layers == 1 and kernel else set()
        stored = [np.asarray(params[name], self.dtype) for name in self.names]
        stored = [
            a.T if n in self._transposed else a for n, a in zip(self.names, stored, strict=True)
        ]
        self.flat, views = pack(stored, self.dtype)
        # each block's share of the gradient, laid out as ``flat``; the first row is
        # the gradient (the blocks are added into it)
        self._G = np.zeros((self.blocks, self.flat.size), self.dtype)
        self.grad_flat = self._G[0]
        grad_views, start = [], 0
        for v in views:
            grad_views.append(self.grad_flat[start : start + v.size].reshape(v.shape))
            start += v.size
        #: Per layer: where W_k starts in ``flat``, fan-in, fan-out, where b_k starts.
        layout, at = [], 0
        for fan_in, fan_out in itertools.pairwise(self.sizes):
            layout.append([at, fan_in, fan_out, at + fan_in * fan_out])
            at += fan_in * fan_out + fan_out
        self._layout = np.array(layout, np.int64)
        #: The kernel's own views: W1 as stored, (classes, d).
        self._WT, self._gWT = views[0], grad_views[0]
        views = [self._logical(n, v) for n, v in zip(self.names, views, strict=True)]
        grad_views = [self._logical(n, v) for n, v in zip(self.names, grad_views, strict=True)]
        self.views = dict(zip(self.names, views, strict=True))
        self.W = views[0::2]
        self.b = views[1::2]
        self.gW = grad_views[0::2]
        self.gb = grad_views[1::2]
        if rule is None:
            rule = SGD(lr=1.0, momentum=float(momentum))
            fold = True if fold is None else fold
        self.rule = rule
        plain_sgd = isinstance(rule, SGD) and not rule.weight_decay
        if fold is None:
            fold = plain_sgd and not getattr(rule, "momentum", 0.0)
        if fold and not plain_sgd:
            raise ValueError(f"the rate folds only into SGD without weight decay, not {rule}")
        self.fold = bool(fold)
        self.units = "step" if self.fold and rule.slot_names() else "gradient"
        #: Plain SGD with the rate folded in: the update is one subtraction.
        self._plain = self.fold and not rule.slot_names()
        self._params, self._grads = [self.flat], [self.grad_flat]
        #: The update: ``rule.step``, or its compiled equal (one loop over the buffers).
        fast = compiled_step(rule) if compiled else None
        self._rule_step = fast or rule.step
        #: Whether the update is a compiled step.
        self.compiled = fast is not None
        #: The rate of the last step (what step-unit momentum buffers are scaled by).
        self.last_lr: float | None = None
        self.opt_state = rule.init(self._params)
        if saved is not None:
            self.load_optimizer_state(saved)
        elif velocity:
            buffers = {f"momentum_buffer/{name}": velocity[f"v{name}"] for name in self.names}
            self.load_optimizer_state(SavedOptimizer(rule.config(), 1, buffers, "step"))
        self._buffers: dict[int, list[np.ndarray]] = {}
        # per batch size: a uint8 gather buffer and the float buffers used in turn (see rows)
        self._inputs: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}
        self._turn = 0
        # by batch size: dL/dh for each hidden layer; where each row of the logits starts
        # in their flat view (k * classes); ones for the bias gradients (see step)
        self._backs: dict[int, list[np.ndarray]] = {}
        self._starts: dict[int, np.ndarray] = {}
        self._ones: dict[int, np.ndarray] = {}
        # by batch size: the blocked kernels' work, input and stats buffers and offsets
        self._block_bufs: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._aranges: dict[int, np.ndarray] = {}

    def _logical(self, name: str, stored: np.ndarray) -> np.ndarray:
        """The parameter ``name`` as the model sees it, from its view in a packed buffer."""
        return stored.T if name in self._transposed else stored

    def _ks(self) -> range:
        return range(1, self.n_layers + 1)

    def _acts(self, m: int) -> list[np.ndarray]:
        """Activation buffers for a batch of ``m`` rows (made once per batch size)."""
        if m not in self._buffers:
            dt = self.dtype
            self._buffers[m] = [np.empty((m, s), dt) for s in self.sizes[1:]]
            self._backs[m] = [np.empty((m, s), dt) for s in self.sizes[1:-1]]
            self._starts[m] = np.arange(m) * self.sizes[-1]
            self._ones[m] = np.ones(m, dt)
        return self._buffers[m]

    @staticmethod
    def input_scale(X: np.ndarray) -> float:
        """What the rows of ``X`` are multiplied by: 1/255 for uint8 pixels, else 1."""
        return 1 / 255 if X.dtype == np.uint8 else 1.0

    def rows(self, X: np.ndarray, idx: np.ndarray | slice) -> np.ndarray:
        """Rows ``idx`` of ``X`` as floats, in a reused buffer, *not yet scaled*.

        uint8 images stay uint8 in memory (a quarter of the bytes to gather) and are
        cast batch by batch, so no float copy of the data set is made. Their 1/255
        scale is applied to the first layer's product instead (``(x @ W) / 255``
        rather than ``(x / 255) @ W``): the same numbers, on 10-200 columns instead
        of 784 (see ``scale`` in :meth:`forward` and :meth:`step`).

        How many float buffers take turns depends on the core's L2 cache
        (:func:`input_buffers`). Where a batch's buffer fits in half of it (an Intel
        Xeon with 2 MB per core, 800 KB for 256 rows of 784), one buffer is rewritten
        in place, still in the core's cache: gather, cast and first product took
        130-152 us a batch with one buffer against 173-179 us with four in turn, and
        the softmax-regression fit 0.91x the time on one or two BLAS threads
        (``bench/experiments/engine_ab.py``). Where it does not
        (an AMD EPYC with at most 1 MB of L2 per core), four buffers
        take turns: with two BLAS threads, the buffer just read still sits in the other
        core's cache, and writing it again costs a cross-core invalidation per line;
        measured there at 57 us against 21 us for the cast, and gather, cast and first
        product took 129 us a batch with two buffers and 106-112 us with four.
        ``bench/experiments/input_buffers.py`` measures both.
        """
        if X.dtype != np.uint8:
            return np.ascontiguousarray(X[idx], dtype=self.dtype)
        m = len(range(X.shape[0])[idx]) if isinstance(idx, slice) else idx.shape[0]
        if m not in self._inputs:
            n_bufs = input_buffers(m * X.shape[1] * self.dtype.itemsize, this_machines_l2())
            self._inputs[m] = (
                np.empty((m, X.shape[1]), np.uint8),
                [np.empty((m, X.shape[1]), self.dtype) for _ in range(n_bufs)],
            )
        raw, outs = self._inputs[m]
        self._turn = (self._turn + 1) % len(outs)
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
        if self._fused_logits is not None and X.dtype == self.dtype and X.flags.c_contiguous:
            try:
                self._fused_logits(X, self._WT, self.b[0], acts[0], scale)
                return acts
            except Exception as exc:  # as in _fused_gradient
                self._drop_fused(exc)
        h = X
        for k in range(self.n_layers):
            out = acts[k]
            np.matmul(h, self.W[k], out=out)
            if k == 0 and scale != 1.0:
                out *= self.dtype.type(scale)
            out += self.b[k]
            if k < self.n_layers - 1:
                np.maximum(out, 0, out=out)
            h = out
        return acts

    def prepare(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The data as it is (uint8 pixels or float features) and int64 labels."""
        if X.dtype != np.uint8:
            X = np.ascontiguousarray(X, self.dtype)
        return np.ascontiguousarray(X), np.ascontiguousarray(y, np.int64)

    def train_step(
        self, data: tuple[np.ndarray, np.ndarray], idx: np.ndarray, lr: float
    ) -> tuple[float, int]:
        """One update on rows ``idx`` at rate ``lr``; returns (sum of losses, number
        correct) before it."""
        X = data[0]
        y = data[1][idx]
        if self._blocked is not None:
            got = self._blocked_step(X, idx, y, lr, self.input_scale(X))
            if got is not None:
                return got
        return self.step(self.rows(X, idx), y, lr, self.input_scale(X))

    def step(
        self, X: np.ndarray, y: np.ndarray, lr: float, scale: float = 1.0
    ) -> tuple[float, int]:
        """One update on the batch ``scale * X``; returns (sum of losses, number correct)
        before it.

        The gradient of the mean loss lands in :attr:`grad_flat`, multiplied by ``lr``
        when the rate is folded in (:attr:`fold`): the output gradient is scaled by
        ``lr / m`` rather than ``1 / m``, which costs nothing, and every gradient below
        inherits the factor.
        """
        m = X.shape[0]
        if self._fused is not None and X.dtype == self.dtype and X.flags.c_contiguous:
            got = self._fused_gradient(X, y, lr, scale)
            if got is not None:
                self._update(lr)
                return got
        if self._blocked is not None:
            if m not in self._aranges:
                self._aranges[m] = np.arange(m)
            got = self._blocked_step(X, self._aranges[m], y, lr, scale)
            if got is not None:
                return got
        acts = self.forward(X, scale)
        z = acts[-1]
        pred = z.argmax(axis=1)
        correct = int(np.count_nonzero(pred == y))
        # softmax in place: z becomes exp(z - max), then the gradient (p - onehot) * c with
        # c = lr / m (folded) or 1 / m. Flat indices read the row maxima (at the argmax)
        # and the true-class entries without another pass over z.
        flat, starts = z.reshape(-1), self._starts[m]
        at_true = starts + y
        z -= flat[starts + pred][:, None]
        z_true = flat[at_true]
        np.exp(z, out=z)
        sums = z.sum(axis=1)
        loss = float(np.log(sums).sum() - z_true.sum())  # sum of logsumexp(z) - z[y]
        c = self.dtype.type((lr if self.fold else 1.0) / m)
        z *= (c / sums)[:, None]
        flat[at_true] -= c
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
                grad *= self.dtype.type(scale)
            np.matmul(h_prev.T, grad, out=self.gW[k])
            if k > 0:
                back = np.matmul(grad, self.W[k].T, out=backs[k - 1])
                back *= h_prev > 0
                grad = back
        self._update(lr)
        return loss, correct

    def _fused_gradient(
        self, X: np.ndarray, y: np.ndarray, lr: float, scale: float
    ) -> tuple[float, int] | None:
        """:meth:`step`'s gradient for softmax regression, by the compiled kernel; None
        if the kernel cannot be compiled for these arrays (then never again)."""
        m = X.shape[0]
        z = self._acts(m)[-1]
        c = (lr if self.fold else 1.0) / m
        y = y if y.dtype == np.int64 and y.flags.c_contiguous else np.ascontiguousarray(y, np.int64)
        try:
            loss, correct = self._fused(
                X, y, self._WT, self.b[0], self._gWT, self.gb[0], z, c, scale
            )
        except IndexError:  # a label out of range, as the NumPy passes report it
            raise
        except Exception as exc:  # numba's typing and lowering errors, before it runs
            self._drop_fused(exc)
            return None
        return float(loss), int(correct)

    def _block_buffers(
        self, m: int, d: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The blocked kernels' buffers for batches of ``m`` rows of ``d`` values: work
        (blocks, ...), inputs (blocks, rows * d), offsets into a work row, stats."""
        if m not in self._block_bufs:
            rows = -(-m // self.blocks)
            widths = [*self.sizes[1:], *self.sizes[1:-1]]
            offsets = np.cumsum([0] + [rows * w for w in widths]).astype(np.int64)
            self._block_bufs[m] = (
                np.empty((self.blocks, int(offsets[-1])), self.dtype),
                np.empty((self.blocks, rows * d), self.dtype),
                offsets[:-1].copy(),
                np.zeros((self.blocks, 2)),
            )
        return self._block_bufs[m]

    def _usable_by_blocks(self, X: np.ndarray) -> bool:
        return X.dtype in (np.uint8, self.dtype) and X.flags.c_contiguous and X.ndim == 2

    def _blocked_step(
        self, X: np.ndarray, idx: np.ndarray, y: np.ndarray, lr: float, scale: float
    ) -> tuple[float, int] | None:
        """:meth:`step` on rows ``idx`` of ``X`` by the blocked kernel, update included;
        None if the kernel cannot take these arrays (then :meth:`step`'s NumPy passes)."""
        m = idx.shape[0]
        if m == 0 or not self._usable_by_blocks(X) or self._cannot_run_blocks():
            return None
        y = np.ascontiguousarray(y, np.int64)
        idx = np.ascontiguousarray(idx, np.int64)
        work, xbuf, offsets, stats = self._block_buffers(m, X.shape[1])
        c = (lr if self.fold else 1.0) / m
        G, flat, plain = self._G, self.flat, self._plain
        try:
            loss, correct = self._blocked(
                X, idx, y, flat, self._layout, offsets, G, work, xbuf, scale, c, stats, plain
            )
        except Exception as exc:  # numba's typing and lowering errors, before it runs
            self._drop_blocked(exc)
            return None
        if correct < 0:  # the kernel checked the labels, and took no step
            raise IndexError("a label is not a class number: 0 <= y < the number of classes")
        # plain SGD: the kernel took the step; any other rule steps on the blocks' sum
        self._update(lr, taken=plain)
        return loss, correct

    @property
    def compiling(self) -> str | None:
        """What the first step will compile, in words, where numba's cache does not hold
        this network's kernels for this CPU yet (a first run after installing, or on
        another CPU); else None. :class:`gradlab.viz.monitor.TerminalProgress` says it
        before the first step, which would otherwise pass in silence."""
        kernels = [self._blocked, self._blocked_logits, self._fused, self._fused_logits]
        if any(k is not None and cached_here(k) is False for k in kernels):
            seconds = 15 if self.n_layers > 1 else 10
            return (
                f"numba compiles {self._what}'s kernels for this CPU first (about "
                f"{seconds} s, once: its cache keeps them)"
            )
        return None

    def _cannot_run_blocks(self) -> bool:
        """Whether this process may not run the blocked kernels (see
        :func:`gradlab.engines._numba_blocks.forked_from_openmp`); then it drops them."""
        if not self._forked_from_openmp():
            return False
        self._drop_blocked(
            "this process was forked from one whose numba threads ran on GNU OpenMP, "
            "which a forked child cannot use; oneTBB, which the fast extra installs, can"
        )
        return True

    def _threads(self, n: int) -> int:
        """:attr:`thread_pool`: up to ``n`` blocks at once, on numba's threads; returns the
        count it replaced. Once the blocks are dropped (:meth:`_drop_blocked`), ``n``
        threads for BLAS instead, which the NumPy passes use: the governor keeps moving
        the same pool for the rest of the fit (inside its own limit on BLAS, which it
        sets back when the fit ends)."""
        if self._blocked is not None and self._numba_threads is not None:
            return self._numba_threads(n)
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        threadpool_limits(limits=max(1, int(n)), user_api="blas")
        return int(n)

    def _drop_blocked(self, exc: Exception | str) -> None:
        """Warn, and compute with NumPy's passes on the whole batch from now on. In a fit
        under way the governor held BLAS on one thread for the blocks; its next move of
        the pool (:meth:`_threads`) gives BLAS the cores, and the next fit starts with
        BLAS's threads."""
        self._blocked = self._blocked_logits = None
        self.thread_pool = None
        self.blocks = 1
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        fallback_warning(self._what, reason)

    def _logits_into(self, X: np.ndarray, start: int, stop: int, scale: float) -> np.ndarray:
        """The logits of rows ``start:stop`` of ``X`` (a reused buffer)."""
        if (
            self._blocked_logits is not None
            and self._usable_by_blocks(X)
            and not self._cannot_run_blocks()
        ):
            m = stop - start
            work, xbuf, offsets, _ = self._block_buffers(m, X.shape[1])
            z = self._acts(m)[-1]
            try:
                self._blocked_logits(
                    X, start, self.flat, self._layout, offsets, work, xbuf, scale, z
                )
                return z
            except Exception as exc:
                self._drop_blocked(exc)
        return self.forward(self.rows(X, slice(start, stop)), scale)[-1]

    def _drop_fused(self, exc: Exception) -> None:
        """Warn, and compute with NumPy's passes from now on (the transposed weights are
        NumPy arrays like any other)."""
        self._fused = self._fused_logits = None
        fallback_warning("softmax regression", f"{type(exc).__name__}: {exc}")

    def _update(self, lr: float, taken: bool = False) -> None:
        """Apply the gradient in :attr:`grad_flat` (the rate folded in, or ``lr``); with
        ``taken``, plain SGD's step was already taken (by the blocked kernel) and only
        counts."""
        if self._plain:  # SGD.step(lr=1) with nothing to remember: p -= g, without its
            if not taken:  # Python bookkeeping (a few us a step)
                self.flat -= self.grad_flat
            self.opt_state.step += 1
        else:
            self._rule_step(self._params, self._grads, self.opt_state, 1.0 if self.fold else lr)
        self.last_lr = lr

    def evaluate(
        self, data: tuple[np.ndarray, np.ndarray], batch: int | None = None
    ) -> tuple[float, int]:
        """(sum of cross-entropy, number correct) over a prepared data set, in batches
        (by default of :data:`EVALUATION_ROWS` rows)."""
        X, y = data
        scale = self.input_scale(X)
        batch = batch or EVALUATION_ROWS[self.n_layers > 1]
        total, correct = 0.0, 0
        for i in range(0, X.shape[0], batch):
            z = self._logits_into(X, i, min(i + batch, X.shape[0]), scale)
            yb = y[i : i + batch]
            total -= float(ops.log_softmax(z)[np.arange(len(yb)), yb].sum())  # cross-entropy
            correct += int(np.count_nonzero(z.argmax(axis=1) == yb))
        return total, correct

    def logits(self, X: np.ndarray, batch: int = 2000) -> np.ndarray:
        """Logits for every row of ``X`` (uint8 pixels or floats), shape (n, classes)."""
        scale = self.input_scale(X)
        return np.concatenate(
            [
                self._logits_into(X, i, min(i + batch, X.shape[0]), scale).copy()
                for i in range(0, X.shape[0], batch)
            ]
        )

    def state(self) -> dict[str, np.ndarray]:
        """The parameters as ``W1, b1, ...`` copies."""
        return {name: view.copy() for name, view in self.views.items()}

    def load_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Set the parameters to ``params`` (``W1, b1, ...``, as :meth:`state` gives them)."""
        for name, view in self.views.items():
            view[...] = params[name]

    def _slot_views(self) -> dict[str, np.ndarray]:
        """``"<slot>/<param>"`` -> the view of that parameter in the slot's packed array."""
        out = {}
        for slot, (arr,) in self.opt_state.slots.items():
            start = 0
            for name, view in self.views.items():
                shape = view.shape[::-1] if name in self._transposed else view.shape
                part = arr[start : start + view.size].reshape(shape)
                out[f"{slot}/{name}"] = self._logical(name, part)
                start += view.size
        return out

    def optimizer_state(self) -> SavedOptimizer:
        """A copy of the rule's state, per parameter (see :mod:`gradlab.engines.optstate`)."""
        arrays = {k: v.copy() for k, v in self._slot_views().items()}
        lr = None
        if self.units == "step":
            lr = self.last_lr if self.last_lr is not None else self.rule.lr
        return SavedOptimizer(self.rule.config(), self.opt_state.step, arrays, self.units, lr)

    def load_optimizer_state(self, saved: SavedOptimizer) -> None:
        """Continue from ``saved`` (a state of this rule's kind, in :attr:`units`).

        Raises
        ------
        DataError
            The state belongs to another rule, or its arrays do not fit the parameters.
        """
        saved.require_fits(self.rule)
        saved.check({name: view.shape for name, view in self.views.items()})
        for key, view in self._slot_views().items():
            view[...] = saved.arrays[key]
        self.opt_state.step = int(saved.step)
        if saved.units == "step":
            self.last_lr = saved.lr

    def velocities(self) -> dict[str, np.ndarray]:
        """Copies of SGD's momentum buffers as ``vW1, vb1, ...`` in :attr:`units`; empty
        for another rule or without momentum."""
        if "momentum_buffer" not in self.opt_state.slots:
            return {}
        return {f"v{k.split('/')[1]}": v.copy() for k, v in self._slot_views().items()}
