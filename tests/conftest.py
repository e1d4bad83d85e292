"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA_CSV = SHARED / "data" / "data.csv"


@pytest.fixture
def data_csv() -> Path:
    """The tutorials' 100-point data.csv, read from ../shared beside the checkout.

    Outside CI a checkout without ../shared skips these tests; under CI (where
    shared/ is always beside the clone) a missing file fails them, so the
    reproduction of the tutorial's numbers can never be skipped silently.
    """
    if not DATA_CSV.exists():
        message = f"the tutorial's data.csv is not at {DATA_CSV}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return DATA_CSV


@pytest.fixture
def hide_packages(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """A function that makes ``importlib.util.find_spec`` report the named packages as
    not installed, for the rest of the test: how gradlab asks whether an optional engine
    (torch, tensorflow, numba) is there before it imports one.

    ``hide_packages("torch", "tensorflow")`` is a core install as far as those checks go;
    modules already imported stay importable, so this tests the question, not the import.
    """
    import importlib.util

    real = importlib.util.find_spec
    hidden: set[str] = set()

    def find_spec(name: str, *args: Any) -> Any:
        return None if name in hidden else real(name, *args)

    def hide(*packages: str) -> None:
        hidden.update(packages)
        monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    return hide
