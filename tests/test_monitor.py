"""The monitors: the Jupyter live plot redraws in place, cheaply; the right monitor for each
place; terminal progress on stderr."""

from __future__ import annotations

import io
import math
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradlab.errors import Terminated
from gradlab.models import SoftmaxRegression
from gradlab.train import BatchStats, Callback
from gradlab.viz import monitor
from gradlab.viz.monitor import CurvesPNG, HistoryFiles, JupyterLive, TerminalProgress


class FakeHandle:
    def __init__(self) -> None:
        self.updates: list[Any] = []

    def update(self, obj: Any, raw: bool = False) -> None:
        assert raw
        self.updates.append(obj)


@pytest.fixture
def fake_ipython(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A stand-in for IPython.display that records what would be shown."""
    calls: dict[str, Any] = {"display": [], "handle": FakeHandle()}
    display_mod = types.ModuleType("IPython.display")

    class Image:
        def __init__(self, data: bytes) -> None:
            self.data = data

    def display(obj: Any, raw: bool = False, display_id: bool = False) -> FakeHandle:
        assert raw
        calls["display"].append((obj, display_id))
        handle: FakeHandle = calls["handle"]
        return handle

    display_mod.Image = Image  # type: ignore[attr-defined]
    display_mod.display = display  # type: ignore[attr-defined]
    ipython = types.ModuleType("IPython")
    ipython.display = display_mod  # type: ignore[attr-defined]
    ipython.version_info = (8, 0, 0)  # type: ignore[attr-defined]  # matplotlib reads it
    ipython.get_ipython = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_mod)
    return calls


def blobs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    return (rng.normal(size=(3, 5))[y] + rng.normal(size=(90, 5))).astype(np.float32), y


def test_jupyter_plot_is_shown_once_then_updated_in_place(fake_ipython: dict[str, Any]) -> None:
    X, y = blobs()
    live = JupyterLive(every=0, budget=math.inf)  # no throttling: every epoch is drawn
    SoftmaxRegression(epochs=3, batch_size=30).fit(X, y, eval_set=(X, y), callbacks=[live])
    assert len(fake_ipython["display"]) == 1  # one output cell, made when training begins ...
    bundle, display_id = fake_ipython["display"][0]
    assert display_id is True
    assert bundle["image/svg+xml"].startswith("<svg")
    assert "epoch 0/3" in bundle["text/plain"]
    updates = fake_ipython["handle"].updates
    assert len(updates) == 4  # ... redrawn after epochs 1, 2, 3 and at the end
    assert live.draws == 5


def test_jupyter_text_beside_the_plot_names_the_epoch_the_three_numbers_and_the_time(
    fake_ipython: dict[str, Any],
) -> None:
    X, y = blobs()
    model = SoftmaxRegression(epochs=2, batch_size=30)
    model.fit(X, y, eval_set=(X, y), callbacks=[JupyterLive(title="softmax on blobs")])
    final = fake_ipython["handle"].updates[-1]
    last = model.history_.last()
    text = final["text/plain"]
    for part in (
        "epoch 2/2 (done)",
        f"train loss   {last['train_loss']:.4f}",
        f"train acc    {last['train_accuracy']:.4f}",
        f"test acc     {last['test_accuracy']:.4f}",
        "time ",
    ):
        assert part in text
        assert part.replace(" ", "") in final["image/svg+xml"].replace(" ", "")
    assert "softmax on blobs" in final["image/svg+xml"]


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Train(Callback):
    """Makes every epoch take ``seconds`` on the fake clock."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        self.clock.now += self.seconds


@pytest.mark.parametrize(
    ("epoch_seconds", "draw_seconds", "draws"),
    [
        (0.005, 2**-10, 2),  # the whole run is shorter than the interval: start and end
        (0.0625, 2**-10, 5),  # every 0.5 s (after epochs 8, 17, 26), plus start and end
        (0.0625, 0.125, 3),  # a slow display: after a 0.125 s redraw the next waits 2.5 s
        (1.0, 2**-10, 32),  # long epochs: each is drawn
    ],
)
def test_jupyter_redraws_are_throttled_by_time_and_the_end_is_always_drawn(
    fake_ipython: dict[str, Any], epoch_seconds: float, draw_seconds: float, draws: int
) -> None:
    clock = Clock()
    original = fake_ipython["handle"].update

    def slow_update(obj: Any, raw: bool = False) -> None:
        clock.now += draw_seconds
        original(obj, raw)

    fake_ipython["handle"].update = slow_update
    live = JupyterLive(clock=clock, every=0.5, budget=0.05)
    X, y = blobs()
    model = SoftmaxRegression(epochs=30, batch_size=90)
    model.fit(X, y, eval_set=(X, y), callbacks=[Train(clock, epoch_seconds), live])
    assert live.draws == draws
    final = fake_ipython["handle"].updates[-1]
    assert "epoch 30/30 (done)" in final["text/plain"]
    # the final chart holds every epoch: 30 points on each of the four lines
    assert final["image/svg+xml"].count("<circle") == 4 * 30
    # at most the budget's share of the time, besides the first and the last redraw
    assert live.draw_seconds <= 0.05 * (30 * epoch_seconds) + 2 * draw_seconds


def test_monitors_choose_jupyter_in_a_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor, "in_notebook", lambda: True)
    assert [type(m) for m in monitor.monitors()] == [JupyterLive]
    monkeypatch.setattr(monitor, "in_notebook", lambda: False)
    assert [type(m) for m in monitor.monitors()] == [TerminalProgress]
    assert monitor.monitors(quiet=True) == []


