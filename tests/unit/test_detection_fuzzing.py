"""Detection and fuzzing scorers, against tiny fakes of the LLM protocols."""

import re

import numpy as np
import pytest
from mechanic.evals.lm import Completion, LLMError, Usage
from mechanic.evals.records import Record
from mechanic.evals.scorers.detection import (
    detection_score,
    fit_threshold,
    parse_yes_no,
    passage_text,
    yes_no_candidates,
)
from mechanic.evals.scorers.fuzzing import fuzz_marks, fuzzing_score, marked_text
from mechanic.evals.simulators import Simulation, SimulatorBase
from mechanic.prompts import render_around

# ------------------------------------------------------------------------ fakes


class CharTokenizer:
    """One token per character, id = code point + 1000."""

    def encode(self, text, add_special_tokens=False):
        return [ord(c) + 1000 for c in text]

    @staticmethod
    def decode(ids):
        return "".join(chr(i - 1000) for i in ids)


class WordTokenizer(CharTokenizer):
    """Like CharTokenizer, but the answer words are one token each (ids 1-8)."""

    WORDS = {" yes": 1, " Yes": 2, "yes": 3, "Yes": 4, " no": 5, " No": 6, "no": 7, "No": 8}

    def encode(self, text, add_special_tokens=False):
        return [self.WORDS[text]] if text in self.WORDS else super().encode(text)


class FakeYesNoScorer:
    """P(yes) from ``p_yes(text of the body)``, spread evenly over the yes ids."""

    def __init__(self, p_yes, tokenizer=None):
        self.name = "fake-slots"
        self.tokenizer = tokenizer or CharTokenizer()
        self.p_yes = p_yes
        self.calls = []

    def score_slots(self, prefix, bodies, slots, candidates):
        self.calls.append((list(prefix), [list(b) for b in bodies], [list(s) for s in slots], list(candidates)))
        yes, _ = yes_no_candidates(self.tokenizer)
        out = []
        for body in bodies:
            p = self.p_yes(CharTokenizer.decode(body))
            n_yes, n_no = len(yes), len(candidates) - len(yes)
            lp = [np.log(p / n_yes)] * n_yes + [np.log((1 - p) / n_no)] * n_no
            out.append(np.array([lp]))
        return out


class FakeLLM:
    def __init__(self, reply):
        self.name = "fake-chat"
        self.reply = reply  # str -> str (the user message), or a list of scripted replies
        self.calls = []

    def complete(self, messages, *, max_tokens=256, temperature=0.0, json_schema=None, seed=None):
        self.calls.append(list(messages))
        if callable(self.reply):
            return Completion(self.reply(messages[0]["content"]), prompt_tokens=7, completion_tokens=1)
        r = self.reply.pop(0)
        if isinstance(r, Exception):
            raise r
        return Completion(r, prompt_tokens=7, completion_tokens=1)

    async def acomplete(self, messages, **kw):
        return self.complete(messages, **kw)


def rec(tokens, acts, kind="top"):
    return Record(tuple(tokens), np.asarray(acts, dtype=np.float32), kind=kind)


def passage(message):
    return message.split("<text>\n", 1)[1].split("\n</text>", 1)[0]


def metrics(results):
    return {r.metric: r for r in results}


ACTIVATING = [rec(["the", " cat", " sat"], [0, 1, 0]), rec(["a", " dog", " ran"], [0, 1, 0]),
              rec(["one", " bird"], [0, 1])]
NON_ACTIVATING = [rec(["big", " dog"], [0, 0], "random"), rec(["a", " tree"], [0, 0], "random"),
                  rec(["rain"], [0], "random")]


def animal_p(text):
    return 0.9 if "cat" in text else 0.6 if "dog" in text else 0.2


# -------------------------------------------------------------------- helpers


def test_yes_no_candidates_one_token_words():
    assert yes_no_candidates(WordTokenizer()) == ([1, 2, 3, 4], [5, 6, 7, 8])


def test_yes_no_candidates_drop_a_shared_first_token():
    yes, no = yes_no_candidates(CharTokenizer())  # " yes" and " no" both start with " "
    assert yes == sorted([ord("y") + 1000, ord("Y") + 1000]) and no == sorted([ord("n") + 1000, ord("N") + 1000])


def test_yes_no_candidates_that_cannot_be_told_apart():
    class Same(CharTokenizer):
        def encode(self, text, add_special_tokens=False):
            return [1]

    with pytest.raises(LLMError):
        yes_no_candidates(Same())


@pytest.mark.parametrize("reply, answer", [("Yes.", True), ("no", False), ("  NO, because", False),
                                           ("Answer: yes", True), ("not sure", None), ("yesterday", None),
                                           ("", None)])
def test_parse_yes_no(reply, answer):
    assert parse_yes_no(reply) is answer


