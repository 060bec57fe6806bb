"""What every node of the investigation graph shares and must not keep in the
checkpointed state: the store, the model, the LLM, the instruments and the driver;
the budget checks; and the recording of experiments (:class:`AgentContext`)."""

from __future__ import annotations

import time
from typing import Any, Callable

from mechanic import store
from mechanic.evals.lm import LLM, Usage
from mechanic.tools import Subject

from .coverage import clusters, coverage, probe_texts
from .drivers import make_driver
from .instruments import Instruments
from .state import METHOD, AgentConfig, State

__all__ = ["AgentContext", "usage_row"]


def usage_row(state: State) -> dict:
    """The usage so far as stored on the agent run: calls, tokens and seconds."""
    return {k: state.get(k, 0) for k in ("llm_calls", "tool_calls", "prompt_tokens", "completion_tokens")} | {
        "seconds": round(state.get("seconds", 0.0), 3)}


class AgentContext:
    """The resources and helpers the node groups build on (see :class:`~.graph.Agent`).

    Budgets: each node starts with :meth:`_begin`; the seconds of earlier nodes are
    in the state, those of this node are counted from there."""

    def __init__(self, db, subject: Subject, row: dict, llm: LLM, config: AgentConfig, *, agent_run_id: int,
                 run_id: int, config_hash: str, simulator=None, simulator_name: str = "",
                 embedder: Callable[[], Any] | None = None, say: Callable[[str], None] = lambda m: None,
                 method: str = METHOD, seed_candidates: tuple[str, ...] = (), seed_rules: dict | None = None,
                 test_simulator=None):
        self.method, self.seed_candidates, self.seed_rules = method, seed_candidates, dict(seed_rules or {})
        self.db, self.subject, self.row, self.llm, self.config = db, subject, row, llm, config
        self.agent_run_id, self.run_id, self.config_hash = agent_run_id, run_id, config_hash
        self.simulator, self.simulator_name = simulator, simulator_name
        self.instruments = Instruments(subject, db, row, embedder=embedder)
        self.instruments.test_simulator = test_simulator  # None: the default offline simulator
        self.driver = make_driver(config.driver, llm, retries=config.retries, seed=config.seed)
        self.say = say
        self._node_start = time.perf_counter()
        self._clusters: list[dict] | None = None

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

    def clusters(self) -> list[dict]:
        """The clusters of the top train exemplars (:func:`~.coverage.clusters`), read once."""
        if self._clusters is None:
            top = store.get_exemplars(self.db, self.row["id"], kind="top", split="train")[:10]
            self._clusters = clusters([self.subject.token_strings(e.tokens) for e in top],
                                      [e.activations for e in top])
        return self._clusters

    def coverage(self, tests: list[dict]) -> dict:
        """Which clusters the texts of these ``test_hypothesis`` results probe (:func:`~.coverage.coverage`)."""
        tokens = [self.subject.token_strings(self.subject.tokenizer(t, add_special_tokens=False)["input_ids"])
                  for t in probe_texts(tests)]
        return coverage(self.clusters(), tokens)

    # ---------------------------------------------------------- experiments
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
        """This round's hypotheses."""
        return [h for h in state.get("hypotheses", []) if h["round"] == state.get("round", 0)]
