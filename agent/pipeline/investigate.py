"""``mechanic investigate``: one feature through ``label`` with method ``agent``, and
the stored investigation as a report."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from mechanic import store
from mechanic.tools import MechanicError

from .config import AGENT_METHODS, LabelConfig
from .label import label

__all__ = ["investigate_feature", "investigation_report"]


def investigation_report(db, model_name: str, feature: str, config_hash: str) -> dict:
    """The stored investigation of ``feature`` under a labeling configuration: its
    hypotheses, experiments, final explanation and that explanation's test scores."""
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


def investigate_feature(db, subject, feature, config: LabelConfig, *, progress: Callable[[str], None] | None = None,
                        make_llm=None) -> dict:
    """Capture ``feature`` if needed, investigate it through ``label`` with method
    ``agent`` (so the final explanation is scored on the test split beside the random
    floor), and return :func:`investigation_report`. ``config``'s methods are
    replaced by ``("agent",)``."""
    config = replace(config, methods=("agent",))
    summary = label(db, subject, [feature], config, progress=progress, make_llm=make_llm)
    return investigation_report(db, subject.name, str(feature), summary.config_hash)
