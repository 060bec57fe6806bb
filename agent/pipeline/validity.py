"""Which score columns to believe: the measured validity of each scorer column.

Validity is the share of decoys whose score the true description beats, for suite
features whose answer is known (``mechanic bench``; chance 0.5). For a column and
the scorer model that filled it, the figure per suite comes from the newest finished
bench run in the store that measured it, else from the figures shipped with the
package (:mod:`mechanic.evals.validity`), and says which. With neither, the column
is *unvalidated*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from mechanic import store
from mechanic.evals.metrics import bootstrap_ci
from mechanic.evals.validity import SHIPPED_VALIDITY, shipped_validity

__all__ = ["TRUST", "ColumnValidity", "column_validity", "format_validity", "validity_marks"]

TRUST = 0.70  # below this a column is flagged, and its scorer left out of the default set

# Figures stored before bench recorded what it read: their columns meant the same then,
# except detect and fuzz (balanced accuracy at a fixed cut then, AUROC now).
_FORMER = {"sim": "sim", "sim_top": "sim_top", "embed": "topic", "causal": "causal"}


@dataclass
class ColumnValidity:
    """One column's validity for one scorer model: a CI per suite and where each came from."""

    column: str
    scorer_model: str
    figures: dict[str, dict] = field(default_factory=dict)  # suite -> bootstrap CI
    sources: dict[str, str] = field(default_factory=dict)  # suite -> "bench run N" | "shipped"

    @property
    def lowest(self) -> float | None:
        """The lowest mean over the suites (the figure to trust the column by)."""
        means = [ci["mean"] for ci in self.figures.values() if ci.get("mean") is not None]
        return min(means) if means else None

    def to_dict(self) -> dict:
        return {"column": self.column, "scorer_model": self.scorer_model, "figures": self.figures,
                "sources": self.sources, "lowest": self.lowest}


def _stored(db, primary: Sequence[tuple[str, str, str, str]],
            seed: int) -> dict[tuple[str, str], dict[str, tuple[dict, int]]]:
    """{(column, model): {suite: (ci, run_id)}} from the newest run per suite that has
    it; a stored figure counts only if it measured what the column reads now."""
    measures: dict[str, set[str]] = {}
    for col, scorer, split, metric in primary:
        measures.setdefault(col, set()).add(f"{scorer}:{split}:{metric}")
    groups: dict[tuple[str, str, str], tuple[int, list]] = {}
    for v in store.get_validity_values(db):
        measure = v["details"].get("measure")
        if measure is None:
            col = _FORMER.get(v["metric"])
        else:
            col = v["metric"] if measure in measures.get(v["metric"], ()) else None
        if col is None:
            continue
        key = (col, v["details"].get("scorer_model") or "", v["suite"])
        run_id, vals = groups.get(key, (v["run_id"], []))
        if v["run_id"] == run_id:  # rows come newest run first: keep that run's only
            vals.append(v["value"])
            groups[key] = (run_id, vals)
    out: dict = {}
    for (col, model, suite), (run_id, vals) in groups.items():
        out.setdefault((col, model), {})[suite] = (bootstrap_ci(vals, seed=seed), run_id)
    return out


def column_validity(db, scorer_models: dict[str, list[str]], primary: Sequence[tuple[str, str, str, str]], *,
                    seed: int = 0, shipped: dict | None = None) -> dict[str, list[ColumnValidity]]:
    """Per column of ``scorer_models`` ({column: [scorer model, ...]}), the validity of
    each of its scorer models (see the module doc); ``primary``: what each column reads,
    as ``(column, scorer, split, metric)``. ``db`` may be None (shipped figures only)."""
    stored = _stored(db, primary, seed) if db is not None else {}
    figures = (shipped if shipped is not None else shipped_validity()).get("figures", {})
    out: dict[str, list[ColumnValidity]] = {}
    for col, models in scorer_models.items():
        for model in models:
            cv = ColumnValidity(col, model)
            for suite, (ci, run_id) in sorted(stored.get((col, model), {}).items()):
                cv.figures[suite], cv.sources[suite] = ci, f"bench run {run_id}"
            for suite, per_col in sorted(figures.items()):
                ci = per_col.get(col, {}).get(model)
                if suite not in cv.figures and ci and ci.get("mean") is not None:
                    cv.figures[suite], cv.sources[suite] = ci, "shipped"
            out.setdefault(col, []).append(cv)
    return out


def validity_marks(validity: dict[str, list[ColumnValidity]], columns: list[str]) -> dict[str, str]:
    """A short cell per column: the lowest validity over suites and models, with ``!``
    below :data:`TRUST`; ``unval.`` where no figure exists."""
    marks = {}
    for col in columns:
        lows = [cv.lowest for cv in validity.get(col, [])]
        if not lows or any(low is None for low in lows):
            marks[col] = "unval."
        else:
            low = min(lows)
            marks[col] = f"{low:.2f}" + ("!" if low < TRUST else "")
    return marks


def format_validity(validity: dict[str, list[ColumnValidity]]) -> list[str]:
    """Lines saying, per column and scorer model, its validity per suite and where each
    figure came from."""
    lines = [f"validity per column: share of decoys the true description outscores (chance 0.50; "
             f"below {TRUST:.2f} marked !, don't rely on that column)"]
    shipped_used = False
    for col, per_model in validity.items():
        for cv in per_model:
            if not cv.figures:
                lines.append(f"  {col:<9} {cv.scorer_model}: unvalidated (no bench figure for this scorer model)")
                continue
            parts = []
            for suite, ci in cv.figures.items():
                source = cv.sources[suite]
                shipped_used |= source == "shipped"
                interval = f" [{ci['lo']:.2f}, {ci['hi']:.2f}]" if ci.get("lo") is not None else ""
                parts.append(f"{suite} {ci['mean']:.2f}{interval} ({source})")
            flag = " !" if cv.lowest is not None and cv.lowest < TRUST else ""
            lines.append(f"  {col:<9} {cv.scorer_model}: " + "; ".join(parts) + flag)
    if shipped_used:
        lines.append(f"  (shipped: figures in {SHIPPED_VALIDITY.name} shipped with mechanic; a `mechanic bench` "
                     "run in this database replaces them)")
    return lines
