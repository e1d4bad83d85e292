"""One problem, several engines or descent methods, measured side by side.

Also the exact reproductions of the tutorial that fits one line in NumPy, PyTorch and
TensorFlow: same seeds, same random-number order, same hyperparameters.
Used by ``gradlab compare`` and the tour.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from gradlab.errors import DivergenceError, MissingDependencyError, UsageError
from gradlab.params import Options, validate

if TYPE_CHECKING:
    from gradlab.models.base import GradientDescentModel
    from gradlab.optim import Rule, Schedule
    from gradlab.viz.figure import Figure

# The models (and scikit-learn under them) are imported inside the functions, so that the
# CLI can read PROBLEMS and DEFAULTS while it builds its parser.

#: The problems :func:`compare` fits: the tutorial's ``y = w x^2 + b`` on its 100 points
#: (:func:`tutorial_quadratic_data`), a generated line, and scikit-learn's breast-cancer
#: data with logistic regression.
PROBLEMS = ("quadratic", "line", "breast-cancer")

#: Per-problem defaults: the quadratic one is the tutorial's (lr 0.001, 800 steps, 0.5*sum).
DEFAULTS: dict[str, dict[str, Any]] = {
    "quadratic": {"lr": 0.001, "epochs": 800, "loss": "half_sse"},
    "line": {"lr": 0.01, "epochs": 200, "loss": "mse"},
    "breast-cancer": {"lr": 0.1, "epochs": 300, "loss": "bce"},
}
#: The losses each problem's model takes: squared error for the regressions, binary
#: cross-entropy for the classifier (mean, or summed as the tutorial's 0.5 * sum is).
LOSSES: dict[str, tuple[str, ...]] = {
    "quadratic": ("mse", "half_sse"),
    "line": ("mse", "half_sse"),
    "breast-cancer": ("bce", "bce_sum"),
}


@dataclass(frozen=True)
class Dataset:
    """Train (and optional test) arrays for one comparison problem."""

    name: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    description: str = ""


def tutorial_quadratic_data(seed: int = 100) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The tutorial's NumPy data and initial parameters, in its random-number order.

    ``np.random.seed(100)``; ``x = linspace(-1, 1, 100)``; ``y = 3x^2 + 2 + 0.2*rand``;
    then ``w = rand(1, 1)``, ``b = rand(1, 1)``.

    Returns
    -------
    x : ndarray of shape (100,)
    y : ndarray of shape (100,)
    w0, b0 : float
        0.77828922 and 0.7795984 for seed 100.
    """
    rs = np.random.RandomState(seed)  # the legacy generator behind np.random.seed
    x = np.linspace(-1, 1, 100).reshape(100, 1)
    y = 3 * np.power(x, 2) + 2 + 0.2 * rs.rand(x.size).reshape(100, 1)
    w0 = rs.rand(1, 1)
    b0 = rs.rand(1, 1)
    return x[:, 0], y[:, 0], float(w0[0, 0]), float(b0[0, 0])


def load_problem(name: str, seed: int = 0) -> Dataset:
    """The data of a comparison problem (see :data:`PROBLEMS`)."""
    if name == "quadratic":
        x, y, _, _ = tutorial_quadratic_data()
        return Dataset(name, x[:, None], y, description="y = 3x^2 + 2 + 0.2*U(0,1), 100 points")
    if name == "line":
        from gradlab.data.points import make_line

        pts = make_line(100, seed=seed)
        return Dataset(name, pts.X, pts.y, description=pts.source)
    if name == "breast-cancer":
        return breast_cancer()
    raise UsageError(f"unknown problem {name!r}; choose one of: {', '.join(PROBLEMS)}.")


