"""How the classifiers fit, predict, save and load, without scikit-learn.

:class:`NetworkClassifier` holds the whole behaviour of softmax regression and the MLP;
it reads its hyperparameters from attributes (``self.lr``, ...). Two families of
classes supply them:

- :class:`gradlab.models.MLPClassifier` and :class:`~gradlab.models.SoftmaxRegression`,
  scikit-learn estimators (``BaseEstimator`` + ``ClassifierMixin``), for Python users;
- :class:`PlainClassifier`, the same model without scikit-learn's base classes, which
  the command line uses: importing scikit-learn costs more than a second, longer than
  ``gradlab train softmax`` on the digits takes altogether.

Both read their defaults from :data:`gradlab.models._spec.DEFAULTS`.
"""

from __future__ import annotations

import copy
import itertools
import os
import pickle
import secrets
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from gradlab import ops
from gradlab.errors import (
    DataError,
    MissingDependencyError,
    OutOfMemoryError,
    UsageError,
)
from gradlab.history import History
from gradlab.models._input import as_arrays, as_float_rows, is_torch_data, to_numpy
from gradlab.models._labels import Classes, as_label_array
from gradlab.models._spec import DEFAULTS, ESTIMATORS, check_hyperparameters
from gradlab.train import Callback, train

#: Rows per block when predicting (float64 products).
PREDICT_BATCH = 4096


def as_rows(arr: np.ndarray, name: str = "X") -> tuple[np.ndarray, tuple[int, ...], float]:
    """Samples flattened to rows: uint8 pixels stay uint8 (the engines scale them to
    [0, 1] batch by batch, never copying the whole set); anything else becomes float32.

    Parameters
    ----------
    arr : ndarray of shape (n, ...)
        One sample (a feature vector, an image, a channels x height x width tensor) per row.

    Returns
    -------
    rows : ndarray of shape (n, d), uint8 or float32
    shape : tuple
        The shape of one sample (for pictures, and to check later inputs).
    scale : float
        What the values are multiplied by (1/255 for uint8, else 1).

    Raises
    ------
    DataError
        Fewer than 2 dimensions, no samples, no features, not numbers, NaN or infinities.
    """
    if arr.ndim < 2:
        raise DataError(
            f"{name} must have one row (or image) per sample, got shape {arr.shape}.",
            hint="Reshape your data either using array.reshape(-1, 1) if your data has a "
            "single feature or array.reshape(1, -1) if it contains a single sample.",
        )
    if arr.shape[0] == 0:
        raise DataError(f"{name} has no samples (shape {arr.shape}).")
    shape = tuple(int(s) for s in arr.shape[1:])
    d = int(np.prod(shape))
    if d == 0:
        raise DataError(
            f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr.reshape(arr.shape[0], d)), shape, 1.0 / 255.0
    if arr.dtype.kind == "c":
        raise DataError(f"Complex data not supported: {name} has dtype {arr.dtype}.")
    rows = as_float_rows(arr.reshape(arr.shape[0], d), name)
    finite = np.isfinite(rows)
    if not finite.all():
        i, j = np.argwhere(~finite)[0]
        raise DataError(f"{name} contains NaN or infinite values ({name} row {i}: {rows[i, j]}).")
    return rows, shape, 1.0


def resolve_engine(engine: str, device: str, *, workers: int = 1, dtype: str = "float32") -> str:
    """The engine that will run: ``auto`` is torch where PyTorch sees a GPU, for several
    workers (data parallelism) and for float64, numpy otherwise.

    Deciding ``auto`` on a machine without a GPU does not import PyTorch
    (:func:`gradlab.engines.gpu.cuda_available`).
    """
    if engine == "numpy":
        if device == "cuda":
            raise UsageError(
                "the numpy engine (engine='numpy', --engine numpy or --scratch) runs on the "
                "CPU only; for CUDA use the torch engine (engine='torch', --engine torch)."
            )
        if workers > 1:
            raise UsageError(
                f"the numpy engine has no distributed version: training with {workers} "
                "workers (n_procs, --nproc or --nnodes, or a torchrun job) needs the torch "
                "engine, where torch.distributed averages the gradients.",
                hint="Use engine='torch' (--engine torch), or leave the engine at 'auto', "
                "which picks torch for several workers.",
            )
        if dtype == "float64":
            raise UsageError(
                "the numpy engine trains in float32 only; dtype='float64' (--dtype float64) "
                "needs the torch engine.",
                hint="Use engine='torch' (--engine torch), or leave the engine at 'auto', "
                "which picks torch for float64.",
            )
        return "numpy"
    if engine == "torch" or device == "cuda" or workers > 1 or dtype == "float64":
        return "torch"
    if device == "cpu":
        return "numpy"
    from gradlab.engines.gpu import cuda_available

    return "torch" if cuda_available() else "numpy"


