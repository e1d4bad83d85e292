"""The prediction grid's choice of test images."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gradlab.jobs.predictions import spread_indices


def test_spread_indices_cover_a_test_set_sorted_by_class() -> None:
    labels = np.repeat(np.arange(10), 1000)  # 10,000 images stored class by class
    idx = spread_indices(len(labels), 18)
    assert len(idx) == 18
    assert set(labels[idx]) == set(range(10))  # the first 18 would all be class 0


@given(total=st.integers(0, 5000), n=st.integers(0, 100))
def test_spread_indices_are_distinct_in_range_and_include_both_ends(total: int, n: int) -> None:
    idx = spread_indices(total, n)
    assert len(idx) == min(n, total)
    assert len(set(idx.tolist())) == len(idx)
    assert np.all(np.diff(idx) > 0)
    if len(idx) >= 2:
        assert idx[0] == 0
        assert idx[-1] == total - 1
