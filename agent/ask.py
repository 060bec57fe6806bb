"""``mechanic ask``: a question about the model, routed to a procedure, answered with
evidence.

Four kinds of question, each a fixed procedure whose inputs the LLM fills in under a
JSON schema:

* ``where`` — where is a concept represented? Positive and negative texts; a linear
  probe on the residual stream at layers across the model; then the MLP neurons that
  separate the texts best at the best layer, checked by their activations.
* ``component`` — what does ``mlp:L:I`` / ``attn:L:H`` do? An investigation
  (:func:`~.investigation.investigate`); the answer cites its experiments.
* ``behaviour`` — which components cause a behaviour on a prompt? Every layer's MLP
  and attention output zeroed in turn, ranked by how much the next-token distribution
  (and the watched token) moves.
* ``related`` — which features relate to a concept? Semantic search over stored
  explanations, then each match's activation on texts the LLM writes.

The answer: claims, each citing the ids of the experiments behind it; a confidence
(from the measurements, not the LLM); and what was not tested. The question is an
agent run of kind ``ask``; every instrument call is an experiment row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from mechanic import prompts, store
from mechanic.evals.lm import LLM, LLMError, Usage
from mechanic.tools import Subject, parse_feature

from .investigation import MAX_CHARS, MAX_ITEMS, Instruments, ToolError, parse_json_object

__all__ = ["ASK_KINDS", "Answer", "ask", "route"]

ASK_KINDS = ("where", "component", "behaviour", "related")
_FEATURE = re.compile(r"\b((?:mlp|attn|resid|sae):[\w]+:[\w]+)\b")
_QUOTED = re.compile(r"[\"“'‘]([^\"”'’]{3,})[\"”'’]")


@dataclass
class Answer:
    agent_run_id: int
    kind: str
    status: str
    claims: list[dict] = field(default_factory=list)  # {"text", "experiments": [ids]}
    confidence: str = "low"  # low | medium | high
    untested: list[str] = field(default_factory=list)
    error: str | None = None
    usage: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"agent_run_id": self.agent_run_id, "kind": self.kind, "status": self.status, "claims": self.claims,
                "confidence": self.confidence, "untested": self.untested, "error": self.error, "usage": self.usage}


def route(question: str) -> str | None:
    """The question's kind from its wording, or None when it is unclear."""
    q = question.lower()
    if _FEATURE.search(question):
        return "component"
    if re.search(r"\bwhere\b.*\b(represent|encode|store|know)", q):
        return "where"
    if re.search(r"\b(which|what) (components?|layers?|heads?|parts?)\b", q) or re.search(r"\b(cause|responsible)", q):
        return "behaviour"
    if re.search(r"\b(which|what) (features?|neurons?|units?)\b", q) or "related to" in q or "relate" in q:
        return "related"
    return None


_KIND_SCHEMA = {"type": "object", "properties": {"kind": {"type": "string", "enum": list(ASK_KINDS)}},
                "required": ["kind"], "additionalProperties": False}
_TEXTS = {"type": "array", "items": {"type": "string", "maxLength": MAX_CHARS}, "minItems": 3, "maxItems": MAX_ITEMS}
_STRING = {"type": "string", "maxLength": MAX_CHARS}
_PLANS = {
    "where": ("probe the residual stream for the concept with texts that show it and texts that do not",
              {"concept": _STRING, "positive": _TEXTS, "negative": _TEXTS}),
    "behaviour": ("zero each layer's MLP and attention output on a prompt and watch the next token",
                  {"prompt": _STRING, "watch": _STRING}),
    "related": ("search stored explanations for the concept, then measure the matches on example texts",
                {"concept": _STRING, "texts": _TEXTS}),
}
_ROUTING = ("Kinds: where (where is a concept represented), component (what a named unit does), behaviour "
            "(which components cause a behaviour on a prompt), related (which features relate to a concept).")
UNTESTED = {
    "where": ["attention and MLP sites (only the residual stream was probed)",
              "whether the probe direction is used by the model (no intervention along it)",
              "layers between the probed ones"],
    "component": ["inputs beyond the texts the agent wrote and the stored exemplars",
                  "interactions with other components"],
    "behaviour": ["single neurons and heads (whole layers were ablated)", "other prompts",
                  "mean or resampling ablation (only zero ablation)"],
    "related": ["features without a stored explanation", "features of other layers than those stored"],
}


