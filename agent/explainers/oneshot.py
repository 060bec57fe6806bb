"""One LLM call over the feature's evidence.

Two prompt styles, chosen by what the model can do:

* ``chat``: marked excerpts (tokens with integer levels 0-10), top input tokens,
  output-side tokens and the negative side when it is real — for capable chat models.
* ``fewshot``: a plain completion prompt over a summary of the evidence (the words the
  feature peaks on). Small local models label summarised evidence far better than raw
  excerpts, so it is the default for models that offer text completion.

An unparseable reply is retried (``retries`` times, sampling), then recorded as a
failure with its raw text.
"""

from __future__ import annotations

import random
from typing import Sequence

from mechanic import prompts
from mechanic.agent.evidence import Evidence
from mechanic.evals.lm import LLM, LLMError, Usage, has_text_completion
from mechanic.evals.records import Record

from .base import ExplainResult, ParseError, parse_explanation
from .render import render_chat_evidence, top_words

__all__ = ["OneShotExplainer", "STYLES"]

STYLES = ("auto", "chat", "fewshot")


class OneShotExplainer:
    method = "oneshot"

    def __init__(self, llm: LLM, *, style: str = "auto", retries: int = 2, max_tokens: int = 40,
                 temperature: float = 0.0, seed: int = 0):
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}")
        self.llm = llm
        self.style = ("fewshot" if has_text_completion(llm) else "chat") if style == "auto" else style
        self.retries = retries
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed

    @property
    def prompt_name(self) -> str:
        return f"explain_{self.style}"

    def prompt(self, evidence: Evidence, records: Sequence[Record] | None = None) -> str | None:
        """The prompt for ``evidence`` (optionally only ``records`` of it); None when
        there is nothing to show."""
        if self.style == "fewshot":
            words = top_words(records if records is not None else evidence.top + evidence.deciles)
            # The completion must continue the last line, not start a new one.
            return prompts.render("explain_fewshot", words=", ".join(words)).rstrip() if words else None
        if not (records if records is not None else evidence.top):
            return None
        return prompts.render("explain_chat", evidence=render_chat_evidence(evidence, records))

    def _ask(self, prompt: str, temperature: float, seed: int | None, usage: Usage) -> str:
        if self.style == "fewshot" and has_text_completion(self.llm):
            completion = self.llm.complete_text(prompt, max_tokens=self.max_tokens, temperature=temperature,
                                                seed=seed, stop=("\n",))
        else:
            completion = self.llm.complete([{"role": "user", "content": prompt}], max_tokens=self.max_tokens,
                                           temperature=temperature, seed=seed)
        usage.add(completion)
        return completion.text

    def explain(self, evidence: Evidence, records: Sequence[Record] | None = None, *,
                temperature: float | None = None, seed: int | None = None) -> ExplainResult:
        meta = dict(explainer_model=self.llm.name, prompt_hash=prompts.prompt_hash(self.prompt_name))
        prompt = self.prompt(evidence, records)
        if prompt is None:
            return ExplainResult.failure(self.method, "no activating exemplars in the train split", None, **meta)
        usage = Usage()
        temperature = self.temperature if temperature is None else temperature
        seed = self.seed if seed is None else seed
        rng = random.Random(seed)
        raw, errors = None, []
        for attempt in range(self.retries + 1):
            # Retries sample: a greedy retry would repeat the same reply.
            t = temperature if attempt == 0 else max(temperature, 0.7)
            try:
                raw = self._ask(prompt, t, rng.randrange(2**31), usage)
            except LLMError as exc:
                said = str(exc)  # the backend's own line already says "LLM call failed/rejected: ..."
                error = said if said.startswith(("LLM call", "the model refused")) else f"LLM call failed: {said}"
                return ExplainResult.failure(self.method, error, raw, usage=usage, **meta)
            try:
                text = parse_explanation(raw)
            except ParseError as exc:
                errors.append(str(exc))
                continue
            return ExplainResult(self.method, text, raw=raw, usage=usage, details={"attempts": attempt + 1}, **meta)
        return ExplainResult.failure(self.method, f"unparseable after {self.retries + 1} attempts: {errors[-1]}", raw,
                                     usage=usage, details={"errors": errors}, **meta)
