"""``mechanic ask``: a question about the model, routed to a procedure, answered with
calibrated claims.

Routing is deterministic (:mod:`.routing`): patterns, then an embedding vote against
a bank of example questions; the LLM only fills in what the wording does not give
(a concept phrase, a prompt the user wrote without quotes), under checks, and
chooses a kind only in the vote's grey zone. What fits no kind is refused.

* ``where`` — :mod:`.concept` turns the concept into labelled corpus tokens (the
  offline simulator, checked by word-class rules), :mod:`.where` sweeps probes over
  layers and sites with a control task, finds the aligned neurons and steers along
  the probe's direction against random directions.
* ``component`` — an investigation of the named unit; the answer cites its
  experiments and hypotheses.
* ``behaviour`` — :mod:`.behaviour`: every layer's MLP and attention output zeroed on
  the user's prompt, against norm-matched random pushes. No prompt, no answer.
* ``related`` — :mod:`.related`: stored explanations near the concept and every
  MLP neuron, measured on the concept's tokens.

Each claim carries its number with a 95% interval, the ids of the experiments behind
it and what would refute it; the confidence comes from those numbers, not the LLM.
The question is an agent run of kind ``ask``; every measurement is an experiment row.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable

from mechanic import prompts, store
from mechanic.evals.lm import LLM, LLMError, Usage
from mechanic.tools import MechanicError, Subject, parse_feature

from ..investigation import MAX_CHARS, Instruments, ToolError, parse_json_object
from .behaviour import behaviour_answer
from .concept import concept_data
from .related import related_answer
from .routing import ASK_KINDS, Route, Router, degenerate_prompt
from .where import where_answer

__all__ = ["ASK_KINDS", "Answer", "ask", "route"]

UNTESTED = {
    "where": ["attention-head sites (only the residual stream and MLP neurons were probed)",
              "non-linear readouts (only linear probes)",
              "contexts beyond the corpus sample the tokens came from"],
    "component": ["inputs beyond the texts the agent wrote and the stored exemplars",
                  "interactions with other components"],
    "behaviour": ["single neurons and heads (whole layers were zeroed)", "other prompts",
                  "mean or resampling ablation (only zero ablation against random pushes)"],
    "related": ["attention heads and SAE latents (only MLP neurons)",
                "contexts beyond the corpus sample the tokens came from"],
}
KINDS_HELP = ("ask where a concept is represented (\"where does the model represent the month?\"), what a "
              "component does (\"what does mlp:3:17 do?\"), which components cause a behaviour on a prompt (\"which "
              "components make 'The capital of France is' predict ' Paris'?\"), or which features relate to a "
              "concept (\"which features relate to negation?\")")
_STOP = {"the", "a", "an", "of", "is", "are", "to", "in", "and", "or", "whether", "token", "word", "model", "that"}


def route(question: str, embedder=None) -> str | None:
    """The question's kind (patterns, plus the embedding vote when ``embedder`` is
    given), or None when it fits no kind."""
    return Router(embedder).route(question).kind


@dataclass
class Answer:
    agent_run_id: int
    kind: str
    status: str  # done | refused | failed
    claims: list[dict] = field(default_factory=list)  # {"text", "value", "ci", "experiments", "refuted_by"}
    confidence: str = "low"  # low | medium | high
    untested: list[str] = field(default_factory=list)
    error: str | None = None
    usage: dict = field(default_factory=dict)
    route: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"agent_run_id": self.agent_run_id, "kind": self.kind, "status": self.status, "route": self.route,
                "claims": self.claims, "confidence": self.confidence, "untested": self.untested, "error": self.error,
                "usage": self.usage}


class Refusal(Exception):
    """The question cannot be answered as asked; the message says why and what to ask."""


class _Asker:
    def __init__(self, db, subject: Subject, llm: LLM, agent_run_id: int, question: str, max_llm_calls: int,
                 retries: int, say: Callable[[str], None]):
        self.db, self.subject, self.llm, self.question = db, subject, llm, question
        self.agent_run_id, self.max_llm_calls, self.retries, self.say = agent_run_id, max_llm_calls, retries, say
        self.instruments = None
        self.usage = Usage()
        self.tool_calls = 0
        self.step = 0

    # ------------------------------------------------------------ the LLM
    def _json(self, prompt: str, schema: dict) -> dict | None:
        for attempt in range(self.retries + 1):
            if self.usage.calls >= self.max_llm_calls:
                return None
            completion = self.llm.complete([{"role": "user", "content": prompt}], max_tokens=200,
                                           temperature=0.0 if attempt == 0 else 0.7, json_schema=schema,
                                           seed=attempt)
            self.usage.add(completion)
            try:
                value = parse_json_object(completion.text)
            except ToolError:
                continue
            if all(isinstance(value.get(k), str) for k in schema["required"]):
                return value
        return None

    def fill(self, procedure: str, fields: list[str]) -> dict | None:
        """Ask the LLM for string ``fields`` the wording did not give."""
        schema = {"type": "object", "properties": {f: {"type": "string", "maxLength": MAX_CHARS} for f in fields},
                  "required": fields, "additionalProperties": False}
        return self._json(prompts.render("ask_plan", question=self.question, procedure=procedure,
                                         fields=", ".join(fields)), schema)

    def choose(self, question: str, kinds: list[str]) -> str | None:
        schema = {"type": "object", "properties": {"kind": {"type": "string", "enum": kinds}}, "required": ["kind"],
                  "additionalProperties": False}
        value = self._json(prompts.render("ask_plan", question=question, procedure="choose the kind of question: "
                                          + "; ".join(kinds), fields="kind"), schema)
        return value["kind"] if value else None

    # ------------------------------------------------------------ records
    def record(self, tool: str, arguments: dict, result, summary: str, elapsed: float, error: str | None = None) -> int:
        eid = store.write_experiment(self.db, self.agent_run_id, step=self.step, tool=tool, arguments=arguments,
                                     result=result, summary=summary, error=error, elapsed=elapsed)
        self.step += 1
        self.tool_calls += 1
        self.say(f"  #{eid} {tool} ({elapsed:.1f}s): {summary.splitlines()[0][:140] if summary else ''}")
        return eid

    def call(self, tool: str, arguments: dict) -> tuple[int, object]:
        """One instrument call (as the investigation's tools), stored as an experiment."""
        if self.instruments is None:
            self.instruments = Instruments(self.subject, self.db)
        c = self.instruments.call(tool, arguments)
        eid = self.record(tool, c.arguments, c.observation.result if c.observation else None, c.summary, c.elapsed,
                          c.error)
        return eid, c.observation.result if c.observation else None

    # ------------------------------------------------------------ slots
    def concept(self, route: Route) -> str:
        concept = route.slots.get("concept", "")
        if concept:
            return concept
        value = self.fill("name the concept the question is about, in a few words taken from the question",
                          ["concept"])
        concept = (value or {}).get("concept", "").strip()
        words = [w for w in re.findall(r"\w+", concept.lower()) if w not in _STOP]
        if not words or not all(w in self.question.lower() for w in words):
            raise Refusal("could not tell which concept the question is about; name it plainly, e.g. \"where does "
                          "the model represent month names?\"")
        return concept

    def prompt(self, route: Route) -> tuple[str, str]:
        prompt, watch = route.slots.get("prompt", ""), route.slots.get("watch", "")
        if prompt:
            return prompt, watch
        value = self.fill("copy the prompt the question is about, exactly as written in the question, and the "
                          "next token it asks about", ["prompt", "watch"]) or {}
        prompt, watch = value.get("prompt", "").strip(), value.get("watch", "")
        why = None
        if not prompt or prompt not in self.question:
            why = "the question gives no prompt"
        elif reason := degenerate_prompt(prompt):
            why = f"the prompt found, {prompt[:40]!r}, is degenerate ({reason})"
        if why:
            raise Refusal(f"{why}: a behaviour question needs the prompt in quotes, e.g. \"which components make "
                          f"'The capital of France is' predict ' Paris'?\"")
        return prompt, watch if watch in self.question else ""


def ask(db, subject: Subject, question: str, llm: LLM, *, run_id: int, max_llm_calls: int = 8, retries: int = 2,
        investigate_feature: Callable[[str], dict] | None = None, progress: Callable[[str], None] | None = None,
        embedder=None, simulator=None, source: str = "default", n_windows: int = 64, seed: int = 0) -> Answer:
    """Answer ``question`` (see the module doc). ``investigate_feature(feature_id)``
    runs an investigation for ``component`` questions and returns
    :func:`~.agent_methods.investigation_report`'s dict. ``embedder`` (routing and
    search) and ``simulator`` (concept data) default to all-MiniLM-L6-v2 and the
    trained offline simulator; ``n_windows`` corpus windows are labelled for a concept."""
    if not question.strip():
        raise ToolError("the question is empty")
    t0 = time.perf_counter()
    agent_run_id = store.start_agent_run(db, run_id=run_id, kind="ask", question=question,
                                         budgets={"llm_calls": max_llm_calls}, explainer_model=llm.name)
    say = progress or (lambda m: None)
    asker = _Asker(db, subject, llm, agent_run_id, question, max_llm_calls, retries, say)
    answer = Answer(agent_run_id, "", "running")
    try:
        if embedder is None:
            from mechanic.evals.embedding import default_embedder

            embedder = default_embedder()
        found = Router(embedder, choose=asker.choose).route(question)
        answer.route = {"kind": found.kind, "reason": found.reason, "by": found.by}
        say(f"route: {found.kind or 'none'} ({found.reason})")
        if found.kind is None:
            raise Refusal(f"this question fits none of the kinds I can answer ({found.reason}); {KINDS_HELP}")
        answer.kind = kind = found.kind
        if kind == "component":
            answer.claims, answer.confidence, spent = _component(subject, found, investigate_feature)
            # the investigation's own calls are part of this answer's cost
            asker.usage.calls += int(spent.get("llm_calls", 0))
            asker.usage.prompt_tokens += int(spent.get("prompt_tokens", 0))
            asker.usage.completion_tokens += int(spent.get("completion_tokens", 0))
            asker.tool_calls += int(spent.get("tool_calls", 0))
        elif kind == "behaviour":
            prompt, watch = asker.prompt(found)
            answer.claims, answer.confidence = behaviour_answer(subject, prompt, watch, asker.record, seed=seed)
        else:
            concept = asker.concept(found)
            if simulator is None:
                from mechanic.evals.offline import TrainedSimulator

                simulator = TrainedSimulator(embedder=embedder)
            t1 = time.perf_counter()
            try:
                data = concept_data(subject, concept, simulator, source=source, n_windows=n_windows, seed=seed)
            except MechanicError as exc:
                asker.record("concept_data", {"concept": concept, "source": source}, None, f"error: {exc}",
                             time.perf_counter() - t1, str(exc))
                raise Refusal(str(exc)) from exc
            data_eid = asker.record("concept_data", {"concept": concept, "source": source}, data.info,
                                    f"{data.info['positives']} positive and {data.info['negatives']} negative tokens "
                                    f"({data.info['labels_from']}); e.g. {', '.join(data.info['positive_words'][:4])}",
                                    time.perf_counter() - t1)
            if kind == "where":
                answer.claims, answer.confidence = where_answer(subject, data, asker.record, data_eid=data_eid,
                                                                seed=seed)
            else:
                search_eid, stored = None, None
                if store.searchable_explanations(db, subject.name):
                    search_eid, found_rows = asker.call("search_explanations", {"query": concept, "n": 5})
                    stored = (found_rows or {}).get("matches", [])
                answer.claims, answer.confidence = related_answer(subject, data, asker.record, data_eid=data_eid,
                                                                  stored=stored, search_eid=search_eid, seed=seed)
        answer.untested = UNTESTED[kind]
        answer.status = "done"
    except Refusal as exc:
        answer.status, answer.error = "refused", str(exc)
    except (ToolError, LLMError, MechanicError) as exc:
        answer.status, answer.error = "failed", str(exc)
    except KeyboardInterrupt:
        store.finish_agent_run(db, agent_run_id, "interrupted", "interrupted")
        raise
    answer.usage = {"llm_calls": asker.usage.calls, "prompt_tokens": asker.usage.prompt_tokens,
                    "completion_tokens": asker.usage.completion_tokens, "tool_calls": asker.tool_calls,
                    "seconds": round(time.perf_counter() - t0, 2)}
    store.update_agent_run(db, agent_run_id, usage=answer.usage, answer=answer.to_dict())
    store.finish_agent_run(db, agent_run_id, "done" if answer.status == "done" else "failed",
                           None if answer.status == "done" else f"{answer.status}: {answer.error}")
    return answer


def _component(subject: Subject, found: Route, investigate_feature) -> tuple[list[dict], str, dict]:
    spec = found.slots.get("feature", "")
    if not spec:
        raise Refusal("name the component as mlp:LAYER:NEURON or attn:LAYER:HEAD (e.g. \"what does mlp:3:17 do?\")")
    feature = str(parse_feature(spec))
    subject.site(feature)
    if investigate_feature is None:
        raise ToolError("component questions need an investigation; use `mechanic ask` or `investigate`")
    report = investigate_feature(feature)
    sim = next((s for s in report.get("scores") or [] if s["scorer"] == "simulation" and s["value"] is not None), None)
    scored = f" (held-out simulation score {sim['value']:.2f} on {sim['n']} windows)" if sim else ""
    claims = [{"text": f"{feature}: {report['explanation']}{scored}", "investigation": report["agent_run_id"],
               "value": sim["value"] if sim else None, "ci": None,
               "experiments": [e["id"] for e in report["experiments"]],
               "refuted_by": "a held-out simulation score near 0 for this explanation"}]
    claims += [{"text": f"hypothesis '{h['text']}' was {h['verdict'] or 'untested'}", "value": h.get("precision"),
                "ci": None, "experiments": [e["id"] for e in report["experiments"] if e["hypothesis_id"] == h["id"]],
                "refuted_by": "its prediction failing on new texts"} for h in report["hypotheses"]]
    supported = any(h["verdict"] == "supported" for h in report["hypotheses"])
    scores_well = sim is not None and sim["value"] >= 0.3
    confidence = "high" if supported and scores_well else "medium" if supported or scores_well else "low"
    return claims, confidence, report.get("usage") or {}
