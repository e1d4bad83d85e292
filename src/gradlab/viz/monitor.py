"""Watching training: callbacks for the terminal, Jupyter and files.

:func:`monitors` picks the live view that fits where the code runs: a progress bar and
a line per epoch in a terminal (only the lines when output is not a terminal), or an
inline plot that updates every epoch in Jupyter. Files are separate callbacks:
:class:`CurvesPNG` (a PNG of the curves at the end, for scripts and headless runs) and
:class:`HistoryFiles` (CSV and JSON after every epoch). ``gradlab train`` uses all three;
from Python::

    model.fit(X, y, eval_set=(X_test, y_test),
              callbacks=[*monitors(), CurvesPNG("curves.png"), HistoryFiles("history")])
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from gradlab.history import History
from gradlab.train import BatchStats, Callback


def in_notebook() -> bool:
    """True inside a Jupyter (ZMQ) kernel."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
    except AttributeError:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class TerminalProgress(Callback):
    """A progress bar per epoch (when ``stream`` is a terminal) and a line per epoch.

    Parameters
    ----------
    stream : text stream, default sys.stderr
    bar : bool, optional
        Draw the bar; by default only when ``stream`` is a terminal.
    every : float
        Seconds between bar redraws (reading running sums may synchronise a GPU).
    """

    def __init__(self, stream: TextIO | None = None, bar: bool | None = None, every: float = 0.1):
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self.every = every
        self._last = 0.0
        self.epochs = 0
        self.batches = 0

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.epochs = info["epochs"]
        self.batches = info["batches_per_epoch"]
        self._write(
            f"training on {info['n_train']} samples, testing on {info['n_test']}, "
            f"batch {info['batch_size']} ({self.batches} steps per epoch)\n"
        )

    def on_batch_end(self, epoch: int, batch: int, stats: BatchStats) -> None:
        if not self.bar:
            return
        now = time.perf_counter()
        if now - self._last < self.every and batch + 1 < self.batches:
            return
        self._last = now
        done = (batch + 1) / self.batches
        width = 24
        filled = int(done * width)
        bar = "#" * filled + "-" * (width - filled)
        self._write(
            f"\repoch {epoch:>{len(str(self.epochs))}}/{self.epochs} [{bar}] "
            f"{batch + 1}/{self.batches}  loss {stats.loss:.4f}  acc {stats.accuracy:.4f}"
        )

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        clear = "\r\033[K" if self.bar else ""
        self._write(
            f"{clear}epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}  "
            f"train loss {row['train_loss']:.4f}  train acc {row['train_accuracy']:.4f}  "
            f"test acc {row['test_accuracy']:.4f}  ({row['seconds']:.2f} s)\n"
        )

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class JupyterLive(Callback):
    """An inline plot of the curves, redrawn in place after every epoch."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.epochs = 0
        self.history = History()

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.epochs = info["epochs"]
        self.history = info["history"]

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        from IPython.display import Image, display

        from gradlab.viz.curves import training_curves

        fig = training_curves(self.history.columns, epochs=self.epochs)
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        image = Image(data=buf.getvalue())  # type: ignore[no-untyped-call]
        if self.handle is None:
            self.handle = display(image, display_id=True)  # type: ignore[no-untyped-call]
        else:
            self.handle.update(image)


class CurvesPNG(Callback):
    """Write the curves as a PNG when training ends (and on demand, see :meth:`write`)."""

    def __init__(self, path: str | os.PathLike[str], title: str = "") -> None:
        self.path = Path(path)
        self.title = title
        self.epochs = 0
        self.written: Path | None = None

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.epochs = info["epochs"]

    def on_train_end(self, history: History) -> None:
        self.write(history)

    def write(self, history: History) -> Path:
        from gradlab.viz.curves import training_curves
        from gradlab.viz.save import save_figure

        fig = training_curves(history.columns, epochs=self.epochs, title=self.title)
        self.written = save_figure(fig, self.path)
        return self.written


class HistoryFiles(Callback):
    """Write ``history.csv`` and ``history.json`` after every epoch."""

    def __init__(self, stem: str | os.PathLike[str]) -> None:
        self.stem = Path(stem)
        self.history = History()

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.history = info["history"]

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        self.history.save(self.stem)


def monitors(*, quiet: bool = False, stream: TextIO | None = None) -> list[Callback]:
    """The live monitors that suit this environment (none when ``quiet``)."""
    if quiet:
        return []
    if in_notebook():
        return [JupyterLive()]
    return [TerminalProgress(stream)]
