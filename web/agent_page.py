"""Investigations and questions: the list of agent runs, and one run's hypotheses with
their experiments (arguments, results, verdicts) in order, or for ``ask`` the
question, the experiments it planned and ran, the evidence each claim cites and the answer."""

from __future__ import annotations

import json

from mechanic import store

from .html import Site, esc, num, page, table

__all__ = ["render_agent", "render_agents", "AGENTS_PAGE"]

AGENTS_PAGE = 50


def _short(value, limit: int = 1500) -> str:
    text = json.dumps(value, indent=1, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit:,} more characters)"


def _experiment(site: Site, x: dict, hypotheses: dict) -> str:
    hyp = hypotheses.get(x["hypothesis_id"])
    tests = (f" · tests <a href='#hyp-{x['hypothesis_id']}'>hypothesis {hyp['round']}.{hyp['idx']}</a>"
             if hyp else "")
    out = [f"<div class='experiment' id='exp-{x['id']}'><h3>step {x['step']}: <code>{esc(x['tool'])}</code>"
           f" <span class='meta'>experiment {x['id']} · {x['elapsed']:.2f}s{tests}</span></h3>",
           f"<p class='meta'>arguments</p><pre>{esc(_short(x['arguments']))}</pre>"]
    if x["error"]:
        out.append(f"<p class='failed'>rejected: {esc(x['error'])}</p>")
    if x["summary"]:
        out.append(f"<p class='meta'>what the explainer saw</p><pre>{esc(x['summary'])}</pre>")
    if x["result"] is not None:
        out.append(f"<details><summary>result</summary><pre>{esc(_short(x['result'], 6000))}</pre></details>")
    out.append("</div>")
    return "".join(out)


def _investigation(db, site: Site, run: dict, experiments: list[dict]) -> str:
    hypotheses = store.get_hypotheses(db, run["id"])
    by_id = {h["id"]: h for h in hypotheses}
    rows = []
    for h in hypotheses:
        cited = [x for x in experiments if x["hypothesis_id"] == h["id"]]
        links = ", ".join(f"<a href='#exp-{x['id']}'>step {x['step']}</a>" for x in cited) or "–"
        verdict = h["verdict"] or h["status"]
        rows.append([f"<span id='hyp-{h['id']}'>{h['round']}.{h['idx']}</span>", esc(h["text"]), esc(h["prediction"]),
                     f"<span class='verdict-{esc(verdict)}'>{esc(verdict)}</span>", (esc(num(h["precision"])), "num"),
                     (esc(num(h["recall"])), "num"), (esc(num(h["causal_agreement"])), "num"), links])
    parts = ["<h2>Hypotheses</h2>" + (table(["#", "hypothesis", "would be refuted by", "verdict", "precision",
                                             "recall", "causal agreement", "experiments"], rows) if rows else
                                      "<p class='meta'>none recorded</p>")]
    parts.append("<h2>Experiments, in order</h2>" + ("".join(_experiment(site, x, by_id) for x in experiments)
                                                     or "<p class='meta'>none recorded</p>"))
    return "".join(parts)


def _ask(site: Site, run: dict, experiments: list[dict]) -> str:
    answer = run["answer"] or {}
    parts = [f"<h2>Question</h2><p class='question'>{esc(run['question'])}</p>",
             f"<p class='meta'>kind: {esc(answer.get('kind') or 'not routed')} · confidence: "
             f"{esc(answer.get('confidence', '–'))}</p>"]
    plan = ", ".join(f"<a href='#exp-{x['id']}'>{esc(x['tool'])}</a>" for x in experiments)
    parts.append("<h2>Plan (the experiments run, in order)</h2>" + (f"<p>{plan}</p>" if plan else
                 "<p class='meta'>no experiments were run</p>")
                 + "<p class='meta'>the planner's reply itself is not stored; its experiments are</p>")
    claims = answer.get("claims") or []
    items = []
    for c in claims:
        cites = ", ".join(f"<a href='#exp-{int(i)}'>experiment {int(i)}</a>" for i in c.get("experiments") or [])
        inv = (f" · <a href='{esc(site.href('agent', int(c['investigation'])))}'>investigation {int(c['investigation'])}</a>"
               if c.get("investigation") is not None else "")
        items.append(f"<li>{esc(c.get('text'))} <span class='meta'>evidence: {cites or 'none'}{inv}</span></li>")
    parts.append("<h2>Answer</h2>" + (f"<ul class='claims'>{''.join(items)}</ul>" if items else
                                      "<p class='meta'>no claims</p>"))
    if answer.get("untested"):
        parts.append("<p class='meta'>not tested: " + esc("; ".join(answer["untested"])) + "</p>")
    parts.append("<h2>Evidence: the experiments</h2>" + "".join(_experiment(site, x, {}) for x in experiments))
    return "".join(parts)


def render_agent(db, site: Site, agent_run_id: int) -> str | None:
    run = store.get_agent_run(db, agent_run_id)
    if run is None:
        return None
    experiments = store.get_experiments(db, agent_run_id)
    meta = [f"<a href='{esc(site.href('run', run['run_id']))}'>run {run['run_id']}</a>", f"status {esc(run['status'])}",
            f"explainer {esc(run['explainer_model'])}", f"started {esc(run['started_at'])}"]
    if run["feature_id"] is not None:
        meta.insert(0, f"feature <a href='{esc(site.href('feature', run['feature_id']))}'>{esc(run['feature'])}</a>")
    if run["explanation_id"] is not None:
        meta.append(f"final <a href='{esc(site.href('explanation', run['explanation_id']))}'>explanation "
                    f"{run['explanation_id']}</a>")
    body = [f"<p class='meta'>{' · '.join(meta)}</p>"]
    if run["error"]:
        body.append(f"<p class='failed'>{esc(run['error'])}</p>")
    body.append(f"<p class='meta'>budgets {esc(json.dumps(run['budgets'], sort_keys=True))} · usage "
                f"{esc(json.dumps(run['usage'], sort_keys=True))}</p>")
    body.append(_ask(site, run, experiments) if run["kind"] == "ask" else _investigation(db, site, run, experiments))
    title = f"Question {agent_run_id}" if run["kind"] == "ask" else f"Investigation {agent_run_id} of {run['feature']}"
    return page(site, title, "".join(body))


def render_agents(db, site: Site, page_number: int = 1) -> str:
    total = store.count_agent_runs(db)
    runs = store.agent_run_list(db, limit=AGENTS_PAGE, offset=(page_number - 1) * AGENTS_PAGE)
    rows = []
    for a in runs:
        subject = (f"<a href='{esc(site.href('feature', a['feature_id']))}'>{esc(a['feature'])}</a>"
                   if a["feature_id"] is not None else esc(a["question"]))
        rows.append([f"<a href='{esc(site.href('agent', a['id']))}'>{a['id']}</a>", esc(a["kind"]), subject,
                     esc(a["status"]), (esc(a["n_hypotheses"]), "num"), (esc(a["n_experiments"]), "num"),
                     esc(a["started_at"])])
    pages = max(1, -(-total // AGENTS_PAGE))
    pager = " ".join(f"<a href='{esc(site.href('agents', page=n))}'>{n}</a>" if n != page_number else f"<b>{n}</b>"
                     for n in range(1, pages + 1) if abs(n - page_number) <= 5 or n in (1, pages))
    body = (f"<p class='pager'>{total:,} agent runs · {pager}</p>"
            + (table(["id", "kind", "feature or question", "status", "hypotheses", "experiments", "started"], rows)
               if rows else "<p class='meta'>no investigations or questions stored</p>"))
    return page(site, "Investigations and questions", body)
