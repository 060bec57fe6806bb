"""Small helpers shared by the store modules: timestamps, canonical JSON, hashing."""

from __future__ import annotations

import hashlib
import json
import math
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence, TypeVar

import sqlite_utils

T = TypeVar("T")

# SQLite allows 32,766 bound parameters per statement; stay far below it.
_CHUNK = 500


def now() -> str:
    """The current UTC time as ISO 8601 with milliseconds (sorts as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def to_json(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces; unknown types (Path, …) via str()."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def from_json(text: str | None) -> Any:
    """Decode a JSON text column; NULL stays None."""
    return None if text is None else json.loads(text)


def hash_json(value: Any) -> str:
    """sha256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(to_json(value).encode()).hexdigest()


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items (for ``IN (?, ?, …)`` lists)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def plain_number(value: Any) -> float | int | None:
    """A plain Python number (numpy scalars do not bind); NaN becomes None."""
    if value is None:
        return None
    if isinstance(value, (bool, int)) or (hasattr(value, "dtype") and value.dtype.kind in "iub"):
        return int(value)
    value = float(value)
    return None if math.isnan(value) else value


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """A transaction that takes the write lock when it starts (``BEGIN IMMEDIATE``), for
    a read-then-write that another process must not interleave: it waits up to the busy
    timeout for the lock, where a deferred one that read first would fail at once when
    another process committed in between. Inside an open transaction it is a savepoint."""
    if db.conn.in_transaction:
        with db.atomic():
            yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.commit()
