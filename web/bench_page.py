"""Bench runs: the list, one run's tables (mean and 95% CI per method and metric, scorer
validity per scorer model) with bar charts, the per-feature values behind a cell, and
the paired comparison of two runs."""

from __future__ import annotations

from mechanic import store

from .html import Site, bars_svg, esc, num, page, table
from .services import Services

__all__ = ["render_bench_list", "render_bench", "render_compare", "bench_runs", "static_pairs"]

CHANCE = {"truth_llm": 1 / 3, "truth_embedding": 1 / 3, "mode_recall_llm": 1 / 3, "mode_recall_embedding": 1 / 3}
CHARTED = ("sim", "detect", "fuzz", "topic", "truth_llm", "truth_embedding", "truth_cos")


def bench_runs(db) -> list[dict]:
    runs = store.find_runs(db, command="bench")
    return [r for r in runs if store.run_products(db, r["id"])["bench_values"]]


def _suite_of(run: dict) -> str:
    return str((run["config"] or {}).get("suite", "?"))


def render_bench_list(db, site: Site) -> str:
    runs = bench_runs(db)
    rows = [[f"<a href='{esc(site.href('bench', r['id']))}'>{r['id']}</a>", esc(_suite_of(r)),
             esc(",".join((r["config"] or {}).get("methods", []) or [])), esc(r["status"]), esc(r["started_at"])]
            for r in runs]
    body = table(["run", "suite", "methods", "status", "started"], rows) if rows else \
        "<p class='meta'>no bench runs stored (run <code>mechanic bench</code>)</p>"
    if len(runs) >= 2 and not site.static:
        options = "".join(f"<option value='{r['id']}'>{r['id']} ({esc(_suite_of(r))})</option>" for r in runs)
        body += (f"<h2>Compare two runs</h2><form method='get' action='{esc(site.href('compare'))}'>"
                 f"A <select name='a'>{options}</select> B <select name='b'>{options}</select> "
                 "<button type='submit'>compare</button></form>")
    elif site.static:
        pairs = static_pairs(runs)
        if pairs:
            body += "<h2>Comparisons</h2><ul>" + "".join(
                f"<li><a href='{esc(site.href('compare', a=a, b=b))}'>run {b} minus run {a}</a></li>"
                for a, b in pairs) + "</ul>"
    return page(site, "Bench runs", body)


def static_pairs(runs: list[dict]) -> list[tuple[int, int]]:
    """Each bench run against the previous run of the same suite (what a static report can pre-render)."""
    last: dict[str, int] = {}
    pairs = []
    for r in sorted(runs, key=lambda r: r["id"]):
        suite = _suite_of(r)
        if suite in last:
            pairs.append((last[suite], r["id"]))
        last[suite] = r["id"]
    return pairs


def _cell(site: Site, run_id: int, suite: str, method: str, metric: str, ci: dict | None) -> tuple[str, str]:
    if not ci or ci.get("mean") is None:
        return "–", "num"
    href = site.href("bench", run_id, suite=suite, method=method, metric=metric, anchor="values")
    return (f"<a href='{esc(href)}'>{ci['mean']:.3f}</a> <span class='meta'>[{num(ci.get('lo'))}, "
            f"{num(ci.get('hi'))}] n={esc(ci.get('n'))}</span>", "num")


def _values(db, site: Site, run_id: int, suite: str, method: str, metric: str) -> str:
    items = {(i["suite"], i["name"]): i for i in store.get_bench_items(db, run_id)}
    rows = []
    for v in store.get_bench_values(db, run_id):
        if (v["suite"], v["method"], v["metric"]) != (suite, method, metric):
            continue
        item = items.get((v["suite"], v["name"]))
        name = (f"<a href='{esc(site.href('feature', item['feature_id']))}'>{esc(v['name'])}</a>" if item
                else esc(v["name"]))
        rows.append([name, (esc(num(v["value"])), "num"), esc(item["description"] if item else ""),
                     esc(str(v["details"])[:300] if v["details"] else "")])
    return (f"<h2 id='values'>Values: {esc(suite)} · {esc(method)} · {esc(metric)}</h2>"
            + (table(["feature", "value", "ground truth", "details"], rows) if rows else "<p>none</p>"))


