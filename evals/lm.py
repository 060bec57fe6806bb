"""What scorers and explainers need from a language model.

``evals`` defines the interface; ``mechanic.agent.llm`` implements it (in-process
transformers, any OpenAI-compatible endpoint, and a scripted model for tests). Two
capabilities:

* :class:`LLM` — chat completion, optionally constrained to a JSON schema. Every
  backend has it.
* :class:`SlotScorer` — exact next-token log-probabilities at chosen positions of
  many prompts that share a prefix. Only backends with logits have it (the local
  one); scorers fall back to logprob-free modes when it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
from mechanic.tools.errors import MechanicError

__all__ = ["Completion", "LLM", "LLMError", "SlotScorer", "TextCompleter", "Usage", "has_slots", "has_text_completion"]


class LLMError(MechanicError):
    """A language-model call that failed for good (after bounded retries), timed out,
    or returned something unusable. Its message is one line for the user."""


@dataclass
class Usage:
    """Running totals of what a caller spent; add one per call."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def add(self, completion: "Completion") -> None:
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.seconds += completion.latency

    def merge(self, other: "Usage") -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.seconds += other.seconds

    def add_slots(self, prompt_tokens: int, seconds: float) -> None:
        self.calls += 1
        self.prompt_tokens += prompt_tokens
        self.seconds += seconds

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "seconds": round(self.seconds, 3)}


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0  # seconds
    model: str = ""
    finish_reason: str | None = None
    raw: dict = field(default_factory=dict)


@runtime_checkable
class LLM(Protocol):
    """Chat completion. ``messages`` are ``{"role": ..., "content": ...}`` dicts."""

    name: str

    def complete(
        self,
        messages: Sequence[dict],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_schema: dict | None = None,
        seed: int | None = None,
    ) -> Completion: ...

    async def acomplete(
        self,
        messages: Sequence[dict],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_schema: dict | None = None,
        seed: int | None = None,
    ) -> Completion: ...


@runtime_checkable
class SlotScorer(Protocol):
    """Exact next-token log-probabilities at chosen positions.

    ``score_slots(prefix, bodies, slots, candidates)``: for each body ``b``, the
    model reads ``prefix + bodies[b]`` (token ids, no special tokens added) and, at
    every position ``p`` in ``slots[b]`` (an index into the *body*), returns the
    log-probability of each candidate token id as the *next* token after position
    ``p``. Result: one ``[len(slots[b]), len(candidates)]`` array per body. The
    prefix is computed once and shared (KV cache), bodies are batched.
    """

    name: str
    tokenizer: object

    def score_slots(
        self,
        prefix: Sequence[int],
        bodies: Sequence[Sequence[int]],
        slots: Sequence[Sequence[int]],
        candidates: Sequence[int],
    ) -> list[np.ndarray]: ...


@runtime_checkable
class TextCompleter(Protocol):
    """Plain text continuation (no chat template): what few-shot completion prompts
    need. Local backends have it; chat-only endpoints do not."""

    name: str

    def complete_text(
        self,
        prompt: str,
        *,
        max_tokens: int = 64,
        temperature: float = 0.0,
        seed: int | None = None,
        stop: Sequence[str] = ("\n",),
    ) -> Completion: ...


def has_text_completion(model: object) -> bool:
    return callable(getattr(model, "complete_text", None))


def has_slots(model: object) -> bool:
    """Whether ``model`` offers exact log-probabilities (:class:`SlotScorer`)."""
    return callable(getattr(model, "score_slots", None)) and getattr(model, "tokenizer", None) is not None
