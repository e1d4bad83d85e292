"""Training callbacks that change how training goes (the monitors, which only watch, are in
:mod:`gradlab.viz.monitor`): :class:`EarlyStopping`.

Early stopping watches a validation metric after every epoch and ends training when it
has not improved for ``patience`` epochs, then puts back the weights of the best epoch.
The metric must come from data the model does not train on and that is not the test
set either: the classifiers hold back ``validation_fraction`` of the *training* data
for it (``early_stopping=True``, ``gradlab train --early-stopping N``), so the test
accuracy stays an honest estimate of how the chosen model does on new data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np

from gradlab.errors import UsageError
from gradlab.history import History
from gradlab.params import Interval, Options, validate
from gradlab.train import Callback

__all__ = ["EarlyStopping"]

#: Metrics where larger is better; for the others smaller is.
_HIGHER_IS_BETTER = ("val_accuracy", "train_accuracy", "test_accuracy")


#: What an EarlyStopping without validation data should do.
_NEEDS_VALIDATION = (
    "Early stopping needs a validation split: early_stopping=True on the estimator, or "
    "--early-stopping N on the command line."
)


class EarlyStopping(Callback):
    """Stop when a validation metric stops improving; restore the best epoch's weights.

    Parameters
    ----------
    monitor : {"val_loss", "val_accuracy"}, default "val_loss"
        The history column to watch. The loss moves smoothly where the accuracy of a
        few thousand validation images moves in steps of their count, so the loss is
        the default (scikit-learn's MLPClassifier watches the accuracy).
    patience : int >= 1, default 3
        Epochs without improvement before stopping (scikit-learn: ``n_iter_no_change``).
    min_delta : float >= 0, default 1e-4
        An improvement counts only when it exceeds this (one of exactly ``min_delta``
        does not; with 0, an unchanged value is no improvement). scikit-learn: ``tol``.
    restore_best : bool, default True
        At the end of training (stopped early or not), put back the weights of the best
        epoch, so the model is the one that did best on the validation data (as
        scikit-learn's MLPClassifier does with ``early_stopping=True``).

    Attributes
    ----------
    best : float
        The best value of the metric so far.
    best_epoch : int
        Its epoch (0 before any).
    stopped_epoch : int
        The epoch training stopped after (0 when it ran to the end).
    best_weights : dict of str to ndarray or None
        Copies of the best epoch's weights (``W1, b1, ...``), kept while training.
    last_weights : dict of str to ndarray or None
        After training, the last epoch's weights when the best were put back.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 3,
        min_delta: float = 1e-4,
        restore_best: bool = True,
    ) -> None:
        validate(
            {
                "monitor": Options(("val_loss", "val_accuracy")),
                "patience": Interval(Integral, 1, None),
                "min_delta": Interval(Real, 0, None),
                "restore_best": Options((True, False)),
            },
            {
                "monitor": monitor,
                "patience": patience,
                "min_delta": min_delta,
                "restore_best": restore_best,
            },
            "EarlyStopping",
        )
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.restore_best = restore_best
        self.sign = 1.0 if monitor in _HIGHER_IS_BETTER else -1.0
        self.best, self.best_epoch, self.wait, self.stopped_epoch = -self.sign * math.inf, 0, 0, 0
        self.stop_training = False
        self._net: Any = None
        self.best_weights: dict[str, np.ndarray] | None = None
        self.last_weights: dict[str, np.ndarray] | None = None
        self._earlier: tuple[int, Mapping[str, np.ndarray]] | None = None

    def resume(self, best_epoch: int, best_weights: Mapping[str, np.ndarray]) -> None:
        """Before a resumed run: the best weights so far, saved with the checkpoint, so
        that they can be restored even if no later epoch beats them."""
        self._earlier = (best_epoch, best_weights)

    def on_train_begin(self, info: dict[str, Any]) -> None:
        if info.get("n_validation", 1) == 0:  # said now, not after the first epoch trains
            raise UsageError(
                f"EarlyStopping watches {self.monitor}, which this training does not "
                "record: it holds back no validation data.",
                hint=_NEEDS_VALIDATION,
            )
        self._net = info["net"]
        history: History = info["history"]
        self.stop_training = False
        self.best, self.best_epoch, self.wait, self.stopped_epoch = -self.sign * math.inf, 0, 0, 0
        self.best_weights = None
        # resuming: pick up the count from the rows already trained
        for epoch, value in zip(
            history.columns.get("epoch", []), history.columns.get(self.monitor, []), strict=False
        ):
            self._see(int(epoch), value, keep=False)
        if self._earlier is not None and self._earlier[0] == self.best_epoch:
            self.best_weights = {k: np.array(v) for k, v in self._earlier[1].items()}

    def _see(self, epoch: int, value: float, *, keep: bool) -> bool:
        """Count an epoch's value; return whether it is a new best."""
        if math.isfinite(value) and self.sign * (value - self.best) > self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if keep and self.restore_best:
                self.best_weights = self._net.state()
            return True
        self.wait += 1
        return False

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        if self.monitor not in row:
            raise UsageError(
                f"EarlyStopping watches {self.monitor}, which training does not record "
                f"(it records {', '.join(row)}).",
                hint=_NEEDS_VALIDATION,
            )
        self._see(epoch, row[self.monitor], keep=True)
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.stop_training = True

    def on_train_end(self, history: History) -> None:
        """Put the best epoch's weights back (the last epoch's stay in checkpoints, with
        the optimizer's state, for resuming)."""
        self.last_weights = None
        if self.restore_best and self.best_weights is not None:
            self.last_weights = self._net.state()
            self._net.load_params(self.best_weights)

    @property
    def done(self) -> bool:
        """Whether the epochs seen so far already call for stopping."""
        return self.wait >= self.patience
