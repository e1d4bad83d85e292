"""Small line charts written directly as SVG text, for the notebook monitor.

A matplotlib redraw (layout, rasterising, PNG encoding) costs more than a whole epoch of
a small model, so a live plot drawn with it can make training many times slower. These
charts are a few kilobytes of text built with string formatting: cheap enough to
redraw after every epoch, crisp at any zoom, and shown by every notebook front end
(``image/svg+xml``). They are deliberately simple: panels side by side sharing the
x axis, ticks at round numbers, a legend under each panel (never over the data), and a
column of text beside the panels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

FONT = "font-family='system-ui,sans-serif'"


@dataclass
class Series:
    """One line: ``y`` against ``x``; non-finite values leave a gap."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    color: str
    dash: str = ""


@dataclass
class Panel:
    """One set of axes; ``ylim`` fixes the y range, else it follows the data."""

    title: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    ylim: tuple[float, float] | None = None


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round values (steps of 1, 2, 2.5 or 5 times a power of ten)
    covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(count, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _extent(panel: Panel) -> tuple[float, float]:
    if panel.ylim is not None:
        return panel.ylim
    ys = [v for s in panel.series for v in s.y if math.isfinite(v)]
    if not ys:
        return 0.0, 1.0
    lo, hi = min(ys), max(ys)
    lo = min(lo, 0.0) if lo >= 0 and lo < 0.5 * hi else lo  # losses: start the axis at 0
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.1
    return lo - (pad if lo != 0 else 0), hi + pad


def chart(
    panels: Sequence[Panel],
    *,
    xlabel: str,
    xlim: tuple[float, float],
    title: str = "",
    notes: Sequence[str] = (),
    panel_width: int = 300,
    height: int = 250,
    notes_width: int = 230,
) -> str:
    """Panels side by side with a column of ``notes`` (one line each) on the right.

    Parameters
    ----------
    panels : sequence of Panel
    xlabel : str
        Label of the shared x axis.
    xlim : (float, float)
        The x range of every panel (fixed, so that lines grow from left to right).
    title : str
        Above the panels.
    notes : sequence of str
        Lines of text beside the panels (an empty sequence leaves no column).
    panel_width, height, notes_width : int
        Sizes in pixels.

    Returns
    -------
    str
        A complete ``<svg>`` document.
    """
    left, right, top, bottom = 52, 14, 46 if title else 26, 62
    width = panel_width * len(panels) + (notes_width if notes else 0)
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' {FONT} font-size='11'>",
        f"<rect width='{width}' height='{height}' fill='white'/>",
    ]
    if title:
        out.append(
            f"<text x='{width / 2:.0f}' y='18' text-anchor='middle' font-size='13' "
            f"font-weight='bold'>{escape(title)}</text>"
        )
    x0, x1 = xlim
    xspan = (x1 - x0) or 1.0
    for k, panel in enumerate(panels):
        ox = k * panel_width
        pl, pr = ox + left, ox + panel_width - right
        pt, pb = top, height - bottom
        y0, y1 = _extent(panel)
        yspan = (y1 - y0) or 1.0

        def px(x: float, pl: float = pl, pr: float = pr) -> float:
            return pl + (x - x0) / xspan * (pr - pl)

        def py(
            y: float, pt: float = pt, pb: float = pb, y0: float = y0, ys: float = yspan
        ) -> float:
            return pb - (y - y0) / ys * (pb - pt)

        out.append(
            f"<text x='{(pl + pr) / 2:.0f}' y='{pt - 8}' text-anchor='middle' "
            f"font-size='12'>{escape(panel.title)}</text>"
        )
        out.append(
            f"<rect x='{pl}' y='{pt}' width='{pr - pl}' height='{pb - pt}' fill='none' "
            "stroke='#999'/>"
        )
        for t in nice_ticks(y0, y1, 5):
            y = py(t)
            out.append(f"<line x1='{pl}' x2='{pr}' y1='{y:.1f}' y2='{y:.1f}' stroke='#eee'/>")
            out.append(f"<text x='{pl - 4}' y='{y + 4:.1f}' text-anchor='end'>{_fmt(t)}</text>")
        for t in nice_ticks(x0, x1, 6):
            x = px(t)
            out.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{pb}' y2='{pb + 4}' stroke='#999'/>")
            out.append(f"<text x='{x:.1f}' y='{pb + 15}' text-anchor='middle'>{_fmt(t)}</text>")
        out.append(
            f"<text x='{(pl + pr) / 2:.0f}' y='{pb + 29}' text-anchor='middle'>"
            f"{escape(xlabel)}</text>"
        )
        out.append(
            f"<text transform='translate({ox + 13},{(pt + pb) / 2:.0f}) rotate(-90)' "
            f"text-anchor='middle'>{escape(panel.ylabel)}</text>"
        )
        out.append(f"<clipPath id='clip{k}'><rect x='{pl}' y='{pt}' width='{pr - pl}' "
                   f"height='{pb - pt}'/></clipPath><g clip-path='url(#clip{k})'>")  # fmt: skip
        for s in panel.series:
            dash = f" stroke-dasharray='{s.dash}'" if s.dash else ""
            segment: list[str] = []
            dots: list[str] = []
            for x, y in zip(s.x, s.y, strict=True):
                if math.isfinite(x) and math.isfinite(y):
                    segment.append(f"{px(x):.1f},{py(y):.1f}")
                    dots.append(f"<circle cx='{px(x):.1f}' cy='{py(y):.1f}' r='2.2' "
                                f"fill='{s.color}'/>")  # fmt: skip
                    continue
                if segment:
                    out.append(_polyline(segment, s.color, dash))
                segment = []
            if segment:
                out.append(_polyline(segment, s.color, dash))
            if len(dots) <= 40:
                out += dots
        out.append("</g>")
        lx: float = pl
        for s in panel.series:
            dash = f" stroke-dasharray='{s.dash}'" if s.dash else ""
            ly = pb + 46
            out.append(
                f"<line x1='{lx}' x2='{lx + 18}' y1='{ly - 4}' y2='{ly - 4}' stroke='{s.color}' "
                f"stroke-width='2'{dash}/>"
            )
            out.append(f"<text x='{lx + 22}' y='{ly}'>{escape(s.label)}</text>")
            lx += 30 + 6.5 * len(s.label)
    if notes:
        nx = panel_width * len(panels) + 8
        for i, line in enumerate(notes):
            weight = " font-weight='bold'" if i == 0 else ""
            out.append(
                f"<text x='{nx}' y='{top + 6 + 17 * i}' font-size='12' font-family='monospace' "
                f"xml:space='preserve' style='white-space:pre'{weight}>{escape(line)}</text>"
            )
    out.append("</svg>")
    return "".join(out)


def _polyline(points: list[str], color: str, dash: str) -> str:
    return (
        f"<polyline points='{' '.join(points)}' fill='none' stroke='{color}' "
        f"stroke-width='1.8'{dash}/>"
    )
