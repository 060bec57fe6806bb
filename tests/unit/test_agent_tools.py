"""The agent's tools: schemas from signatures and docstrings, argument validation with
errors the model can act on, real measurements on a tiny model, the test split never
reachable, and the JSON-step driver's repair loop."""

import json

import pytest
from mechanic import store
from mechanic.agent.investigation import (
    Instruments,
    JsonStepDriver,
    ToolError,
    parse_json_object,
    step_schema,
    tool_schema,
    validate_arguments,
    verdict,
)
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.pipeline import cache_features
from mechanic.tools import CaptureConfig

FEATURE = "mlp:1:3"


@pytest.fixture(scope="module")
def instruments(subject, tmp_path_factory):
    db = store.open_db(tmp_path_factory.mktemp("tools") / "m.db")
    cache_features(db, subject, subject.features(FEATURE), source="default", n_tokens=1024, length=16,
                   config=CaptureConfig(top_k=12, n_random=8, decile_pool=20, batch_size=16), progress=False)
    return Instruments(subject, db, store.get_feature(db, subject.name, FEATURE))


def test_schema_comes_from_the_signature_and_docstring():
    schema = tool_schema(Instruments.steer)
    params = schema["parameters"]
    assert schema["name"] == "steer" and schema["description"].startswith("Add scale times")
    assert params["required"] == ["texts"] and params["additionalProperties"] is False
    assert params["properties"]["texts"]["type"] == "array"
    assert params["properties"]["texts"]["items"]["type"] == "string"
    assert params["properties"]["scale"]["type"] == "number"
    assert "max activation" in params["properties"]["scale"]["description"]
    exemplars = tool_schema(Instruments.exemplars)["parameters"]["properties"]
    assert exemplars["split"]["enum"] == ["train", "select"]  # the test split is not offered
    both = step_schema([tool_schema(Instruments.steer), tool_schema(Instruments.ablate)])
    assert [o["properties"]["tool"]["const"] for o in both["anyOf"]] == ["steer", "ablate"]


@pytest.mark.parametrize("args, message", [
    ({"texts": "hi"}, "texts must be a list"),
    ({"texts": ["a"] * 7}, "at most 6"),
    ({"texts": ["a"], "scale": "big"}, "scale must be a number"),
    ({"texts": ["a"], "colour": 1}, "unknown argument 'colour'"),
    ({}, "missing argument 'texts'"),
])
def test_validation_names_the_problem(args, message):
    with pytest.raises(ToolError, match=message):
        validate_arguments(Instruments.steer, args)


def test_validation_coerces_whole_floats_to_ints():
    assert validate_arguments(Instruments.probe, {"positive": ["a"], "negative": ["b"], "layer": 2.0})["layer"] == 2


@pytest.mark.parametrize("tool, args, message", [
    ("activations", {"texts": []}, "texts is empty"),
    ("activations", {"texts": ["hi"], "feature": "mlp:7:1"}, "layer 7 out of range"),
    ("activations", {"texts": ["hi"], "feature": "mlp:1:9999"}, "valid neurons"),
    ("exemplars", {"split": "test"}, "split must be one of"),
    ("exemplars", {"n": 0}, "n must be 1-6"),
    ("search_by_activation", {"text": "hi", "layer": 5}, "layer must be 0-2"),
    ("probe", {"positive": ["a", "b"], "negative": ["c", "d", "e"], "layer": 1}, "at least 3"),
    ("steer", {"texts": ["hi"], "scale": 100}, "between -20 and 20"),
    ("feature_stats", {"feature": "mlp:2:5"}, "no stored statistics"),
    ("nonexistent", {}, "unknown tool"),
    ("test_hypothesis", {"hypothesis": 1, "activating": ["test_hypothesis"] * 6, "near_miss": ["a cat", "a dog"]},
     "'test_hypothesis', a placeholder rather than an example"),
    ("test_hypothesis", {"hypothesis": 1, "activating": ["In May.", " in may. "], "near_miss": ["a cat", "a dog"]},
     "activating needs 2-6 different texts, got 1"),
    ("ablate", {"texts": ["texts"]}, "a placeholder rather than an example"),
    ("activations", {"texts": ["...", "hello"]}, "'...', a placeholder rather than an example"),
    ("activations", {"texts": ["hello", " … "]}, "'…', a placeholder rather than an example"),
])
def test_bad_requests_come_back_as_errors_not_exceptions(instruments, tool, args, message):
    call = instruments.call(tool, args)
    assert call.observation is None and message in call.error


