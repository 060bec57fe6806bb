"""Routing of `mechanic ask` questions: the held-out bank (tests/data/ask_questions.json,
never used to build the patterns) routed at >= 95% accuracy, with slots taken from the
wording, and questions that fit no kind refused."""

import json
from pathlib import Path

import pytest
from mechanic.agent.ask.bank import DEV_QUESTIONS, OFF_TOPIC
from mechanic.agent.ask.routing import Router, degenerate_prompt, extract_slots, pattern_kinds
from mechanic.evals.embedding import default_embedder

BANK = json.loads((Path(__file__).parents[1] / "data" / "ask_questions.json").read_text())["questions"]


@pytest.fixture(scope="module")
def router():
    return Router(default_embedder())


def test_the_held_out_bank_has_six_questions_per_kind_none_of_them_in_the_dev_bank():
    kinds = [q["kind"] for q in BANK]
    assert len(BANK) == 24 and all(kinds.count(k) == 6 for k in ("where", "component", "behaviour", "related"))
    dev = {q.lower() for qs in DEV_QUESTIONS.values() for q in qs}
    assert not dev & {q["question"].lower() for q in BANK}


def test_routing_accuracy_on_the_held_out_bank(router):
    routed = [(q, router.route(q["question"])) for q in BANK]
    wrong = [(q["question"], q["kind"], r.kind) for q, r in routed if r.kind != q["kind"]]
    accuracy = 1 - len(wrong) / len(BANK)
    print(f"routing accuracy on the held-out bank: {accuracy:.3f} ({len(BANK) - len(wrong)}/{len(BANK)})")
    assert accuracy >= 0.95, wrong
    assert all(r.reason for _, r in routed)


def test_off_topic_questions_are_refused_with_a_reason(router):
    for q in [*OFF_TOPIC, "what's your favourite colour?", "summarise this article for me"]:
        r = router.route(q)
        assert r.kind is None and "no pattern" in r.reason, (q, r)


def test_the_grey_zone_is_the_only_place_an_llm_chooses():
    asked = []
    router = Router(default_embedder(), choose=lambda q, kinds: asked.append(kinds) or kinds[0])
    assert router.route("which features relate to negation?").by == "pattern" and not asked
    router.GREY, router.ACCEPT = -1.0, 2.0  # everything pattern-less is grey now
    r = router.route("the month, in layers?")
    assert r.by == "llm" and len(asked) == 1 and r.kind == asked[0][0]


@pytest.mark.parametrize("question, slots", [
    ("Which layer best represents whether a token is a number?", {"concept": "number"}),
    ("where does the model represent the month?", {"concept": "month"}),
    ("Where is the notion of a weekday encoded in the residual stream?", {"concept": "weekday"}),
    ("Explain neuron 42 in layer 10", {"feature": "mlp:10:42"}),
    ("Tell me what head 3 of layer 7 is doing", {"feature": "attn:7:3"}),
    ("which components make 'The capital of France is' predict ' Paris'?",
     {"prompt": "The capital of France is", "watch": " Paris"}),
    ("What parts of the network are responsible for predicting 'Monday' after 'Sunday, '?",
     {"prompt": "Sunday, ", "watch": "Monday"}),
    ("Which layers cause 'def main():' to be followed by a newline?", {"prompt": "def main():", "watch": "\n"}),
    ("Find neurons related to indentation", {"concept": "indentation"}),
])
def test_slots_come_from_the_wording(question, slots):
    kind = next(iter(pattern_kinds(question)))
    assert extract_slots(kind, question) == slots


def test_a_behaviour_question_without_a_prompt_has_no_prompt_slot():
    assert list(pattern_kinds("which layers make the model predict Paris?")) == ["behaviour"]
    assert extract_slots("behaviour", "which layers make the model predict Paris?")["prompt"] == ""


@pytest.mark.parametrize("prompt, bad", [
    ("1.1.1.1.1.1.1.1", True), ("the the the the the the", True), ("aaaaaaaaaa", True), ("ab", True),
    ("The capital of France is", False), ("def main():", False), ("one, two, three,", False),
])
def test_degenerate_prompts(prompt, bad):
    assert (degenerate_prompt(prompt) is not None) == bad
