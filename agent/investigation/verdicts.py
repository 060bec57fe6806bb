"""The verdict on one hypothesis, from the experiments run to test it (pure functions).

A hypothesis says the feature fires on *all and only* what it picks out; an
activation at or above the feature's threshold counts as firing. The experiments
give counts (successes out of trials):

* ``test_hypothesis`` (texts the LLM wrote): recall — the activating texts on which
  it fired, out of all activating texts; precision — of the texts on which it fired,
  those that were activating;
* ``test_on_corpus`` (a fresh corpus sample, read by the simulator): precision — of
  every token that fired in the sample, those the simulator predicted from the
  hypothesis; recall — of the tokens predicted, those that fired;
* ``counterfactual`` (edits of what the hypothesis names) and ``test_intervention``
  (next tokens expected to rise): causal agreement — the edits whose effect went the
  way the hypothesis says, and the expected tokens that rose.

Counts of the same measure are pooled over experiments, and the verdict follows the
table of :mod:`.verdict_rule` (Wilson intervals: ``supported``, ``partial`` —
narrower or broader than stated —, ``refuted`` or ``inconclusive``).
"""

from __future__ import annotations

from typing import Iterable

from .verdict_rule import HIGH, LOW, Count, decide

__all__ = ["MIN_TEXTS", "REFUTE", "SUPPORT", "verdict"]

SUPPORT = HIGH  # what a measure's lower bound must reach (see .verdict_rule)
REFUTE = LOW  # what its upper bound must fall below
MIN_TEXTS = 2


def _text_counts(tests: Iterable[dict]) -> tuple[int, int, int, int]:
    """(fired on activating, activating, fired on near misses, near misses) over LLM-written tests."""
    fired_on = fired_off = n_on = n_off = 0
    for t in tests:
        threshold = t["threshold"]
        on = [x["max"] >= threshold for x in t["activating"]]
        off = [x["max"] >= threshold for x in t["near_miss"]]
        n_on, n_off = n_on + len(on), n_off + len(off)
        fired_on, fired_off = fired_on + sum(on), fired_off + sum(off)
    return fired_on, n_on, fired_off, n_off


def verdict(tests: Iterable[dict], interventions: Iterable[dict], corpus: Iterable[dict] = (),
            counterfactuals: Iterable[dict] = ()) -> dict:
    """``{"verdict", "precision", "recall", "causal_agreement", "reading", "details"}``
    from the stored results of ``test_hypothesis`` (``tests``), ``test_intervention``
    (``interventions``), ``test_on_corpus`` (``corpus``) and ``counterfactual``
    experiments. Undefined measurements are ``None``."""
    fired_on, n_on, fired_off, n_off = _text_counts(tests)
    precision, recall = Count(fired_on, fired_on + fired_off), Count(fired_on, n_on)
    causal = Count(0, 0)
    corpus = list(corpus)
    for c in corpus:
        precision = precision + Count(c["hits"], c["fired"])
        recall = recall + Count(c["hits"], c["predicted"])
    interventions, counterfactuals = list(interventions), list(counterfactuals)
    for i in interventions:
        causal = causal + Count(len(i["matched"]), len(i["expected_up"]))
    for e in counterfactuals:
        causal = causal + Count(e["agreeing"], e["edits"])
    decision = decide(precision, recall, causal)
    details = {"activating": n_on, "near_miss": n_off, "fired_activating": fired_on, "fired_near_miss": fired_off,
               "interventions": len(interventions), "corpus_tests": len(corpus),
               "counterfactuals": len(counterfactuals),
               "counts": {"precision": [precision.k, precision.n], "recall": [recall.k, recall.n],
                          "causal": [causal.k, causal.n]},
               **decision.to_dict()}
    del details["verdict"]
    if recall.n >= MIN_TEXTS and recall.k == 0:
        details["reason"] = "never fired where it says"
    return {"verdict": decision.verdict, "precision": precision.rate, "recall": recall.rate,
            "causal_agreement": causal.rate, "reading": decision.reading, "details": details}
