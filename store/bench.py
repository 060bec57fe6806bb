"""Benchmark runs: which suite features a ``bench`` run measured (with their ground
truth) and the per-feature values it reported, so two runs can be compared later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlite_utils

from ._common import from_json, now, plain_number, to_json

__all__ = ["get_bench_items", "get_bench_values", "get_validity_values", "write_bench_items", "write_bench_values"]


def write_bench_items(db: sqlite_utils.Database, run_id: int, items: Sequence[Mapping[str, Any]]) -> None:
    """Record the suite features of a bench run. Each item: suite, feature_id, name and
    optionally family, description, decoys (list), details (mapping)."""
    rows = [{
        "run_id": run_id, "suite": it["suite"], "feature_id": it["feature_id"], "name": it["name"],
        "family": it.get("family"), "description": it.get("description"),
        "decoys": to_json(list(it.get("decoys") or [])),
        "details": to_json(dict(it["details"])) if it.get("details") else None, "created_at": now(),
    } for it in items]
    if rows:
        db["bench_items"].insert_all(rows, replace=True, alter=False)


def write_bench_values(db: sqlite_utils.Database, run_id: int, values: Sequence[Mapping[str, Any]]) -> None:
    """Record per-feature values of a bench run. Each value: suite, name, method, metric,
    value (None when undefined or failed) and optionally details. A rewrite replaces."""
    rows = [{
        "run_id": run_id, "suite": v["suite"], "name": v["name"], "method": v["method"], "metric": v["metric"],
        "value": plain_number(v.get("value")),
        "details": to_json(dict(v["details"])) if v.get("details") else None,
    } for v in values]
    if rows:
        db["bench_values"].insert_all(rows, replace=True, alter=False)


def get_bench_items(db: sqlite_utils.Database, run_id: int) -> list[dict]:
    """The suite features of a bench run, decoys and details decoded."""
    out = []
    for r in db.query("SELECT * FROM bench_items WHERE run_id = ? ORDER BY suite, id", [run_id]):
        r = dict(r)
        r["decoys"] = from_json(r["decoys"]) or []
        r["details"] = from_json(r["details"]) or {}
        out.append(r)
    return out


def get_bench_values(db: sqlite_utils.Database, run_id: int) -> list[dict]:
    """Every value a bench run recorded, details decoded."""
    out = []
    for r in db.query("SELECT * FROM bench_values WHERE run_id = ? ORDER BY suite, name, method, metric", [run_id]):
        r = dict(r)
        r["details"] = from_json(r["details"]) or {}
        out.append(r)
    return out


def get_validity_values(db: sqlite_utils.Database) -> list[dict]:
    """Every per-feature scorer validity value (``method = 'validity'``) of the bench
    runs that finished, newest run first; ``details`` decoded (it names the scorer model)."""
    if "bench_values" not in db.table_names():
        return []
    sql = ("SELECT v.* FROM bench_values v JOIN runs r ON r.id = v.run_id "
           "WHERE v.method = 'validity' AND r.status = 'done' ORDER BY v.run_id DESC, v.suite, v.metric, v.name")
    out = []
    for r in db.query(sql):
        r = dict(r)
        r["details"] = from_json(r["details"]) or {}
        out.append(r)
    return out
