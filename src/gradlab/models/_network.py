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
import math
import os
import pickle
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from gradlab import ops
from gradlab.engines.optstate import SavedOptimizer
from gradlab.errors import (
    DataError,
    GradlabWarning,
    MissingDependencyError,
    OutOfMemoryError,
    UsageError,
    outside_stacklevel,
)
from gradlab.history import History
from gradlab.models._input import (
    as_arrays,
    as_float_rows,
    is_torch_data,
    sample_weights,
    to_numpy,
)
from gradlab.models._labels import Classes, as_label_array
from gradlab.models._spec import (
    DEFAULTS,
    ESTIMATORS,
    base_rate,
    check_hyperparameters,
    resolve_optimizer,
    resolve_schedule,
)
from gradlab.optim import plain_number
from gradlab.optim.rules import SGD, Adagrad, Adam, RMSprop, Rule
from gradlab.optim.schedules import Constant, Schedule, make_schedule
from gradlab.params import draw_seed
from gradlab.train import Callback, LearningRate, checked_callbacks, train

#: Rows per block when predicting (float64 products).
PREDICT_BATCH = 4096


def _pairs(eval_set: tuple[Any, ...] | list[Any]) -> bool:
    """Whether ``eval_set`` is a list of (X, y) pairs (as XGBoost takes several), not one
    pair whose X is a list of rows: its first item is a pair whose first item is a table."""
    first = eval_set[0]
    return isinstance(first, tuple | list) and len(first) == 2 and getattr(first[0], "ndim", 0) >= 2


def _finite_number(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def as_rows(
    arr: np.ndarray, name: str = "X", *, pixels: bool = True
) -> tuple[np.ndarray, tuple[int, ...], float]:
    """Samples flattened to rows: uint8 pixels stay uint8 (the engines scale them to
    [0, 1] batch by batch, never copying the whole set); anything else becomes float32.

    The convention is torchvision's: uint8 values are pixels in 0..255, read as
    ``value / 255``; values of any other dtype are used as they are (float images are
    taken to be in [0, 1] already). Each array is read by its own dtype, at fit and at
    predict alike.

    Parameters
    ----------
    arr : ndarray of shape (n, ...)
        One sample (a feature vector, an image, a channels x height x width tensor) per row.
    pixels : bool
        False for a table's columns (a DataFrame): uint8 values there are numbers (one-hot
        codes, counts), used as they are.

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
    if arr.dtype == np.uint8 and pixels:
        return np.ascontiguousarray(arr.reshape(arr.shape[0], d)), shape, 1.0 / 255.0
    if arr.dtype.kind == "c":
        raise DataError(f"Complex data not supported: {name} has dtype {arr.dtype}.")
    with np.errstate(over="ignore"):  # a value beyond float32 is named below
        rows = as_float_rows(arr.reshape(arr.shape[0], d), name)
    finite = np.isfinite(rows)
    if not finite.all():
        i, j = np.argwhere(~finite)[0]
        given = arr.reshape(arr.shape[0], d)[i, j]
        if given is not None and _finite_number(given):  # finite, but not in float32
            largest = float(np.finfo(np.float32).max)
            raise DataError(
                f"{name} row {i}, column {j} is {float(given):g}, beyond float32's range "
                f"(largest {largest:.3g}), in which the classifiers read their input.",
                hint=f"Scale {name} (standardise it, or divide it by a power of 10).",
            )
        raise DataError(
            f"{name} contains NaN or infinite values ({name} row {i}: "
            f"{'None' if given is None else rows[i, j]})."
        )
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


def _buffers(slots: Sequence[str]) -> str:
    """``"no buffer"``, or ``"a momentum_buffer"``, for a message."""
    return " and ".join(f"a {name}" for name in slots) or "no buffer"


def _on_cpu(engine: str, device: str) -> bool:
    if engine == "numpy" or device == "cpu":
        return True
    from gradlab.engines.torch_engine import resolve_device

    return resolve_device(device).type == "cpu"


@dataclass
class _Setup:
    """The data of a fit as the engines take it (see :meth:`NetworkClassifier._setup`)."""

    rows: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: Classes
    sizes: tuple[int, ...]
    shape: tuple[int, ...]
    scale: float
    feature_names: np.ndarray | None
    #: How inputs read as they are (scale 1) looked at fit: ``{"max": largest absolute
    #: value, "uint8": whether they came as a table's uint8 columns}``; None for pixels.
    input_numbers: dict[str, Any] | None = None


@dataclass
class TrainState:
    """What a fitted model keeps for saving and resuming besides its weights.

    Attributes
    ----------
    optimizer : SavedOptimizer or None
        The update rule's state after the last epoch.
    schedule : dict or None
        ``{"config": ..., "per_step": ...}`` of the schedule used.
    last_weights : dict or None
        With early stopping, the last epoch's weights (the model holds the best epoch's).
    early_stopping : dict or None
        ``{"best_epoch", "stopped_epoch"}`` with early stopping.
    """

    optimizer: SavedOptimizer | None = None
    schedule: dict[str, Any] | None = None
    last_weights: dict[str, np.ndarray] | None = None
    early_stopping: dict[str, int] | None = None


def validation_split(
    y: np.ndarray, fraction: float, seed: int, owner: str
) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of a training part and a validation part, stratified by class.

    Each class gives ``round(fraction * count)`` of its rows, chosen by
    ``default_rng([seed, 0])`` (a stream of its own: the shuffles use ``[seed, epoch]``
    with epochs from 1), so a resumed run holds out the same rows.

    Returns
    -------
    train, validation : ndarray of int, sorted

    Raises
    ------
    DataError
        The fraction leaves no validation row or no training row.
    """
    rng = np.random.default_rng([seed, 0])
    order = rng.permutation(y.shape[0])
    order = order[np.argsort(y[order], kind="stable")]  # by class, random within each
    counts = np.bincount(y, minlength=int(y.max()) + 1 if y.size else 0)
    take = np.rint(counts * fraction).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(y.shape[0]) - np.repeat(starts, counts)
    held = position < np.repeat(take, counts)
    val, fit = np.sort(order[held]), np.sort(order[~held])
    if val.size == 0 or fit.size == 0:
        raise DataError(
            f"{owner}: validation_fraction={fraction:g} of {y.shape[0]} samples leaves "
            f"{val.size} for validation and {fit.size} for training; early stopping needs both.",
            hint="Choose another validation_fraction, or train on more samples.",
        )
    return fit, val


