"""Softmax regression and a ReLU MLP, trained by mini-batch descent, as scikit-learn estimators.

The behaviour lives in :class:`gradlab.models._network.NetworkClassifier`; this module
makes it a scikit-learn estimator (``BaseEstimator`` + ``ClassifierMixin``), so
``clone``, ``get_params``/``set_params``, pipelines, ``cross_val_score``,
``GridSearchCV``, pickle and joblib work. The defaults come from
:data:`gradlab.models._spec.DEFAULTS`, which the command line reads too.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import TYPE_CHECKING, Any, Self

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from gradlab.errors import DataError, UsageError
from gradlab.models._input import as_arrays, is_torch_data
from gradlab.models._labels import Classes, as_label_array
from gradlab.models._network import NetworkClassifier
from gradlab.models._pictures import returned
from gradlab.models._spec import DEFAULTS
from gradlab.models.base import NotFittedError
from gradlab.optim.rules import Rule
from gradlab.optim.schedules import Schedule
from gradlab.params import Constraint, Interval, Predicate, SeedLike, validate

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from gradlab.viz.figure import Figure

_MLP = DEFAULTS["mlp"]
_SOFTMAX = DEFAULTS["softmax"]


def _is_image_shape(value: object) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value)
        and min(value) >= 1
    )


#: What the plotting methods' arguments may be.
PLOT_PARAMETERS: dict[str, Constraint | list[Constraint]] = {
    "n": Interval(Integral, 1, None),
    "dataset": Predicate(lambda v: isinstance(v, str), "a string (the data set's name)"),
    "image_shape": [None, Predicate(_is_image_shape, "a pair (height, width) of integers >= 1")],
}


class _Estimator(NetworkClassifier, ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """What the two estimators share: scikit-learn's protocols on the shared behaviour."""

    def _check_fitted(self) -> None:
        if "params_" not in vars(self):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first.")

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
    def load(cls, path: str | os.PathLike[str]) -> Self:
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
                f"{path} holds {_a(type(model).__name__)}, not {_a(cls.__name__)}.",
                hint="Load it with gradlab.models.load_classifier(path), or "
                f"{type(model).__name__}.load(path).",
            )
        return model

    # -------------------------------------------------------------- pictures

    def _require_fitted(self, method: str) -> None:
        if "params_" not in vars(self):
            name = type(self).__name__
            raise NotFittedError(
                f"{name}.{method}() draws a fitted model, and this {name} is not fitted yet: "
                "call fit(X, y) first."
            )

    def _training(self) -> str:
        """``"30 epochs, sgd, lr=0.1, batch 32, momentum 0.9, numpy engine"``: how it was fitted."""
        hp = getattr(self, "_saved_hp", None) or self.get_params()
        rule = self.optimizer_.config()
        text = f"{self.n_iter_} epochs, {rule['name']}, lr={self.lr_:.3g}, batch {hp['batch_size']}"
        if rule.get("momentum"):
            text += f", momentum {rule['momentum']:g}"
        return f"{text}, {self.engine_} engine"

    def _label(self) -> str:
        from gradlab.viz.classifiers import model_label

        return model_label(self)

    def _predicted(
        self, X: Any, y: Any, method: str, image_shape: tuple[int, int] | None
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """``(images, true, pred)`` for a picture: the samples as images of shape
        (m, height, width) when ``image_shape`` is not None or ``method`` is
        ``"plot_predictions"`` (else None), and the true and predicted class numbers."""
        owner = f"{type(self).__name__}.{method}()"
        data = as_arrays(X, y, owner=owner)
        if data.y is None:
            raise DataError(
                f"{owner} needs the labels y of X, to compare the predictions with them.",
                hint=f"Call {method}(X, y), or pass X as a PyTorch Dataset or DataLoader "
                "of (input, label) pairs.",
            )
        # the model's own input checks (feature count, names) and its predictions
        pred = self._logits(data.X if is_torch_data(X) else X).argmax(axis=1)
        m = pred.shape[0]
        truth = as_label_array(data.y, m)
        true = Classes(self.classes_, self.class_names_).encode(truth, "y")
        images = None
        if image_shape is not None or method == "plot_predictions":
            images = data.X.reshape(m, *self._image_shape(method, image_shape))
        return images, true, pred

    def _image_shape(self, method: str, image_shape: tuple[int, int] | None) -> tuple[int, int]:
        """The (height, width) to draw each sample at."""
        name = type(self).__name__
        d = self.n_features_in_
        if image_shape is not None:
            h, w = (int(v) for v in image_shape)
            if h * w != d:
                raise UsageError(
                    f"{name}.{method}(): image_shape {(h, w)} holds {h * w} pixels, but each "
                    f"sample has {d} values (shape {self.input_shape_}); give a (height, "
                    f"width) whose product is {d}."
                )
            return h, w
        shape = tuple(s for s in self.input_shape_ if s != 1) if d > 1 else (1, 1)
        if len(shape) == 2:
            return shape[0], shape[1]
        side = math.isqrt(d)
        if len(shape) == 1 and side * side == d:
            return side, side  # flattened square images, as scikit-learn's load_digits gives
        raise UsageError(
            f"{name}.{method}() draws each sample as a grey-scale image, but this {name} "
            f"was fitted on samples of shape {self.input_shape_}, which is no square image.",
            hint=f"Pass image_shape=(height, width) with height * width = {d}.",
        )

    def plot_curves(self, *, dataset: str = "") -> Figure:
        """The training curves: loss (left) and accuracy (right) per epoch, training in
        blue, test in orange dashes (the test curves need ``eval_set`` in ``fit``).

        See :func:`gradlab.viz.curves.training_curves` for what each curve measures.

        Parameters
        ----------
        dataset : str, optional
            Named in the title: ``"softmax regression on digits: loss and accuracy per
            epoch"``, with how the model was trained on a second line.

        Returns
        -------
        Figure
            Shows itself inline in a notebook; ``.show()`` or ``savefig`` elsewhere.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        UsageError
            ``dataset`` is not a string.
        """
        from gradlab.viz.curves import curves_title

        self._require_fitted("plot_curves")
        validate(PLOT_PARAMETERS, {"dataset": dataset}, f"{type(self).__name__}.plot_curves")
        title = f"{curves_title(self._label(), dataset)}\n({self._training()})"
        return self.history_.plot(title=title)

    def plot_predictions(
        self,
        X: Any,
        y: Any = None,
        n: int = 18,
        *,
        dataset: str = "",
        image_shape: tuple[int, int] | None = None,
    ) -> Figure:
        """``n`` images of ``X`` with their true and predicted classes: some of the
        model's mistakes (in red, framed) beside correct answers.

        When the model gets some of ``X`` wrong, about a third of the grid shows mistakes,
        spread over all of them; the other images are correct answers spread over ``X``
        (so a set stored class by class still shows every class). The title counts the
        mistakes shown and those in all of ``X``.

        Parameters
        ----------
        X : array-like of shape (m, height, width) or (m, height * width), tensor,
            Dataset or DataLoader
            The images, as ``fit`` takes them (usually the test set).
        y : array-like of shape (m,), optional
            Their labels; None only when ``X`` is a PyTorch Dataset or DataLoader.
        n : int, default 18
            Images shown, 6 to a row (all of ``X`` when it has fewer).
        dataset : str, optional
            Named in the title: ``"MLP 64-200-200-10 on digits"``.
        image_shape : (int, int), optional
            The (height, width) of each image, for samples fitted as flat rows of a
            shape that is not square; by default the shape the model was fitted on.

        Returns
        -------
        Figure

        Raises
        ------
        NotFittedError
            Before ``fit``.
        UsageError
            ``n`` is not an integer >= 1; the samples cannot be drawn as images.
        DataError
            ``X`` or ``y`` is malformed, ``y`` is missing or holds a label the model does
            not know, or ``X`` has another number of values per sample.
        """
        from gradlab.viz.classifiers import prediction_sample

        method = "plot_predictions"
        self._require_fitted(method)
        validate(
            PLOT_PARAMETERS,
            {"n": n, "dataset": dataset, "image_shape": image_shape},
            f"{type(self).__name__}.{method}",
        )
        images, true, pred = self._predicted(X, y, method, image_shape)
        assert images is not None
        return prediction_sample(
            images, true, pred, self.class_names_, n=int(n), model=self._label(),
            dataset=dataset, among="in all",
        )  # fmt: skip

    def plot_confusion(
        self, X: Any, y: Any = None, *, dataset: str = "", ax: Axes | None = None
    ) -> Any:
        """The confusion matrix on ``(X, y)``: how many images of each true class (rows)
        were predicted as each class (columns); right answers in blue on the diagonal,
        mistakes in red, each colour shaded by its own largest count.

        Parameters
        ----------
        X : array-like of shape (m, ...), tensor, Dataset or DataLoader
            The samples, as ``fit`` takes them (usually the test set).
        y : array-like of shape (m,), optional
            Their labels; None only when ``X`` is a PyTorch Dataset or DataLoader.
        dataset : str, optional
            Named in the title.
        ax : matplotlib Axes, optional
            Draw there, in a figure of your own (a subplot beside others), rather than
            in a new figure.

        Returns
        -------
        Figure or Axes
            A new figure; with ``ax``, that Axes.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        UsageError
            ``dataset`` is not a string, or ``ax`` not a matplotlib Axes.
        DataError
            ``X`` or ``y`` is malformed, ``y`` is missing or holds a label the model does
            not know, or ``X`` has another number of values per sample.
        """
        from gradlab.viz.classifiers import confusion_of

        method = "plot_confusion"
        self._require_fitted(method)
        validate(PLOT_PARAMETERS, {"dataset": dataset}, f"{type(self).__name__}.{method}")
        _, true, pred = self._predicted(X, y, method, None)
        return returned(confusion_of(
            true, pred, self.class_names_, model=self._label(), dataset=dataset, images="images",
            ax=ax,
        ), ax)  # fmt: skip


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
        ``"rmsprop"``, ``"adam"`` and ``"adamw"``. The rate used is ``lr_``.
    epochs : int, default 10
        Passes over the data (scikit-learn: ``max_iter``).
    batch_size : int, default 200
        Samples per step (scikit-learn: ``batch_size``).
    momentum : float, default 0.9
        SGD momentum in [0, 1), used by ``optimizer="sgd"`` only (as scikit-learn's
        ``momentum`` is by ``solver="sgd"`` only, with ``nesterovs_momentum=False``):
        the default optimizer is SGD with this momentum. ``"momentum"`` and
        ``"nesterov"`` bring their own 0.9, and a Rule its own hyperparameters. On real
        MNIST, 10 epochs, the defaults reach a test accuracy of 0.9806, plain SGD
        (``lr=0.1, momentum=0``, the course version) 0.9737 (docs/optimizers.md, "On the
        real data sets").
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
        and ``cosine`` count epochs, ``warmup`` and ``onecycle`` optimizer steps
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
        How much the validation loss must fall, and more, to count as an improvement (a
        fall of exactly ``tol`` does not). Unlike scikit-learn's, it is not used without
        early stopping.
    engine : {"auto", "numpy", "torch"}, default "auto"
        ``numpy``: hand-derived backpropagation and gradlab's update rules on one packed
        buffer (fastest on a CPU); ``torch``: ``nn.Sequential`` + ``CrossEntropyLoss`` +
        the same rule from ``torch.optim``; ``auto``: torch where PyTorch sees a GPU,
        numpy otherwise (decided without importing PyTorch on a machine with no GPU).
    device : {"auto", "cpu", "cuda"}, default "auto"
        For the torch engine.
    dtype : {"float32", "float64"}, default "float32"
        The precision of training. float64 needs the torch engine (``engine="auto"``
        picks it); it is what shows that data-parallel training (``n_procs``) is the same
        mini-batch SGD as one process, to rounding.
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
        With several workers, ``"auto"`` gives each its share of the cores. With numba,
        a large job cuts each batch into row blocks, one per core, run on these threads
        (the same digits whatever the count; an explicit 1 keeps, faster on one core,
        the MLP's NumPy passes and softmax regression's kernel on one thread).
    n_procs : int, default 1
        Worker processes to train with, on this machine (data parallelism,
        ``docs/data-parallel.md``): each takes a block of every batch, PyTorch's
        DistributedDataParallel averages the gradients (gloo on CPUs, NCCL on GPUs), and
        every worker applies the same step, so the result is that of one process with the
        same ``batch_size``. Needs the torch engine (``engine="auto"`` picks it). The
        workers are started with ``spawn``: the data and the callbacks are pickled to them,
        the callbacks run in worker 0, and a script must call ``fit`` under
        ``if __name__ == "__main__":``. Under ``torchrun`` (``RANK`` and ``WORLD_SIZE`` set)
        leave it at 1: every process fits, and together they are the job's workers.
    random_state : int, RandomState, Generator or None, default 0
        Seeds the initial weights and the shuffles (epoch ``e`` shuffles with
        ``default_rng([seed, e])``); None draws a seed, and a NumPy generator gives each
        fit its next number; the seed used is kept in ``seed_``. The command line calls
        it ``--seed``.

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
        1/255 when training read uint8 pixels, else 1. Each later input is read by its
        own dtype the same way (uint8: value / 255; any other: as it is).
    sizes_ : tuple of int
        Layer widths from input to output.
    params_ : dict of str to ndarray
        ``W1`` (fan_in, fan_out), ``b1``, ... in the training ``dtype``.
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
    world_size_ : int
        The number of workers of the last ``fit`` (1 for one process).
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
        dtype: str = _MLP["dtype"],
        cpu_threads: int | str | None = _MLP["cpu_threads"],
        n_procs: int = _MLP["n_procs"],
        random_state: SeedLike = _MLP["random_state"],
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
        self.dtype = dtype
        self.cpu_threads = cpu_threads
        self.n_procs = n_procs
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
    dtype : {"float32", "float64"}, default "float32"
    cpu_threads : "auto", int or None, default "auto"
    n_procs : int, default 1
    random_state : int, RandomState, Generator or None, default 0
        As for :class:`MLPClassifier`.

    Attributes
    ----------
    classes_, class_names_, n_features_in_, feature_names_in_, input_shape_,
    input_scale_, sizes_, params_, history_, n_iter_, lr_, optimizer_, schedule_,
    best_epoch_, stopped_epoch_, engine_, seed_, fit_seconds_, world_size_
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
        dtype: str = _SOFTMAX["dtype"],
        cpu_threads: int | str | None = _SOFTMAX["cpu_threads"],
        n_procs: int = _SOFTMAX["n_procs"],
        random_state: SeedLike = _SOFTMAX["random_state"],
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
        self.dtype = dtype
        self.cpu_threads = cpu_threads
        self.n_procs = n_procs
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


def _a(name: str) -> str:
    """``name`` with its article, as it is read aloud: "an MLPClassifier"."""
    return f"an {name}" if name[0] in "AEIOU" or name.startswith("MLP") else f"a {name}"
