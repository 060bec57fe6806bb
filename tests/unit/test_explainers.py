"""Explainers with a scripted LLM: parsing, retries, failures, best-of-k selection."""

import numpy as np
import pytest
from mechanic import prompts
from mechanic.agent.evidence import Evidence
from mechanic.agent.explainers import (
    BestOfKExplainer,
    OneShotExplainer,
    ParseError,
    TokensExplainer,
    parse_explanation,
    render_chat_evidence,
    top_words,
)
from mechanic.agent.llm import ScriptedLLM
from mechanic.evals.lm import Usage
from mechanic.evals.records import Record


def _record(tokens, acts, kind="top", window=0):
    return Record(tuple(tokens), np.array(acts, dtype=np.float32), kind, "train", window)


def _evidence(**kw):
    top = [
        _record([" in", " January", " of"], [0, 5.0, 0.1], window=1),
        _record([" by", " March", " next"], [0, 4.0, 0], window=2),
        _record([" since", " January", "."], [0, 3.0, 0], window=3),
    ]
    base = dict(feature="mlp:3:7", stats={"count": 100, "mean": 0.1, "var": 1.0, "max": 5.0, "min": -0.2,
                                          "frac_active": 0.05},
                top=top, deciles=[_record([" May", "!"], [1.0, 0], "decile", 4)], bottom=[],
                input_tokens=[(" January", 4.0, 2), (" March", 4.0, 1), (" May", 1.0, 1)],
                promoted=[" 2020", " 1999"], suppressed=[" the"])
    base.update(kw)
    return Evidence(**base)


@pytest.mark.parametrize("reply, expected", [
    ("month names", "month names"),
    ("  Label: Month names.\nmore text", "Month names"),
    ('"names of months"', "names of months"),
    ("Explanation: the unit fires on months", "months"),
    ("the cat, the dog, the end", "the cat, the dog, the end"),  # half is not most
])
def test_parse_explanation(reply, expected):
    assert parse_explanation(reply) == expected


@pytest.mark.parametrize("reply, why", [
    ("", "empty"), ("   \n  ", "empty"), ("Label:", "no explanation"), ("[[January]]^9", "markup"),
    ("Words: a, b -> c", "markup"), ("x" * 300, "characters"), ("123 ... !!", "no words"),
    ('to", "to", "to", "to", "to", "to", "to",', "repeats 'to'"),
])
def test_parse_explanation_rejects(reply, why):
    with pytest.raises(ParseError, match=why):
        parse_explanation(reply)


def test_tokens_explainer_is_llm_free_floor():
    result = TokensExplainer().explain(_evidence())
    assert result.status == "ok" and result.explainer_model == "none"
    assert result.text == "the tokens ' January'; promotes ' 2020', ' 1999'"
    empty = TokensExplainer().explain(_evidence(input_tokens=[]))
    assert empty.status == "failed" and empty.text is None


def test_top_words_and_chat_rendering():
    ev = _evidence()
    assert top_words(ev.top) == ["January", "March"]
    text = render_chat_evidence(ev)
    assert "⟦ January|10⟧" in text and "⟦ March|8⟧" in text and "' 2020'" in text
    assert "most negative" not in text  # min -0.2 is not a real negative side


def test_oneshot_fewshot_prompt_and_answer():
    llm = ScriptedLLM(["month names\n"])
    result = OneShotExplainer(llm, style="fewshot").explain(_evidence())
    assert (result.status, result.text, result.method) == ("ok", "month names", "oneshot")
    prompt = llm.calls[0]["messages"][0]["content"]
    assert prompt == prompts.render("explain_fewshot", words="January, March, May").rstrip()
    assert prompt.endswith("Words: January, March, May ->")
    assert result.prompt_hash == prompts.prompt_hash("explain_fewshot") and result.usage.calls == 1


def test_oneshot_chat_retries_then_records_failure_with_raw_text():
    llm = ScriptedLLM(["[[x]]^3", "", "Words: -> nope"])
    result = OneShotExplainer(llm, style="chat", retries=2).explain(_evidence())
    assert result.status == "failed" and result.text is None
    assert result.raw == "Words: -> nope" and "3 attempts" in result.error
    assert len(llm.calls) == 3 and result.usage.calls == 3
    assert llm.calls[1]["kwargs"]["temperature"] >= 0.7  # retries sample


def test_oneshot_recovers_on_retry():
    llm = ScriptedLLM(["", "dates"])
    result = OneShotExplainer(llm, style="chat").explain(_evidence())
    assert result.text == "dates" and result.details["attempts"] == 2


def test_bestofk_keeps_the_candidate_the_selector_scores_best():
    llm = ScriptedLLM(["numbers", "month names", "numbers", "weekdays"])
    seen = []

    def selector(texts):
        seen.append(list(texts))
        return [{"numbers": 0.1, "month names": 0.6, "weekdays": None}[t] for t in texts], Usage(calls=3)

    result = BestOfKExplainer(OneShotExplainer(llm, style="chat"), selector, k=4).explain(_evidence())
    assert result.text == "month names" and result.method == "bestofk"
    assert seen == [["numbers", "month names", "weekdays"]]  # deduplicated, in order
    assert result.usage.calls == 4 + 3
    assert [c["selection_score"] for c in result.details["candidates"]] == [0.1, 0.6, None]


def test_bestofk_fails_only_when_every_candidate_fails():
    llm = ScriptedLLM(["", "", "", "", "", ""])
    result = BestOfKExplainer(OneShotExplainer(llm, style="chat", retries=0), lambda t: ([], Usage()), k=3) \
        .explain(_evidence())
    assert result.status == "failed" and "all 3 candidates failed" in result.error


def test_chat_evidence_shows_searched_descriptions_with_their_scores():
    plain = render_chat_evidence(_evidence())
    assert "Descriptions found by testing simple rules" not in plain
    text = render_chat_evidence(_evidence(searched=[("month names", 0.61), ("the word 'January'", None)]))
    assert text.startswith(plain.split("\nTokens it fires on most")[0])
    assert "- month names (0.61)\n- the word 'January' (n/a)" in text


def test_bestofk_counts_proposed_descriptions_among_its_k():
    llm = ScriptedLLM(["numbers", "weekdays"])
    scores = {"numbers": 0.1, "weekdays": 0.2, "month names": 0.6, "the word 'January'": 0.3}

    def propose(evidence):
        return ["month names", "the word 'January'"], Usage()

    result = BestOfKExplainer(OneShotExplainer(llm, style="chat"), lambda ts: ([scores[t] for t in ts], Usage()),
                              k=4, proposer=propose).explain(_evidence())
    assert result.usage.calls == 2  # the LLM wrote k - 2 candidates
    assert result.text == "month names" and result.details["source"] == "search"
    assert [(c["text"], c["source"]) for c in result.details["candidates"]] == [
        ("numbers", "llm"), ("weekdays", "llm"), ("month names", "search"), ("the word 'January'", "search")]