class _Asker:
    def __init__(self, db, subject: Subject, llm: LLM, agent_run_id: int, question: str, max_llm_calls: int,
                 retries: int, say: Callable[[str], None]):
        self.db, self.subject, self.llm, self.question = db, subject, llm, question
        self.agent_run_id, self.max_llm_calls, self.retries, self.say = agent_run_id, max_llm_calls, retries, say
        self.instruments = Instruments(subject, db)
        self.usage = Usage()
        self.tool_calls = 0
        self.step = 0

    def _json(self, prompt: str, schema: dict) -> dict | None:
        for attempt in range(self.retries + 1):
            if self.usage.calls >= self.max_llm_calls:
                return None
            completion = self.llm.complete([{"role": "user", "content": prompt}], max_tokens=300,
                                           temperature=0.0 if attempt == 0 else 0.7, json_schema=schema,
                                           seed=attempt)
            self.usage.add(completion)
            try:
                value = parse_json_object(completion.text)
            except ToolError:
                continue
            if all(k in value for k in schema["required"]):
                return value
        return None

    def plan(self, kind: str) -> dict | None:
        procedure, fields = _PLANS[kind]
        schema = {"type": "object", "properties": fields, "required": list(fields), "additionalProperties": False}
        prompt = prompts.render("ask_plan", question=self.question, procedure=procedure,
                                fields=", ".join(fields))
        return self._json(prompt, schema)

    def kind(self) -> str | None:
        found = route(self.question)
        if found:
            return found
        prompt = prompts.render("ask_plan", question=self.question, procedure="choose the kind of question. "
                                + _ROUTING, fields="kind")
        value = self._json(prompt, _KIND_SCHEMA)
        return value["kind"] if value and value.get("kind") in ASK_KINDS else None

    def run(self, tool: str, arguments: dict) -> tuple[int, object]:
        call = self.instruments.call(tool, arguments)
        eid = store.write_experiment(
            self.db, self.agent_run_id, step=self.step, tool=tool, arguments=call.arguments,
            result=call.observation.result if call.observation else None, summary=call.summary, error=call.error,
            elapsed=call.elapsed)
        self.step += 1
        self.tool_calls += 1
        self.say(f"  #{eid} {tool}: {call.summary.splitlines()[0][:110]}")
        return eid, call.observation.result if call.observation else None

    # ------------------------------------------------------------ procedures
    def where(self, plan: dict) -> tuple[list[dict], str]:
        n = self.subject.n_layers
        layers = sorted({*range(0, n, max(1, n // 6)), n - 1})
        probes = []
        for layer in layers:
            eid, result = self.run("probe", {"positive": plan["positive"], "negative": plan["negative"],
                                             "layer": layer})
            if result:
                probes.append((result["test_accuracy"], layer, eid, result))
        if not probes:
            return [], "low"
        acc, layer, eid, best = max(probes, key=lambda p: (p[0], -p[1]))
        claims = [{"text": f"'{plan['concept']}' is linearly readable from the residual stream best at layer {layer} "
                           f"(held-out probe accuracy {acc:.2f} on {best['n_test']} texts)",
                   "experiments": [p[2] for p in probes]}]
        neurons = [f for f, _ in best["top_mlp_neurons"][:3]]
        if neurons:
            checks = []
            for f in neurons:
                e_pos, pos = self.run("activations", {"texts": plan["positive"], "feature": f})
                e_neg, neg = self.run("activations", {"texts": plan["negative"], "feature": f})
                if pos and neg:
                    mp = sum(t["max"] for t in pos["texts"]) / len(pos["texts"])
                    mn = sum(t["max"] for t in neg["texts"]) / len(neg["texts"])
                    checks.append((f, mp, mn, [e_pos, e_neg]))
            for f, mp, mn, eids in checks:
                claims.append({"text": f"{f} separates the texts at layer {layer}: mean peak {mp:.3g} on positive vs "
                                       f"{mn:.3g} on negative texts", "experiments": [eid, *eids]})
        n_test = best["n_test"]
        confidence = "high" if acc >= 0.9 and n_test >= 4 else "medium" if acc >= 0.75 else "low"
        return claims, confidence

    def behaviour(self, plan: dict) -> tuple[list[dict], str]:
        rows = []
        for layer in range(self.subject.n_layers):
            for site in ("mlp", "attn"):
                eid, result = self.run("ablate_site", {"text": plan["prompt"], "layer": layer, "site": site,
                                                       "watch": plan.get("watch", "")})
                if result:
                    rows.append((result["kl"], result.get("watch_change"), f"{site}:{layer}", eid))
        if not rows:
            return [], "low"
        rows.sort(key=lambda r: -r[0])
        claims = []
        for kl, watched, site, eid in rows[:3]:
            extra = f", p({plan.get('watch')!r}) {watched:+.3g}" if watched is not None else ""
            claims.append({"text": f"zeroing {site} moves the next-token distribution most (KL {kl:.3g}{extra})",
                           "experiments": [eid]})
        spread = rows[0][0] / max(rows[min(3, len(rows) - 1)][0], 1e-9)
        return claims, "high" if spread >= 5 else "medium" if spread >= 2 else "low"

    def related(self, plan: dict) -> tuple[list[dict], str]:
        eid, found = self.run("search_explanations", {"query": plan["concept"], "n": 5})
        matches = (found or {}).get("matches", [])
        claims, fired = [], 0
        for m in matches[:3]:
            e2, acts = self.run("activations", {"texts": plan["texts"], "feature": m["feature"]})
            if not acts:
                continue
            hits = sum(t["fires"] for t in acts["texts"])
            fired += hits > 0
            claims.append({"text": f"{m['feature']} ({m['explanation']!r}, similarity {m['similarity']:.2f}) fires on "
                                   f"{hits}/{len(acts['texts'])} example texts", "experiments": [eid, e2]})
        if not matches:
            claims.append({"text": f"no stored explanation is close to '{plan['concept']}'", "experiments": [eid]})
        return claims, "medium" if fired >= 2 else "low"


def ask(db, subject: Subject, question: str, llm: LLM, *, run_id: int, max_llm_calls: int = 8, retries: int = 2,
        investigate_feature: Callable[[str], dict] | None = None,
        progress: Callable[[str], None] | None = None) -> Answer:
    """Answer ``question`` (see the module doc). ``investigate_feature(feature_id)``
    runs an investigation for ``component`` questions and returns
    :func:`~.agent_methods.investigation_report`'s dict."""
    if not question.strip():
        raise ToolError("the question is empty")
    agent_run_id = store.start_agent_run(db, run_id=run_id, kind="ask", question=question,
                                         budgets={"llm_calls": max_llm_calls}, explainer_model=llm.name)
    asker = _Asker(db, subject, llm, agent_run_id, question, max_llm_calls, retries, progress or (lambda m: None))
    answer = Answer(agent_run_id, "", "running")
    try:
        kind = asker.kind()
        if kind is None:
            raise ToolError("could not tell what kind of question this is; ask where a concept is represented, "
                            "what mlp:L:I or attn:L:H does, which components cause a behaviour on a prompt, "
                            "or which features relate to a concept")
        answer.kind = kind
        if kind == "component":
            feature = str(parse_feature(_FEATURE.search(question).group(1)))
            subject.site(feature)
            if investigate_feature is None:
                raise ToolError("component questions need an investigation; use `mechanic ask` or `investigate`")
            report = investigate_feature(feature)
            kept = [h for h in report["hypotheses"] if h["verdict"] != "refuted"]
            answer.claims = [{"text": f"{feature}: {report['explanation']}", "investigation": report["agent_run_id"],
                              "experiments": [e["id"] for e in report["experiments"]]}]
            answer.claims += [{"text": f"hypothesis '{h['text']}' was {h['verdict'] or 'untested'}",
                               "experiments": [e["id"] for e in report["experiments"] if e["hypothesis_id"] == h["id"]]}
                              for h in report["hypotheses"]]
            supported = any(h["verdict"] == "supported" for h in kept)
            answer.confidence = "medium" if supported else "low"
        else:
            plan = asker.plan(kind)
            if plan is None:
                raise ToolError(f"the LLM gave no usable plan for a '{kind}' question within its budget")
            answer.claims, answer.confidence = getattr(asker, kind)(plan)
        answer.untested = UNTESTED[kind]
        answer.status = "done"
    except (ToolError, LLMError) as exc:
        answer.status, answer.error = "failed", str(exc)
    except KeyboardInterrupt:
        store.finish_agent_run(db, agent_run_id, "interrupted", "interrupted")
        raise
    answer.usage = {"llm_calls": asker.usage.calls, "prompt_tokens": asker.usage.prompt_tokens,
                    "completion_tokens": asker.usage.completion_tokens, "tool_calls": asker.tool_calls,
                    "seconds": round(asker.usage.seconds, 3)}
    store.update_agent_run(db, agent_run_id, usage=answer.usage, answer=answer.to_dict())
    store.finish_agent_run(db, agent_run_id, answer.status, answer.error)
    return answer
