"""What configures an investigation (:class:`AgentConfig`) and what the graph
carries from node to node and checkpoints (:class:`State`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from .drivers import DRIVERS
from .instruments import Instruments
from .toolschema import ToolError

__all__ = ["AgentConfig", "DESIGN_TOOLS", "INSTRUMENT_TESTS", "METHOD", "State"]

METHOD = "agent"
# What the LLM may call while testing hypotheses (finish is added).
DESIGN_TOOLS = ("test_hypothesis", "test_intervention", "test_on_corpus", "counterfactual", "activations",
                "minimal_pair", "exemplars", "token_rate", "output_tokens", "steer", "ablate", "compare", "feature_stats")
# What the instruments run on every hypothesis before it is judged, whatever the LLM chose.
INSTRUMENT_TESTS = ("test_on_corpus", "counterfactual")


@dataclass(frozen=True)
class AgentConfig:
    """Budgets and shape of one investigation."""

    max_llm_calls: int = 24  # every LLM call, retries included
    max_tool_calls: int = 24  # every instrument call, the evidence ones included
    max_seconds: float = 900.0
    n_hypotheses: int = 3  # asked for per round
    max_rounds: int = 2  # hypothesize-test-judge rounds
    steps_per_round: int = 4  # experiments the LLM may run per round
    retries: int = 2  # extra attempts when a reply is unusable
    hypothesis_style: str = "auto"  # json (chat models) | fewshot (sampled few-shot labels) | auto: by the model
    # first ask for one test_hypothesis per hypothesis, then let the LLM choose freely: True, False, or
    # "auto" (guided for models driven by JSON steps, the small local ones; free for native function calling)
    guided: bool | str = "auto"
    driver: str = "auto"  # auto | json | native
    tools: tuple[str, ...] = DESIGN_TOOLS
    # run by the instruments on every hypothesis before the judge (not counted against
    # max_tool_calls: bounded by the number of hypotheses); () leaves them to the LLM
    instrument_tests: tuple[str, ...] = INSTRUMENT_TESTS
    n_top: int = 5  # select-split windows to choose among candidates
    n_random: int = 5
    score_length: int = 32
    seed: int = 0

    def __post_init__(self):
        if self.hypothesis_style not in ("auto", "json", "fewshot"):
            raise ToolError("hypothesis_style must be auto, json or fewshot")
        if self.guided not in (True, False, "auto"):
            raise ToolError("guided must be true, false or auto")
        if self.driver not in DRIVERS:
            raise ToolError(f"driver must be one of {', '.join(DRIVERS)}")
        if min(self.max_llm_calls, self.max_tool_calls, self.n_hypotheses, self.max_rounds) < 1:
            raise ToolError("budgets, hypotheses and rounds must be at least 1")
        unknown = [t for t in (*self.tools, *self.instrument_tests) if t not in Instruments.tool_names()]
        if unknown:
            raise ToolError(f"unknown tool {unknown[0]!r}")

    def budgets(self) -> dict:
        return {"llm_calls": self.max_llm_calls, "tool_calls": self.max_tool_calls, "seconds": self.max_seconds}


class State(TypedDict, total=False):
    round: int
    evidence: str
    hypotheses: list[dict]  # {id, round, idx, text, prediction, verdict, precision, recall, causal_agreement}
    observations: list[str]  # summaries of this round's experiments
    step: int  # the next experiment's step number
    round_steps: int
    pending: dict | None  # the call chosen by design, run next
    seen: list[str]  # calls already run this round (a repeat is refused)
    guided: list[int]  # hypotheses (1-based, this round) whose guided test was asked for
    end_round: bool  # the LLM called finish, or the round's steps are used up
    llm_calls: int
    tool_calls: int
    instrument_calls: int  # the instruments' own tests (see AgentConfig.instrument_tests)
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    stop: str | None  # "budget" once a budget ran out
    explanation_id: int | None
    status: str | None
