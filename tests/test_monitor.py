"""The monitors: the Jupyter live plot redraws in place; the right monitor for each place."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradlab.models import SoftmaxRegression
from gradlab.viz import monitor
from gradlab.viz.monitor import CurvesPNG, HistoryFiles, JupyterLive, TerminalProgress


class FakeHandle:
    def __init__(self) -> None:
        self.updates: list[Any] = []

    def update(self, obj: Any) -> None:
        self.updates.append(obj)


@pytest.fixture
def fake_ipython(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A stand-in for IPython.display that records what would be shown."""
    calls: dict[str, Any] = {"display": [], "handle": FakeHandle()}
    display_mod = types.ModuleType("IPython.display")

    class Image:
        def __init__(self, data: bytes) -> None:
            self.data = data

    def display(obj: Any, display_id: bool = False) -> FakeHandle:
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
    SoftmaxRegression(epochs=3, batch_size=30).fit(X, y, eval_set=(X, y), callbacks=[JupyterLive()])
    assert len(fake_ipython["display"]) == 1  # one output cell ...
    image, display_id = fake_ipython["display"][0]
    assert display_id is True
    assert image.data.startswith(b"\x89PNG")
    assert len(fake_ipython["handle"].updates) == 2  # ... redrawn after epochs 2 and 3


def test_monitors_choose_jupyter_in_a_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor, "in_notebook", lambda: True)
    assert [type(m) for m in monitor.monitors()] == [JupyterLive]
    monkeypatch.setattr(monitor, "in_notebook", lambda: False)
    assert [type(m) for m in monitor.monitors()] == [TerminalProgress]
    assert monitor.monitors(quiet=True) == []


def test_in_notebook_is_false_in_a_plain_process() -> None:
    assert monitor.in_notebook() is False


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
