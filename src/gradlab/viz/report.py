"""A self-contained HTML report: text, tables and PNG images embedded as data URIs."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from gradlab.io import write_text

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #4477aa}h2{margin-top:2em;color:#23507a}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}
th{background:#eef3f8}td{font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}pre{background:#f6f6f6;padding:.6em}
figure{margin:1em 0}figcaption{color:#555;font-size:.9em}
"""


@dataclass
class Section:
    """One chapter of a report."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    images: list[tuple[Path, str]] = field(default_factory=list)
    pre: list[str] = field(default_factory=list)

    def text(self, paragraph: str) -> Section:
        self.paragraphs.append(paragraph)
        return self

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Section:
        self.tables.append((list(header), [[str(c) for c in r] for r in rows]))
        return self

    def image(self, path: str | os.PathLike[str], caption: str = "") -> Section:
        self.images.append((Path(path), caption))
        return self

    def code(self, text: str) -> Section:
        self.pre.append(text)
        return self


def render(title: str, sections: Sequence[Section]) -> str:
    """The report as one HTML string (images read and embedded)."""
    e = html.escape
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1><p>Made {datetime.now():%Y-%m-%d %H:%M} by gradlab.</p>",
    ]
    for s in sections:
        out.append(f"<h2>{e(s.title)}</h2>")
        out += [f"<p>{e(p)}</p>" for p in s.paragraphs]
        out += [f"<pre>{e(p)}</pre>" for p in s.pre]
        for header, rows in s.tables:
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
            out.append("</table>")
        for path, caption in s.images:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            out.append(
                f"<figure><img alt='{e(caption or path.name)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{e(caption)}</figcaption></figure>"
            )
    out.append("</body></html>")
    return "\n".join(out)


def write_report(path: str | os.PathLike[str], title: str, sections: Sequence[Section]) -> Path:
    """Render and write the report atomically; return its path."""
    return write_text(path, render(title, sections))