def breast_cancer() -> Dataset:
    """scikit-learn's breast-cancer data (569 x 30, embedded), standardised, fixed split.

    The split is stratified, 25% test, ``random_state=0``; the mean and standard
    deviation come from the training part only.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    Xtr, Xte, ytr, yte = train_test_split(
        data.data, data.target, test_size=0.25, stratify=data.target, random_state=0
    )
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
    return Dataset(
        "breast-cancer",
        (Xtr - mu) / sd,
        ytr.astype(np.float64),
        (Xte - mu) / sd,
        yte.astype(np.float64),
        description="scikit-learn breast cancer, 426 train / 143 test, standardised",
    )


def make_model(problem: str, **params: Any) -> GradientDescentModel:
    """The model a problem is solved with."""
    from gradlab.models import LinearRegression, LogisticRegression, PolynomialRegression

    if problem == "quadratic":
        return PolynomialRegression(powers=(2,), **params)
    if problem == "line":
        return LinearRegression(**params)
    return LogisticRegression(**params)


@dataclass
class Row:
    """One engine/method/optimizer run of :func:`compare`.

    Attributes
    ----------
    engine, method, optimizer : str
        How the model was fitted (``"numpy"``, ``"batch"``, ``"sgd"``...).
    coef : list of float
        The fitted weights, one per feature.
    intercept : float
        The fitted intercept.
    loss : float
        The loss on all the data at the end.
    steps : int
        Updates taken.
    seconds : float
        Time the fit took (after an untimed warm-up fit).
    history : list of float
        The loss on all the data after each epoch; ``history[0]`` is the start.
    step_loss : list of float
        The loss of each step's batch, as the step saw it (before its update).
    test_accuracy : float or None
        Accuracy on the test split, for the classification problem.
    rule, schedule : dict or None
        The update rule's and the schedule's configuration.
    diverged : DivergenceError or None
        Set when the run diverged. Then ``coef`` and ``intercept`` are the last finite
        parameters, ``loss`` is the bad loss, ``steps`` the step it went bad at, and
        ``history`` the loss after each epoch before that.
    ms_per_step, steps_per_second, seconds_per_epoch, noise, rises : float
        Derived from the above (properties).
    """

    engine: str
    method: str
    coef: list[float]
    intercept: float
    loss: float
    steps: int
    seconds: float
    history: list[float]
    step_loss: list[float]
    test_accuracy: float | None = None
    optimizer: str = "sgd"
    rule: dict[str, Any] | None = None
    schedule: dict[str, Any] | None = None
    diverged: DivergenceError | None = None

    @property
    def ms_per_step(self) -> float:
        return 1e3 * self.seconds / max(self.steps, 1)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("inf")

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(len(self.history) - 1, 1)

    @property
    def noise(self) -> float:
        """How much the parameters still jitter: the median of ``|log L[e+1] - 2 log L[e] +
        log L[e-1]|`` over the last half of the epochs, where ``L[e]`` is the loss on all
        the data after epoch ``e``; how far each epoch's log-loss departs from the line
        through its neighbours (0 for a smooth curve, however steep).

        The loss of each step's own batch is not used: with one point per batch, its
        spread says mostly which point was drawn, and stays as large with the parameters
        held at the minimum."""
        s = np.asarray(self.history[len(self.history) // 2 :])
        s = s[s > 0]
        if s.size < 3:
            return 0.0
        return float(np.median(np.abs(np.diff(np.log(s), 2))))

    @property
    def rises(self) -> float:
        """Share of epochs after which the full loss went up."""
        h = np.asarray(self.history)
        return float(np.mean(np.diff(h) > 0)) if h.size > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-able numbers and names, derived properties included."""
        return {
            "engine": self.engine,
            "method": self.method,
            "optimizer": self.rule,
            "optimizer_flag": self.optimizer,
            "schedule": self.schedule,
            "coef": self.coef,
            "intercept": self.intercept,
            "loss": self.loss,
            "steps": self.steps,
            "seconds": self.seconds,
            "ms_per_step": self.ms_per_step,
            "steps_per_second": self.steps_per_second,
            "seconds_per_epoch": self.seconds_per_epoch,
            "noise": self.noise,
            "rises": self.rises,
            "test_accuracy": self.test_accuracy,
            "diverged": None
            if self.diverged is None
            else {
                "iteration": self.diverged.iteration,
                "loss": self.diverged.loss,
                "message": self.diverged.message,
                "hint": self.diverged.hint,
            },
        }


