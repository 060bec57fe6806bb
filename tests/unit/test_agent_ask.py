"""`mechanic ask` on a tiny model with scripted plans: routing, each procedure's
experiments stored and cited, a confidence, what was not tested, and failures as
status rows."""

import json

import pytest
from click.testing import CliRunner
from mechanic import store
from mechanic.agent.ask import ask, route
from mechanic.agent.cli import cli
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.llm.scripted import position_slots
from support import investigation_reply


@pytest.fixture()
def db(tmp_path):
    return store.open_db(tmp_path / "m.db")


@pytest.mark.parametrize("question, kind", [
    ("where does the model represent the month?", "where"),
    ("what does mlp:3:17 do?", "component"),
    ("which layers cause 'The capital of France is' to predict ' Paris'?", "behaviour"),
    ("which features relate to negation?", "related"),
    ("tell me a joke", None),
])
def test_route(question, kind):
    assert route(question) == kind


def _cited_experiments_exist(db, answer):
    ids = {e["id"] for e in store.get_experiments(db, answer.agent_run_id)}
    cited = {i for c in answer.claims for i in c["experiments"]}
    return cited and cited <= ids


def test_where_probes_layers_then_checks_neurons(subject, db):
    plan = {"concept": "vowels", "positive": ["aeiou", "eea", "oou", "iia"], "negative": ["xyz", "qrs", "tvw", "pkl"]}
    llm = ScriptedLLM([json.dumps(plan)])
    run_id = store.start_run(db, "ask", {})
    answer = ask(db, subject, "where does the model represent vowels?", llm, run_id=run_id)
    assert answer.status == "done" and answer.kind == "where"
    tools = [e["tool"] for e in store.get_experiments(db, answer.agent_run_id)]
    assert tools[:3] == ["probe"] * 3 and "activations" in tools  # 3 layers, then neuron checks
    assert "linearly readable" in answer.claims[0]["text"] and len(answer.claims[0]["experiments"]) == 3
    assert answer.confidence in ("low", "medium", "high") and answer.untested
    assert _cited_experiments_exist(db, answer)
    stored = store.get_agent_run(db, answer.agent_run_id)
    assert stored["kind"] == "ask" and stored["status"] == "done" and stored["answer"]["claims"] == answer.claims


def test_behaviour_ablates_every_layer_and_ranks(subject, db):
    llm = ScriptedLLM([json.dumps({"prompt": "hello ther", "watch": "e"})])
    answer = ask(db, subject, "which components cause 'hello ther' to end in 'e'?", llm,
                 run_id=store.start_run(db, "ask", {}))
    assert answer.status == "done" and answer.kind == "behaviour"
    experiments = store.get_experiments(db, answer.agent_run_id)
    assert len(experiments) == 6 and {e["tool"] for e in experiments} == {"ablate_site"}
    kls = [float(c["text"].split("KL ")[1].split(",")[0].rstrip(")")) for c in answer.claims]
    assert kls == sorted(kls, reverse=True) and len(answer.claims) == 3
    assert _cited_experiments_exist(db, answer)


def test_related_searches_explanations_then_checks_activations(subject, db):
    from mechanic.agent.pipeline import cache_features
    from mechanic.tools import CaptureConfig

    cache_features(db, subject, subject.features("mlp:1:3"), source="default", n_tokens=512, length=16,
                   config=CaptureConfig(top_k=4, n_random=4, decile_pool=8), progress=False)
    row = store.get_feature(db, subject.name, "mlp:1:3")
    store.write_explanation(db, feature_id=row["id"], run_id=store.start_run(db, "label", {}), method="oneshot",
                            config_hash="h", text="negation words such as not and never")
    llm = ScriptedLLM([json.dumps({"concept": "negation", "texts": ["not now", "never again", "no way"]})])
    answer = ask(db, subject, "which features relate to negation?", llm, run_id=store.start_run(db, "ask", {}))
    assert answer.status == "done", answer.error
    assert answer.claims[0]["text"].startswith("mlp:1:3") and "fires on" in answer.claims[0]["text"]
    assert _cited_experiments_exist(db, answer)


def test_an_unplannable_question_is_a_failed_run_not_an_answer(subject, db):
    llm = ScriptedLLM(lambda m, **k: "no idea")
    answer = ask(db, subject, "tell me a joke", llm, run_id=store.start_run(db, "ask", {}), retries=1)
    assert answer.status == "failed" and "what kind of question" in answer.error and answer.claims == []
    assert len(llm.calls) == 2
    assert store.get_agent_run(db, answer.agent_run_id)["status"] == "failed"


def test_cli_ask_component_question_investigates(subject, tmp_path, monkeypatch):
    import mechanic.agent.llm as llm_module

    monkeypatch.setattr(llm_module, "make_llm", lambda spec, subj: ScriptedLLM(
        investigation_reply, name="scripted", slot_fn=position_slots, tokenizer=subject.tokenizer))
    out = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "ask",
                                   "what does mlp:1:3 do?", "--tokens", "1024", "--budget-llm", "6", "--json"])
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output)
    assert answer["kind"] == "component" and answer["status"] == "done"
    assert answer["claims"][0]["text"].startswith("mlp:1:3: ") and answer["claims"][0]["experiments"]
    db = store.open_db(tmp_path / "m.db")
    kinds = [r["kind"] for r in store.get_agent_runs(db)]
    assert kinds == ["ask", "investigate"]
    text = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "ask",
                                    "what does mlp:1:3 do?", "--tokens", "1024", "--budget-llm", "6"])
    assert text.exit_code == 0 and "confidence" in text.output and "not tested:" in text.output
