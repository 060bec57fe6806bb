"""LocalLLM on a tiny random llama: decoding, sampling, shared-prompt batches, JSON
constrained by xgrammar, and slot scoring against a plain forward pass."""

import asyncio
import json

import numpy as np
import pytest
import torch
from mechanic.agent.llm import LocalLLM
from mechanic.evals.lm import LLM, SlotScorer, TextCompleter, has_slots
from mechanic.tools import tiny_subject

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def llm(subject):
    return LocalLLM(subject)


def test_is_an_llm_and_a_slot_scorer(llm):
    assert isinstance(llm, LLM) and isinstance(llm, SlotScorer) and isinstance(llm, TextCompleter)
    assert has_slots(llm)
    assert llm.name == "local:tiny:llama"


def test_prompt_without_chat_template_is_a_plain_transcript(llm):
    text = llm.tokenizer.decode(llm.prompt_ids(MESSAGES))
    assert text == "system: Be brief.\nuser: Name a colour.\nassistant:"


def test_complete_returns_text_and_counts(llm):
    before = llm.usage.calls
    c = llm.complete(MESSAGES, max_tokens=12)
    assert isinstance(c.text, str) and c.text
    assert c.prompt_tokens == len(llm.prompt_ids(MESSAGES))
    assert 1 <= c.completion_tokens <= 12
    assert c.latency > 0 and c.model == "local:tiny:llama"
    assert c.finish_reason in ("stop", "length")
    assert llm.usage.calls == before + 1


def test_greedy_is_deterministic(llm):
    a = llm.complete(MESSAGES, max_tokens=16)
    b = llm.complete(MESSAGES, max_tokens=16)
    assert a.text == b.text


def test_seeded_sampling_is_reproducible_and_leaves_global_rng_alone(llm):
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a = llm.complete(MESSAGES, max_tokens=16, temperature=1.0, seed=7)
    assert torch.equal(torch.rand(1), expected)
    b = llm.complete(MESSAGES, max_tokens=16, temperature=1.0, seed=7)
    assert a.text == b.text
    others = {llm.complete(MESSAGES, max_tokens=16, temperature=1.0, seed=s).text for s in range(4)}
    assert len(others) > 1


def test_complete_many_greedy_equals_complete(llm):
    single = llm.complete(MESSAGES, max_tokens=16)
    many = llm.complete_many(MESSAGES, 3, max_tokens=16, temperature=0.0)
    assert [c.text for c in many] == [single.text] * 3
    # prompt tokens counted once over the batch
    assert [c.prompt_tokens for c in many] == [single.prompt_tokens, 0, 0]


def test_expanded_prompt_cache_decodes_like_a_single_prompt(llm):
    """The n-row path (one prefill, cache expanded) reproduces single-row greedy decoding."""
    prompt = llm.prompt_ids(MESSAGES)
    one = llm._decode(prompt, 1, 16, 0.0, None, None)
    assert llm._decode(prompt, 4, 16, 0.0, None, None) == one * 4


def test_complete_many_sampling_is_seeded_and_varied(llm):
    a = [c.text for c in llm.complete_many(MESSAGES, 4, max_tokens=12, temperature=1.0, seed=3)]
    b = [c.text for c in llm.complete_many(MESSAGES, 4, max_tokens=12, temperature=1.0, seed=3)]
    assert a == b and len(set(a)) > 1


SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["cat", "dog", "bird"]},
        "confident": {"type": "boolean"},
    },
    "required": ["label", "confident"],
}


def _check_schema(text):
    value = json.loads(text)
    try:
        import jsonschema
    except ImportError:  # the same checks by hand
        assert set(value) == {"label", "confident"}
        assert value["label"] in ("cat", "dog", "bird") and isinstance(value["confident"], bool)
    else:
        jsonschema.validate(value, SCHEMA)
    return value


def test_json_schema_output_is_valid_even_from_a_random_model(llm):
    c = llm.complete(MESSAGES, max_tokens=64, json_schema=SCHEMA)
    assert c.finish_reason == "stop"
    _check_schema(c.text)
    for c in llm.complete_many(MESSAGES, 4, max_tokens=64, temperature=1.0, json_schema=SCHEMA, seed=1):
        assert c.finish_reason == "stop"
        _check_schema(c.text)


def test_grammar_compiled_once_per_schema(llm):
    reordered = {"required": SCHEMA["required"], "properties": SCHEMA["properties"], "type": "object"}
    assert llm._grammar(SCHEMA) is llm._grammar(reordered)


