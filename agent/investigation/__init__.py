"""The investigating agent: a langgraph graph of plain steps (:mod:`.graph`; its
nodes in :mod:`.hypothesize`, :mod:`.experiments` and :mod:`.conclude`, its
configuration and state in :mod:`.state`), run and resumed by :mod:`.run`, calling
tools through drivers (:mod:`.drivers`) whose schemas come from typed functions
(:mod:`.toolschema`), with the instruments (:mod:`.instruments`) and verdicts
(:mod:`.verdicts`)."""

from .drivers import DRIVERS, JsonStepDriver, NativeToolDriver, Step, make_driver, parse_json_object
from .experiments import FINISH
from .graph import Agent
from .instruments import Instruments, Observation, ToolCall, fires_threshold
from .run import Investigation, checkpoint_path, investigate, load_investigation, unfinished_run
from .state import DESIGN_TOOLS, METHOD, AgentConfig, State
from .toolschema import MAX_CHARS, MAX_ITEMS, ToolError, openai_tool, step_schema, tool_schema, validate_arguments
from .verdicts import MIN_TEXTS, REFUTE, SUPPORT, verdict

__all__ = [
    "DESIGN_TOOLS", "DRIVERS", "FINISH", "MAX_CHARS", "MAX_ITEMS", "METHOD", "MIN_TEXTS", "REFUTE", "SUPPORT",
    "Agent", "AgentConfig", "Instruments", "Investigation", "JsonStepDriver", "NativeToolDriver", "Observation",
    "State", "Step", "ToolCall", "ToolError", "checkpoint_path", "fires_threshold", "investigate",
    "load_investigation", "make_driver", "openai_tool", "parse_json_object", "step_schema", "tool_schema",
    "unfinished_run", "validate_arguments", "verdict",
]
