"""Named directions in a model's residual stream (probe weights, steering vectors, …)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlite_utils

from ._common import now
from .blobs import decode_vector, encode_vector

__all__ = ["load_directions", "save_direction"]


def save_direction(
    db: sqlite_utils.Database,
    model_id: int,
    name: str,
    vector: np.ndarray | Sequence[float],
    *,
    layer: int | None = None,
    source: str = "",
    run_id: int | None = None,
) -> int:
    """Store ``vector`` (as float32) under ``name`` for this model; return its row id.

    Saving a name again overwrites that direction in place (same id).
    """
    blob = encode_vector(vector)
    # In a transaction of its own: sqlite-utils commits a write by itself only when it
    # returns no rows, and this one RETURNs its id.
    with db.atomic():
        row_id = db.execute(
            """
            INSERT INTO directions (model_id, name, layer, dim, vector, source, run_id, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (model_id, name) DO UPDATE SET
                layer = excluded.layer, dim = excluded.dim, vector = excluded.vector,
                source = excluded.source, run_id = excluded.run_id, created_at = excluded.created_at
            RETURNING id
            """,
            [model_id, name, None if layer is None else int(layer), len(blob) // 4, blob, source, run_id, now()],
        ).fetchone()[0]
    return int(row_id)


def load_directions(db: sqlite_utils.Database, model_id: int) -> dict[str, np.ndarray]:
    """Every direction saved for this model, by name, as float32 arrays."""
    cursor = db.execute("SELECT name, vector FROM directions WHERE model_id = ? ORDER BY name", [model_id])
    return {name: decode_vector(blob) for name, blob in cursor}
