"""The README's Python examples run as written, and do what their comments say."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.slow
def test_the_readme_python_examples_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run every block in one namespace, as a reader pasting them into one session would;
    a block that imports torch is skipped when torch is not installed."""
    import importlib.util

    monkeypatch.chdir(tmp_path)  # the examples write files (mlp.safetensors)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "readme"}
    printed = io.StringIO()
    for block in BLOCKS:
        if "import torch" in block and importlib.util.find_spec("torch") is None:
            continue
        with contextlib.redirect_stdout(printed):
            exec(compile(block, str(README), "exec"), namespace)
    lines = printed.getvalue().splitlines()
    assert lines[0] == "converged [5.0869851]"
    # lr 0.0001 from zero: the slope is found, the intercept barely moves (the lesson)
    slope, intercept, r2 = (float(v.strip("[]")) for v in lines[1].split())
    assert 1.5 < slope < 2.2
    assert 0 < intercept < 1
    assert 0.5 < r2 < 1
    assert float(lines[2]) > 0.9  # the MLP with Adam, reloaded from its checkpoint
    assert os.path.exists(tmp_path / "mlp.safetensors")
    scores = [float(v) for v in lines[3].strip("[]").split()]
    assert len(scores) == 3
    assert all(0.8 < s <= 1 for s in scores)
    assert lines[4].startswith("{'hidden': ")
    if len(lines) > 5:  # the DataLoader example, when torch is installed
        assert float(lines[5]) > 0.9