#: What :meth:`Comparison.plot` may draw the loss against.
_PLOT_CONSTRAINTS = {"per": Options(("epoch", "step"))}


class Comparison(NamedTuple):
    """What :func:`compare` returns: the problem's data and one :class:`Row` per
    engine x method. A tuple, so ``data, rows = compare(...)`` unpacks it."""

    data: Dataset
    rows: list[Row]

    def labels(self) -> list[str]:
        """A name per row: the method when there is one engine, the engine when there is
        one method, else both (``"torch minibatch"``); "(diverged)" after a run that
        diverged."""
        engines = {r.engine for r in self.rows}
        methods = {r.method for r in self.rows}
        if len(engines) == 1 and len(methods) > 1:
            names = [r.method for r in self.rows]
        elif len(methods) == 1:
            names = [r.engine for r in self.rows]
        else:
            names = [f"{r.engine} {r.method}" for r in self.rows]
        marks = [" (diverged)" if r.diverged else "" for r in self.rows]
        return [n + mark for n, mark in zip(names, marks, strict=True)]

    def plot(self, per: str = "epoch") -> Figure:
        """The loss curves of every engine and method, on one log-scaled axes.

        Parameters
        ----------
        per : {"epoch", "step"}, default "epoch"
            ``"epoch"``: the loss on all the data after each epoch (epoch 0 is the
            start), comparable across methods; engines that agree draw the same curve,
            each in its own dash so that all stay visible. ``"step"``: the loss of each
            step's batch as the step saw it (before its update), placed where the step
            began, in epochs: how noisy each method is.

        Returns
        -------
        Figure
            Shows itself inline in a notebook.

        Raises
        ------
        UsageError
            ``per`` is neither ``"epoch"`` nor ``"step"``, or there are no rows.
        """
        from gradlab.viz.estimators import step_curves

        validate(_PLOT_CONSTRAINTS, {"per": per}, "Comparison.plot")
        if not self.rows:
            raise UsageError("Comparison.plot: there are no runs to draw (no engine or method).")
        head = f"{self.data.name} ({self.data.description})" if self.data.description else ""
        if per == "epoch":
            curves = [
                (label, np.arange(len(r.history), dtype=float), np.asarray(r.history))
                for label, r in zip(self.labels(), self.rows, strict=True)
            ]
            return step_curves(curves, xlabel="epoch", ylabel="loss on all the data",
                               title=f"Loss per epoch: {head or self.data.name}")  # fmt: skip
        curves = []
        for label, r in zip(self.labels(), self.rows, strict=True):
            per_epoch = len(r.step_loss) / max(len(r.history) - 1, 1)
            x = np.arange(len(r.step_loss)) / per_epoch  # measured as the step began
            curves.append((label, x, np.asarray(r.step_loss)))
        return step_curves(curves, xlabel="epoch (each step placed where it began)",
                           ylabel="loss of the batch stepped on",
                           title=f"Loss of every step: {head or self.data.name}",
                           noisy=True)  # fmt: skip


def settings(
    problem: str, *, lr: float | None = None, epochs: int | None = None, loss: str | None = None
) -> dict[str, Any]:
    """The problem's learning rate, epochs and loss: those given, else its defaults.

    Raises
    ------
    UsageError
        ``loss`` is not one the problem's model takes (:data:`LOSSES`).
    """
    d = DEFAULTS[problem]
    if loss is not None and loss not in LOSSES[problem]:
        raise UsageError(
            f"compare: loss={loss!r} is not a loss of the {problem} problem, which takes "
            f"{' or '.join(map(repr, LOSSES[problem]))}."
        )
    return {
        "lr": d["lr"] if lr is None else lr,
        "epochs": d["epochs"] if epochs is None else epochs,
        "loss": d["loss"] if loss is None else loss,
    }


