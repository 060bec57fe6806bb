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


_TEXT_ARGUMENTS = ("texts", "text", "text_a", "text_b", "activating", "near_miss", "positive", "negative")


def _held_out_score(db, explanation_id: int) -> float | None:
    """The explanation's simulation score (Pearson, all held-out test windows)."""
    return next((s["value"] for s in store.get_scores(db, explanation_id)
                 if (s["scorer"], s["split"], s["metric"]) == ("simulation", "all", "pearson")), None)


def cost_ledger(db, feature_id: int, config_hash: str, agent: dict, experiments: list[dict]) -> dict:
    """What the investigation cost beside a one-shot explanation from the same LLM,
    when one is stored under the same configuration: LLM calls, tokens, probes (texts
    the agent had measured: every text argument of its experiments, the evidence
    excluded) and experiments, the held-out simulation score of each, and the score
    gained per extra LLM call. Both scores are on the test split, never on the
    agent's own probe texts."""
    usage = agent.get("usage") or {}
    mine = [e for e in experiments if e.get("hypothesis_id") is not None or e["step"] >= 3]
    probes = sum(len(v) if isinstance(v, list) else 1 for e in mine for k, v in (e["arguments"] or {}).items()
                 if k in _TEXT_ARGUMENTS)
    row = {"agent": {"llm_calls": usage.get("llm_calls", 0),
                     "tokens": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0),
                     "experiments": len(mine), "probes": probes, "score": agent.get("score")}}
    oneshot = [e for e in store.get_explanations(db, feature_id=feature_id, config_hash=config_hash,
                                                 role="explanation", method="oneshot") if e["status"] == "ok"]
    if oneshot:
        base = oneshot[-1]
        row["oneshot"] = {"llm_calls": base["llm_calls"], "tokens": base["prompt_tokens"] + base["completion_tokens"],
                          "score": _held_out_score(db, base["id"]), "text": base["text"]}
        extra = row["agent"]["llm_calls"] - base["llm_calls"]
        a, b = row["agent"]["score"], row["oneshot"]["score"]
        row["gain_per_call"] = (a - b) / extra if a is not None and b is not None and extra > 0 else None
    return row


def investigation_report(db, model_name: str, feature: str, config_hash: str) -> dict:
    """The stored investigation of ``feature`` under a labeling configuration: its
    hypotheses, experiments, final explanation and that explanation's test scores,
    and its cost beside a one-shot baseline (:func:`cost_ledger`)."""
    row = store.get_feature(db, model_name, feature)
    found = [e for e in store.get_explanations(db, feature_id=row["id"], config_hash=config_hash, role="explanation")
             if e["method"] in AGENT_METHODS] if row else []
    if not found:
        raise MechanicError(f"no investigation of {feature} is stored")
    expl = found[-1]
    agent_run_id = expl["details"].get("agent_run_id")
    run = store.get_agent_run(db, agent_run_id) if agent_run_id else None
    experiments = store.get_experiments(db, agent_run_id) if run else []
    usage = (run or {}).get("usage") or {}
    ledger = cost_ledger(db, row["id"], config_hash, {"usage": usage, "score": _held_out_score(db, expl["id"])},
                         experiments)
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
        "usage": usage,
        "ledger": ledger,
    }


def investigate_feature(db, subject, feature, config: LabelConfig, *, progress: Callable[[str], None] | None = None,
                        make_llm=None, baseline: bool = True) -> dict:
    """Capture ``feature`` if needed, investigate it through ``label`` with method
    ``agent`` (so the final explanation is scored on the test split beside the random
    floor), and return :func:`investigation_report`. ``config``'s methods are
    replaced by ``("agent",)``, with ``baseline``, ``("oneshot", "agent")``: one call
    of the same LLM, scored the same way, for the cost ledger."""
    config = replace(config, methods=("oneshot", "agent") if baseline else ("agent",))
    summary = label(db, subject, [feature], config, progress=progress, make_llm=make_llm)
    return investigation_report(db, subject.name, str(feature), summary.config_hash)
