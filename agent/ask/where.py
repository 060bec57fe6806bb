""""Where is X represented?": labelled corpus tokens (:mod:`.concept`), a probe sweep
over layers and sites with a control task, the neurons most aligned with the best
probe, and an intervention along its direction.

* **Split.** Tokens are split by word (:func:`~mechanic.tools.grouped_folds`): one
  fold is held out for the reported test, one chooses the site, the rest train. A
  probe is therefore always scored on words it never saw, so its accuracy means it
  learned the class, not a list of words.
* **Control task.** The same tokens relabelled at random by word (each word gets
  one random label, the share of positives kept), probed with the same split.
  Selectivity = concept accuracy - control accuracy, paired per test token; the
  control counts as at least a constant guess of the commoner class (a control
  probe below chance on new words would flatter the concept).
* **Site choice.** The site (``resid`` or ``mlp`` at a layer) with the highest
  selectivity on the choosing fold; its probe is refitted on train + choosing fold
  and scored on the held-out test fold. A "where" claim needs test accuracy >= 0.85
  and selectivity > 0.2 there; otherwise the answer says nothing was found.
* **Neurons.** The MLP neurons whose activation correlates most with the probe's
  score, each with its AUROC on the held-out words.
* **Intervention.** The residual direction of the probe at the site's layer is added
  at the tokens of negative windows, by the mean gap between the classes along it;
  the change of the next-token distribution (KL) is compared with that of random
  directions of the same norm. A direction the model reads moves it more.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
from mechanic.tools import (
    MechanicError,
    Subject,
    collect_position_activations,
    fit_probe_split,
    grouped_folds,
    intervened_logits,
    probe_direction,
    probe_predict,
    steer_edits,
)

from .concept import ConceptData
from .stats import auroc, mean_ci, ratio_ci, wilson

__all__ = ["MIN_ACCURACY", "MIN_SELECTIVITY", "control_labels", "probe_sites", "steer_check", "where_answer"]

MIN_ACCURACY = 0.85
MIN_SELECTIVITY = 0.2
Record = Callable[[str, dict, object, str, float], int]


def control_labels(labels: np.ndarray, groups: list[str], seed: int = 0) -> np.ndarray:
    """Each word one random label, words drawn in random order into the positive
    class until it holds as many tokens as the concept's (a control task)."""
    rng = np.random.default_rng(seed + 1)
    counts: dict[str, int] = {}
    for g in groups:
        counts[g] = counts.get(g, 0) + 1
    target, positive, total = int(np.sum(labels)), set(), 0
    for w in rng.permutation(sorted(counts)).tolist():
        if total >= target or len(positive) == len(counts) - 1:
            break
        if total + counts[w] <= target + counts[w] // 2:
            positive.add(w)
            total += counts[w]
    return np.array([1 if g in positive else 0 for g in groups])


