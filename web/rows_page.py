"""Source rows: an explanation with every score it got (the row each number on the
other pages links to: run, explainer and scorer models, prompt and config hashes),
and a run with its configuration and what it made."""

from __future__ import annotations

import json

from mechanic import store

from .feature_page import HEADLINES
from .html import Site, esc, num, page, table

__all__ = ["render_explanation", "render_run"]


def _json(value) -> str:
    return f"<pre>{esc(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


def render_explanation(db, site: Site, explanation_id: int) -> str | None:
    e = store.get_explanation(db, explanation_id)
    if e is None:
        return None
    feature = store.feature_by_id(db, e["feature_id"])
    fields = [("feature", f"<a href='{esc(site.href('feature', e['feature_id']))}'>{esc(feature['feature'])}</a> "
                          f"<span class='meta'>({esc(feature['model'])})</span>"),
              ("run", f"<a href='{esc(site.href('run', e['run_id']))}'>run {e['run_id']}</a>")]
    fields += [(k, esc(e[k])) for k in ("method", "role", "status", "text", "error", "explainer_model", "prompt_hash",
                                         "config_hash", "llm_calls", "prompt_tokens", "completion_tokens", "seconds",
                                         "created_at")]
    body = [table(["field", "value"], [[esc(k), v] for k, v in fields])]
    anchors = {key: col for col, key in HEADLINES.items()}
    rows = []
    for s in store.get_scores(db, explanation_id):
        col = anchors.get((s["scorer"], s["split"], s["metric"]))
        ident = f"score-{col}" if col else f"score-row-{s['id']}"
        rows.append([f"<span id='{esc(ident)}'>{esc(s['scorer'])}</span>", esc(s["split"]), esc(s["metric"]),
                     (esc(num(s["value"])), "num"), (esc(s["n"]), "num"), esc(s["scorer_model"]),
                     f"<a href='{esc(site.href('run', s['run_id']))}'>run {s['run_id']}</a>",
                     (esc(num(s["seconds"], 2)), "num"), esc(s["error"]),
                     esc(json.dumps(s["details"], sort_keys=True, default=str)[:400]) if s["details"] else ""])
    body.append("<h2>Scores</h2>" + (table(["scorer", "split", "metric", "value", "n", "scorer model", "run",
                                            "seconds", "error", "details"], rows) if rows else
                                     "<p class='meta'>not scored</p>"))
    if e["details"]:
        body.append("<h2>Details</h2>" + _json(e["details"]))
    if e["raw"]:
        body.append("<h2>Raw explainer output</h2>" + f"<pre>{esc(e['raw'])}</pre>")
    return page(site, f"Explanation {explanation_id}", "".join(body))


def render_run(db, site: Site, run_id: int) -> str | None:
    run = store.get_run(db, run_id)
    if run is None:
        return None
    made = store.run_products(db, run_id)
    fields = [(k, esc(run[k])) for k in ("command", "status", "error", "config_hash", "started_at", "finished_at")]
    fields += [(f"{k} made", esc(f"{v:,}")) for k, v in made.items() if v]
    body = table(["field", "value"], [[esc(k), v] for k, v in fields]) + "<h2>Configuration</h2>" + _json(run["config"])
    if run["command"] == "bench":
        body += f"<p><a href='{esc(site.href('bench', run_id))}'>bench tables</a></p>"
    return page(site, f"Run {run_id}", body)
