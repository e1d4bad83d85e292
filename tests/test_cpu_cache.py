"""The L2 cache size read from Linux's sysfs, and the input buffering it decides."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradlab.engines.cpu_cache import l2_cache_bytes, parse_size
from gradlab.engines.numpy_mlp import INPUT_BUFFERS, input_buffers


def _cache(root: Path, index: int, level: str, kind: str, size: str) -> None:
    entry = root / f"index{index}"
    entry.mkdir(parents=True)
    (entry / "level").write_text(level + "\n")
    (entry / "type").write_text(kind + "\n")
    (entry / "size").write_text(size + "\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2048K", 2048 * 1024), ("1M", 1024**2), ("512k", 512 * 1024), ("4096", 4096)],
)
def test_sysfs_sizes_are_read_in_bytes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "K", "big", "2.5M", "-1K"])
def test_a_size_that_is_no_number_is_unknown(text: str) -> None:
    assert parse_size(text) is None


def test_the_level_2_cache_is_found_among_the_others(tmp_path: Path) -> None:
    _cache(tmp_path, 0, "1", "Data", "48K")
    _cache(tmp_path, 1, "1", "Instruction", "64K")
    _cache(tmp_path, 2, "2", "Unified", "2048K")
    _cache(tmp_path, 3, "3", "Unified", "491520K")
    assert l2_cache_bytes(tmp_path) == 2048 * 1024


def test_an_instruction_only_level_2_cache_is_not_taken(tmp_path: Path) -> None:
    _cache(tmp_path, 0, "2", "Instruction", "1M")
    assert l2_cache_bytes(tmp_path) is None


def test_no_sysfs_means_an_unknown_cache(tmp_path: Path) -> None:
    assert l2_cache_bytes(tmp_path / "absent") is None


def test_an_unreadable_cache_entry_means_an_unknown_cache(tmp_path: Path) -> None:
    (tmp_path / "index2").mkdir()  # no level, type or size files
    assert l2_cache_bytes(tmp_path) is None


@pytest.mark.parametrize(
    ("nbytes", "l2_bytes", "expected"),
    [
        (256 * 784 * 4, 2048 * 1024, 1),  # Intel Xeon, 2 MB per core: fits in half
        (256 * 784 * 4, 1024 * 1024, INPUT_BUFFERS),  # AMD EPYC Zen 4, 1 MB: does not
        (1024, None, INPUT_BUFFERS),  # unknown cache: the conservative choice
        (1024 * 1024, 2 * 1024 * 1024, 1),  # exactly half
        (1024 * 1024 + 1, 2 * 1024 * 1024, INPUT_BUFFERS),
    ],
)
def test_one_input_buffer_only_where_it_fits_in_half_the_l2(
    nbytes: int, l2_bytes: int | None, expected: int
) -> None:
    assert input_buffers(nbytes, l2_bytes) == expected