#: What a user waits for before an engine's first step, said before it starts.
_STARTING = {
    "numpy": "",
    "torch": " (importing PyTorch)",
    "tensorflow": " (importing TensorFlow and tracing its step graphs: 10-20 s the first time)",
}


def compare(
    problem: str,
    *,
    engines: list[str],
    methods: list[str],
    lr: float | None = None,
    epochs: int | None = None,
    batch_size: int = 10,
    loss: str | None = None,
    seed: int = 0,
    dtype: str = "float64",
    progress: Callable[[str], None] | None = None,
    optimizers: Sequence[str | Rule] = ("sgd",),
    schedule: Schedule | Callable[[float, int], Schedule] | None = None,
) -> Comparison:
    """Fit ``problem`` with every engine x method x optimizer from the same start; time
    each fit. A run that diverges does not stop the others: its row says so
    (:attr:`Row.diverged`).

    The start is the tutorial's ``(w, b)`` for ``quadratic`` and zeros otherwise;
    the shuffles come from one seed, so every engine sees the same batches. Each
    fit is preceded by a short warm-up fit (imports, graph tracing) that is not timed.

    Parameters
    ----------
    problem : {"quadratic", "line", "breast-cancer"}
        The data and model (:data:`PROBLEMS`).
    engines : list of {"numpy", "torch", "tensorflow"}
        Where the arithmetic runs.
    methods : list of {"batch", "sgd", "minibatch"}
        How many points each step sees.
    lr, epochs : float, int, optional
        By default the problem's own (the tutorial's 0.001 and 800 for ``quadratic``).
    batch_size : int, default 10
        Points per step of ``minibatch``.
    loss : str, optional
        ``"mse"`` or ``"half_sse"`` for the regressions, ``"bce"`` or ``"bce_sum"`` for
        the classifier; by default the problem's own.
    seed : int, default 0
        Seed of the shuffles (and of the generated line).
    dtype : {"float64", "float32"}, default "float64"
        Precision of the torch and TensorFlow engines (NumPy's is float64).
    progress : callable, optional
        Receives a line before each engine starts.
    optimizers : sequence of str or Rule, default ("sgd",)
        Update rules (names from :data:`gradlab.optim.RULES`, or Rules), all at the
        problem's rate (or ``lr``).
    schedule : Schedule or callable, optional
        The models' ``schedule``.

    Returns
    -------
    Comparison
        ``(data, rows)``, a :class:`Row` per engine x method x optimizer;
        ``.plot()`` draws the loss curves.

    Raises
    ------
    UsageError
        An unknown problem, engine, method or optimizer, or a loss the problem's model
        does not take.
    MissingDependencyError
        An engine's framework is not installed.
    """
    from gradlab.models.base import short_fits_expected

    data = load_problem(problem, seed)
    params = {
        **settings(problem, lr=lr, epochs=epochs, loss=loss),
        "batch_size": batch_size,
        "random_state": seed,
    }
    w0: np.ndarray | None = None
    b0 = 0.0
    if problem == "quadratic":
        _, _, w, b0 = tutorial_quadratic_data()
        w0 = np.array([w])
    rows = []
    # the rows show how far each run got (warm-up epochs are short on purpose): a
    # ConvergenceWarning per row would repeat them
    with short_fits_expected():
        for engine in engines:
            if progress is not None:
                progress(f"fitting with {engine}: {', '.join(methods)}{_STARTING.get(engine, '')}")
            options = {} if engine == "numpy" else {"dtype": dtype}
            for method in methods:
                for optimizer in optimizers:
                    common = {
                        "method": method,
                        "engine": engine,
                        "engine_options": options,
                        "optimizer": optimizer,
                        "schedule": schedule,
                    }
                    # one epoch to warm the engine up (imports, compilation), untimed; at a
                    # constant rate, since a schedule fitted to one epoch may not exist
                    warm = make_model(
                        problem, **{**params, "epochs": 1}, **{**common, "schedule": None}
                    )
                    with contextlib.suppress(DivergenceError):
                        warm.fit(data.X, data.y, coef_init=w0, intercept_init=b0)
                    model = make_model(problem, **params, **common)
                    start = time.perf_counter()
                    try:
                        model.fit(data.X, data.y, coef_init=w0, intercept_init=b0)
                    except DivergenceError as exc:
                        seconds = time.perf_counter() - start
                        rows.append(_diverged_row(exc, seconds, common, params["lr"]))
                        continue
                    seconds = time.perf_counter() - start
                    acc = None
                    if data.X_test is not None and data.y_test is not None:
                        acc = float(model.score(data.X_test, data.y_test))  # type: ignore[attr-defined]
                    rows.append(
                        Row(
                            engine=engine,
                            method=method,
                            coef=model.coef_.tolist(),
                            intercept=model.intercept_,
                            loss=model.loss_value(data.X, data.y),
                            steps=model.n_steps_,
                            seconds=seconds,
                            history=model.history_["loss"],
                            step_loss=model.history_.step_loss,
                            test_accuracy=acc,
                            optimizer=optimizer if isinstance(optimizer, str) else optimizer.name,
                            rule=model.optimizer_.config(),
                            schedule=model.schedule_.config() if model.schedule_ else None,
                        )
                    )
    return Comparison(data, rows)


