"""The investigation graph (see :mod:`.run`): its nodes, its edges and its builder.

Each node is a plain function ``state -> partial state``; what must not live in the
checkpointed state (the store, the model, the LLM, the instruments) is held by
:class:`Agent`, whose bound methods are the nodes. The nodes come in three groups:
forming hypotheses (:mod:`.hypothesize`), experimenting (:mod:`.experiments`) and
concluding (:mod:`.conclude`); the edges below route between them.
"""

from __future__ import annotations

from .conclude import ConclusionNodes
from .experiments import ExperimentNodes
from .hypothesize import HypothesisNodes
from .selftest import SelfTestNodes
from .state import State

__all__ = ["Agent"]


class Agent(HypothesisNodes, ExperimentNodes, SelfTestNodes, ConclusionNodes):
    """The graph's nodes, closed over what must not live in the checkpointed state
    (the store, the model, the LLM); the constructor is :class:`~.context.AgentContext`'s."""

    # --------------------------------------------------------------- edges
    def after_hypothesize(self, state: State) -> str:
        if not self._current(state):
            return "finalize"
        return "instrument_tests" if state.get("stop") else "design"

    def after_design(self, state: State) -> str:
        if state.get("pending"):
            return "run"
        if state.get("stop") or state.get("end_round"):
            # every hypothesis is tested by the instruments and judged, even out of budget: the
            # experiments run before the budget ran out count
            return "instrument_tests" if self._current(state) else "finalize"
        return "design"

    def after_judge(self, state: State) -> str:
        if state.get("stop") or state.get("round", 0) >= self.config.max_rounds:
            return "finalize"
        if all(h.get("verdict") == "supported" for h in state.get("hypotheses", [])):
            return "finalize"
        return "hypothesize"

    # --------------------------------------------------------------- graph
    def graph(self):
        """The uncompiled ``StateGraph``: compile it with a checkpointer to run it."""
        from langgraph.graph import END, START, StateGraph  # langgraph loads only when a graph is built

        g = StateGraph(State)
        for name in ("evidence", "hypothesize", "design", "run", "instrument_tests", "judge", "finalize"):
            g.add_node(name, getattr(self, name))
        g.add_edge(START, "evidence")
        g.add_edge("evidence", "hypothesize")
        g.add_conditional_edges("hypothesize", self.after_hypothesize, ["design", "instrument_tests", "finalize"])
        g.add_conditional_edges("design", self.after_design, ["run", "design", "instrument_tests", "finalize"])
        g.add_edge("run", "design")
        g.add_edge("instrument_tests", "judge")
        g.add_conditional_edges("judge", self.after_judge, ["hypothesize", "finalize"])
        g.add_edge("finalize", END)
        return g