def _on_cpu(engine: str, device: str) -> bool:
    if engine == "numpy" or device == "cpu":
        return True
    from gradlab.engines.torch_engine import resolve_device

    return resolve_device(device).type == "cpu"


def _engine_velocity(
    saved: Mapping[str, np.ndarray], units: str, saved_lr: float | None, engine: str, lr: float
) -> dict[str, np.ndarray]:
    """Saved momentum buffers in the units of ``engine`` at rate ``lr``.

    Unchanged (bit for bit) when the units and the rate are the same; otherwise
    converted through gradient units (``step = lr * v``).
    """
    want = "step" if engine == "numpy" else "gradient"
    if units == want and (want == "gradient" or saved_lr == lr):
        return dict(saved)
    if units == "step":
        assert saved_lr is not None
        grad = {k: v / np.float32(saved_lr) for k, v in saved.items()}
    else:
        grad = dict(saved)
    if want == "gradient":
        return grad
    return {k: (v * np.float32(lr)).astype(np.float32) for k, v in grad.items()}


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError)


def _need_torch() -> None:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise MissingDependencyError("PyTorch", "torch")


def _join(job: Any, device: str) -> Any:
    """Join the data-parallel job ``job`` (a :class:`~gradlab.distributed.World`)."""
    _need_torch()
    from gradlab.distributed import join_timeout
    from gradlab.engines.distributed import join
    from gradlab.engines.torch_engine import resolve_device

    return join(job, device=resolve_device(device), timeout=join_timeout())


def _lost_contact(exc: BaseException) -> bool:
    from gradlab.engines.distributed import is_collective_failure

    return is_collective_failure(exc)


def _fit_in_worker(model: Any, X: Any, y: Any, kwargs: dict[str, Any]) -> Any:
    """A worker of ``fit(n_procs=N)``: fit as this worker; rank 0 returns the fitted state
    (or the gradlab error it raised)."""
    from gradlab.distributed import env_world

    world = env_world()
    model.fit(X, y, **kwargs)  # an error is carried back by the launcher
    if world is not None and not world.leader:
        return None
    fitted = ("_velocity", "_saved_hp")
    return {k: v for k, v in vars(model).items() if k.endswith("_") or k in fitted}