def test_complete_text_stops_at_a_stop_string(llm):
    full = llm.complete_text("Words: red, blue ->", max_tokens=24, stop=())
    stop = next(ch for ch in full.text[1:] if ch.isascii() and ch.isalnum())
    cut = llm.complete_text("Words: red, blue ->", max_tokens=24, stop=(stop,))
    assert cut.text == full.text[: full.text.find(stop)]
    assert cut.finish_reason == "stop" and cut.completion_tokens <= full.completion_tokens


def test_acomplete_matches_complete(llm):
    async def both():
        return await asyncio.gather(llm.acomplete(MESSAGES, max_tokens=8), llm.acomplete(MESSAGES, max_tokens=8))

    a, b = asyncio.run(both())
    assert a.text == b.text == llm.complete(MESSAGES, max_tokens=8).text


def _reference(model, prefix, body, positions, candidates):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([list(prefix) + list(body)])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return logprobs[[len(prefix) + p for p in positions]][:, candidates].numpy()


@pytest.mark.parametrize("prefix", [[], list(range(40, 57))], ids=["empty-prefix", "prefix"])
def test_score_slots_equals_a_plain_forward_pass(llm, prefix):
    g = torch.Generator().manual_seed(0)
    lengths = [5, 1, 13, 8, 20, 3]
    bodies = [torch.randint(0, 256, (n,), generator=g).tolist() for n in lengths]
    slots = [sorted({0, n - 1, n // 2}) for n in lengths]
    slots[3] = []  # a body with no slots
    candidates = [48, 49, 50, 256, 7]
    llm.slot_batch_size = 4  # several batches, each padded
    try:
        got = llm.score_slots(prefix, bodies, slots, candidates)
    finally:
        llm.slot_batch_size = 16
    assert len(got) == len(bodies)
    for body, positions, result in zip(bodies, slots, got):
        assert result.shape == (len(positions), len(candidates))
        if positions:
            np.testing.assert_allclose(result, _reference(llm.model, prefix, body, positions, candidates), atol=1e-4)


def test_score_slots_counts_usage_and_validates(llm):
    before = llm.usage.prompt_tokens
    llm.score_slots([1, 2], [[3, 4, 5]], [[2]], [6])
    assert llm.usage.prompt_tokens == before + 5
    with pytest.raises(ValueError, match="slot 3 out of range"):
        llm.score_slots([], [[3, 4, 5]], [[3]], [6])
    with pytest.raises(ValueError, match="candidate token id"):
        llm.score_slots([], [[3]], [[0]], [10_000])


@pytest.mark.parametrize("family", ["gpt2", "gpt_neox", "qwen2", "gemma"])
def test_score_slots_and_decoding_on_other_families(family):
    other = LocalLLM(tiny_subject(family))
    other.slot_batch_size = 2
    bodies = [[5, 9, 200, 3], [7], [1, 2, 3, 4, 5, 6]]
    slots = [[0, 3], [0], [1, 5]]
    prefix = [10, 11, 12]
    for body, positions, result in zip(bodies, slots, other.score_slots(prefix, bodies, slots, [1, 2, 256])):
        np.testing.assert_allclose(result, _reference(other.model, prefix, body, positions, [1, 2, 256]), atol=1e-4)
    prompt = other.prompt_ids(MESSAGES)
    assert other._decode(prompt, 2, 8, 0.0, None, None) == other._decode(prompt, 1, 8, 0.0, None, None) * 2


def test_prefixes_sharing_a_beginning_reuse_its_cache_and_stay_exact(llm):
    shared = list(range(60, 90))
    bodies, slots, candidates = [[5, 6, 7, 8]], [[0, 3]], [48, 49]
    llm._prefixes.clear()
    for tail in ([1, 2, 3], [4, 5], [1, 2, 3], list(range(100, 120))):
        prefix = shared + tail
        got = llm.score_slots(prefix, bodies, slots, candidates)[0]
        np.testing.assert_allclose(got, _reference(llm.model, prefix, bodies[0], slots[0], candidates), atol=1e-4)
    assert len(llm._prefixes) == 3  # the repeated prefix was found, not recomputed
    # a prefix that is a strict beginning of a cached one still runs its last token
    got = llm.score_slots(shared, bodies, slots, candidates)[0]
    np.testing.assert_allclose(got, _reference(llm.model, shared, bodies[0], slots[0], candidates), atol=1e-4)


def test_decoding_and_slot_scoring_raise_no_library_warning(llm):
    """transformers 5 warns (FutureWarning) when forward gets `past_key_values`; the
    caches go in under the name the model's forward takes, so users see nothing."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        llm.complete([{"role": "user", "content": "hi"}], max_tokens=3)
        llm.complete_many([{"role": "user", "content": "hi"}], 2, max_tokens=3, seed=0)
        llm.complete_text("abc", max_tokens=2)
        llm.score_slots([1, 2], [[3, 4, 5]], [[2]], [6])
