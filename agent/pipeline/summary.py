"""What ``label`` prints: a row per (feature, method) with each score beside the
floors, per method the mean with a 95% bootstrap CI, and per column the validity
measured for its scorer (:mod:`.validity`): which columns to believe."""

from __future__ import annotations

from dataclasses import dataclass, field

from mechanic import store
from mechanic.evals.metrics import bootstrap_ci

from .validity import ColumnValidity, column_validity, format_validity, validity_marks

__all__ = ["PRIMARY", "LabelTable", "label_table", "format_table"]

# The headline number of each scorer: (column, scorer, split, metric). Detection and
# fuzzing lead with the AUROC of their scores (no threshold); their balanced accuracy,
# at a cut fitted per explanation on the select split, stands beside it. The topic
# scorer's rows from before its rename are stored as `embedding`.
PRIMARY = (
    ("sim", "simulation", "all", "pearson"),
    ("sim_top", "simulation", "top", "pearson"),
    ("detect", "detection", "test", "auroc"),
    ("detect_ba", "detection", "test", "balanced_accuracy"),
    ("fuzz", "fuzzing", "test", "auroc"),
    ("fuzz_ba", "fuzzing", "test", "balanced_accuracy"),
    ("topic", "topic", "test", "auroc"),
    ("topic", "embedding", "test", "auroc"),
    ("causal", "intervention", "prompts", "auroc"),
)
ORDER = {"tokens": 0, "search": 1, "oneshot": 2, "bestofk": 3, "agent": 4, "tiered": 5, "random": 8, "shuffled": 9}


@dataclass
class LabelTable:
    rows: list[dict] = field(default_factory=list)  # feature, method, role, text, status, error, scores{col: v}
    methods: dict[str, dict] = field(default_factory=dict)  # method -> {col: ci dict} + failures, usage
    columns: list[str] = field(default_factory=list)
    scorer_models: dict[str, list[str]] = field(default_factory=dict)  # column -> models that scored it
    validity: dict[str, list[ColumnValidity]] = field(default_factory=dict)  # column -> per scorer model
    # the headline column's paired differences: method -> reference -> CI of (method − reference) over the
    # features both scored; references are `tokens` and the two floors
    paired: dict[str, dict[str, dict]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "methods": self.methods, "columns": self.columns,
                "scorer_models": self.scorer_models, "paired": self.paired,
                "validity": {c: [v.to_dict() for v in per] for c, per in self.validity.items()}}


REFERENCES = ("tokens", "random", "shuffled")  # what every method is paired against


def _paired(rows: list[dict], col: str, seed: int) -> dict[str, dict[str, dict]]:
    """Per method, per reference in REFERENCES: the mean and 95% bootstrap CI of the
    per-feature difference (method − reference) in ``col``. Paired over features, it is
    far tighter than comparing the two methods' own intervals: features differ much more
    from each other than methods do on one feature."""
    value = {(r["feature"], r["method"]): r["scores"].get(col) for r in rows
             if r["role"] == "explanation" or r["method"] in ("random", "shuffled")}
    methods = list(dict.fromkeys(m for _, m in value))
    out: dict[str, dict[str, dict]] = {}
    for method in (m for m in methods if m not in ("random", "shuffled")):
        for ref in (r for r in REFERENCES if r != method and r in methods):
            diffs = [v - value[(f, ref)] for (f, m), v in value.items()
                     if m == method and v is not None and value.get((f, ref)) is not None]
            if diffs:
                out.setdefault(method, {})[ref] = bootstrap_ci(diffs, seed=seed)
    return out


