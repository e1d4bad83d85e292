"""``import gradlab`` (and the CLI's help) must not import PyTorch or TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "tensorflow", "sympy", "matplotlib", "numba")


@pytest.mark.parametrize(
    "code",
    [
        "import gradlab",
        "import gradlab.models, gradlab.optim, gradlab.data.points",
        "from gradlab.cli import build_parser; build_parser()",
    ],
)
def test_light_imports_do_not_load_engines(code: str) -> None:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
