"""The investigation as a capable explainer reads it: what each prompt shows (the
last result of a round, whole tokens, the firing threshold, left context of the
peak), hypotheses stored as written, target tokens, free tool choice and the
instruments a researcher expects. Tiny model, real store, scripted LLM answers."""

import json

import pytest
from mechanic import store
from mechanic.agent.investigation import AgentConfig, investigate
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.llm.scripted import position_slots
from mechanic.agent.pipeline import cache_features
from mechanic.evals.simulators import make_simulator
from support import CAPTURE

FEATURE = "mlp:1:3"


@pytest.fixture()
def stored(subject, tmp_path):
    db = store.open_db(tmp_path / "m.db")
    cache_features(db, subject, subject.features(FEATURE), source="default", n_tokens=1024, length=16,
                   config=CAPTURE, progress=False)
    row = store.get_feature(db, subject.name, FEATURE)
    run_id = store.start_run(db, "investigate", {"feature": FEATURE})
    return db, row, run_id


class Script:
    """Answers by what is asked: hypotheses from a queue, else the next tool call."""

    def __init__(self, hypotheses, steps):
        self.hypotheses = list(hypotheses)
        self.steps = list(steps)

    def __call__(self, messages, **kwargs):
        schema = kwargs.get("json_schema") or {}
        if "hypotheses" in json.dumps(schema)[:200]:
            return json.dumps({"hypotheses": self.hypotheses.pop(0) if self.hypotheses else []})
        if self.steps:
            return json.dumps(self.steps.pop(0))
        return json.dumps({"tool": "finish", "arguments": {}})


def _run(db, subject, row, run_id, script, config=AgentConfig(max_rounds=1)):
    llm = ScriptedLLM(script, name="scripted", slot_fn=position_slots, tokenizer=subject.tokenizer)
    return investigate(db, subject, row, llm, config, run_id=run_id, simulator=make_simulator(llm),
                       simulator_name="scripted"), llm


def _prompts(llm, kind):
    """The user prompts of the calls that asked for ``kind`` ("hypotheses" or "tool")."""
    return [c["messages"][0]["content"] for c in llm.calls
            if f'"{kind}"' in json.dumps(c["kwargs"].get("json_schema") or {})]


def test_a_hypothesis_keeps_its_closing_quote(subject, stored):
    db, row, run_id = stored
    script = Script([[{"text": "sentence-initial 'The'", "prediction": "quiet on 'the' mid-sentence"},
                      {"text": '"quoted words"', "prediction": "quiet elsewhere"}]], [])
    result, _ = _run(db, subject, row, run_id, script)
    assert [h["text"] for h in result.hypotheses] == ["sentence-initial 'The'", "quoted words"]


def test_marks_cannot_run_into_the_text_that_follows():
    import re

    import numpy as np
    from mechanic.agent.explainers import mark_token, marked_excerpt
    from mechanic.evals.records import Record

    tokens = ("0", "x", "1", "d", "4", "|", "⟧", "\n")
    acts = np.array([0, 10, 0, 10, 0, 5, 5, 0], dtype=np.float32)
    text = marked_excerpt(Record(tokens, acts, "top", "train", 0), 10.0)
    assert text == "0⟦x|10⟧1⟦d|10⟧4⟦||5⟧⟦]|5⟧⏎"  # golden: the form every prompt shows
    # read back: every mark is one token and its level, whatever the neighbours are
    marks = re.findall(r"⟦([^⟦⟧]*)\|(\d+)⟧", text)
    assert marks == [("x", "10"), ("d", "10"), ("|", "5"), ("]", "5")]
    assert re.sub(r"⟦([^⟦⟧]*)\|\d+⟧", r"\1", text) == "0x1d4|]⏎"
    assert mark_token(" the") == "⟦ the⟧" and mark_token("a\tb", 3) == "⟦a⇥b|3⟧"
