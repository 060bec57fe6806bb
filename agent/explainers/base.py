"""What every explainer returns, and how a reply becomes an explanation or a failure."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from mechanic.agent.evidence import Evidence
from mechanic.evals.lm import Usage

__all__ = ["ExplainResult", "Explainer", "parse_explanation", "ParseError"]

MAX_CHARS = 200


class ParseError(ValueError):
    """A reply that is not a usable explanation (the message says why)."""


@dataclass
class ExplainResult:
    """One explainer's answer for one feature. ``status`` is ``ok`` with ``text``, or
    ``failed`` with ``error`` and the ``raw`` output — never a placeholder text."""

    method: str
    text: str | None
    status: str = "ok"
    error: str | None = None
    raw: str | None = None
    explainer_model: str = ""
    prompt_hash: str | None = None
    usage: Usage = field(default_factory=Usage)
    details: dict = field(default_factory=dict)

    @classmethod
    def failure(cls, method: str, error: str, raw: str | None, **kw) -> "ExplainResult":
        return cls(method, None, "failed", error, raw, **kw)


class Explainer(Protocol):
    method: str

    def explain(self, evidence: Evidence) -> ExplainResult: ...


_PREFIXES = re.compile(
    r"^(?:(?:label|explanation|description|answer|the (?:unit|neuron|feature) (?:fires|activates) on)\s*[:\-]?\s*)+",
    re.IGNORECASE,
)
_ECHOES = ("[[", "]]", "⟦", "⟧", "->", "words:", "<data>", "</data>")


def _unquote(text: str) -> str:
    """``text`` without quotes that wrap the whole of it, or that stand alone at one
    end; a quote that closes a quoted word inside (``sentence-initial 'The'``) stays."""
    for _ in range(2):
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1].strip()
        elif text and text[0] in "\"'" and text.count(text[0]) == 1:
            text = text[1:].strip()
        elif text and text[-1] in "\"'" and text.count(text[-1]) == 1:
            text = text[:-1].strip()
        else:
            break
    return text


def parse_explanation(reply: str) -> str:
    """The explanation in an LLM reply: its first non-empty line, without quotes, a
    leading 'Label:'-style prefix or a trailing full stop. Raises ParseError when
    nothing usable is left (empty, an echo of the prompt's markup, too long, no
    letters, one word repeated for most of it)."""
    lines = [ln.strip() for ln in (reply or "").strip().splitlines() if ln.strip()]
    if not lines:
        raise ParseError("empty reply")
    text = _unquote(lines[0].strip().strip("`*").strip())
    text = _unquote(_PREFIXES.sub("", text).strip().strip("`").strip().rstrip(".").strip())
    text = text.rstrip(".").strip()
    if not text:
        raise ParseError("reply has no explanation after its prefix")
    lowered = text.lower()
    if any(echo in lowered for echo in _ECHOES):
        raise ParseError(f"reply echoes the prompt's markup: {text[:80]!r}")
    if len(text) > MAX_CHARS:
        raise ParseError(f"reply is {len(text)} characters; an explanation is at most {MAX_CHARS}")
    if not re.search(r"[A-Za-z]", text):
        raise ParseError(f"reply has no words: {text!r}")
    words = re.findall(r"\w+", lowered)
    if len(words) >= 6:
        top, count = Counter(words).most_common(1)[0]
        if count > len(words) / 2:
            raise ParseError(f"reply repeats {top!r} over and over: {text[:80]!r}")
    return text
