"""A plain-text chart for the terminal (no dependencies)."""

from __future__ import annotations

import math
from collections.abc import Sequence

_BLOCKS = " ▁▂▃▄▅▆▇█"
#: The same nine levels in ASCII, for a stream that cannot encode the blocks.
_ASCII = " _.-:=+*#"


def sparkline(
    values: Sequence[float], width: int = 60, *, log: bool = False, ascii: bool = False
) -> str:
    """A one-line chart of ``values`` (resampled to ``width`` characters), in Unicode
    blocks, or in ASCII characters with ``ascii``."""
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return ""
    if log and min(vals) > 0:
        vals = [math.log10(v) for v in vals]
    if len(vals) > width:
        idx = [round(i * (len(vals) - 1) / (width - 1)) for i in range(width)]
        vals = [vals[i] for i in idx]
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    levels = _ASCII if ascii else _BLOCKS
    return "".join(levels[1 + round((v - lo) / span * (len(levels) - 2))] for v in vals)


def can_encode(stream: object, text: str) -> bool:
    """Whether ``stream`` (a text stream such as ``sys.stdout``) can write ``text``."""
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
