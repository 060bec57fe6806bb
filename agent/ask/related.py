""""Which features relate to X?": the concept's labelled corpus tokens
(:mod:`.concept`), then every MLP neuron measured on them, and the stored
explanations nearest the concept measured the same way.

Neurons are ranked by AUROC on the training words (ties, common when a class is
easy, by the standardized mean difference) and reported with their AUROC on
held-out words (:func:`~mechanic.tools.grouped_folds`), so the ranking does not pick
its own winners' numbers.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from mechanic.tools import Subject, collect_position_activations, grouped_folds

from .concept import ConceptData
from .stats import auroc

__all__ = ["related_answer"]

Record = Callable[[str, dict, object, str, float], int]
MIN_AUROC = 0.8


def _aurocs(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per column, the AUROC of ``X[:, j]`` for labels ``y`` (rank formula, ties averaged)."""
    from scipy.stats import rankdata

    ranks = rankdata(X, axis=0)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    return (ranks[y == 1].sum(0) - n_pos * (n_pos + 1) / 2) / max(n_pos * n_neg, 1)


def related_answer(subject: Subject, data: ConceptData, record: Record, *, data_eid: int,
                   stored: list[dict] | None = None, search_eid: int | None = None, k: int = 3,
                   seed: int = 0) -> tuple[list[dict], str]:
    """Claims and a confidence for "which features relate to ``data.concept``".
    ``stored``: stored-explanation matches (``{"feature", "explanation", "similarity"}``)."""
    t0 = time.perf_counter()
    layers = list(range(subject.n_layers))
    acts = collect_position_activations(subject, data.windows, data.positions, layers, sites=("mlp",))
    folds = grouped_folds(data.labels, data.groups, n_folds=4, seed=seed)
    test = folds[0]
    train = np.setdiff1d(np.arange(len(data.labels)), test)
    y = data.labels
    ranked = []
    for (_, layer), X in acts.items():
        Xt, yt = X[train], y[train]
        a = _aurocs(Xt, yt)
        gap = Xt[yt == 1].mean(0) - Xt[yt == 0].mean(0)
        d = np.abs(gap) / np.maximum(np.sqrt((Xt[yt == 1].var(0) + Xt[yt == 0].var(0)) / 2), 1e-6)
        key = np.round(np.abs(a - 0.5), 3) * 1e6 + np.minimum(d, 1e5)  # AUROC first; ties by effect size
        for i in np.argsort(-key)[:k]:
            ranked.append((float(key[i]), layer, int(i), float(a[i]) >= 0.5))
    ranked.sort(key=lambda r: -r[0])
    found = []
    for _, layer, i, higher in ranked[:k]:
        values = acts[("mlp", layer)][:, i] * (1 if higher else -1)
        a, lo, hi = auroc(values[test], y[test])
        found.append({"feature": f"mlp:{layer}:{i}", "higher_on_concept": higher, "auroc": a, "auroc_ci": [lo, hi]})
    measured = []
    for m in stored or []:
        if not m["feature"].startswith("mlp:"):
            continue
        layer, i = int(m["feature"].split(":")[1]), int(m["feature"].split(":")[2])
        if ("mlp", layer) in acts and i < acts[("mlp", layer)].shape[1]:
            a, lo, hi = auroc(acts[("mlp", layer)][:, i][test], y[test])
            measured.append({**m, "auroc": a, "auroc_ci": [lo, hi]})
    eid = record("neuron_scan", {"concept": data.concept, "layers": layers, "ranked_on": "training words",
                                 "scored_on": "held-out words"}, {"neurons": found, "stored": measured},
                 "; ".join(f"{f['feature']} AUROC {f['auroc']:.2f}" for f in found), time.perf_counter() - t0)
    claims = []
    for f in found:
        good = f["auroc_ci"][0] >= MIN_AUROC
        claims.append({"text": f"{f['feature']} is {'higher' if f['higher_on_concept'] else 'lower'} on "
                               f"'{data.concept}' tokens: AUROC {f['auroc']:.2f} [{f['auroc_ci'][0]:.2f}, "
                               f"{f['auroc_ci'][1]:.2f}] on held-out words"
                               + ("" if good else " (not a reliable detector)"),
                       "value": f["auroc"], "ci": f["auroc_ci"], "experiments": [data_eid, eid],
                       "refuted_by": "an AUROC near 0.5 on new words of the class", "supported": good})
    for m in measured:
        claims.append({"text": f"{m['feature']}, stored as {m['explanation']!r} (similarity {m['similarity']:.2f}), "
                               f"separates '{data.concept}' tokens with AUROC {m['auroc']:.2f} "
                               f"[{m['auroc_ci'][0]:.2f}, {m['auroc_ci'][1]:.2f}]",
                       "value": m["auroc"], "ci": m["auroc_ci"], "experiments": [x for x in (search_eid, eid) if x],
                       "refuted_by": "an AUROC near 0.5 on new words of the class",
                       "supported": m["auroc_ci"][0] >= MIN_AUROC})
    if stored is not None and not stored and search_eid is not None:
        claims.append({"text": f"no stored explanation is close to '{data.concept}'", "value": None, "ci": None,
                       "experiments": [search_eid], "refuted_by": "a stored explanation of the concept"})
    n_good = sum(bool(c.get("supported")) for c in claims)
    return claims, "high" if n_good >= 2 else "medium" if n_good else "low"
