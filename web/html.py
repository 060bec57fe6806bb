"""HTML building blocks of the viewer's pages: escaping, the page frame, numbers that
link to their source row, token heatmaps and small inline SVG charts.

Everything from the store is data: every string goes through :func:`esc` (text and
attribute values alike, quotes included), so corpus text such as ``<script>`` or
``" onmouseover="x`` renders as text. Pages load no network assets: the CSS and the
few lines of script are inline.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np

__all__ = ["CSP", "Site", "esc", "num", "linked_num", "page", "heatmap", "histogram_svg", "bars_svg", "table", "color"]

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.4em;margin:.3em 0}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}
nav a{margin-right:1em}nav{border-bottom:1px solid #ddd;padding-bottom:.4em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;
vertical-align:top}th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.control td{color:#777}tr.failed td,.failed{color:#a33}a{color:#1a55a8;text-decoration:none}a:hover{text-decoration:underline}
.ex{font:12px/1.9 ui-monospace,monospace;white-space:pre-wrap;margin:.2em 0;padding:.3em;border-left:3px solid #eee}
.ex span.t{border-radius:2px}.meta{color:#777;font-size:12px}.max{color:#555;font-size:11px;margin-right:.5em}
.sim{border-bottom:3px solid transparent}form.filters{margin:.6em 0}form.filters *{margin-right:.4em}
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;white-space:pre-wrap;max-height:22em}
.pager a,.pager span{margin-right:.6em}.verdict-supported{color:#176a1e}.verdict-refuted{color:#a33}
#hover:empty{display:none}#hover{position:fixed;right:1em;bottom:1em;background:#fff;border:1px solid #ccc;padding:.3em .6em;font:12px monospace}
"""

# Shows the hovered token's value in a fixed box, beside the title tooltip (no network, no framework).
SCRIPT = """
document.addEventListener('mouseover',function(e){var t=e.target;if(!t.dataset||t.dataset.act===undefined)return;
var b=document.getElementById('hover');if(!b)return;b.textContent='activation '+t.dataset.act+
(t.dataset.sim!==undefined?'  simulated '+t.dataset.sim:'');});
"""

# The Content-Security-Policy lets this script (by its hash) and no other run, so even markup that
# escaped escaping could not execute; inline event handlers are blocked too.
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'unsafe-inline'; script-src '{SCRIPT_HASH}'; img-src data:; "
       "form-action 'self'; base-uri 'none'")


def esc(value) -> str:
    """Text and attribute-safe HTML for any value (None is empty)."""
    return "" if value is None else html.escape(str(value), quote=True)


def num(value, digits: int = 3) -> str:
    """A number as text; '–' for None."""
    if value is None:
        return "–"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def linked_num(value, href: str | None, digits: int = 3, title: str = "") -> str:
    """A number that links to the row it came from."""
    text = esc(num(value, digits))
    if not href:
        return text
    return f"<a href='{esc(href)}' title='{esc(title)}'>{text}</a>"


@dataclass(frozen=True)
class Site:
    """Where a page lives: ``server`` paths (``/feature/3``) or ``static`` files in one
    folder (``feature-3.html``), so one renderer serves both."""

    static: bool = False

    def href(self, what: str, key=None, /, **params) -> str:
        params = {k: v for k, v in params.items() if v not in (None, "")}
        if self.static:
            if what == "index":
                sort = params.get("sort", "feature")
                name = "index" if sort == "feature" else f"index-{sort}"
                page = int(params.get("page", 1))
                return f"{name}.html" if page == 1 else f"{name}-p{page}.html"
            if what == "compare":
                return f"compare-{params['a']}-{params['b']}.html"
            name = what if key is None else f"{what}-{key}"
            if int(params.get("page", 1)) != 1:
                name += f"-p{int(params['page'])}"
            anchor = params.get("anchor")
            return f"{name}.html" + (f"#{anchor}" if anchor else "")
        anchor = params.pop("anchor", None)
        path = "/" if what == "index" else f"/{what}" + ("" if key is None else f"/{key}")
        return path + (f"?{urlencode(params)}" if params else "") + (f"#{anchor}" if anchor else "")


def page(site: Site, title: str, body: str) -> str:
    nav = [f"<a href='{esc(site.href('index'))}'>features</a>", f"<a href='{esc(site.href('agents'))}'>investigations</a>",
           f"<a href='{esc(site.href('bench'))}'>bench runs</a>"]
    if site.static:
        nav.append("<span class='meta'>static report: search and filters need <code>mechanic serve</code></span>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            f"<meta name='viewport' content='width=device-width'><style>{CSS}</style></head><body>"
            f"<nav>{' '.join(nav)}</nav><h1>{esc(title)}</h1>{body}<div id='hover'></div>"
            f"<script>{SCRIPT}</script></body></html>")


