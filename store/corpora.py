"""Corpora and their token windows.

A corpus row is identified by its spec: the same spec (source, n_tokens, window,
seed, …) always maps to the same row, so captures over it share windows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlite_utils

from ._common import chunks, from_json, hash_json, now, to_json
from .blobs import decode_tokens, encode_tokens

__all__ = ["SPLITS", "WindowRow", "get_corpus", "get_windows", "upsert_corpus", "window_indices", "write_windows"]

SPLITS = ("train", "select", "test")


@dataclass(frozen=True, eq=False)
class WindowRow:
    """One window of a corpus: ``tokens`` from document ``doc`` starting at ``start``."""

    idx: int
    doc: str
    start: int
    split: str  # train | select | test
    tokens: np.ndarray  # [T] int


def upsert_corpus(
    db: sqlite_utils.Database, name: str, spec: Mapping[str, Any], *, run_id: int | None = None
) -> int:
    """The id of the corpus with this ``spec``, inserting it (named ``name``) if new.

    An existing corpus keeps its first name and run.
    """
    spec_json = to_json(spec)
    digest = hash_json(spec)
    db.execute(
        "INSERT INTO corpora (name, spec, config_hash, run_id, created_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (config_hash) DO NOTHING",
        [name, spec_json, digest, run_id, now()],
    )
    return int(db.execute("SELECT id FROM corpora WHERE config_hash = ?", [digest]).fetchone()[0])


def get_corpus(db: sqlite_utils.Database, corpus_id: int) -> dict | None:
    """The corpus row with ``spec`` decoded, or None."""
    rows = list(db.query("SELECT * FROM corpora WHERE id = ?", [corpus_id]))
    if not rows:
        return None
    rows[0]["spec"] = from_json(rows[0]["spec"])
    return rows[0]


def _window_values(corpus_id: int, w: WindowRow) -> tuple:
    if w.split not in SPLITS:
        raise ValueError(f"window {w.idx}: split must be one of {SPLITS}, got {w.split!r}")
    blob = encode_tokens(w.tokens)
    return (corpus_id, int(w.idx), str(w.doc), int(w.start), w.split, len(blob) // 4, blob)


def write_windows(db: sqlite_utils.Database, corpus_id: int, windows: Iterable[WindowRow]) -> None:
    """Insert or update windows of a corpus, then refresh its n_windows / n_tokens.

    Idempotent: rewriting a window updates it in place (exemplars that point at it
    stay valid). All in one transaction.
    """
    rows = [_window_values(corpus_id, w) for w in windows]
    with db.atomic():
        db.conn.executemany(
            """
            INSERT INTO windows (corpus_id, idx, doc, start, split, n_tokens, tokens)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (corpus_id, idx) DO UPDATE SET
                doc = excluded.doc, start = excluded.start, split = excluded.split,
                n_tokens = excluded.n_tokens, tokens = excluded.tokens
            """,
            rows,
        )
        db.execute(
            """
            UPDATE corpora SET
                n_windows = (SELECT count(*) FROM windows WHERE corpus_id = :id),
                n_tokens = (SELECT coalesce(sum(n_tokens), 0) FROM windows WHERE corpus_id = :id)
            WHERE id = :id
            """,
            {"id": corpus_id},
        )


def window_indices(db: sqlite_utils.Database, corpus_id: int, split: str) -> list[int]:
    """Indices of the corpus sample's windows in ``split``, ascending."""
    return [r[0] for r in db.execute("SELECT idx FROM windows WHERE corpus_id = ? AND split = ? ORDER BY idx",
                                     [corpus_id, split])]


def get_windows(db: sqlite_utils.Database, corpus_id: int, idxs: Sequence[int]) -> dict[int, WindowRow]:
    """The windows with these indices, keyed by index; indices not stored are left out."""
    out: dict[int, WindowRow] = {}
    for part in chunks(sorted({int(i) for i in idxs})):
        marks = ",".join("?" * len(part))
        cursor = db.execute(
            f"SELECT idx, doc, start, split, tokens FROM windows WHERE corpus_id = ? AND idx IN ({marks})",
            [corpus_id, *part],
        )
        for idx, doc, start, split, tokens in cursor:
            out[idx] = WindowRow(idx, doc, start, split, decode_tokens(tokens))
    return out
