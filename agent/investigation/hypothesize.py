"""The nodes that form hypotheses: **evidence** (statistics, top train excerpts,
output-side tokens, recorded like every other experiment) and **hypothesize**
(several competing hypotheses, each with a prediction that can fail; in later
rounds the judged ones are shown so refuted ones are revised)."""

from __future__ import annotations

from mechanic import prompts, store
from mechanic.evals.lm import Usage, has_text_completion

from ..evidence import load_evidence
from ..explainers import OneShotExplainer, ParseError, parse_explanation
from .context import AgentContext
from .drivers import parse_json_object
from .experiments import clip_lines
from .instruments import hide_name, shown_name
from .selftest import SEARCH_SOURCE, seeded_hypotheses
from .state import State
from .toolschema import ToolError
from .verdict_rule import rule_text

__all__ = ["HypothesisNodes"]


class HypothesisNodes(AgentContext):
    """The evidence and hypothesize nodes."""

    def evidence(self, state: State) -> State:
        self._begin()
        step, parts = state.get("step", 0), []
        for name, args in (("feature_stats", {}), ("exemplars", {"split": "train", "kind": "top", "n": 5}),
                           ("output_tokens", {})):
            parts.append(self._run_tool(step, name, args, None))
            step += 1
        return {"evidence": "\n".join(parts), "step": step, **self._spent(state, Usage(), tools=3)}

    def hypothesize(self, state: State) -> State:
        self._begin()
        used = Usage()
        rnd = state.get("round", 0)
        judged = state.get("hypotheses", [])
        previous = ""
        if judged:
            lines = [f"- {h['text']}: {h.get('verdict') or 'untested'}" + _measured(h) for h in judged]
            results = "\n\n".join(clip_lines(o) for o in state.get("observations", [])) or "(none)"
            previous = ("\nResults of the last round's experiments, the last one included:\n<data>\n" + results
                        + "\n</data>\nHypotheses already tested (replace the refuted ones; sharpen the rest):\n"
                        + "\n".join(lines) + "\n" + rule_text() + "\n")
        n = self.config.n_hypotheses
        # tool results in the evidence may name the unit: every prompt shows only its opaque name
        prompt = hide_name(prompts.render("agent_hypothesize", feature=shown_name(self.row),
                                          evidence=state["evidence"], previous=previous, n=n,
                                          threshold=f"{self.instruments.threshold:.3g}", peak=f"{self.row['max']:.3g}"),
                           self.row)
        texts: list[tuple[str, str]] = []
        known = {h["text"].lower() for h in judged}
        if self._fewshot():
            texts = self._fewshot_hypotheses(state, used, known)
        for attempt in range(0 if self._fewshot() else self.config.retries + 1):
            if not self._llm_ok(state, used):
                break
            completion = self.llm.complete([{"role": "user", "content": prompt}], max_tokens=60 * n + 40,
                                           temperature=0.0 if attempt == 0 else 0.7, json_schema=_hypotheses_schema(n),
                                           seed=self.config.seed + attempt)
            used.add(completion)
            texts = [t for t in _parse_hypotheses(completion.text) if t[0].lower() not in known][:n]
            if texts:
                break
        if not texts and not judged and self._llm_ok(state, used):
            texts = self._fallback_hypothesis(used)
        hypotheses = list(judged)
        seeded = seeded_hypotheses(texts, self.seed_candidates if rnd == 0 else (), self.seed_rules)
        with self.db.atomic():  # all of a round's hypotheses or none (a resumed node writes them again)
            for idx, (text, prediction, rule) in enumerate(seeded):
                hid = store.write_hypothesis(self.db, self.agent_run_id, round=rnd, idx=idx, text=text,
                                             prediction=prediction)
                hypotheses.append({"id": hid, "round": rnd, "idx": idx, "text": text, "prediction": prediction,
                                   "verdict": None, **({"source": SEARCH_SOURCE, "rule": rule} if rule is not None
                                                       else {})})
        for h in hypotheses[len(judged):]:
            self.say(f"  hypothesis {h['idx'] + 1}: {h['text']}")
        stop = state.get("stop")
        if not seeded and not self._llm_ok(state, used):
            stop = "budget"
        # search candidates get the instruments' tests, not a guided LLM test of their own
        searched = [i for i, h in enumerate(hypotheses[len(judged):], 1) if h.get("source") == SEARCH_SOURCE]
        return {"hypotheses": hypotheses, "observations": [], "seen": [], "guided": searched, "round_steps": 0,
                "end_round": False, "pending": None, "stop": stop, **self._spent(state, used)}

    def _fewshot(self) -> bool:
        style = self.config.hypothesis_style
        return style == "fewshot" or (style == "auto" and has_text_completion(self.llm))

    def _fewshot_hypotheses(self, state: State, used: Usage, known: set[str]) -> list[tuple[str, str]]:
        """Competing hypotheses sampled from few-shot labels of different slices of the
        evidence: what small local models do far better than writing JSON prose."""
        evidence = load_evidence(self.db, self.subject, self.row, with_outputs=False)
        pool = evidence.top + evidence.deciles
        explainer = OneShotExplainer(self.llm, style="fewshot", retries=0)
        out: list[tuple[str, str]] = []
        for i in range(self.config.n_hypotheses + self.config.retries):
            if len(out) >= self.config.n_hypotheses or not self._llm_ok(state, used):
                break
            # each sample sees a different slice (first the strongest), sampled after the first
            records = pool if i == 0 else pool[i % max(1, len(pool) // 4):][::2] or pool
            result = explainer.explain(evidence, records, temperature=0.0 if i == 0 else 0.8,
                                       seed=self.config.seed + 101 * state.get("round", 0) + i)
            used.merge(result.usage)
            if result.status == "ok" and result.text.lower() not in known:
                known.add(result.text.lower())
                out.append((result.text, ""))
        return out

    def _fallback_hypothesis(self, used: Usage) -> list[tuple[str, str]]:
        """One hypothesis from the plain explainer, when the model wrote no usable
        hypothesis (small models manage a few-shot label better than JSON prose)."""
        result = OneShotExplainer(self.llm, retries=0, seed=self.config.seed).explain(
            load_evidence(self.db, self.subject, self.row))
        used.merge(result.usage)
        return [(result.text, "")] if result.status == "ok" else []


def _measured(h: dict) -> str:
    parts = [f"{k} {h[k]:.2f}" for k in ("precision", "recall") if h.get(k) is not None]
    typed = h.get("accuracy_by_type") or {}
    parts += [f"{k.replace('_', '-')} {v['right']}/{v['n']}" for k, v in typed.items() if k in ("edge_case", "adversarial")]
    if h.get("reading"):
        parts.append(h["reading"])
    return f" ({', '.join(parts)})" if parts else ""


def _hypotheses_schema(n: int) -> dict:
    item = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 120},
                                             "prediction": {"type": "string", "maxLength": 160}},
            "required": ["text", "prediction"], "additionalProperties": False}
    return {"type": "object", "properties": {"hypotheses": {"type": "array", "items": item, "minItems": 1,
                                                            "maxItems": n}},
            "required": ["hypotheses"], "additionalProperties": False}


def _parse_hypotheses(reply: str) -> list[tuple[str, str]]:
    """Usable ``(text, prediction)`` pairs in a reply; unusable entries are dropped."""
    try:
        items = parse_json_object(reply).get("hypotheses")
    except ToolError:
        return []
    out, seen = [], set()
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            text = parse_explanation(str(item.get("text", "")))
        except ParseError:
            continue
        if text.lower() not in seen:
            seen.add(text.lower())
            out.append((text, " ".join(str(item.get("prediction", "")).split())[:200]))
    return out