def test_in_notebook_is_false_in_a_plain_process() -> None:
    assert monitor.in_notebook() is False


class Publisher:
    def publish(self, data: Any, metadata: Any = None, *, transient: Any = None,
                update: bool = False) -> None: ...  # fmt: skip


class OldPublisher:
    def publish(self, data: Any, metadata: Any = None) -> None: ...


def shell(class_name: str, **attributes: Any) -> Any:
    return type(class_name, (), attributes)()


@pytest.mark.parametrize(
    ("the_shell", "expected"),
    [
        (shell("ZMQInteractiveShell", kernel=object(), display_pub=Publisher()), True),
        (shell("Shell", kernel=object(), display_pub=Publisher()), True),  # Colab's subclass
        (shell("TerminalInteractiveShell", display_pub=Publisher()), False),  # no kernel
        (shell("ZMQInteractiveShell", kernel=None, display_pub=Publisher()), False),
        (shell("SomeKernelShell", kernel=object(), display_pub=OldPublisher()), False),
        (shell("SomeKernelShell", kernel=object()), False),
        (None, False),
    ],
)
def test_in_notebook_asks_what_the_shell_can_do_not_its_class_name(
    monkeypatch: pytest.MonkeyPatch, the_shell: Any, expected: bool
) -> None:
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: the_shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    assert monitor.in_notebook() is expected


def test_terminal_lines_go_to_stderr_leaving_stdout_to_the_results(
    capsys: pytest.CaptureFixture[str],
) -> None:
    X, y = blobs()
    for json in (False, True):
        SoftmaxRegression(epochs=2).fit(
            X, y, eval_set=(X, y), callbacks=monitor.monitors(json=json)
        )
        out, err = capsys.readouterr()
        assert "epoch 2/2  train loss" in err
        assert out == ""
        assert "\r" not in err  # captured output is not a terminal: no bar
    SoftmaxRegression(epochs=1).fit(X, y, callbacks=monitor.monitors(stream="stdout"))
    assert "epoch 1/1  train loss" in capsys.readouterr().out


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("columns", [40, 60, 80, 200])
def test_the_bar_fits_one_row_of_the_terminal(
    monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    """A row that wraps is left on the screen by every redraw (a carriage return goes back
    to the start of the last row only)."""
    import os

    monkeypatch.setattr(
        monitor.shutil,
        "get_terminal_size",
        lambda fallback=(80, 24): os.terminal_size((columns, 24)),
    )
    X, y = blobs()
    stream = Tty()
    SoftmaxRegression(epochs=2, batch_size=10).fit(
        X, y, callbacks=[TerminalProgress(stream, every=0)]
    )
    redraws = [part.split("\n")[0] for part in stream.getvalue().split("\r\x1b[K")[1:]]
    bars = [r for r in redraws if "loss" in r and "train loss" not in r]
    assert bars, stream.getvalue()
    assert all(len(r) < columns for r in bars), max(bars, key=len)
    assert all("[" in r for r in bars) is (columns >= 60)


def test_a_dumb_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    X, y = blobs()
    stream = Tty()
    SoftmaxRegression(epochs=1, batch_size=30).fit(X, y, callbacks=[TerminalProgress(stream)])
    assert "\r" not in stream.getvalue()
    assert "\x1b" not in stream.getvalue()


def test_terminal_progress_draws_the_bar_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    X, y = blobs()
    for stream, bar in ((Tty(), True), (io.StringIO(), False)):
        SoftmaxRegression(epochs=1, batch_size=30).fit(X, y, callbacks=[TerminalProgress(stream)])
        assert ("\r" in stream.getvalue()) is bar


def test_curves_png_and_history_files_are_written(tmp_path: Path) -> None:
    X, y = blobs()
    curves = CurvesPNG(tmp_path / "c.png")
    SoftmaxRegression(epochs=2, batch_size=30).fit(
        X, y, eval_set=(X, y), callbacks=[curves, HistoryFiles(tmp_path / "h")]
    )
    assert curves.written == tmp_path / "c.png"
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "h.csv").read_text().count("\n") == 3
    assert '"train_accuracy"' in (tmp_path / "h.json").read_text()


