"""Opening the store: pragmas, then pending migrations."""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlite_utils

from .errors import StoreError
from .migrations import apply_migrations, check_schema_version

__all__ = ["StoreError", "database_problem", "open_db"]

# How long a writer waits for another process's lock before failing.
_BUSY_TIMEOUT_MS = 30_000


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the store at ``path`` and bring its schema up to date.

    A file database is put in WAL mode (readers, such as the viewer or Datasette,
    never block the writer) with ``synchronous=NORMAL``; ``":memory:"`` gives a
    private in-memory store for tests. Foreign keys are enforced on the returned
    connection. Opening an up-to-date store changes nothing.

    Raises :class:`StoreError` (one line naming the file, nothing written to it) for a
    file that is not a SQLite database, a store written by a newer mechanic (a
    migration this version does not know), a path that cannot be written, or a store
    locked by another process for longer than the busy timeout.
    """
    memory = str(path) == ":memory:"
    if not memory:
        _check_path(Path(path))
    try:
        db = _Database(memory=True) if memory else _Database(path)
        db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys = ON")
        check_schema_version(db, str(path))  # before anything writes: a newer store stays untouched
        if not memory:
            db.enable_wal()
            db.execute("PRAGMA synchronous = NORMAL")
        apply_migrations(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(database_problem(exc, path)) from None
    return db


class _Database(sqlite_utils.Database):
    """A sqlite_utils database whose outermost ``atomic()`` block is ``BEGIN IMMEDIATE``.

    A deferred transaction that reads (as sqlite_utils' inserts do: the table's
    columns) and then writes fails at once with "database is locked" when another
    process committed in between; taking the write lock at the start makes it wait
    (up to the busy timeout) instead, so two runs on one store take turns."""

    @contextmanager
    def atomic(self) -> Iterator["_Database"]:
        if self.conn.in_transaction:  # nested: sqlite_utils' savepoint
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def database_problem(exc: sqlite3.DatabaseError, path: str | Path) -> str:
    """One line for a SQLite error on the store at ``path``: what is wrong and what to do."""
    text = str(exc)
    if "file is not a database" in text or "malformed" in text:
        return f"{path} is not a mechanic database (not SQLite, or corrupt); pass --db with another path"
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only; mechanic stores its results there: make it writable or pass --db with another path"
    if "locked" in text or "busy" in text:
        return (f"{path} is locked by another process for more than {_BUSY_TIMEOUT_MS // 1000} s; "
                f"wait for it to finish or pass --db with another path")
    if "unable to open" in text:
        return f"cannot open {path} as a database; check the path and its folder's permissions"
    return f"database {path}: {text}"


def _check_path(path: Path) -> None:
    if path.is_dir():
        raise StoreError(f"{path} is a directory; --db takes a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder {path.parent} for the database: {exc.strerror or exc}") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(f"{path} is read-only; mechanic stores its results there: "
                         f"make it writable or pass --db with another path")
    if not os.access(path.parent, os.W_OK):
        # SQLite keeps its write-ahead log next to the file.
        raise StoreError(f"the folder {path.parent} is read-only; the database needs a writable folder "
                         f"(pass --db with another path)")