#: Inputs above this (in absolute value, after the input scale) are named as the likely
#: cause of a divergence: standardised features are a few units, pixels scaled to 0..1.
LARGE_INPUT = 1e3


def divergence_advice(
    rule: Rule, kind: str, rows: np.ndarray, scale: float
) -> Callable[[float], str | None]:
    """What a divergence message should suggest for ``rule`` (see docs/optimizers.md).

    Adaptive rules (AdaGrad, RMSProp, Adam, AdamW) have no stable rate: each step moves
    every weight by about the rate whatever the curvature, so the advice quotes that
    bound. For the SGD family on softmax regression a stable rate can be computed: the
    Hessian of the mean cross-entropy is ``mean_i (x_i x_i^T) (x) (diag(p_i) - p_i p_i^T)``
    with ``x_i`` a sample and a 1 for the bias, and the softmax factor's eigenvalues are
    at most 1/2, so the curvature is at most ``L = lambda_max(X^T X / n) / 2``. Below
    2 / L every full-batch step of plain SGD lowers the loss (the loss is L-smooth); with
    momentum the advice is ``rule.max_stable_lr(L)``, the bound on a quadratic of that
    curvature. Neither is a threshold of divergence: the cross-entropy flattens as the
    predictions grow confident, so larger rates often still train. The MLP has no such
    bound, and gets the guard's own advice.
    """

    def advice(lr: float) -> str | None:
        largest = float(np.max(np.abs(rows))) * scale if rows.size else 0.0
        if largest > LARGE_INPUT:  # no rate trains on such inputs: say so first
            return (
                f"The inputs reach {largest:.3g}: a weight of such a feature moves the "
                "loss so far that no learning rate suits the others. Standardise the "
                "features (sklearn.preprocessing.StandardScaler, or divide each column by "
                "its typical size), then train again."
            )
        bound = _step_bound(rule, lr)
        if bound is not None:
            return (
                f"Try a smaller learning rate, e.g. {plain_number(lr / 10)}: with "
                f"{type(rule).__name__} each step moves every weight by up to about "
                f"{plain_number(bound)} whatever the gradient, so a loss that blows up "
                "points at a rate far too large (or at the data: check for huge values)."
            )
        if kind != "softmax" or not isinstance(rule, SGD):
            return None
        curvature = softmax_curvature(rows, scale)
        stable = rule.max_stable_lr(curvature)
        if stable is None or stable >= lr:
            return None
        if rule.momentum:
            why = (
                f"SGD with momentum {rule.momentum:g} is stable on a quadratic of that "
                f"curvature only below {stable:.2g}"
            )
        else:
            why = f"below 2 / {curvature:.3g} every full-batch step is sure to lower the loss"
        return (
            f"Try a learning rate below {stable:.2g}: softmax regression's loss curves by at "
            f"most {curvature:.3g} on this data, and {why}; mini-batches need some margin "
            "below that."
        )

    return advice