def test_curves_png_names_the_model_once_training_has_begun(tmp_path: Path) -> None:
    from gradlab.jobs.predictions import model_label
    from gradlab.models import MLPClassifier

    X, y = blobs()
    model = MLPClassifier(hidden=(7,), epochs=1, batch_size=30)
    curves = CurvesPNG(tmp_path / "c.png", model=lambda: model_label(model), dataset="blobs")
    model.fit(X, y, eval_set=(X, y), callbacks=[curves])
    assert curves.figure.get_suptitle() == "MLP 5-7-3 on blobs: loss and accuracy per epoch"


def test_the_first_line_says_one_step_not_one_steps() -> None:
    import io

    stream = io.StringIO()
    TerminalProgress(stream).on_train_begin(
        {"epochs": 1, "batches_per_epoch": 1, "n_train": 10, "n_test": 5, "batch_size": 256}
    )
    assert stream.getvalue() == (
        "training on 10 samples, testing on 5, batch 256 (1 step per epoch)\n"
    )


class StopAt(Callback):
    """Raises ``error`` after the given batch of the first epoch."""

    def __init__(self, batch: int, error: BaseException) -> None:
        self.batch, self.error = batch, error

    def on_batch_end(self, epoch: int, batch: int, stats: Any) -> None:
        if batch == self.batch:
            raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("boom")])
def test_a_run_stopped_mid_epoch_ends_the_bars_row(error: BaseException) -> None:
    """The bar was left open: the error's message was printed on the bar's row."""
    X, y = blobs()
    stream = Tty()
    with pytest.raises(type(error)):
        SoftmaxRegression(epochs=2, batch_size=10).fit(
            X, y, callbacks=[TerminalProgress(stream, every=0), StopAt(3, error)]
        )
    text = stream.getvalue()
    last = text.rsplit("\r\x1b[K", 1)[1]  # the last redraw: the bar at the stop, then "\n"
    assert last.startswith("epoch 1/2 [")
    assert " 4/9 " in last
    assert last.endswith("\n")
    assert text.count("\n") == 2  # the first line, and the end of the bar's row


def test_a_stopped_run_without_a_bar_writes_nothing_more() -> None:
    X, y = blobs()
    stream = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        SoftmaxRegression(epochs=2, batch_size=10).fit(
            X, y, callbacks=[TerminalProgress(stream), StopAt(3, KeyboardInterrupt())]
        )
    assert stream.getvalue().count("\n") == 1


def test_without_a_test_set_the_lines_say_nothing_of_testing() -> None:
    """They said "testing on 0" and "test acc nan" at every epoch."""
    X, y = blobs()
    stream = io.StringIO()
    SoftmaxRegression(epochs=2, batch_size=30).fit(X, y, callbacks=[TerminalProgress(stream)])
    text = stream.getvalue()
    assert "testing" not in text
    assert "test " not in text
    assert "nan" not in text


def test_the_epoch_line_gives_the_test_loss_and_the_time_left() -> None:
    X, y = blobs()
    stream = io.StringIO()
    model = SoftmaxRegression(epochs=2, batch_size=30)
    model.fit(X, y, eval_set=(X, y), callbacks=[TerminalProgress(stream)])
    first, second = stream.getvalue().splitlines()[1:]
    row = {k: v[0] for k, v in model.history_.columns.items()}
    assert f"test loss {row['test_loss']:.4f}  test acc {row['test_accuracy']:.4f}  (" in first
    assert first.endswith(" left)")  # one epoch to go
    assert not second.endswith(" left)")  # the last


ROW = {"train_loss": 0.5, "train_accuracy": 0.8, "seconds": 1.0}


