"""A plain-text chart for the terminal (no dependencies)."""

from __future__ import annotations

import math
from collections.abc import Sequence

_BLOCKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 60, *, log: bool = False) -> str:
    """A one-line chart of ``values`` (resampled to ``width`` characters)."""
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
    return "".join(_BLOCKS[1 + round((v - lo) / span * (len(_BLOCKS) - 2))] for v in vals)
