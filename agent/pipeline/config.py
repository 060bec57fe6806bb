"""What a labeling run is configured by: methods, scorers, and the frozen
:class:`LabelConfig` whose hash keys every stored explanation (and so resume)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mechanic import store
from mechanic.evals.offline import DEFAULT_SIMULATOR, OFFLINE_SIMULATORS
from mechanic.tools import MechanicError

__all__ = ["AGENT_METHODS", "LLM_METHODS", "NO_SITE_KINDS", "CONTROLS", "DEFAULT_METHODS", "DEFAULT_SCORERS",
           "DEFAULT_SIMULATOR", "METHODS", "SCORERS", "SCORER_ALIASES", "LabelConfig", "canonical_scorers", "method_rank"]

DEFAULT_METHODS = ("tokens", "oneshot", "bestofk")
# search: descriptions composed from a grammar and chosen by the simulator, no LLM
LLM_METHODS = ("oneshot", "bestofk")
# agent: an investigation per feature; tiered: search, then the agent where the search scores low
AGENT_METHODS = ("agent", "tiered")
# Features the model computes at no site (text rules, records files): no experiments on
# them, so ``tiered`` falls back to best-of-k there instead of the agent.
NO_SITE_KINDS = ("rule", "records")
METHODS = (*DEFAULT_METHODS, "search", *AGENT_METHODS)
SCORERS = ("simulation", "detection", "fuzzing", "topic", "intervention")
# former names still accepted: `embedding` measured topic, not tokens, and read as if it did
SCORER_ALIASES = {"embedding": "topic"}
# What `label` scores with unless told: the scorers whose validity on the rules and planted
# suites is at least 0.70 with the default simulator (evals/validity.json, bench/validity.py).
# intervention measured 0.56 [0.33, 0.79] on planted: it stays available, not by default.
DEFAULT_SCORERS = ("simulation", "detection", "topic")
CONTROLS = ("random", "shuffled")

# The most elaborate method first: the shuffled floor borrows that method's explanation.
_RANK = {"agent": 0, "tiered": 0, "bestofk": 1, "search": 2, "oneshot": 3, "tokens": 4}


def canonical_scorers(names) -> tuple[tuple[str, ...], list[str]]:
    """``names`` with former scorer names replaced by the current ones, and a notice
    for each replacement (for the CLI to show)."""
    out, notices = [], []
    for name in names:
        new = SCORER_ALIASES.get(name)
        if new:
            notices.append(f"the scorer {name!r} is now called {new!r} (it measures whether whole windows are about "
                           f"the explanation's topic, not which tokens fire); {name!r} will stop working in a "
                           f"later version")
        out.append(new or name)
    return tuple(dict.fromkeys(out)), notices


def method_rank(method: str) -> int:
    """How elaborate ``method`` is (0 most); unknown methods rank last."""
    return _RANK.get(method, len(set(_RANK.values())))


@dataclass(frozen=True)
class LabelConfig:
    """Everything that changes what ``label`` produces (its hash keys resume)."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    explainer: str = "local"  # local | local:SPEC | openai:MODEL
    simulator: str = DEFAULT_SIMULATOR  # scores simulation, detection, fuzzing: embedding | trained | LLM spec
    scorers: tuple[str, ...] = DEFAULT_SCORERS
    k: int = 5  # best-of-k candidates
    agent_llm_calls: int = 24  # agent and tiered: budgets per investigation
    agent_tool_calls: int = 24
    agent_seconds: float = 900.0
    agent_guided: str = "auto"  # auto | on | off: the agent's first steps test each hypothesis in turn
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
    keep_first_position: bool = False  # measure each window's first token too (see CaptureConfig.first_position)

    def __post_init__(self):
        object.__setattr__(self, "scorers", canonical_scorers(self.scorers)[0])
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise MechanicError(f"unknown method {bad[0] if bad else '(none)'}; choose from {', '.join(METHODS)}")
        bad = [s for s in self.scorers if s not in SCORERS]
        if bad:
            raise MechanicError(f"unknown scorer {bad[0]!r}; choose from {', '.join(SCORERS)}")
        if self.agent_guided not in ("auto", "on", "off"):
            raise MechanicError("--guided must be auto, on or off")
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