def train_info(epochs: int) -> dict[str, Any]:
    """What the training loop tells callbacks as it begins: 50 samples in 5 steps."""
    return {"epochs": epochs, "batches_per_epoch": 5, "n_test": 0, "n_train": 50, "batch_size": 10}


def progress_on_a_fake_clock(
    monkeypatch: pytest.MonkeyPatch, epochs: int, every: float
) -> tuple[Clock, Tty, TerminalProgress]:
    """A TerminalProgress drawing its bar into a fake terminal, begun at time 0 on a fake
    clock."""
    clock = Clock()
    monkeypatch.setattr(monitor.time, "perf_counter", clock)
    stream = Tty()
    progress = TerminalProgress(stream, every=every)
    progress.on_train_begin(train_info(epochs))
    return clock, stream, progress


def test_the_time_left_is_paced_after_a_slow_first_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first step that compiled numba's kernels (17 s, without its cache) made the bar
    say 00:11 left of an epoch with 0.2 s to go, and the first line 'about 1 min' for a
    run with 8 s to go: the pace is now taken after the first step, and after the first
    epoch."""
    clock, stream, progress = progress_on_a_fake_clock(monkeypatch, epochs=10, every=0)
    for batch, t in enumerate([17.0, 17.1, 17.2]):
        clock.now = t
        progress.on_batch_end(1, batch, BatchStats())
    assert " 3/5 00:17<00:00 " in stream.getvalue().rsplit("\r", 1)[-1]  # 0.2 s to go
    for epoch, t in ((1, 18.0), (2, 19.0)):
        clock.now = t
        progress.on_epoch_end(epoch, ROW)
    first, second = stream.getvalue().split("\n")[1:3]
    assert first.endswith("~2 min 42 s left)")  # 18 s an epoch: nothing better known yet
    assert second.endswith("~8.00 s left)")  # the second's: 1 s an epoch, 8 to go


def test_the_bar_notes_an_epochs_first_step_even_when_its_redraw_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An epoch's first step that came within the redraw interval of the last redraw was
    not noted: the pace then ran from the previous epoch's first step."""
    clock, stream, progress = progress_on_a_fake_clock(monkeypatch, epochs=2, every=0.5)
    for batch in range(5):  # 0.1 s a step; the last is drawn at 0.5 s
        clock.now += 0.1
        progress.on_batch_end(1, batch, BatchStats())
    clock.now += 0.05  # a quick evaluation
    progress.on_epoch_end(1, ROW)
    for batch, step in enumerate((0.1, 0.2, 0.2)):  # drawn at the third step only
        clock.now += step
        progress.on_batch_end(2, batch, BatchStats())
    # 0.2 s a step after the first, two steps left: 0.4 s (from epoch 1's first step: 0.95)
    assert " 3/5 00:00<00:00 " in stream.getvalue().rsplit("\r", 1)[-1]


@pytest.mark.parametrize("compiling", [None, "numba compiles the MLP's kernels first"])
def test_the_terminal_says_what_the_first_step_compiles(compiling: str | None) -> None:
    """Without numba's cache the first step compiled for about 15 s in silence."""
    stream = io.StringIO()
    net = types.SimpleNamespace(compiling=compiling)
    TerminalProgress(stream).on_train_begin({**train_info(1), "net": net})
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("training on 50 samples")
    assert lines[1:] == ([] if compiling is None else [compiling])


def test_jupyter_paces_the_time_left_after_the_first_epoch(fake_ipython: dict[str, Any]) -> None:
    """As the terminal's lines: a first epoch that took 18 s (numba compiling the
    kernels) and a second that took 1 s leave about 8 s for the last eight."""
    from gradlab.history import History

    clock = Clock()
    live = JupyterLive(every=0, budget=math.inf, clock=clock)
    history = History()
    live.on_train_begin({"epochs": 10, "history": history})
    for epoch, t in ((1, 18.0), (2, 19.0)):
        clock.now = t
        history.append(
            epoch=epoch, train_loss=0.5, train_accuracy=0.8, test_accuracy=0.9, seconds=1.0
        )
        live.on_epoch_end(epoch, {})
    status = live.status()
    assert "left         ~8.0 s" in status, status


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0521, "52 ms"), (0.1, "0.10 s"), (1.254, "1.25 s"), (14.24, "14.2 s"), (185, "3 min 05 s")],
)
def test_durations_read_as_people_write_them(seconds: float, text: str) -> None:
    assert monitor.duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(0, "00:00"), (65.4, "01:05"), (3725, "1:02:05")])
