"""Explanations and their scores.

An explanation row is what one method said about one feature, or a sanity-control
explanation (role ``control``) scored beside it, or a best-of-k candidate that was
not kept (role ``candidate``). A failed explanation is a row with status ``failed``,
its error and the raw output, and no text: it is never scored as if it were one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlite_utils

from ._common import from_json, now, plain_number, to_json, write_transaction

__all__ = [
    "get_explanation",
    "merge_explanation_details",
    "EXPLANATION_ROLES",
    "EXPLANATION_STATUSES",
    "get_explanations",
    "get_scores",
    "labeled_features",
    "latest_explanation_text",
    "searchable_explanations",
    "write_explanation",
    "write_explanation_once",
    "write_scores",
]

EXPLANATION_ROLES = ("explanation", "control", "candidate")
EXPLANATION_STATUSES = ("ok", "failed")
_USAGE_KEYS = ("llm_calls", "prompt_tokens", "completion_tokens", "seconds")


def write_explanation(
    db: sqlite_utils.Database,
    *,
    feature_id: int,
    run_id: int,
    method: str,
    config_hash: str,
    text: str | None,
    status: str = "ok",
    role: str = "explanation",
    error: str | None = None,
    raw: str | None = None,
    explainer_model: str | None = None,
    prompt_hash: str | None = None,
    usage: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Store one explanation; return its id."""
    row = _explanation_row(feature_id=feature_id, run_id=run_id, method=method, config_hash=config_hash, text=text,
                           status=status, role=role, error=error, raw=raw, explainer_model=explainer_model,
                           prompt_hash=prompt_hash, usage=usage, details=details)
    return int(db["explanations"].insert(row).last_pk)


def _explanation_row(*, feature_id, run_id, method, config_hash, text, status, role, error, raw, explainer_model,
                     prompt_hash, usage, details) -> dict:
    if role not in EXPLANATION_ROLES:
        raise ValueError(f"role must be one of {EXPLANATION_ROLES}, got {role!r}")
    if status not in EXPLANATION_STATUSES:
        raise ValueError(f"status must be one of {EXPLANATION_STATUSES}, got {status!r}")
    if status == "ok" and not (text and text.strip()):
        raise ValueError("an explanation with status 'ok' needs non-empty text")
    if status == "failed" and text is not None:
        raise ValueError("a failed explanation has no text; keep the output in raw")
    usage = dict(usage or {})
    usage.setdefault("llm_calls", usage.pop("calls", 0))
    return {
        "feature_id": feature_id, "run_id": run_id, "method": method, "role": role, "text": text,
        "status": status, "error": error, "raw": raw, "explainer_model": explainer_model,
        "prompt_hash": prompt_hash, "config_hash": config_hash,
        **{k: plain_number(usage.get(k, 0)) or 0 for k in _USAGE_KEYS},
        "details": to_json(dict(details)) if details else None, "created_at": now(),
    }


# What a failure that a later run should try again says: the LLM call failed or was
# rejected, so no reply was paid for. A refusal ("the model refused") or an unparseable
# reply was paid for and stays a failure.
RETRYABLE_ERROR = "LLM call"


def write_explanation_once(db: sqlite_utils.Database, **fields: Any) -> tuple[int, bool]:
    """:func:`write_explanation`, unless the feature already has an explanation of this
    method, role and configuration (another process running the same command stored it
    first): then that one's id. A stored failure whose error says the LLM call failed or
    was rejected (:data:`RETRYABLE_ERROR`) is replaced in place by the new result, keeping its id and
    its error in ``details["earlier_error"]``. Returns ``(id, written)``; check and write
    hold the write lock together, so two processes never store the same explanation twice."""
    with write_transaction(db):
        found = db.execute(
            "SELECT id, status, error, details FROM explanations WHERE feature_id = ? AND method = ? AND role = ? "
            "AND config_hash = ? ORDER BY id LIMIT 1",
            [fields["feature_id"], fields["method"], fields.get("role", "explanation"), fields["config_hash"]],
        ).fetchone()
        if not found:
            return write_explanation(db, **fields), True
        eid, status, error, _ = found
        if status != "failed" or RETRYABLE_ERROR not in (error or ""):
            return int(eid), False
        defaults = {"status": "ok", "role": "explanation", "error": None, "raw": None, "explainer_model": None,
                    "prompt_hash": None, "usage": None}
        row = _explanation_row(**{**defaults, **fields,
                                  "details": {**(fields.get("details") or {}), "earlier_error": error}})
        db.execute(f"UPDATE explanations SET {', '.join(f'{c} = ?' for c in row)} WHERE id = ?", [*row.values(), eid])
        return int(eid), True


