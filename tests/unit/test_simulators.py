"""Simulators and simulation scoring, against tiny fakes of the LLM protocols."""

import numpy as np
import pytest
from mechanic.evals.lm import LLM, Completion, LLMError, SlotScorer, has_slots
from mechanic.evals.records import Record, ScoreResult
from mechanic.evals.scorers.simulation import simulation_score, simulation_scores_many
from mechanic.evals.simulators import (
    LEVELS_SCHEMA,
    TOKENS_PER_ENTRY,
    AllAtOnceSimulator,
    JsonSimulator,
    Simulation,
    escape_token,
    expected_levels,
    level_candidates,
    make_simulator,
    parse_levels,
)
from mechanic.prompts import render

# ------------------------------------------------------------------------ fakes


class CharTokenizer:
    """One token per character (id = code point + 1000); with ``ten=True`` the
    string "10" alone is one token (id 10), like tokenizers with number tokens."""

    def __init__(self, ten: bool = False):
        self.ten = ten

    def encode(self, text, add_special_tokens=False):
        if self.ten and text == "10":
            return [10]
        return [ord(c) + 1000 for c in text]


TAB = ord("\t") + 1000


class FakeSlotScorer:
    """Puts all probability on level ``level_of(body, slot)``; records every call."""

    def __init__(self, tokenizer, level_of=lambda body, pos: 0):
        self.name = "fake-slots"
        self.tokenizer = tokenizer
        self.level_of = level_of
        self.calls = []

    def score_slots(self, prefix, bodies, slots, candidates):
        self.calls.append((list(prefix), [list(b) for b in bodies], [list(s) for s in slots], list(candidates)))
        out = []
        for body, ss in zip(bodies, slots):
            lp = np.full((len(ss), len(candidates)), -50.0)
            for row, pos in enumerate(ss):
                lp[row, self.level_of(body, pos)] = 0.0
            out.append(lp)
        return out


class FakeLLM:
    """Replies from a script, in order (an exception in the script is raised)."""

    def __init__(self, replies):
        self.name = "fake-chat"
        self.replies = list(replies)
        self.calls = []

    def complete(self, messages, *, max_tokens=256, temperature=0.0, json_schema=None, seed=None):
        self.calls.append({"messages": list(messages), "json_schema": json_schema, "max_tokens": max_tokens})
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return Completion(reply, prompt_tokens=10, completion_tokens=3, latency=0.01)

    async def acomplete(self, messages, **kw):
        return self.complete(messages, **kw)


def rec(tokens, acts, kind="top"):
    return Record(tuple(tokens), np.asarray(acts, dtype=np.float32), kind=kind)


def test_fakes_conform_to_the_protocols():
    assert isinstance(FakeSlotScorer(CharTokenizer()), SlotScorer) and has_slots(FakeSlotScorer(CharTokenizer()))
    assert isinstance(FakeLLM([]), LLM) and not has_slots(FakeLLM([]))


# -------------------------------------------------------------- all at once


def test_escape_token_shows_line_breaks_and_tabs():
    assert escape_token("a\nb\tc\r\nd") == "a⏎b⇥c⏎d"


def test_digit_tokenizer_gets_levels_zero_to_nine():
    levels, ids = level_candidates(CharTokenizer())
    assert list(levels) == list(range(10))
    assert ids == [ord(str(d)) + 1000 for d in range(10)]


def test_number_tokenizer_gets_levels_zero_to_ten():
    levels, ids = level_candidates(CharTokenizer(ten=True))
    assert list(levels) == list(range(11)) and ids[-1] == 10


def test_missing_digit_token_is_an_error():
    class NoDigits(CharTokenizer):
        def encode(self, text, add_special_tokens=False):
            return [1, 2] if text == "7" else super().encode(text)

    with pytest.raises(LLMError, match="digit 7"):
        level_candidates(NoDigits())


def test_slots_point_at_each_tab():
    sim = AllAtOnceSimulator(FakeSlotScorer(CharTokenizer()))
    body, slots = sim.body(["ab", "\n", "c"])
    # "ab" TAB "?\n" | "⏎" TAB "?\n" | "c" TAB "?\n"
    assert slots == [2, 6, 10]
    assert all(body[s] == TAB for s in slots)
    assert body[9] == ord("c") + 1000 and body[-2:] == [ord("?") + 1000, ord("\n") + 1000]
    assert len(body) == 13


