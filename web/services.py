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
        self._built: dict[int, tuple[tuple, dict]] = {}  # model id -> (store version, arrays)

    def _rows(self, db, model_id: int) -> dict:
        version = store.store_version(db)
        cached = self._built.get(model_id)
        if cached and cached[0] == version:
            return cached[1]
        rows = store.summary_search_rows(db, model_id)
        missing = list(dict.fromkeys(r["text"] for r in rows if r["text"] not in self._vectors))
        for start in range(0, len(missing), 256):
            part = missing[start:start + 256]
            for text, vector in zip(part, self.embed(part)):
                self._vectors[text] = np.asarray(vector, dtype=np.float32)
        # Distinct texts once, each row pointing at its text: many features share a wording.
        texts = list(dict.fromkeys(r["text"] for r in rows))
        position = {t: i for i, t in enumerate(texts)}
        built = {
            "keys": [(r["feature_id"], r["method"]) for r in rows],
            "text_of": np.array([position[r["text"]] for r in rows], dtype=np.int64),
            "matrix": np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, 1), np.float32),
            "method": np.array([r["method"] for r in rows], dtype=object),
            "kind": np.array([r["kind"] for r in rows], dtype=object),
            "layer": np.array([-1 if r["layer"] is None else r["layer"] for r in rows], dtype=np.int64),
            "status": np.array([r["status"] for r in rows], dtype=object),
        }
        self._built[model_id] = (version, built)
        return built

    def search(self, db, model_id: int, query: str, *, method: str = "", kind: str | None = None,
               layer: int | None = None, status: str | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[tuple[tuple[int, str], float]], int]:
        """One page of ``[((feature_id, method), cosine)]``, best first, over the rows
        passing the filters, and how many rows pass them."""
        with self._lock:
            built = self._rows(db, model_id)
            if not built["keys"]:
                return [], 0
            q = np.asarray(self.embed([query])[0], dtype=np.float32)
        sims = (built["matrix"] @ q)[built["text_of"]]
        keep = np.ones(len(sims), dtype=bool)
        for name, value in (("method", method or None), ("kind", kind), ("layer", layer), ("status", status)):
            if value is not None:
                keep &= built[name] == value
        candidates = np.flatnonzero(keep)
        scores = sims[candidates]
        top = np.lexsort((candidates, -scores))[offset:offset + limit]  # ties (shared wordings) by row order
        keys = built["keys"]
        return [(keys[int(candidates[i])], float(scores[i])) for i in top], int(len(candidates))
