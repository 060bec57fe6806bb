"""Left-context spans of a record's tokens in sentence-embedding space.

:func:`span_embeddings` gives every token of a subject-model window the sentence
embedding (all-MiniLM-L6-v2) of the token with a few tokens of left context
(``"…the cat sat"`` for ``" sat"``), one encoder call per distinct span: in the same
space as an explanation's embedding, so a cosine needs no training (the
``embedding`` simulator, and one of the views of
:class:`~mechanic.evals.token_views.TokenViews`). A window is the concatenation of
its token strings, and every token owns a character range of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .embedding import DIM, Embedder

__all__ = ["CONTEXT", "char_ranges", "span_embeddings", "span_texts"]

CONTEXT = 4  # tokens of a span, the token itself included


def char_ranges(tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Start and end character of each token in the concatenated text."""
    ends = np.cumsum([len(t) for t in tokens], dtype=np.int64)
    return ends - np.array([len(t) for t in tokens], dtype=np.int64), ends


def span_texts(tokens: Sequence[str], context: int = CONTEXT) -> list[str]:
    """For each token, its text with up to ``context - 1`` tokens before it."""
    return ["".join(tokens[max(0, i - context + 1): i + 1]) for i in range(len(tokens))]


def span_embeddings(embedder: Embedder, records_tokens: Sequence[Sequence[str]],
                    context: int = CONTEXT) -> list[np.ndarray]:
    """Unit-norm sentence embeddings ``[T, 384]`` of every token's left-context span,
    one array per record; spans shared between records are encoded once."""
    spans = [span_texts(tokens, context) for tokens in records_tokens]
    flat = [s if s.strip() else "(blank)" for group in spans for s in group]
    vectors = embedder.encode(flat) if flat else np.zeros((0, DIM), np.float32)
    out, at = [], 0
    for group in spans:
        out.append(vectors[at: at + len(group)])
        at += len(group)
    return out
