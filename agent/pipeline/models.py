"""The LLMs, simulator and embedder of one run, built once and only when needed."""

from __future__ import annotations

from typing import Callable

from mechanic.evals.embedding import Embedder, default_embedder
from mechanic.evals.lm import LLM
from mechanic.evals.offline import DEFAULT_SIMULATOR, OFFLINE_SIMULATORS, offline_simulator
from mechanic.evals.simulators import make_simulator
from mechanic.tools import Subject

from ..llm import preflight
from .config import AGENT_METHODS, LLM_METHODS, LabelConfig

__all__ = ["Models"]


class Models:
    """What a label or bench run explains and scores with. Each resource is built on
    first use: a run of the ``tokens`` method alone never loads an LLM."""

    def __init__(self, subject: Subject | None, config: LabelConfig, make_llm: Callable[[str, Subject], LLM]):
        self.subject = subject
        self.config = config
        self._make_llm = make_llm
        self._cache: dict[str, object] = {}
        # The description search's result per feature: search, bestofk, tiered and the
        # agent all build on it, and within one run it is the same for all of them.
        self.searched: dict[str, object] = {}

    def _get(self, key: str, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def llm(self, spec: str) -> LLM:
        return self._get(f"llm:{spec}", lambda: self._make_llm(spec, self.subject))

    def endpoint_specs(self, extra: tuple[str, ...] = ()) -> list[str]:
        """The LLM specs of this run that name an endpoint (``openai:…``): the
        explainer's when a method asks an LLM, the simulator's when it is one, and
        ``extra`` (a bench judge)."""
        specs = list(extra)
        if any(m in LLM_METHODS or m in AGENT_METHODS for m in self.config.methods):
            specs.append(self.config.explainer)
        uses_simulator = bool(self.config.scorers) or "bestofk" in self.config.methods
        if uses_simulator and not self.is_offline:
            specs.append(self.config.simulator)
        return [s for s in dict.fromkeys(specs) if s.partition(":")[0] == "openai"]

    def preflight(self, extra: tuple[str, ...] = ()) -> None:
        """Before a long run: one small request to every endpoint the run will call,
        so a missing key, a closed port or a URL that is not an endpoint fails at once
        with its cause (``LLMError``) instead of once per feature."""
        for spec in self.endpoint_specs(extra):
            preflight(self.llm(spec))

    @property
    def explainer_llm(self) -> LLM:
        return self.llm(self.config.explainer)

    @property
    def simulator_llm(self) -> LLM:
        return self.llm(self.config.simulator)

    @property
    def is_offline(self) -> bool:
        """Whether the simulator needs no LLM (``embedding`` or ``trained``)."""
        return self.config.simulator.partition(":")[0] in OFFLINE_SIMULATORS

    @property
    def simulator(self):
        if self.is_offline:
            return self._get("simulator", lambda: offline_simulator(self.config.simulator))
        return self._get("simulator", lambda: make_simulator(self.simulator_llm))

    @property
    def search_simulator(self):
        """What the description search reads its candidates with: the run's simulator
        when it is offline, else the default offline one. The search reads dozens of
        sentences per feature; over an endpoint that would be dozens of LLM calls."""
        if self.is_offline:
            return self.simulator
        return self._get("search_simulator", lambda: offline_simulator(DEFAULT_SIMULATOR))

    @property
    def simulator_name(self) -> str:
        return self.simulator.name if self.is_offline else self.simulator_llm.name

    @property
    def yes_no_judge(self):
        """What answers detection and fuzzing: the simulator itself when it is offline
        (its predicted levels rank the windows), else the simulator's LLM."""
        return self.simulator if self.is_offline else self.simulator_llm

    @property
    def embedder(self) -> Embedder:
        """The process-wide embedder: the offline simulators embed the same words and
        spans, and one cache serves them all."""
        return self._get("embedder", default_embedder)
