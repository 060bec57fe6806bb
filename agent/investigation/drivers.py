"""How an LLM picks the agent's next tool call: two drivers, one interface.

* :class:`JsonStepDriver` — for any model, above all small local ones: one tool call
  per step, generated under the JSON schema of ``{"tool": NAME, "arguments": {...}}``
  for the offered tools (xgrammar constrains the local model; endpoints get
  ``response_format``), parsed, validated against the tool's signature, and retried a
  bounded number of times with the validation error fed back.
* :class:`NativeToolDriver` — for endpoints with native function calling (OpenAI
  ``tools=``); when the endpoint rejects tools it falls back to JSON steps for good.

``next_call`` returns a :class:`Step`: the chosen call, or ``None`` when no valid call
came within the retries — the caller treats that as the end of the round, so a model
that cannot produce a call never loops.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from mechanic import prompts
from mechanic.evals.lm import LLM, Usage

from ..llm import ToolsUnsupported
from .toolschema import ToolError, openai_tool, step_schema

__all__ = ["DRIVERS", "Step", "JsonStepDriver", "NativeToolDriver", "ToolsUnsupported", "make_driver",
           "parse_json_object"]

DRIVERS = ("auto", "json", "native")

# Validates a call: raises ToolError with a message for the model.
Validator = Callable[[str, dict], None]


@dataclass
class Step:
    tool: str | None  # None: no valid call within the retries
    arguments: dict = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    raw: str | None = None


def parse_json_object(text: str) -> dict:
    """The first JSON object in ``text`` (a reply may wrap it in prose or fences)."""
    text = (text or "").strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        match = re.search(r"\{.*\}", text, re.DOTALL)
        if not match:
            raise ToolError("the reply holds no JSON object") from None
        try:
            value = json.loads(match.group(0))
        except json.JSONDecodeError as exc:
            raise ToolError(f"the reply is not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ToolError("the reply must be a JSON object")
    return value


def _validate_arguments(tool: str, arguments, validate: Validator) -> None:
    if not isinstance(arguments, dict):
        raise ToolError("arguments must be a JSON object")
    validate(tool, arguments)


def _repair_history(messages: Sequence[dict], reply: str, error: ToolError) -> list[dict]:
    """The conversation to retry with: the request, the unusable reply, and what was wrong."""
    return [*messages, {"role": "assistant", "content": reply},
            {"role": "user", "content": prompts.render("agent_repair", error=str(error))}]


class JsonStepDriver:
    """One tool call per step, generated under a JSON schema (see module doc)."""

    name = "json"

    def __init__(self, llm: LLM, *, retries: int = 2, max_tokens: int = 200, temperature: float = 0.0,
                 seed: int = 0):
        self.llm = llm
        self.retries = retries
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed

    def next_call(self, messages: Sequence[dict], schemas: list[dict], validate: Validator,
                  allow: Callable[[int], bool] = lambda spent: True) -> Step:
        """Ask for one call among ``schemas``; ``allow(spent)``, with the LLM calls this
        step has made so far, is checked before every LLM call (the budget), and a
        refusal ends the step with no call."""
        step = Step(None)
        schema = step_schema(schemas)
        names = {s["name"] for s in schemas}
        history = [dict(m) for m in messages]
        for attempt in range(self.retries + 1):
            if not allow(step.usage.calls):
                break
            # A repeat at temperature 0 would repeat the same mistake.
            temperature = self.temperature if attempt == 0 else max(self.temperature, 0.7)
            completion = self.llm.complete(history, max_tokens=self.max_tokens, temperature=temperature,
                                           json_schema=schema, seed=self.seed + attempt)
            step.usage.add(completion)
            step.attempts += 1
            step.raw = completion.text
            try:
                call = parse_json_object(completion.text)
                tool, arguments = call.get("tool"), call.get("arguments", {})
                if tool not in names:
                    raise ToolError(f"unknown tool {tool!r}; choose one of {', '.join(sorted(names))}")
                _validate_arguments(tool, arguments, validate)
            except ToolError as exc:
                step.errors.append(str(exc))
                history = _repair_history(messages, completion.text, exc)
                continue
            step.tool, step.arguments = tool, arguments
            return step
        return step


class NativeToolDriver:
    """Native function calling through ``llm.complete_tools`` (OpenAI-compatible
    endpoints); falls back to :class:`JsonStepDriver` once the endpoint rejects tools."""

    name = "native"

    def __init__(self, llm, *, retries: int = 2, max_tokens: int = 300, temperature: float = 0.0, seed: int = 0):
        self.llm = llm
        self.retries = retries
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.fallback: JsonStepDriver | None = None

    def next_call(self, messages: Sequence[dict], schemas: list[dict], validate: Validator,
                  allow: Callable[[int], bool] = lambda spent: True) -> Step:
        if self.fallback is not None:
            return self.fallback.next_call(messages, schemas, validate, allow)
        step = Step(None)
        tools = [openai_tool(s) for s in schemas]
        history = [dict(m) for m in messages]
        for attempt in range(self.retries + 1):
            if not allow(step.usage.calls):
                break
            try:
                completion = self.llm.complete_tools(history, tools, max_tokens=self.max_tokens,
                                                     temperature=self.temperature, seed=self.seed + attempt)
            except ToolsUnsupported:
                self.fallback = JsonStepDriver(self.llm, retries=self.retries, max_tokens=self.max_tokens,
                                               temperature=self.temperature, seed=self.seed)
                fallen = self.fallback.next_call(messages, schemas, validate,
                                                 lambda spent: allow(spent + step.usage.calls))
                fallen.usage.merge(step.usage)
                fallen.attempts += step.attempts
                return fallen
            step.usage.add(completion)
            step.attempts += 1
            calls = completion.raw.get("tool_calls") or []
            step.raw = json.dumps(calls) if calls else completion.text
            try:
                if not calls:  # some servers put the call in the text
                    call = parse_json_object(completion.text)
                    tool, arguments = call.get("tool") or call.get("name"), call.get("arguments", {})
                else:
                    tool = calls[0]["name"]
                    arguments = calls[0]["arguments"]
                    if isinstance(arguments, str):
                        arguments = parse_json_object(arguments or "{}")
                if tool not in {s["name"] for s in schemas}:
                    raise ToolError(f"unknown tool {tool!r}")
                _validate_arguments(tool, arguments, validate)
            except ToolError as exc:
                step.errors.append(str(exc))
                history = _repair_history(messages, step.raw or "", exc)
                continue
            step.tool, step.arguments = tool, arguments
            return step
        return step


def make_driver(kind: str, llm, **options):
    """``json``, ``native``, or ``auto`` (native when the backend offers
    ``complete_tools``, else JSON steps)."""
    if kind not in DRIVERS:
        raise ValueError(f"driver must be one of {DRIVERS}, got {kind!r}")
    native = callable(getattr(llm, "complete_tools", None))
    if kind == "native" and not native:
        raise ToolError(f"{llm.name} has no native function calling; use the json driver")
    if kind == "native" or (kind == "auto" and native):
        return NativeToolDriver(llm, **options)
    return JsonStepDriver(llm, **options)
