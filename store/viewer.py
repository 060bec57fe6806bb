"""What the viewer reads: a read-only connection, the index's pages of
``feature_summary`` (migration 5), and the rows a page links to."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import sqlite_utils

from ._common import chunks, from_json
from .features import STAT_COLUMNS
from .migrations import SUMMARY_COLUMNS

__all__ = [
    "SORTS",
    "agent_run_list",
    "count_agent_runs",
    "feature_by_id",
    "open_readonly",
    "run_products",
    "summary_choices",
    "summary_page",
    "summary_rows",
    "summary_search_rows",
    "store_version",
]

# Sort keys of the index: the feature order, or a headline score column.
SORTS = ("feature", *(c for c, *_ in SUMMARY_COLUMNS), "floor_sim", "n_explanations")
_SUMMARY_SELECT = (
    "SELECT s.*, f.feature, m.name AS model, f.max, f.frac_active FROM feature_summary s "
    "JOIN features f ON f.id = s.feature_id JOIN models m ON m.id = s.model_id"
)


def open_readonly(path: str | Path) -> sqlite_utils.Database:
    """The store at ``path`` opened read-only (``mode=ro``): safe beside a writer, and
    any attempt to write fails. FileNotFoundError when there is no such file."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no database at {path}")
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA query_only = 1")
    return sqlite_utils.Database(conn)


def store_version(db: sqlite_utils.Database) -> tuple[int, int, int]:
    """Largest feature, explanation and score ids: changes whenever a writer adds rows
    (a rescore replaces a score row with a new id), so caches key on it."""
    return tuple(db.execute(  # type: ignore[return-value]
        "SELECT (SELECT coalesce(max(id), 0) FROM features), (SELECT coalesce(max(id), 0) FROM explanations), "
        "(SELECT coalesce(max(id), 0) FROM scores)").fetchone())


def summary_choices(db: sqlite_utils.Database) -> dict:
    """What the index can filter on: models (id, name, features), methods and (kind, layer) pairs per model id."""
    models = [dict(r) for r in db.query(
        "SELECT m.id, m.name, (SELECT count(*) FROM feature_summary s WHERE s.model_id = m.id AND s.method = '') "
        "AS features FROM models m ORDER BY m.id")]
    methods: dict[int, list[str]] = {}
    layers: dict[int, list[tuple[str, int | None]]] = {}
    for m in models:
        methods[m["id"]] = [r[0] for r in db.execute(
            "SELECT DISTINCT method FROM feature_summary WHERE model_id = ? AND method != '' ORDER BY method",
            [m["id"]])]
        layers[m["id"]] = [(r[0], r[1]) for r in db.execute(
            "SELECT DISTINCT kind, layer FROM features WHERE model_id = ? ORDER BY kind, layer", [m["id"]])]
    return {"models": models, "methods": methods, "layers": layers}


