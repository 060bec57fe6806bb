"""Agent runs, their hypotheses and experiments (migration 3).

An agent run is one investigation of a feature or one answered question. Each
hypothesis it formed and each instrument call it made is a row, so an investigation
can be audited, compared and resumed: experiments are keyed by ``(agent_run_id,
step)`` and hypotheses by ``(agent_run_id, round, idx)``, and writing one that
exists returns the stored row's id instead of adding a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlite_utils

from ._common import from_json, now, plain_number, to_json

__all__ = [
    "AGENT_KINDS",
    "AGENT_STATUSES",
    "VERDICTS",
    "checkpoints_path",
    "finish_agent_run",
    "get_agent_run",
    "get_agent_runs",
    "get_experiments",
    "get_hypotheses",
    "judge_hypothesis",
    "reopen_agent_run",
    "start_agent_run",
    "unfinished_agent_run",
    "update_agent_run",
    "write_experiment",
    "write_hypothesis",
]

AGENT_KINDS = ("investigate", "ask")
AGENT_STATUSES = ("running", "done", "budget_exhausted", "failed", "interrupted")
VERDICTS = ("supported", "partial", "refuted", "inconclusive")


def start_agent_run(db: sqlite_utils.Database, *, run_id: int, kind: str, budgets: Mapping[str, Any],
                    feature_id: int | None = None, feature: str | None = None, question: str | None = None,
                    explainer_model: str | None = None) -> int:
    """Record the start of an investigation (``feature_id``/``feature``) or a question; return its id."""
    if kind not in AGENT_KINDS:
        raise ValueError(f"kind must be one of {AGENT_KINDS}, got {kind!r}")
    if (kind == "ask") != (question is not None):
        raise ValueError("an 'ask' run has a question and an 'investigate' run has none")
    row = {"run_id": run_id, "kind": kind, "feature_id": feature_id, "feature": feature, "question": question,
           "status": "running", "explainer_model": explainer_model, "budgets": to_json(dict(budgets)),
           "started_at": now()}
    return int(db["agent_runs"].insert(row).last_pk)


def update_agent_run(db: sqlite_utils.Database, agent_run_id: int, *, usage: Mapping[str, Any] | None = None,
                     explanation_id: int | None = None, answer: Mapping[str, Any] | None = None) -> None:
    """Record usage so far, the final explanation or the answer."""
    changes: dict[str, Any] = {}
    if usage is not None:
        changes["usage"] = to_json(dict(usage))
    if explanation_id is not None:
        changes["explanation_id"] = explanation_id
    if answer is not None:
        changes["answer"] = to_json(dict(answer))
    if changes:
        db["agent_runs"].update(agent_run_id, changes)


def finish_agent_run(db: sqlite_utils.Database, agent_run_id: int, status: str, error: str | None = None) -> None:
    """Mark an agent run ``done``, ``budget_exhausted``, ``failed`` or ``interrupted``."""
    if status not in AGENT_STATUSES or status == "running":
        raise ValueError(f"status must be one of {AGENT_STATUSES[1:]}, got {status!r}")
    db["agent_runs"].update(agent_run_id, {"status": status, "error": error, "finished_at": now()})


def reopen_agent_run(db: sqlite_utils.Database, agent_run_id: int) -> None:
    """Mark a stopped agent run ``running`` again, clearing its error and end time
    (it is being resumed)."""
    db["agent_runs"].update(agent_run_id, {"status": "running", "error": None, "finished_at": None})


def unfinished_agent_run(db: sqlite_utils.Database, feature_id: int, config_hash: str, method: str) -> int | None:
    """The id of the newest agent run of this feature whose budgets record this
    ``config_hash`` and ``method`` and that stopped (``running`` or ``interrupted``)
    before storing an explanation; None when there is none."""
    found = db.execute(
        "SELECT id FROM agent_runs WHERE feature_id = ? AND explanation_id IS NULL AND status IN "
        "('running', 'interrupted') AND json_extract(budgets, '$.config_hash') = ? "
        "AND json_extract(budgets, '$.method') = ? ORDER BY id DESC LIMIT 1",
        [feature_id, config_hash, method]).fetchone()
    return int(found[0]) if found else None


def checkpoints_path(db: sqlite_utils.Database) -> str:
    """Where the (langgraph) checkpoints of this store's agent runs live: a file
    beside the store's (``NAME.checkpoints.sqlite``), or ``":memory:"`` for an
    in-memory store."""
    rows = db.execute("PRAGMA database_list").fetchall()
    main = next((r[2] for r in rows if r[1] == "main"), "")
    if not main:
        return ":memory:"
    path = Path(main)
    return str(path.with_name(path.stem + ".checkpoints.sqlite"))


def _decode_run(row: dict) -> dict:
    row = dict(row)
    for key in ("budgets", "usage", "answer"):
        row[key] = from_json(row.get(key))
    return row


def get_agent_run(db: sqlite_utils.Database, agent_run_id: int) -> dict | None:
    """One agent run with its JSON columns decoded, or None."""
    rows = list(db.query("SELECT * FROM agent_runs WHERE id = ?", [agent_run_id]))
    return _decode_run(rows[0]) if rows else None


def get_agent_runs(db: sqlite_utils.Database, *, feature_id: int | None = None, kind: str | None = None,
                   status: str | None = None) -> list[dict]:
    """Agent runs matching every given filter, oldest first."""
    where, params = [], []
    for column, value in (("feature_id", feature_id), ("kind", kind), ("status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM agent_runs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
    return [_decode_run(r) for r in db.query(sql, params)]


def write_hypothesis(db: sqlite_utils.Database, agent_run_id: int, *, round: int, idx: int, text: str,
                     prediction: str | None = None) -> int:
    """Store an open hypothesis; if ``(agent_run_id, round, idx)`` is stored already
    (a resumed run), return that row's id unchanged."""
    if not text or not text.strip():
        raise ValueError("a hypothesis needs text")
    found = db.execute("SELECT id FROM hypotheses WHERE agent_run_id = ? AND round = ? AND idx = ?",
                       [agent_run_id, round, idx]).fetchone()
    if found:
        return int(found[0])
    row = {"agent_run_id": agent_run_id, "round": round, "idx": idx, "text": text.strip(), "prediction": prediction,
           "status": "open", "created_at": now()}
    return int(db["hypotheses"].insert(row).last_pk)


