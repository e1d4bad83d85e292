"""Softmax regression and a ReLU MLP, trained by mini-batch descent, as scikit-learn estimators.

The behaviour lives in :class:`gradlab.models._network.NetworkClassifier`; this module
makes it a scikit-learn estimator (``BaseEstimator`` + ``ClassifierMixin``), so
``clone``, ``get_params``/``set_params``, pipelines, ``cross_val_score``,
``GridSearchCV``, pickle and joblib work. The defaults come from
:data:`gradlab.models._spec.DEFAULTS`, which the command line reads too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from gradlab.errors import DataError, UsageError
from gradlab.models._network import NetworkClassifier
from gradlab.models._spec import DEFAULTS
from gradlab.optim.rules import Rule
from gradlab.optim.schedules import Schedule

_MLP = DEFAULTS["mlp"]
_SOFTMAX = DEFAULTS["softmax"]


class NotFittedClassifierError(UsageError, NotFittedError):  # type: ignore[misc]
    """Predicting before ``fit``: a gradlab UsageError and scikit-learn's NotFittedError."""


class _Estimator(NetworkClassifier, ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """What the two estimators share: scikit-learn's protocols on the shared behaviour."""

    def _check_fitted(self) -> None:
        if "params_" not in vars(self):
            raise NotFittedClassifierError(
                f"this {type(self).__name__} is not fitted yet; call fit first."
            )

    def __sklearn_is_fitted__(self) -> bool:
        return "params_" in vars(self)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.input_tags.sparse = False
        tags.target_tags.required = True
        return tags

    # ClassifierMixin.score needs y; this one also takes a Dataset that holds it
    score = NetworkClassifier.score

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Any:
        """The fitted estimator saved in a checkpoint (safetensors; nothing is unpickled).

        Every constructor parameter is restored as saved. Use
        :func:`load_classifier` when the file may hold either model.

        Raises
        ------
        DataError
            The file is not a sound gradlab checkpoint, or holds the other model.
        """
        model = load_classifier(path)
        if not isinstance(model, cls):
            raise DataError(
                f"{path} holds a {type(model).__name__}, not a {cls.__name__}.",
                hint="Load it with gradlab.models.load_classifier(path), or "
                f"{type(model).__name__}.load(path).",
            )
        return model


class MLPClassifier(_Estimator):
    """A ReLU network ``input -> hidden... -> classes`` trained on cross-entropy by
    mini-batch descent (SGD, momentum, Nesterov, AdaGrad, RMSProp, Adam or AdamW).

    Parameters
    ----------
    hidden : sequence of int, default (200, 200)
        Hidden layer widths; ``()`` is softmax regression (scikit-learn:
        ``hidden_layer_sizes``).
    lr : float or "auto", default "auto"
        The learning rate (scikit-learn: ``learning_rate_init``); with a schedule, the
        rate it starts from (OneCycleLR: its peak). ``"auto"`` takes, in this order, the
        schedule's own rate (a Schedule, or a dict with ``lr``), the optimizer's (a
        Rule's ``lr``), or the rate for the optimizer's name: 0.05 for ``"sgd"``,
        ``"momentum"`` and ``"nesterov"``, 0.01 for ``"adagrad"``, 1e-3 for
        ``"rmsprop"``, ``"adam"`` and ``"adamw"`` (:data:`gradlab.models._spec.RATES`).
        The rate used is ``lr_``.
    epochs : int, default 10
        Passes over the data (scikit-learn: ``max_iter``).
    batch_size : int, default 200
        Samples per step (scikit-learn: ``batch_size``).
    momentum : float, default 0.9
        SGD momentum in [0, 1), used by ``optimizer="sgd"`` only (as scikit-learn's
        ``momentum`` is by ``solver="sgd"`` only, with ``nesterovs_momentum=False``):
        the default optimizer is SGD with this momentum, as it was before there were
        optimizers to choose. ``"momentum"`` and ``"nesterov"`` bring their own 0.9, and
        a Rule its own hyperparameters. On real MNIST, 10 epochs, the defaults reach a
        test accuracy of 0.979-0.981 (seeds 0-2; ``bench/real_data.py``), plain SGD
        (``lr=0.1, momentum=0``, the course version) 0.974.
    optimizer : str or Rule, default "sgd"
        The update rule: a name of :data:`gradlab.optim.RULES` (``"sgd"``,
        ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``, ``"adam"``,
        ``"adamw"``: PyTorch's defaults but the rate) or a rule with hyperparameters of
        your own, e.g. ``gradlab.optim.rules.Adam(betas=(0.9, 0.99))`` (scikit-learn:
        ``solver``). The rule used is ``optimizer_``.
    schedule : str, dict or Schedule, default "constant"
        How the rate changes: a name of :data:`gradlab.optim.SCHEDULES`, a dict
        ``{"name": ..., **hyperparameters}`` with any of that schedule's
        hyperparameters (the others fill in from ``lr`` and the run's length, and
        ``"warmup_steps": N`` puts a linear warm-up before it), or a
        :mod:`gradlab.optim.schedules` object used as it is. ``step``, ``exponential``
        and ``cosine`` count epochs, ``warmup`` and ``onecycle`` optimizer steps; see
        :func:`gradlab.models._spec.resolve_schedule` for what each name builds
        (``cosine``: from ``lr`` to 0 over ``epochs``). The schedule used is
        ``schedule_``, and ``history_["lr"]`` the rate of each epoch's first step.
    init : {"kaiming", "normal"}, default "kaiming"
        Kaiming-normal (std ``sqrt(2 / fan_in)``) or normal with std ``init_std``.
    init_std : float, default 0.01
        Standard deviation for ``init="normal"``.
    early_stopping : bool, default False
        Hold back ``validation_fraction`` of the training data (stratified, chosen with
        ``random_state``; never the ``eval_set``), stop when the validation loss has not
        fallen by ``tol`` for ``n_iter_no_change`` epochs, and keep the weights of the
        best epoch (scikit-learn's ``early_stopping``, which watches the validation
        accuracy instead: the loss moves smoothly where the accuracy moves in steps).
        The history gains ``val_loss`` and ``val_accuracy``; ``best_epoch_`` and
        ``stopped_epoch_`` (0 when it ran to the end) say what happened.
    validation_fraction : float in (0, 1), default 0.1
        The share of the training data held back for early stopping.
    n_iter_no_change : int, default 3
        Epochs without improvement before stopping (scikit-learn's default is 10, for
        its 200 iterations).
    tol : float, default 1e-4
        The least fall of the validation loss that counts as an improvement. Unlike
        scikit-learn's, it is not used without early stopping.
    engine : {"auto", "numpy", "torch"}, default "auto"
        ``numpy``: hand-derived backpropagation and gradlab's update rules on one packed
        buffer (fastest on a CPU); ``torch``: ``nn.Sequential`` + ``CrossEntropyLoss`` +
        the same rule from ``torch.optim``; ``auto``: torch where PyTorch sees a GPU,
        numpy otherwise (decided without importing PyTorch on a machine with no GPU).
    device : {"auto", "cpu", "cuda"}, default "auto"
        For the torch engine.
    cpu_threads : "auto", int or None, default "auto"
        BLAS (numpy) or intra-op (torch) threads while training on the CPU.
        ``"auto"`` trains on the cores other processes leave free, measured again
        every epoch (:class:`gradlab.governor.ThreadGovernor`): on a 2-core machine,
        two threads made an MLP step 1.6x faster when the machine was idle but 30x
        slower when another process held a core. An integer fixes the count; None
        keeps the libraries' own setting. A fixed count makes a seeded run repeat
        bit for bit (and a resumed run end on the weights of an uninterrupted one);
        BLAS rounds differently on one thread than on two, so under ``"auto"`` a run
        on a busy machine can differ from one on an idle machine in the last digits.
    random_state : int or None, default 0
        Seeds the initial weights and the shuffles (epoch ``e`` shuffles with
        ``default_rng([seed, e])``); None draws a seed, kept in ``seed_``. The command
        line calls it ``--seed``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted; ``predict`` returns them and ``predict_proba``'s columns
        follow them.
    class_names_ : tuple of str
        A display name per class (``class_names`` in ``fit``, else ``str(label)``).
    n_features_in_ : int
        Values per sample (images are flattened: 784 for 28x28).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The column names, when ``X`` was a DataFrame with string column names.
    input_shape_ : tuple of int
        The shape of one sample as given (``(28, 28)``).
    input_scale_ : float
        1/255 for uint8 pixels, else 1.
    sizes_ : tuple of int
        Layer widths from input to output.
    params_ : dict of str to ndarray
        ``W1`` (fan_in, fan_out), ``b1``, ... float32.
    history_ : History
        Per epoch: train_loss, train_accuracy, test_loss, test_accuracy, seconds, lr
        (and val_loss, val_accuracy with early stopping).
    n_iter_ : int
        Epochs trained.
    lr_ : float
        The learning rate used (the schedule's base rate).
    optimizer_ : Rule
        The update rule used, with its rate.
    schedule_ : Schedule
        The schedule used.
    best_epoch_, stopped_epoch_ : int
        With early stopping: the epoch whose weights the model holds, and the epoch
        training stopped after (0 when it ran to the end).
    engine_ : str
        The engine used.
    seed_ : int
        The seed used.
    fit_seconds_ : float
        Wall time of the last ``fit``.
    """

    _kind = "mlp"

    def __init__(
        self,
        *,
        hidden: Sequence[int] = _MLP["hidden"],
        lr: float | str = _MLP["lr"],
        epochs: int = _MLP["epochs"],
        batch_size: int = _MLP["batch_size"],
        momentum: float = _MLP["momentum"],
        optimizer: str | Rule = _MLP["optimizer"],
        schedule: str | Mapping[str, Any] | Schedule = _MLP["schedule"],
        init: str = _MLP["init"],
        init_std: float = _MLP["init_std"],
        early_stopping: bool = _MLP["early_stopping"],
        validation_fraction: float = _MLP["validation_fraction"],
        n_iter_no_change: int = _MLP["n_iter_no_change"],
        tol: float = _MLP["tol"],
        engine: str = _MLP["engine"],
        device: str = _MLP["device"],
        cpu_threads: int | str | None = _MLP["cpu_threads"],
        random_state: int | None = _MLP["random_state"],
    ) -> None:
        self.hidden = hidden
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.momentum = momentum
        self.optimizer = optimizer
        self.schedule = schedule
        self.init = init
        self.init_std = init_std
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.engine = engine
        self.device = device
        self.cpu_threads = cpu_threads
        self.random_state = random_state


class SoftmaxRegression(_Estimator):
    """Softmax regression: one linear layer, softmax, cross-entropy, trained by mini-batch
    descent.

    The defaults are the tutorial's: weights normal with std 0.01, plain SGD at lr 0.1,
    batch 256, 10 epochs. scikit-learn's nearest equivalent is
    ``SGDClassifier(loss="log_loss")`` (one-vs-rest, not softmax) or
    ``LogisticRegression`` (multinomial, solved to convergence).

    Parameters
    ----------
    lr : float or "auto", default "auto"
        The learning rate (scikit-learn: ``eta0`` with ``learning_rate="constant"``);
        ``"auto"`` as for :class:`MLPClassifier`, with these rates by name: 0.1 for
        ``"sgd"`` and ``"adagrad"``, 0.01 for ``"momentum"`` and ``"nesterov"``, 1e-3
        for ``"rmsprop"``, ``"adam"`` and ``"adamw"``.
    epochs : int, default 10
        Passes over the data (scikit-learn: ``max_iter``).
    batch_size : int, default 256
        Samples per step.
    momentum : float, default 0.0
        SGD momentum in [0, 1), used by ``optimizer="sgd"`` only.
    optimizer : str or Rule, default "sgd"
    schedule : str, dict or Schedule, default "constant"
    init : {"kaiming", "normal"}, default "normal"
    init_std : float, default 0.01
    early_stopping : bool, default False
    validation_fraction : float in (0, 1), default 0.1
    n_iter_no_change : int, default 3
    tol : float, default 1e-4
    engine : {"auto", "numpy", "torch"}, default "auto"
    device : {"auto", "cpu", "cuda"}, default "auto"
    cpu_threads : "auto", int or None, default "auto"
    random_state : int or None, default 0
        As for :class:`MLPClassifier`.

    Attributes
    ----------
    classes_, class_names_, n_features_in_, feature_names_in_, input_shape_,
    input_scale_, sizes_, params_, history_, n_iter_, lr_, optimizer_, schedule_,
    best_epoch_, stopped_epoch_, engine_, seed_, fit_seconds_
        As for :class:`MLPClassifier` (``params_`` holds ``W1`` and ``b1``).
    """

    _kind = "softmax"

    def __init__(
        self,
        *,
        lr: float | str = _SOFTMAX["lr"],
        epochs: int = _SOFTMAX["epochs"],
        batch_size: int = _SOFTMAX["batch_size"],
        momentum: float = _SOFTMAX["momentum"],
        optimizer: str | Rule = _SOFTMAX["optimizer"],
        schedule: str | Mapping[str, Any] | Schedule = _SOFTMAX["schedule"],
        init: str = _SOFTMAX["init"],
        init_std: float = _SOFTMAX["init_std"],
        early_stopping: bool = _SOFTMAX["early_stopping"],
        validation_fraction: float = _SOFTMAX["validation_fraction"],
        n_iter_no_change: int = _SOFTMAX["n_iter_no_change"],
        tol: float = _SOFTMAX["tol"],
        engine: str = _SOFTMAX["engine"],
        device: str = _SOFTMAX["device"],
        cpu_threads: int | str | None = _SOFTMAX["cpu_threads"],
        random_state: int | None = _SOFTMAX["random_state"],
    ) -> None:
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.momentum = momentum
        self.optimizer = optimizer
        self.schedule = schedule
        self.init = init
        self.init_std = init_std
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.engine = engine
        self.device = device
        self.cpu_threads = cpu_threads
        self.random_state = random_state


ESTIMATOR_CLASSES: dict[str, type[_Estimator]] = {
    "mlp": MLPClassifier,
    "softmax": SoftmaxRegression,
}


def load_classifier(path: str | os.PathLike[str]) -> MLPClassifier | SoftmaxRegression:
    """The fitted estimator in a checkpoint file, of the class it was saved from.

    Raises
    ------
    DataError
        The file is missing or not a sound gradlab checkpoint; the message names the
        file and the field.
    """
    from gradlab.checkpoint import read

    ckpt = read(path)
    model = ESTIMATOR_CLASSES[ckpt.kind](**ckpt.hyperparameters)
    model._restore(ckpt)
    return model  # type: ignore[return-value]