def test_tools_measure_the_model(instruments, subject):
    acts = instruments.call("activations", {"texts": ["hello world", "abc", "))"]})
    assert acts.error is None and len(acts.observation.result["texts"]) == 3  # punctuation is a real text
    assert all(isinstance(t["max"], float) for t in acts.observation.result["texts"])
    top = instruments.call("exemplars", {"split": "select", "kind": "top", "n": 3}).observation.result
    assert top["split"] == "select" and 0 < len(top["items"]) <= 3
    stats = instruments.call("feature_stats", {}).observation
    assert stats.result["max"] == instruments.row["max"] and "active on" in stats.summary
    steer = instruments.call("steer", {"texts": ["hello"], "scale": 5.0}).observation
    assert steer.result["kl"] > 0 and "next tokens up" in steer.summary
    ablate = instruments.call("ablate", {"texts": ["hello"]}).observation
    assert ablate.result["kl"] > 0  # zeroing the neuron changes the next-token distribution
    same = instruments.call("compare", {"other": FEATURE, "texts": ["hello world"]}).observation
    assert same.result["pearson"] == pytest.approx(1.0)
    probe = instruments.call("probe", {"positive": ["aaa", "aab", "aac", "aad"], "negative": ["zzz", "zzy", "zzx",
                                                                                             "zzw"], "layer": 1})
    assert probe.error is None and 0 <= probe.observation.result["test_accuracy"] <= 1
    assert len(probe.observation.result["top_mlp_neurons"]) == 5
    search = instruments.call("search_by_activation", {"text": "hello", "layer": 1, "n": 3}).observation
    assert [n["feature"].split(":")[:2] for n in search.result["neurons"]] == [["mlp", "1"]] * 3
    test = instruments.call("test_hypothesis", {"hypothesis": 1, "activating": ["ab", "cd"], "near_miss": ["ell", "gh"]})
    fires = [t["fires"] for t in instruments.call("activations", {"texts": ["ab", "cd", "ell", "gh"]})
             .observation.result["texts"]]
    assert fires == [False, False, True, False]  # this random neuron fires on "l" (not the first token) only
    result = test.observation.result
    assert (result["fired_activating"], result["fired_near_miss"]) == (sum(fires[:2]), sum(fires[2:]))  # as above
    assert f"fired on {sum(fires[:2])}/2 activating, {sum(fires[2:])}/2 near-miss texts" in test.observation.summary
    inter = instruments.call("test_intervention", {"hypothesis": 1, "text": "hello", "action": "steer",
                                                   "expect_up": ["zzzz"]}).observation
    assert inter.result["agreement"] == 0.0 and inter.result["matched"] == []


def test_semantic_search_over_stored_explanations(instruments, subject):
    db, row = instruments.db, instruments.row
    run_id = store.start_run(db, "label", {})
    store.write_explanation(db, feature_id=row["id"], run_id=run_id, method="oneshot", config_hash="h",
                            text="month names such as January")

    class Words:  # a bag-of-words embedder: the search logic, not the model, is under test
        def encode(self, texts):
            import numpy as np

            vocab = sorted({w for t in texts for w in t.lower().split()})
            m = np.array([[float(w in t.lower().split()) for w in vocab] for t in texts]) + 1e-6
            return m / np.linalg.norm(m, axis=1, keepdims=True)

    tools = Instruments(subject, db, row, embedder=Words)
    found = tools.call("search_explanations", {"query": "names of months", "n": 2}).observation.result
    assert found["matches"][0]["feature"] == FEATURE and found["matches"][0]["explanation"].startswith("month")
    assert "error" not in found


def test_judge_verdicts():
    """The counts of every kind of test are pooled before the rule (tests/unit/test_verdict_rule.py) applies."""
    def test(on, off, threshold=1.0):
        return {"threshold": threshold, "activating": [{"max": m} for m in on], "near_miss": [{"max": m} for m in off]}

    assert verdict([test([2, 3], [0, 0])], [])["verdict"] == "inconclusive"  # 2 of 2 is too few to support
    assert verdict([test([2, 3] * 3, [0] * 6)], [])["verdict"] == "supported"
    assert verdict([test([0, 0, 0], [0, 0])], [])["verdict"] == "refuted"  # never fires where it says
    assert verdict([test([2, 3], [2, 3])], [])["verdict"] == "inconclusive"  # precision 0.5 on 4: not supported
    assert verdict([], [])["verdict"] == "inconclusive" and verdict([], [])["recall"] is None
    corpus = {"hits": 9, "predicted": 10, "fired": 11}
    pooled = verdict([test([2, 3], [0, 0])], [], [corpus])
    assert pooled["verdict"] == "supported" and pooled["details"]["counts"]["precision"] == [11, 13]
    edits = {"agreeing": 0, "edits": 6}
    vetoed = verdict([test([2, 3], [0, 0])], [{"matched": [], "expected_up": ["x"]}], [corpus], [edits])
    assert vetoed["verdict"] == "inconclusive" and vetoed["causal_agreement"] == 0.0
    assert "do not move it" in vetoed["reading"]


