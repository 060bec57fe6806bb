"""What a labeling run is configured by: methods, scorers, and the frozen
:class:`LabelConfig` whose hash keys every stored explanation (and so resume)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mechanic import store
from mechanic.evals.offline import DEFAULT_SIMULATOR, OFFLINE_SIMULATORS
from mechanic.tools import MechanicError

__all__ = ["AGENT_METHODS", "LLM_METHODS", "CONTROLS", "DEFAULT_METHODS", "DEFAULT_SIMULATOR", "METHODS", "SCORERS", "LabelConfig", "method_rank"]

DEFAULT_METHODS = ("tokens", "oneshot", "bestofk")
# search: descriptions composed from a grammar and chosen by the simulator, no LLM
LLM_METHODS = ("oneshot", "bestofk")
# agent: an investigation per feature; tiered: search, then the agent where the search scores low
AGENT_METHODS = ("agent", "tiered")
METHODS = (*DEFAULT_METHODS, "search", *AGENT_METHODS)
SCORERS = ("simulation", "detection", "fuzzing", "embedding", "intervention")
CONTROLS = ("random", "shuffled")

# The most elaborate method first: the shuffled floor borrows that method's explanation.
_RANK = {"agent": 0, "tiered": 0, "bestofk": 1, "search": 2, "oneshot": 3, "tokens": 4}


def method_rank(method: str) -> int:
    """How elaborate ``method`` is (0 most); unknown methods rank last."""
    return _RANK.get(method, len(set(_RANK.values())))


@dataclass(frozen=True)
class LabelConfig:
    """Everything that changes what ``label`` produces (its hash keys resume)."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    explainer: str = "local"  # local | local:SPEC | openai:MODEL
    simulator: str = DEFAULT_SIMULATOR  # scores simulation, detection, fuzzing: embedding | trained | LLM spec
    scorers: tuple[str, ...] = ("simulation", "detection", "embedding", "intervention")
    k: int = 5  # best-of-k candidates
    agent_llm_calls: int = 24  # agent and tiered: budgets per investigation
    agent_tool_calls: int = 24
    agent_seconds: float = 900.0
    threshold: float = 0.3  # tiered: the agent runs where search's select-split simulation score is below this
    n_top: int = 5  # held-out top windows scored per feature (test split)
    n_deciles: int = 10  # held-out activating windows across deciles (detection, fuzzing)
    n_random: int = 5  # held-out random windows
    n_hard_negatives: int = 5
    score_length: int = 32  # tokens per scored window (cropped around the peak)
    style: str = "auto"  # explainer prompt: auto | chat | fewshot
    seed: int = 0
    # what is captured first when missing
    corpus: str = "default"
    n_tokens: int = 20_000
    window: int = 64

    def __post_init__(self):
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise MechanicError(f"unknown method {bad[0] if bad else '(none)'}; choose from {', '.join(METHODS)}")
        bad = [s for s in self.scorers if s not in SCORERS]
        if bad:
            raise MechanicError(f"unknown scorer {bad[0]!r}; choose from {', '.join(SCORERS)}")
        if self.k < 1:
            raise MechanicError("--k must be at least 1")
        _check_llm_spec(self.explainer, "--explainer")
        if self.simulator.partition(":")[0] not in OFFLINE_SIMULATORS:
            _check_llm_spec(self.simulator, "--simulator", also=OFFLINE_SIMULATORS)

    def hash(self) -> str:
        return store.config_hash(asdict(self))


def _check_llm_spec(spec: str, option: str, also: tuple[str, ...] = ()) -> None:
    """Refuse an LLM spec that is not ``local``, ``local:MODEL`` or ``openai:MODEL``
    before anything runs (a bad one would otherwise fail once per feature)."""
    kind, sep, rest = (spec or "").partition(":")
    if (kind == "local" and (not sep or rest)) or (kind == "openai" and rest):
        return
    choices = ", ".join((*also, "local", "local:MODEL", "openai:MODEL"))
    raise MechanicError(f"{option}: unknown LLM {spec!r}; use one of {choices}")
