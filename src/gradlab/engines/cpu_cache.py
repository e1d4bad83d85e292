"""What the CPU is, as Linux describes it: the size of a core's L2 cache, which decides how
the NumPy engine buffers its inputs, and ``/proc/cpuinfo``'s model, vendor and flags,
which decide the blocked MLP kernel's BLAS and which ``gradlab env`` reports.

Linux reports each cache of a CPU under ``/sys/devices/system/cpu/cpu0/cache/index*/``
(``level``, ``type`` and ``size`` files, the size as ``2048K`` or ``1M``). Elsewhere,
or where the files cannot be read, the size is unknown (None) and callers keep their
conservative choice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

#: Where Linux describes CPU 0's caches.
CACHE_DIR = "/sys/devices/system/cpu/cpu0/cache"

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def parse_size(text: str) -> int | None:
    """Bytes in a sysfs cache size such as ``"2048K"``; None for anything else."""
    text = text.strip().upper()
    unit = text[-1:] if text[-1:] in _UNITS else ""
    number = text[: len(text) - len(unit)]
    if not number.isdigit():
        return None
    return int(number) * _UNITS[unit]


def l2_cache_bytes(root: str | Path = CACHE_DIR) -> int | None:
    """Bytes of CPU 0's level-2 data (or unified) cache, or None where unknown."""
    try:
        entries = sorted(Path(root).glob("index*"))
        for entry in entries:
            level = (entry / "level").read_text().strip()
            kind = (entry / "type").read_text().strip()
            if level == "2" and kind in ("Unified", "Data"):
                return parse_size((entry / "size").read_text())
    except (OSError, UnicodeDecodeError):
        return None
    return None


@functools.cache
def this_machines_l2() -> int | None:
    """:func:`l2_cache_bytes` of this machine, read once per process."""
    return l2_cache_bytes()


@dataclass(frozen=True)
class CpuInfo:
    """What ``/proc/cpuinfo`` says of the CPU."""

    model: str | None
    """The first processor's model name."""
    vendors: frozenset[str]
    """Every processor's ``vendor_id`` (``GenuineIntel``, ``AuthenticAMD``)."""
    flags: frozenset[str]
    """The first processor's flags (``avx2``, ``avx512f``, ...)."""


def parse_cpuinfo(text: str) -> CpuInfo:
    """:class:`CpuInfo` from the text of ``/proc/cpuinfo``."""
    model = None
    vendors: set[str] = set()
    flags: frozenset[str] = frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = " ".join(value.split()) or None
        elif key == "vendor_id":
            vendors.add(value.strip())
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return CpuInfo(model, frozenset(vendors), flags)


def read_cpuinfo(path: str = "/proc/cpuinfo") -> CpuInfo | None:
    """:func:`parse_cpuinfo` of the file at ``path`` (its first MiB: the first processors
    are enough), or None where it cannot be read (not Linux)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_cpuinfo(f.read(1 << 20))
    except OSError:
        return None
