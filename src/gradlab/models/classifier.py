"""Image classifiers trained by mini-batch SGD: softmax regression and a ReLU MLP."""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from gradlab import __version__
from gradlab.errors import DataError, UsageError
from gradlab.history import History
from gradlab.optim import check_positive, check_seed
from gradlab.train import Callback, train

ENGINES = ("auto", "numpy", "torch")
INITS = ("kaiming", "normal")


def as_images(X: Any, name: str = "X") -> tuple[np.ndarray, tuple[int, ...], float]:
    """Flatten images to rows: uint8 pixels stay uint8 (the engines scale them to
    [0, 1] batch by batch, never copying the whole set); anything else becomes float32.

    Returns
    -------
    rows : ndarray of shape (n, d), uint8 or float32
    shape : the shape of one image (for pictures)
    scale : what the pixels are multiplied by (1/255 for uint8, else 1)
    """
    arr = np.asarray(X)
    if arr.ndim < 2:
        raise DataError(f"{name} must have one row (or image) per sample, got shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise DataError(f"{name} has no samples.")
    shape = tuple(int(s) for s in arr.shape[1:])
    if arr.dtype == np.uint8:
        scale = 1.0 / 255.0
        rows = np.ascontiguousarray(arr.reshape(arr.shape[0], -1))
    else:
        scale = 1.0
        try:
            rows = np.ascontiguousarray(arr.reshape(arr.shape[0], -1), dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{name} must be numbers: {exc}") from None
        if not np.all(np.isfinite(rows)):
            raise DataError(f"{name} contains NaN or infinite values.")
    return rows, shape, scale


def as_labels(y: Any, n: int, n_classes: int | None = None, name: str = "y") -> np.ndarray:
    """Integer class labels of shape (n,), checked against ``n`` and the class count."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one label per sample, got shape {arr.shape}.")
    if arr.shape[0] != n:
        raise DataError(
            f"there are {n} images but {arr.shape[0]} labels in {name}; they must match."
        )
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise DataError(f"{name} must hold integer class labels, got dtype {arr.dtype}.")
    arr = arr.astype(np.int64)
    bad = (arr < 0) if n_classes is None else (arr < 0) | (arr >= n_classes)
    if np.any(bad):
        i = int(np.argmax(bad))
        limit = "0 or more" if n_classes is None else f"in 0..{n_classes - 1}"
        raise DataError(f"{name}[{i}] is {arr[i]}, but labels must be {limit}.")
    return arr


def init_params(sizes: Sequence[int], init: str, std: float, seed: int) -> dict[str, np.ndarray]:
    """Starting weights: ``kaiming`` (normal, std sqrt(2 / fan_in), for ReLU) or
    ``normal`` (std ``std``, the tutorial's 0.01); biases zero. Float32."""
    rng = np.random.default_rng(seed)
    params = {}
    for k in range(1, len(sizes)):
        fan_in, fan_out = sizes[k - 1], sizes[k]
        s = math.sqrt(2.0 / fan_in) if init == "kaiming" else std
        params[f"W{k}"] = rng.normal(0.0, s, size=(fan_in, fan_out)).astype(np.float32)
        params[f"b{k}"] = np.zeros(fan_out, np.float32)
    return params


def _history(meta: dict[str, Any]) -> History:
    """The training history stored in a checkpoint's metadata."""
    return History(columns={k: list(v) for k, v in meta["history"].items()})


class MLPClassifier:
    """A ReLU network ``input -> hidden... -> classes`` trained on cross-entropy by SGD.

    Parameters
    ----------
    hidden : sequence of int, default (200, 200)
        Hidden layer widths; ``()`` is softmax regression.
    lr : float, default 0.05
    epochs : int, default 10
    batch_size : int, default 200
    momentum : float, default 0.9
        SGD momentum in [0, 1). On real MNIST, 10 epochs, the defaults reach a test
        accuracy of 0.979-0.981 (seeds 0-2; ``bench/real_data.py``), plain SGD
        (``lr=0.1, momentum=0``, the course version) 0.974.
    init : {"kaiming", "normal"}, default "kaiming"
    init_std : float, default 0.01
        Standard deviation for ``init="normal"``.
    engine : {"auto", "numpy", "torch"}, default "auto"
        ``numpy``: hand-derived backpropagation (fastest on a CPU); ``torch``:
        ``nn.Sequential`` + ``CrossEntropyLoss`` + ``optim.SGD``; ``auto``: torch on a
        GPU, numpy otherwise.
    device : {"auto", "cpu", "cuda"}, default "auto"
        For the torch engine.
    cpu_threads : "auto", int or None, default "auto"
        BLAS (numpy) or intra-op (torch) threads while training on the CPU.
        ``"auto"`` trains on the cores other processes leave free, measured again
        every epoch (:class:`gradlab.governor.ThreadGovernor`): on a 2-core machine,
        two threads made an MLP step 1.6x faster when the machine was idle but 30x
        slower when another process held a core. An integer fixes the count; None
        keeps the libraries' own setting. A fixed count makes a seeded run repeat
        bit for bit; BLAS rounds differently on one thread than on two, so under
        ``"auto"`` a run on a busy machine can differ from one on an idle machine in
        the last digits of the weights (measured: a train loss of 0.2433181 on one
        thread, 0.2433154 on two, after 2 epochs on 12,000 MNIST images).
    seed : int, default 0
        Seeds the initial weights and the shuffles.

    Attributes
    ----------
    params_ : dict of str to ndarray
        ``W1`` (fan_in, fan_out), ``b1``, ...
    history_ : History
        Per epoch: train_loss, train_accuracy, test_loss, test_accuracy, seconds.
    engine_ : str
        The engine actually used.
    """

    kind = "mlp"

    def __init__(
        self,
        *,
        hidden: Sequence[int] = (200, 200),
        lr: float = 0.05,
        epochs: int = 10,
        batch_size: int = 200,
        momentum: float = 0.9,
        init: str = "kaiming",
        init_std: float = 0.01,
        engine: str = "auto",
        device: str = "auto",
        cpu_threads: int | str | None = "auto",
        seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.momentum = momentum
        self.init = init
        self.init_std = init_std
        self.engine = engine
        self.device = device
        self.cpu_threads = cpu_threads
        self.seed = seed

    def __repr__(self) -> str:
        names = ("hidden", "lr", "epochs", "batch_size", "momentum", "init", "engine", "device")
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in names)})"

    # -- validation ---------------------------------------------------------------------

    def _check_params(self) -> tuple[int, ...]:
        check_positive("lr", self.lr)
        check_positive("epochs", self.epochs, integer=True)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("init_std", self.init_std)
        check_seed(self.seed)
        if not (0.0 <= self.momentum < 1.0):
            raise UsageError(f"momentum must be in [0, 1), got {self.momentum!r}.")
        hidden = tuple(self.hidden)
        if any(isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1 for h in hidden):
            raise UsageError(f"hidden must be positive layer widths, got {self.hidden!r}.")
        if self.engine not in ENGINES:
            raise UsageError(
                f"unknown engine {self.engine!r}; choose one of: {', '.join(ENGINES)}."
            )
        if self.init not in INITS:
            raise UsageError(f"unknown init {self.init!r}; choose one of: {', '.join(INITS)}.")
        if self.cpu_threads not in (None, "auto"):
            check_positive("cpu_threads", self.cpu_threads, integer=True)  # type: ignore[arg-type]
        if self.device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"unknown device {self.device!r}; choose one of: auto, cpu, cuda.")
        return hidden

    def _resolve_engine(self) -> str:
        if self.engine == "numpy":
            if self.device == "cuda":
                raise UsageError(
                    "the numpy engine (engine='numpy', --engine numpy or --scratch) runs on the "
                    "CPU only; for CUDA use the torch engine (engine='torch', --engine torch)."
                )
            return "numpy"
        if self.engine == "torch" or self.device == "cuda":
            return "torch"
        # auto: torch only where PyTorch sees a GPU; without a GPU driver or device,
        # decided without importing PyTorch (about two seconds)
        from gradlab.engines.gpu import cuda_available

        if self.device != "cpu" and cuda_available():
            return "torch"
        return "numpy"

    # -- training -----------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        eval_set: tuple[Any, Any] | None = None,
        classes: Sequence[str] | None = None,
        callbacks: Sequence[Callback] = (),
        checkpoint: str | os.PathLike[str] | None = None,
        resume: bool = False,
    ) -> MLPClassifier:
        """Train on images ``X`` (n, ...) with labels ``y`` (n,).

        Parameters
        ----------
        eval_set : (X_test, y_test), optional
            Evaluated after every epoch (the test curves); without it the test
            columns are NaN.
        classes : sequence of str, optional
            Class names (default "0", "1", ...).
        callbacks : sequence of Callback
            Progress bars, live plots, ... (see :mod:`gradlab.viz.monitor`).
        checkpoint : path, optional
            Save a checkpoint there after every epoch.
        resume : bool
            Continue from ``checkpoint`` (its weights and history) up to ``epochs``.
        """
        hidden = self._check_params()
        Xr, shape, scale = as_images(X)
        n_classes = len(classes) if classes is not None else None
        yr = as_labels(y, Xr.shape[0], n_classes)
        n_classes = n_classes or int(yr.max()) + 1
        if eval_set is not None:
            Xt, _, _ = as_images(eval_set[0], "X_test")
            if Xt.shape[1] != Xr.shape[1]:
                raise DataError(
                    f"test images have {Xt.shape[1]} values each, training images {Xr.shape[1]}."
                )
            yt = as_labels(eval_set[1], Xt.shape[0], n_classes, "y_test")
        else:
            Xt, yt = Xr[:0], yr[:0]
        sizes = (Xr.shape[1], *hidden, n_classes)
        self.sizes_ = sizes
        self.input_shape_ = shape
        self.input_scale_ = scale
        self.classes_ = tuple(classes) if classes is not None else tuple(map(str, range(n_classes)))
        self.engine_ = self._resolve_engine()

        history = History()
        try:
            params = init_params(sizes, self.init, self.init_std, self.seed)
            if resume:
                if checkpoint is None:
                    raise UsageError("resume needs the checkpoint to resume from.")
                params, history = self._from_checkpoint(
                    checkpoint, sizes, None if classes is None else self.classes_
                )
            net = self._make_net(sizes, params)
        except MemoryError:
            weights = sum(a * b for a, b in itertools.pairwise(sizes))
            raise UsageError(
                f"not enough memory for a network of layers {sizes}: {weights:,} weights "
                f"({weights * 4 / 1e9:.3g} GB in float32, several times that to train).",
                hint="Choose smaller hidden widths.",
            ) from None
        cbs = list(callbacks)
        if checkpoint is not None:
            from gradlab.checkpoint import Checkpointer

            def arrays() -> dict[str, np.ndarray]:
                return {**net.state(), **net.velocities()}

            cbs.insert(0, Checkpointer(checkpoint, arrays, lambda: self._meta(history)))
        self.history_ = history
        start = time.perf_counter()
        governor = self._governor()
        if governor is not None:
            cbs.append(governor)
        try:
            with self._threads():
                train(
                    net, Xr, yr, Xt, yt,
                    epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                    seed=self.seed, callbacks=cbs, history=history,
                )  # fmt: skip
        finally:
            self.params_ = net.state()
            self.fit_seconds_ = time.perf_counter() - start
        return self

    def _on_cpu(self) -> bool:
        return self.engine_ == "numpy" or self.device == "cpu" or self._torch_device() == "cpu"

    def _torch_device(self) -> str:
        from gradlab.engines.torch_engine import resolve_device

        return resolve_device(self.device).type

    def _threads(self) -> contextlib.AbstractContextManager[Any]:
        """Set the CPU threads for training; the caller's setting comes back afterwards."""
        if self.cpu_threads is None or not self._on_cpu():
            return contextlib.nullcontext()
        first = 1 if self.cpu_threads == "auto" else int(self.cpu_threads)
        if self.engine_ == "torch":
            from gradlab.engines.torch_engine import intra_op_threads

            return intra_op_threads(first)
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        return cast(
            contextlib.AbstractContextManager[Any],
            threadpool_limits(limits=first, user_api="blas"),
        )

    def _governor(self) -> Callback | None:
        """With ``cpu_threads="auto"`` on a CPU: the callback that adapts the thread count."""
        if self.cpu_threads != "auto" or not self._on_cpu():
            return None
        from gradlab.governor import ThreadGovernor

        if self.engine_ == "torch":
            import torch

            return ThreadGovernor(torch.set_num_threads)
        from threadpoolctl import threadpool_limits

        return ThreadGovernor(lambda n: threadpool_limits(limits=n, user_api="blas"))

    def _make_net(self, sizes: tuple[int, ...], params: dict[str, np.ndarray]) -> Any:
        if self.engine_ == "torch":
            import importlib.util

            from gradlab.errors import MissingDependencyError

            if importlib.util.find_spec("torch") is None:
                raise MissingDependencyError("PyTorch", "torch")
            from gradlab.engines.torch_mlp import TorchMLP

            return TorchMLP(sizes, params, self.momentum, self.device)
        from gradlab.engines.numpy_mlp import NumpyMLP

        return NumpyMLP(sizes, params, self.momentum, self.lr)

    # -- checkpoints ----------------------------------------------------------------------

    def _meta(self, history: History) -> dict[str, Any]:
        return {
            "gradlab": __version__,
            "model": type(self).__name__,
            "kind": self.kind,
            "sizes": list(self.sizes_),
            "input_shape": list(self.input_shape_),
            "input_scale": self.input_scale_,
            "classes": list(self.classes_),
            "hyperparameters": {
                "hidden": list(self.hidden),
                "lr": self.lr,
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "momentum": self.momentum,
                "init": self.init,
                "seed": self.seed,
            },
            "history": history.columns,
        }

    def _from_checkpoint(
        self,
        path: str | os.PathLike[str],
        sizes: tuple[int, ...],
        classes: tuple[str, ...] | None,
    ) -> tuple[dict[str, np.ndarray], History]:
        from gradlab import checkpoint

        arrays, meta = checkpoint.load(path)
        if tuple(meta["sizes"]) != sizes:
            raise DataError(
                f"{path}: the checkpoint is for layers {tuple(meta['sizes'])}, "
                f"but this model and data need {sizes}."
            )
        if classes is not None and tuple(meta["classes"]) != classes:
            raise DataError(
                f"{path}: the checkpoint was trained on the classes "
                f"{', '.join(meta['classes'])}, not {', '.join(classes)}.",
                hint="Resume on the data it was trained on.",
            )
        return arrays, _history(meta)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to a checkpoint file."""
        from gradlab import checkpoint

        self._check_fitted()
        return checkpoint.save(path, self.params_, self._meta(self.history_))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MLPClassifier:
        """A fitted model from a checkpoint (safetensors; nothing is unpickled)."""
        from gradlab import checkpoint

        arrays, meta = checkpoint.load(path)
        hp = meta["hyperparameters"]
        target = SoftmaxRegression if meta.get("kind") == "softmax" else MLPClassifier
        model = target(
            hidden=tuple(hp["hidden"]), lr=hp["lr"], epochs=hp["epochs"],
            batch_size=hp["batch_size"], momentum=hp["momentum"], init=hp["init"],
            seed=hp["seed"],
        )  # fmt: skip
        model.params_ = {k: v for k, v in arrays.items() if not k.startswith("v")}
        model.sizes_ = tuple(meta["sizes"])
        model.input_shape_ = tuple(meta["input_shape"])
        model.input_scale_ = float(meta["input_scale"])
        model.classes_ = tuple(meta["classes"])
        model.history_ = _history(meta)
        model.engine_ = "numpy"
        return model

    # -- prediction -----------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise UsageError(f"this {type(self).__name__} is not fitted yet; call fit first.")

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits, shape (n, n_classes)."""
        from gradlab.engines.numpy_mlp import NumpyMLP

        self._check_fitted()
        rows, _, _ = as_images(X)
        if rows.shape[1] != self.sizes_[0]:
            raise DataError(
                f"X has {rows.shape[1]} values per sample; the model takes {self.sizes_[0]}."
            )
        return NumpyMLP(self.sizes_, self.params_).logits(rows)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the logits), shape (n, n_classes)."""
        from gradlab.engines.numpy_mlp import softmax

        return softmax(self.decision_function(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class indices, shape (n,)."""
        out: np.ndarray = self.decision_function(X).argmax(axis=1)
        return out

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on ``(X, y)``."""
        pred = self.predict(X)
        return float(np.mean(pred == as_labels(y, pred.shape[0])))


class SoftmaxRegression(MLPClassifier):
    """Softmax regression: one linear layer, softmax, cross-entropy.

    The defaults are the tutorial's: weights normal with std 0.01, lr 0.1, batch
    256, 10 epochs. Other parameters as :class:`MLPClassifier` (``hidden`` is ``()``).
    """

    kind = "softmax"

    def __init__(
        self,
        *,
        lr: float = 0.1,
        epochs: int = 10,
        batch_size: int = 256,
        momentum: float = 0.0,
        init: str = "normal",
        init_std: float = 0.01,
        engine: str = "auto",
        device: str = "auto",
        cpu_threads: int | str | None = "auto",
        seed: int = 0,
        hidden: Sequence[int] = (),
    ) -> None:
        super().__init__(
            hidden=hidden, lr=lr, epochs=epochs, batch_size=batch_size, momentum=momentum,
            init=init, init_std=init_std, engine=engine, device=device,
            cpu_threads=cpu_threads, seed=seed,
        )  # fmt: skip