def test_prefix_is_the_rendered_prompt():
    sim = AllAtOnceSimulator(FakeSlotScorer(CharTokenizer()))
    text = render("simulate_all_at_once", explanation="cats", max_level=9)
    assert sim.prefix("cats") == [ord(c) + 1000 for c in text]


def test_expected_level_renormalises_over_candidates():
    lp = np.log(np.array([[0.1, 0.1, 0.0, 0.2], [0.25, 0.25, 0.25, 0.25]]) + 1e-300)
    np.testing.assert_allclose(expected_levels(lp, np.arange(4.0)), [(0 * 1 + 1 * 1 + 3 * 2) / 4, 1.5])


def test_all_at_once_reads_the_level_after_each_token():
    x = ord("X") + 1000
    model = FakeSlotScorer(CharTokenizer(), level_of=lambda body, pos: 9 if body[pos - 1] == x else 0)
    sim = AllAtOnceSimulator(model)
    (pred,) = sim.simulate("the letter X", [rec(["a", "X", "b", "X"], [0, 1, 0, 1])])
    # 0-9 scale rescaled by 10/9: a sure 9 is a 10
    np.testing.assert_allclose(pred, [0, 10, 0, 10], atol=1e-9)
    prefix, bodies, slots, candidates = model.calls[0]
    assert candidates == [ord(str(d)) + 1000 for d in range(10)]
    assert all(bodies[0][s] == TAB for s in slots[0])


def test_all_at_once_with_ten_as_one_token_is_not_rescaled():
    sim = AllAtOnceSimulator(FakeSlotScorer(CharTokenizer(ten=True), level_of=lambda body, pos: 10))
    (pred,) = sim.simulate("x", [rec(["a", "b"], [0, 1])])
    np.testing.assert_allclose(pred, [10, 10])
    assert "from 0 (inactive) to 10" in render("simulate_all_at_once", explanation="x", max_level=sim.max_level)


def test_uniform_distribution_gives_the_middle_level():
    class Uniform(FakeSlotScorer):
        def score_slots(self, prefix, bodies, slots, candidates):
            return [np.zeros((len(s), len(candidates))) for s in slots]

    (pred,) = AllAtOnceSimulator(Uniform(CharTokenizer())).simulate("x", [rec(["a"], [1])])
    np.testing.assert_allclose(pred, [5.0])  # mean of 0..9 is 4.5, times 10/9


def test_simulate_many_batches_records_and_explanations():
    model = FakeSlotScorer(CharTokenizer())
    sim = AllAtOnceSimulator(model, batch_size=2)
    records = [rec(["a"], [0]), rec(["b", "c"], [0, 1]), rec(["d"], [1])]
    preds = sim.simulate_many(["one", "two"], records)
    assert [[len(p) for p in ps] for ps in preds] == [[1, 2, 1], [1, 2, 1]]
    assert [len(c[1]) for c in model.calls] == [2, 1, 2, 1]  # two explanations x two batches
    assert model.calls[0][0] == sim.prefix("one") and model.calls[2][0] == sim.prefix("two")
    assert sim.usage.calls == 4
    body_tokens = sum(len(b) for c in model.calls for b in c[1])
    assert sim.usage.prompt_tokens == 2 * len(sim.prefix("one")) + 2 * len(sim.prefix("two")) + body_tokens


def test_empty_record_gives_empty_prediction():
    (pred,) = AllAtOnceSimulator(FakeSlotScorer(CharTokenizer())).simulate("x", [rec([], [])])
    assert pred.shape == (0,)


# ------------------------------------------------------------------------- JSON


@pytest.mark.parametrize("reply, expected", [
    ('{"1": 7, "3": 10}', [0, 7, 0, 10]),
    ('{}', [0, 0, 0, 0]),
    ('Sure!\n```json\n{"0": 3}\n```', [3, 0, 0, 0]),
    ('{"2": "4", "9": 8, "1": 15, "0": -2}', [0, 10, 4, 0]),  # string level, index out of range, clipping
    ('{"1": 6.5, "x": 3}', [0, 6.5, 0, 0]),
    ('{"1": 7, "2": 5, "3"', [0, 7, 5, 0]),  # cut off mid-object
])
def test_parse_levels(reply, expected):
    np.testing.assert_allclose(parse_levels(reply, 4), expected)


