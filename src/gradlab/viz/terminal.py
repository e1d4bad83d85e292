"""Plain-text charts for the terminal (no dependencies)."""

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


def line_chart(
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    width: int = 64,
    height: int = 12,
    log: bool = False,
) -> str:
    """A multi-line chart: one marker per series, y axis labelled at top and bottom."""
    marks = "*o+x#@"
    cleaned = []
    for label, vals in series:
        v = [float(x) for x in vals]
        if log:
            v = [math.log10(x) if x > 0 else math.nan for x in v]
        cleaned.append((label, v))
    finite = [x for _, v in cleaned for x in v if math.isfinite(x)]
    if not finite:
        return "(nothing finite to plot)"
    lo, hi = min(finite), max(finite)
    span = hi - lo or 1.0
    grid = [[" "] * width for _ in range(height)]
    for k, (_, v) in enumerate(cleaned):
        n = len(v)
        for col in range(width):
            i = round(col * (n - 1) / (width - 1)) if n > 1 else 0
            x = v[i] if n else math.nan
            if math.isfinite(x):
                r = height - 1 - round((x - lo) / span * (height - 1))
                grid[r][col] = marks[k % len(marks)]

    def fmt(x: float) -> str:
        return f"1e{x:.1f}" if log else f"{x:.4g}"

    top, bottom = fmt(hi), fmt(lo)
    pad = max(len(top), len(bottom))
    lines = []
    for r, row in enumerate(grid):
        label = top if r == 0 else bottom if r == height - 1 else ""
        lines.append(f"{label:>{pad}} |{''.join(row)}")
    lines.append(" " * pad + " +" + "-" * width)
    legend = "   ".join(f"{marks[k % len(marks)]} {label}" for k, (label, _) in enumerate(cleaned))
    lines.append(" " * (pad + 2) + legend)
    return "\n".join(lines)
