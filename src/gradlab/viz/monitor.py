"""Watching training: callbacks for the terminal, Jupyter and files.

:func:`monitors` picks the live view that fits where the code runs:

- **In a notebook** (any front end of an IPython kernel: Jupyter, JupyterLab, VS Code,
  Colab; see :func:`gradlab.viz.notebook.in_notebook`), :class:`JupyterLive`: the loss
  and accuracy curves, with the epoch, the three numbers of the tutorial (train loss,
  train accuracy, test accuracy) and the time written beside them, all replaced in
  place. Redraws are throttled by time, so that watching costs only a few percent of
  training however short the epochs are, and the complete picture is always drawn at
  the end.
- **Elsewhere**, :class:`TerminalProgress`: a line per epoch (its time, and the time
  the run has left), and a progress bar within the epoch when the stream is a terminal
  (with the epoch's time so far and left). The lines go to **stderr**, as tqdm's,
  Lightning's and Keras's progress do, so that stdout holds the results alone (and
  under ``--json`` one JSON object).

Files are separate callbacks: :class:`CurvesPNG` (a PNG of the curves at the end, for
scripts and headless runs) and :class:`HistoryFiles` (CSV and JSON after every epoch).
``gradlab train`` uses all three; from Python::

    model.fit(X, y, eval_set=(X_test, y_test),
              callbacks=[*monitors(), CurvesPNG("curves.png"), HistoryFiles("history")])
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TextIO

from gradlab.history import History
from gradlab.train import BatchStats, Callback
from gradlab.viz.notebook import in_notebook

__all__ = ["monitors"]

StreamChoice = TextIO | Literal["stdout", "stderr"]
#: The widest the progress bar within an epoch is drawn (narrower on a narrow terminal).
BAR_WIDTH = 24


class TerminalProgress(Callback):
    """A line per epoch, and a progress bar within the epoch on a terminal.

    Parameters
    ----------
    stream : text stream or {"stdout", "stderr"}, default "stderr"
        Where to write: standard error by default, as tqdm and Lightning do, so that
        standard output holds the results alone. A name is looked up in :mod:`sys` at
        each write, so redirected or captured streams are followed.
    bar : bool, optional
        Draw the bar (redrawn in place with carriage returns, one row that fits the
        terminal's width); by default only when the stream is a terminal that moves its
        cursor (not ``TERM=dumb``), so logs and pipes get clean lines.
    every : float
        Seconds between bar redraws (reading running sums may synchronise a GPU).
    """

    def __init__(
        self, stream: StreamChoice | None = None, bar: bool | None = None, every: float = 0.1
    ):
        self._stream: StreamChoice = "stderr" if stream is None else stream
        self.bar = bar
        self.every = every
        self._last = 0.0
        self.epochs = 0
        self.batches = 0
        self._tested = True  # whether there is a test set to report on
        self._open = False  # whether the bar's row is drawn and not yet ended
        self._begin = self._epoch_begin = 0.0
        self._first_epoch = 0
        #: When this epoch's first step and the run's first epoch ended: the pace is taken
        #: after them, as a first step may compile kernels (numba, without its cache: 17 s
        #: for the MLP's) or warm caches, and would make every estimate of the time left
        #: far too long.
        self._first_step_end = 0.0
        self._first_epoch_end = 0.0

    @property
    def stream(self) -> TextIO:
        """The stream written to now."""
        if isinstance(self._stream, str):
            out: TextIO = getattr(sys, self._stream)
            return out
        return self._stream

    def on_train_begin(self, info: dict[str, Any]) -> None:
        if self.bar is None:
            isatty = getattr(self.stream, "isatty", None)
            self.bar = bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"
        self.epochs = info["epochs"]
        self.batches = info["batches_per_epoch"]
        self._tested = info["n_test"] > 0
        self._open = False
        self._first_epoch = int(info.get("start_epoch", 0)) + 1
        self._begin = self._epoch_begin = time.perf_counter()
        if self._first_epoch > self.epochs:  # resumed with nothing left to train
            return
        held = info.get("n_validation", 0)
        held_out = f" ({held} more held out for validation)" if held else ""
        testing = f", testing on {info['n_test']}" if self._tested else ""
        self._write(
            f"training on {info['n_train']} samples{held_out}{testing}, "
            f"batch {info['batch_size']} ({self.batches} "
            f"{'step' if self.batches == 1 else 'steps'} per epoch)\n"
        )
        compiling = getattr(info.get("net"), "compiling", None)  # the numpy engine's kernels
        if isinstance(compiling, str):
            self._write(f"{compiling}\n")

    def on_batch_end(self, epoch: int, batch: int, stats: BatchStats) -> None:
        if not self.bar:
            return
        now = time.perf_counter()
        if batch == 0:  # noted even when this redraw is skipped
            self._first_step_end = now
        if now - self._last < self.every and batch + 1 < self.batches:
            return
        self._last = now
        done = (batch + 1) / self.batches
        spent = now - self._epoch_begin
        # the pace of the steps after the first, once there are some
        per_step = (now - self._first_step_end) / batch if batch > 0 else spent
        left = per_step * (self.batches - batch - 1)
        head = f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs} "
        tail = (
            f" {batch + 1}/{self.batches} {clock(spent)}<{clock(left)}  loss {number(stats.loss)}"
            f"  acc {stats.accuracy:.4f}"
        )
        # one row, whatever the width: a row that wraps is left behind by every redraw
        columns = shutil.get_terminal_size(fallback=(80, 24)).columns - 1
        width = min(BAR_WIDTH, columns - len(head) - len(tail) - 2)
        if width >= 5:
            filled = int(done * width)
            line = f"{head}[{'#' * filled}{'-' * (width - filled)}]{tail}"
        else:  # too narrow for a bar: the numbers, cut to fit
            line = (head + tail)[: max(columns, 1)]
        self._write(f"\r\033[K{line}")
        self._open = True

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        clear = "\r\033[K" if self.bar else ""
        now = time.perf_counter()
        left = None
        done = epoch - self._first_epoch + 1  # epochs trained in this run
        if done == 1:
            self._first_epoch_end = now
        if epoch < self.epochs:  # the run's time left, at the pace of its epochs so far
            if done > 1:  # those after the first
                per_epoch = (now - self._first_epoch_end) / (done - 1)
            else:
                per_epoch = now - self._begin
            left = per_epoch * (self.epochs - epoch)
        self._write(f"{clear}{epoch_line(epoch, self.epochs, row, left=left)}\n")
        self._open = False
        self._epoch_begin = time.perf_counter()

    def on_train_abort(self, error: BaseException) -> None:
        if self._open:  # end the bar's row: the error's message goes on a line of its own
            self._write("\n")
            self._open = False

    def _write(self, text: str) -> None:
        stream = self.stream
        stream.write(text)
        stream.flush()


def epoch_line(epoch: int, epochs: int, row: dict[str, float], left: float | None = None) -> str:
    """``epoch 3/10  train loss 0.1234  train acc 0.9612  test loss 0.1700  test acc 0.9500
    (52 ms, ~0.4 s left)``: with ``val loss 0.1500  val acc 0.9550`` before the test numbers
    when there is a validation split, without the test numbers when there is no test set
    (they are NaN), and with the time left only when ``left`` (seconds) is given."""
    parts = [
        f"epoch {epoch:>{len(str(epochs))}}/{epochs}",
        f"train loss {number(row['train_loss'])}",
        f"train acc {row['train_accuracy']:.4f}",
    ]
    for name in ("val", "test"):
        for what, key in (("loss", f"{name}_loss"), ("acc", f"{name}_accuracy")):
            value = row.get(key, math.nan)
            if math.isfinite(value):
                parts.append(f"{name} {what} {number(value)}")
    time_left = "" if left is None else f", ~{duration(left)} left"
    return "  ".join(parts) + f"  ({duration(row['seconds'])}{time_left})"


def number(value: float) -> str:
    """A loss or an accuracy: four decimals, or three significant digits once it is too
    large for them to matter (``2.3e+21`` rather than twenty-two digits)."""
    return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.3g}"


def duration(seconds: float) -> str:
    """A time as people read it: ``52 ms``, ``1.25 s``, ``14.2 s``, ``3 min 05 s``."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(seconds, 0.0)
    if seconds < 0.1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def clock(seconds: float) -> str:
    """``MM:SS`` (``H:MM:SS`` from an hour), as tqdm and Lightning show the time of a bar."""
    if not math.isfinite(seconds):
        return "--:--"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class JupyterLive(Callback):
    """The curves in a notebook, redrawn in place, with the latest numbers beside them.

    One output is created when training begins and replaced as it goes (IPython's
    ``display_id``): an SVG chart (loss on the left, accuracy on the right, the x axis
    fixed to the whole run so the lines grow from left to right) with the epoch, train
    loss, train accuracy, test accuracy, the time so far and the time left beside it.
    The chart is written as SVG text (:mod:`gradlab.viz.svg`) rather than with
    matplotlib, whose every redraw costs more than an epoch of a small model.

    Parameters
    ----------
    title : str, optional
        Above the chart, e.g. ``"MLP on digits"``.
    every : float, default 0.5
        Least seconds between two redraws.
    budget : float, default 0.05
        Most fraction of the time spent redrawing (> 0; ``math.inf`` for no limit):
        after a redraw that took ``c`` seconds the next waits at least ``c / budget``
        seconds. The last epoch is always drawn (when training ends), whatever the
        throttle skipped.
    clock : callable, optional
        Seconds as a float (``time.perf_counter``; tests pass a fake clock).

    Attributes
    ----------
    draws : int
        How many times the output was drawn.
    draw_seconds : float
        The time those draws took, rendering and publishing.
    """

    def __init__(
        self,
        *,
        title: str = "",
        every: float = 0.5,
        budget: float = 0.05,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.title = title
        self.every = every
        self.budget = budget
        self.clock = clock
        self.handle: Any = None
        self.epochs = 0
        self.history = History()
        self.draws = 0
        self.draw_seconds = 0.0
        self._start = 0.0
        self._start_epoch = 0
        self._first_epoch_end = 0.0  # the pace is taken after it (see TerminalProgress)
        self._next = 0.0
        self._done = False
        self._stopped = False

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.epochs = info["epochs"]
        self.history = info["history"]
        self._start_epoch = int(info.get("start_epoch", 0))
        self.handle = None
        self._done = self._stopped = False
        self._start = self.clock()
        self._draw()

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        if epoch - self._start_epoch == 1:
            self._first_epoch_end = self.clock()
        if self.clock() >= self._next:
            self._draw()

    def on_train_end(self, history: History) -> None:
        self.history = history
        self._done = True
        self._draw()

    def on_train_abort(self, error: BaseException) -> None:
        """Draw the last epoch (the throttle may have skipped it), marked as stopped."""
        if self.handle is not None:
            self._stopped = True
            self._draw()

    def status(self) -> list[str]:
        """The lines written beside the chart."""
        cols = self.history.columns
        elapsed = self.clock() - self._start
        if not cols.get("epoch"):
            state = "stopped" if self._stopped else "starting..."
            return [f"epoch 0/{self.epochs}", state, f"{elapsed:.1f} s"]
        last = self.history.last()
        epoch = int(last["epoch"])
        done_now = epoch - self._start_epoch
        state = " (done)" if self._done else " (stopped)" if self._stopped else ""
        lines = [
            f"epoch {epoch}/{self.epochs}{state}",
            f"train loss   {last['train_loss']:.4f}",
            f"train acc    {last['train_accuracy']:.4f}",
        ]
        if math.isfinite(last["test_accuracy"]):  # NaN: no test set
            lines.append(f"test acc     {last['test_accuracy']:.4f}")
        lines.append(f"time         {elapsed:.1f} s")
        if not (self._done or self._stopped) and epoch < self.epochs and done_now > 0:
            per_epoch = elapsed
            if done_now > 1:  # the epochs after the first, which may have compiled kernels
                per_epoch = (self.clock() - self._first_epoch_end) / (done_now - 1)
            lines.append(f"left         ~{per_epoch * (self.epochs - epoch):.1f} s")
        return lines

    def svg(self, notes: list[str] | None = None) -> str:
        """The chart with ``notes`` (default: :meth:`status`) beside it, as SVG text."""
        from gradlab.viz.svg import Panel, Series, chart

        cols = self.history.columns
        ep = cols.get("epoch", [])

        def series(key: str, label: str, color: str, dash: str = "") -> list[Series]:
            values = cols.get(key, [])
            if not values or all(v != v for v in values):  # absent or all NaN
                return []
            return [Series(label, ep, values, color, dash)]

        train, test = ("train", "#4477aa"), ("test", "#ee7733", "5,3")
        accuracies = [v for k in ("train_accuracy", "test_accuracy") for v in cols.get(k, [])]
        lowest = min([0.5, *(v for v in accuracies if v == v)])
        panels = [
            Panel(
                "loss", "cross-entropy", series("train_loss", *train) + series("test_loss", *test)
            ),
            Panel(
                "accuracy",
                "fraction correct",
                series("train_accuracy", *train) + series("test_accuracy", *test),
                ylim=(lowest - 0.02, 1.0),
            ),
        ]
        start = min(ep[0], 1.0) if ep else 1.0
        return chart(
            panels,
            xlabel="epoch",
            xlim=(start, max(float(self.epochs), start + 1)),
            title=self.title,
            notes=self.status() if notes is None else notes,
        )

    def _draw(self) -> None:
        from IPython.display import display

        tick = self.clock()
        notes = self.status()
        bundle = {"image/svg+xml": self.svg(notes), "text/plain": "  ".join(notes)}
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)  # type: ignore[no-untyped-call]
        else:
            self.handle.update(bundle, raw=True)
        done = self.clock()
        cost = done - tick
        self.draws += 1
        self.draw_seconds += cost
        self._next = done + max(self.every, cost / self.budget)


class CurvesPNG(Callback):
    """Write the curves as a PNG when training ends (and on demand, see :meth:`write`).

    Parameters
    ----------
    path : path-like
        The PNG file.
    title : str, optional
        The figure's title; by default made from ``model`` and ``dataset``.
    model : str or callable returning str, optional
        Named in the title, e.g. ``"MLP 64-200-200-10"``. A callable is asked when the
        figure is drawn, after training has begun: ``lambda: model_label(model)``
        (:func:`gradlab.jobs.predictions.model_label`) names the layer sizes, which a
        classifier knows only once ``fit`` has seen the data.
    dataset : str, optional
        Named in the title: ``"digits"``.

    Attributes
    ----------
    written : Path or None
        The file, once written.
    figure : Figure or None
        The figure last written (for reports that read its axes).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        title: str = "",
        *,
        model: str | Callable[[], str] = "",
        dataset: str = "",
    ) -> None:
        self.path = Path(path)
        self.title = title
        self.model = model
        self.dataset = dataset
        self.epochs = 0
        self.written: Path | None = None
        self.figure: Any = None
        self.learning_rate: Any = None

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.epochs = info["epochs"]
        self.learning_rate = info.get("learning_rate")

    def on_train_end(self, history: History) -> None:
        self.write(history)

    def write(self, history: History) -> Path:
        from gradlab.viz.curves import training_curves
        from gradlab.viz.save import save_figure

        rate = self.learning_rate
        epochs = max(self.epochs, len(history))
        fig = training_curves(
            history.columns,
            epochs=self.epochs,
            title=self.title,
            model=self.model() if callable(self.model) else self.model,
            dataset=self.dataset,
            # the rate of every step, when a schedule changes it (a pure function of t)
            rates=None if rate is None or rate.is_constant else rate.curve(epochs),
        )
        self.written = save_figure(fig, self.path)
        self.figure = fig
        return self.written


class HistoryFiles(Callback):
    """Write ``history.csv`` and ``history.json`` after every epoch (waiting for the disk
    every few seconds and at the end: :class:`gradlab.io.DiskSync`)."""

    def __init__(self, stem: str | os.PathLike[str]) -> None:
        from gradlab.io import DiskSync

        self.stem = Path(stem)
        self.history = History()
        self.disk = DiskSync()

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.history = info["history"]

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        self.history.save(self.stem, durable=self.disk.durable())

    def on_train_end(self, history: History) -> None:
        self.disk.flush([self.stem.with_suffix(".csv"), self.stem.with_suffix(".json")])

    def on_train_abort(self, error: BaseException) -> None:
        self.on_train_end(self.history)


def monitors(
    *, quiet: bool = False, json: bool = False, title: str = "", stream: StreamChoice | None = None
) -> list[Callback]:
    """The live monitors that suit this environment.

    Parameters
    ----------
    quiet : bool
        No live monitor at all.
    json : bool
        stdout is reserved for a JSON result (terminal progress goes to stderr in any
        case, as tqdm's and Lightning's does; kept for callers that say so).
    title : str
        The notebook chart's title, e.g. ``"MLP on digits"``.
    stream : text stream or {"stdout", "stderr"}, optional
        Overrides where terminal progress goes.
    """
    if quiet:
        return []
    if in_notebook():
        return [JupyterLive(title=title)]
    return [TerminalProgress(stream if stream is not None else "stderr")]
