"""Training history: plain per-epoch records that plots and reports read."""

from __future__ import annotations

import csv
import io
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradlab import io as gio

if TYPE_CHECKING:
    from gradlab.viz.figure import Figure


@dataclass
class History:
    """Columns of per-epoch metrics.

    The linear models' histories start at epoch 0, the state before training, and keep
    the loss of each step's batch in ``step_loss``; the classifiers' start at epoch 1
    (after the first pass) and leave ``step_loss`` empty.

    Attributes
    ----------
    columns : dict of str to list of float
        One list per metric, all of the same length.
    step_loss : list of float
        The loss of each mini-batch as it was stepped on (for noise plots).
    """

    columns: dict[str, list[float]] = field(default_factory=dict)
    step_loss: list[float] = field(default_factory=list)

    def append(self, **metrics: float) -> None:
        """Add one row; every row must name the same metrics."""
        if self.columns and set(metrics) != set(self.columns):
            raise ValueError(f"history row has {sorted(metrics)}, expected {sorted(self.columns)}")
        for k, v in metrics.items():
            self.columns.setdefault(k, []).append(float(v))

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def __getitem__(self, key: str) -> list[float]:
        return self.columns[key]

    def last(self) -> dict[str, float]:
        """The latest row."""
        return {k: v[-1] for k, v in self.columns.items()}

    def plot(self, *, model: str = "", dataset: str = "", title: str = "") -> Figure:
        """The curves of this history: loss and accuracy of a classifier (see
        :func:`gradlab.viz.curves.training_curves`), or the loss per epoch of a
        regression.

        In a notebook the figure shows itself; from a script, ``.show()`` or save it::

            model.fit(X, y, eval_set=(X_test, y_test))
            model.history_.plot(model="MLP", dataset="digits")

        Parameters
        ----------
        model, dataset : str, optional
            Named in the title: ``"MLP on digits: loss and accuracy per epoch"``.
        title : str, optional
            A title of your own instead.
        """
        if "train_loss" in self.columns or "loss" not in self.columns:
            from gradlab.viz.curves import training_curves

            return training_curves(self.columns, title=title, model=model, dataset=dataset)
        from gradlab.viz.regression import loss_curves

        head = " on ".join(p for p in (model, dataset) if p)
        return loss_curves(
            [("loss", self.columns["loss"])],
            xlabel="epoch",
            title=title or (f"{head}: loss per epoch" if head else "Loss per epoch"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The columns (counters such as ``epoch`` as integers) and the step losses."""
        columns = {name: _counted(name, values) for name, values in self.columns.items()}
        return {"columns": columns, "step_loss": self.step_loss}

    def to_csv_text(self) -> str:
        """The columns as CSV, a header then a row per epoch; ``epoch`` reads back as an
        integer (pandas gives it int64)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        names = list(self.columns)
        writer.writerow(names)
        counted = [_counted(n, self.columns[n]) for n in names]
        for row in zip(*counted, strict=True):
            writer.writerow([_cell(v) for v in row])
        return buf.getvalue()

    def save(self, stem: str | os.PathLike[str], *, durable: bool = True) -> tuple[Path, Path]:
        """Write ``stem.csv`` and ``stem.json`` atomically; return both paths
        (``durable``: as in :func:`gradlab.io.atomic_path`)."""
        base = Path(stem)
        csv_path = gio.write_text(base.with_suffix(".csv"), self.to_csv_text(), durable=durable)
        json_path = gio.write_json(base.with_suffix(".json"), self.to_dict(), durable=durable)
        return csv_path, json_path


#: Columns that count (epochs, steps): written as integers, not as 1.0, 2.0, ...
COUNTERS = frozenset({"epoch", "step", "iteration"})


def _counted(name: str, values: list[float]) -> list[Any]:
    """``values`` as integers when ``name`` is a counter and every value is whole."""
    if name in COUNTERS and all(float(v).is_integer() for v in values):
        return [int(v) for v in values]
    return values


def _cell(value: Any) -> str:
    """A value as a CSV cell: a number in the shortest digits that read back the same
    (``repr`` of a NumPy float would be ``np.float64(0.5)``)."""
    if isinstance(value, numbers.Integral):  # NumPy's integers too, and bool
        return repr(int(value))
    if isinstance(value, numbers.Real):  # NumPy's floats too
        return repr(float(value))
    return str(value)
