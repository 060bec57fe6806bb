"""Exemplars: the windows kept for a feature (top, bottom, per decile, random, …)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sqlite_utils

from .blobs import decode_activations, decode_tokens, encode_activations_many
from .corpora import SPLITS

__all__ = ["EXEMPLAR_KINDS", "Exemplar", "ExemplarRow", "get_exemplars"]

# Also the order get_exemplars returns them in.
EXEMPLAR_KINDS = ("top", "bottom", "decile", "random", "hard_negative")


@dataclass(frozen=True, eq=False)
class ExemplarRow:
    """An exemplar to write: window ``window_idx`` of the feature's corpus."""

    kind: str  # top | bottom | decile | random | hard_negative
    decile: int | None  # 0-9 for kind "decile", else None
    rank: int
    window_idx: int
    split: str  # train | select | test
    max_act: float
    activations: np.ndarray  # [T] float, one per token of the window


@dataclass(frozen=True, eq=False)
class Exemplar:
    """An exemplar as read back, with its window's tokens."""

    kind: str
    decile: int | None
    rank: int
    split: str
    max_act: float
    window_idx: int
    doc: str
    start: int
    tokens: np.ndarray  # [T] int32
    activations: np.ndarray  # [T] float32 (stored as float16)


def _check(e: ExemplarRow) -> None:
    if e.kind not in EXEMPLAR_KINDS:
        raise ValueError(f"exemplar kind must be one of {EXEMPLAR_KINDS}, got {e.kind!r}")
    if e.split not in SPLITS:
        raise ValueError(f"exemplar split must be one of {SPLITS}, got {e.split!r}")
    if e.kind == "decile" and e.decile is None:
        raise ValueError("a 'decile' exemplar needs its decile (0-9)")
    if e.decile is not None and not 0 <= int(e.decile) <= 9:
        raise ValueError(f"decile must be in 0-9, got {e.decile}")


def exemplar_values(feature_id: int, corpus_id: int, exemplars: Sequence[ExemplarRow]) -> list[tuple]:
    """The ``exemplars`` rows for ``exemplars``, validated (column order as in INSERT_EXEMPLAR)."""
    for e in exemplars:
        _check(e)
    blobs = encode_activations_many([e.activations for e in exemplars])
    return [
        (
            feature_id, e.kind, None if e.decile is None else int(e.decile), int(e.rank), corpus_id,
            int(e.window_idx), e.split, float(e.max_act), blob,
        )
        for e, blob in zip(exemplars, blobs)
    ]  # fmt: skip


INSERT_EXEMPLAR = (
    "INSERT INTO exemplars (feature_id, kind, decile, rank, corpus_id, window_idx, split, max_act, activations)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_KIND_ORDER = "CASE e.kind " + " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(EXEMPLAR_KINDS)) + " END"


def get_exemplars(
    db: sqlite_utils.Database, feature_row_id: int, kind: str | None = None, split: str | None = None
) -> list[Exemplar]:
    """The exemplars of feature row ``feature_row_id`` with their windows' tokens.

    Ordered by kind (top, bottom, decile, random, hard_negative), then decile, then rank.
    """
    if kind is not None and kind not in EXEMPLAR_KINDS:
        raise ValueError(f"kind must be one of {EXEMPLAR_KINDS}, got {kind!r}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    sql = f"""
        SELECT e.kind, e.decile, e.rank, e.split, e.max_act, e.window_idx, w.doc, w.start, w.tokens, e.activations
        FROM exemplars e JOIN windows w ON w.corpus_id = e.corpus_id AND w.idx = e.window_idx
        WHERE e.feature_id = ? AND (? IS NULL OR e.kind = ?) AND (? IS NULL OR e.split = ?)
        ORDER BY {_KIND_ORDER}, e.decile, e.rank, e.id
    """
    cursor = db.execute(sql, [feature_row_id, kind, kind, split, split])
    return [
        Exemplar(k, dec, rank, sp, max_act, widx, doc, start, decode_tokens(tokens), decode_activations(acts))
        for k, dec, rank, sp, max_act, widx, doc, start, tokens, acts in cursor
    ]
