"""The LLM backends on the real embedded SmolLM2-135M-Instruct: OpenAILLM against a
loopback `transformers serve`, and LocalLLM's completion, JSON constraint and slot
scores against plain forward passes."""

import json
import time

import numpy as np
import pytest
import torch
from mechanic.agent.llm import LocalLLM, OpenAILLM

MESSAGES = [{"role": "user", "content": "Name one colour. Answer with one word."}]
SCHEMA = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}


# ------------------------------------------------------------- OpenAI-compatible server


def test_openai_backend_against_transformers_serve(served_model):
    base_url, model = served_model
    llm = OpenAILLM(model, base_url=base_url, timeout=120, max_retries=1)
    start = time.perf_counter()
    c = llm.complete(MESSAGES, max_tokens=16)
    print(f"\n[transformers serve] one completion ({c.completion_tokens} tokens) took "
          f"{time.perf_counter() - start:.2f} s: {c.text!r}")
    assert c.text.strip()
    assert c.prompt_tokens > 0 and 0 < c.completion_tokens <= 16
    assert llm.usage.calls == 1 and llm.usage.tokens == c.prompt_tokens + c.completion_tokens


def test_json_schema_request_to_transformers_serve(served_model):
    """transformers serve 5.23 accepts response_format but does not enforce it (its
    log says it ignores the field), so the text is validated here, not assumed."""
    base_url, model = served_model
    llm = OpenAILLM(model, base_url=base_url, timeout=120, max_retries=1)
    c = llm.complete([{"role": "user", "content": 'Reply with JSON like {"colour": "red"}.'}],
                     max_tokens=24, json_schema=SCHEMA)
    assert c.text.strip() and c.completion_tokens > 0
    try:
        value = json.loads(c.text)
        valid = isinstance(value, dict) and isinstance(value.get("colour"), str)
    except json.JSONDecodeError:
        valid = False
    print(f"\n[transformers serve] json_schema reply ({'valid' if valid else 'NOT valid'} JSON "
          f"for the schema; response_format sent: {c.raw['response_format_sent']}): {c.text!r}")


# --------------------------------------------------------------- in-process backend


@pytest.fixture(scope="module")
def local(embedded):
    return LocalLLM(embedded)


def test_local_complete_and_shared_prompt_samples(local):
    c = local.complete(MESSAGES, max_tokens=12)
    assert local.name == "local:SmolLM2-135M-Instruct"
    assert c.text.strip() and c.prompt_tokens > 10 and c.completion_tokens >= 1
    many = local.complete_many(MESSAGES, 3, max_tokens=12, temperature=0.0)
    assert [m.text for m in many] == [c.text] * 3
    prompt = local.prompt_ids(MESSAGES)
    assert local._decode(prompt, 3, 12, 0.0, None, None) == local._decode(prompt, 1, 12, 0.0, None, None) * 3


def test_local_text_completion_stops_at_newline(local):
    prompt = ("Words: January, March, May -> months\nWords: ==, !=, <= -> comparison operators\n"
              "Words: red, blue, green ->")
    c = local.complete_text(prompt, max_tokens=16)
    assert c.text.strip() and "\n" not in c.text and c.prompt_tokens > 20


def test_local_json_schema_is_valid(local):
    start = time.perf_counter()
    c = local.complete([{"role": "user", "content": "Give a colour as JSON."}], max_tokens=40, json_schema=SCHEMA)
    print(f"\n[local xgrammar] {c.completion_tokens} tokens in {time.perf_counter() - start:.2f} s: {c.text!r}")
    assert c.finish_reason == "stop"
    value = json.loads(c.text)
    assert set(value) == {"colour"} and isinstance(value["colour"], str)


@pytest.mark.parametrize("with_prefix", [True, False], ids=["prefix", "empty-prefix"])
def test_local_score_slots_equals_plain_forward(local, with_prefix):
    tok = local.tokenizer
    prefix = tok("Activations of a neuron, 0 to 10, after each token:\n", add_special_tokens=False)["input_ids"]
    prefix = prefix if with_prefix else []
    texts = ["The cat sat on the mat.", "x", "January and February are cold months",
             "def add(a, b):\n    return a + b  # sum", "Paris is in France."]
    bodies = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    slots = [list(range(len(b))) for b in bodies]
    candidates = [tok(str(i), add_special_tokens=False)["input_ids"][0] for i in range(11)]
    local.slot_batch_size = 2
    try:
        got = local.score_slots(prefix, bodies, slots, candidates)
    finally:
        local.slot_batch_size = 16
    for body, positions, result in zip(bodies, slots, got):
        with torch.no_grad():
            logits = local.model(input_ids=torch.tensor([prefix + body])).logits[0].float()
        expected = torch.log_softmax(logits, dim=-1)[[len(prefix) + p for p in positions]][:, candidates].numpy()
        np.testing.assert_allclose(result, expected, atol=1e-4)
