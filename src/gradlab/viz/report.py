"""A self-contained HTML report: chapters of text, tables, figures and small interactive
widgets, in one file that needs no network.

Structure: a table of contents, then one ``<section>`` per :class:`Section`, each with a
short "What you will see", its blocks in the order they were added, and the commands
that reproduce it. Figures that are meant to be compared go side by side
(:meth:`Section.figures`); every caption should say what to notice.

Progressive enhancement: everything a reader needs is plain HTML with the PNG figures
embedded as data URIs. A small script, inlined from ``report.js`` (no network request,
no CDN), then adds what JavaScript allows: widgets (:meth:`Section.widget`, hidden
without JavaScript) such as a learning-rate slider over precomputed runs embedded as
JSON, and hover read-outs on figures that carry their data (``readout=`` of
:meth:`Section.image`).
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from gradlab.io import write_text

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;
line-height:1.45}
h1{border-bottom:2px solid #4477aa}h2{margin-top:2.2em;color:#23507a}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}
th{background:#eef3f8}td{font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;border:1px solid #ddd;display:block}
.zoomable figure img{cursor:zoom-in}
.zoom{position:fixed;inset:0;z-index:10;overflow:auto;background:rgba(30,30,30,.88);
padding:1.5em;cursor:zoom-out;text-align:center}
.zoom img{max-width:none;margin:0 auto;background:#fff;border:0}
.zoom p{color:#eee;margin:.6em auto;max-width:60em;font-size:.95em}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}
figure{margin:1em 0}figcaption{color:#444;font-size:.92em;margin-top:.3em}
.row{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:1.2em;
align-items:start}
.see{background:#eef3f8;border-left:4px solid #4477aa;padding:.5em .9em;margin:1em 0}
.repro{border-left:4px solid #999;padding:.1em .9em;margin:1.2em 0;background:#fafafa}
.repro pre{margin:.4em 0;background:#fff}
nav.toc{background:#fafafa;border:1px solid #ddd;padding:.4em 1.2em;margin:1.2em 0}
nav.toc li{margin:.25em 0}nav.toc .gist{color:#555;font-size:.92em}
.widget{border:1px solid #cdd9e5;border-radius:6px;padding:.8em 1em;margin:1.2em 0;
background:#fcfdff}
.widget .controls{display:flex;gap:1em;align-items:center;flex-wrap:wrap}
.widget input[type=range]{width:min(460px,80vw)}.widget output{font-weight:bold;
font-variant-numeric:tabular-nums;min-width:7em}
.widget .verdict{font-weight:bold;min-height:1.4em;margin:.5em 0}
.widget .charts{display:flex;flex-wrap:wrap;gap:1em}.widget svg{max-width:100%;height:auto}
.widget svg text{font-size:11px;font-family:system-ui,sans-serif}
.readout-wrap{position:relative;display:inline-block;max-width:100%}
.readout-rule{position:absolute;width:0;border-left:1px dashed #c00;pointer-events:none}
.readout-tip{position:absolute;background:rgba(255,255,255,.95);border:1px solid #999;
padding:3px 6px;font-size:12px;pointer-events:none;white-space:pre;
font-variant-numeric:tabular-nums;z-index:2}
"""


@dataclass
class Section:
    """One chapter of a report; blocks render in the order they are added.

    Attributes
    ----------
    title : str
        The heading, also listed in the table of contents.
    gist : str
        "What you will see": two or three sentences, shown under the heading and, in
        short, in the table of contents (:meth:`see`).
    commands : list of str
        Shell commands that reproduce the chapter (:meth:`reproduce`).
    blocks : list of (kind, payload)
        The content.
    """

    title: str
    gist: str = ""
    commands: list[str] = field(default_factory=list)
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def see(self, text: str) -> Section:
        """Set the chapter's "What you will see"."""
        self.gist = text
        return self

    def text(self, paragraph: str) -> Section:
        self.blocks.append(("text", paragraph))
        return self

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Section:
        self.blocks.append(("table", (list(header), [[str(c) for c in r] for r in rows])))
        return self

    def image(
        self,
        path: str | os.PathLike[str],
        caption: str = "",
        *,
        readout: dict[str, Any] | None = None,
    ) -> Section:
        """A figure across the page. ``readout``: data for hover read-outs (see
        :func:`gradlab.viz.curves.readout`)."""
        self.blocks.append(("figures", [(Path(path), caption, readout)]))
        return self

    def figures(
        self,
        items: Sequence[tuple[str | os.PathLike[str], str]]
        | Sequence[tuple[str | os.PathLike[str], str, dict[str, Any] | None]],
    ) -> Section:
        """Figures side by side, to be compared: ``(path, caption[, readout])`` each."""
        row = []
        for item in items:
            readout = item[2] if len(item) > 2 else None  # type: ignore[misc]
            row.append((Path(item[0]), str(item[1]), readout))
        self.blocks.append(("figures", row))
        return self

    def widget(self, kind: str, data: dict[str, Any], *, title: str = "") -> Section:
        """An interactive widget drawn by the report's script from ``data`` (JSON).

        Hidden when JavaScript is off; the chapter's static figures stand in for it.
        Kinds: ``"descent-rate"`` and ``"linreg-rate"`` (learning-rate sliders over
        precomputed runs, see :mod:`gradlab.tour`).
        """
        self.blocks.append(("widget", (kind, title, data)))
        return self

    def reproduce(self, *commands: str) -> Section:
        """Add commands that reproduce the chapter."""
        self.commands.extend(commands)
        return self


