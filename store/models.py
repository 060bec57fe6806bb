"""Subject models, one row per model name."""

from __future__ import annotations

import sqlite_utils

from ._common import now

__all__ = ["get_model", "upsert_model"]


def upsert_model(
    db: sqlite_utils.Database,
    name: str,
    *,
    family: str | None,
    n_layers: int | None,
    d_model: int | None,
    d_mlp: int | None,
    n_heads: int | None,
    vocab_size: int | None,
) -> int:
    """Insert the model or update its shape; return its id (stable across updates)."""
    values = [family, n_layers, d_model, d_mlp, n_heads, vocab_size]
    values = [v if v is None or isinstance(v, str) else int(v) for v in values]
    db.execute(
        """
        INSERT INTO models (name, family, n_layers, d_model, d_mlp, n_heads, vocab_size, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET
            family = excluded.family, n_layers = excluded.n_layers, d_model = excluded.d_model,
            d_mlp = excluded.d_mlp, n_heads = excluded.n_heads, vocab_size = excluded.vocab_size
        """,
        [name, *values, now()],
    )
    return int(db.execute("SELECT id FROM models WHERE name = ?", [name]).fetchone()[0])


def get_model(db: sqlite_utils.Database, name: str) -> dict | None:
    """The model's row, or None."""
    rows = list(db.query("SELECT * FROM models WHERE name = ?", [name]))
    return rows[0] if rows else None
