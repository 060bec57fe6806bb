"""The nodes that conclude: **judge** (precision, recall and causal agreement per
hypothesis, a verdict each: :mod:`.verdicts`, held back from ``supported`` until
every cluster of top exemplars was probed: :mod:`.coverage`) and **finalize** (surviving
hypotheses, and any seed candidates, scored on the *select* split with the
configured simulator; the best is stored as the explanation, linked to its agent
run). The test split is never read here."""

from __future__ import annotations

from mechanic import prompts, store
from mechanic.evals.lm import Usage
from mechanic.evals.records import Record, crop
from mechanic.evals.scorers import simulation_scores_many

from ..evidence import load_scoring_set
from .context import AgentContext, usage_row
from .state import State
from .verdicts import verdict

__all__ = ["ConclusionNodes", "final_choice"]


def final_choice(texts: list[str], scores: list[float | None], seed_candidates) -> int:
    """The index of the final explanation among ``texts`` (the best ``scores`` on
    select, earliest on ties): the search's runners-up (``seed_candidates`` after its
    first) cannot win, its own choice speaks for them (see ``ConclusionNodes._choose``)."""
    runners_up = set(seed_candidates[1:]) - set(seed_candidates[:1])
    eligible = [i for i, t in enumerate(texts) if t not in runners_up] or list(range(len(texts)))
    return max(eligible, key=lambda i: (scores[i] is not None, scores[i] or 0.0, -i))


class ConclusionNodes(AgentContext):
    """The judge and finalize nodes."""

    def judge(self, state: State) -> State:
        self._begin()
        rnd = state.get("round", 0)
        experiments = store.get_experiments(self.db, self.agent_run_id)
        hypotheses = []
        for h in state.get("hypotheses", []):  # each verdict is one UPDATE: rerunning the node is harmless
            if h["round"] == rnd:
                mine = [e for e in experiments if e["hypothesis_id"] == h["id"] and e["result"] is not None]
                by_tool = {name: [e["result"] for e in mine if e["tool"] == name]
                           for name in ("test_hypothesis", "test_intervention", "test_on_corpus", "counterfactual")}
                tests = by_tool["test_hypothesis"]
                judged = verdict(tests, by_tool["test_intervention"], by_tool["test_on_corpus"],
                                 by_tool["counterfactual"])
                covered = self.coverage(tests)
                typed: dict = {}
                for t in tests:  # accuracy per probe type over the hypothesis's tests
                    for kind, v in (t.get("accuracy_by_type") or {}).items():
                        typed[kind] = {k: typed.get(kind, {}).get(k, 0) + v[k] for k in ("right", "n")}
                judged["details"]["accuracy_by_type"] = typed
                judged["details"]["coverage"] = covered
                if judged["verdict"] == "supported" and covered["unprobed"]:  # the coverage gate
                    judged["verdict"] = "inconclusive"
                    judged["details"]["reason"] = ("clusters of the top excerpts never probed: "
                                                   + ", ".join(repr(t) for t in covered["unprobed"]))
                extra = {"source": h["source"], "rule": h.get("rule")} if h.get("source") else {}
                store.judge_hypothesis(self.db, h["id"], verdict=judged["verdict"], precision=judged["precision"],
                                       recall=judged["recall"], causal_agreement=judged["causal_agreement"],
                                       details={**judged["details"], **extra,
                                                "experiments": [e["id"] for e in mine]})
                h = {**h, **{k: judged[k] for k in ("verdict", "precision", "recall", "causal_agreement", "reading")},
                     "accuracy_by_type": typed}
                self.say(f"  judged {h['text']!r}: {h['verdict']}")
            hypotheses.append(h)
        store.update_agent_run(self.db, self.agent_run_id, usage=usage_row(state))
        return {"hypotheses": hypotheses, "round": rnd + 1, **self._spent(state, Usage())}

    def finalize(self, state: State) -> State:
        self._begin()
        existing = store.get_agent_run(self.db, self.agent_run_id)
        if existing and existing["explanation_id"]:  # a resumed run that had already stored it
            return {"explanation_id": existing["explanation_id"]}
        hypotheses = state.get("hypotheses", [])
        status = "budget_exhausted" if state.get("stop") == "budget" else "done"
        usage = usage_row(state)
        meta = dict(explainer_model=self.llm.name, prompt_hash=prompts.prompt_hash("agent_step"),
                    usage={**usage, "calls": usage["llm_calls"]})
        text, details = self._choose(hypotheses)  # scored before the transaction: the simulator may be slow
        details = {"agent_run_id": self.agent_run_id, "agent_status": status, **details}
        with self.db.atomic():  # the explanation and the run's link to it, or neither
            eid = store.write_explanation(
                self.db, feature_id=self.row["id"], run_id=self.run_id, method=self.method,
                config_hash=self.config_hash, text=text, status="ok" if text else "failed",
                error=None if text else "the agent formed no usable hypothesis", details=details, **meta)
            store.update_agent_run(self.db, self.agent_run_id, usage=usage, explanation_id=eid)
            store.finish_agent_run(self.db, self.agent_run_id, status)
        return {"explanation_id": eid, "status": status, **self._spent(state, Usage())}

    def _choose(self, hypotheses: list[dict]) -> tuple[str | None, dict]:
        """The final explanation: among surviving hypotheses (all of them when every
        one was refuted) and any seed candidates, the best on the select split.

        The description search's runners-up (seed candidates after its first) are scored
        and listed but cannot win: the search ranked them below its own choice on the
        same split with more evidence (each rule's fit as well as the simulator's
        reading), so its choice speaks for them. A near-tie on a few select windows
        would otherwise let a runner-up that merely lists the right words under a
        wrong heading beat it."""
        if not hypotheses:
            return None, {}
        survivors = [h for h in hypotheses if h.get("verdict") != "refuted"]
        rank = {"supported": 0, "partial": 1, "inconclusive": 1, "refuted": 2}
        candidates = sorted(survivors or hypotheses, key=lambda h: (rank.get(h.get("verdict"), 1), -h["round"]))
        texts = list(dict.fromkeys([*(h["text"] for h in candidates), *self.seed_candidates]))
        scores = self._select_scores(texts)
        runners_up = set(self.seed_candidates[1:]) - set(self.seed_candidates[:1])
        best = final_choice(texts, scores, self.seed_candidates)
        return texts[best], {"all_refuted": not survivors, "candidates": [
            {"text": t, "select_score": s, **({"eligible": False} if t in runners_up else {})}
            for t, s in zip(texts, scores)]}

    def _select_scores(self, texts: list[str]) -> list[float | None]:
        """Simulation score (pooled Pearson, split ``all``) of each candidate on the
        select split; all None without a simulator or a single candidate."""
        if self.simulator is None or len(texts) < 2:
            return [None] * len(texts)
        selection = load_scoring_set(self.db, self.subject, self.row, "select", n_top=self.config.n_top,
                                     n_random=self.config.n_random)
        length = self.config.score_length
        records = [crop(r, length) for r in selection.top] + [
            Record(r.tokens[:length], r.activations[:length], r.kind, r.split, r.window) for r in selection.random]
        if not records:
            return [None] * len(texts)
        results = simulation_scores_many(self.simulator, texts, records, scorer_model=self.simulator_name)
        return [next((r.value for r in rs if r.split == "all"), None) for rs in results]
