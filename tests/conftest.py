"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

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
