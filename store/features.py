"""Features: per-feature statistics over a corpus, written together with their exemplars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlite_utils

from ._common import from_json, now, plain_number, to_json
from .exemplars import INSERT_EXEMPLAR, ExemplarRow, exemplar_values

__all__ = ["STAT_COLUMNS", "captured_features", "get_feature", "list_features", "write_feature"]

# Statistics with their own column; any other key of ``stats`` goes to extra_stats (JSON).
STAT_COLUMNS = ("count", "mean", "var", "max", "min", "frac_active")


def write_feature(
    db: sqlite_utils.Database,
    *,
    model_id: int,
    corpus_id: int,
    run_id: int,
    feature: str,
    kind: str,
    layer: int | None,
    idx: int | None,
    name: str | None,
    stats: Mapping[str, Any],
    quantiles: Mapping[Any, Any],
    exemplars: Sequence[ExemplarRow],
) -> int:
    """Store one feature's statistics and exemplars; return its row id.

    One transaction: an existing row for (model_id, corpus_id, feature) is updated in
    place (its id is kept, so rows that refer to it stay valid) and its exemplars are
    replaced, so a rerun never leaves duplicates and a crash never leaves half a
    feature. Every exemplar's window must already be in ``windows``.
    """
    stat_values = [plain_number(stats.get(c)) for c in STAT_COLUMNS]
    extra = {k: v for k, v in stats.items() if k not in STAT_COLUMNS}
    quantiles_json = to_json({str(q): plain_number(v) for q, v in quantiles.items()})
    columns = ", ".join(STAT_COLUMNS)
    updates = ", ".join(
        f"{c} = excluded.{c}"
        for c in ("run_id", "kind", "layer", "idx", "name", *STAT_COLUMNS, "quantiles", "extra_stats", "created_at")
    )
    with db.atomic():
        row_id = db.execute(
            f"""
            INSERT INTO features (model_id, corpus_id, run_id, feature, kind, layer, idx, name,
                                  {columns}, quantiles, extra_stats, created_at)
            VALUES ({", ".join("?" * (11 + len(STAT_COLUMNS)))})
            ON CONFLICT (model_id, corpus_id, feature) DO UPDATE SET {updates}
            RETURNING id
            """,
            [
                model_id, corpus_id, run_id, feature, kind,
                None if layer is None else int(layer), None if idx is None else int(idx), name,
                *stat_values, quantiles_json, to_json(extra) if extra else None, now(),
            ],
        ).fetchone()[0]  # fmt: skip
        db.execute("DELETE FROM exemplars WHERE feature_id = ?", [row_id])
        db.conn.executemany(INSERT_EXEMPLAR, exemplar_values(row_id, corpus_id, exemplars))
    return int(row_id)


def captured_features(db: sqlite_utils.Database, model_id: int, corpus_id: int) -> set[str]:
    """Feature ids already stored for this model and corpus (to resume a capture)."""
    cursor = db.execute("SELECT feature FROM features WHERE model_id = ? AND corpus_id = ?", [model_id, corpus_id])
    return {row[0] for row in cursor}


_SELECT = """
    SELECT f.*, m.name AS model, c.name AS corpus
    FROM features f JOIN models m ON m.id = f.model_id JOIN corpora c ON c.id = f.corpus_id
"""


def _decode(row: dict) -> dict:
    row["quantiles"] = from_json(row["quantiles"]) or {}
    extra = from_json(row.pop("extra_stats")) or {}
    row["stats"] = {**{c: row[c] for c in STAT_COLUMNS}, **extra}
    return row


def get_feature(
    db: sqlite_utils.Database, model_name: str, feature: str, corpus_id: int | None = None
) -> dict | None:
    """The feature's row, or None; the newest one if it was captured over several corpora.

    The dict has every ``features`` column plus ``model`` and ``corpus`` (names),
    ``stats`` (count, mean, var, max, min, frac_active and any extra statistics) and
    ``quantiles`` decoded to a dict such as ``{"0.5": 0.1, "0.9": 1.3}``.
    """
    sql = _SELECT + " WHERE m.name = ? AND f.feature = ? AND (? IS NULL OR f.corpus_id = ?)"
    sql += " ORDER BY f.created_at DESC, f.id DESC LIMIT 1"
    rows = list(db.query(sql, [model_name, feature, corpus_id, corpus_id]))
    return _decode(rows[0]) if rows else None


def list_features(db: sqlite_utils.Database, model_name: str | None = None) -> list[dict]:
    """Every stored feature (of one model if given), decoded like ``get_feature``.

    Ordered by model, kind, layer, index, so mlp:3:9 comes before mlp:3:10.
    """
    sql = _SELECT + " WHERE (? IS NULL OR m.name = ?)"
    sql += " ORDER BY m.name, f.kind, f.layer, f.idx, f.feature, f.corpus_id"
    return [_decode(row) for row in db.query(sql, [model_name, model_name])]
