"""Evidence rendered as prompt text: marked excerpts for chat models, word lists for
few-shot completion by small models."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
from mechanic.agent.evidence import Evidence
from mechanic.evals.records import Record, crop, normalize_to_ten

__all__ = ["MARK_CLOSE", "MARK_OPEN", "mark_token", "marked_excerpt", "render_chat_evidence", "top_words"]

# A marked token is written ⟦token⟧, or ⟦token|N⟧ with its level: brackets that ordinary
# text does not use, with the level inside them, so a mark never runs into the digits
# or words that follow it ("0⟦x|10⟧1", not "0[[x]]^101").
MARK_OPEN, MARK_CLOSE = "⟦", "⟧"


def _visible(token: str) -> str:
    return token.replace("\n", "⏎").replace("\t", "⇥")


def mark_token(token: str, level: int | None = None) -> str:
    """``token`` as a marked token: ``⟦token⟧``, or ``⟦token|level⟧``. Newlines and tabs
    are made visible, and a bracket of the mark's own kind inside the token becomes a
    plain one, so every mark reads back unambiguously (the level follows the last ``|``)."""
    return f"{MARK_OPEN}{_unmarked(token)}{MARK_CLOSE}" if level is None else f"{MARK_OPEN}{_unmarked(token)}|{level}{MARK_CLOSE}"


def _unmarked(token: str) -> str:
    """A token shown with any bracket of the mark's own kind made plain: a document cannot
    forge a firing token."""
    return _visible(token).replace(MARK_OPEN, "[").replace(MARK_CLOSE, "]")


def marked_excerpt(record: Record, scale: float, length: int = 24) -> str:
    """The excerpt around the record's peak, each firing token as ⟦token|level⟧ (:func:`mark_token`);
    brackets the document itself holds never form a mark."""
    rec = crop(record, length)
    levels = normalize_to_ten([rec.activations], scale)[0]
    out = []
    for tok, level in zip(rec.tokens, levels):
        out.append(mark_token(tok, level) if level >= 1 else _unmarked(tok))
    return "".join(out).strip()


def render_chat_evidence(evidence: Evidence, records: Sequence[Record] | None = None, *, max_excerpts: int = 10,
                         n_tokens: int = 8) -> str:
    """Excerpts (strongest first), top input tokens, output-side tokens, the
    descriptions the search found (when given) and, when the feature has a real
    negative side, where it is most negative."""
    records = list(records if records is not None else evidence.top)[:max_excerpts]
    scale = max((r.max_act for r in records), default=0.0)
    lines = ["Excerpts where the unit fires most, strongest first:"]
    lines += [f"{i}. {marked_excerpt(r, scale)}" for i, r in enumerate(records, 1)]
    if evidence.input_tokens:
        tokens = ", ".join(repr(_visible(t)) for t, _, _ in evidence.input_tokens[:n_tokens])
        lines.append(f"\nTokens it fires on most: {tokens}")
    if evidence.promoted:
        lines.append("When it fires, these next tokens become more likely: "
                     + ", ".join(repr(_visible(t)) for t in evidence.promoted[:n_tokens]))
    if evidence.searched:
        lines.append("\nDescriptions found by testing simple rules against the unit, with how well each predicts "
                     "it on held-out text (correlation, 1 is perfect). Use, refine, merge or reject them:")
        lines += [f"- {text} ({'n/a' if score is None else f'{score:.2f}'})" for text, score in evidence.searched]
    if evidence.has_negative_side:
        low = min(float(np.min(r.activations)) for r in evidence.bottom)
        lines.append("\nIt is most negative in these excerpts (marks show how negative):")
        lines += [f"- {marked_excerpt(Record(r.tokens, -r.activations, r.kind, r.split, r.window), -low)}"
                  for r in evidence.bottom[:3]]
    return "\n".join(lines)


def top_words(records: Sequence[Record], n: int = 6) -> list[str]:
    """The distinct tokens at which the records peak, most frequent first, then by
    activation; whitespace-only tokens dropped."""
    counts: Counter = Counter()
    best: dict[str, float] = {}
    for r in records:
        if r.max_act <= 0:
            continue
        tok = r.tokens[int(np.argmax(r.activations))].strip()
        if not tok:
            continue
        counts[tok] += 1
        best[tok] = max(best.get(tok, -np.inf), r.max_act)
    ranked = sorted(counts, key=lambda t: (-counts[t], -best[t]))
    return ranked[:n]
