"""The three-way ground-truth judge: option shuffling, the LLM judge by JSON and by
slot log-probabilities (scripted answers), the embedding judge on real MiniLM."""

import json

import numpy as np
import pytest
from mechanic.agent.llm import ScriptedLLM
from mechanic.evals.judge import (
    LETTERS,
    EmbeddingJudge,
    LLMJudge,
    judge_truth,
    shuffled_options,
    truth_similarity,
)

TRUTH = "names of months (January, March)"
DECOYS = ("days of the week", "names of the seasons")


def test_options_are_shuffled_by_seed_and_key_and_keep_the_truth():
    seen = set()
    for key in range(30):
        options, at = shuffled_options(TRUTH, DECOYS, key=f"f{key}", seed=0)
        assert sorted(options) == sorted([TRUTH, *DECOYS]) and options[at] == TRUTH
        assert shuffled_options(TRUTH, DECOYS, key=f"f{key}", seed=0) == (options, at)  # deterministic
        seen.add(at)
    assert seen == {0, 1, 2}  # the truth is not always in one place


def _letter_of(prompt: str, needle: str) -> str:
    for letter in LETTERS:
        line = next(ln for ln in prompt.splitlines() if ln.startswith(f"{letter}. "))
        if needle in line:
            return letter
    raise AssertionError(f"{needle!r} not among the options")


def test_llm_judge_in_json_picks_what_the_model_answers():
    # The scripted model answers with the option that mentions "months" (the truth).
    def reply(messages, **kwargs):
        assert kwargs["json_schema"]["properties"]["answer"]["enum"] == list(LETTERS)
        return json.dumps({"answer": _letter_of(messages[-1]["content"], "months")})

    llm = ScriptedLLM(reply)
    choice = judge_truth(LLMJudge(llm), "the month of the year", TRUTH, DECOYS, key="month_names")
    assert choice.correct is True and choice.error is None and choice.usage.calls == 1
    # and a model that picks a decoy is wrong
    wrong = ScriptedLLM(lambda m, **k: json.dumps({"answer": _letter_of(m[-1]["content"], "days")}))
    assert judge_truth(LLMJudge(wrong), "weekdays", TRUTH, DECOYS, key="month_names").correct is False
    # the prompt shows the explanation and all three options
    prompt = llm.calls[0]["messages"][-1]["content"]
    assert "the month of the year" in prompt and all(o.split(" (")[0] in prompt for o in [TRUTH, *DECOYS])


def test_llm_judge_accepts_a_bare_letter_and_fails_on_nonsense():
    options, at = shuffled_options(TRUTH, DECOYS, key="k")
    bare = ScriptedLLM([f"{LETTERS[at]}"])
    assert judge_truth(LLMJudge(bare), "months", TRUTH, DECOYS, key="k").correct is True
    nonsense = ScriptedLLM(["I cannot say"])
    choice = judge_truth(LLMJudge(nonsense), "months", TRUTH, DECOYS, key="k")
    assert choice.picked is None and choice.correct is None and "no letter" in choice.error


def test_llm_judge_reads_slot_probabilities_over_the_letters(subject):
    tok = subject.tokenizer

    def slot_fn(prefix, bodies, slots, candidates):
        # a judge that reads the prompt: it favours the letter that labels the months option
        assert len(bodies) == 3 and all(s == [len(b) - 1] for s, b in zip(slots, bodies))
        out = []
        for body in bodies:
            letter = _letter_of(tok.decode(list(prefix) + list(body)), "months")
            want = tok.encode(letter, add_special_tokens=False)[0]
            out.append(np.array([[0.0 if c == want else -5.0 for c in candidates]]))
        return out

    llm = ScriptedLLM([], slot_fn=slot_fn, tokenizer=tok)
    options, at = shuffled_options(TRUTH, DECOYS, key="slots")
    choice = judge_truth(LLMJudge(llm), "months", TRUTH, DECOYS, key="slots")
    assert choice.correct is True and llm.calls == [] and len(llm.slot_calls) == 1  # one batched read, no chat
    assert len(choice.probabilities) == 3 and abs(sum(choice.probabilities) - 1) < 1e-9
    assert choice.probabilities[at] > 0.9


def test_a_judge_with_a_favourite_letter_is_averaged_to_chance(subject):
    tok = subject.tokenizer
    a_id = tok.encode("A", add_special_tokens=False)[0]

    def always_a(prefix, bodies, slots, candidates):
        return [np.array([[0.0 if c == a_id else -9.0 for c in candidates]]) for _ in bodies]

    judge = LLMJudge(ScriptedLLM([], slot_fn=always_a, tokenizer=tok))
    correct = []
    for key in range(60):
        choice = judge_truth(judge, f"explanation {key}", TRUTH, DECOYS, key=str(key))
        assert np.allclose(choice.probabilities, 1 / 3, atol=1e-3)  # the bias cancels
        correct.append(choice.correct)
    assert 8 <= sum(correct) <= 32  # about a third, not always right or always wrong


@pytest.fixture(scope="module")
def embedder():
    from mechanic.evals.embedding import Embedder

    return Embedder()


@pytest.mark.parametrize("explanation, truth, decoys", [
    ("January, February and other months", TRUTH, DECOYS),
    ("the Python keywords def and return", "Python reserved keywords (def, return, if)",
     ("colour words such as red and blue", "names of days of the week")),
    ("closing brackets like ) and ]", "closing brackets ) ] }", ("words about food", "first names of people")),
])
def test_embedding_judge_on_obvious_cases(embedder, explanation, truth, decoys):
    judge = EmbeddingJudge(embedder)
    for key in ("a", "b", "c"):  # whatever the order
        assert judge_truth(judge, explanation, truth, decoys, key=key).correct is True
    assert truth_similarity(embedder, explanation, truth) > max(truth_similarity(embedder, explanation, d)
                                                                for d in decoys)


def test_three_way_needs_two_decoys():
    with pytest.raises(ValueError, match="exactly 2 decoys"):
        judge_truth(EmbeddingJudge.__new__(EmbeddingJudge), "x", TRUTH, DECOYS[:1], key="k")
