"""Best-of-k: sample k explanations from varied subsets of the evidence, let a
simulator score every candidate on the *selection* split, keep the best. With a
proposer (the description search), its candidates count among the k and the LLM
writes the rest, so a small LLM competes with searched descriptions it could not
write, and a capable one can beat them.

The selection split is disjoint from the train split the candidates were written
from and from the test split every reported score comes from.
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

from mechanic.agent.evidence import Evidence
from mechanic.evals.lm import Usage

from .base import ExplainResult
from .oneshot import OneShotExplainer

__all__ = ["BestOfKExplainer", "Proposer", "Selector"]

# Scores each candidate explanation on held-out selection records (higher is
# better; None when undefined), and reports what it spent.
Selector = Callable[[Sequence[str]], tuple[list[float | None], Usage]]
# Proposes candidate texts without the LLM (the description search), with what it spent.
Proposer = Callable[[Evidence], tuple[list[str], Usage]]


class BestOfKExplainer:
    method = "bestofk"

    def __init__(self, writer: OneShotExplainer, selector: Selector, *, k: int = 5, subset_fraction: float = 0.6,
                 temperature: float = 0.7, seed: int = 0, proposer: Proposer | None = None):
        if k < 1:
            raise ValueError("k must be at least 1")
        self.writer = writer
        self.selector = selector
        self.k = k
        self.subset_fraction = subset_fraction
        self.temperature = temperature
        self.seed = seed
        self.proposer = proposer  # its texts count among the k; the LLM writes the rest (at least one)

    def explain(self, evidence: Evidence) -> ExplainResult:
        rng = random.Random(self.seed)
        pool = evidence.top + evidence.deciles
        usage = Usage()
        proposed: list[str] = []
        if self.proposer is not None:
            proposed, spent = self.proposer(evidence)
            proposed = proposed[: self.k - 1]
            usage.merge(spent)
        candidates: list[ExplainResult] = []
        for i in range(self.k - len(proposed)):
            size = max(1, round(self.subset_fraction * len(pool)))
            subset = rng.sample(pool, size) if len(pool) > size else list(pool)
            subset.sort(key=lambda r: -r.max_act)
            # The first candidate is greedy on everything; the rest sample on subsets.
            result = (self.writer.explain(evidence) if i == 0 else
                      self.writer.explain(evidence, subset, temperature=self.temperature, seed=rng.randrange(2**31)))
            usage.merge(result.usage)
            candidates.append(result)
        meta = dict(explainer_model=self.writer.llm.name, prompt_hash=candidates[0].prompt_hash)
        written = [c.text for c in candidates if c.status == "ok"]
        texts = list(dict.fromkeys(written + proposed))
        if not written and not proposed:
            return ExplainResult.failure(self.method, f"all {self.k} candidates failed: {candidates[-1].error}",
                                         candidates[-1].raw, usage=usage,
                                         details={"candidate_errors": [c.error for c in candidates]}, **meta)
        scores, select_usage = self.selector(texts)
        ranked = sorted(range(len(texts)), key=lambda j: (scores[j] is None, -(scores[j] or 0.0), j))
        best = ranked[0]
        details = {
            "candidates": [{"text": t, "selection_score": s, "source": "llm" if t in written else "search"}
                           for t, s in zip(texts, scores)],
            "selection_usage": select_usage.to_dict(),
            "failed_candidates": sum(c.status != "ok" for c in candidates),
        }
        if scores[best] is None:
            details["note"] = "no candidate had a defined selection score; kept the first"
        usage.merge(select_usage)
        details["source"] = "llm" if texts[best] in written else "search"
        return ExplainResult(self.method, texts[best], raw=texts[best], usage=usage, details=details, **meta)

