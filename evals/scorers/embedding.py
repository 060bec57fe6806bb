"""Topic scorer (formerly ``embedding``): is the explanation about the same thing as
the texts on which the feature fires?

The explanation and every window's text go through a sentence embedder; the score is
the AUROC of cos(explanation, window) separating activating from non-activating
windows. A window is embedded as a whole, so this measures **topical relatedness**
of whole passages to the explanation: "Python code about files" scores well on a
feature that fires inside file-handling code, whichever token it fires on. It is not
token-level evidence: it cannot tell which token fires, and an explanation that names
a token exactly can score low ("the word *the* in any case" got 0.10 on a feature
that fires on every "the", because windows full of "the" are about anything). Cheap
and LLM-free; read it beside simulation, detection and fuzzing, never instead of
them. The stored scorer name is ``topic``; rows stored under ``embedding`` by older
versions are read as the same scorer.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
from mechanic.tools.errors import MechanicError

from ..embedding import TextEmbedder
from ..lm import Usage
from ..metrics import auroc
from ..records import Record, ScoreResult, crop

__all__ = ["SCORER", "WINDOW", "cosine_to", "embedding_score", "topic_score", "window_text"]

WINDOW = 32  # tokens of context per window, as in delphi's examples
SCORER = "topic"  # the name its results are stored under


def cosine_to(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity of ``query [d]`` with each row of ``vectors [n, d]`` (a zero
    vector has similarity 0 with everything)."""
    q = np.asarray(query, dtype=np.float64)
    v = np.asarray(vectors, dtype=np.float64)
    qn = np.linalg.norm(q)
    vn = np.linalg.norm(v, axis=1)
    out = np.zeros(len(v))
    ok = (vn > 0) & (qn > 0)
    out[ok] = (v[ok] @ q) / (vn[ok] * qn)
    return out


def window_text(record: Record, length: int = WINDOW, around_peak: bool = True) -> str:
    """The window's text: its tokens joined, cut to ``length`` tokens — around the
    peak (:func:`crop`) for activating windows, from the start otherwise (a
    non-activating window's argmax is noise, and centring on it would bias the
    slice)."""
    if around_peak:
        return "".join(crop(record, length).tokens)
    return "".join(record.tokens[:length])


def topic_score(
    explanation: str,
    activating: Sequence[Record],
    non_activating: Sequence[Record],
    embedder: TextEmbedder,
    *,
    window: int = WINDOW,
    split: str = "test",
) -> ScoreResult:
    """AUROC of cos(explanation, window text), activating vs non-activating windows.

    ``value`` is None when either side is empty. ``details``: the count and mean
    similarity per side and the window length.
    """
    if not isinstance(explanation, str) or not explanation.strip():
        raise MechanicError("the explanation to score is empty")
    t0 = time.perf_counter()
    texts = [window_text(r, window, around_peak=True) for r in activating]
    texts += [window_text(r, window, around_peak=False) for r in non_activating]
    n_act, n_non = len(activating), len(non_activating)
    details: dict = {"n_activating": n_act, "n_non_activating": n_non, "window": window,
                     "mean_sim_activating": None, "mean_sim_non_activating": None}
    value = None
    usage = Usage()
    if texts:
        vectors = embedder.encode([explanation.strip(), *texts])
        usage.calls += 1
        sims = cosine_to(vectors[0], vectors[1:])
        labels = np.r_[np.ones(n_act, bool), np.zeros(n_non, bool)]
        if n_act:
            details["mean_sim_activating"] = float(sims[:n_act].mean())
        if n_non:
            details["mean_sim_non_activating"] = float(sims[n_act:].mean())
        value = auroc(labels, sims)
    if value is None:
        details["reason"] = "needs at least one activating and one non-activating window"
    usage.seconds = time.perf_counter() - t0
    return ScoreResult(SCORER, "auroc", split, value, n_act + n_non, scorer_model=embedder.name,
                       usage=usage, details=details)


embedding_score = topic_score  # the scorer's former name