def _where(model_id: int, method: str, kind: str | None, layer: int | None, status: str | None,
           text: str | None) -> tuple[str, list]:
    where, params = ["s.model_id = ?"], [model_id]
    if text is not None:  # a keyword search looks at each method's explanation
        where.append("s.method != ''" if not method else "s.method = ?")
        params += [method] if method else []
        where.append("s.text LIKE ? ESCAPE '\\'")
        params.append("%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    else:
        where.append("s.method = ?")
        params.append(method)
    for column, value in (("s.kind", kind), ("s.layer", layer), ("s.status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(where), params


def summary_page(db: sqlite_utils.Database, *, model_id: int, method: str = "", kind: str | None = None,
                 layer: int | None = None, status: str | None = None, text: str | None = None, sort: str = "feature",
                 descending: bool = False, at_least: float | None = None, limit: int = 50,
                 offset: int = 0) -> tuple[list[dict], int]:
    """One page of the index and the number of rows in all pages.

    Rows are ``feature_summary`` rows (method ``''``: each feature's best explanation
    over all methods; a method: that method's best) with the feature's id string,
    model name, max and frac_active. ``text`` keeps rows whose explanation contains it
    (case-insensitive, any method unless ``method`` is given). Sorting by a score puts
    features without it last. ``at_least`` keeps rows whose sort column is at least that
    (not with the feature order).
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")
    where, params = _where(model_id, method, kind, layer, status, text)
    if at_least is not None and sort != "feature":
        where += f" AND s.{sort} >= ?"
        params.append(float(at_least))
    total = int(db.execute(f"SELECT count(*) FROM feature_summary s WHERE {where}", params).fetchone()[0])
    if sort == "feature":
        direction = "DESC" if descending else "ASC"
        order = f"s.kind {direction}, s.layer {direction}, s.idx {direction}, s.rowid {direction}"
        return _page(db, where, params, order, limit, offset), total
    if descending:  # NULL sorts lowest, so rows without the score come last
        return _page(db, where, params, f"s.{sort} DESC, s.rowid DESC", limit, offset), total
    # Ascending with rows lacking the score last, in two index range scans (an expression
    # such as "x IS NULL" in ORDER BY would sort every row instead).
    scored = int(db.execute(f"SELECT count(*) FROM feature_summary s WHERE {where} AND s.{sort} IS NOT NULL",
                            params).fetchone()[0])
    rows = _page(db, f"{where} AND s.{sort} IS NOT NULL", params, f"s.{sort} ASC, s.rowid", limit, offset)
    if len(rows) < limit:
        rows += _page(db, f"{where} AND s.{sort} IS NULL", params, "s.rowid", limit - len(rows),
                      max(0, offset - scored))
    return rows, total


def _page(db: sqlite_utils.Database, where: str, params: list, order: str, limit: int, offset: int) -> list[dict]:
    # The page's rowids first, from the sort column's index alone (skipping OFFSET index entries
    # is cheap; skipping joined rows is not), then the page's rows with their joins.
    inner = f"SELECT s.rowid FROM feature_summary s WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    return [dict(r) for r in db.query(f"{_SUMMARY_SELECT} WHERE s.rowid IN ({inner}) ORDER BY {order}",
                                      [*params, int(limit), int(offset)])]


def summary_search_rows(db: sqlite_utils.Database, model_id: int) -> list[dict]:
    """Every method's explanation row of the model's features (not the ``''`` rows):
    ``feature_id, method, kind, layer, status, explanation_id, text`` — what semantic search ranks."""
    return [dict(r) for r in db.query(
        "SELECT feature_id, method, kind, layer, status, explanation_id, text FROM feature_summary "
        "WHERE model_id = ? AND method != '' AND text IS NOT NULL", [model_id])]


def summary_rows(db: sqlite_utils.Database, keys: Sequence[tuple[int, str]]) -> list[dict]:
    """The index rows for these ``(feature_id, method)`` keys, in the order given (missing ones left out)."""
    found: dict[tuple[int, str], dict] = {}
    for part in chunks(list(keys), 200):
        marks = " OR ".join("(s.feature_id = ? AND s.method = ?)" for _ in part)
        for r in db.query(f"{_SUMMARY_SELECT} WHERE {marks}", [v for k in part for v in k]):
            found[(r["feature_id"], r["method"])] = dict(r)
    return [found[k] for k in keys if k in found]


def feature_by_id(db: sqlite_utils.Database, feature_id: int) -> dict | None:
    """The feature row with ``id``, with ``model`` and ``corpus`` names, ``stats`` and
    ``quantiles`` decoded (as ``get_feature``), or None."""
    rows = list(db.query(
        "SELECT f.*, m.name AS model, c.name AS corpus FROM features f JOIN models m ON m.id = f.model_id "
        "JOIN corpora c ON c.id = f.corpus_id WHERE f.id = ?", [feature_id]))
    if not rows:
        return None
    row = rows[0]
    row["quantiles"] = from_json(row["quantiles"]) or {}
    extra = from_json(row.pop("extra_stats")) or {}
    row["stats"] = {**{c: row[c] for c in STAT_COLUMNS}, **extra}
    return row


def run_products(db: sqlite_utils.Database, run_id: int) -> dict[str, int]:
    """How many rows of each kind a run made."""
    out = {}
    for table in ("features", "explanations", "scores", "agent_runs", "bench_values"):
        out[table] = db.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id]).fetchone()[0]
    return out


def count_agent_runs(db: sqlite_utils.Database, kind: str | None = None) -> int:
    """The number of agent runs (of one kind if given)."""
    return db.execute("SELECT count(*) FROM agent_runs WHERE ? IS NULL OR kind = ?", [kind, kind]).fetchone()[0]


def agent_run_list(db: sqlite_utils.Database, *, kind: str | None = None, limit: int = 50,
                   offset: int = 0) -> list[dict]:
    """A page of agent runs, newest first, with the count of hypotheses and experiments."""
    return [dict(r) for r in db.query(
        "SELECT a.id, a.run_id, a.kind, a.feature_id, a.feature, a.question, a.status, a.explanation_id, "
        "a.started_at, (SELECT count(*) FROM hypotheses h WHERE h.agent_run_id = a.id) AS n_hypotheses, "
        "(SELECT count(*) FROM experiments x WHERE x.agent_run_id = a.id) AS n_experiments "
        "FROM agent_runs a WHERE ? IS NULL OR a.kind = ? ORDER BY a.id DESC LIMIT ? OFFSET ?",
        [kind, kind, int(limit), int(offset)])]
