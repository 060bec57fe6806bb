"""Typed Python functions as LLM tools: the signature and docstring are the schema.

A tool is a function with annotated parameters (``str``, ``int``, ``float``,
``bool``, ``list[...]`` of those, ``Literal[...]``) and a docstring whose first
paragraph describes it and whose ``Args:`` section describes each parameter.
:func:`tool_schema` turns it into a JSON schema; :func:`validate_arguments` checks
what an LLM sent against the same annotations and raises :class:`ToolError` with a
message the model can act on. A ``ToolError`` is an observation for the model, not
a crash; any other exception inside a tool is a bug and propagates.
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any, Callable, Literal

from mechanic.tools import MechanicError

__all__ = ["ToolError", "MAX_ITEMS", "MAX_CHARS", "tool_schema", "step_schema", "validate_arguments",
           "openai_tool"]

MAX_ITEMS = 6  # longest list a tool accepts (keeps a small model's calls short)
MAX_CHARS = 120  # longest string a tool accepts


class ToolError(MechanicError):
    """Bad arguments or an impossible request; the message goes back to the model."""


_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _describe(fn: Callable) -> tuple[str, dict[str, str]]:
    doc = inspect.getdoc(fn) or ""
    head, _, rest = doc.partition("\nArgs:\n")
    description = " ".join(head.split("\n\n")[0].split())
    params: dict[str, str] = {}
    current = None
    for line in rest.splitlines():
        match = re.match(r"\s{2,}(\w+):\s*(.*)", line)
        if match:
            current = match.group(1)
            params[current] = match.group(2).strip()
        elif current and line.strip():
            params[current] += " " + line.strip()
    return description, params


def _type_schema(annotation: Any, name: str) -> dict:
    origin = typing.get_origin(annotation)
    if annotation in _SCALARS:
        schema: dict = {"type": _SCALARS[annotation]}
        if annotation is str:
            schema["maxLength"] = MAX_CHARS
        return schema
    if origin is Literal:
        values = list(typing.get_args(annotation))
        return {"type": _SCALARS[type(values[0])], "enum": values}
    if origin is list:
        (item,) = typing.get_args(annotation)
        return {"type": "array", "items": _type_schema(item, name), "maxItems": MAX_ITEMS}
    raise TypeError(f"tool parameter {name!r} has an unsupported annotation {annotation!r}")


def _parameters(fn: Callable) -> list[tuple[str, Any, Any]]:
    hints = typing.get_type_hints(fn)
    out = []
    for name, p in inspect.signature(fn).parameters.items():
        if name == "self":
            continue
        out.append((name, hints[name], p.default))
    return out


def tool_schema(fn: Callable, name: str | None = None) -> dict:
    """``{"name", "description", "parameters"}`` for ``fn`` (parameters as a JSON schema)."""
    description, docs = _describe(fn)
    properties, required = {}, []
    for pname, annotation, default in _parameters(fn):
        schema = _type_schema(annotation, pname)
        if pname in docs:
            schema["description"] = docs[pname]
        properties[pname] = schema
        if default is inspect.Parameter.empty:
            required.append(pname)
            if schema["type"] == "array":  # a required list is never empty (a constrained model cannot skip it)
                schema["minItems"] = 1
    parameters = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return {"name": name or fn.__name__, "description": description, "parameters": parameters}


def step_schema(schemas: list[dict]) -> dict:
    """The JSON schema of one step of the JSON-step protocol: exactly one tool call,
    ``{"tool": NAME, "arguments": {...}}``, for any of ``schemas``."""
    options = []
    for s in schemas:
        options.append({"type": "object", "properties": {"tool": {"const": s["name"]}, "arguments": s["parameters"]},
                        "required": ["tool", "arguments"], "additionalProperties": False})
    return options[0] if len(options) == 1 else {"anyOf": options}


def openai_tool(schema: dict) -> dict:
    """The schema in the OpenAI ``tools=[{"type": "function", ...}]`` format."""
    return {"type": "function", "function": dict(schema)}


def _check(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ToolError(f"{where} must be one of {', '.join(map(repr, allowed))}, not {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ToolError(f"{where} must be a list, not {type(value).__name__}")
        if len(value) > MAX_ITEMS:
            raise ToolError(f"{where} has {len(value)} items; at most {MAX_ITEMS}")
        (item,) = typing.get_args(annotation)
        return [_check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if annotation is bool:
        if not isinstance(value, bool):
            raise ToolError(f"{where} must be true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ToolError(f"{where} must be an integer, not {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ToolError(f"{where} must be a number, not {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ToolError(f"{where} must be a string, not {value!r}")
        if len(value) > MAX_CHARS:
            raise ToolError(f"{where} is {len(value)} characters; at most {MAX_CHARS}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r}")  # pragma: no cover - tool_schema rejects it first


def validate_arguments(fn: Callable, arguments: Any) -> dict:
    """``arguments`` checked against ``fn``'s annotations (ints given as 2.0 become 2);
    raises :class:`ToolError` naming the first problem."""
    if not isinstance(arguments, dict):
        raise ToolError(f"arguments must be an object, not {type(arguments).__name__}")
    params = _parameters(fn)
    known = {name for name, _, _ in params}
    unknown = sorted(set(arguments) - known)
    if unknown:
        raise ToolError(f"unknown argument {unknown[0]!r}; {fn.__name__} takes {', '.join(sorted(known)) or 'none'}")
    out = {}
    for name, annotation, default in params:
        if name not in arguments:
            if default is inspect.Parameter.empty:
                raise ToolError(f"missing argument {name!r}")
            continue
        out[name] = _check(arguments[name], annotation, name)
    return out
