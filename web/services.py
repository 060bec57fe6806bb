"""What the viewer needs beyond the store, passed in by its caller (the command line),
so that ``web`` imports nothing but ``store``: token decoding, sentence embeddings for
semantic search, a simulator for the overlay, output-side tokens and the bench
summaries. Each is optional; a page says what it cannot show without one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from mechanic import store

__all__ = ["Services", "SemanticIndex"]

# (model name, token ids) -> one string per token
Decode = Callable[[str, Sequence[int]], list[str]]
# texts -> unit-norm embeddings [n, d]
Embed = Callable[[list[str]], np.ndarray]
# (explanation, windows of token strings) -> (simulated level per token per window, simulator name)
Simulate = Callable[[str, list[list[str]]], tuple[list[np.ndarray], str]]
# (model name, feature id) -> {"promoted": [(token, logit)], "suppressed": [...], "reason": str | None}
OutputTokens = Callable[[str, str], dict]


@dataclass
class Services:
    decode: Decode | None = None
    embed: Embed | None = None
    simulate: Simulate | None = None
    output_tokens: OutputTokens | None = None
    bench_summary: Callable[[list[dict]], dict] | None = None  # bench values -> per-suite summary
    compare_runs: Callable[[object, int, int], list[dict]] | None = None  # (db, run A, run B) -> paired rows
    simulator_name: str = ""  # what ``simulate`` is, for the page to say

    def tokens(self, model: str, ids: Sequence[int]) -> list[str]:
        """Token strings, or ``#id`` for each token when no decoder is available."""
        if self.decode is not None:
            try:
                return self.decode(model, ids)
            except Exception:  # noqa: BLE001 - a model that cannot load still leaves the ids readable
                pass
        return [f"#{int(i)} " for i in ids]


class SemanticIndex:
    """Each method's stored explanation of each feature, embedded once, ranked by cosine
    to a query. Rebuilt when the store changes (new explanations or scores); a text
    embedded before is never embedded again."""

    def __init__(self, embed: Embed):
        self.embed = embed
        self._lock = threading.Lock()
        self._vectors: dict[str, np.ndarray] = {}
        self._built: dict[int, tuple[tuple, list[dict], np.ndarray]] = {}  # model id -> (version, rows, matrix)

    def _rows(self, db, model_id: int) -> tuple[list[dict], np.ndarray]:
        version = store.store_version(db)
        cached = self._built.get(model_id)
        if cached and cached[0] == version:
            return cached[1], cached[2]
        rows = store.summary_search_rows(db, model_id)
        missing = list(dict.fromkeys(r["text"] for r in rows if r["text"] not in self._vectors))
        if missing:
            for start in range(0, len(missing), 256):
                part = missing[start:start + 256]
                for text, vector in zip(part, self.embed(part)):
                    self._vectors[text] = np.asarray(vector, dtype=np.float32)
        matrix = (np.stack([self._vectors[r["text"]] for r in rows]) if rows
                  else np.zeros((0, 1), dtype=np.float32))
        self._built[model_id] = (version, rows, matrix)
        return rows, matrix

    def search(self, db, model_id: int, query: str, *, method: str = "", kind: str | None = None,
               layer: int | None = None, status: str | None = None) -> list[tuple[tuple[int, str], float]]:
        """``[((feature_id, method), cosine)]`` best first, over rows passing the filters."""
        with self._lock:
            rows, matrix = self._rows(db, model_id)
            if not rows:
                return []
            q = np.asarray(self.embed([query])[0], dtype=np.float32)
        sims = matrix @ q
        keep = np.array([(not method or r["method"] == method) and (kind is None or r["kind"] == kind)
                         and (layer is None or r["layer"] == layer) and (status is None or r["status"] == status)
                         for r in rows], dtype=bool)
        order = [int(i) for i in np.argsort(-sims, kind="stable") if keep[i]]
        return [((rows[i]["feature_id"], rows[i]["method"]), float(sims[i])) for i in order]
