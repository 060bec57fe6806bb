"""Opening the store: pragmas, then pending migrations."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from .migrations import apply_migrations

__all__ = ["open_db"]

# How long a writer waits for another process's lock before failing.
_BUSY_TIMEOUT_MS = 30_000


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the store at ``path`` and bring its schema up to date.

    A file database is put in WAL mode (readers, such as the viewer or Datasette,
    never block the writer) with ``synchronous=NORMAL``; ``":memory:"`` gives a
    private in-memory store for tests. Foreign keys are enforced on the returned
    connection. Opening an up-to-date store changes nothing.
    """
    memory = str(path) == ":memory:"
    if memory:
        db = sqlite_utils.Database(memory=True)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(path)
    db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys = ON")
    if not memory:
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
    apply_migrations(db)
    return db
