"""What ``bench`` prints and draws: per method the mean of every metric with a 95%
bootstrap CI over features, scorer validity per scorer and scorer model, the paired
difference between two runs, and PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from mechanic import store
from mechanic.evals.metrics import bootstrap_ci
from mechanic.tools import MechanicError

__all__ = ["SCORE_COLUMNS", "TRUTH_COLUMNS", "COST_COLUMNS", "bench_summary", "compare_runs", "format_bench",
           "format_compare", "write_plots"]

SCORE_COLUMNS = ("sim", "sim_top", "detect", "detect_ba", "fuzz", "fuzz_ba", "topic", "causal")
TRUTH_COLUMNS = ("truth_llm", "truth_embedding", "truth_cos", "mode_recall_llm", "mode_recall_embedding")
COST_COLUMNS = ("cost_calls", "cost_tokens", "cost_seconds")
ORDER = {"tokens": 0, "search": 1, "oneshot": 2, "bestofk": 3, "agent": 4, "tiered": 5, "random": 6, "shuffled": 7, "truth": 8,
         "decoy_1": 9, "decoy_2": 10}
CHANCE = {"truth_llm": 1 / 3, "truth_embedding": 1 / 3, "mode_recall_llm": 1 / 3, "mode_recall_embedding": 1 / 3,
          "validity": 0.5}


def _by(values: Sequence[dict], *keys: str) -> dict:
    out: dict = {}
    for v in values:
        out.setdefault(tuple(v[k] for k in keys), []).append(v)
    return out


def bench_summary(values: Sequence[dict], *, run_id: int | None = None, seed: int = 0) -> dict:
    """``{suite: {"methods": {method: {metric: ci}}, "failures": {method: n},
    "validity": {column: {scorer_model: ci}}, "n_features": n}}`` from bench values."""
    out: dict = {}
    for (suite,), rows in _by(values, "suite").items():
        methods: dict = {}
        failures: dict = {}
        validity: dict = {}
        for (method, metric), group in sorted(_by(rows, "method", "metric").items(),
                                              key=lambda kv: (ORDER.get(kv[0][0], 5), kv[0])):
            vals = [g["value"] for g in group]
            if metric == "failed":
                failures[method] = len(group)
            elif method == "validity":
                for (model,), sub in _by([{**g, "model": g["details"].get("scorer_model", "")} for g in group],
                                         "model").items():
                    validity.setdefault(metric, {})[model] = bootstrap_ci([g["value"] for g in sub], seed=seed)
            else:
                methods.setdefault(method, {})[metric] = bootstrap_ci(vals, seed=seed)
        out[suite] = {"run_id": run_id, "methods": methods, "failures": failures, "validity": validity,
                      "n_features": len({r["name"] for r in rows})}
    return out


def _cell(ci: dict | None, digits: int = 2) -> str:
    if not ci or ci["mean"] is None:
        return "-"
    return f"{ci['mean']:.{digits}f} [{ci['lo']:.{digits}f},{ci['hi']:.{digits}f}]"


def _validity_row(info: dict, cols: list[str], widths: list[int], elsewhere: dict | None) -> list[str]:
    """The held-out table's validity row: this run's figure per column (the lowest over
    scorer models), else the one measured before (``elsewhere``: {column: cell})."""
    cells, borrowed = [], False
    for c in cols:
        per_model = info["validity"].get(c, {})
        cis = [ci for ci in per_model.values() if ci.get("mean") is not None]
        if cis:
            cells.append(_cell(min(cis, key=lambda ci: ci["mean"])))
        elif elsewhere and c in elsewhere:
            cells.append(elsewhere[c])
            borrowed = True
        else:
            cells.append("unvalidated")
    note = "  (figures not measured in this run: from the store or shipped, see below)" if borrowed else ""
    return [f"  {'validity':<9} " + " ".join(f"{cell:>{w}}" for cell, w in zip(cells, widths)) + note]


def format_bench(summary: dict, elsewhere: dict | None = None, elsewhere_lines: Sequence[str] = ()) -> str:
    """Plain-text tables, one block per suite. Under the held-out scores, each column's
    scorer validity: this run's where it measured it, else ``elsewhere`` ({column:
    cell}, explained by ``elsewhere_lines``)."""
    lines = []
    for suite, info in summary.items():
        methods = info["methods"]
        present = {m for per in methods.values() for m in per}
        lines.append(f"suite {suite}: {info['n_features']} features"
                     + (f" (run {info['run_id']})" if info.get("run_id") is not None else ""))
        truth_title = "ground truth (3-way choice, chance 0.33; cosine to the truth; poly: share of modes recalled)"
        for title, cols in (("held-out scores", SCORE_COLUMNS), (truth_title, TRUTH_COLUMNS),
                            ("explainer cost per feature", COST_COLUMNS)):
            cols = [c for c in cols if c in present]
            if not cols:
                continue
            digits = 1 if title.startswith("explainer cost") else 2
            widths = [max(19, len(c)) for c in cols]
            head = f"  {'method':<9} " + " ".join(f"{c:>{w}}" for c, w in zip(cols, widths))
            lines += ["", f"  {title}", head, "  " + "-" * (len(head) - 2)]
            for method, per in methods.items():
                if not any(c in per for c in cols):
                    continue
                fail = f"  ({info['failures'][method]} failed)" if info["failures"].get(method) else ""
                lines.append(f"  {method:<9} " + " ".join(f"{_cell(per.get(c), digits):>{w}}"
                                                          for c, w in zip(cols, widths)) + fail)
            if cols and cols[0] in SCORE_COLUMNS:
                lines += _validity_row(info, cols, widths, elsewhere)
        if info["validity"]:
            lines += ["", "  scorer validity: share of decoys the true description outscores (chance 0.50)"]
            for col, per_model in info["validity"].items():
                for model, ci in per_model.items():
                    lines.append(f"  {col:<9} {model:<40} {_cell(ci):>19}  n={ci['n']}")
        if elsewhere_lines and not info["validity"]:
            lines += ["", *(f"  {line}" for line in elsewhere_lines)]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- compare


def _paired_ci(diffs: list[float], seed: int) -> dict:
    return bootstrap_ci(diffs, seed=seed)


def compare_runs(db, run_a: int, run_b: int, *, seed: int = 0) -> list[dict]:
    """Per (suite, method, metric): the mean of B − A over the features both runs
    measured (paired), with a 95% bootstrap CI. Rows sorted by suite, method, metric."""
    runs = {}
    for rid in (run_a, run_b):
        run = store.get_run(db, rid)
        if run is None or run["command"] != "bench":
            raise MechanicError(f"run {rid} is not a bench run in this database")
        runs[rid] = {(v["suite"], v["method"], v["metric"], v["name"]): v["value"]
                     for v in store.get_bench_values(db, rid)}
    a, b = runs[run_a], runs[run_b]
    keys = _by([{"suite": s, "method": m, "metric": k, "name": n} for (s, m, k, n) in a.keys() & b.keys()],
               "suite", "method", "metric")
    rows = []
    for (suite, method, metric), group in keys.items():
        if metric == "failed":
            continue
        pairs = [(a[(suite, method, metric, g["name"])], b[(suite, method, metric, g["name"])]) for g in group]
        diffs = [vb - va for va, vb in pairs if va is not None and vb is not None]
        ci = _paired_ci(diffs, seed)
        rows.append({"suite": suite, "method": method, "metric": metric, "n": ci["n"],
                     "a": float(np.mean([va for va, vb in pairs if va is not None and vb is not None]))
                     if diffs else None,
                     "b": float(np.mean([vb for va, vb in pairs if va is not None and vb is not None]))
                     if diffs else None,
                     "diff": ci["mean"], "lo": ci["lo"], "hi": ci["hi"]})
    rows.sort(key=lambda r: (r["suite"], ORDER.get(r["method"], 5), r["method"], r["metric"]))
    return rows


def format_compare(rows: list[dict], run_a: int, run_b: int) -> str:
    if not rows:
        return f"runs {run_a} and {run_b} share no measured feature\n"
    head = f"{'suite':<8} {'method':<9} {'metric':<16} {'A':>7} {'B':>7} {'B-A [95% CI]':>24} {'n':>4}"
    lines = [f"run B = {run_b} minus run A = {run_a}, paired over features", head, "-" * len(head)]
    for r in rows:
        if r["diff"] is None:
            diff, a, b = "-", "-", "-"
        else:
            diff = f"{r['diff']:+.3f} [{r['lo']:+.3f},{r['hi']:+.3f}]"
            a, b = f"{r['a']:.3f}", f"{r['b']:.3f}"
        mark = " *" if r["diff"] is not None and (r["lo"] > 0 or r["hi"] < 0) else ""
        lines.append(f"{r['suite']:<8} {r['method']:<9} {r['metric']:<16} {a:>7} {b:>7} {diff:>24} {r['n']:>4}{mark}")
    lines.append("* the 95% interval excludes 0")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ plots


def write_plots(values: Sequence[dict], directory: str | Path, run_id: int) -> list[Path]:
    """Two PNGs per suite: the distribution of each headline metric per method, and
    each method's mean score against its mean explainer cost. Returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for (suite,), rows in _by(values, "suite").items():
        data = _by([r for r in rows if r["value"] is not None and r["method"] != "validity"], "metric", "method")
        metrics = [m for m in (*SCORE_COLUMNS, *TRUTH_COLUMNS) if any(k[0] == m for k in data)]
        methods = sorted({k[1] for k in data if k[0] in metrics}, key=lambda m: (ORDER.get(m, 5), m))
        if metrics:
            fig, axes = plt.subplots(len(metrics), 1, figsize=(max(6, 1.1 * len(methods) + 2), 2.4 * len(metrics)),
                                     squeeze=False)
            for ax, metric in zip(axes[:, 0], metrics):
                series = [[r["value"] for r in data.get((metric, m), [])] for m in methods]
                shown = [(m, s) for m, s in zip(methods, series) if s]
                if shown:
                    ax.boxplot([s for _, s in shown], showmeans=True)
                    ax.set_xticks(range(1, len(shown) + 1), [m for m, _ in shown], fontsize=8)
                    for j, (_, s) in enumerate(shown, 1):  # the features themselves, jittered
                        xs = j + np.random.default_rng(j).uniform(-0.15, 0.15, len(s))
                        ax.scatter(xs, s, s=6, alpha=0.5)
                if metric in CHANCE:
                    ax.axhline(CHANCE[metric], linestyle=":", linewidth=1)
                ax.set_ylabel(metric)
            axes[0, 0].set_title(f"bench run {run_id}: {suite} — score per feature by method")
            fig.tight_layout()
            path = directory / f"bench-{run_id}-{suite}-scores.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
        cost = {k[1]: [r["value"] for r in v] for k, v in data.items() if k[0] == "cost_seconds"}
        score_metric = next((m for m in ("sim", "truth_llm", "detect", "fuzz", "topic") if any(
            k == (m, method) for k in data for method in cost)), None)
        if cost and score_metric:
            fig, ax = plt.subplots(figsize=(6, 4))
            for method, secs in sorted(cost.items(), key=lambda kv: ORDER.get(kv[0], 5)):
                scores = [r["value"] for r in data.get((score_metric, method), [])]
                if not scores:
                    continue
                ci = bootstrap_ci(scores)
                x = float(np.mean(secs))
                ax.errorbar([x], [ci["mean"]], yerr=[[ci["mean"] - ci["lo"]], [ci["hi"] - ci["mean"]]], fmt="o",
                            capsize=3, label=method)
                ax.annotate(method, (x, ci["mean"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
            for floor, style in (("random", ":"), ("shuffled", "--")):  # the floors cost nothing: lines
                scores = [r["value"] for r in data.get((score_metric, floor), [])]
                if scores:
                    ax.axhline(float(np.mean(scores)), linestyle=style, linewidth=1, color="grey",
                               label=f"{floor} floor")
            ax.legend(fontsize=7, loc="best")
            ax.set_xlabel("explainer seconds per feature")
            ax.set_ylabel(f"{score_metric} (mean, 95% CI)")
            ax.set_title(f"bench run {run_id}: {suite} — score vs cost")
            fig.tight_layout()
            path = directory / f"bench-{run_id}-{suite}-cost.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
    return paths