def test_passage_text_defuses_the_delimiters():
    assert passage_text(["a</text>", "<text>b"]) == "a</ text>< text>b"


# ------------------------------------------------------------------ detection


def test_detection_with_slots_exact_metrics():
    model = FakeYesNoScorer(animal_p, WordTokenizer())
    res = metrics(detection_score(model, "animals", ACTIVATING, NON_ACTIVATING))
    assert set(res) == {"auroc", "balanced_accuracy", "f1", "auprc"}
    # pairs won: cat (0.9) beats all three negatives, dog (0.6) ties one and beats two, bird (0.2) ties two
    assert res["auroc"].value == pytest.approx((3 + 2.5 + 1) / 9)
    assert res["balanced_accuracy"].value == pytest.approx(2 / 3)
    assert res["f1"].value == pytest.approx(2 / 3)
    # thresholds 0.9 (1 pos), 0.6 (1 pos + 1 neg), 0.2 (1 pos + 2 neg)
    assert res["auprc"].value == pytest.approx(1 / 3 + (2 / 3) / 3 + (1 / 2) / 3)
    r = res["f1"]
    assert (r.scorer, r.split, r.n, r.scorer_model) == ("detection", "test", 6, "fake-slots")
    assert r.details == {"window": 32, "positives": 3, "negatives": 3, "said_yes": 3, "failed": 0,
                         "threshold_from": "model"}
    assert r.usage.calls == 1


def test_detection_slots_prefix_body_and_last_position():
    model = FakeYesNoScorer(animal_p, WordTokenizer())
    detection_score(model, "animals", ACTIVATING[:1], NON_ACTIVATING[:1])
    prefix, bodies, slots, candidates = model.calls[0]
    before, after = render_around("detect", "text", explanation="animals")
    assert prefix == CharTokenizer().encode(before)
    assert CharTokenizer.decode(bodies[0]) == "the cat sat" + after
    assert slots == [[len(bodies[0]) - 1], [len(bodies[1]) - 1]]
    assert CharTokenizer.decode(bodies[0][-1:]) == ":"
    assert candidates == [1, 2, 3, 4, 5, 6, 7, 8]


def test_detection_crops_windows_around_the_peak():
    model = FakeYesNoScorer(lambda text: 0.5)
    long = rec([f"t{i}" for i in range(10)], [0] * 8 + [5, 0])
    detection_score(model, "x", [long], [], window=4)
    text = CharTokenizer.decode(model.calls[0][1][0])
    assert text.startswith("t6t7t8t9\n")


def test_detection_chat_parses_and_retries():
    llm = FakeLLM(["Yes", "no", "hmm", "yes", "No.", "yes, it does", "no"])
    res = metrics(detection_score(llm, "x", ACTIVATING, NON_ACTIVATING))
    assert set(res) == {"auroc", "balanced_accuracy", "f1"}  # no probabilities, no AUPRC
    # said yes, no, yes (on the retry) | no, yes, no; answers as scores 1/0 rank as they classify
    assert res["balanced_accuracy"].value == pytest.approx(2 / 3)
    assert res["auroc"].value == pytest.approx(2 / 3)
    assert len(llm.calls) == 7 and len(llm.calls[3]) == 3  # the retry carries the reply and a nudge
    assert res["f1"].usage.calls == 7 and res["f1"].details["failed"] == 0


def test_detection_chat_exact_metrics():
    answers = {"the cat sat": "Yes", "a dog ran": "no", "one bird": "YES!", "big dog": "yes",
               "a tree": "No", "rain": "no"}
    llm = FakeLLM(lambda msg: answers[passage(msg)])
    res = metrics(detection_score(llm, "animals", ACTIVATING, NON_ACTIVATING))
    assert res["balanced_accuracy"].value == pytest.approx(2 / 3)
    assert res["f1"].value == pytest.approx(2 / 3)
    assert res["f1"].usage.calls == 6 and res["f1"].scorer_model == "fake-chat"


def test_detection_chat_failures_are_counted_then_an_error():
    # one window fails (garbage twice): left out and counted
    llm = FakeLLM(["yes", "maybe", "perhaps", "no"])
    res = metrics(detection_score(llm, "x", ACTIVATING[:2], NON_ACTIVATING[:1]))
    ba = res["balanced_accuracy"]
    assert ba.error is None and ba.n == 2 and ba.details["failed"] == 1
    assert ba.value == pytest.approx(1.0) and ba.details["errors"][0].startswith("text 1:")
    # most fail: no values, an error
    llm = FakeLLM(["maybe", "maybe", LLMError("timed out"), "yes"])
    res = detection_score(llm, "x", ACTIVATING[:2], NON_ACTIVATING[:1])
    assert all(r.value is None and "2 of 3 answers were unusable" in r.error for r in res)


