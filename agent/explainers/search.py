"""The ``search`` method: the best description the grammar can compose, chosen by the
simulator on ``select`` (:mod:`mechanic.agent.search`). No LLM."""

from __future__ import annotations

from typing import Sequence

from mechanic.agent.evidence import Evidence
from mechanic.agent.search import SearchConfig, search_descriptions
from mechanic.evals.embedding import Embedder
from mechanic.evals.records import Record

from .base import ExplainResult

__all__ = ["SearchExplainer", "train_records"]


def train_records(evidence: Evidence) -> list[Record]:
    """The evidence's windows, top first, each once."""
    seen, out = set(), []
    for r in evidence.top + evidence.deciles:
        key = (r.window, tuple(r.tokens)) if r.window < 0 else r.window
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


class SearchExplainer:
    method = "search"

    def __init__(self, simulator, select: Sequence[Record], embedder: Embedder,
                 config: SearchConfig = SearchConfig(), memo: dict | None = None):
        self.simulator = simulator
        self.select = list(select)
        self.embedder = embedder
        self.config = config
        self.memo = memo  # feature -> result, shared by the explainers of one run

    def explain(self, evidence: Evidence) -> ExplainResult:
        if self.memo is None:
            return self._search(evidence)
        if evidence.feature not in self.memo:
            self.memo[evidence.feature] = self._search(evidence)
        return self.memo[evidence.feature]

    def _search(self, evidence: Evidence) -> ExplainResult:
        result = search_descriptions(train_records(evidence), self.select, self.simulator, self.embedder,
                                     promoted=evidence.promoted, config=self.config)
        model = f"search:{getattr(self.simulator, 'name', 'simulator')}"
        if result.best is None:
            return ExplainResult.failure(self.method, "no candidate description fits the train windows", None,
                                         explainer_model=model, usage=result.usage)
        return ExplainResult(self.method, result.best.rule.text, explainer_model=model, usage=result.usage,
                             details={"rule": result.best.rule.to_dict(), "select_score": result.best.select,
                                      "train_score": result.best.train, "proposed": result.proposed,
                                      "candidates": [c.to_dict() for c in result.candidates[:5]]})
