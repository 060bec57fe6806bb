"""A static HTML page of labeling results: explanations beside their scores and floors,
and token heatmaps of each feature's held-out exemplars.

Reads the store only. Token ids become text through a ``decode`` callable the caller
passes (the subject's tokenizer), so this module needs no model. Every piece of
corpus text is HTML-escaped: it is data.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from mechanic import store

__all__ = ["write_report", "render_report"]

Decode = Callable[[Sequence[int]], list[str]]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.control td{color:#777}tr.failed td{color:#a33}tr.validity td{font-style:italic}td.low{color:#a33}
.ex{font:12px/1.9 ui-monospace,monospace;white-space:pre-wrap;margin:.2em 0;padding:.3em;border-left:3px solid #eee}
.ex span{border-radius:2px}.meta{color:#777;font-size:12px}.max{color:#555;font-size:11px;margin-right:.5em}
"""


def _color(value: float, scale: float) -> str:
    if scale <= 0 or value == 0:
        return "transparent"
    alpha = min(1.0, abs(value) / scale)
    return f"rgba(220,60,30,{alpha:.2f})" if value > 0 else f"rgba(40,90,220,{alpha:.2f})"


def _heatmap(tokens: list[str], acts: np.ndarray, scale: float) -> str:
    spans = []
    for tok, a in zip(tokens, acts):
        text = html.escape(tok).replace("\n", "⏎\n")
        spans.append(f'<span style="background:{_color(float(a), scale)}" title="{float(a):.3g}">{text}</span>')
    return "".join(spans)


def _num(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _validity(validity: dict, cols: Sequence[str]) -> list[str]:
    """The summary table's last row: each column's lowest measured validity over suites
    (share of decoys the true description outscores), with every figure and its source
    in the cell's title; "unvalidated" where no bench figure exists."""
    cells = []
    for c in cols:
        per_model = [v.to_dict() for v in validity.get(c, [])]
        lows = [v["lowest"] for v in per_model]
        if not lows or any(low is None for low in lows):
            cells.append("<td class='num low'>unvalidated</td>")
            continue
        title = "; ".join(f"{v['scorer_model']}: " + ", ".join(
            f"{suite} {ci['mean']:.2f} ({v['sources'][suite]})" for suite, ci in v["figures"].items())
            for v in per_model)
        klass = "num low" if min(lows) < 0.7 else "num"
        cells.append(f"<td class='{klass}' title='{html.escape(title, quote=True)}'>{min(lows):.2f}</td>")
    return ["<tr class='validity'><td>validity (lowest over suites; chance 0.50, below 0.70 don't rely on it)</td>"
            + "".join(cells) + "<td></td></tr>"]


def render_report(db, table, *, model_name: str, decode: Decode, config: dict | None = None,
                  n_exemplars: int = 4, corpus_id: int | None = None, title: str = "mechanic label report") -> str:
    """HTML for a ``LabelTable`` (see ``mechanic.agent.summary``)."""
    cols = table.columns
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
           f"<p class='meta'>model {html.escape(model_name)} · "
           f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}</p>"]
    if config:
        conf = ", ".join(f"{k}={v}" for k, v in config.items() if k != "features")
        out.append(f"<p class='meta'>{html.escape(conf)}</p>")
    out.append("<h2>Summary: mean [95% CI] per method; random and shuffled are the floors</h2><table><tr><th>method</th>"
               + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "<th>failed</th></tr>")
    for method, info in table.methods.items():
        cells = []
        for c in cols:
            ci = info["scores"][c]
            cells.append("<td class='num'>–</td>" if ci["mean"] is None else
                         f"<td class='num'>{ci['mean']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}]</td>")
        out.append(f"<tr><td>{html.escape(method)}</td>{''.join(cells)}<td class='num'>{info['failures']}</td></tr>")
    validity = getattr(table, "validity", {})
    out += _validity(validity, cols)
    out.append("</table>")
    sources = sorted({src for per in validity.values() for v in per for src in v.to_dict()["sources"].values()})
    if sources:
        named = ", ".join("figures shipped with mechanic (evals/validity.json)" if src == "shipped" else
                          f"{src} in this database" for src in sources)
        out.append(f"<p class='meta'>validity: share of decoy descriptions the true one outscores on bench features "
                   f"with known answers; from {html.escape(named)}</p>")
    by_feature: dict[str, list[dict]] = {}
    for r in table.rows:
        by_feature.setdefault(r["feature"], []).append(r)
    for name, rows in by_feature.items():
        feature = store.get_feature(db, model_name, name, corpus_id=corpus_id)
        out.append(f"<h2 id='{html.escape(name)}'>{html.escape(name)}</h2>")
        if feature:
            out.append(f"<p class='meta'>max {feature['max']:.3g} · mean {feature['mean']:.3g} · active "
                       f"{100 * (feature['frac_active'] or 0):.2f}% of {feature['count']:,} tokens</p>")
        out.append("<table><tr><th>method</th><th>explanation</th>"
                   + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
        for r in rows:
            klass = "control" if r["role"] == "control" else ("failed" if r["status"] != "ok" else "")
            text = r["text"] if r["status"] == "ok" else f"failed: {r['error']}"
            out.append(f"<tr class='{klass}'><td>{html.escape(r['method'])}</td><td>{html.escape(text or '')}</td>"
                       + "".join(f"<td class='num'>{_num(r['scores'].get(c))}</td>" for c in cols) + "</tr>")
        out.append("</table>")
        if feature:
            scale = max(abs(feature["max"] or 0), abs(min(feature["min"] or 0, 0)))
            for kind, label in (("top", "held-out top windows"), ("random", "held-out random windows")):
                exemplars = store.get_exemplars(db, feature["id"], kind=kind, split="test")[:n_exemplars]
                if not exemplars:
                    continue
                out.append(f"<p class='meta'>{label}</p>")
                for e in exemplars:
                    out.append(f"<div class='ex'><span class='max'>{e.max_act:.3g}</span>"
                               f"{_heatmap(decode(e.tokens), e.activations, scale)}</div>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(path: str | Path, db, table, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(db, table, **kwargs), encoding="utf-8")
    return path
