"""The nodes that experiment: **design** (the LLM picks one experiment per step
through a driver, :mod:`.drivers`) and **run** (the instruments execute it and it is
stored). When guided (by default, models driven by JSON steps: the small local ones)
each hypothesis first gets one ``test_hypothesis``, then the LLM chooses freely until it calls ``finish`` or the
round's steps are spent; a step without a valid call counts as spent, so a model
that never produces one cannot loop."""

from __future__ import annotations

import json

from mechanic import prompts, store
from mechanic.evals.lm import Usage

from .context import AgentContext
from .drivers import NativeToolDriver
from .instruments import Instruments, hide_name, shown_name
from .state import State
from .toolschema import ToolError, validate_arguments
from .verdict_rule import rule_text

__all__ = ["ExperimentNodes", "FINISH", "clip_lines"]

FINISH = {"name": "finish", "description": "End the experiments of this round; the hypotheses are then judged.",
          "parameters": {"type": "object", "properties": {}, "required": [], "additionalProperties": False}}


class ExperimentNodes(AgentContext):
    """The design and run nodes."""

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
        found = self.clusters()
        if found:
            tested = [e["result"] for e in store.get_experiments(self.db, self.agent_run_id)
                      if e["tool"] == "test_hypothesis" and e["result"] is not None
                      and e["hypothesis_id"] in {h["id"] for h in current}]
            covered = self.coverage(tested)
            hyps += ("\nThe top excerpts peak on these tokens (clusters, with how many excerpts): "
                     + ", ".join(f"{c['token']!r} ({c['count']})" for c in found)
                     + ". No hypothesis is judged supported until test_hypothesis texts have probed every cluster; "
                     + ("not yet probed: " + ", ".join(repr(t) for t in covered["unprobed"]) if covered["unprobed"]
                        else "all are probed") + ".")
        observations = "\n\n".join(clip_lines(o) for o in state.get("observations", [])[-4:]) or "(none yet)"
        schemas = [*(_focused(s, len(current)) for s in self.instruments.schemas(list(self.config.tools))), FINISH]
        guided = list(state.get("guided", []))
        only = next((i for i in range(1, len(current) + 1) if i not in guided), None) if self._guided() else None
        offered = schemas
        if only is not None:  # each hypothesis gets one falsification test before free choice
            guided.append(only)
            offered = [_focused(self.instruments.schemas(["test_hypothesis"])[0], len(current), only=only)]
        tools = "\n".join(f"- {s['name']}({', '.join(s['parameters']['properties'])}): {s['description']}"
                          for s in schemas)
        prompt = hide_name(prompts.render("agent_step", feature=shown_name(self.row), evidence=state["evidence"],
                                          threshold=f"{self.instruments.threshold:.3g}", peak=f"{self.row['max']:.3g}",
                                          hypotheses=hyps, observations=observations, tools=tools,
                                          verdict_rule=rule_text(),
                                          steps_left=self.config.steps_per_round - state.get("round_steps", 0)),
                           self.row)
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
        self.instruments.hypotheses = [{"text": h["text"], "rule": h.get("rule") or None} for h in current]
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

    def _guided(self) -> bool:
        """Whether this round's first steps are guided (see :class:`~.state.AgentConfig`):
        under ``auto``, when the model picks its calls through JSON steps (a small local
        model, or an endpoint that rejected native tools); a model with native function
        calling chooses every experiment itself."""
        if self.config.guided != "auto":
            return bool(self.config.guided)
        return not isinstance(self.driver, NativeToolDriver) or self.driver.fallback is not None

    def _validate(self, state: State, only: int | None = None):
        """The driver's check of a proposed call: valid arguments, an existing
        hypothesis, real example texts, and (when ``only``) the guided test."""
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


def clip_lines(text: str, limit: int = 1500) -> str:
    """``text`` cut to about ``limit`` characters between lines, never inside one (a
    line is a whole result: a cut would leave half a word or half a number)."""
    lines, size = [], 0
    for i, line in enumerate(text.splitlines()):
        if lines and size + len(line) > limit:
            return "\n".join([*lines, f"(… {len(text.splitlines()) - i} more lines)"])
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def _focused(schema: dict, n_hypotheses: int, only: int | None = None) -> dict:
    """A tool's schema as offered while testing hypotheses: the feature is the one
    under study (the optional ``feature`` argument is not offered) and ``hypothesis``
    can only name one that exists, so a constrained model cannot get either wrong."""
    params = json.loads(json.dumps(schema["parameters"]))
    params["properties"].pop("feature", None)
    if "hypothesis" in params["properties"]:
        params["properties"]["hypothesis"]["enum"] = [only] if only else list(range(1, n_hypotheses + 1))
    return {**schema, "parameters": params}
