"""The verdict rule (agent/investigation/verdict_rule.py): Wilson intervals and the
table from precision, recall and causal agreement to a verdict, with the cases of a
real transcript that the old thresholds got backwards."""

import pytest
from mechanic.agent.investigation.verdict_rule import HIGH, LOW, Count, decide, level_of, rule_text, wilson
from mechanic.agent.investigation.verdicts import verdict


def test_wilson_interval():
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(1 - hi) and lo < 0.5 < hi
    z2 = 1.6448536269514722 ** 2
    assert wilson(3, 3)[0] == pytest.approx(3 / (3 + z2))  # all successes: n / (n + z^2)
    assert wilson(0, 3)[1] == pytest.approx(z2 / (3 + z2))
    assert wilson(40, 40)[0] > wilson(4, 4)[0] > wilson(2, 2)[0]  # more trials, surer
    with pytest.raises(ValueError):
        wilson(4, 3)


@pytest.mark.parametrize("count, level", [
    (None, "unmeasured"), (Count(0, 0), "unmeasured"),
    (Count(2, 2), "unsure"),  # two of two is weak evidence
    (Count(3, 3), "high"), (Count(30, 40), "high"),
    (Count(0, 3), "low"), (Count(20, 40), "low"),  # a rate of 0.50 on enough trials is low
    (Count(2, 4), "unsure"),
])
def test_levels(count, level):
    assert level_of(count) == level


@pytest.mark.parametrize("precision, recall, causal, expected, reading", [
    ((20, 20), (20, 20), None, "supported", "all and only"),
    ((20, 20), (5, 20), None, "partial", "narrower than stated"),
    ((20, 40), (20, 20), None, "partial", "broader than stated"),
    ((3, 20), (4, 20), None, "refuted", "neither all nor only"),
    ((0, 0), (0, 6), None, "refuted", "never fires where stated"),
    ((0, 1), (0, 200), None, "refuted", "mostly wrong"),  # one firing token, not covered; 200 predicted, none fired
    ((1, 1), (1, 4), None, "inconclusive", "not enough"),  # recall low, but precision so far is all right
    ((0, 8), (0, 0), None, "refuted", "says nothing"),  # fires, where the hypothesis predicts nothing
    ((0, 1), (0, 0), None, "inconclusive", "not enough"),
    ((20, 20), (20, 20), (0, 8), "inconclusive", "do not move it"),  # the edits it names go against it
    ((20, 20), (20, 20), (7, 8), "supported", "all and only"),
    ((2, 2), (2, 2), (8, 8), "inconclusive", "not enough evidence"),  # causal agreement never lifts support
    ((0, 0), (0, 0), None, "inconclusive", "not enough evidence"),  # untested
])
def test_the_verdict_table(precision, recall, causal, expected, reading):
    decision = decide(Count(*precision), Count(*recall), Count(*causal) if causal else None)
    assert decision.verdict == expected and reading in decision.reading


def _test(fired_activating, activating, fired_near, near):
    return {"threshold": 1.0, "activating": [{"max": 2.0 if i < fired_activating else 0.0} for i in range(activating)],
            "near_miss": [{"max": 2.0 if i < fired_near else 0.0} for i in range(near)]}


def test_the_transcript_cases_are_consistent():
    # precision 0.50: the near misses fire as much as the targets. Never supported; with
    # enough texts it reads "broader than stated"
    few = verdict([_test(2, 2, 2, 2)], [])
    assert few["precision"] == 0.5 and few["verdict"] == "inconclusive"
    many = verdict([_test(6, 6, 6, 6)] * 2, [])
    assert many["precision"] == 0.5 and many["verdict"] == "partial" and "broader" in many["reading"]
    # precision 1.00, recall 0.25: narrower than stated, never refuted
    few = verdict([_test(1, 4, 0, 4)], [])
    assert (few["precision"], few["recall"]) == (1.0, 0.25) and few["verdict"] == "inconclusive"
    many = verdict([_test(3, 12, 0, 6)] * 2, [])
    assert many["recall"] == 0.25 and many["verdict"] == "partial" and "narrower" in many["reading"]
    # the worse result never gets the milder verdict
    order = {"supported": 0, "partial": 1, "inconclusive": 1, "refuted": 2}
    assert order[verdict([_test(6, 6, 0, 6)], [])["verdict"]] < order[many["verdict"]]


def test_corpus_counts_pool_with_written_tests():
    corpus = {"hits": 18, "predicted": 20, "fired": 19}  # recall 18/20, precision 18/19
    judged = verdict([_test(1, 2, 1, 2)], [], [corpus], [{"agreeing": 5, "edits": 6}])
    assert judged["details"]["counts"] == {"precision": [19, 21], "recall": [19, 22], "causal": [5, 6]}
    assert judged["verdict"] == "supported" and judged["details"]["corpus_tests"] == 1


def test_the_rule_as_the_model_reads_it():
    text = rule_text()
    assert f">= {HIGH}" in text and f"< {LOW:.2f}" in text and "90% interval" in text
    assert all(word in text for word in ("Supported", "Partial", "Refuted", "inconclusive"))


def test_wilson_interval_always_holds_the_observed_share():
    from mechanic.agent.ask.stats import wilson as ask_wilson

    for n in range(1, 60):
        for k in range(n + 1):
            for lo, hi in (wilson(k, n), ask_wilson(k, n)):
                assert 0.0 <= lo <= k / n <= hi <= 1.0, (k, n, lo, hi)