def write_scores(db: sqlite_utils.Database, explanation_id: int, run_id: int,
                 scores: Sequence[Mapping[str, Any]]) -> None:
    """Store scores of one explanation. Each score is a mapping with scorer, split,
    metric, value (None when undefined) and optionally scorer_model, n, llm_calls,
    tokens, seconds, error, details. A rescore replaces the earlier value."""
    rows = []
    for s in scores:
        rows.append({
            "explanation_id": explanation_id, "run_id": run_id, "scorer": s["scorer"],
            "scorer_model": s.get("scorer_model"), "split": s["split"], "metric": s["metric"],
            "value": plain_number(s.get("value")), "n": plain_number(s.get("n")),
            "llm_calls": plain_number(s.get("llm_calls", 0)) or 0, "tokens": plain_number(s.get("tokens", 0)) or 0,
            "seconds": plain_number(s.get("seconds", 0)) or 0.0, "error": s.get("error"),
            "details": to_json(dict(s["details"])) if s.get("details") else None, "created_at": now(),
        })
    if rows:  # REPLACE on the (explanation, scorer, split, metric) unique key
        db["scores"].insert_all(rows, replace=True, alter=False)


def _decode(row: dict) -> dict:
    row = dict(row)
    row["details"] = from_json(row.get("details")) or {}
    return row


def get_explanations(
    db: sqlite_utils.Database,
    *,
    feature_id: int | None = None,
    run_id: int | None = None,
    method: str | None = None,
    role: str | None = None,
    config_hash: str | None = None,
) -> list[dict]:
    """Explanations matching every given filter, oldest first, details decoded."""
    where, params = [], []
    for column, value in (("feature_id", feature_id), ("run_id", run_id), ("method", method), ("role", role),
                          ("config_hash", config_hash)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM explanations" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
    return [_decode(r) for r in db.query(sql, params)]


def get_explanation(db: sqlite_utils.Database, explanation_id: int) -> dict | None:
    """One explanation by id, details decoded (None when there is none)."""
    rows = list(db.query("SELECT * FROM explanations WHERE id = ?", [explanation_id]))
    return _decode(rows[0]) if rows else None


def merge_explanation_details(db: sqlite_utils.Database, explanation_id: int, details: Mapping[str, Any]) -> dict:
    """Add ``details`` to an explanation's details JSON; returns the updated row."""
    row = get_explanation(db, explanation_id)
    if row is None:
        raise KeyError(f"no explanation {explanation_id}")
    db["explanations"].update(explanation_id, {"details": to_json({**row["details"], **details})})
    return get_explanation(db, explanation_id)


def get_scores(db: sqlite_utils.Database, explanation_id: int) -> list[dict]:
    """Scores of one explanation, details decoded."""
    return [_decode(r) for r in db.query(
        "SELECT * FROM scores WHERE explanation_id = ? ORDER BY scorer, split, metric", [explanation_id])]


def labeled_features(db: sqlite_utils.Database, config_hash: str, method: str, *,
                     retry_failed_calls: bool = False) -> set[int]:
    """Feature row ids that already have an explanation (ok or failed) from ``method``
    under this labeling configuration — the work a resumed run skips. With
    ``retry_failed_calls``, a failure because the LLM call failed or was rejected does not
    count (a rerun after an endpoint outage or a key fix tries those again)."""
    sql = "SELECT DISTINCT feature_id FROM explanations WHERE config_hash = ? AND method = ? AND role = 'explanation'"
    params: list = [config_hash, method]
    if retry_failed_calls:
        sql += " AND NOT (status = 'failed' AND instr(coalesce(error, ''), ?) > 0)"
        params.append(RETRYABLE_ERROR)
    return {r[0] for r in db.execute(sql, params)}


def searchable_explanations(db: sqlite_utils.Database, model_name: str) -> list[dict]:
    """Every ok explanation (role ``explanation``) of any feature of the model named
    ``model_name``, as ``{"id", "text", "feature"}`` rows: what semantic search ranks."""
    return list(db.query(
        "SELECT e.id, e.text, f.feature FROM explanations e JOIN features f ON f.id = e.feature_id "
        "JOIN models m ON m.id = f.model_id WHERE e.status = 'ok' AND e.role = 'explanation' AND m.name = ?",
        [model_name]))


def latest_explanation_text(db: sqlite_utils.Database, model_name: str, feature: str) -> str | None:
    """The text of the newest ok explanation (role ``explanation``) of ``feature``
    (an id such as ``mlp:3:17``) of the model named ``model_name``; None when there is none."""
    row = db.execute(
        "SELECT e.text FROM explanations e JOIN features f ON f.id = e.feature_id JOIN models m ON m.id = f.model_id "
        "WHERE m.name = ? AND f.feature = ? AND e.status = 'ok' AND e.role = 'explanation' ORDER BY e.id DESC LIMIT 1",
        [model_name, feature]).fetchone()
    return row[0] if row else None
