"""The agent as a labeling method: ``label --method agent`` and ``--method tiered``.

* ``agent`` — an investigation per feature (:func:`mechanic.agent.investigation.investigate`)
  with the run's explainer, simulator and budgets; the description search's best
  candidates join its first hypotheses (tested by the instruments like the rest,
  read by the run's offline simulator) and the final choice on *select*.
* ``tiered`` — description search first (no LLM); when the searched description's
  simulation score on the *select* split is below the threshold the agent
  investigates, with the search's best candidates competing against its surviving
  hypotheses. Either way one explanation with method ``tiered`` is stored, and its
  details say which path produced it. Labeling 100k features this way costs an LLM
  call only where the search falls short.

Both run in the calling thread (they write to the store as they go) and resume an
interrupted investigation of the same feature under the same configuration.
"""

from __future__ import annotations

from typing import Callable

from mechanic import store
from mechanic.evals.lm import Usage

from ..evidence import load_evidence, load_scoring_set
from ..explainers import SearchExplainer
from ..investigation import AgentConfig, investigate, unfinished_run
from .config import LabelConfig
from .models import Models
from .scorers import score_records

__all__ = ["agent_config", "explain_with_agent"]


def agent_config(config: LabelConfig) -> AgentConfig:
    """The investigation settings a :class:`~.config.LabelConfig` implies."""
    return AgentConfig(max_llm_calls=config.agent_llm_calls, max_tool_calls=config.agent_tool_calls,
                       max_seconds=config.agent_seconds, n_top=config.n_top, n_random=config.n_random,
                       score_length=config.score_length, seed=config.seed,
                       guided={"on": True, "off": False}.get(config.agent_guided, "auto"))


def _search(db, subject, row: dict, models: Models, usage: Usage):
    """The description search on this feature (an ``ExplainResult``), its cost merged into ``usage``."""
    config = models.config
    selection = load_scoring_set(db, subject, row, "select", n_top=config.n_top, n_random=config.n_random)
    found = SearchExplainer(models.search_simulator, score_records(selection, config), models.embedder,
                            memo=models.searched).explain(
        load_evidence(db, subject, row))
    usage.merge(found.usage)
    return found


def _seeds(found) -> tuple[str, ...]:
    """The search's best descriptions, to compete with the agent's hypotheses on select."""
    if found.status != "ok":
        return ()
    return tuple(dict.fromkeys([found.text, *(c["text"] for c in found.details.get("candidates", []))]))[:3]


_USAGE = ("llm_calls", "prompt_tokens", "completion_tokens", "seconds")


def _agent_explanation(db, feature_id: int, chash: str) -> dict | None:
    """The feature's finished ``agent`` explanation under this configuration, if any."""
    done = [e for e in store.get_explanations(db, feature_id=feature_id, method="agent", role="explanation",
                                              config_hash=chash) if e["status"] == "ok"]
    return done[-1] if done else None


def explain_with_agent(db, subject, row: dict, method: str, models: Models, run_id: int, chash: str,
                       say: Callable[[str], None] = lambda m: None) -> tuple[dict, Usage]:
    """Explain one feature by ``method`` (agent or tiered); returns the stored
    explanation row and what the explainer LLM spent."""
    config = models.config
    usage = Usage()
    found = _search(db, subject, row, models, usage)
    seeds = _seeds(found)
    rules = {found.text: found.details["rule"]} if found.status == "ok" and found.details.get("rule") else {}
    value = found.details.get("select_score") if found.status == "ok" else None
    if method == "tiered":
        if value is not None and value >= config.threshold:
            eid = store.write_explanation(
                db, feature_id=row["id"], run_id=run_id, method="tiered", config_hash=chash, text=found.text,
                explainer_model=found.explainer_model, usage=found.usage.to_dict(),
                details={**found.details, "source": "search", "threshold": config.threshold})
            return store.get_explanation(db, eid), usage
        if (done := _agent_explanation(db, row["id"], chash)) is not None:
            # this run's `agent` method investigated the feature already, from the same search
            # results with the same settings: that investigation is what tiered would run
            say(f"  {row['feature']}: search scored {value if value is None else round(value, 3)} on select "
                f"(< {config.threshold}); the agent's investigation of it in this run stands")
            eid = store.write_explanation(
                db, feature_id=row["id"], run_id=run_id, method="tiered", config_hash=chash, text=done["text"],
                explainer_model=done["explainer_model"], usage={k: done[k] for k in _USAGE},
                details={**(done["details"] or {}), "source": "agent", "search": seeds[0] if seeds else None,
                         "threshold": config.threshold, "investigation_of": done["id"]})
            return store.get_explanation(db, eid), usage
        say(f"  {row['feature']}: search scored {value if value is None else round(value, 3)} on select "
            f"(< {config.threshold}); investigating")
    result = investigate(
        db, subject, row, models.explainer_llm, agent_config(config), run_id=run_id, config_hash=chash,
        simulator=models.simulator, simulator_name=models.simulator_name, method=method, seed_candidates=seeds,
        seed_rules=rules, test_simulator=models.search_simulator, resume=unfinished_run(db, row["id"], chash, method), embedder=lambda: models.embedder, progress=say)
    spent = result.usage or {}
    usage.merge(Usage(spent.get("llm_calls", 0), spent.get("prompt_tokens", 0), spent.get("completion_tokens", 0),
                      spent.get("seconds", 0.0)))
    if method == "tiered":
        expl = store.merge_explanation_details(db, result.explanation_id, {
            "source": "agent", "search": seeds[0] if seeds else None, "threshold": config.threshold})
    else:
        expl = store.get_explanation(db, result.explanation_id)
    return expl, usage