def judge_hypothesis(db: sqlite_utils.Database, hypothesis_id: int, *, verdict: str, precision: float | None = None,
                     recall: float | None = None, causal_agreement: float | None = None,
                     details: Mapping[str, Any] | None = None) -> None:
    """Record the verdict on a hypothesis and the measurements behind it."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    db["hypotheses"].update(hypothesis_id, {
        "status": "judged", "verdict": verdict, "precision": plain_number(precision), "recall": plain_number(recall),
        "causal_agreement": plain_number(causal_agreement), "details": to_json(dict(details)) if details else None})


def get_hypotheses(db: sqlite_utils.Database, agent_run_id: int) -> list[dict]:
    """Hypotheses of one agent run in the order they were formed, details decoded."""
    rows = db.query("SELECT * FROM hypotheses WHERE agent_run_id = ? ORDER BY round, idx", [agent_run_id])
    return [{**r, "details": from_json(r["details"]) or {}} for r in rows]


def write_experiment(db: sqlite_utils.Database, agent_run_id: int, *, step: int, tool: str,
                     arguments: Mapping[str, Any], result: Any = None, summary: str | None = None,
                     error: str | None = None, elapsed: float = 0.0, hypothesis_id: int | None = None) -> int:
    """Store one instrument call; if step ``step`` of this run is stored already (a
    resumed run), return that row's id unchanged."""
    found = db.execute("SELECT id FROM experiments WHERE agent_run_id = ? AND step = ?",
                       [agent_run_id, step]).fetchone()
    if found:
        return int(found[0])
    row = {"agent_run_id": agent_run_id, "step": step, "hypothesis_id": hypothesis_id, "tool": tool,
           "arguments": to_json(dict(arguments)), "result": None if result is None else to_json(result),
           "summary": summary, "error": error, "elapsed": float(elapsed), "created_at": now()}
    return int(db["experiments"].insert(row).last_pk)


def get_experiments(db: sqlite_utils.Database, agent_run_id: int, *, step: int | None = None) -> list[dict]:
    """Experiments of one agent run in step order (or only ``step``), JSON decoded."""
    sql, params = "SELECT * FROM experiments WHERE agent_run_id = ?", [agent_run_id]
    if step is not None:
        sql, params = sql + " AND step = ?", params + [step]
    rows = db.query(sql + " ORDER BY step", params)
    return [{**r, "arguments": from_json(r["arguments"]), "result": from_json(r["result"])} for r in rows]
