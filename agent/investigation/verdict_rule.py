"""The verdict rule: from counts to a verdict, with the uncertainty small counts bring
(pure functions, no measurement here).

A hypothesis says the feature fires on *all and only* what it describes. The feature
is read as a detector of what the hypothesis describes, and three measurements speak
to that, each a count of successes out of trials:

* **precision** ("only") — of the places where the feature fired, the share that the
  hypothesis covers (on texts written to test it: of the texts that fired, the
  activating ones; on a fresh corpus sample: of the tokens that fired, the ones the
  simulator, reading the hypothesis, said would fire);
* **recall** ("all") — of the places the hypothesis covers, the share where the
  feature fired (activating texts that fired; predicted tokens that fired);
* **causal agreement** — of the edits made to what the hypothesis names, the share
  whose effect on the activation went the way the hypothesis says (and, for
  ``test_intervention``, the expected next tokens that rose).

Each count gets a Wilson score interval at :data:`CONFIDENCE` (two-sided), so two
texts out of two is weak evidence and forty out of forty is strong. A measure is
**high** when its interval's lower bound reaches :data:`HIGH` (surely more often than
not), **low** when its upper bound falls below :data:`LOW` (surely not right two
times in three: a precision of 0.50 — the near misses fire as often as the targets —
is low from about 24 tests on), and **unsure** otherwise; ``unmeasured`` when it has
no trials; **weak** when unsure with a rate below one half so far. (High is checked
first: a rate just above one half on hundreds of trials is high.)

=============  ==============  ======================================  ==========================
precision      recall          verdict                                 reading
=============  ==============  ======================================  ==========================
high           high            ``supported``                           all and only
high           low             ``partial``                             narrower than stated
low            high            ``partial``                             broader than stated
low            low             ``refuted``                             neither all nor only
unmeasured     low             ``refuted``                             never fires where stated
low            unmeasured      ``refuted``                             fires where it says nothing
low            weak            ``refuted``                             mostly wrong
weak           low             ``refuted``                             mostly wrong
any other      any other       ``inconclusive``                        not enough evidence
=============  ==============  ======================================  ==========================

"Narrower than stated": where the feature fires it is what the hypothesis says, but
it stays quiet on much of what the hypothesis covers (precision 1.00, recall 0.25 on
enough texts). "Broader": it fires where the hypothesis says, and as much on the near
misses (precision 0.50 or less on enough texts). On a few texts the same rates are
``inconclusive``: 1 of 4 activating texts fired and no near miss did (precision
1.00, recall 0.25) is too little to call, and so is 2 of 2 activating texts with 2
of 2 near misses (precision 0.50); neither is ever ``supported`` or ``refuted``.

Causal agreement can only take a verdict down: a ``supported`` hypothesis whose edits went the wrong way (agreement
low) becomes ``inconclusive``, reading "fires as stated, but the edits it names do not
move it"; it never lifts an unsure measure to support.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CONFIDENCE", "HIGH", "LOW", "Count", "Decision", "decide", "level_of", "rule_text", "wilson"]

CONFIDENCE = 0.90  # two-sided Wilson intervals
HIGH = 0.5  # a measure whose lower bound reaches this is high
LOW = 2 / 3  # a measure whose upper bound falls below this is low (checked after HIGH)
_Z = 1.6448536269514722  # the normal quantile for CONFIDENCE


@dataclass(frozen=True)
class Count:
    """``k`` successes out of ``n`` trials."""

    k: int
    n: int

    @property
    def rate(self) -> float | None:
        return self.k / self.n if self.n else None

    def __add__(self, other: "Count") -> "Count":
        return Count(self.k + other.k, self.n + other.n)


def wilson(k: int, n: int, z: float = _Z) -> tuple[float, float]:
    """The Wilson score interval of ``k`` out of ``n`` (``(0, 1)`` when ``n`` is 0);
    it always holds ``k / n`` (rounding once left 1.0 above the upper end of 10 of 10)."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"k must be 0-{n}, got {k}")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def level_of(count: Count | None) -> str:
    """``high``, ``low``, ``unsure`` or ``unmeasured`` (see the module doc)."""
    if count is None or count.n == 0:
        return "unmeasured"
    lo, hi = wilson(count.k, count.n)
    if lo >= HIGH:
        return "high"
    if hi < LOW:
        return "low"
    return "unsure"


@dataclass(frozen=True)
class Decision:
    verdict: str  # supported | partial | refuted | inconclusive
    reading: str  # the table's reading, in words
    levels: dict  # measure -> high | low | unsure | unmeasured
    intervals: dict  # measure -> [lo, hi] or None

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "reading": self.reading, "levels": self.levels, "intervals": self.intervals}


_TABLE = {
    ("high", "high"): ("supported", "all and only: fires where stated and stays quiet elsewhere"),
    ("high", "low"): ("partial", "narrower than stated: fires only where stated, but not on most of it"),
    ("low", "high"): ("partial", "broader than stated: fires where stated, and as much where it should not"),
    ("low", "low"): ("refuted", "neither all nor only"),
    ("unmeasured", "low"): ("refuted", "never fires where stated"),
    ("low", "unmeasured"): ("refuted", "fires where the hypothesis says nothing"),
}


def _weak(count: Count | None, level: str) -> bool:
    """Low, unmeasured, or unsure with a rate below one half so far."""
    return level in ("low", "unmeasured") or (level == "unsure" and count is not None and count.rate < HIGH)


def decide(precision: Count | None, recall: Count | None, causal: Count | None = None) -> Decision:
    """The verdict for these counts by the table in the module doc."""
    levels = {"precision": level_of(precision), "recall": level_of(recall), "causal": level_of(causal)}
    intervals = {name: (None if c is None or c.n == 0 else [round(x, 4) for x in wilson(c.k, c.n)])
                 for name, c in (("precision", precision), ("recall", recall), ("causal", causal))}
    verdict, reading = _TABLE.get((levels["precision"], levels["recall"]),
                                  ("inconclusive", "not enough evidence either way"))
    if verdict == "inconclusive" and ((levels["precision"] == "low" and _weak(recall, levels["recall"]))
                                      or (levels["recall"] == "low" and _weak(precision, levels["precision"]))):
        verdict, reading = "refuted", "mostly wrong: one measure surely low, the other no better than one half"
    if verdict == "supported" and levels["causal"] == "low":
        verdict, reading = "inconclusive", "fires as stated, but the edits it names do not move it"
    return Decision(verdict, reading, levels, intervals)


def rule_text() -> str:
    """The rule in a few lines, as the investigating model is shown it."""
    return (f"each measure (precision, recall, edits that went as predicted) is a count with a "
            f"{int(CONFIDENCE * 100)}% interval; high if its lower bound is >= {HIGH}, low if its upper bound is "
            f"< {LOW:.2f}. Supported: precision and recall high. Partial: one high, the other low (narrower or broader "
            f"than stated). Refuted: one low and the other low, unmeasured or below one half so far (e.g. it never "
            f"fires where stated). Otherwise inconclusive: more tests "
            f"are needed. Edits that go against the hypothesis withdraw support.")
