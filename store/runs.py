"""Runs: one row per command invocation, so every result traces back to its config."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlite_utils

from ._common import from_json, hash_json, now, to_json

__all__ = [
    "finishing",
    "RUN_STATUSES",
    "config_hash",
    "find_runs",
    "finish_run",
    "get_run",
    "start_run",
]

RUN_STATUSES = ("running", "done", "failed", "interrupted")

# Key words that mark a config entry as a credential. "key" and "token" count only
# as the *last* word ("api_key", "hf_token"), so "n_tokens", "max_new_tokens",
# "tokenizer" and "token_budget" are kept.
_SECRET_WORDS = {"secret", "secrets", "password", "passwd", "credential", "credentials", "authorization"}
_SECRET_LAST_WORDS = {"key", "apikey", "token", "auth", "bearer", "cookie"}
# Values that are credentials whatever their key is called.
_SECRET_VALUE = re.compile(r"^(sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}|Bearer\s+\S+)$")


def _key_words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)  # apiKey -> api Key
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def _is_secret_key(key: str) -> bool:
    words = _key_words(key)
    return bool(words) and (words[-1] in _SECRET_LAST_WORDS or any(w in _SECRET_WORDS for w in words))


def _scrub(value: Any) -> Any:
    """A copy of ``value`` without credentials, recursing into mappings and lists.

    Drops entries whose key names a secret (``api_key``, ``OPENAI_API_KEY``,
    ``hf_token``, ``password`` …) and string values shaped like one (``sk-…``).
    """
    if isinstance(value, Mapping):
        return {
            k: _scrub(v)
            for k, v in value.items()
            if not _is_secret_key(str(k)) and not (isinstance(v, str) and _SECRET_VALUE.match(v))
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value if not (isinstance(v, str) and _SECRET_VALUE.match(v))]
    return value


def _clean(config: Any) -> Any:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    return _scrub(config)


def config_hash(config: Mapping[str, Any] | Any) -> str:
    """The hash ``start_run`` records for ``config`` (computed after scrubbing)."""
    return hash_json(_clean(config))


def start_run(db: sqlite_utils.Database, command: str, config: Mapping[str, Any] | Any) -> int:
    """Record the start of ``command`` with ``config`` (secrets removed); return the run id.

    ``config`` is a dict or a dataclass instance; it is stored as canonical JSON.
    """
    clean = _clean(config)
    cursor = db.execute(
        "INSERT INTO runs (command, config, config_hash, status, started_at) VALUES (?, ?, ?, 'running', ?)",
        [command, to_json(clean), hash_json(clean), now()],
    )
    return int(cursor.lastrowid)


def finish_run(db: sqlite_utils.Database, run_id: int, status: str, error: str | None = None) -> None:
    """Mark a run ``done``, ``failed`` or ``interrupted``, with an optional error message."""
    if status not in RUN_STATUSES or status == "running":
        raise ValueError(f"status must be one of done, failed, interrupted; got {status!r}")
    cursor = db.execute(
        "UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
        [status, error, now(), run_id],
    )
    if cursor.rowcount == 0:
        raise KeyError(f"no run with id {run_id}")


def _decode(row: dict) -> dict:
    row["config"] = from_json(row["config"])
    return row


def get_run(db: sqlite_utils.Database, run_id: int) -> dict | None:
    """The run's row with ``config`` decoded, or None."""
    rows = list(db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
    return _decode(rows[0]) if rows else None


def find_runs(
    db: sqlite_utils.Database,
    *,
    command: str | None = None,
    config_hash: str | None = None,
    status: str | None = None,
) -> list[dict]:
    """Runs matching every given filter, newest first (for resuming a command)."""
    where, params = [], []
    for column, value in (("command", command), ("config_hash", config_hash), ("status", status)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
    return [_decode(row) for row in db.query(sql, params)]


@contextmanager
def finishing(db: sqlite_utils.Database, run_id: int) -> Iterator[None]:
    """Mark the run ``done`` when the block completes, ``interrupted`` on Ctrl-C, and
    ``failed`` with the error on any exception (which still propagates)."""
    try:
        yield
    except KeyboardInterrupt:
        finish_run(db, run_id, "interrupted")
        raise
    except Exception as exc:
        finish_run(db, run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    finish_run(db, run_id, "done")