def _split(data: ConceptData, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    folds = grouped_folds(data.labels, data.groups, n_folds=5, seed=seed)
    if len(folds) < 3:
        raise MechanicError(f"the concept's examples come from too few words ({len(set(data.groups))}) to hold out "
                            f"words for both choosing a site and testing it")
    test, select = folds[0], folds[1]
    train = np.setdiff1d(np.arange(len(data.labels)), np.concatenate([test, select]))
    return train, select, test


def probe_sites(subject: Subject, data: ConceptData, layers: list[int], sites=("resid", "mlp"), seed: int = 0) -> dict:
    """The sweep: every (site, layer) probed for the concept and the control task."""
    acts = collect_position_activations(subject, data.windows, data.positions, layers, sites)
    y = data.labels
    yc = control_labels(y, data.groups, seed)
    train, select, test = _split(data, seed)
    rows = []
    for (site, layer), X in acts.items():
        concept = fit_probe_split(X, y, train, select, seed=seed)
        control = fit_probe_split(X, yc, train, select, seed=seed) if len(set(yc[train])) == 2 else None
        guess = max(float(np.mean(y[select] == 1)), float(np.mean(y[select] == 0)))  # a constant's best
        ctrl = max(control.test_accuracy if control else 0.0, guess)
        rows.append({"site": f"{site}:{layer}", "kind": site, "layer": layer, "select_accuracy": concept.test_accuracy,
                     "control_accuracy": ctrl, "selectivity": concept.test_accuracy - ctrl})
    best = max(rows, key=lambda r: (round(r["selectivity"], 6), round(r["select_accuracy"], 6), -r["layer"]))
    fit = np.concatenate([train, select])
    X = acts[(best["kind"], best["layer"])]
    concept = fit_probe_split(X, y, fit, test, seed=seed)
    control = fit_probe_split(X, yc, fit, test, seed=seed) if len(set(yc[fit])) == 2 else None
    right = probe_predict(concept, X[test]).astype(int) == y[test]
    # the control: the better of the control-task probe and a constant guess of the commoner class
    constant = y[test] == (1 if np.mean(y[test]) >= 0.5 else 0)
    right_ctrl = (probe_predict(control, X[test]).astype(int) == yc[test]) if control else constant
    if right_ctrl.mean() < constant.mean():
        right_ctrl = constant
    acc_lo, acc_hi = wilson(int(right.sum()), len(test))
    sel, sel_lo, sel_hi = mean_ci(right.astype(float) - right_ctrl.astype(float))
    return {"rows": rows, "best": best, "acts": acts, "probe": concept, "split": (train, select, test), "control": yc,
            "test": {"site": best["site"], "accuracy": float(right.mean()), "accuracy_ci": [acc_lo, acc_hi],
                     "control_accuracy": float(right_ctrl.mean()), "selectivity": sel,
                     "selectivity_ci": [sel_lo, sel_hi], "n_test": int(len(test)),
                     "test_words": sorted(set(np.asarray(data.groups)[test].tolist()))[:12]}}


def aligned_neurons(data: ConceptData, sweep: dict, k: int = 3) -> list[dict]:
    """MLP neurons (of any layer: a unit downstream of the site can read the direction
    as well as one upstream can write it) whose activation correlates most with the
    probe's score, each with its AUROC on the held-out words."""
    best, probe, acts = sweep["best"], sweep["probe"], sweep["acts"]
    X = acts[(best["kind"], best["layer"])]
    score = ((X - probe.mean) / probe.scale) @ probe.coef
    test = sweep["split"][2]
    found = []
    for (site, layer), A in acts.items():
        if site != "mlp":
            continue
        a = A - A.mean(0)
        s = score - score.mean()
        corr = (a * s[:, None]).sum(0) / np.maximum(np.sqrt((a * a).sum(0) * (s * s).sum()), 1e-12)
        for i in np.argsort(-np.abs(corr))[:k]:
            found.append((float(corr[i]), layer, int(i)))
    found.sort(key=lambda f: -abs(f[0]))
    out = []
    for corr, layer, i in found[:k]:
        values = acts[("mlp", layer)][:, i]
        a, lo, hi = auroc(values[test], data.labels[test])
        out.append({"feature": f"mlp:{layer}:{i}", "correlation": round(corr, 3), "auroc": a, "auroc_ci": [lo, hi],
                    "mean_positive": float(values[data.labels == 1].mean()),
                    "mean_negative": float(values[data.labels == 0].mean())})
    return out


def steer_check(subject: Subject, data: ConceptData, sweep: dict, n_random: int = 6, max_windows: int = 10,
                seed: int = 0) -> dict:
    """Add the probe's residual direction at its layer, at every token of windows that
    hold negatives, and compare the next-token KL with that of random directions of
    the same norm (the ratio's interval bootstraps over windows)."""
    layer = sweep["best"]["layer"]
    train, select, _ = sweep["split"]
    fit = np.concatenate([train, select])
    X = sweep["acts"].get(("resid", layer))
    if X is None:
        raise MechanicError("no residual activations at the best layer to take a direction from")
    resid_probe = fit_probe_split(X, data.labels, fit, sweep["split"][2], seed=seed)
    d = probe_direction(resid_probe)
    proj = X[fit] @ d
    gap = float(proj[data.labels[fit] == 1].mean() - proj[data.labels[fit] == 0].mean())
    neg_windows = sorted({w for (w, _), y in zip(data.positions, data.labels) if y == 0})
    windows = [neg_windows[i] for i in np.random.default_rng(seed).permutation(len(neg_windows))[:max_windows]]
    ids = torch.tensor([list(data.windows[w]) for w in windows], dtype=torch.long, device=subject.device)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    rng = np.random.default_rng(seed)
    names = ["ask_concept"] + [f"ask_random_{j}" for j in range(n_random)]
    vectors = [d] + [v / np.linalg.norm(v) for v in rng.standard_normal((n_random, len(d)))]
    with torch.no_grad():
        clean = subject.model(**inputs).logits.float().log_softmax(-1)
    kls = []
    try:
        for name, v in zip(names, vectors):
            subject.add_direction(name, torch.as_tensor(v, dtype=torch.float32))
            edits = steer_edits(subject, f"resid:{layer}:{name}", add=abs(gap))
            edited = intervened_logits(subject, inputs, edits).float().log_softmax(-1)
            kls.append((clean.exp() * (clean - edited)).sum(-1).clamp_min(0).mean(-1).cpu().numpy())  # per window
    finally:
        for name in names:
            subject.directions.pop(name, None)
    along, rand = kls[0], np.mean(kls[1:], axis=0)
    ratio, lo, hi = ratio_ci(along, rand, seed=seed)
    return {"layer": layer, "added_norm": abs(gap), "n_windows": len(windows), "n_tokens": int(ids.numel()), "n_random": n_random,
            "kl_direction": float(along.mean()), "kl_random": float(rand.mean()), "ratio": ratio, "ratio_ci": [lo, hi]}


def _ranges(layers: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> "0-2, 5, 7-8"."""
    out, start = [], None
    for i, layer in enumerate(layers):
        if start is None:
            start = layer
        if i + 1 == len(layers) or layers[i + 1] != layer + 1:
            out.append(f"{start}-{layer}" if layer != start else f"{layer}")
            start = None
    return ", ".join(out) or "none"


def layer_profile(rows: list[dict]) -> str:
    """Where each site's probes pass the thresholds on the choosing fold."""
    parts = []
    for kind in ("resid", "mlp"):
        mine = [r for r in rows if r["kind"] == kind]
        passing = sorted(r["layer"] for r in mine
                         if r["select_accuracy"] >= MIN_ACCURACY and r["selectivity"] > MIN_SELECTIVITY)
        parts.append(f"{kind} at layers {_ranges(passing)} (of {len(mine)})")
    return "on the choosing fold, probes pass the thresholds for " + " and ".join(parts)


def _fmt_ci(ci) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def where_answer(subject: Subject, data: ConceptData, record: Record, *, data_eid: int, seed: int = 0,
                 layers: list[int] | None = None) -> tuple[list[dict], str]:
    """Claims and a confidence for "where is ``data.concept`` represented"."""
    layers = layers if layers is not None else list(range(subject.n_layers))
    t0 = time.perf_counter()
    sweep = probe_sites(subject, data, layers, seed=seed)
    test = sweep["test"]
    by_layer = {}
    for r in sweep["rows"]:
        by_layer.setdefault(r["kind"], []).append(round(r["select_accuracy"], 3))
    sweep_eid = record("probe_sweep", {"concept": data.concept, "layers": layers, "sites": ["resid", "mlp"],
                                       "split": "by word: train / choose / test", "control": "random labels by word"},
                       {"rows": sweep["rows"], "chosen": sweep["best"], "test": test},
                       f"{len(sweep['rows'])} probes; best {test['site']}: held-out accuracy {test['accuracy']:.2f}, "
                       f"selectivity {test['selectivity']:.2f}", time.perf_counter() - t0)
    found = test["accuracy"] >= MIN_ACCURACY and test["selectivity"] > MIN_SELECTIVITY
    labels = f"labels from {data.info.get('labels_from', 'the simulator')}"
    site_text = (f"{labels}; held-out probe accuracy {test['accuracy']:.2f} {_fmt_ci(test['accuracy_ci'])} on {test['n_test']} "
                 f"tokens of words no probe trained on ({', '.join(test['test_words'][:5])}); control task "
                 f"{test['control_accuracy']:.2f}; selectivity {test['selectivity']:.2f} {_fmt_ci(test['selectivity_ci'])}")
    if not found:
        claims = [{"text": f"nothing found: no site reached held-out accuracy >= {MIN_ACCURACY} with selectivity > "
                           f"{MIN_SELECTIVITY} for '{data.concept}'; the best, {test['site']}, had {site_text}",
                   "value": test["accuracy"], "ci": test["accuracy_ci"], "experiments": [data_eid, sweep_eid],
                   "refuted_by": "a probe at some site reaching the thresholds on new words of the class"}]
        return claims, "low"
    claims = [{"text": f"'{data.concept}' is linearly readable at {test['site']}: {site_text}; "
                       f"{layer_profile(sweep['rows'])}",
               "value": test["accuracy"], "ci": test["accuracy_ci"], "selectivity": test["selectivity"],
               "selectivity_ci": test["selectivity_ci"], "experiments": [data_eid, sweep_eid],
               "refuted_by": f"a probe at {test['site']} scoring below {MIN_ACCURACY} on new words of the class, or "
                             f"a control task scoring within {MIN_SELECTIVITY} of it"}]
    t0 = time.perf_counter()
    neurons = aligned_neurons(data, sweep)
    n_eid = record("aligned_neurons", {"site": test["site"]}, {"neurons": neurons},
                   "; ".join(f"{n['feature']} corr {n['correlation']:+.2f} AUROC {n['auroc']:.2f}" for n in neurons),
                   time.perf_counter() - t0)
    for n in neurons:
        higher = n["correlation"] > 0  # a neuron that falls on the concept separates it as well
        a, ci = (n["auroc"], n["auroc_ci"]) if higher else (1 - n["auroc"], [1 - n["auroc_ci"][1], 1 - n["auroc_ci"][0]])
        claims.append({"text": f"{n['feature']} follows the probe (correlation {n['correlation']:+.2f} with its score): "
                               f"it is {'higher' if higher else 'lower'} on the concept, separating held-out words with "
                               f"AUROC {a:.2f} {_fmt_ci(ci)}",
                       "value": a, "ci": ci, "experiments": [sweep_eid, n_eid],
                       "refuted_by": "an AUROC near 0.5 on new words of the class"})
    t0 = time.perf_counter()
    steer = steer_check(subject, data, sweep, seed=seed)
    s_eid = record("steer_direction", {"layer": steer["layer"], "n_random": steer["n_random"]}, steer,
                   f"KL along the direction {steer['kl_direction']:.3g} vs random {steer['kl_random']:.3g} "
                   f"(ratio {steer['ratio']:.2f})", time.perf_counter() - t0)
    used = steer["ratio_ci"][0] > 1.0
    claims.append({"text": f"the model {'uses' if used else 'is not shown to use'} the probe direction at "
                           f"resid:{steer['layer']}: adding it moves the next-token distribution {steer['ratio']:.2f}x "
                           f"{_fmt_ci(steer['ratio_ci'])} as much as random directions of the same norm (KL "
                           f"{steer['kl_direction']:.3g} vs {steer['kl_random']:.3g}, every token of {steer['n_windows']} "
                           f"corpus windows)",
                   "value": steer["ratio"], "ci": steer["ratio_ci"], "experiments": [sweep_eid, s_eid],
                   "refuted_by": "random directions of the same norm moving the distribution as much"})
    strong = test["accuracy_ci"][0] >= MIN_ACCURACY and test["selectivity_ci"][0] > MIN_SELECTIVITY
    confidence = "high" if strong and used else "medium"
    return claims, confidence
