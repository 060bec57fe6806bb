"""A language model that answers from a script: the fake every agent, explainer and
scorer test uses in place of a real LLM."""

from __future__ import annotations

import asyncio
from typing import Callable, Sequence

import numpy as np
from mechanic.evals.lm import Completion, LLMError, Usage

__all__ = ["ScriptedLLM", "position_slots"]

SlotFn = Callable[[Sequence[int], Sequence[Sequence[int]], Sequence[Sequence[int]], Sequence[int]], list]


def position_slots(prefix, bodies, slots, candidates) -> list[np.ndarray]:
    """A deterministic, input-dependent ``slot_fn``: at each slot the log-probabilities
    peak at candidate ``(sum of the body up to it + len(prefix)) % len(candidates)``,
    so simulated levels vary with the text and correlations are defined."""
    out = []
    for body, positions in zip(bodies, slots):
        levels = [(sum(body[: p + 1]) + len(prefix)) % len(candidates) for p in positions]
        out.append(np.array([-np.abs(np.arange(len(candidates)) - level).astype(float) for level in levels]))
    return out


class ScriptedLLM:
    """Replies from ``replies``: a list of strings consumed in order (running out is an
    :class:`LLMError`), or a callable ``(messages, **kwargs) -> str``.

    Every call is recorded in :attr:`calls` as ``{"messages": [...], "kwargs": {...}}``.
    Token counts are word counts. Optional capabilities, off unless asked for:

    * ``slot_fn`` (same signature as ``score_slots``) makes it a
      :class:`~mechanic.evals.lm.SlotScorer`; give it the ``tokenizer`` callers use.
    * ``text_completion=True`` makes it a :class:`~mechanic.evals.lm.TextCompleter`:
      ``complete_text`` takes the next reply (a callable script gets the prompt string
      instead of messages), records ``{"prompt": ..., "messages": None, "kwargs": ...}``
      and cuts the reply at the first ``stop`` string, as a server would."""

    def __init__(self, replies: Sequence[str] | Callable[..., str], *, name: str = "scripted",
                 slot_fn: SlotFn | None = None, tokenizer: object = None, text_completion: bool = False):
        if slot_fn is not None and tokenizer is None:
            raise ValueError("a ScriptedLLM with slot_fn needs tokenizer= (SlotScorer callers tokenize with it)")
        self.name = name
        self.calls: list[dict] = []
        self.slot_calls: list[dict] = []
        self.usage = Usage()
        self.tokenizer = tokenizer
        self._reply_fn = replies if callable(replies) else None
        self._replies = [] if callable(replies) else list(replies)
        self._next = 0
        self._slot_fn = slot_fn
        if slot_fn is not None:
            self.score_slots = self._score_slots  # only then does has_slots() see it
        if text_completion:
            self.complete_text = self._complete_text  # only then does has_text_completion() see it

    def __repr__(self) -> str:
        return f"ScriptedLLM(name={self.name!r}, calls={len(self.calls)})"

    @property
    def remaining(self) -> int:
        """Scripted replies not yet used (0 for a callable script)."""
        return len(self._replies) - self._next

    def complete(self, messages: Sequence[dict], *, max_tokens: int = 256, temperature: float = 0.0,
                 json_schema: dict | None = None, seed: int | None = None) -> Completion:
        kwargs = {"max_tokens": max_tokens, "temperature": temperature, "json_schema": json_schema, "seed": seed}
        messages = [dict(m) for m in messages]
        self.calls.append({"messages": messages, "kwargs": kwargs})
        text = self._reply(messages, kwargs)
        return self._completion(text, sum(len(str(m.get("content", "")).split()) for m in messages))

    def _complete_text(self, prompt: str, *, max_tokens: int = 64, temperature: float = 0.0,
                       seed: int | None = None, stop: Sequence[str] = ("\n",)) -> Completion:
        kwargs = {"max_tokens": max_tokens, "temperature": temperature, "seed": seed, "stop": tuple(stop)}
        self.calls.append({"prompt": prompt, "messages": None, "kwargs": kwargs})
        text = self._reply(prompt, kwargs)
        cuts = [text.find(s) for s in stop if s and s in text]
        return self._completion(text[: min(cuts)] if cuts else text, len(prompt.split()))

    def _reply(self, request, kwargs: dict) -> str:
        if self._reply_fn is not None:
            return self._reply_fn(request, **kwargs)
        if self._next < len(self._replies):
            self._next += 1
            return self._replies[self._next - 1]
        raise LLMError(f"{self.name}: script exhausted after {len(self._replies)} replies "
                       f"(call {len(self.calls)} asked for one more)")

    def _completion(self, text: str, prompt_tokens: int) -> Completion:
        completion = Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=len(text.split()),
                                model=self.name, finish_reason="stop")
        self.usage.add(completion)
        return completion

    def complete_many(self, messages: Sequence[dict], n: int, *, max_tokens: int = 256,
                      temperature: float = 1.0, json_schema: dict | None = None,
                      seed: int | None = None) -> list[Completion]:
        """``n`` consecutive calls (each recorded, each consuming one reply)."""
        return [self.complete(messages, max_tokens=max_tokens, temperature=temperature,
                              json_schema=json_schema, seed=None if seed is None else seed + i)
                for i in range(n)]

    async def acomplete(self, messages: Sequence[dict], *, max_tokens: int = 256, temperature: float = 0.0,
                        json_schema: dict | None = None, seed: int | None = None) -> Completion:
        await asyncio.sleep(0)  # yield, like a real call would
        return self.complete(messages, max_tokens=max_tokens, temperature=temperature,
                             json_schema=json_schema, seed=seed)

    async def acomplete_many(self, messages: Sequence[dict], n: int, *, max_tokens: int = 256,
                             temperature: float = 1.0, json_schema: dict | None = None,
                             seed: int | None = None) -> list[Completion]:
        await asyncio.sleep(0)
        return self.complete_many(messages, n, max_tokens=max_tokens, temperature=temperature,
                                  json_schema=json_schema, seed=seed)

    def _score_slots(self, prefix: Sequence[int], bodies: Sequence[Sequence[int]],
                     slots: Sequence[Sequence[int]], candidates: Sequence[int]) -> list[np.ndarray]:
        self.slot_calls.append({"prefix": list(prefix), "bodies": [list(b) for b in bodies],
                                "slots": [list(s) for s in slots], "candidates": list(candidates)})
        result = [np.asarray(r, dtype=np.float32) for r in self._slot_fn(prefix, bodies, slots, candidates)]
        for r, s in zip(result, slots):
            if r.shape != (len(s), len(candidates)):
                raise ValueError(f"slot_fn returned shape {r.shape}, expected {(len(s), len(candidates))}")
        if len(result) != len(bodies):
            raise ValueError(f"slot_fn returned {len(result)} arrays for {len(bodies)} bodies")
        self.usage.add_slots(len(prefix) + sum(len(b) for b in bodies), 0.0)
        return result
