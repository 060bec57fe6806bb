"""The coverage gate: the top exemplars fall into clusters by the token they peak on,
and no hypothesis is judged ``supported`` until texts of its ``test_hypothesis``
experiments have probed every cluster (a text probes a cluster when one of its tokens
is the cluster's token, stripped, any case). A hypothesis fitted to one cluster of its own
probes cannot pass for an explanation of the others. Pure functions."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

__all__ = ["MAX_CLUSTERS", "clusters", "coverage", "probe_texts"]

MAX_CLUSTERS = 5  # the largest clusters a hypothesis must probe


def clusters(tokens: Sequence[Sequence[str]], acts: Sequence[Sequence[float]], n: int = MAX_CLUSTERS) -> list[dict]:
    """The top exemplars' clusters, largest first: ``{"token", "count"}`` per distinct
    peak token (stripped, lower case; whitespace-only peaks are left out)."""
    counts: Counter = Counter()
    for toks, a in zip(tokens, acts):
        if len(toks):
            peak = toks[int(np.argmax(np.asarray(a, dtype=np.float32)))].strip().lower()
            if peak:
                counts[peak] += 1
    return [{"token": t, "count": c} for t, c in counts.most_common(n)]


def probe_texts(results: Iterable[dict]) -> list[str]:
    """Every text of stored ``test_hypothesis`` results."""
    return [x["text"] for r in results for key in ("activating", "near_miss", "edge_case", "adversarial")
            for x in r.get(key) or []]


def coverage(found: list[dict], texts: Sequence[Sequence[str]]) -> dict:
    """Which clusters the tokenized ``texts`` probe: ``{"clusters", "probed", "unprobed"}`` (tokens)."""
    seen = {t.strip().lower() for toks in texts for t in toks}
    probed = [c["token"] for c in found if c["token"] in seen]
    return {"clusters": [c["token"] for c in found], "probed": probed,
            "unprobed": [c["token"] for c in found if c["token"] not in probed]}
