"""A feature's page: statistics and histogram, output-side tokens, every explanation
with each scorer's numbers beside the floors, the exemplars of each split as token
heatmaps, and on request the simulation overlay of one explanation."""

from __future__ import annotations

import numpy as np
from mechanic import store

from .html import Site, esc, heatmap, histogram_svg, linked_num, num, page, table
from .index_page import SCORE_COLUMNS
from .services import Services

__all__ = ["render_feature", "HEADLINES", "headline_scores"]

# column -> (scorer, split, metric), as in the index
HEADLINES = {"sim": ("simulation", "all", "pearson"), "sim_top": ("simulation", "top", "pearson"),
             "detect": ("detection", "test", "auroc"), "fuzz": ("fuzzing", "test", "auroc"),
             "topic": ("topic", "test", "auroc"), "causal": ("intervention", "prompts", "auroc")}
PER_GROUP = 5  # exemplars shown per (split, kind)
OVERLAY_WINDOWS = 6


def headline_scores(scores: list[dict]) -> dict[str, dict]:
    """column -> the score row behind it."""
    out = {}
    for s in scores:
        for col, key in HEADLINES.items():
            scorer = "topic" if s["scorer"] == "embedding" else s["scorer"]  # its name before the rename
            if (scorer, s["split"], s["metric"]) == key:
                out[col] = s
    return out


def _stats(feature: dict) -> str:
    st = feature["stats"]
    rows = [[esc(k), (esc(num(st.get(k), 4) if k != "count" else num(st.get(k))), "num")]
            for k in ("count", "mean", "var", "max", "min", "frac_active") if k in st]
    rows += [[esc(f"p{float(q) * 100:g}"), (esc(num(v, 4)), "num")] for q, v in feature["quantiles"].items()]
    return table(["statistic", "value"], rows)


def _histogram(feature: dict, exemplars: list) -> str:
    random = [e.activations for e in exemplars if e.kind == "random"]
    if not random:
        return "<p class='meta'>no random windows stored, so no histogram</p>"
    acts = np.concatenate(random).astype(np.float64)
    acts = acts[np.isfinite(acts)]
    lo, hi = float(min(acts.min(), feature["min"] or 0)), float(max(acts.max(), feature["max"] or 0))
    counts, edges = np.histogram(acts, bins=40, range=(lo, hi if hi > lo else lo + 1))
    marks = {f"p{float(q) * 100:g}": v for q, v in feature["quantiles"].items() if q in ("0.5", "0.99", "0.999")}
    return (histogram_svg(counts, edges, marks)
            + f"<p class='meta'>activations at {acts.size:,} tokens of the feature's random windows (a uniform sample "
              "of the corpus; bar heights log-scaled), with quantiles of the whole capture</p>")


def _output_side(services: Services, feature: dict) -> str:
    if services.output_tokens is None:
        return "<p class='meta'>output-side tokens need the subject model, which this viewer was not given</p>"
    try:
        out = services.output_tokens(feature["model"], feature["feature"])
    except Exception as exc:  # noqa: BLE001 - a model that cannot load is a note on the page, not a failed page
        return f"<p class='meta'>output-side tokens unavailable: {esc(exc)}</p>"
    if out.get("reason"):
        return f"<p class='meta'>{esc(out['reason'])}</p>"

    def tokens(pairs) -> str:
        return ", ".join(f"<code>{esc(repr(t))}</code> <span class='meta'>{v:+.2f}</span>" for t, v in pairs)

    return (f"<p>promotes {tokens(out.get('promoted') or [])}</p><p>suppresses {tokens(out.get('suppressed') or [])}</p>"
            "<p class='meta'>direct logit effect of the feature's output direction through the unembedding</p>")


def _explanations(db, site: Site, feature: dict) -> tuple[str, list[dict]]:
    explanations = store.get_explanations(db, feature_id=feature["id"])
    order = {"explanation": 0, "control": 1, "candidate": 2}
    explanations.sort(key=lambda e: (order.get(e["role"], 3), e["id"]))
    rows, classes = [], []
    for e in explanations:
        scores = headline_scores(store.get_scores(db, e["id"]))
        href = site.href("explanation", e["id"])
        text = esc(e["text"]) if e["status"] == "ok" else f"<span class='failed'>failed: {esc(e['error'])}</span>"
        row = [f"<a href='{esc(href)}'>#{e['id']}</a>", esc(e["method"]), esc(e["role"]), text]
        for col in SCORE_COLUMNS:
            s = scores.get(col)
            row.append((linked_num(s["value"] if s else None,
                                   site.href("explanation", e["id"], anchor=f"score-{col}") if s else None,
                                   title=f"{s['scorer_model'] or ''} · run {s['run_id']}" if s else ""),
                        f"num score-{col}"))
        overlay = (f"<a href='{esc(site.href('feature', feature['id'], sim=e['id'], anchor='overlay'))}'>overlay</a>"
                   if e["status"] == "ok" and not site.static else "")
        row.append(overlay)
        rows.append(row)
        classes.append("control" if e["role"] == "control" else "failed" if e["status"] != "ok" else "")
    if not rows:
        return "<p class='meta'>no explanations yet</p>", explanations
    return (table(["id", "method", "role", "explanation", *SCORE_COLUMNS, ""], rows, classes)
            + "<p class='meta'>controls (random, shuffled) are the floors; candidates are best-of-k losers. "
              "Hover a number for the scorer model; click it for its row.</p>"), explanations


