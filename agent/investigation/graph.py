"""The investigation graph's nodes and edges (see :mod:`.investigation`).

Each node is a plain function ``state -> partial state``; what must not live in the
checkpointed state (the store, the model, the LLM, the instruments) is held by
:class:`Agent`, whose bound methods are the nodes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, TypedDict

from mechanic import prompts, store
from mechanic.evals.lm import LLM, Usage
from mechanic.tools import Subject

from ..explainers import ParseError, parse_explanation
from .drivers import DRIVERS, make_driver, parse_json_object
from .instruments import Instruments
from .toolschema import ToolError, validate_arguments
from .verdicts import verdict

__all__ = ["AgentConfig", "Agent", "DESIGN_TOOLS", "FINISH", "METHOD", "State"]

METHOD = "agent"
FINISH = {"name": "finish", "description": "End the experiments of this round; the hypotheses are then judged.",
          "parameters": {"type": "object", "properties": {}, "required": [], "additionalProperties": False}}
# What the LLM may call while testing hypotheses (finish is added).
DESIGN_TOOLS = ("test_hypothesis", "test_intervention", "activations", "exemplars", "output_tokens", "steer",
                "ablate", "compare", "feature_stats")


@dataclass(frozen=True)
class AgentConfig:
    """Budgets and shape of one investigation."""

    max_llm_calls: int = 24  # every LLM call, retries included
    max_tool_calls: int = 24  # every instrument call, the evidence ones included
    max_seconds: float = 900.0
    n_hypotheses: int = 3  # asked for per round
    max_rounds: int = 2  # hypothesize-test-judge rounds
    steps_per_round: int = 4  # experiments the LLM may run per round
    retries: int = 2  # extra attempts when a reply is unusable
    hypothesis_style: str = "auto"  # json (chat models) | fewshot (sampled few-shot labels) | auto: by the model
    guided: bool = True  # first ask for one test_hypothesis per hypothesis, then let the LLM choose freely
    driver: str = "auto"  # auto | json | native
    tools: tuple[str, ...] = DESIGN_TOOLS
    n_top: int = 5  # select-split windows to choose among candidates
    n_random: int = 5
    score_length: int = 32
    seed: int = 0

    def __post_init__(self):
        if self.hypothesis_style not in ("auto", "json", "fewshot"):
            raise ToolError("hypothesis_style must be auto, json or fewshot")
        if self.driver not in DRIVERS:
            raise ToolError(f"driver must be one of {', '.join(DRIVERS)}")
        if min(self.max_llm_calls, self.max_tool_calls, self.n_hypotheses, self.max_rounds) < 1:
            raise ToolError("budgets, hypotheses and rounds must be at least 1")
        unknown = [t for t in self.tools if t not in Instruments.tool_names()]
        if unknown:
            raise ToolError(f"unknown tool {unknown[0]!r}")

    def budgets(self) -> dict:
        return {"llm_calls": self.max_llm_calls, "tool_calls": self.max_tool_calls, "seconds": self.max_seconds}


class State(TypedDict, total=False):
    round: int
    evidence: str
    hypotheses: list[dict]  # {id, round, idx, text, prediction, verdict, precision, recall, causal_agreement}
    observations: list[str]  # summaries of this round's experiments
    step: int  # the next experiment's step number
    round_steps: int
    pending: dict | None  # the call chosen by design, run next
    seen: list[str]  # calls already run this round (a repeat is refused)
    guided: list[int]  # hypotheses (1-based, this round) whose guided test was asked for
    end_round: bool  # the LLM called finish, or the round's steps are used up
    llm_calls: int
    tool_calls: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    stop: str | None  # "budget" once a budget ran out
    explanation_id: int | None
    status: str | None


class Agent:
    """The graph's nodes, closed over what must not live in the checkpointed state
    (the store, the model, the LLM)."""

    def __init__(self, db, subject: Subject, row: dict, llm: LLM, config: AgentConfig, *, agent_run_id: int,
                 run_id: int, config_hash: str, simulator=None, simulator_name: str = "",
                 embedder: Callable[[], Any] | None = None, say: Callable[[str], None] = lambda m: None,
                 method: str = METHOD, seed_candidates: tuple[str, ...] = ()):
        self.method, self.seed_candidates = method, seed_candidates
        self.db, self.subject, self.row, self.llm, self.config = db, subject, row, llm, config
        self.agent_run_id, self.run_id, self.config_hash = agent_run_id, run_id, config_hash
        self.simulator, self.simulator_name = simulator, simulator_name
        self.instruments = Instruments(subject, db, row, embedder=embedder)
        self.driver = make_driver(config.driver, llm, retries=config.retries, seed=config.seed)
        self.say = say
        self._node_start = time.perf_counter()

    # ------------------------------------------------------------- budgets
    def _begin(self) -> None:
        self._node_start = time.perf_counter()

    def _elapsed(self, state: State) -> float:
        return state.get("seconds", 0.0) + (time.perf_counter() - self._node_start)

    def _llm_ok(self, state: State, used: Usage, pending: int = 0) -> bool:
        """Whether one more LLM call fits the budget, counting ``pending`` calls made
        but not yet added to ``used`` (a driver step in progress)."""
        return (state.get("llm_calls", 0) + used.calls + pending < self.config.max_llm_calls
                and self._elapsed(state) < self.config.max_seconds)

    def _tools_ok(self, state: State) -> bool:
        return (state.get("tool_calls", 0) < self.config.max_tool_calls
                and self._elapsed(state) < self.config.max_seconds)

    def _spent(self, state: State, used: Usage, tools: int = 0) -> dict:
        return {"llm_calls": state.get("llm_calls", 0) + used.calls,
                "prompt_tokens": state.get("prompt_tokens", 0) + used.prompt_tokens,
                "completion_tokens": state.get("completion_tokens", 0) + used.completion_tokens,
                "tool_calls": state.get("tool_calls", 0) + tools, "seconds": self._elapsed(state)}

    def _usage_row(self, state: State) -> dict:
        return {k: state.get(k, 0) for k in ("llm_calls", "tool_calls", "prompt_tokens", "completion_tokens")} | {
            "seconds": round(state.get("seconds", 0.0), 3)}

    # --------------------------------------------------------------- tools
    def _run_tool(self, step: int, name: str, arguments: dict, hypothesis_id: int | None) -> str:
        """Run one instrument call as experiment ``step``, or, when a resumed run has
        stored that step already, return its stored summary without running it again."""
        stored = store.get_experiments(self.db, self.agent_run_id, step=step)
        if stored:
            return stored[0]["summary"] or f"error: {stored[0]['error']}"
        call = self.instruments.call(name, arguments)
        store.write_experiment(
            self.db, self.agent_run_id, step=step, tool=name, arguments=call.arguments,
            result=call.observation.result if call.observation else None, summary=call.summary, error=call.error,
            elapsed=call.elapsed, hypothesis_id=hypothesis_id)
        self.say(f"  [{step}] {name}: {call.summary.splitlines()[0][:120]}")
        return call.summary

    def _current(self, state: State) -> list[dict]:
        return [h for h in state.get("hypotheses", []) if h["round"] == state.get("round", 0)]

    def _validate(self, state: State, only: int | None = None):
        current = self._current(state)

        def check(tool: str, arguments: dict) -> None:
            if tool == "finish":
                if arguments:
                    raise ToolError("finish takes no arguments")
            else:
                clean = validate_arguments(getattr(Instruments, tool), arguments)
                if "hypothesis" in clean and not 1 <= clean["hypothesis"] <= len(current):
                    raise ToolError(f"hypothesis must be 1-{len(current)}, not {clean['hypothesis']}")
                self.instruments.check_texts(tool, clean)
            if only is not None and (tool != "test_hypothesis" or arguments.get("hypothesis") != only):
                raise ToolError(f"call test_hypothesis for hypothesis {only} now")

        return check

    # --------------------------------------------------------------- nodes
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
            previous = ("\nHypotheses already tested (replace the refuted ones; sharpen the rest):\n"
                        + "\n".join(lines) + "\n")
        n = self.config.n_hypotheses
        prompt = prompts.render("agent_hypothesize", feature=self.row["feature"], evidence=state["evidence"],
                                previous=previous, n=n)
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
        with self.db.atomic():  # all of a round's hypotheses or none (a resumed node writes them again)
            for idx, (text, prediction) in enumerate(texts):
                hid = store.write_hypothesis(self.db, self.agent_run_id, round=rnd, idx=idx, text=text,
                                             prediction=prediction)
                hypotheses.append({"id": hid, "round": rnd, "idx": idx, "text": text, "prediction": prediction,
                                   "verdict": None})
        for h in hypotheses[len(judged):]:
            self.say(f"  hypothesis {h['idx'] + 1}: {h['text']}")
        stop = state.get("stop")
        if not texts and not self._llm_ok(state, used):
            stop = "budget"
        return {"hypotheses": hypotheses, "observations": [], "seen": [], "guided": [], "round_steps": 0,
                "end_round": False,
                "pending": None,
                "stop": stop, **self._spent(state, used)}

    def _fewshot(self) -> bool:
        from mechanic.evals.lm import has_text_completion

        style = self.config.hypothesis_style
        return style == "fewshot" or (style == "auto" and has_text_completion(self.llm))

    def _fewshot_hypotheses(self, state: State, used: Usage, known: set[str]) -> list[tuple[str, str]]:
        """Competing hypotheses sampled from few-shot labels of different slices of the
        evidence: what small local models do far better than writing JSON prose."""
        from mechanic.agent.evidence import load_evidence
        from mechanic.agent.explainers import OneShotExplainer

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
        from mechanic.agent.evidence import load_evidence
        from mechanic.agent.explainers import OneShotExplainer

        result = OneShotExplainer(self.llm, retries=0, seed=self.config.seed).explain(
            load_evidence(self.db, self.subject, self.row))
        used.merge(result.usage)
        return [(result.text, "")] if result.status == "ok" else []

    def design(self, state: State) -> State:
        self._begin()
        used = Usage()
        if not self._tools_ok(state) or not self._llm_ok(state, used):
            return {"pending": None, "stop": "budget", **self._spent(state, used)}
        if state.get("round_steps", 0) >= self.config.steps_per_round:
            return {"pending": None, "end_round": True}
        current = self._current(state)
        hyps = "\n".join(f"{i}. {h['text']}" + (f" (quiet on: {h['prediction']})" if h.get("prediction") else "")
                         for i, h in enumerate(current, 1))
        observations = "\n\n".join(o[:600] for o in state.get("observations", [])[-4:]) or "(none yet)"
        schemas = [*(_focused(s, len(current)) for s in self.instruments.schemas(list(self.config.tools))), FINISH]
        guided = list(state.get("guided", []))
        only = next((i for i in range(1, len(current) + 1) if i not in guided), None) if self.config.guided else None
        offered = schemas
        if only is not None:  # each hypothesis gets one falsification test before free choice
            guided.append(only)
            offered = [_focused(self.instruments.schemas(["test_hypothesis"])[0], len(current), only=only)]
        tools = "\n".join(f"- {s['name']}({', '.join(s['parameters']['properties'])}): {s['description']}"
                          for s in schemas)
        prompt = prompts.render("agent_step", feature=self.row["feature"], evidence=state["evidence"], hypotheses=hyps,
                                observations=observations, tools=tools,
                                steps_left=self.config.steps_per_round - state.get("round_steps", 0))
        if only is not None:
            prompt += f"\nNow test hypothesis {only} with test_hypothesis."
        step = self.driver.next_call([{"role": "user", "content": prompt}], offered, self._validate(state, only),
                                     allow=lambda spent: self._llm_ok(state, used, spent))
        used.merge(step.usage)
        pending = None
        if step.tool and step.tool != "finish":
            pending = {"tool": step.tool, "arguments": step.arguments, "repairs": len(step.errors)}
        elif step.tool is None and step.errors:
            self.say(f"  no valid tool call after {step.attempts} attempts: {step.errors[-1]}")
        stop = state.get("stop")
        if step.tool is None and not self._llm_ok(state, used):
            stop = "budget"
        # A step with no valid call counts against the round, so a model that never
        # produces one cannot loop; finish ends the round.
        return {"pending": pending, "stop": stop, "guided": guided, "end_round": step.tool == "finish",
                "round_steps": state.get("round_steps", 0) + (step.tool is None), **self._spent(state, used)}

    def run(self, state: State) -> State:
        self._begin()
        call = state["pending"]
        key = json.dumps([call["tool"], call["arguments"]], sort_keys=True)
        current = self._current(state)
        hypothesis_id = None
        if "hypothesis" in call["arguments"]:
            hypothesis_id = current[int(call["arguments"]["hypothesis"]) - 1]["id"]
        step = state.get("step", 0)
        if key in state.get("seen", []):
            summary = "this exact experiment was already run this round; its result is above"
            tools = 0
        else:
            summary = self._run_tool(step, call["tool"], call["arguments"], hypothesis_id)
            step, tools = step + 1, 1
        return {"pending": None, "step": step, "round_steps": state.get("round_steps", 0) + 1,
                "observations": [*state.get("observations", []), f"{call['tool']}: {summary}"],
                "seen": [*state.get("seen", []), key], **self._spent(state, Usage(), tools=tools)}

    def judge(self, state: State) -> State:
        self._begin()
        rnd = state.get("round", 0)
        experiments = store.get_experiments(self.db, self.agent_run_id)
        hypotheses = []
        for h in state.get("hypotheses", []):  # each verdict is one UPDATE: rerunning the node is harmless
            if h["round"] == rnd:
                mine = [e for e in experiments if e["hypothesis_id"] == h["id"] and e["result"] is not None]
                judged = verdict([e["result"] for e in mine if e["tool"] == "test_hypothesis"],
                                 [e["result"] for e in mine if e["tool"] == "test_intervention"])
                store.judge_hypothesis(self.db, h["id"], verdict=judged["verdict"], precision=judged["precision"],
                                       recall=judged["recall"], causal_agreement=judged["causal_agreement"],
                                       details={**judged["details"], "experiments": [e["id"] for e in mine]})
                h = {**h, **{k: judged[k] for k in ("verdict", "precision", "recall", "causal_agreement")}}
                self.say(f"  judged {h['text']!r}: {h['verdict']}")
            hypotheses.append(h)
        store.update_agent_run(self.db, self.agent_run_id, usage=self._usage_row(state))
        return {"hypotheses": hypotheses, "round": rnd + 1, **self._spent(state, Usage())}

    def finalize(self, state: State) -> State:
        self._begin()
        existing = store.get_agent_run(self.db, self.agent_run_id)
        if existing and existing["explanation_id"]:  # a resumed run that had already stored it
            return {"explanation_id": existing["explanation_id"]}
        hypotheses = state.get("hypotheses", [])
        status = "budget_exhausted" if state.get("stop") == "budget" else "done"
        usage = self._usage_row(state)
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
        one was refuted) and any seed candidates, the best on the select split."""
        if not hypotheses:
            return None, {}
        survivors = [h for h in hypotheses if h.get("verdict") != "refuted"]
        rank = {"supported": 0, "inconclusive": 1, "refuted": 2}
        candidates = sorted(survivors or hypotheses, key=lambda h: (rank.get(h.get("verdict"), 1), -h["round"]))
        texts = list(dict.fromkeys([*(h["text"] for h in candidates), *self.seed_candidates]))
        scores = self._select_scores(texts)
        best = max(range(len(texts)), key=lambda i: (scores[i] is not None, scores[i] or 0.0, -i))
        return texts[best], {"all_refuted": not survivors,
                             "candidates": [{"text": t, "select_score": s} for t, s in zip(texts, scores)]}

    def _select_scores(self, texts: list[str]) -> list[float | None]:
        """Simulation score (pooled Pearson, split ``all``) of each candidate on the
        select split; all None without a simulator or a single candidate."""
        if self.simulator is None or len(texts) < 2:
            return [None] * len(texts)
        from mechanic.agent.evidence import load_scoring_set
        from mechanic.evals.records import Record, crop
        from mechanic.evals.scorers.simulation import simulation_scores_many

        selection = load_scoring_set(self.db, self.subject, self.row, "select", n_top=self.config.n_top,
                                     n_random=self.config.n_random)
        length = self.config.score_length
        records = [crop(r, length) for r in selection.top] + [
            Record(r.tokens[:length], r.activations[:length], r.kind, r.split, r.window) for r in selection.random]
        if not records:
            return [None] * len(texts)
        results = simulation_scores_many(self.simulator, texts, records, scorer_model=self.simulator_name)
        return [next((r.value for r in rs if r.split == "all"), None) for rs in results]

    # --------------------------------------------------------------- edges
    def after_hypothesize(self, state: State) -> str:
        if state.get("stop") or not self._current(state):
            return "finalize"
        return "design"

    def after_design(self, state: State) -> str:
        if state.get("pending"):
            return "run"
        if state.get("stop"):
            return "finalize"
        return "judge" if state.get("end_round") else "design"

    def after_judge(self, state: State) -> str:
        if state.get("stop") or state.get("round", 0) >= self.config.max_rounds:
            return "finalize"
        if all(h.get("verdict") == "supported" for h in state.get("hypotheses", [])):
            return "finalize"
        return "hypothesize"

    def graph(self):
        from langgraph.graph import END, START, StateGraph

        g = StateGraph(State)
        for name in ("evidence", "hypothesize", "design", "run", "judge", "finalize"):
            g.add_node(name, getattr(self, name))
        g.add_edge(START, "evidence")
        g.add_edge("evidence", "hypothesize")
        g.add_conditional_edges("hypothesize", self.after_hypothesize, ["design", "finalize"])
        g.add_conditional_edges("design", self.after_design, ["run", "design", "judge", "finalize"])
        g.add_edge("run", "design")
        g.add_conditional_edges("judge", self.after_judge, ["hypothesize", "finalize"])
        g.add_edge("finalize", END)
        return g


def _focused(schema: dict, n_hypotheses: int, only: int | None = None) -> dict:
    """A tool's schema as offered while testing hypotheses: the feature is the one
    under study (the optional ``feature`` argument is not offered) and ``hypothesis``
    can only name one that exists, so a constrained model cannot get either wrong."""
    params = json.loads(json.dumps(schema["parameters"]))
    params["properties"].pop("feature", None)
    if "hypothesis" in params["properties"]:
        params["properties"]["hypothesis"]["enum"] = [only] if only else list(range(1, n_hypotheses + 1))
    return {**schema, "parameters": params}


def _measured(h: dict) -> str:
    parts = [f"{k} {h[k]:.2f}" for k in ("precision", "recall") if h.get(k) is not None]
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