def _step_bound(rule: Rule, lr: float) -> float | None:
    """The largest move of one weight in one step of an adaptive rule at rate ``lr``."""
    if isinstance(rule, Adam):
        b1, b2 = rule.betas
        return lr * (1 - b1) / math.sqrt(1 - b2)
    if isinstance(rule, RMSprop):
        return lr / math.sqrt(1 - rule.alpha) / (1 - rule.momentum)
    if isinstance(rule, Adagrad):
        return lr
    return None


def softmax_curvature(rows: np.ndarray, scale: float, block: int = 8192) -> float:
    """An upper bound on the curvature of softmax regression's mean cross-entropy on
    ``rows * scale``: half the largest eigenvalue of ``[X 1]^T [X 1] / n``."""
    n, d = rows.shape
    gram = np.zeros((d + 1, d + 1))
    for i in range(0, n, block):
        part = np.empty((min(block, n - i), d + 1))
        part[:, :d] = rows[i : i + block]
        part[:, :d] *= scale
        part[:, d] = 1.0
        gram += part.T @ part
    return float(np.linalg.eigvalsh(gram / n)[-1]) / 2


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError)


def need_torch() -> None:
    """Raise :class:`~gradlab.errors.MissingDependencyError` where PyTorch is not installed."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise MissingDependencyError("PyTorch", "torch")


def _join(job: Any, device: str, settings: Mapping[str, str], owner: str) -> Any:
    """Join the data-parallel job ``job`` (a :class:`~gradlab.distributed.World`), whose
    workers must all fit with ``settings`` (see :func:`gradlab.engines.distributed.join`)."""
    need_torch()
    from gradlab.distributed import join_timeout
    from gradlab.engines.distributed import join
    from gradlab.engines.torch_engine import resolve_device

    return join(
        job, device=resolve_device(device), timeout=join_timeout(), settings=settings, owner=owner
    )


#: Hyperparameters a worker of a job may hold on its own: its machine's share of the cores,
#: the count of workers to start (1 in a worker); and those compared as resolved: the
#: engine (torch in any job), the device (its type, by the join) and random_state (the seed).
_WORKER_OWN = ("cpu_threads", "n_procs", "engine", "device", "random_state")


def _job_settings(
    kind: str, owner: str, hp: Mapping[str, Any], seed: int, setup: _Setup, saved: Any
) -> dict[str, str]:
    """What every worker of a data-parallel job must fit with, as its messages show it: the
    estimator, the data (sample counts and SHA-256 digests), the epoch it resumes from, the
    hyperparameters and the seed."""
    from gradlab.checkpoint import fingerprint

    def data(name: str, rows: np.ndarray, y: np.ndarray) -> str:
        found = fingerprint(rows, y)
        return f"{name} of {found['samples']:,} samples (SHA-256 {found['sha256'][:12]})"

    if hp["random_state"] is not None:
        seeded = f"random_state={seed}"
    elif saved is not None:
        seeded = f"the checkpoint's seed {seed}"
    else:
        seeded = f"random_state=None (seed {seed}, drawn at random by each worker)"
    return {
        "model": f"model {kind!r} ({owner})",
        "data": data("training data", setup.rows, setup.y),
        "test data": data("test data", setup.X_test, setup.y_test),
        "resume": f"resumed after epoch {len(saved.history)}" if saved is not None else "a new fit",
        **{name: f"{name}={value!r}" for name, value in hp.items() if name not in _WORKER_OWN},
        "seed": seeded,
    }


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
    fitted = ("_train_state", "_input_numbers", "_saved_hp")  # what save() needs too
    return {k: v for k, v in vars(model).items() if k.endswith("_") or k in fitted}


class NetworkClassifier:
    """Softmax regression and the MLP: fit, predict, save, load.

    Subclasses set the hyperparameters as attributes named as in
    :data:`~gradlab.models._spec.DEFAULTS` and ``_kind`` (``"softmax"`` or ``"mlp"``).
    Fitted state ends in ``_`` (see the estimators' docstrings).
    """

    _kind: str
    _train_state: TrainState
    random_state: Any  # a hyperparameter, set by the subclass like the others
    #: With random_state=None, the seed :meth:`_fit_workers` drew for all of its workers.
    _job_seed: int | None = None
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
    lr_: float
    optimizer_: Rule
    schedule_: Schedule

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
            columns are NaN. Never used to decide anything: early stopping watches a
            validation split of ``X`` (``validation_fraction``).
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
            Continue from ``checkpoint`` (its weights, optimizer state and history) up
            to ``epochs``, with this model's hyperparameters; ``random_state=None`` takes
            the checkpoint's seed (a NumPy generator draws a new one). The labels default
            to the checkpoint's.

        A fit that raises an error (a divergence, bad data, ...) leaves the model as it
        was before the call. An interrupted one (Ctrl-C, SIGTERM) keeps what it trained,
        as Keras does, and its checkpoint the last finished epoch.
        """
        before = dict(self.__dict__)
        asked = self.random_state
        try:
            if isinstance(asked, np.random.RandomState | np.random.Generator):
                # this fit's seed, drawn once; the parameter itself is put back below
                self.random_state = draw_seed(asked)
            return self._fit(X, y, eval_set, classes, class_names, callbacks, checkpoint, resume)
        except Exception:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        finally:
            self.random_state = asked

    def _fit(
        self,
        X: Any,
        y: Any,
        eval_set: tuple[Any, Any] | None,
        classes: Any,
        class_names: Sequence[str] | None,
        callbacks: Sequence[Callback],
        checkpoint: str | os.PathLike[str] | None,
        resume: bool,
    ) -> Self:
        owner = self._owner
        hp = self._hyperparameters()
        check_hyperparameters(self._kind, hp)
        callbacks = checked_callbacks(callbacks, owner)
        if isinstance(class_names, str | bytes):  # a string is a sequence of letters
            raise UsageError(
                f"{owner}: class_names must be a sequence of names, one per class; got the "
                f"string {class_names!r}.",
                hint="Pass a list: class_names=['cat', 'dog', ...].",
            )
        if resume and checkpoint is None:
            raise UsageError(f"{owner}: resume needs the checkpoint to resume from.")
        from gradlab.distributed import (
            LOST_CONTACT_SECONDS,
            SOLO,
            LostContactError,
            World,
            env_world,
        )

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
        saved = None
        if resume:
            from gradlab import checkpoint as ckpt_file

            saved = ckpt_file.read(checkpoint)  # type: ignore[arg-type]
        setup = self._setup(X, y, eval_set, classes, class_names, saved)
        sizes, known = setup.sizes, setup.classes
        data_id: dict[str, Any] | None = None  # a resumed fit's, checked at once
        pending: Any = None  # a fresh fit's, hashed while the first epoch trains (below)
        if checkpoint is not None and saved is not None:
            from gradlab.checkpoint import check_compatible, fingerprint

            data_id = fingerprint(setup.rows, setup.y)
            check_compatible(
                saved, against="the data given", data=data_id,
                hint="Resume with the data it was trained on (a resumed run continues "
                "the same run), or fit without resume to start afresh.",
            )  # fmt: skip
        engine = resolve_engine(hp["engine"], hp["device"], workers=workers, dtype=hp["dtype"])
        if hp["random_state"] is not None:
            seed = int(hp["random_state"])
        elif saved is not None:
            seed = saved.seed
        elif self._job_seed is not None:
            seed = self._job_seed
        else:
            seed = secrets.randbits(63)
        history = History()
        if saved is not None:  # a copy: the checkpoint's rows, then this run's
            history = History(columns={k: list(v) for k, v in saved.history.columns.items()})
        rows, y_idx, validation = setup.rows, setup.y, None
        if hp["early_stopping"]:
            fit_rows, val_rows = validation_split(
                y_idx, float(hp["validation_fraction"]), seed, owner
            )
            validation = (rows[val_rows], y_idx[val_rows])
            rows, y_idx = rows[fit_rows], y_idx[fit_rows]
        batch_size = int(hp["batch_size"])
        steps_per_epoch = math.ceil(rows.shape[0] / batch_size)
        rule = resolve_optimizer(self._kind, hp)
        schedule, per_step = resolve_schedule(self._kind, hp, steps_per_epoch)
        rate = LearningRate(schedule, per_step, steps_per_epoch)
        # the NumPy engine folds the rate into SGD's gradient where that is exact
        momentum = rule.momentum if isinstance(rule, SGD) else 0.0
        fold = (
            engine == "numpy"
            and isinstance(rule, SGD)
            and not rule.weight_decay
            and (not momentum or rate.is_constant)
        )
        units = "step" if fold and momentum else "gradient"
        early = None
        if hp["early_stopping"]:
            from gradlab.callbacks import EarlyStopping

            # an EarlyStopping among the callbacks (watching val_accuracy, say) takes the
            # place of the estimator's own: two would stop and keep different epochs
            given = [cb for cb in callbacks if isinstance(cb, EarlyStopping)]
            if len(given) > 1:
                raise UsageError(
                    f"callbacks holds {len(given)} EarlyStopping callbacks; give at most one "
                    "(it takes the place of the estimator's own)."
                )
            early = (
                given[0]
                if given
                else EarlyStopping("val_loss", int(hp["n_iter_no_change"]), float(hp["tol"]))
            )
        epochs = int(hp["epochs"])
        try:
            opt_saved = None
            if saved is not None:
                params = saved.weights
                opt_saved = self._saved_optimizer(saved, rule, units)
                if early is not None and saved.early_stopping is not None:
                    if saved.best:
                        early.resume(saved.early_stopping["best_epoch"], saved.best)
                    if saved.early_stopping["stopped_epoch"]:
                        epochs = len(history)  # it stopped: nothing more to train
            else:
                from gradlab.models._init import init_params

                params = init_params(sizes, hp["init"], hp["init_std"], seed)
            world: World = SOLO
            if job is not None and job.size > 1:
                settings = _job_settings(self._kind, self._owner, hp, seed, setup, saved)
                world = _join(job, hp["device"], settings, self._owner)
            net = self._make_net(
                engine, sizes, params, rule, opt_saved, fold, hp["device"],
                world=world, dtype=hp["dtype"], work=setup.rows.size * epochs,
                one_thread=hp["cpu_threads"] == 1,
            )  # fmt: skip
        except MemoryError:
            weights = sum(a * b for a, b in itertools.pairwise(sizes))
            raise UsageError(
                f"not enough memory for a network of layers {sizes}: {weights:,} weights "
                f"({weights * 4 / 1e9:.3g} GB in float32, several times that to train).",
                hint="Choose smaller hidden widths.",
            ) from None
        schedule_meta = {"config": schedule.config(), "per_step": per_step}
        fitted = {
            "classes": known,
            "sizes": sizes,
            "shape": setup.shape,
            "scale": setup.scale,
            "input_numbers": setup.input_numbers,
            "feature_names": setup.feature_names,
            "engine": engine,
            "seed": seed,
            "history": history,
            "hp": hp,
        }

        def early_meta() -> dict[str, int] | None:
            if early is None:
                return None
            return {"best_epoch": early.best_epoch, "stopped_epoch": early.stopped_epoch}

        def snapshot() -> Any:
            from gradlab.checkpoint import Checkpoint

            return Checkpoint(
                kind=self._kind, sizes=sizes, input_shape=setup.shape, input_scale=setup.scale,
                classes=known, hyperparameters=hp, seed=seed, history=history,
                engine=engine, feature_names=setup.feature_names, weights=net.state(),
                optimizer=net.optimizer_state(), schedule=schedule_meta,
                best=(early.best_weights or {}) if early is not None else {},
                early_stopping=early_meta(), input_numbers=setup.input_numbers,
                data=data_id if pending is None else pending.result(),
            )  # fmt: skip

        # only rank 0 prints, draws and writes
        cbs = [cb for cb in callbacks if cb is not early] if world.leader else []
        saver = None
        if checkpoint is not None and world.leader:
            from gradlab.checkpoint import Checkpointer, PendingFingerprint

            if data_id is None:
                pending = PendingFingerprint(setup.rows, setup.y)
            saver = Checkpointer(checkpoint, snapshot)
            cbs.insert(0, saver)
        if early is not None:  # first: the checkpoint of an epoch holds its best weights
            cbs.insert(0, early)  # (every worker: they all stop at the same epoch)
        from gradlab.governor import training_threads

        threads = hp["cpu_threads"]
        if world.size > 1 and threads == "auto":  # each worker takes its share of the cores
            from gradlab.distributed import thread_share

            threads = thread_share(world)

        self.sizes_ = sizes  # known now; callbacks name the network by it while it trains
        start = time.perf_counter()
        # a stop signal or a lost worker leaves the group with a collective in flight,
        # whose gloo thread may wait for the GIL that destroying the group holds: the worker
        # would hang until its launcher kills it (the process ends without teardown anyway)
        unfinished = False
        try:
            on_cpu = _on_cpu(engine, hp["device"])
            pool = getattr(net, "thread_pool", None)
            with training_threads(engine, threads, on_cpu, pool) as governor:
                train(
                    net, rows, y_idx, setup.X_test, setup.y_test,
                    epochs=epochs, batch_size=batch_size, lr=rate, seed=seed,
                    callbacks=[*cbs, governor] if governor else cbs, history=history,
                    validation=validation,
                    advice=divergence_advice(rule, self._kind, setup.rows, setup.scale),
                    world=world,
                )  # fmt: skip
        except KeyboardInterrupt:
            unfinished = True
            raise
        except Exception as exc:
            if world.size > 1 and _lost_contact(exc):
                unfinished = True
                time.sleep(LOST_CONTACT_SECONDS)  # for the launcher to see the other go first
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
            last = early.last_weights if early is not None else None
            state = TrainState(net.optimizer_state(), schedule_meta, last, early_meta())
            self._set_fitted(fitted, net.state(), state, time.perf_counter() - start)
            self.world_size_ = world.size
            if world.size > 1 and not unfinished:
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
        import multiprocessing

        if getattr(multiprocessing.current_process(), "_inheriting", False):
            # a worker importing the script that started it, which fits at its top level
            raise UsageError(
                f"{self._owner}: n_procs={n_procs} starts worker processes, which import "
                "your script; this fit runs again as they do, because the script calls it "
                "outside 'if __name__ == \"__main__\":'.",
                hint="Put the code that fits under 'if __name__ == \"__main__\":'.",
            )
        resolve_engine(hp["engine"], hp["device"], workers=n_procs, dtype=hp["dtype"])
        need_torch()
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
        if hp["random_state"] is None:  # one seed for all: the same shuffles, the same split
            fresh._job_seed = secrets.randbits(63)
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

    def _range_test_start(self, X: Any, y: Any) -> dict[str, Any]:
        """A fresh network for the learning-rate range test
        (:func:`gradlab.jobs.lr_find.lr_range_test`): the estimator's hyperparameters but
        the rate, its data prepared; the estimator itself is left as it is."""
        hp = self._hyperparameters()
        check_hyperparameters(self._kind, hp)
        setup = self._setup(X, y, None, None, None, None)
        engine = resolve_engine(hp["engine"], hp["device"])
        seed = draw_seed(hp["random_state"])
        seed = 0 if seed is None else seed
        rule = resolve_optimizer(self._kind, hp)
        from gradlab.models._init import init_params

        params = init_params(setup.sizes, hp["init"], hp["init_std"], seed)
        # the rate changes every step: fold it into SGD only where that stays exact
        fold = isinstance(rule, SGD) and not rule.weight_decay and not rule.momentum
        net = self._make_net(engine, setup.sizes, params, rule, None, fold, hp["device"])
        return {
            "net": net,
            "data": net.prepare(setup.rows, setup.y),
            "n": setup.rows.shape[0],
            "batch_size": int(hp["batch_size"]),
            "seed": seed,
            "engine": engine,
            "cpu_threads": hp["cpu_threads"],
            "on_cpu": _on_cpu(engine, hp["device"]),
            "describe": {
                "model": self._kind,
                "sizes": list(setup.sizes),
                "optimizer": rule.config(),
                "batch_size": int(hp["batch_size"]),
                "engine": engine,
                "seed": seed,
            },
        }

    def _setup(
        self,
        X: Any,
        y: Any,
        eval_set: tuple[Any, Any] | None,
        classes: Any,
        class_names: Sequence[str] | None,
        saved: Any,
    ) -> _Setup:
        """The training data as rows and class numbers, the test set likewise, the layer
        sizes; checked against a checkpoint to resume from."""
        owner = self._owner
        data = as_arrays(X, y, owner=owner)
        if data.y is None:
            raise DataError(
                f"{owner} requires y to be passed, but the target y is None.",
                hint="Pass the labels as y, or X as a PyTorch Dataset of (input, label) pairs.",
            )
        rows, shape, scale = as_rows(data.X, pixels=not data.table)
        labels = as_label_array(data.y, rows.shape[0])
        if saved is not None and classes is None and class_names is None:
            known = saved.classes
        else:
            known = Classes.from_labels(labels, classes, class_names)
        try:
            y_idx = known.encode(labels, "y")
        except DataError as exc:
            if classes is None and class_names is not None:
                exc.hint = (
                    f"The classes were taken to be 0 .. {len(class_names) - 1}, one per name "
                    "in class_names: give a name for every class, or the labels in classes=."
                )
            raise
        if eval_set is not None:
            if not isinstance(eval_set, tuple | list) or len(eval_set) != 2 or _pairs(eval_set):
                given = type(eval_set).__name__
                if isinstance(eval_set, tuple | list):
                    given = f"a {given} of {len(eval_set)}"
                raise DataError(
                    f"{owner}: eval_set must be one pair (X_test, y_test); got {given}.",
                    hint="Pass eval_set=(X_test, y_test), not a list of pairs.",
                )
            test = as_arrays(eval_set[0], eval_set[1], owner=owner)
            Xt, _, _ = as_rows(test.X, "X_test", pixels=not test.table)
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
                input_shape=shape,
                input_scale=scale,
                classes=known,
                hint="Resume with the model and the data it was trained on.",
            )
        # what predict needs to tell a uint8 array of other numbers from pixels
        numbers = None
        if scale == 1.0 and rows.size:
            numbers = {"max": float(np.max(np.abs(rows))), "uint8": bool(data.X.dtype == np.uint8)}
        return _Setup(rows, y_idx, Xt, yt, known, sizes, shape, scale, data.feature_names, numbers)

    def _saved_optimizer(self, saved: Any, rule: Rule, units: str) -> SavedOptimizer | None:
        """The checkpoint's optimizer state for ``rule`` in the engine's ``units``; None
        (start afresh) when it holds none or one of another rule, which is announced."""
        state = saved.optimizer
        if state is None:
            return None
        if not state.fits(rule):
            old, new = state.name, rule.name
            if old == new:  # the same rule keeping other buffers (momentum 0 or not)
                old += f" keeping {_buffers(state.rule().slot_names())}"
                new += f" keeping {_buffers(rule.slot_names())}"
            warnings.warn(
                f"{saved.path} holds the state of {old}, not {new}: "
                f"{self._owner} resumes with a fresh {rule.name} state.",
                GradlabWarning,
                stacklevel=outside_stacklevel(),
            )
            return None
        return state.in_units(units, rule.lr if units == "step" else None)  # type: ignore[no-any-return]

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
        rule: Rule,
        saved: SavedOptimizer | None,
        fold: bool,
        device: str,
        *,
        world: Any = None,
        dtype: str = "float32",
        work: float = 0.0,
        one_thread: bool = False,
    ) -> Any:
        """The engine's network; ``work`` (input values x epochs) decides whether the NumPy
        engine uses compiled kernels (:func:`gradlab.optim.compiled.worth_compiling`): the
        blocked step, one row block per core, or on one CPU softmax regression's kernel
        on one thread. ``one_thread``: the fit was asked for one CPU thread, where the
        blocks would run one after the other: the MLP keeps NumPy's passes (they took
        0.85-0.89x the blocks' time on one thread, ``bench/experiments/blocked_mlp.py``)
        and softmax regression its one-thread kernel."""
        if engine == "torch":
            need_torch()
            from gradlab.distributed import SOLO
            from gradlab.engines.torch_mlp import TorchMLP

            return TorchMLP(
                sizes,
                params,
                device=device,
                rule=rule,
                saved=saved,
                world=world or SOLO,
                dtype=dtype,
            )
        from gradlab.engines.numpy_mlp import NumpyMLP, block_count
        from gradlab.optim.compiled import KERNEL_MIN_WORK, MLP_KERNEL_MIN_WORK, worth_compiling

        hidden = len(sizes) > 2
        kernel = worth_compiling(work, MLP_KERNEL_MIN_WORK if hidden else KERNEL_MIN_WORK)
        # softmax regression: its kernel in blocks, else on one thread
        fused = not hidden and kernel
        blocks = block_count() if kernel and not one_thread else 0
        return NumpyMLP(
            sizes, params, rule=rule, saved=saved, fold=fold, fused=fused, blocks=blocks
        )

    def _set_fitted(
        self,
        fitted: dict[str, Any],
        params: dict[str, np.ndarray],
        state: TrainState,
        seconds: float,
    ) -> None:
        known: Classes = fitted["classes"]
        hp = dict(fitted["hp"])
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
        self._input_numbers = fitted.get("input_numbers")
        self.engine_ = fitted["engine"]
        self.seed_ = fitted["seed"]
        self.history_ = fitted["history"]
        self.n_iter_ = len(self.history_)
        self.fit_seconds_ = seconds
        self.lr_ = base_rate(self._kind, hp)
        self.optimizer_ = resolve_optimizer(self._kind, hp)
        if state.schedule is not None:
            self.schedule_ = make_schedule(**state.schedule["config"])
        else:
            self.schedule_ = Constant(self.lr_)
        for name in ("best_epoch_", "stopped_epoch_"):
            vars(self).pop(name, None)
        if state.early_stopping is not None:
            self.best_epoch_ = state.early_stopping["best_epoch"]
            self.stopped_epoch_ = state.early_stopping["stopped_epoch"]
        self._train_state = state
        self._saved_hp = hp
        self.params_ = params

    # -- prediction -------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if "params_" not in vars(self):
            raise UsageError(f"this {self._owner} is not fitted yet; call fit first.")

    def _rows(self, X: Any) -> tuple[np.ndarray, float]:
        """``X`` as rows after the feature checks, and the scale of its values (1/255 for
        uint8 pixels, else 1: each input is read by its own dtype, as in training)."""
        self._check_fitted()
        data = as_arrays(X, owner=self._owner)
        self._check_feature_names(data.feature_names)
        rows, _, scale = as_rows(data.X, pixels=not data.table)
        if rows.shape[1] != self.n_features_in_:
            shape = f" (samples of shape {self.input_shape_})" if len(self.input_shape_) > 1 else ""
            raise DataError(
                f"X has {rows.shape[1]} features, but {self._owner} is expecting "
                f"{self.n_features_in_} features as input{shape}."
            )
        if self.input_scale_ != 1.0 and scale == 1.0 and rows.size and float(rows.max()) > 1.0:
            warnings.warn(
                f"{self._owner} was fitted on uint8 pixels (read as value / 255), but X is "
                f"{data.X.dtype} with values up to {float(rows.max()):g}, used as they are. "
                "If X holds pixels in 0..255, pass them as uint8 or divide them by 255.",
                GradlabWarning,
                stacklevel=outside_stacklevel(),
            )
        numbers = vars(self).get("_input_numbers")
        # numbers above 1, or a table's uint8 columns (0/1 codes too), fitted as they are:
        # a uint8 array of them would be read 255 times smaller
        if (
            self.input_scale_ == 1.0
            and scale != 1.0
            and numbers
            and numbers["max"] > 0.0
            and (numbers["max"] > 1.0 or numbers["uint8"])
        ):
            kind = "uint8 numbers" if numbers["uint8"] else "numbers"
            warnings.warn(
                f"{self._owner} was fitted on {kind} up to {numbers['max']:g}, used as they "
                "are, but X is a uint8 array, read as pixels (value / 255). If X holds the "
                "same kind of numbers, pass them as floats (X.astype(float)) or as a "
                "DataFrame like the one fitted on.",
                GradlabWarning,
                stacklevel=outside_stacklevel(),
            )
        return rows, scale

    def _check_feature_names(self, names: np.ndarray | None) -> None:
        fitted = vars(self).get("feature_names_in_")
        if fitted is None and names is None:
            return
        if fitted is None:
            warnings.warn(
                f"X has feature names, but {self._owner} was fitted without feature names",
                GradlabWarning,
                stacklevel=outside_stacklevel(),
            )
            return
        if names is None:
            warnings.warn(
                f"X does not have valid feature names, but {self._owner} was fitted with "
                "feature names",
                GradlabWarning,
                stacklevel=outside_stacklevel(),
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
        rows, scale = self._rows(X)
        n_layers = len(self.sizes_) - 1
        W = [self.params_[f"W{k}"].astype(np.float64) for k in range(1, n_layers + 1)]
        b = [self.params_[f"b{k}"].astype(np.float64) for k in range(1, n_layers + 1)]
        out = np.empty((rows.shape[0], self.sizes_[-1]))
        for i in range(0, rows.shape[0], PREDICT_BATCH):
            h = rows[i : i + PREDICT_BATCH].astype(np.float64)
            for k in range(n_layers):
                z = h @ W[k]
                if k == 0 and scale != 1.0:
                    z *= scale
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
        Classes(self.classes_, self.class_names_).check_kind(truth)
        hits = (pred == truth).astype(np.float64)
        if sample_weight is None:
            return float(hits.mean())
        return float(np.average(hits, weights=sample_weights(sample_weight, hits.shape[0])))

    # -- checkpoints ------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to a checkpoint file (safetensors; see :mod:`gradlab.checkpoint`).

        Everything is saved: the weights, the momentum buffers (so training can
        continue from the file), every constructor parameter, the label values and
        class names, the feature names, the seed and the history.
        """
        from gradlab.checkpoint import Checkpoint, write

        self._check_fitted()
        state = self._train_state
        early = state.early_stopping
        best = self.params_ if early is not None and early["best_epoch"] else {}
        ckpt = Checkpoint(
            kind=self._kind, sizes=self.sizes_, input_shape=self.input_shape_,
            input_scale=self.input_scale_, classes=Classes(self.classes_, self.class_names_),
            hyperparameters=self._saved_hp, seed=self.seed_, history=self.history_,
            engine=self.engine_, feature_names=vars(self).get("feature_names_in_"),
            weights=state.last_weights if state.last_weights is not None else self.params_,
            optimizer=state.optimizer, schedule=state.schedule, best=best,
            early_stopping=early, input_numbers=vars(self).get("_input_numbers"),
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
            "input_numbers": ckpt.input_numbers,
            "engine": ckpt.engine,
            "seed": ckpt.seed,
            "history": ckpt.history,
            "hp": ckpt.hyperparameters,
        }
        state = TrainState(
            ckpt.optimizer,
            ckpt.schedule,
            dict(ckpt.weights) if ckpt.best else None,
            ckpt.early_stopping,
        )
        self._set_fitted(fitted, dict(ckpt.fitted_weights), state, 0.0)
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
