"""Argument helpers shared by the classifier commands, ``gradlab train`` and
``gradlab lr-find``: hidden widths, and the estimators' errors reworded into flags."""

from __future__ import annotations

import argparse

from gradlab.commands._args import Reworded, comma_items, with_flags
from gradlab.params import MAX_WIDTH

#: option dest -> the estimators' parameter name
PARAMS = {
    "hidden": "hidden",
    "lr": "lr",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "momentum": "momentum",
    "optimizer": "optimizer",
    "schedule": "schedule",
    "validation_fraction": "validation_fraction",
    "seed": "random_state",
    "engine": "engine",
    "device": "device",
    "dtype": "dtype",
}
#: the estimator of each model (how their error messages begin)
_OWNERS = {"softmax": "SoftmaxRegression", "mlp": "MLPClassifier"}
#: the estimators' parameter -> the flag that sets it (for their error messages): the
#: names with an underscore wherever they stand, the others only as ``name=`` (a bare
#: "schedule" or "epochs" in a message is a word, not the parameter)
_FLAGS = {
    **{
        (param if "_" in param else f"{param}="): "--"
        + dest.replace("_", "-")
        + ("" if "_" in param else "=")
        for dest, param in PARAMS.items()
    },
    **{name: "--" + name.replace("_", "-") for name in ("step_size", "t_max", "warmup_steps")},
    "gamma=": "--gamma=",
    "n_iter_no_change": "--early-stopping",
}
#: a parameter named without "=" as the subject of a message ("momentum must be ...")
_SUBJECTS = {param: "--" + dest.replace("_", "-") for dest, param in PARAMS.items()}


def hidden_sizes(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated positive widths; empty for no hidden layer."""
    parts = comma_items(text)
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths such as 200,200, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"widths must be at least 1, got {text!r}")
    if any(s > MAX_WIDTH for s in sizes):
        raise argparse.ArgumentTypeError(f"widths must be at most {MAX_WIDTH:,}, got {text!r}")
    return sizes


def estimator_flags(exc: Reworded, model: str) -> Reworded:
    """An estimator's own error (``"SoftmaxRegression: validation_fraction=..."``) with
    its parameters named by their flags; any other error as it is (a checkpoint's fields
    keep their names)."""
    owner = _OWNERS[model]
    if not exc.message.startswith(f"{owner}: "):
        return exc
    reworded = with_flags(exc, owner, _FLAGS)
    subject = reworded.message.split(" ", 1)[0]  # "momentum must be ...": the parameter
    if subject in _SUBJECTS:
        reworded.message = _SUBJECTS[subject] + reworded.message[len(subject) :]
    return reworded