def _diverged_row(exc: DivergenceError, seconds: float, common: dict[str, Any], lr: float) -> Row:
    """The row of a run that diverged: its last finite parameters and its curve so far."""
    from gradlab.optim import Rule, make_rule

    optimizer = common["optimizer"]
    if isinstance(optimizer, Rule):
        rule = dataclasses.replace(optimizer, lr=lr)
    else:
        rule = make_rule(optimizer, lr=lr)
    return Row(
        engine=common["engine"],
        method=common["method"],
        coef=np.atleast_1d(np.asarray(exc.last_params["coef"], dtype=float)).tolist(),
        intercept=float(exc.last_params["intercept"]),
        loss=exc.loss,
        steps=exc.iteration,
        seconds=seconds,
        history=list(exc.losses),
        step_loss=[],
        optimizer=optimizer if isinstance(optimizer, str) else optimizer.name,
        rule=rule.config(),
        diverged=exc,
    )


def sklearn_logistic(data: Dataset) -> dict[str, Any]:
    """scikit-learn's ``LogisticRegression`` on the same split, for reference."""
    from sklearn.linear_model import LogisticRegression as SkLogistic

    start = time.perf_counter()
    clf = SkLogistic(max_iter=1000).fit(data.X, data.y)
    seconds = time.perf_counter() - start
    return {
        "name": "scikit-learn LogisticRegression (lbfgs, C=1)",
        "test_accuracy": float(clf.score(data.X_test, data.y_test)),
        "seconds": seconds,
    }


# ---------------------------------------------------------------- the tutorial, exactly


def tutorial_numpy() -> dict[str, Any]:
    """The NumPy run: seed 100, 800 steps, lr 0.001, loss 0.5*sum, hand-derived gradients.

    Returns
    -------
    dict
        ``engine`` ("numpy"), the start ``w0`` and ``b0`` (0.77828922 and 0.7795984) and
        the end ``w`` and ``b`` (2.98927619 and 2.09818307), as floats.
    """
    from gradlab.models import PolynomialRegression

    x, y, w0, b0 = tutorial_quadratic_data(100)
    m = PolynomialRegression(powers=(2,), lr=0.001, epochs=800, loss="half_sse")
    m.fit(x[:, None], y, coef_init=[w0], intercept_init=b0)
    return {"engine": "numpy", "w0": w0, "b0": b0, "w": float(m.coef_[0]), "b": m.intercept_}