def _overlay(db, site: Site, services: Services, feature: dict, explanation: dict | None, exemplars: list,
             scale: float) -> str:
    head = "<h2 id='overlay'>Simulation overlay</h2>"
    if explanation is None or explanation["status"] != "ok" or explanation["feature_id"] != feature["id"]:
        return head + "<p class='failed'>no such explanation of this feature</p>"
    stored = [s for s in store.get_scores(db, explanation["id"]) if s["scorer"] == "simulation"]
    by = ", ".join(sorted({s["scorer_model"] or "?" for s in stored})) or "no simulation score stored"
    intro = (f"<p>explanation <a href='{esc(site.href('explanation', explanation['id']))}'>#{explanation['id']}</a>: "
             f"{esc(explanation['text'])}</p><p class='meta'>The store keeps simulation scores, not per-token "
             f"predictions (stored score by: {esc(by)}). ")
    if services.simulate is None:
        return head + intro + "No simulator is available to this viewer, so the overlay cannot be shown.</p>"
    windows = [e for e in exemplars if e.split == "test" and e.kind in ("top", "random")][:OVERLAY_WINDOWS]
    if not windows:
        return head + intro + "The feature has no held-out (test) windows.</p>"
    tokens = [services.tokens(feature["model"], e.tokens) for e in windows]
    try:
        simulated, name = services.simulate(explanation["text"], tokens)
    except Exception as exc:  # noqa: BLE001 - shown on the page
        return head + intro + f"</p><p class='failed'>simulation failed: {esc(exc)}</p>"
    true = np.concatenate([e.activations for e in windows]).astype(float)
    pred = np.concatenate([np.asarray(s, dtype=float) for s in simulated])
    r = float(np.corrcoef(true, pred)[0, 1]) if true.std() > 0 and pred.std() > 0 else None
    parts = [head, intro, f"Predictions computed now by {esc(name)} on {len(windows)} held-out windows: shading is "
             f"the true activation, the green underline the simulated level (0-10); correlation here "
             f"{esc(num(r))}.</p>"]
    for e, tok, sim in zip(windows, tokens, simulated):
        parts.append(f"<div class='ex overlay'><span class='max'>{e.kind} {e.max_act:.3g}</span>"
                     f"{heatmap(tok, e.activations, scale, simulated=sim)}</div>")
    return "".join(parts)


def _exemplars(site: Site, services: Services, feature: dict, exemplars: list, scale: float) -> str:
    parts = []
    for split in store.SPLITS:
        groups = []
        for kind in ("top", "random", "bottom", "decile"):
            chosen = [e for e in exemplars if e.split == split and e.kind == kind][:PER_GROUP]
            if not chosen:
                continue
            total = sum(1 for e in exemplars if e.split == split and e.kind == kind)
            groups.append(f"<p class='meta'>{esc(kind)} windows ({len(chosen)} of {total})</p>")
            for e in chosen:
                tokens = services.tokens(feature["model"], e.tokens)
                label = f"{e.kind}{'' if e.decile is None else ' d' + str(e.decile)} #{e.rank} · {e.max_act:.3g}"
                groups.append(f"<div class='ex' data-window='{e.window_idx}'><span class='max' title='window "
                              f"{e.window_idx} of document {esc(e.doc)} at token {e.start}'>{esc(label)}</span>"
                              f"{heatmap(tokens, e.activations, scale)}</div>")
        if groups:
            parts.append(f"<h2 id='split-{split}'>{esc(split)} split</h2>" + "".join(groups))
    return "".join(parts) or "<p class='meta'>no exemplars stored</p>"


def render_feature(db, site: Site, services: Services, feature_id: int, sim: int | None = None) -> str | None:
    """The feature page, or None when there is no such feature."""
    feature = store.feature_by_id(db, feature_id)
    if feature is None:
        return None
    exemplars = store.get_exemplars(db, feature_id)
    scale = max(abs(feature["max"] or 0.0), abs(min(feature["min"] or 0.0, 0.0)))
    run = f"<a href='{esc(site.href('run', feature['run_id']))}'>run {feature['run_id']}</a>"
    explanations_html, _ = _explanations(db, site, feature)
    agents = store.get_agent_runs(db, feature_id=feature_id)
    agent_html = "".join(f"<li><a href='{esc(site.href('agent', a['id']))}'>investigation {a['id']}</a> "
                         f"<span class='meta'>{esc(a['status'])} · {esc(a['started_at'])}</span></li>" for a in agents)
    body = [f"<p class='meta'>model {esc(feature['model'])} · corpus {esc(feature['corpus'])} · captured by {run} · "
            f"row {feature_id}</p>",
            "<h2>Statistics</h2><div style='display:flex;gap:2em;flex-wrap:wrap'>", _stats(feature),
            "<div>", _histogram(feature, exemplars), "</div></div>",
            "<h2>Output-side tokens</h2>", _output_side(services, feature),
            "<h2>Explanations and scores</h2>", explanations_html]
    if agents:
        body.append(f"<h2>Investigations</h2><ul>{agent_html}</ul>")
    if sim is not None:
        body.append(_overlay(db, site, services, feature, store.get_explanation(db, sim), exemplars, scale))
    body.append(_exemplars(site, services, feature, exemplars, scale))
    return page(site, f"{feature['feature']}", "".join(body))
