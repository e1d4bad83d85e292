"""scikit-learn comparison rows: the same jobs as the tutorials, done with scikit-learn.

Each function fits one or more estimators and returns one row per estimator: a dict with
``name``, ``seconds`` (wall time of the conversion of the inputs plus ``fit``), ``loss``
(regression: mean squared error on the training points, as the tutorial reports it) or
``accuracy`` (classification: on the test set), and ``note`` (the settings, and anything that
makes the row differ from the tutorial's job).

Images come in as uint8 arrays of shape ``(n, h, w)`` (or already flat ``(n, d)``) and are
converted once to float32 in ``[0, 1]``, like the other paths of the benchmark.

``ConvergenceWarning`` is expected with a budget of 10 epochs; it is silenced on purpose and
recorded in the row's ``note`` (and in ``converged``: False when it was raised).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.neural_network import MLPClassifier

__all__ = ["linreg", "mlp", "softmax"]

Row = dict[str, Any]


def _as_unit_floats(X: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Flatten images to ``(n, d)`` float32 scaled to ``[0, 1]`` (uint8 input is divided by 255)."""
    flat = X.reshape(len(X), -1)
    if flat.dtype == np.uint8:
        return flat.astype(np.float32) / np.float32(255.0)
    return flat.astype(np.float32, copy=False)