@pytest.mark.parametrize("reply", ["no tokens fire", '{"cat": 5}', "{ oops", ""])
def test_parse_levels_rejects_what_it_cannot_read(reply):
    assert parse_levels(reply, 4) is None


def test_json_simulator_asks_with_schema_and_tokens():
    llm = FakeLLM(['{"1": 8}'])
    sim = JsonSimulator(llm)
    (pred,) = sim.simulate("months", [rec(["In", " May", "."], [0, 1, 0])])
    np.testing.assert_allclose(pred, [0, 8, 0])
    call = llm.calls[0]
    assert call["json_schema"] == LEVELS_SCHEMA
    assert "1\t May" in call["messages"][0]["content"] and "months" in call["messages"][0]["content"]
    assert sim.usage.calls == 1 and sim.usage.tokens == 13


def test_json_simulator_caps_the_reply_at_the_record_length():
    llm = FakeLLM(['{"1": 8}', '{"1": 8}', '{"1": 8}'])
    JsonSimulator(llm, max_tokens=512).simulate("months", [rec(["In", " May", "."], [0, 1, 0])])
    JsonSimulator(llm, max_tokens=512).simulate("months", [rec(["x"] * 200, [0] * 200)])
    JsonSimulator(llm, max_tokens=20).simulate("months", [rec(["In", " May", "."], [0, 1, 0])])
    short, long, small = (c["max_tokens"] for c in llm.calls)
    assert short == TOKENS_PER_ENTRY * 3 + 16  # room for every token of the record, no more
    assert long == 512 and small == 20  # never above the configured cap


def test_json_simulator_retries_once_then_succeeds():
    llm = FakeLLM(["I think May.", '{"1": 8}'])
    sim = JsonSimulator(llm)
    result = sim.run("months", [rec(["In", " May"], [0, 1])])
    np.testing.assert_allclose(result.predictions[0], [0, 8])
    assert len(llm.calls) == 2 and len(llm.calls[1]["messages"]) == 3
    assert result.usage.calls == 2 and not result.errors


def test_json_simulator_reports_failures_instead_of_zeros():
    llm = FakeLLM(["nope", "still nope", '{"0": 2}', LLMError("endpoint down")])
    sim = JsonSimulator(llm)
    records = [rec(["a"], [1]), rec(["b"], [0]), rec(["c"], [0])]
    result = sim.run("x", records)
    assert result.predictions[0] is None and result.predictions[2] is None
    np.testing.assert_allclose(result.predictions[1], [2])
    assert result.failed == 2
    assert result.errors[0].startswith("record 0:") and "endpoint down" in result.errors[1]
    with pytest.raises(LLMError, match="could not be simulated"):
        JsonSimulator(FakeLLM(["nope", "nope"])).simulate("x", records[:1])


def test_json_simulator_keeps_order_with_concurrency():
    class Echo(FakeLLM):
        def complete(self, messages, **kw):
            text = messages[0]["content"]
            token = text.split("<tokens>\n0\t")[1].split("\n")[0]
            return Completion('{"0": %d}' % int(token))

    sim = JsonSimulator(Echo([]), concurrency=4)
    preds = sim.simulate("x", [rec([str(i)], [0]) for i in range(9)])
    assert [float(p[0]) for p in preds] == list(range(9))


def test_make_simulator_picks_by_capability():
    assert isinstance(make_simulator(FakeSlotScorer(CharTokenizer()), batch_size=3), AllAtOnceSimulator)
    assert isinstance(make_simulator(FakeLLM([]), batch_size=3), JsonSimulator)


# ------------------------------------------------------------------- scoring


class FixedSimulator:
    """Returns given predictions (None = failed record)."""

    name = "fixed"

    def __init__(self, predictions, errors=()):
        from mechanic.evals.lm import Usage

        self.predictions = predictions
        self.errors = list(errors)
        self.usage = Usage(calls=1, prompt_tokens=5)

    def run(self, explanation, records):
        return Simulation(list(self.predictions), self.usage, self.errors)

    def run_many(self, explanations, records):
        return [self.run(e, records) for e in explanations]


def by_split(results):
    assert all(isinstance(r, ScoreResult) and r.scorer == "simulation" and r.metric == "pearson" for r in results)
    return {r.split: r for r in results}


