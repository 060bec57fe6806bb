"""The agent as a labeling method: ``label --method agent`` and ``--method tiered``.

* ``agent`` — an investigation per feature (:func:`mechanic.agent.investigation.investigate`)
  with the run's explainer, simulator and budgets.
* ``tiered`` — a one-shot explanation first; when its simulation score on the
  *select* split is below the threshold the agent investigates, with the one-shot
  text competing against its surviving hypotheses. Either way one explanation with
  method ``tiered`` is stored, and its details say which path produced it.

Both run in the calling thread (they write to the store as they go) and resume an
interrupted investigation of the same feature under the same configuration.
"""

from __future__ import annotations

from typing import Callable

from mechanic import store
from mechanic.evals.lm import Usage
from mechanic.evals.scorers import simulation_score

from ..evidence import load_evidence, load_scoring_set
from ..explainers import OneShotExplainer
from ..investigation import AgentConfig, investigate, unfinished_run
from .config import LabelConfig
from .models import Models
from .scorers import score_records

__all__ = ["agent_config", "explain_with_agent"]


def agent_config(config: LabelConfig) -> AgentConfig:
    """The investigation settings a :class:`~.config.LabelConfig` implies."""
    return AgentConfig(max_llm_calls=config.agent_llm_calls, max_tool_calls=config.agent_tool_calls,
                       max_seconds=config.agent_seconds, n_top=config.n_top, n_random=config.n_random,
                       score_length=config.score_length, seed=config.seed)


def _oneshot_first(db, subject, row: dict, models: Models, run_id: int, chash: str, usage: Usage,
                   say: Callable[[str], None]) -> tuple[dict | None, tuple[str, ...]]:
    """``tiered``'s first step: (the stored explanation when one-shot scores at or
    above the threshold on ``select``, else None; the texts the agent starts from)."""
    config = models.config
    oneshot = OneShotExplainer(models.explainer_llm, style=config.style, seed=config.seed).explain(
        load_evidence(db, subject, row))
    usage.merge(oneshot.usage)
    if oneshot.status != "ok":
        return None, ()
    selection = load_scoring_set(db, subject, row, "select", n_top=config.n_top, n_random=config.n_random)
    records = score_records(selection, config)
    value = next((r.value for r in simulation_score(models.simulator, oneshot.text, records)
                  if r.split == "all"), None) if records else None
    if value is not None and value >= config.threshold:
        eid = store.write_explanation(
            db, feature_id=row["id"], run_id=run_id, method="tiered", config_hash=chash, text=oneshot.text,
            raw=oneshot.raw, explainer_model=oneshot.explainer_model, prompt_hash=oneshot.prompt_hash,
            usage=oneshot.usage.to_dict(),
            details={"source": "oneshot", "select_score": value, "threshold": config.threshold})
        return store.get_explanation(db, eid), ()
    say(f"  {row['feature']}: one-shot scored {value if value is None else round(value, 3)} on select "
        f"(< {config.threshold}); investigating")
    return None, (oneshot.text,)


def explain_with_agent(db, subject, row: dict, method: str, models: Models, run_id: int, chash: str,
                       say: Callable[[str], None] = lambda m: None) -> tuple[dict, Usage]:
    """Explain one feature by ``method`` (agent or tiered); returns the stored
    explanation row and what the explainer LLM spent."""
    config = models.config
    usage = Usage()
    seeds: tuple[str, ...] = ()
    if method == "tiered":
        stored, seeds = _oneshot_first(db, subject, row, models, run_id, chash, usage, say)
        if stored is not None:
            return stored, usage
    result = investigate(
        db, subject, row, models.explainer_llm, agent_config(config), run_id=run_id, config_hash=chash,
        simulator=models.simulator, simulator_name=models.simulator_name, method=method, seed_candidates=seeds,
        resume=unfinished_run(db, row["id"], chash, method), embedder=lambda: models.embedder, progress=say)
    spent = result.usage or {}
    usage.merge(Usage(spent.get("llm_calls", 0), spent.get("prompt_tokens", 0), spent.get("completion_tokens", 0),
                      spent.get("seconds", 0.0)))
    if method == "tiered":
        expl = store.merge_explanation_details(db, result.explanation_id, {
            "source": "agent", "oneshot": seeds[0] if seeds else None, "threshold": config.threshold})
    else:
        expl = store.get_explanation(db, result.explanation_id)
    return expl, usage
