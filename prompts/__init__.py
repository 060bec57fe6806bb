"""Prompt templates, one file each: ``prompts/<name>.txt``.

A template is plain text with ``$name`` placeholders (:class:`string.Template`);
``render`` fills them with ``substitute``, so a missing variable is an error, never a
silently empty hole. Write a literal dollar sign as ``$$``. Every template has a
golden test (``tests/unit/test_prompts.py``), so a change to one is a visible diff,
and its ``prompt_hash`` is stored next to whatever it produced.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from importlib import resources
from string import Template

__all__ = ["as_data", "names", "prompt_hash", "render", "render_around", "template_text"]

_SUFFIX = ".txt"


def names() -> list[str]:
    """The names of all templates shipped in this package, sorted."""
    return sorted(
        entry.name[: -len(_SUFFIX)]
        for entry in resources.files(__name__).iterdir()
        if entry.name.endswith(_SUFFIX) and entry.is_file()
    )


@lru_cache(maxsize=None)
def template_text(name: str) -> str:
    """The raw text of template ``name``."""
    path = resources.files(__name__).joinpath(name + _SUFFIX)
    if not path.is_file():
        raise KeyError(f"no prompt template {name!r}; known: {', '.join(names())}")
    return path.read_text(encoding="utf-8")


def prompt_hash(name: str) -> str:
    """First 12 hex digits of the sha256 of the template's text: what a stored
    result records to say which version of the prompt produced it."""
    return hashlib.sha256(template_text(name).encode("utf-8")).hexdigest()[:12]


# A tag that opens or closes a data block, however spelled: </data>, < /DATA >, <data attr>.
_DATA_TAG = re.compile(r"<\s*(/?)\s*data\b[^>]*>", re.IGNORECASE)


def as_data(text: str) -> str:
    """``text`` made safe to place between a template's ``<data>`` tags: any tag that
    would open or close a data block is written with angle quotes (``‹/data›``), so
    copied documents cannot end the block early and pass as instructions."""
    return _DATA_TAG.sub(lambda m: f"‹{m.group(1)}data›", text)


def render(name: str, **variables: object) -> str:
    """Template ``name`` with every ``$placeholder`` filled; a missing one raises
    ``KeyError``. In a template with ``<data>`` blocks every value goes through
    :func:`as_data` (the template's own tags are not values, so they stay)."""
    text = template_text(name)
    quote = as_data if "<data>" in text else str
    return Template(text).substitute({k: quote(str(v)) for k, v in variables.items()})


def render_around(name: str, hole: str, **variables: object) -> tuple[str, str]:
    """Template ``name`` rendered with every placeholder but ``hole``, split at the
    hole: ``(before, after)``. ``before + value + after == render(name, hole=value, ...)``.

    Scorers use it to turn one template into a shared prefix (instructions and
    explanation) and a per-item suffix, so the prefix is encoded once.
    """
    if hole in variables:
        raise TypeError(f"{hole!r} is the hole; do not pass it as a variable")
    sentinel = "\x00HOLE\x00"
    text = render(name, **{hole: sentinel}, **variables)
    if text.count(sentinel) != 1:
        raise ValueError(f"template {name!r} must use ${hole} exactly once to be split around it")
    before, after = text.split(sentinel)
    return before, after
