"""The verdict on one hypothesis, from the experiments run to test it (pure functions).

A hypothesis says the feature fires on *all and only* the texts it picks out. Its
``test_hypothesis`` experiments measured the feature on texts written to fire
(activating) and on near misses written not to; an activation at or above the
feature's threshold counts as firing.

* recall — the share of activating texts on which it fired;
* precision — of the texts on which it fired, the share that were activating;
* causal agreement — the mean share of the tokens the hypothesis expected to rise
  that did rise, over its ``test_intervention`` experiments.

Verdicts: ``supported`` when recall and precision both reach ``SUPPORT`` (and no
intervention contradicted it outright); ``refuted`` when either falls below
``REFUTE`` on at least ``MIN_TEXTS`` activating texts; otherwise ``inconclusive``
(including when it was never tested).
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["MIN_TEXTS", "REFUTE", "SUPPORT", "verdict"]

SUPPORT = 0.6
REFUTE = 0.34
MIN_TEXTS = 2


def verdict(tests: Iterable[dict], interventions: Iterable[dict]) -> dict:
    """``{"verdict", "precision", "recall", "causal_agreement", "details"}`` from the
    stored results of ``test_hypothesis`` (``tests``) and ``test_intervention``
    (``interventions``) experiments. Undefined measurements are ``None``."""
    fired_on = fired_off = n_on = n_off = 0
    for t in tests:
        threshold = t["threshold"]
        on = [x["max"] >= threshold for x in t["activating"]]
        off = [x["max"] >= threshold for x in t["near_miss"]]
        n_on, n_off = n_on + len(on), n_off + len(off)
        fired_on, fired_off = fired_on + sum(on), fired_off + sum(off)
    recall = fired_on / n_on if n_on else None
    precision = fired_on / (fired_on + fired_off) if (fired_on + fired_off) else None
    agreements = [float(i["agreement"]) for i in interventions]
    causal = sum(agreements) / len(agreements) if agreements else None
    details = {"activating": n_on, "near_miss": n_off, "fired_activating": fired_on, "fired_near_miss": fired_off,
               "interventions": len(agreements)}
    if n_on >= MIN_TEXTS and (recall < REFUTE or (precision is not None and precision < REFUTE and n_off)):
        outcome = "refuted"
    elif (recall is not None and precision is not None and recall >= SUPPORT and precision >= SUPPORT
          and n_off and not (causal is not None and causal == 0 and len(agreements) >= 2)):
        outcome = "supported"
    else:
        outcome = "inconclusive"
    if n_on >= MIN_TEXTS and fired_on == 0:
        details["reason"] = "never fired on the texts it picks out"
    return {"verdict": outcome, "precision": precision, "recall": recall, "causal_agreement": causal,
            "details": details}
