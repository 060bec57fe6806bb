"""The one error the store raises for a database it cannot use."""

from __future__ import annotations

__all__ = ["StoreError"]


class StoreError(Exception):
    """A database file that cannot be used as it is — not SQLite, written by a newer
    mechanic, read-only, locked — with a one-line message that names the file and what
    to do. Nothing has been written to the file when it is raised by ``open_db``."""
