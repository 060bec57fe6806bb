"""Scorer validity figures shipped with the package.

*Validity* is the share of decoy descriptions that a scorer ranks below the true
description of a feature whose answer is known (ties count half; chance 0.5), as
``mechanic bench`` measures it per suite, scorer column and scorer model. A store
with bench runs has its own figures; these are what a fresh installation can show.
``bench/validity.py`` measures them and rewrites ``validity.json`` (it records the
command, the date and the settings it was measured with).
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["SHIPPED_VALIDITY", "shipped_validity"]

SHIPPED_VALIDITY = Path(__file__).parent / "validity.json"


def shipped_validity(path: Path | str = SHIPPED_VALIDITY) -> dict:
    """``{"command": ..., "measured": ..., "figures": {suite: {column: {scorer_model:
    {"mean", "lo", "hi", "n"}}}}}``; an empty ``figures`` when the file is missing or
    unreadable (a figure is then "unvalidated", never made up)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"figures": {}}
    if not isinstance(data, dict) or not isinstance(data.get("figures"), dict):
        return {"figures": {}}
    return data