class NetworkClassifier:
    """Softmax regression and the MLP: fit, predict, save, load.

    Subclasses set the hyperparameters as attributes named as in
    :data:`~gradlab.models._spec.DEFAULTS` and ``_kind`` (``"softmax"`` or ``"mlp"``).
    Fitted state ends in ``_`` (see the estimators' docstrings).
    """

    _kind: str
    _velocity: tuple[dict[str, np.ndarray], str, float | None]
    classes_: np.ndarray
    class_names_: tuple[str, ...]
    n_features_in_: int
    feature_names_in_: np.ndarray
    input_shape_: tuple[int, ...]
    input_scale_: float
    sizes_: tuple[int, ...]
    params_: dict[str, np.ndarray]
    history_: History
    engine_: str
    seed_: int
    n_iter_: int
    fit_seconds_: float

    _fitted_names: ClassVar[tuple[str, ...]] = ("params_",)

    # -- hyperparameters --------------------------------------------------------------

    @property
    def _owner(self) -> str:
        return ESTIMATORS[self._kind]

    def _hyperparameters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DEFAULTS[self._kind]}

    def _hidden(self) -> tuple[int, ...]:
        return tuple(int(h) for h in getattr(self, "hidden", ()))

    # -- training ---------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        eval_set: tuple[Any, Any] | None = None,
        classes: Any = None,
        class_names: Sequence[str] | None = None,
        callbacks: Sequence[Callback] = (),
        checkpoint: str | os.PathLike[str] | None = None,
        resume: bool = False,
    ) -> Self:
        """Train on samples ``X`` (n, ...) with labels ``y`` (n,).

        Parameters
        ----------
        X : array-like of shape (n, ...), tensor, DataFrame, Dataset or DataLoader
            The samples: feature rows, or images (any shape per sample; they are
            flattened). uint8 pixels are scaled by 1/255 batch by batch. A PyTorch
            Dataset or DataLoader of ``(input, label)`` pairs brings its own labels.
        y : array-like of shape (n,), optional
            Labels as they are: integers of any values, strings, booleans. None only
            when ``X`` is a Dataset or DataLoader.
        eval_set : (X_test, y_test), optional
            Evaluated after every epoch (the test curves); without it the test
            columns are NaN.
        classes : array-like, optional
            Every label value there is, when ``y`` may lack some.
        class_names : sequence of str, optional
            A display name for each class, in the order of ``classes_`` (default
            ``str(label)``). Given alone, the labels must be ``0 .. K-1``.
        callbacks : sequence of Callback
            Progress bars, live plots, ... (see :mod:`gradlab.viz.monitor`).
        checkpoint : path, optional
            Write a checkpoint there after every epoch.
        resume : bool
            Continue from ``checkpoint`` (its weights, momentum buffers and history) up
            to ``epochs``, with this model's hyperparameters; ``random_state=None`` takes
            the checkpoint's seed. The labels default to the checkpoint's.
        """
        owner = self._owner
        hp = self._hyperparameters()
        check_hyperparameters(self._kind, hp)
        if resume and checkpoint is None:
            raise UsageError(f"{owner}: resume needs the checkpoint to resume from.")
        from gradlab.distributed import SOLO, LostContactError, World, env_world

        job = env_world()
        n_procs = int(hp["n_procs"])
        if n_procs > 1 and job is None:
            return self._fit_workers(
                X, y, eval_set=eval_set, classes=classes, class_names=class_names,
                callbacks=callbacks, checkpoint=checkpoint, resume=resume,
            )  # fmt: skip
        if n_procs > 1 and job is not None:
            from gradlab.distributed.launch import launched_here

            if not launched_here():
                raise UsageError(
                    f"{owner}: n_procs={n_procs} asks to start workers, but this process "
                    f"already is worker rank {job.rank} of a job of {job.size} (RANK and "
                    "WORLD_SIZE are set).",
                    hint="Under torchrun leave n_procs at 1: every process fits, and together "
                    "they are the workers. A script that fits with n_procs > 1 must call fit "
                    "under 'if __name__ == \"__main__\":' (its workers import it).",
                )
        workers = 1 if job is None else job.size
        data = as_arrays(X, y, owner=owner)
        if data.y is None:
            raise DataError(
                f"{owner} requires y to be passed, but the target y is None.",
                hint="Pass the labels as y, or X as a PyTorch Dataset of (input, label) pairs.",
            )
        rows, shape, scale = as_rows(data.X)
        labels = as_label_array(data.y, rows.shape[0])

        saved = None
        if resume:
            from gradlab import checkpoint as ckpt_file

            saved = ckpt_file.read(checkpoint)  # type: ignore[arg-type]
        if saved is not None and classes is None and class_names is None:
            known = saved.classes
        else:
            known = Classes.from_labels(labels, classes, class_names)
        y_idx = known.encode(labels, "y")
        if eval_set is not None:
            test = as_arrays(eval_set[0], eval_set[1], owner=owner)
            Xt, _, _ = as_rows(test.X, "X_test")
            if Xt.shape[1] != rows.shape[1]:
                raise DataError(
                    f"X_test has {Xt.shape[1]} values per sample, X {rows.shape[1]}; "
                    "they must match."
                )
            if test.y is None:
                raise DataError(f"{owner}: eval_set needs labels: (X_test, y_test).")
            yt = known.encode(as_label_array(test.y, Xt.shape[0], "y_test"), "y_test")
        else:
            Xt, yt = rows[:0], y_idx[:0]
        sizes = (rows.shape[1], *self._hidden(), len(known))
        if saved is not None:
            from gradlab.checkpoint import check_compatible

            check_compatible(
                saved,
                against=f"this {owner} and its data",
                sizes=sizes,
                classes=known,
                hint="Resume with the model and the data it was trained on.",
            )
        engine = resolve_engine(hp["engine"], hp["device"], workers=workers, dtype=hp["dtype"])
        if hp["random_state"] is not None:
            seed = int(hp["random_state"])
        elif saved is not None:
            seed = saved.seed
        else:
            seed = secrets.randbits(63)
        history = History()
        if saved is not None:  # a copy: the checkpoint's rows, then this run's
            history = History(columns={k: list(v) for k, v in saved.history.columns.items()})
        momentum, lr = float(hp["momentum"]), float(hp["lr"])
        try:
            if saved is not None:
                params = saved.weights
                velocity = (
                    _engine_velocity(
                        saved.velocity, saved.velocity_units, saved.velocity_lr, engine, lr
                    )
                    if momentum and saved.velocity
                    else None
                )
            else:
                from gradlab.models._init import init_params

                params = init_params(sizes, hp["init"], hp["init_std"], seed)
                velocity = None
            world: World = SOLO
            if job is not None and job.size > 1:
                world = _join(job, hp["device"])
            net = self._make_net(
                engine, sizes, params, momentum, hp["device"], velocity,
                world=world, dtype=hp["dtype"],
            )  # fmt: skip
        except MemoryError:
            weights = sum(a * b for a, b in itertools.pairwise(sizes))
            raise UsageError(
                f"not enough memory for a network of layers {sizes}: {weights:,} weights "
                f"({weights * 4 / 1e9:.3g} GB in float32, several times that to train).",
                hint="Choose smaller hidden widths.",
            ) from None
        units = net.VELOCITY_UNITS
        fitted = {
            "classes": known,
            "sizes": sizes,
            "shape": shape,
            "scale": scale,
            "feature_names": data.feature_names,
            "engine": engine,
            "seed": seed,
            "history": history,
            "hp": hp,
        }

        def snapshot() -> Any:
            from gradlab.checkpoint import Checkpoint

            return Checkpoint(
                kind=self._kind, sizes=sizes, input_shape=shape, input_scale=scale,
                classes=known, hyperparameters=hp, seed=seed, history=history,
                engine=engine, feature_names=data.feature_names, weights=net.state(),
                velocity=net.velocities(), velocity_units=units, velocity_lr=lr,
            )  # fmt: skip

        # only rank 0 prints, draws and writes
        cbs = list(callbacks) if world.leader else []
        saver = None
        if checkpoint is not None and world.leader:
            from gradlab.checkpoint import Checkpointer

            saver = Checkpointer(checkpoint, snapshot)
            cbs.insert(0, saver)
        from gradlab.governor import training_threads

        threads = hp["cpu_threads"]
        if world.size > 1 and threads == "auto":  # each worker takes its share of the cores
            from gradlab.distributed import thread_share

            threads = thread_share(world)
        self.sizes_ = sizes  # known now; callbacks name the network by it while it trains
        start = time.perf_counter()
        try:
            with training_threads(engine, threads, _on_cpu(engine, hp["device"])) as governor:
                train(
                    net, rows, y_idx, Xt, yt,
                    epochs=int(hp["epochs"]), batch_size=int(hp["batch_size"]), lr=lr,
                    seed=seed, callbacks=[*cbs, governor] if governor else cbs,
                    history=history, world=world,
                )  # fmt: skip
        except Exception as exc:
            if world.size > 1 and _lost_contact(exc):
                raise LostContactError(
                    f"worker rank {world.rank} of {world.size} lost contact with the other "
                    f"workers in epoch {len(history) + 1}: {str(exc).strip().splitlines()[0]}",
                    hint="Another worker stopped (the launcher's message names it)"
                    + (f"; epoch {len(history)} is saved in {checkpoint}." if saver else "."),
                ) from None
            if not _is_out_of_memory(exc):
                raise
            raise self._out_of_memory(len(history) + 1, sizes, hp, saver) from None
        finally:
            self._set_fitted(
                fitted, net.state(), (net.velocities(), units, lr), time.perf_counter() - start
            )
            self.world_size_ = world.size
            if world.size > 1:
                from gradlab.engines.distributed import leave

                leave(world)
        return self

    def _fit_workers(
        self,
        X: Any,
        y: Any,
        *,
        eval_set: tuple[Any, Any] | None,
        classes: Any,
        class_names: Sequence[str] | None,
        callbacks: Sequence[Callback],
        checkpoint: str | os.PathLike[str] | None,
        resume: bool,
    ) -> Self:
        """``fit`` with ``n_procs`` worker processes on this machine (data parallelism).

        The workers are started by PyTorch's launcher (:mod:`gradlab.distributed.launch`);
        each fits a copy of this model as one worker of the job, and rank 0's fitted state
        comes back here. The data and the callbacks are pickled to the workers; the
        callbacks run in rank 0. Interrupted, this model is left as it was (the checkpoint,
        if any, keeps the last finished epoch).
        """
        hp = self._hyperparameters()
        n_procs = int(hp["n_procs"])
        resolve_engine(hp["engine"], hp["device"], workers=n_procs, dtype=hp["dtype"])
        _need_torch()
        if is_torch_data(X):  # a Dataset or DataLoader may not pickle; its arrays do
            X, y = as_arrays(X, y, owner=self._owner)[:2]
        if eval_set is not None and is_torch_data(eval_set[0]):
            eval_set = as_arrays(eval_set[0], eval_set[1], owner=self._owner)[:2]
        for cb in callbacks:  # they run in worker 0: say which one cannot go there
            try:
                pickle.dumps(cb)
            except Exception as exc:
                raise UsageError(
                    f"{self._owner}: with n_procs={n_procs} the callbacks run in worker 0, so "
                    f"they must pickle; {type(cb).__name__} does not ({exc}).",
                    hint="Leave it out, or train with n_procs=1.",
                ) from None
        fresh = copy.copy(self)
        fresh.__dict__ = {
            k: v for k, v in vars(self).items() if k in DEFAULTS[self._kind] or k == "_kind"
        }
        kwargs = {
            "eval_set": eval_set, "classes": classes, "class_names": class_names,
            "callbacks": list(callbacks), "checkpoint": checkpoint, "resume": resume,
        }  # fmt: skip
        from gradlab.distributed.launch import Launch, run

        start = time.perf_counter()
        state = run(Launch(nproc=n_procs), _fit_in_worker, fresh, X, y, kwargs)
        vars(self).update(state)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _out_of_memory(
        self, epoch: int, sizes: tuple[int, ...], hp: dict[str, Any], saver: Any
    ) -> OutOfMemoryError:
        if saver is None:
            kept = ""
        elif saver.saved_epoch:
            kept = f"; epoch {saver.saved_epoch} is saved in {saver.path}"
        else:
            kept = "; no epoch was saved"
        return OutOfMemoryError(
            f"{self._owner} ran out of memory in epoch {epoch} (layers {sizes}, batch "
            f"{hp['batch_size']}){kept}.",
            hint="Free memory, or choose a smaller batch size (--batch-size) or narrower "
            "layers (--hidden)" + (", then continue with --resume." if saver else "."),
        )

    @staticmethod
    def _make_net(
        engine: str,
        sizes: tuple[int, ...],
        params: Mapping[str, np.ndarray],
        momentum: float,
        device: str,
        velocity: Mapping[str, np.ndarray] | None,
        *,
        world: Any = None,
        dtype: str = "float32",
    ) -> Any:
        if engine == "torch":
            _need_torch()
            from gradlab.distributed import SOLO
            from gradlab.engines.torch_mlp import TorchMLP

            return TorchMLP(
                sizes, params, momentum, device, velocity, world=world or SOLO, dtype=dtype
            )
        from gradlab.engines.numpy_mlp import NumpyMLP

        return NumpyMLP(sizes, params, momentum, velocity)

    def _set_fitted(
        self,
        fitted: dict[str, Any],
        params: dict[str, np.ndarray],
        velocity: tuple[dict[str, np.ndarray], str, float | None],
        seconds: float,
    ) -> None:
        known: Classes = fitted["classes"]
        self.classes_ = known.values
        self.class_names_ = known.names
        self.sizes_ = fitted["sizes"]
        self.n_features_in_ = int(fitted["sizes"][0])
        if fitted["feature_names"] is not None:
            self.feature_names_in_ = fitted["feature_names"]
        elif "feature_names_in_" in vars(self):
            del self.feature_names_in_
        self.input_shape_ = fitted["shape"]
        self.input_scale_ = fitted["scale"]
        self.engine_ = fitted["engine"]
        self.seed_ = fitted["seed"]
        self.history_ = fitted["history"]
        self.n_iter_ = len(self.history_)
        self.fit_seconds_ = seconds
        self._velocity = velocity
        self._saved_hp = dict(fitted["hp"])
        self.params_ = params

    # -- prediction -------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if "params_" not in vars(self):
            raise UsageError(f"this {self._owner} is not fitted yet; call fit first.")

    def _rows(self, X: Any) -> np.ndarray:
        """``X`` as float64 rows scaled like the training data, after the feature checks."""
        self._check_fitted()
        data = as_arrays(X, owner=self._owner)
        self._check_feature_names(data.feature_names)
        rows, _, _ = as_rows(data.X)
        if rows.shape[1] != self.n_features_in_:
            shape = f" (samples of shape {self.input_shape_})" if len(self.input_shape_) > 1 else ""
            raise DataError(
                f"X has {rows.shape[1]} features, but {self._owner} is expecting "
                f"{self.n_features_in_} features as input{shape}."
            )
        return rows

    def _check_feature_names(self, names: np.ndarray | None) -> None:
        fitted = vars(self).get("feature_names_in_")
        if fitted is None and names is None:
            return
        if fitted is None:
            warnings.warn(
                f"X has feature names, but {self._owner} was fitted without feature names",
                UserWarning,
                stacklevel=4,
            )
            return
        if names is None:
            warnings.warn(
                f"X does not have valid feature names, but {self._owner} was fitted with "
                "feature names",
                UserWarning,
                stacklevel=4,
            )
            return
        if len(names) == len(fitted) and np.all(names == fitted):
            return
        message = "The feature names should match those that were passed during fit.\n"
        unseen = [n for n in names if n not in set(fitted)]
        missing = [n for n in fitted if n not in set(names)]
        if unseen:
            message += "Feature names unseen at fit time:\n" + _listed(unseen)
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n" + _listed(missing)
        if not unseen and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise DataError(message)

    def _logits(self, X: Any) -> np.ndarray:
        """Logits in float64, shape (n, n_classes).

        Computed in float64 (training runs in float32), so that a sample's prediction
        does not depend on the other samples passed with it (BLAS sums in an order that
        depends on the shape of the product).
        """
        rows = self._rows(X)
        n_layers = len(self.sizes_) - 1
        W = [self.params_[f"W{k}"].astype(np.float64) for k in range(1, n_layers + 1)]
        b = [self.params_[f"b{k}"].astype(np.float64) for k in range(1, n_layers + 1)]
        out = np.empty((rows.shape[0], self.sizes_[-1]))
        for i in range(0, rows.shape[0], PREDICT_BATCH):
            h = rows[i : i + PREDICT_BATCH].astype(np.float64)
            for k in range(n_layers):
                z = h @ W[k]
                if k == 0 and self.input_scale_ != 1.0:
                    z *= self.input_scale_
                z += b[k]
                h = ops.relu(z) if k < n_layers - 1 else z
            out[i : i + PREDICT_BATCH] = h
        return out

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits, shape (n, n_classes); with two classes, ``z_1 - z_0``, shape (n,).

        Positive values favour ``classes_[1]``, as scikit-learn's binary classifiers do.
        """
        z = self._logits(X)
        if z.shape[1] == 2:
            out: np.ndarray = z[:, 1] - z[:, 0]
            return out
        return z

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the logits), shape (n, n_classes), columns in the
        order of ``classes_``."""
        return ops.softmax(self._logits(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log-probabilities (log-softmax of the logits), shape (n, n_classes)."""
        return ops.log_softmax(self._logits(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels, shape (n,), of the same kind as the labels ``y`` in ``fit``."""
        best = self._logits(X).argmax(axis=1)
        out: np.ndarray = self.classes_[best]
        return out

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Mean accuracy on ``(X, y)`` (weighted by ``sample_weight`` if given); ``X`` may be
        a Dataset or DataLoader, which brings ``y``."""
        if is_torch_data(X):
            X, y = as_arrays(X, y, owner=self._owner)[:2]
        if y is None:
            raise DataError(f"{self._owner}.score needs the labels y.")
        pred = self.predict(X)
        truth = as_label_array(to_numpy(y, "y"), pred.shape[0])
        hits = (pred == truth).astype(np.float64)
        if sample_weight is None:
            return float(hits.mean())
        return float(np.average(hits, weights=np.asarray(sample_weight, dtype=np.float64)))

    # -- checkpoints ------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to a checkpoint file (safetensors; see :mod:`gradlab.checkpoint`).

        Everything is saved: the weights, the momentum buffers (so training can
        continue from the file), every constructor parameter, the label values and
        class names, the feature names, the seed and the history.
        """
        from gradlab.checkpoint import Checkpoint, write

        self._check_fitted()
        velocity, units, lr = self._velocity
        ckpt = Checkpoint(
            kind=self._kind, sizes=self.sizes_, input_shape=self.input_shape_,
            input_scale=self.input_scale_, classes=Classes(self.classes_, self.class_names_),
            hyperparameters=self._saved_hp, seed=self.seed_, history=self.history_,
            engine=self.engine_, feature_names=vars(self).get("feature_names_in_"),
            weights=self.params_, velocity=velocity, velocity_units=units, velocity_lr=lr,
        )  # fmt: skip
        return write(path, ckpt)

    def _restore(self, ckpt: Any) -> Self:
        """Take the fitted state of a checked :class:`~gradlab.checkpoint.Checkpoint`."""
        fitted = {
            "classes": ckpt.classes,
            "sizes": ckpt.sizes,
            "shape": ckpt.input_shape,
            "scale": ckpt.input_scale,
            "feature_names": ckpt.feature_names,
            "engine": ckpt.engine,
            "seed": ckpt.seed,
            "history": ckpt.history,
            "hp": ckpt.hyperparameters,
        }
        self._set_fitted(
            fitted,
            dict(ckpt.weights),
            (dict(ckpt.velocity), ckpt.velocity_units, ckpt.velocity_lr),
            0.0,
        )
        return self


def _listed(names: Sequence[Any], limit: int = 5) -> str:
    out = "".join(f"- {n}\n" for n in names[:limit])
    return out + ("- ...\n" if len(names) > limit else "")


class PlainClassifier(NetworkClassifier):
    """Softmax regression or the MLP without scikit-learn's base classes.

    The same model as :class:`gradlab.models.SoftmaxRegression` /
    :class:`~gradlab.models.MLPClassifier` (same defaults, same behaviour, same
    checkpoints), for the command line, which must not pay for importing scikit-learn.

    Parameters
    ----------
    kind : {"softmax", "mlp"}
    **params
        Any of the estimator's constructor parameters; the others take its defaults.
    """

    def __init__(self, kind: str, **params: Any) -> None:
        if kind not in DEFAULTS:
            raise UsageError(f"unknown model {kind!r}; choose one of: {', '.join(DEFAULTS)}.")
        unknown = sorted(set(params) - set(DEFAULTS[kind]))
        if unknown:
            raise UsageError(f"{ESTIMATORS[kind]} has no parameter {unknown[0]!r}.")
        self._kind = kind
        for name, default in DEFAULTS[kind].items():
            setattr(self, name, params.get(name, default))

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters."""
        return self._hyperparameters()

    @classmethod
    def from_checkpoint(cls, ckpt: Any) -> PlainClassifier:
        """The fitted model in a checked :class:`~gradlab.checkpoint.Checkpoint`."""
        return cls(ckpt.kind, **ckpt.hyperparameters)._restore(ckpt)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PlainClassifier:
        """The fitted model in a checkpoint file."""
        from gradlab.checkpoint import read

        return cls.from_checkpoint(read(path))