def table(header: Sequence[str], rows: Sequence[Sequence], row_classes: Sequence[str] | None = None) -> str:
    """A table of pre-escaped cells; a cell given as ``(html, "num")`` gets that class.
    Header cells are escaped here."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f"<td class='{esc(c[1])}'>{c[0]}</td>" if isinstance(c, tuple) else f"<td>{c}</td>"
                        for c in row)
        body.append(f"<tr class='{esc(row_classes[i] if row_classes else '')}'>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def color(value: float, scale: float) -> str:
    if scale <= 0 or value == 0 or not np.isfinite(value):
        return "transparent"
    alpha = min(1.0, abs(value) / scale)
    return f"rgba(220,60,30,{alpha:.2f})" if value > 0 else f"rgba(40,90,220,{alpha:.2f})"


def heatmap(tokens: Sequence[str], acts: Sequence[float], scale: float, simulated: Sequence[float] | None = None,
            sim_scale: float = 10.0) -> str:
    """One window as token spans shaded by activation; each span carries its value in
    ``data-act`` (and the title tooltip), and with ``simulated`` an underline of the
    simulated level and ``data-sim``."""
    spans = []
    for i, (tok, a) in enumerate(zip(tokens, acts)):
        a = float(a)
        text = esc(tok).replace("\n", "⏎\n")
        extra, style, title = "", f"background:{color(a, scale)}", f"{a:.3g}"
        if simulated is not None:
            s = float(simulated[i])
            extra = f" data-sim='{s:.3g}'"
            alpha = min(1.0, max(0.0, s / sim_scale))
            style += f";border-bottom:3px solid rgba(20,140,60,{alpha:.2f})"
            title += f" | simulated {s:.3g}"
        spans.append(f"<span class='t' style='{style}' title='{esc(title)}' data-act='{a:.3g}'{extra}>{text}</span>")
    return "".join(spans)


def histogram_svg(counts: Sequence[int], edges: Sequence[float], marks: dict[str, float] | None = None,
                  width: int = 520, height: int = 120) -> str:
    """Bars of a histogram (log-scaled heights), with labelled vertical marks (quantiles)."""
    counts = np.asarray(counts, dtype=float)
    if counts.size == 0 or counts.max() <= 0:
        return "<p class='meta'>no activations to plot</p>"
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0
    heights = np.log1p(counts) / np.log1p(counts.max()) * (height - 20)
    bar_w = width / len(counts)
    parts = [f"<svg width='{width}' height='{height + 16}' role='img' aria-label='activation histogram'>"]
    for i, (c, h) in enumerate(zip(counts, heights)):
        parts.append(f"<rect x='{i * bar_w:.1f}' y='{height - h:.1f}' width='{max(bar_w - 1, 1):.1f}' "
                     f"height='{h:.1f}' fill='#c8553d'><title>[{edges[i]:.3g}, {edges[i + 1]:.3g}): "
                     f"{int(c):,}</title></rect>")
    for label, x in (marks or {}).items():
        if x is None or not lo <= x <= hi:
            continue
        px = (x - lo) / span * width
        parts.append(f"<line x1='{px:.1f}' x2='{px:.1f}' y1='0' y2='{height}' stroke='#1a55a8' stroke-dasharray='2'/>"
                     f"<text x='{px + 2:.1f}' y='10' font-size='9' fill='#1a55a8'>{esc(label)}</text>")
    parts.append(f"<text x='0' y='{height + 12}' font-size='10'>{lo:.3g}</text>"
                 f"<text x='{width}' y='{height + 12}' font-size='10' text-anchor='end'>{hi:.3g}</text></svg>")
    return "".join(parts)


def bars_svg(rows: Sequence[tuple[str, float | None, float | None, float | None]], chance: float | None = None,
             title: str = "", width: int = 360) -> str:
    """Horizontal bars ``(label, mean, lo, hi)`` on a 0-1 axis (clipped at -1..1 for correlations),
    with the 95% interval as a whisker and an optional chance line."""
    shown = [r for r in rows if r[1] is not None]
    if not shown:
        return ""
    lo_axis = min(0.0, *(r[2] if r[2] is not None else r[1] for r in shown))
    lo_axis = max(lo_axis, -1.0)
    hi_axis = 1.0
    label_w, row_h = 90, 18
    plot_w = width - label_w - 10

    def x(v: float) -> float:
        return label_w + (min(max(v, lo_axis), hi_axis) - lo_axis) / (hi_axis - lo_axis) * plot_w

    height = row_h * len(shown) + 24
    parts = [f"<svg width='{width}' height='{height}' role='img' aria-label='{esc(title)}'>",
             f"<text x='0' y='11' font-size='11' font-weight='bold'>{esc(title)}</text>"]
    for i, (label, mean, lo, hi) in enumerate(shown):
        y = 18 + i * row_h
        parts.append(f"<text x='0' y='{y + 11}' font-size='11'>{esc(label)}</text>"
                     f"<rect x='{x(min(0.0, mean)):.1f}' y='{y + 2}' width='{abs(x(mean) - x(0.0)):.1f}' height='11' "
                     f"fill='#7aa6d8'><title>{esc(label)}: {mean:.3f}</title></rect>")
        if lo is not None and hi is not None:
            parts.append(f"<line x1='{x(lo):.1f}' x2='{x(hi):.1f}' y1='{y + 7}' y2='{y + 7}' stroke='#333'/>")
    if chance is not None:
        parts.append(f"<line x1='{x(chance):.1f}' x2='{x(chance):.1f}' y1='16' y2='{height}' stroke='#a33' "
                     f"stroke-dasharray='3'><title>chance {chance:.2f}</title></line>")
    parts.append("</svg>")
    return "".join(parts)