def test_detection_all_one_class_is_undefined_balanced_accuracy():
    res = metrics(detection_score(FakeYesNoScorer(lambda t: 0.9), "x", ACTIVATING, []))
    assert res["balanced_accuracy"].value is None and res["f1"].value == pytest.approx(1.0)
    assert res["auprc"].value == pytest.approx(1.0)


# -------------------------------------------------------------------- fuzzing

CAT = rec(["the", " cat", " sat", " on", " mat"], [0, 5, 0, 0, 1])


def test_fuzz_marks_pick_high_tokens_and_seeded_decoys():
    correct, decoy = fuzz_marks(CAT, index=0, seed=0)
    assert correct == [1]  # " mat" is at level 2, neither marked nor a decoy
    assert len(decoy) == 1 and decoy[0] in (0, 2, 3)
    assert fuzz_marks(CAT, 0, 0) == (correct, decoy)
    draws = {tuple(fuzz_marks(CAT, 0, s)[1]) for s in range(30)}
    assert draws == {(0,), (2,), (3,)}  # every non-activating token gets drawn for some seed
    assert {tuple(fuzz_marks(CAT, i, 0)[1]) for i in range(30)} == draws  # and for some window number


def test_fuzz_marks_edge_cases():
    assert fuzz_marks(rec(["a", "b"], [0, 0]), 0) == ([], None)
    assert fuzz_marks(rec(["a", "b"], [2, 1]), 0) == ([0, 1], None)  # nothing inactive to mark instead
    assert fuzz_marks(rec(["a", "b", "c"], [4, 4, 0]), 0) == ([0, 1], [2])  # fewer decoys available


def test_marked_text_keeps_spaces_outside_marks():
    assert marked_text(["the", " cat", "\n", " sat"], [1, 2]) == "the «cat»«⏎» sat"


def test_fuzzing_exact_metrics_and_determinism():
    def says(msg):
        marked = re.findall("«(.*?)»", passage(msg))
        return "yes" if marked and all(m == "cat" for m in marked) else "no"

    records = [CAT, rec([" dog", " cat"], [1, 0]), rec(["a", "b"], [0, 0]), rec([" cat", " cat"], [1, 1])]
    res = metrics(fuzzing_score(FakeLLM(says), "the word cat", records, seed=3))
    # CAT: correct yes (TP), decoy no (TN); dog: correct no (FN), decoy " cat" yes (FP);
    # all-zero window skipped; all-cat window: correct yes (TP), no decoy
    assert res["balanced_accuracy"].value == pytest.approx(0.5 * (2 / 3 + 1 / 2))
    assert res["f1"].value == pytest.approx(4 / 6)
    d = res["f1"].details
    assert (d["skipped_inactive"], d["no_decoy"], d["positives"], d["negatives"]) == (1, 1, 3, 2)
    assert res["f1"].scorer == "fuzzing" and res["f1"].split == "test"
    again = metrics(fuzzing_score(FakeLLM(says), "the word cat", records, seed=3))
    assert again["f1"].value == res["f1"].value


def test_fuzzing_with_slots_gives_auprc():
    model = FakeYesNoScorer(lambda text: 0.8 if "«cat»" in text else 0.3, WordTokenizer())
    res = metrics(fuzzing_score(model, "the word cat", [CAT]))
    assert res["auprc"].value == pytest.approx(1.0) and res["balanced_accuracy"].value == pytest.approx(1.0)
    assert res["auroc"].value == pytest.approx(1.0)
    bodies = model.calls[0][1]
    assert [CharTokenizer.decode(b).split("\n")[0] for b in bodies][0] == "the «cat» sat on mat"


# ------------------------------------------------- ranking and the fitted cut


class LowSimulator(SimulatorBase):
    """An offline simulator that ranks windows right but never predicts a level near
    its own yes level: every window's levels are ``level(token)``, at most 3."""

    name = "low-sim"
    yes_level = 5.0

    def __init__(self, level):
        self.level = level
        self.usage = Usage()
        self.seen = []

    def run_many(self, explanations, records):
        self.seen.append([r.tokens for r in records])
        return [Simulation([np.array([self.level(t) for t in r.tokens], dtype=float) for r in records])
                for _ in explanations]


def cat_level(token):
    return 3.0 if "cat" in token else 1.0 if "dog" in token else 0.0


CATS = [rec(["the", " cat"], [0, 1]), rec([" cat", " sat"], [1, 0]), rec(["a", " cat", "!"], [0, 1, 0])]
NO_CATS = [rec(["big", " dog"], [0, 0], "random"), rec(["a", " tree"], [0, 0], "random"),
           rec(["rain"], [0], "random")]


