"""The node where the instruments test every hypothesis themselves
(**instrument_tests**, between the round's experiments and the judge), and how the
description search's candidates join the LLM's hypotheses.

Whatever the LLM ran (and a small model may run nothing useful), each of the
round's hypotheses gets :data:`~.state.INSTRUMENT_TESTS` — ``test_on_corpus`` and
``counterfactual`` (:mod:`.instruments.corpus_tests`) — before it is judged, so
every verdict rests on at least one test no LLM wrote. A test that cannot run on a
hypothesis (nothing it names can be edited, no fresh text) is stored with its
error, like any other call. The calls are stored as experiments tied to their
hypothesis; they count as ``instrument_calls``, not against ``max_tool_calls``.
"""

from __future__ import annotations

from mechanic import store
from mechanic.evals.lm import Usage

from .context import AgentContext
from .state import State

__all__ = ["SEARCH_SOURCE", "SelfTestNodes", "seeded_hypotheses"]

SEARCH_SOURCE = "search"


def seeded_hypotheses(texts: list[tuple[str, str]], seeds: tuple[str, ...], rules: dict[str, dict],
                      limit: int = 2) -> list[tuple[str, str, dict | None]]:
    """The LLM's ``(text, prediction)`` hypotheses, then up to ``limit`` search
    candidates not among them, each as ``(text, prediction, rule or None)``."""
    known = {t.lower() for t, _ in texts}
    out = [(t, p, None) for t, p in texts]
    for seed in seeds:
        if len(out) >= len(texts) + limit:
            break
        if seed.lower() not in known:
            known.add(seed.lower())
            out.append((seed, "", rules.get(seed) or {}))
    return out


class SelfTestNodes(AgentContext):
    """The instrument_tests node."""

    def instrument_tests(self, state: State) -> State:
        self._begin()
        current = self._current(state)
        self.instruments.hypotheses = [{"text": h["text"], "rule": h.get("rule") or None} for h in current]
        step = state.get("step", 0)
        # what the LLM already ran counts; experiments from this node's own steps (a resumed
        # node) are found again by step number in _run_tool, so nothing runs twice
        done = {(e["hypothesis_id"], e["tool"]) for e in store.get_experiments(self.db, self.agent_run_id)
                if e["step"] < step}
        observations, calls = list(state.get("observations", [])), 0
        for number, h in enumerate(current, 1):
            for name in self.config.instrument_tests:
                if (h["id"], name) in done:
                    continue
                summary = self._run_tool(step, name, {"hypothesis": number}, h["id"])
                observations.append(f"{name}: {summary}")
                step, calls = step + 1, calls + 1
        spent = self._spent(state, Usage())
        return {"step": step, "observations": observations,
                "instrument_calls": state.get("instrument_calls", 0) + calls, **spent}
