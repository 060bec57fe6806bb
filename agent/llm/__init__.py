"""Language-model backends for explainers and scorers.

* :class:`LocalLLM` — in-process transformers (by default the embedded subject model);
  chat completion, plain text completion (:class:`~mechanic.evals.lm.TextCompleter`),
  JSON-schema-constrained output (xgrammar) and exact slot log-probabilities
  (:class:`~mechanic.evals.lm.SlotScorer`).
* :class:`OpenAILLM` — any OpenAI-compatible endpoint, with bounded retries and a
  concurrency limit; chat only, no log-probabilities.
* :class:`ScriptedLLM` — scripted replies, for tests.

``make_llm("local" | "local:MODEL" | "openai:MODEL")`` builds one from a spec string.
"""

from mechanic.evals.lm import (
    LLM,
    Completion,
    LLMError,
    SlotScorer,
    TextCompleter,
    Usage,
    has_slots,
    has_text_completion,
)

from .factory import LLM_SPECS, make_llm, preflight
from .local import LocalLLM
from .openai_backend import OpenAILLM, ToolsUnsupported
from .scripted import ScriptedLLM

__all__ = [
    "LLM",
    "LLM_SPECS",
    "Completion",
    "LLMError",
    "LocalLLM",
    "OpenAILLM",
    "ScriptedLLM",
    "SlotScorer",
    "TextCompleter",
    "ToolsUnsupported",
    "Usage",
    "has_slots",
    "has_text_completion",
    "make_llm",
    "preflight",
]