def test_json_step_driver_retries_with_the_error_and_gives_up_bounded():
    schemas = [tool_schema(Instruments.steer)]

    def check(tool, args):
        validate_arguments(Instruments.steer, args)

    llm = ScriptedLLM(['{"tool": "steer", "arguments": {"texts": "x"}}',
                       '```json\n{"tool": "steer", "arguments": {"texts": ["x"], "scale": 2}}\n```'])
    step = JsonStepDriver(llm, retries=2).next_call([{"role": "user", "content": "go"}], schemas, check)
    assert step.tool == "steer" and step.arguments == {"texts": ["x"], "scale": 2} and step.attempts == 2
    assert "texts must be a list" in llm.calls[1]["messages"][-1]["content"]
    assert llm.calls[0]["kwargs"]["json_schema"]["properties"]["tool"]["const"] == "steer"

    never = ScriptedLLM(lambda m, **k: "no json here")
    step = JsonStepDriver(never, retries=2).next_call([{"role": "user", "content": "go"}], schemas, check)
    assert step.tool is None and step.attempts == 3 and len(never.calls) == 3
    assert step.errors == ["the reply holds no JSON object"] * 3

    # the budget sees the step's own calls: with room for two, the third attempt is not made
    capped = ScriptedLLM(lambda m, **k: "no json here")
    step = JsonStepDriver(capped, retries=5).next_call([{"role": "user", "content": "go"}], schemas, check,
                                                       allow=lambda spent: spent < 2)
    assert step.tool is None and step.attempts == 2 and len(capped.calls) == 2


def test_parse_json_object():
    assert parse_json_object('x {"a": 1} y') == {"a": 1}
    with pytest.raises(ToolError):
        parse_json_object("[1, 2]")
    assert json.loads(json.dumps(parse_json_object('{"a": [1]}'))) == {"a": [1]}


class ToolCallingLLM(ScriptedLLM):
    """Scripted answers in the native function-calling shape (what an endpoint returns)."""

    def __init__(self, calls, *, reject=False, **kw):
        super().__init__(calls, **kw)
        self.reject = reject

    def complete_tools(self, messages, tools, *, max_tokens=256, temperature=0.0, seed=None):
        from mechanic.agent.llm.openai_backend import ToolsUnsupported

        if self.reject:
            raise ToolsUnsupported("HTTP 400: tools are not supported")
        completion = self.complete(messages, max_tokens=max_tokens, temperature=temperature, seed=seed)
        completion.raw["tool_calls"] = json.loads(completion.text)
        completion.raw["tools_sent"] = tools
        return completion


def test_native_driver_reads_tool_calls_repairs_and_falls_back():
    from mechanic.agent.investigation import NativeToolDriver, make_driver

    schemas = [tool_schema(Instruments.steer)]

    def check(tool, args):
        validate_arguments(Instruments.steer, args)

    llm = ToolCallingLLM([json.dumps([{"name": "steer", "arguments": '{"texts": ["x"], "scale": "a"}'}]),
                          json.dumps([{"name": "steer", "arguments": '{"texts": ["x"], "scale": 3}'}])])
    driver = make_driver("auto", llm)
    assert isinstance(driver, NativeToolDriver)
    step = driver.next_call([{"role": "user", "content": "go"}], schemas, check)
    assert step.tool == "steer" and step.arguments == {"texts": ["x"], "scale": 3} and step.attempts == 2
    assert "scale must be a number" in llm.calls[1]["messages"][-1]["content"]

    rejecting = ToolCallingLLM(['{"tool": "steer", "arguments": {"texts": ["y"]}}'], reject=True)
    driver = make_driver("native", rejecting)
    step = driver.next_call([{"role": "user", "content": "go"}], schemas, check)
    assert step.tool == "steer" and step.arguments == {"texts": ["y"]} and driver.fallback is not None
    assert rejecting.calls[0]["kwargs"]["json_schema"]["properties"]["tool"]["const"] == "steer"
    with pytest.raises(ToolError, match="no native function calling"):
        make_driver("native", ScriptedLLM([]))


def test_openai_backend_native_tool_calls_and_rejection(monkeypatch):
    """complete_tools against a real loopback HTTP server: the calls come back parsed;
    a server that rejects ``tools`` raises ToolsUnsupported (the driver's fallback cue)."""
    from mechanic.agent.investigation import openai_tool
    from mechanic.agent.llm import OpenAILLM
    from mechanic.agent.llm.openai_backend import ToolsUnsupported
    from support import FakeServer, error_response, ok_response

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    status, body = ok_response(text="")
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": "c1", "type": "function", "function": {"name": "steer", "arguments": '{"texts": ["x"]}'}}]
    body["choices"][0]["finish_reason"] = "tool_calls"
    server = FakeServer(lambda request: (status, body))
    try:
        llm = OpenAILLM("fake-model", base_url=server.url, timeout=5.0, backoff=0.001)
        tools = [openai_tool(tool_schema(Instruments.steer))]
        c = llm.complete_tools([{"role": "user", "content": "go"}], tools)
        assert c.raw["tool_calls"] == [{"name": "steer", "arguments": '{"texts": ["x"]}'}]
        assert server.requests[0]["tools"][0]["function"]["name"] == "steer"
    finally:
        server.close()
    rejecting = FakeServer(lambda request: error_response(400, "tools not supported"))
    try:
        llm = OpenAILLM("fake-model", base_url=rejecting.url, timeout=5.0, backoff=0.001)
        with pytest.raises(ToolsUnsupported, match="HTTP 400"):
            llm.complete_tools([{"role": "user", "content": "go"}], tools)
        assert len(rejecting.requests) == 1  # not retried
    finally:
        rejecting.close()
