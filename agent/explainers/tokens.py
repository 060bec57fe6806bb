"""The floor every LLM method must beat: a description made of the feature's top input
tokens and the tokens it promotes, with no LLM at all."""

from __future__ import annotations

from mechanic.agent.evidence import Evidence

from .base import ExplainResult

__all__ = ["TokensExplainer"]


def _show(token: str) -> str:
    return repr(token.replace("\n", "\\n"))


class TokensExplainer:
    method = "tokens"

    def __init__(self, n_inputs: int = 5, n_outputs: int = 3):
        self.n_inputs = n_inputs
        self.n_outputs = n_outputs

    def explain(self, evidence: Evidence) -> ExplainResult:
        # Prefer tokens seen more than once; fall back to any when the feature is rare.
        inputs = [t for t, _, c in evidence.input_tokens if c >= 2 and t.strip()] or [
            t for t, _, _ in evidence.input_tokens if t.strip()]
        inputs = inputs[: self.n_inputs]
        if not inputs:
            return ExplainResult.failure(self.method, "no activating input tokens in the train split", None,
                                         explainer_model="none")
        text = "the tokens " + ", ".join(_show(t) for t in inputs)
        outputs = [t for t in evidence.promoted if t.strip()][: self.n_outputs]
        if outputs:
            text += "; promotes " + ", ".join(_show(t) for t in outputs)
        return ExplainResult(self.method, text, explainer_model="none", details={"inputs": inputs, "outputs": outputs})