def label_table(db, features: list[str], model_name: str, config_hash: str, corpus_id: int | None = None,
                seed: int = 0) -> LabelTable:
    table = LabelTable()
    present: set[str] = set()
    per_method: dict[str, dict[str, list]] = {}
    usage: dict[str, dict] = {}
    failures: dict[str, int] = {}
    models: dict[str, set[str]] = {}
    for name in features:
        row = store.get_feature(db, model_name, name, corpus_id=corpus_id)
        if row is None:
            continue
        for e in store.get_explanations(db, feature_id=row["id"], config_hash=config_hash):
            if e["role"] == "candidate":
                continue
            scores = {}
            errors = []
            for s in store.get_scores(db, e["id"]):
                for col, scorer, split, metric in PRIMARY:
                    if (s["scorer"], s["split"], s["metric"]) == (scorer, split, metric):
                        scores[col] = s["value"]
                        present.add(col)
                        models.setdefault(col, set()).add(s["scorer_model"] or "?")
                if s["error"]:
                    errors.append(f"{s['scorer']}: {s['error']}")
            method = e["method"]
            table.rows.append({"feature": name, "method": method, "role": e["role"], "text": e["text"],
                               "status": e["status"], "error": e["error"], "scores": scores,
                               "score_errors": errors})
            bucket = per_method.setdefault(method, {})
            for col, value in scores.items():
                bucket.setdefault(col, []).append(value)
            if e["status"] != "ok":
                failures[method] = failures.get(method, 0) + 1
            u = usage.setdefault(method, {"llm_calls": 0, "tokens": 0, "seconds": 0.0, "n": 0})
            u["llm_calls"] += e["llm_calls"]
            u["tokens"] += e["prompt_tokens"] + e["completion_tokens"]
            u["seconds"] += e["seconds"]
            u["n"] += 1
    table.columns = list(dict.fromkeys(c for c, *_ in PRIMARY if c in present))
    table.scorer_models = {c: sorted(models[c]) for c in table.columns}
    table.validity = column_validity(db, table.scorer_models, PRIMARY, seed=seed)
    for method in sorted(per_method.keys() | failures.keys() | usage.keys(), key=lambda m: (ORDER.get(m, 5), m)):
        stats = {col: bootstrap_ci(per_method.get(method, {}).get(col, []), seed=seed) for col in table.columns}
        table.methods[method] = {"scores": stats, "failures": failures.get(method, 0), "usage": usage.get(method, {})}
    table.rows.sort(key=lambda r: (features.index(r["feature"]), ORDER.get(r["method"], 5)))
    if table.columns:
        table.paired = _paired(table.rows, table.columns[0], seed)
    return table


def _fmt(value) -> str:
    return "   -  " if value is None else f"{value:+.3f}" if value < 0 else f" {value:.3f}"


def format_table(table: LabelTable, width: int = 44) -> str:
    """Plain-text table and summary."""
    cols = table.columns
    lines = []
    head = f"{'feature':<12} {'method':<9} {'explanation':<{width}} " + " ".join(f"{c:>9}" for c in cols)
    marks = validity_marks(table.validity, cols)
    lines += [head, f"{'validity':<12} {'':<9} {'(lowest over suites; see below)':<{width}} "
              + " ".join(f"{marks[c]:>9}" for c in cols), "-" * len(head)]
    for r in table.rows:
        text = r["text"] if r["status"] == "ok" else f"FAILED: {r['error'] or ''}"
        text = (text or "").replace("\n", " ")
        text = text if len(text) <= width else text[: width - 1] + "…"
        lines.append(f"{r['feature']:<12} {r['method']:<9} {text:<{width}} "
                     + " ".join(f"{_fmt(r['scores'].get(c)):>9}" for c in cols))
    lines.append("")
    lines.append("mean [95% CI] per method (random and shuffled are the floors)")
    for method, info in table.methods.items():
        parts = []
        for c in cols:
            ci = info["scores"][c]
            if ci["mean"] is None:
                parts.append(f"{c} -")
            else:
                undefined = f" ({ci['n_undefined']} undef.)" if ci["n_undefined"] else ""
                parts.append(f"{c} {ci['mean']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}]{undefined}")
        u = info["usage"]
        n = max(u.get("n", 1), 1)
        cost = (f"{u['llm_calls'] / n:.1f} calls, {u['tokens'] / n:,.0f} tokens, {u['seconds'] / n:.1f}s per feature"
                if u.get("llm_calls") else "")
        fail = f", {info['failures']} failed" if info["failures"] else ""
        lines.append(f"  {method:<9} " + "; ".join(parts) + (f"  ({cost}{fail})" if cost or fail else ""))
    if table.paired:
        lines.append(f"paired over features, {cols[0]} (method − reference, mean [95% CI]; above 0 = better):")
        for method, refs in table.paired.items():
            lines.append(f"  {method:<9} " + "; ".join(
                f"− {ref} {ci['mean']:+.3f} [{ci['lo']:+.3f}, {ci['hi']:+.3f}]" for ref, ci in refs.items()))
    by_model: dict[str, list[str]] = {}
    for c in cols:
        by_model.setdefault(", ".join(table.scorer_models.get(c, [])) or "?", []).append(c)
    if by_model:
        lines.append("scored by: " + "; ".join(f"{', '.join(c)} with {m}" for m, c in by_model.items()))
    if table.validity:
        lines += format_validity(table.validity)
    return "\n".join(lines)