def render_bench(db, site: Site, services: Services, run_id: int, params: dict | None = None) -> str | None:
    run = store.get_run(db, run_id)
    if run is None or run["command"] != "bench":
        return None
    values = store.get_bench_values(db, run_id)
    body = [f"<p class='meta'><a href='{esc(site.href('run', run_id))}'>run {run_id}</a> · suite "
            f"{esc(_suite_of(run))} · {esc(run['status'])} · {len(values):,} values</p>"]
    if services.bench_summary is None:
        body.append("<p class='failed'>bench summaries are not available to this viewer</p>")
        return page(site, f"Bench run {run_id}", "".join(body))
    summary = services.bench_summary(values)
    for suite, info in summary.items():
        methods = info["methods"]
        metrics = sorted({m for per in methods.values() for m in per})
        rows = [[esc(method)] + [_cell(site, run_id, suite, method, metric, per.get(metric)) for metric in metrics]
                + [(esc(info["failures"].get(method, 0)), "num")] for method, per in methods.items()]
        body.append(f"<h2>Suite {esc(suite)}: {info['n_features']} features</h2>"
                    + table(["method", *metrics, "failed"], rows))
        charts = []
        for metric in CHARTED:
            bars = [(m, per[metric]["mean"], per[metric].get("lo"), per[metric].get("hi"))
                    for m, per in methods.items() if metric in per]
            chart = bars_svg(bars, chance=CHANCE.get(metric), title=metric)
            if chart:
                charts.append(chart)
        if charts:
            body.append("<div class='charts' style='display:flex;flex-wrap:wrap;gap:1em'>" + "".join(charts) + "</div>"
                        "<p class='meta'>bars: mean per method; whiskers: 95% bootstrap interval over features; dashed:"
                        " chance</p>")
        if info["validity"]:
            vrows = [[esc(col), esc(model), _cell(site, run_id, suite, "validity", col, ci)]
                     for col, per_model in info["validity"].items() for model, ci in per_model.items()]
            body.append("<h3>Scorer validity: share of decoys the true description outscores (chance 0.50)</h3>"
                        + table(["scorer", "scorer model", "validity"], vrows))
        else:
            body.append("<p class='meta'>no scorer validity stored for this run (bench --no-validity)</p>")
    params = params or {}
    if params.get("suite") and params.get("method") and params.get("metric"):
        body.append(_values(db, site, run_id, params["suite"], params["method"], params["metric"]))
    return page(site, f"Bench run {run_id}", "".join(body))


def render_compare(db, site: Site, services: Services, run_a: int, run_b: int) -> str | None:
    for rid in (run_a, run_b):
        run = store.get_run(db, rid)
        if run is None or run["command"] != "bench":
            return None
    if services.compare_runs is None:
        return page(site, "Compare", "<p class='failed'>run comparison is not available to this viewer</p>")
    rows = services.compare_runs(db, run_a, run_b)
    cells = []
    for r in rows:
        significant = r["diff"] is not None and (r["lo"] > 0 or r["hi"] < 0)
        diff = "–" if r["diff"] is None else f"{r['diff']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}]"
        where = {"suite": r["suite"], "method": r["method"], "metric": r["metric"], "anchor": "values"}
        cell_a = f"<a href='{esc(site.href('bench', run_a, **where))}'>{esc(num(r['a']))}</a>"
        cell_b = f"<a href='{esc(site.href('bench', run_b, **where))}'>{esc(num(r['b']))}</a>"
        cells.append([esc(r["suite"]), esc(r["method"]), esc(r["metric"]), (cell_a, "num"), (cell_b, "num"),
                      (esc(diff) + (" *" if significant else ""), "num"), (esc(r["n"]), "num")])
    body = (f"<p class='meta'>run B = <a href='{esc(site.href('bench', run_b))}'>{run_b}</a> minus run A = "
            f"<a href='{esc(site.href('bench', run_a))}'>{run_a}</a>, paired over the features both measured; "
            "* the 95% interval excludes 0</p>"
            + (table(["suite", "method", "metric", "A", "B", "B − A [95% CI]", "n"], cells) if cells else
               "<p>the two runs share no measured feature</p>"))
    return page(site, f"Bench run {run_b} vs {run_a}", body)
