"""Evidence rendered as prompt text: marked excerpts for chat models, word lists for
few-shot completion by small models."""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import numpy as np
from mechanic.agent.evidence import Evidence
from mechanic.evals.records import Record, crop, normalize_to_ten

__all__ = ["marked_excerpt", "render_chat_evidence", "top_words"]


def _visible(token: str) -> str:
    return token.replace("\n", "⏎").replace("\t", "⇥")


def _unmarked(text: str) -> str:
    """Document text with any ``[[`` or ``]]`` of its own spaced apart, so only our
    marks read as [[token]]^level (a document cannot forge a firing token)."""
    return re.sub(r"\](?=\])", "] ", re.sub(r"\[(?=\[)", "[ ", text))


def marked_excerpt(record: Record, scale: float, length: int = 24) -> str:
    """The excerpt around the record's peak, each firing token as [[token]]^level;
    brackets the document itself holds never form a mark."""
    rec = crop(record, length)
    levels = normalize_to_ten([rec.activations], scale)[0]
    out, plain = [], []
    for tok, level in zip(rec.tokens, levels):
        if level >= 1:
            out.append(_unmarked("".join(plain)))
            plain = []
            out.append(f"[[{_unmarked(_visible(tok))}]]^{level}")
        else:
            plain.append(_visible(tok))
    out.append(_unmarked("".join(plain)))
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
