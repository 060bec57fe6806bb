"""ScriptedLLM (the fake LLM of every agent test) and the make_llm factory."""

import asyncio

import numpy as np
import pytest
from mechanic.agent.llm import LLM_SPECS, LLMError, LocalLLM, OpenAILLM, ScriptedLLM, make_llm
from mechanic.evals.lm import LLM, SlotScorer, TextCompleter, has_slots, has_text_completion
from mechanic.tools import tiny_subject

MESSAGES = [{"role": "system", "content": "You label features."}, {"role": "user", "content": "Label it."}]


def test_replies_are_consumed_in_order_and_calls_recorded():
    llm = ScriptedLLM(["first answer", "second"])
    assert isinstance(llm, LLM) and not has_slots(llm)
    a = llm.complete(MESSAGES, max_tokens=10, json_schema={"type": "object"})
    b = llm.complete(MESSAGES, temperature=0.5, seed=2)
    assert (a.text, b.text) == ("first answer", "second")
    assert (a.prompt_tokens, a.completion_tokens, b.completion_tokens) == (5, 2, 1)
    assert llm.calls[0] == {"messages": MESSAGES, "kwargs": {"max_tokens": 10, "temperature": 0.0,
                                                             "json_schema": {"type": "object"}, "seed": None}}
    assert llm.calls[1]["kwargs"]["temperature"] == 0.5 and llm.calls[1]["kwargs"]["seed"] == 2
    assert llm.remaining == 0
    assert (llm.usage.calls, llm.usage.completion_tokens) == (2, 3)


def test_exhausted_script_is_a_clear_error():
    llm = ScriptedLLM(["only"], name="explainer")
    llm.complete(MESSAGES)
    with pytest.raises(LLMError, match="explainer: script exhausted after 1 replies"):
        llm.complete(MESSAGES)


def test_recorded_messages_are_copies():
    messages = [{"role": "user", "content": "a"}]
    llm = ScriptedLLM(["x"])
    llm.complete(messages)
    messages[0]["content"] = "changed"
    assert llm.calls[0]["messages"][0]["content"] == "a"


def test_callable_script_sees_messages_and_kwargs():
    def reply(messages, **kwargs):
        return f"{messages[-1]['content']} / {kwargs['max_tokens']}"

    llm = ScriptedLLM(reply)
    assert llm.complete(MESSAGES, max_tokens=7).text == "Label it. / 7"
    assert [c.text for c in llm.complete_many(MESSAGES, 2, max_tokens=3)] == ["Label it. / 3"] * 2
    assert [c["kwargs"]["seed"] for c in llm.calls] == [None, None, None]


def test_async_calls():
    llm = ScriptedLLM(["a", "b"])

    async def run():
        return [await llm.acomplete(MESSAGES), (await llm.acomplete_many(MESSAGES, 1))[0]]

    assert [c.text for c in asyncio.run(run())] == ["a", "b"]


def test_text_completion_is_opt_in_and_cuts_at_stop():
    assert not has_text_completion(ScriptedLLM(["x"]))
    llm = ScriptedLLM(["month names\nand more", "dates"], text_completion=True)
    assert isinstance(llm, TextCompleter) and has_text_completion(llm)
    assert llm.complete_text("Words: January, March ->", max_tokens=8).text == "month names"
    assert llm.calls[0] == {"prompt": "Words: January, March ->", "messages": None,
                            "kwargs": {"max_tokens": 8, "temperature": 0.0, "seed": None, "stop": ("\n",)}}
    assert llm.complete_text("p", stop=()).text == "dates"
    echo = ScriptedLLM(lambda prompt, **kw: prompt.upper(), text_completion=True)
    assert echo.complete_text("abc").text == "ABC"


def test_slot_fn_makes_a_slot_scorer():
    def slot_fn(prefix, bodies, slots, candidates):
        return [np.full((len(s), len(candidates)), -1.0) for s in slots]

    tokenizer = object()
    llm = ScriptedLLM([], slot_fn=slot_fn, tokenizer=tokenizer)
    assert isinstance(llm, SlotScorer) and has_slots(llm) and llm.tokenizer is tokenizer
    out = llm.score_slots([1], [[2, 3], [4]], [[0, 1], []], [5, 6, 7])
    assert [o.shape for o in out] == [(2, 3), (0, 3)]
    assert llm.slot_calls[0]["bodies"] == [[2, 3], [4]]
    with pytest.raises(ValueError, match="tokenizer"):
        ScriptedLLM([], slot_fn=slot_fn)


def test_make_llm_specs(monkeypatch):
    subject = tiny_subject("llama")
    local = make_llm("local", subject)
    assert isinstance(local, LocalLLM) and local.model is subject.model  # reused, not reloaded
    assert make_llm("local:tiny:gpt2").name == "local:tiny:gpt2"
    remote = make_llm("openai:gpt-4o-mini")
    assert isinstance(remote, OpenAILLM) and remote.model == "gpt-4o-mini"
    for bad in ("", "openai", "openai:", "vllm:x", "locally"):
        with pytest.raises(LLMError, match="unknown LLM spec") as info:
            make_llm(bad)
        assert all(spec.split(" ")[0] in str(info.value) for spec in LLM_SPECS)