def slug(title: str) -> str:
    """An HTML id from a title: ``"2. Linear regression"`` -> ``"linear-regression"``."""
    words = re.sub(r"^\s*\d+\.\s*", "", title).lower()
    return re.sub(r"[^a-z0-9]+", "-", words).strip("-") or "section"


def _json_for_script(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</`` can close it)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def _script() -> str:
    return resources.files("gradlab.viz").joinpath("report.js").read_text(encoding="utf-8")


def render(title: str, sections: Sequence[Section], *, intro: str = "") -> str:
    """The report as one HTML string (images read and embedded, the script inlined)."""
    e = html.escape
    ids: list[str] = []
    for s in sections:
        base = slug(s.title)
        ids.append(base if base not in ids else f"{base}-{len(ids) + 1}")
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1><p>Made {datetime.now():%Y-%m-%d %H:%M} by gradlab.</p>",
    ]
    if intro:
        out.append(f"<p>{e(intro)}</p>")
    out.append("<nav class='toc' id='contents'><h2 style='margin-top:.5em'>Contents</h2><ol>")
    for s, sid in zip(sections, ids, strict=True):
        gist = f"<br><span class='gist'>{e(s.gist)}</span>" if s.gist else ""
        out.append(f"<li><a href='#{sid}'>{e(s.title)}</a>{gist}</li>")
    out.append("</ol></nav>")
    for s, sid in zip(sections, ids, strict=True):
        out.append(f"<section id='{sid}'><h2>{e(s.title)}</h2>")
        if s.gist:
            out.append(f"<div class='see'><b>What you will see.</b> {e(s.gist)}</div>")
        for kind, payload in s.blocks:
            out.append(_block(kind, payload))
        if s.commands:
            cmds = "\n".join(s.commands)
            out.append(
                "<div class='repro'><b>Reproduce this chapter</b> (the numbers and pictures "
                f"above, from a shell):<pre>{e(cmds)}</pre></div>"
            )
        out.append("<p><a href='#contents'>Back to the contents</a></p></section>")
    out.append(f"<script>{_script()}</script></body></html>")
    return "\n".join(out)


def _block(kind: str, payload: Any) -> str:
    e = html.escape
    if kind == "text":
        return f"<p>{e(payload)}</p>"
    if kind == "table":
        header, rows = payload
        lines = ["<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"]
        lines += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
        lines.append("</table>")
        return "".join(lines)
    if kind == "figures":
        figures = [_figure(path, caption, readout) for path, caption, readout in payload]
        if len(figures) == 1:
            return figures[0]
        return "<div class='row'>" + "".join(figures) + "</div>"
    if kind == "widget":
        wkind, title, data = payload
        heading = f"<h3>{e(title)}</h3>" if title else ""
        return (
            f"<div class='widget' data-widget='{e(wkind)}' hidden>{heading}"
            f"<script type='application/json' class='widget-data'>{_json_for_script(data)}"
            "</script></div>"
        )
    raise ValueError(f"unknown report block {kind!r}")


def _figure(path: Path, caption: str, readout: dict[str, Any] | None) -> str:
    e = html.escape
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    mime = "image/gif" if path.suffix.lower() == ".gif" else "image/png"  # an animation, or not
    img = f"<img alt='{e(caption or path.name)}' src='data:{mime};base64,{data}'>"
    if readout is not None:
        img = f"<div class='readout-wrap' data-readout='{e(_json_for_script(readout))}'>{img}</div>"
    return f"<figure>{img}<figcaption>{e(caption)}</figcaption></figure>"


def write_report(
    path: str | os.PathLike[str], title: str, sections: Sequence[Section], *, intro: str = ""
) -> Path:
    """Render and write the report atomically; return its path."""
    return write_text(path, render(title, sections, intro=intro))
