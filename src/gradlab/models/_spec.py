"""The classifiers' hyperparameters: each model's defaults and the one table that checks them.

This module imports neither scikit-learn nor any engine, so that the command line (which
must start quickly), the checkpoint schema and the estimators all read the same
defaults and the same rules: the estimators' signatures take their defaults from
:data:`DEFAULTS`, ``gradlab train`` shows and uses them, and a checkpoint's stored
hyperparameters are checked against :data:`CONSTRAINTS`.

Two models share everything but their defaults:

========= =================== ============ ===== ===== ======== ======== =========
kind      estimator           hidden       lr    batch momentum init     (others)
========= =================== ============ ===== ===== ======== ======== =========
softmax   SoftmaxRegression   (none)       0.1   256   0        normal   as below
mlp       MLPClassifier       (200, 200)   0.05  200   0.9      kaiming  as below
========= =================== ============ ===== ===== ======== ======== =========

Both: ``epochs=10, init_std=0.01, engine="auto", device="auto", dtype="float32",
cpu_threads="auto", n_procs=1, random_state=0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any

from gradlab.params import (
    CLASSIFIER_ENGINES,
    DEVICES,
    Constraint,
    Interval,
    Options,
    Predicate,
    validate,
)

#: The two models, by the name the command line uses.
KINDS: tuple[str, ...] = ("softmax", "mlp")
#: The estimator class of each kind (for messages and checkpoints).
ESTIMATORS: Mapping[str, str] = MappingProxyType(
    {"softmax": "SoftmaxRegression", "mlp": "MLPClassifier"}
)
#: The precisions of training: float64 (torch engine) shows data-parallel training to be
#: the same mini-batch SGD to rounding.
DTYPES: tuple[str, ...] = ("float32", "float64")
#: Weight initialisations: Kaiming-normal (std sqrt(2 / fan_in), for ReLU), or normal
#: with std ``init_std`` (the tutorial's 0.01).
INITS: tuple[str, ...] = ("kaiming", "normal")

_COMMON: dict[str, Any] = {
    "epochs": 10,
    "init_std": 0.01,
    "engine": "auto",
    "device": "auto",
    "dtype": "float32",
    "cpu_threads": "auto",
    "n_procs": 1,
    "random_state": 0,
}

#: Each model's constructor parameters and their defaults, in signature order.
DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "softmax": MappingProxyType(
            {
                "lr": 0.1,
                "epochs": _COMMON["epochs"],
                "batch_size": 256,
                "momentum": 0.0,
                "init": "normal",
                **{k: v for k, v in _COMMON.items() if k != "epochs"},
            }
        ),
        "mlp": MappingProxyType(
            {
                "hidden": (200, 200),
                "lr": 0.05,
                "epochs": _COMMON["epochs"],
                "batch_size": 200,
                "momentum": 0.9,
                "init": "kaiming",
                **{k: v for k, v in _COMMON.items() if k != "epochs"},
            }
        ),
    }
)


def _is_widths(value: Any) -> bool:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return False
    return all(isinstance(h, Integral) and not isinstance(h, bool) and int(h) >= 1 for h in value)


#: What each hyperparameter may be (see :mod:`gradlab.params`).
CONSTRAINTS: Mapping[str, Constraint | list[Constraint]] = MappingProxyType(
    {
        "hidden": Predicate(_is_widths, "a sequence of layer widths, each an integer >= 1"),
        "lr": Interval(Real, 0, None, closed="neither"),
        "epochs": Interval(Integral, 1, None),
        "batch_size": Interval(Integral, 1, None),
        "momentum": Interval(Real, 0, 1, closed="left"),
        "init": Options(INITS),
        "init_std": Interval(Real, 0, None, closed="neither"),
        "engine": Options(CLASSIFIER_ENGINES),
        "device": Options(DEVICES),
        "dtype": Options(DTYPES),
        "cpu_threads": [Options(("auto",)), Interval(Integral, 1, None), None],
        "n_procs": Interval(Integral, 1, None),
        "random_state": [Interval(Integral, 0, None), None],
    }
)


def check_hyperparameters(kind: str, params: Mapping[str, Any]) -> None:
    """Raise a :class:`~gradlab.errors.UsageError` naming the first bad value in ``params``.

    The message reads ``MLPClassifier: lr must be a number > 0; got -1.``
    """
    validate(CONSTRAINTS, params, ESTIMATORS[kind])
