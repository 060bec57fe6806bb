"""The agent as a labeling method: ``label --method agent`` and ``--method tiered``.

* ``agent`` — an investigation per feature (:func:`~.investigation.investigate`)
  with the label run's explainer, simulator and budgets.
* ``tiered`` — a one-shot explanation first; when its simulation score on the
  *select* split is below the threshold the agent investigates, with the one-shot
  text competing against its surviving hypotheses. Either way one explanation with
  method ``tiered`` is stored, and its details say which path produced it.

Both run in the calling thread (they write to the store as they go) and resume an
interrupted investigation of the same feature under the same configuration.
"""

from __future__ import annotations

import json
from typing import Callable

from mechanic import store
from mechanic.evals.lm import Usage

from .evidence import load_evidence, load_scoring_set
from .investigation import AgentConfig, investigate, unfinished_run

__all__ = ["AGENT_METHODS", "agent_config", "explain_with_agent"]

AGENT_METHODS = ("agent", "tiered")


def agent_config(config) -> AgentConfig:
    """The investigation settings a :class:`~.labeling.LabelConfig` implies."""
    return AgentConfig(max_llm_calls=config.agent_llm_calls, max_tool_calls=config.agent_tool_calls,
                       max_seconds=config.agent_seconds, n_top=config.n_top, n_random=config.n_random,
                       score_length=config.score_length, seed=config.seed)


def explain_with_agent(db, subject, row: dict, method: str, models, config, run_id: int, chash: str,
                       say: Callable[[str], None] = lambda m: None) -> tuple[dict, Usage]:
    """Explain one feature by ``method`` (agent or tiered); returns the stored
    explanation row and what the explainer LLM spent."""
    from .explainers import OneShotExplainer
    from .labeling import _score_records

    usage = Usage()
    seeds: tuple[str, ...] = ()
    if method == "tiered":
        oneshot = OneShotExplainer(models.explainer_llm, style=config.style, seed=config.seed).explain(
            load_evidence(db, subject, row))
        usage.merge(oneshot.usage)
        if oneshot.status == "ok":
            from mechanic.evals.scorers.simulation import simulation_score

            selection = load_scoring_set(db, subject, row, "select", n_top=config.n_top, n_random=config.n_random)
            records = _score_records(selection, config)
            value = next((r.value for r in simulation_score(models.simulator, oneshot.text, records)
                          if r.split == "all"), None) if records else None
            if value is not None and value >= config.threshold:
                eid = store.write_explanation(
                    db, feature_id=row["id"], run_id=run_id, method=method, config_hash=chash, text=oneshot.text,
                    raw=oneshot.raw, explainer_model=oneshot.explainer_model, prompt_hash=oneshot.prompt_hash,
                    usage=oneshot.usage.to_dict(),
                    details={"source": "oneshot", "select_score": value, "threshold": config.threshold})
                return db["explanations"].get(eid), usage
            seeds = (oneshot.text,)
            say(f"  {row['feature']}: one-shot scored {value if value is None else round(value, 3)} on select "
                f"(< {config.threshold}); investigating")
    result = investigate(
        db, subject, row, models.explainer_llm, agent_config(config), run_id=run_id, config_hash=chash,
        simulator=models.simulator, simulator_name=models.simulator_name, method=method, seed_candidates=seeds,
        resume=unfinished_run(db, row["id"], chash, method), embedder=lambda: models.embedder, progress=say)
    spent = result.usage or {}
    usage.merge(Usage(spent.get("llm_calls", 0), spent.get("prompt_tokens", 0), spent.get("completion_tokens", 0),
                      spent.get("seconds", 0.0)))
    expl = db["explanations"].get(result.explanation_id)
    if method == "tiered":
        details = {**json.loads(expl["details"] or "{}"), "source": "agent", "oneshot": seeds[0] if seeds else None,
                   "threshold": config.threshold}
        db["explanations"].update(expl["id"], {"details": json.dumps(details, sort_keys=True, default=str)})
        expl = db["explanations"].get(expl["id"])
    return expl, usage



def investigation_report(db, model_name: str, feature: str, config_hash: str) -> dict:
    """The stored investigation of ``feature`` under a labeling configuration: its
    hypotheses, experiments, final explanation and that explanation's test scores."""
    from mechanic.tools import MechanicError

    row = store.get_feature(db, model_name, feature)
    found = [e for e in store.get_explanations(db, feature_id=row["id"], config_hash=config_hash, role="explanation")
             if e["method"] in AGENT_METHODS] if row else []
    if not found:
        raise MechanicError(f"no investigation of {feature} is stored")
    expl = found[-1]
    agent_run_id = expl["details"].get("agent_run_id")
    run = store.get_agent_run(db, agent_run_id) if agent_run_id else None
    experiments = store.get_experiments(db, agent_run_id) if run else []
    return {
        "feature": feature, "agent_run_id": agent_run_id, "status": run["status"] if run else "done",
        "explanation_id": expl["id"], "explanation": expl["text"], "error": expl["error"],
        "hypotheses": [{k: h[k] for k in ("id", "round", "text", "prediction", "verdict", "precision", "recall",
                                           "causal_agreement")} for h in (store.get_hypotheses(db, agent_run_id)
                                                                          if run else [])],
        "experiments": [{k: e[k] for k in ("id", "step", "tool", "arguments", "summary", "error", "elapsed",
                                           "hypothesis_id")} for e in experiments],
        "candidates": expl["details"].get("candidates", []),
        "scores": [{k: s[k] for k in ("scorer", "split", "metric", "value", "n", "error")}
                   for s in store.get_scores(db, expl["id"])],
        "usage": (run or {}).get("usage") or {},
    }


def investigate_feature(db, subject, feature, config, *, progress: Callable[[str], None] | None = None,
                        make_llm=None) -> dict:
    """Capture ``feature`` if needed, investigate it through ``label`` with method
    ``agent`` (so the final explanation is scored on the test split beside the random
    floor), and return :func:`investigation_report`. ``config`` is a
    :class:`~.labeling.LabelConfig`; its methods are replaced by ``("agent",)``."""
    from dataclasses import replace

    from .labeling import label

    config = replace(config, methods=("agent",))
    summary = label(db, subject, [feature], config, progress=progress, make_llm=make_llm)
    return investigation_report(db, subject.name, str(feature), summary.config_hash)
