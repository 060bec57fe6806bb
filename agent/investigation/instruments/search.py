"""Tools that find other features: stored explanations close in meaning to a query,
and the MLP neurons of a layer that fire most on a text."""

from __future__ import annotations

import numpy as np
from mechanic import store
from mechanic.evals.embedding import Embedder
from mechanic.tools import collect_token_activations

from ..toolschema import ToolError
from .base import Observation, ToolBase, tool

__all__ = ["SearchTools"]


class SearchTools(ToolBase):
    """Search over the store's explanations and over a layer's neurons."""

    @tool
    def search_explanations(self, query: str, n: int = 5) -> Observation:
        """Find stored features whose explanations mean something close to the query.

        Args:
            query: what the features should be about, e.g. "month names".
            n: how many, 1-6.
        """
        if self.db is None:
            raise ToolError("no database is open, so nothing is stored to search")
        if not query.strip():
            raise ToolError("query is empty")
        self._count(n)
        rows = store.searchable_explanations(self.db, self.subject.name)
        if not rows:
            return Observation({"query": query, "matches": []}, "no stored explanations to search")
        vectors = self._embedder_instance().encode([query] + [r["text"] for r in rows])
        sims = vectors[1:] @ vectors[0]
        order = np.argsort(-sims)
        best, seen = [], set()
        for i in order:
            r = rows[int(i)]
            if r["feature"] in seen:
                continue
            seen.add(r["feature"])
            best.append({"feature": r["feature"], "explanation": r["text"], "similarity": round(float(sims[i]), 4),
                         "explanation_id": r["id"]})
            if len(best) == n:
                break
        lines = [f"- {m['feature']} ({m['similarity']:.2f}): {m['explanation']}" for m in best]
        return Observation({"query": query, "matches": best}, "closest stored explanations:\n" + "\n".join(lines))

    @tool
    def search_by_activation(self, text: str, layer: int, n: int = 5) -> Observation:
        """Find the MLP neurons of a layer that fire most on a text.

        Args:
            text: a short text.
            layer: the layer to search.
            n: how many neurons, 1-6.
        """
        self._layer(layer)
        if not text.strip():
            raise ToolError("text is empty")
        self._count(n)
        acts, _ = collect_token_activations(self.subject, [text], [layer], site="mlp")
        peak = acts[layer].max(axis=0)
        order = np.argsort(-peak)[:n]
        found = [{"feature": f"mlp:{layer}:{int(i)}", "max": round(float(peak[i]), 4)} for i in order]
        if self.db is not None:
            for item in found:
                item["explanation"] = store.latest_explanation_text(self.db, self.subject.name, item["feature"])
        lines = [f"- {f['feature']} max {f['max']:.3g}" + (f": {f['explanation']}" if f.get("explanation") else "")
                 for f in found]
        return Observation({"text": text, "layer": layer, "neurons": found},
                           f"neurons of layer {layer} firing most on the text:\n" + "\n".join(lines))

    def _embedder_instance(self):
        """The sentence embedder, built on first use (the factory given, else the default)."""
        if self._embedder is None:
            self._embedder = self._embedder_factory() if self._embedder_factory is not None else Embedder()
        return self._embedder
