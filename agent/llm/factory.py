"""Build a language-model backend from a short spec string (what ``--explainer`` takes)."""

from __future__ import annotations

from mechanic.evals.lm import LLM, LLMError
from mechanic.tools import Subject, load_subject

from .local import LocalLLM
from .openai_backend import OpenAILLM

__all__ = ["make_llm", "preflight", "LLM_SPECS"]

LLM_SPECS = (
    "local (the subject model itself, in process)",
    "local:MODEL (a load_subject spec: directory, .gguf, hub id or tiny:FAMILY)",
    "openai:MODEL (an OpenAI-compatible endpoint; $OPENAI_BASE_URL, $OPENAI_API_KEY)",
)


def make_llm(spec: str, subject: Subject | None = None, *, timeout: float = 60.0) -> LLM:
    """``local`` reuses ``subject`` when given (no second copy of the model), else loads
    the embedded default; ``local:SPEC`` loads ``SPEC``; ``openai:MODEL`` names a model
    on an OpenAI-compatible endpoint, whose requests give up after ``timeout`` seconds
    (then are retried, boundedly)."""
    kind, _, rest = (spec or "").strip().partition(":")
    if kind == "local" and not rest:
        return LocalLLM(subject)
    if kind == "local":
        return LocalLLM(load_subject(rest))
    if kind == "openai" and rest:
        return OpenAILLM(rest, timeout=timeout)
    raise LLMError(f"unknown LLM spec {spec!r}; use one of: " + "; ".join(LLM_SPECS))


def preflight(llm: LLM) -> None:
    """Check before a long run that ``llm`` answers (endpoints: one small request);
    raises :class:`LLMError` with the cause. In-process models need no check."""
    check = getattr(llm, "check", None)
    if callable(check):
        check()
