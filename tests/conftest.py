"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA_CSV = SHARED / "data" / "data.csv"


@pytest.fixture
def data_csv() -> Path:
    """The tutorials' 100-point data.csv, read from ../shared beside the checkout."""
    if not DATA_CSV.exists():
        pytest.skip(f"the tutorial's data.csv is not at {DATA_CSV}")
    return DATA_CSV