def tutorial_torch() -> dict[str, Any]:
    """The PyTorch run: ``torch.manual_seed(100)``, float32, autograd, 800 steps, lr 0.001.

    The tutorial's own data and start, drawn by PyTorch in its order; gradlab's torch
    engine fits them.

    Returns
    -------
    dict
        ``engine`` ("torch"), the start ``w0`` (0.2437) and ``b0`` (0) and the end ``w``
        and ``b`` (2.9645 and 2.1146, as the tutorial printed them), as floats.

    Raises
    ------
    MissingDependencyError
        PyTorch is not installed.
    """
    if importlib.util.find_spec("torch") is None:
        raise MissingDependencyError("PyTorch", "torch")
    import torch

    from gradlab.models import PolynomialRegression

    g = torch.Generator().manual_seed(100)
    x = torch.unsqueeze(torch.linspace(-1, 1, 100), dim=1)
    y = 3 * x.pow(2) + 2 + 0.2 * torch.rand(x.size(), generator=g)
    w0 = torch.randn(1, 1, generator=g)
    m = PolynomialRegression(
        powers=(2,),
        lr=0.001,
        epochs=800,
        loss="half_sse",
        engine="torch",
        engine_options={"dtype": "float32"},
    )
    m.fit(x.numpy(), y.numpy()[:, 0], coef_init=[float(w0)], intercept_init=0.0)
    return {
        "engine": "torch",
        "w0": float(w0),
        "b0": 0.0,
        "w": float(m.coef_[0]),
        "b": m.intercept_,
    }


def tutorial_tensorflow(seed: int = 0) -> dict[str, Any]:
    """The TensorFlow run: the NumPy data, ``w ~ U[0, 1)`` from TensorFlow's own seed,
    ``b = 0``, mean squared error, lr 0.01, 2000 steps; a row every 200 steps.

    Parameters
    ----------
    seed : int, default 0
        TensorFlow's global seed, from which ``w``'s start is drawn.

    Returns
    -------
    dict
        ``engine`` ("tensorflow"), ``seed``, the start ``w0``, the end ``w`` and ``b``,
        and ``rows``: a dict ``{"step", "loss", "w", "b"}`` for steps 0, 200, ..., 2000.

    Raises
    ------
    MissingDependencyError
        TensorFlow is not installed.
    """
    from gradlab.engines import import_tensorflow
    from gradlab.models import PolynomialRegression

    tf = import_tensorflow()
    x, y, _, _ = tutorial_quadratic_data(100)
    tf.random.set_seed(seed)
    w0 = float(tf.random.uniform([1], 0, 1.0)[0])
    m = PolynomialRegression(
        powers=(2,),
        lr=0.01,
        epochs=2000,
        loss="mse",
        engine="tensorflow",
        engine_options={"dtype": "float32"},
    )
    m.fit(x[:, None], y, coef_init=[w0], intercept_init=0.0)
    h = m.history_
    rows = [
        {"step": t, "loss": h["loss"][t], "w": h["w"][t], "b": h["b"][t]}
        for t in range(0, 2001, 200)
    ]
    return {
        "engine": "tensorflow",
        "seed": seed,
        "w0": w0,
        "w": float(m.coef_[0]),
        "b": m.intercept_,
        "rows": rows,
    }


def tutorial(
    seed: int = 0, progress: Callable[[str], None] | None = None
) -> Iterator[dict[str, Any]]:
    """The three reproductions in turn, each result yielded as soon as it is ready.

    An engine that is not installed yields ``{"engine": name, "missing": True}``.
    ``progress`` receives a line before the torch and TensorFlow runs start.
    """
    yield tutorial_numpy()
    runs: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("torch", tutorial_torch),
        ("tensorflow", lambda: tutorial_tensorflow(seed)),
    ]
    for name, run in runs:
        if importlib.util.find_spec(name) is None:
            yield {"engine": name, "missing": True}
            continue
        if progress is not None:
            progress(f"running the {name} tutorial{_STARTING[name]}")
        yield run()