def _fit(estimator: Any, X: npt.NDArray[Any], y: npt.NDArray[Any]) -> tuple[Any, list[str]]:
    """Fit with ``ConvergenceWarning`` silenced; return the messages that were raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(X, y)
    messages: list[str] = []
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            messages.append(str(w.message).splitlines()[0])
        else:  # anything else is not expected: show it
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return estimator, messages


def _convergence_note(messages: list[str]) -> str:
    if not messages:
        return "no ConvergenceWarning"
    return f"ConvergenceWarning silenced (expected): {messages[0]}"


def linreg(
    points: npt.ArrayLike,
    *,
    lr: float = 0.0001,
    iterations: int = 1000,
    seed: int = 0,
) -> list[Row]:
    """Fit ``y = w * x + b`` to the tutorial's points with scikit-learn.

    Parameters
    ----------
    points : array_like of shape (n, 2)
        Columns ``x`` and ``y``, unscaled (as the tutorial uses them).
    lr : float, default 0.0001
        ``eta0`` of ``SGDRegressor`` (constant schedule), the tutorial's learning rate.
    iterations : int, default 1000
        ``max_iter`` (epochs) of ``SGDRegressor``, the tutorial's number of iterations.
    seed : int, default 0
        ``random_state`` of ``SGDRegressor`` (its shuffling).

    Returns
    -------
    list of dict
        Two rows, ``LinearRegression`` then ``SGDRegressor``, each with ``name``,
        ``seconds``, ``loss`` (mean squared error on the points), ``b``, ``w``,
        ``converged`` and ``note``.
    """
    pts = np.asarray(points, dtype=np.float64)
    X, y = pts[:, :1], pts[:, 1]
    rows: list[Row] = []

    t0 = time.perf_counter()
    ols, messages = _fit(LinearRegression(), X, y)
    seconds = time.perf_counter() - t0
    rows.append(
        _linreg_row(
            "sklearn LinearRegression",
            seconds,
            ols,
            X,
            y,
            messages,
            "closed-form least squares (the optimum the tutorial's descent approaches)",
        )
    )

    sgd = SGDRegressor(
        loss="squared_error",
        penalty=None,
        learning_rate="constant",
        eta0=lr,
        max_iter=iterations,
        tol=None,
        shuffle=True,
        random_state=seed,
    )
    t0 = time.perf_counter()
    sgd, messages = _fit(sgd, X, y)
    seconds = time.perf_counter() - t0
    rows.append(
        _linreg_row(
            "sklearn SGDRegressor",
            seconds,
            sgd,
            X,
            y,
            messages,
            f"per-sample SGD, constant eta0={lr}, {iterations} epochs, no penalty, unscaled x; "
            f"{len(y)} updates per epoch on 0.5*(y-p)^2, so it moves ~{len(y) // 2}x further "
            "per epoch than the tutorial's one full-batch step per iteration; the row reports the "
            "last iterate of constant-step SGD, which keeps jittering around the optimum",
        )
    )
    return rows


def _linreg_row(
    name: str,
    seconds: float,
    est: Any,
    X: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    messages: list[str],
    note: str,
) -> Row:
    w = float(np.ravel(est.coef_)[0])
    b = float(np.ravel(est.intercept_)[0])
    loss = float(np.mean((y - (w * X[:, 0] + b)) ** 2))
    return {
        "name": name,
        "seconds": seconds,
        "loss": loss,
        "b": b,
        "w": w,
        "converged": not messages,
        "note": f"{note}; {_convergence_note(messages)}",
    }


def softmax(
    X_train: npt.NDArray[Any],
    y_train: npt.NDArray[Any],
    X_test: npt.NDArray[Any],
    y_test: npt.NDArray[Any],
    *,
    epochs: int = 10,
    seed: int = 0,
    n_jobs: int | None = -1,
    logistic_max_iter: int = 100,
) -> list[Row]:
    """Softmax-regression-like classifiers from scikit-learn.

    Parameters
    ----------
    X_train, X_test : ndarray of shape (n, h, w) or (n, d)
        Images (uint8 is scaled to ``[0, 1]``).
    y_train, y_test : ndarray of shape (n,)
        Integer labels.
    epochs : int, default 10
        ``max_iter`` of ``SGDClassifier`` (passes over the data), with ``tol=None`` so that it
        runs exactly that many.
    seed : int, default 0
        ``random_state``.
    n_jobs : int or None, default -1
        ``SGDClassifier`` fits its one-vs-rest problems in parallel threads; -1 uses every
        core, as torch does.
    logistic_max_iter : int, default 100
        ``max_iter`` of ``LogisticRegression`` (L-BFGS iterations, scikit-learn's default).

    Returns
    -------
    list of dict
        Two rows, ``SGDClassifier(loss="log_loss")`` then ``LogisticRegression``, each with
        ``name``, ``seconds``, ``accuracy`` (test), ``train_accuracy``, ``converged`` and
        ``note``.
    """
    rows: list[Row] = []

    t0 = time.perf_counter()
    Xtr, Xte = _as_unit_floats(X_train), _as_unit_floats(X_test)
    sgd = SGDClassifier(
        loss="log_loss", max_iter=epochs, tol=None, random_state=seed, n_jobs=n_jobs
    )
    sgd, messages = _fit(sgd, Xtr, y_train)
    seconds = time.perf_counter() - t0
    rows.append(
        _clf_row(
            'sklearn SGDClassifier(loss="log_loss")',
            seconds,
            sgd,
            Xtr,
            y_train,
            Xte,
            y_test,
            messages,
            f"one-vs-rest binary logistic regressions (not a multinomial softmax), per-sample "
            f"SGD, {epochs} epochs (tol=None), scikit-learn's default 'optimal' schedule and "
            f"L2 alpha=1e-4, n_jobs={n_jobs}",
        )
    )

    t0 = time.perf_counter()
    Xtr, Xte = _as_unit_floats(X_train), _as_unit_floats(X_test)
    logreg = LogisticRegression(max_iter=logistic_max_iter)
    logreg, messages = _fit(logreg, Xtr, y_train)
    seconds = time.perf_counter() - t0
    rows.append(
        _clf_row(
            "sklearn LogisticRegression",
            seconds,
            logreg,
            Xtr,
            y_train,
            Xte,
            y_test,
            messages,
            f"multinomial (softmax) loss, L-BFGS, max_iter={logistic_max_iter} full-batch "
            f"iterations (n_iter_={int(np.max(logreg.n_iter_))}; not comparable to epochs "
            "of SGD), default L2 C=1.0",
        )
    )
    return rows


def mlp(
    X_train: npt.NDArray[Any],
    y_train: npt.NDArray[Any],
    X_test: npt.NDArray[Any],
    y_test: npt.NDArray[Any],
    *,
    epochs: int = 10,
    lr: float = 0.1,
    batch_size: int = 200,
    seed: int = 0,
) -> list[Row]:
    """The 784-200-200-10 ReLU MLP with scikit-learn's ``MLPClassifier``.

    Plain mini-batch SGD is chosen (``solver="sgd"``, ``momentum=0``, constant learning rate,
    ``alpha=0``) because it is the same update rule as ``torch.optim.SGD(lr=0.1)`` on the
    batch-mean cross-entropy that the tutorial uses; Adam (scikit-learn's default) would be a
    different optimiser.  What still differs: scikit-learn's Glorot-uniform initialisation
    instead of PyTorch's default, and its own shuffling.

    Parameters
    ----------
    X_train, X_test : ndarray of shape (n, h, w) or (n, d)
        Images (uint8 is scaled to ``[0, 1]``).
    y_train, y_test : ndarray of shape (n,)
        Integer labels.
    epochs : int, default 10
        ``max_iter`` (epochs for the stochastic solvers).
    lr : float, default 0.1
        ``learning_rate_init``.
    batch_size : int, default 200
        Mini-batch size; 200 is a common MNIST MLP course batch. The benchmark passes
        256, the batch of d2l's loaders (and of the tutorial's pipeline).
    seed : int, default 0
        ``random_state`` (initialisation and shuffling).

    Returns
    -------
    list of dict
        One row with ``name``, ``seconds``, ``accuracy`` (test), ``train_accuracy``,
        ``converged``, ``loss`` (scikit-learn's last-epoch training loss) and ``note``.
    """
    t0 = time.perf_counter()
    Xtr, Xte = _as_unit_floats(X_train), _as_unit_floats(X_test)
    net = MLPClassifier(
        hidden_layer_sizes=(200, 200),
        activation="relu",
        solver="sgd",
        alpha=0.0,
        batch_size=batch_size,
        learning_rate="constant",
        learning_rate_init=lr,
        momentum=0.0,
        nesterovs_momentum=False,
        max_iter=epochs,
        shuffle=True,
        random_state=seed,
        n_iter_no_change=max(epochs + 1, 10),
    )
    net, messages = _fit(net, Xtr, y_train)
    seconds = time.perf_counter() - t0
    dtype = np.asarray(net.coefs_[0]).dtype
    row = _clf_row(
        "sklearn MLPClassifier(200, 200)",
        seconds,
        net,
        Xtr,
        y_train,
        Xte,
        y_test,
        messages,
        f"solver='sgd', lr {lr}, momentum 0, alpha 0, batch {batch_size}, {epochs} epochs, "
        f"Glorot-uniform init, weights {dtype}",
    )
    row["loss"] = float(net.loss_)
    return [row]


def _clf_row(
    name: str,
    seconds: float,
    est: Any,
    Xtr: npt.NDArray[np.float32],
    ytr: npt.NDArray[Any],
    Xte: npt.NDArray[np.float32],
    yte: npt.NDArray[Any],
    messages: list[str],
    note: str,
) -> Row:
    return {
        "name": name,
        "seconds": seconds,
        "accuracy": float(est.score(Xte, yte)),
        "train_accuracy": float(est.score(Xtr, ytr)),
        "converged": not messages,
        "note": f"{note}; {_convergence_note(messages)}",
    }