RECORDS = [
    rec(["a", "b", "c"], [0.0, 2.0, 1.0], "top"),
    rec(["d", "e"], [3.0, 0.0], "decile"),
    rec(["f", "g", "h"], [0.0, 0.0, 1.0], "random"),
]
PREDS = [np.array([1.0, 9.0, 2.0]), np.array([8.0, 0.0]), np.array([0.0, 3.0, 4.0])]


def test_pearson_pooled_per_split():
    res = by_split(simulation_score(FixedSimulator(PREDS), "x", RECORDS, scorer_model="m"))
    top = np.corrcoef([1, 9, 2, 8, 0], [0, 2, 1, 3, 0])[0, 1]
    rnd = np.corrcoef([0, 3, 4], [0, 0, 1])[0, 1]
    every = np.corrcoef([1, 9, 2, 8, 0, 0, 3, 4], [0, 2, 1, 3, 0, 0, 0, 1])[0, 1]
    assert res["top"].value == pytest.approx(top) and res["random"].value == pytest.approx(rnd)
    assert res["all"].value == pytest.approx(every)
    assert (res["top"].n, res["random"].n, res["all"].n) == (2, 1, 3)
    assert res["all"].details == {"records": 3, "tokens": 8, "failed": 0}
    assert res["top"].scorer_model == "m" and res["all"].usage.calls == 1


def test_constant_prediction_is_undefined_not_nan():
    res = by_split(simulation_score(FixedSimulator([np.zeros(3), np.zeros(2), np.zeros(3)]), "x", RECORDS))
    for r in res.values():
        assert r.value is None and r.error is None and r.details["undefined"] == "constant prediction"


def test_missing_split_is_reported_empty():
    res = by_split(simulation_score(FixedSimulator(PREDS[:2]), "x", RECORDS[:2]))
    assert res["random"].value is None and res["random"].n == 0 and res["random"].details["undefined"] == "no records"
    assert res["all"].value == pytest.approx(res["top"].value)


def test_failed_records_are_counted_and_a_mostly_failed_split_is_an_error():
    res = by_split(simulation_score(FixedSimulator([PREDS[0], None, None], ["record 1: bad", "record 2: bad"]),
                                    "x", RECORDS))
    assert res["top"].value == pytest.approx(np.corrcoef([1, 9, 2], [0, 2, 1])[0, 1])
    assert res["top"].details["failed"] == 1 and res["top"].error is None  # half is tolerated
    assert res["random"].value is None and "1 of 1 records could not be simulated" in res["random"].error
    assert res["all"].error is not None and res["all"].details["errors"] == ["record 1: bad", "record 2: bad"]


def test_scores_many_uses_one_batched_simulation():
    x = ord("X") + 1000
    model = FakeSlotScorer(CharTokenizer(), level_of=lambda body, pos: 9 if body[pos - 1] == x else 0)
    sim = AllAtOnceSimulator(model, batch_size=8)
    records = [rec(["X", "a"], [1, 0], "top"), rec(["b", "X"], [0, 1], "random")]
    many = simulation_scores_many(sim, ["e1", "e2", "e3"], records)
    assert len(many) == 3 and len(model.calls) == 3
    for results in many:
        assert by_split(results)["all"].value == pytest.approx(1.0)
        assert by_split(results)["all"].scorer_model == "all_at_once:fake-slots"
    assert sim.usage.calls == 3 and many[0][0].usage.calls == 1


def test_a_simulator_with_only_simulate_is_charged_its_usage_delta():
    from mechanic.evals.lm import Usage

    class Plain:
        name = "plain"

        def __init__(self):
            self.usage = Usage(calls=5, prompt_tokens=100)

        def simulate(self, explanation, records):
            self.usage.calls += 2
            self.usage.prompt_tokens += 40
            return [np.asarray(p) for p in PREDS]

    plain = Plain()
    res = by_split(simulation_score(plain, "x", RECORDS))
    assert res["all"].value == pytest.approx(by_split(simulation_score(FixedSimulator(PREDS), "x", RECORDS))["all"].value)
    assert (res["all"].usage.calls, res["all"].usage.prompt_tokens) == (2, 40)
    many = simulation_scores_many(plain, ["a", "b"], RECORDS)
    assert [(r[0].usage.calls, r[0].usage.prompt_tokens) for r in many] == [(2, 40), (2, 40)]