def test_fit_threshold_by_hand():
    assert fit_threshold([True, True, False, False], [0.9, 0.8, 0.1, 0.2]) == pytest.approx(0.5)
    # a positive below a negative: cuts 0.2 and 0.65 both give BA 3/4 (0.35 gives 1/2); of the
    # equally good cuts [0.2, 0.65] the middle one by index, 0.65
    assert fit_threshold([True, True, False, False], [0.9, 0.3, 0.4, 0.1]) == pytest.approx(0.65)
    assert fit_threshold([True, True], [0.1, 0.2]) is None  # one class: nothing to fit
    assert fit_threshold([True, False], [0.5, 0.5]) is not None  # all tied: any cut, BA 0.5


def test_a_right_ranking_below_the_fixed_cut_scores_by_auroc_and_the_fitted_cut():
    sim = LowSimulator(cat_level)
    fixed = metrics(detection_score(sim, "the word cat", CATS, NO_CATS))
    # every level is below 5: the fixed cut says no to everything
    assert fixed["balanced_accuracy"].value == pytest.approx(0.5) and fixed["auroc"].value == pytest.approx(1.0)
    assert fixed["auroc"].details["threshold_from"] == "model"
    fitted = metrics(detection_score(sim, "the word cat", CATS, NO_CATS, select=(CATS[:2], NO_CATS[:2])))
    assert fitted["balanced_accuracy"].value == pytest.approx(1.0) and fitted["auroc"].value == pytest.approx(1.0)
    d = fitted["balanced_accuracy"].details
    assert d["threshold_from"] == "select" and 0.1 < d["threshold"] <= 0.3
    assert (d["select_positives"], d["select_negatives"], d["positives"], d["negatives"]) == (2, 2, 3, 3)
    assert fitted["auprc"].n == 6  # the select windows are not scored as test windows
    assert len(sim.seen[-1]) == 10  # one simulator call reads test and select windows together


def test_the_cut_is_fitted_on_select_not_on_test():
    # on select, dogs fire; on test, they don't: the fitted cut says yes to dogs and is wrong on test
    sim = LowSimulator(cat_level)
    dogs = [rec(["big", " dog"], [0, 1])]
    res = metrics(detection_score(sim, "animals", CATS, NO_CATS, select=(dogs, [rec(["rain"], [0], "random")])))
    assert res["balanced_accuracy"].details["threshold"] < 0.1
    assert res["balanced_accuracy"].value == pytest.approx(0.5 * (1 + 2 / 3))  # the test dog is a false positive


def test_select_without_both_classes_falls_back_to_the_model_cut():
    res = metrics(detection_score(LowSimulator(cat_level), "cat", CATS, NO_CATS, select=(CATS, [])))
    assert res["auroc"].details["threshold_from"] == "model"
    assert res["balanced_accuracy"].value == pytest.approx(0.5)


def test_a_chat_llm_is_not_asked_about_select_windows():
    llm = FakeLLM(lambda msg: "yes" if "cat" in passage(msg) else "no")
    res = metrics(detection_score(llm, "cat", CATS, NO_CATS, select=(CATS, NO_CATS)))
    assert len(llm.calls) == 6 and res["auroc"].details["threshold_from"] == "model"
    assert res["auroc"].value == pytest.approx(1.0)


def test_fuzzing_simulator_ranks_marks_and_fits_its_cut_on_select():
    sim = LowSimulator(cat_level)
    cats = [rec(["the", " cat", " sat", " on"], [0, 1, 0, 0]), rec([" cat", " ran", " off"], [1, 0, 0])]
    fixed = metrics(fuzzing_score(sim, "the word cat", cats))
    assert fixed["auroc"].value == pytest.approx(1.0) and fixed["balanced_accuracy"].value == pytest.approx(0.5)
    fitted = metrics(fuzzing_score(sim, "the word cat", cats, select=cats[:1]))
    assert fitted["balanced_accuracy"].value == pytest.approx(1.0)
    assert fitted["balanced_accuracy"].details["threshold_from"] == "select"
    assert fitted["f1"].n == 4  # two windows, correctly and decoy-marked


def test_window_score_pools_the_levels():
    from mechanic.evals.scorers.detection import POOLINGS, window_score

    levels = [0.0, 0.0, 10.0, 5.0, 5.0]
    assert window_score(levels, "max") == pytest.approx(1.0)
    assert window_score(levels, "mean") == pytest.approx(0.4)
    assert window_score(levels, "top3") == pytest.approx(2 / 3)
    assert window_score([5.0, 5.0], "noisy_or") == pytest.approx(0.75)
    assert window_score(levels, "max_minus_median") == pytest.approx(0.75)
    assert all(0.0 <= window_score(levels, how) <= 1.0 for how in POOLINGS)
    with pytest.raises(ValueError, match="unknown pooling"):
        window_score(levels, "median")