def test_the_bars_clock_reads_as_tqdms(seconds: float, text: str) -> None:
    assert monitor.clock(seconds) == text


def test_jupyter_marks_a_stopped_run_and_draws_its_last_epoch(
    fake_ipython: dict[str, Any],
) -> None:
    X, y = blobs()
    live = JupyterLive(every=1e9)  # throttled: only the first draw and the last
    with pytest.raises(KeyboardInterrupt):
        SoftmaxRegression(epochs=3, batch_size=30).fit(
            X, y, eval_set=(X, y), callbacks=[live, StopAt(1, KeyboardInterrupt())]
        )
    text = fake_ipython["handle"].updates[-1]["text/plain"]
    assert "epoch 0/3  stopped" in text  # in the first epoch: no epoch finished
    live = JupyterLive(every=1e9)

    class SecondEpoch(Callback):
        def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
            if epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SoftmaxRegression(epochs=3, batch_size=30).fit(
            X, y, eval_set=(X, y), callbacks=[live, SecondEpoch()]
        )
    text = fake_ipython["handle"].updates[-1]["text/plain"]
    assert "epoch 2/3 (stopped)" in text
    assert "left" not in text


@pytest.mark.parametrize(
    ("value", "text"), [(0.12345, "0.1235"), (99999.0, "99999.0000"), (2.3e21, "2.3e+21")]
)
def test_a_loss_that_exploded_prints_short(value: float, text: str) -> None:
    assert monitor.number(value) == text


def test_history_files_write_the_epoch_as_an_integer(tmp_path: Path) -> None:
    """It was written 1.0, 2.0: pandas read the epoch column as float64."""
    import json

    X, y = blobs()
    SoftmaxRegression(epochs=2, batch_size=30).fit(
        X, y, eval_set=(X, y), callbacks=[HistoryFiles(tmp_path / "h")]
    )
    rows = (tmp_path / "h.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["epoch", "1", "2"]
    assert json.loads((tmp_path / "h.json").read_text())["columns"]["epoch"] == [1, 2]


class _StopsInItsAbort(Callback):
    """A stop (``stop``) arriving while this callback cleans up after a failed fit."""

    def __init__(self, stop: KeyboardInterrupt, seen: list[str]) -> None:
        self.stop, self.seen = stop, seen

    def on_train_abort(self, error: BaseException) -> None:
        self.seen.append("first")
        raise self.stop


class _SeesTheError(Callback):
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def on_train_abort(self, error: BaseException) -> None:
        self.seen.append(type(error).__name__)


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), Terminated()], ids=["ctrl-c", "sigterm"])
def test_a_stop_during_the_clean_up_of_an_error_is_raised_after_every_callback_had_its_turn(
    stop: KeyboardInterrupt,
) -> None:
    """A SIGTERM that came while a callback flushed its files after a failed collective
    was swallowed, and the worker reported its own error instead of being stopped."""
    X, y = blobs()
    seen: list[str] = []
    callbacks = [StopAt(3, RuntimeError("boom")), _StopsInItsAbort(stop, seen), _SeesTheError(seen)]
    with pytest.raises(type(stop)) as raised:
        SoftmaxRegression(epochs=2, batch_size=10).fit(X, y, callbacks=callbacks)
    assert raised.value is stop
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert str(raised.value.__cause__) == "boom"
    assert seen == ["first", "RuntimeError"]


def test_a_second_stop_during_the_clean_up_of_a_first_leaves_the_first() -> None:
    X, y = blobs()
    seen: list[str] = []
    first = KeyboardInterrupt("first")
    callbacks = [StopAt(3, first), _StopsInItsAbort(Terminated(), seen), _SeesTheError(seen)]
    with pytest.raises(KeyboardInterrupt) as raised:
        SoftmaxRegression(epochs=2, batch_size=10).fit(X, y, callbacks=callbacks)
    assert raised.value is first
    assert seen == ["first", "KeyboardInterrupt"]


@pytest.mark.parametrize(
    ("seconds", "said", "shown"),
    [(math.nan, "?", "--:--"), (math.inf, "?", "--:--"), (-1, "0 ms", "00:00")],
)
def test_times_that_cannot_be_told_print_as_unknown(seconds: float, said: str, shown: str) -> None:
    assert monitor.duration(seconds) == said
    assert monitor.clock(seconds) == shown
