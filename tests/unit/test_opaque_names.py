"""A named feature's name never reaches the explainer: a suite feature called
``resid:1:planted_python_keywords`` is ``unit#N`` in every prompt of an investigation,
and the tools still resolve the opaque name to the feature."""

import json

import torch
from mechanic import store
from mechanic.agent.investigation import AgentConfig, investigate
from mechanic.agent.investigation.instruments import hide_name, shown_name
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.llm.scripted import position_slots
from mechanic.agent.pipeline import cache_features
from mechanic.evals.simulators import make_simulator
from support import CAPTURE

NAME = "planted_python_keywords"
FEATURE = f"resid:1:{NAME}"


def test_plain_sites_keep_their_id_and_named_features_get_an_opaque_one():
    assert shown_name({"id": 3, "feature": "mlp:15:42"}) == "mlp:15:42"
    assert shown_name({"id": 3, "feature": "attn:2:1"}) == "attn:2:1"
    assert shown_name({"id": 3, "feature": "sae:res5:120"}) == "sae:res5:120"
    assert shown_name({"id": 3, "feature": FEATURE}) == "unit#3"
    assert shown_name({"id": 9, "feature": "rule:month_names"}) == "unit#9"
    row = {"id": 4, "feature": FEATURE}
    assert hide_name(f"excerpts of {FEATURE}; direction {NAME} at layer 1", row) == \
        "excerpts of unit#4; direction unit#4 at layer 1"


def test_no_prompt_of_an_investigation_names_the_feature(subject, tmp_path):
    torch.manual_seed(0)
    subject.add_direction(NAME, torch.randn(subject.d_model))
    db = store.open_db(tmp_path / "m.db")
    cache_features(db, subject, subject.features(FEATURE), source="default", n_tokens=1024, length=16,
                   config=CAPTURE, progress=False)
    row = store.get_feature(db, subject.name, FEATURE)
    run_id = store.start_run(db, "investigate", {"feature": FEATURE})
    seen: list[str] = []
    steps = [{"tool": "feature_stats", "arguments": {"feature": f"unit#{row['id']}"}},
             {"tool": "exemplars", "arguments": {}}]

    def reply(messages, **kwargs):
        seen.extend(m["content"] for m in messages)
        if "hypotheses" in json.dumps(kwargs.get("json_schema") or {})[:200]:
            return json.dumps({"hypotheses": [{"text": "keywords", "prediction": "quiet on prose"}]})
        return json.dumps(steps.pop(0) if steps else {"tool": "finish", "arguments": {}})

    llm = ScriptedLLM(reply, name="scripted", slot_fn=position_slots, tokenizer=subject.tokenizer)
    result = investigate(db, subject, row, llm, AgentConfig(max_rounds=1, guided=False), run_id=run_id,
                         simulator=make_simulator(llm), simulator_name="scripted")
    assert result.status == "done"  # one round of three calls, far inside the budget
    experiments = store.get_experiments(db, result.agent_run_id)
    stats = next(e for e in experiments if e["tool"] == "feature_stats" and e["step"] > 0)
    assert stats["error"] is None  # the opaque name resolved to the feature
    assert seen and any(f"unit#{row['id']}" in text for text in seen)
    assert not [text for text in seen if NAME in text or "python_keywords" in text]

