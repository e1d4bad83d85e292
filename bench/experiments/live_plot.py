"""Experiment: what does the notebook live plot cost during training?

Trains the ``gradlab train mlp`` model on the built-in digits (64-200-200-10, batch 200,
10 epochs, the command's defaults) with no monitor and with
:class:`gradlab.viz.monitor.JupyterLive`, interleaved, and prints the median fit time of
each and their ratio. Outside a notebook there is no kernel, so a stand-in
``IPython.display`` takes the outputs: it serialises each one to JSON as the kernel
does before sending it, so rendering and encoding are counted; only the socket
write is not::

    .venv/bin/python -m bench.experiments.live_plot [--repeats 7] [--epochs 10]

``--ref COMMIT`` times that commit's ``JupyterLive`` too (from ``git show``), for a
before/after comparison. Not part of the benchmark: it backs the live plot's budget.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any


class _Handle:
    def __init__(self, sink: list[int]) -> None:
        self.sink = sink

    def update(self, obj: Any, raw: bool = False) -> None:
        self.sink.append(len(_serialise(obj, raw)))


def _serialise(obj: Any, raw: bool) -> str:
    if raw:
        return json.dumps(obj)
    bundle = getattr(obj, "_repr_mimebundle_", None)
    if bundle is not None:
        return json.dumps(bundle())
    png = getattr(obj, "_repr_png_", None)
    data = png() if png is not None else getattr(obj, "data", b"")
    import base64

    return json.dumps({"image/png": base64.b64encode(data).decode("ascii")})


def install_stand_in(sink: list[int]) -> None:
    """Put a recording ``IPython.display`` in ``sys.modules``."""
    display_mod = types.ModuleType("IPython.display")

    def display(obj: Any, raw: bool = False, display_id: bool = False) -> _Handle:
        sink.append(len(_serialise(obj, raw)))
        return _Handle(sink)

    class Image:  # what the older monitor built
        def __init__(self, data: bytes) -> None:
            self.data = data

    display_mod.display = display  # type: ignore[attr-defined]
    display_mod.Image = Image  # type: ignore[attr-defined]
    ipython = types.ModuleType("IPython")
    ipython.display = display_mod  # type: ignore[attr-defined]
    ipython.version_info = (8, 0, 0)  # type: ignore[attr-defined]
    ipython.get_ipython = lambda: None  # type: ignore[attr-defined]
    sys.modules["IPython"] = ipython
    sys.modules["IPython.display"] = display_mod


def _monitor_from(ref: str) -> Any:
    """``JupyterLive`` as it was at commit ``ref``."""
    text = subprocess.run(
        ["git", "show", f"{ref}:src/gradlab/viz/monitor.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "monitor_ref.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("monitor_ref", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.JupyterLive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--ref", help="also time JupyterLive as of this commit")
    args = parser.parse_args()

    sink: list[int] = []
    install_stand_in(sink)
    from gradlab.data.images import load_images
    from gradlab.models import MLPClassifier
    from gradlab.viz.monitor import JupyterLive

    data = load_images("digits")
    variants: dict[str, Any] = {"no monitor": None, "JupyterLive": JupyterLive}
    if args.ref:
        variants[f"JupyterLive at {args.ref}"] = _monitor_from(args.ref)

    def fit(make: Any) -> tuple[float, int, float]:
        callbacks = [make()] if make is not None else []
        model = MLPClassifier(epochs=args.epochs, batch_size=200, random_state=0)
        tick = time.perf_counter()
        model.fit(data.X_train, data.y_train, eval_set=(data.X_test, data.y_test),
                  callbacks=callbacks)  # fmt: skip
        seconds = time.perf_counter() - tick
        draws = getattr(callbacks[0], "draws", args.epochs) if callbacks else 0
        spent = getattr(callbacks[0], "draw_seconds", float("nan")) if callbacks else 0.0
        return seconds, draws, spent

    for make in variants.values():  # warm up imports and caches
        fit(make)
    times: dict[str, list[float]] = {name: [] for name in variants}
    draws: dict[str, int] = {}
    spent: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, make in variants.items():
            seconds, n, s = fit(make)
            times[name].append(seconds)
            spent[name].append(s)
            draws[name] = n
    base = statistics.median(times["no monitor"])
    print(f"MLP 64-200-200-10 on digits, {args.epochs} epochs, median of {args.repeats}:")
    for name in variants:
        t = statistics.median(times[name])
        drawn = statistics.median(spent[name])
        print(
            f"  {name:<28} {t:7.3f} s  x{t / base:5.2f}  ({draws[name]} draws, "
            f"{drawn * 1000:.1f} ms drawing)"
        )


if __name__ == "__main__":
    main()
