"""`mechanic ask` on tiny models: deterministic routing, concept data from the corpus,
probes with a control task, behaviour only on the user's prompt, claims with numbers,
intervals, experiments and what would refute them; ground truth on a wired model."""

import json

import pytest
from click.testing import CliRunner
from mechanic import store
from mechanic.agent.ask import ask, route
from mechanic.agent.cli import cli
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.llm.scripted import position_slots
from support import investigation_reply, wired_digit_subject


@pytest.fixture()
def db(tmp_path):
    return store.open_db(tmp_path / "m.db")


@pytest.fixture(scope="module")
def wired():
    return wired_digit_subject()


def _no_llm():
    return ScriptedLLM(lambda m, **k: pytest.fail("the LLM was called"))


def _ask(db, subject, question, llm=None, **kw):
    return ask(db, subject, question, llm or _no_llm(), run_id=store.start_run(db, "ask", {}), n_windows=32, **kw)


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


def _calibrated(answer):
    return all({"text", "value", "ci", "experiments", "refuted_by"} <= set(c) and c["refuted_by"]
               for c in answer.claims)


def test_where_finds_the_wired_digit_neuron(wired, db):
    subject, neuron = wired
    answer = _ask(db, subject, "where does the model represent digits?")
    assert answer.status == "done", answer.error
    assert answer.kind == "where" and answer.route["by"] == "pattern" and answer.usage["llm_calls"] == 0
    site = answer.claims[0]
    assert "linearly readable" in site["text"] and site["value"] >= 0.85 and site["selectivity"] > 0.2
    assert site["ci"][0] <= site["value"] <= site["ci"][1]
    assert "probes pass the thresholds for resid at layers" in site["text"]
    assert answer.claims[1]["text"].startswith(f"{neuron} ")  # the most aligned neuron is the wired one
    tools = [e["tool"] for e in store.get_experiments(db, answer.agent_run_id)]
    assert tools == ["concept_data", "probe_sweep", "aligned_neurons", "steer_direction"]
    assert "steering" not in answer.claims[-1]["text"] and "probe direction" in answer.claims[-1]["text"]
    assert _cited_experiments_exist(db, answer) and _calibrated(answer)
    assert answer.confidence in ("medium", "high")
    stored = store.get_agent_run(db, answer.agent_run_id)
    assert stored["status"] == "done" and stored["answer"]["claims"] == answer.claims


def test_where_on_a_random_model_says_nothing_was_found(subject, db):
    answer = _ask(db, subject, "which layer best represents whether a token is a number?")
    assert answer.status == "done" and answer.kind == "where", answer.error
    assert len(answer.claims) == 1 and answer.claims[0]["text"].startswith("nothing found")
    assert answer.confidence == "low" and _cited_experiments_exist(db, answer)


def test_behaviour_finds_the_wired_layer_against_random_pushes(wired, db):
    subject, _ = wired
    answer = _ask(db, subject, "which components make 'in 1999' predict '#'?")
    assert answer.status == "done" and answer.kind == "behaviour", answer.error
    top = answer.claims[1]
    assert top["text"].startswith("zeroing mlp:1 lowers log p('#')") and top["supported"]
    assert not any(c.get("supported") for c in answer.claims[2:])  # nothing else matters more than a random push
    assert answer.confidence == "high" and _cited_experiments_exist(db, answer) and _calibrated(answer)
    (sweep,) = store.get_experiments(db, answer.agent_run_id)
    assert sweep["tool"] == "ablation_sweep" and len(sweep["result"]["rows"]) == 6


def test_behaviour_without_a_prompt_is_refused_and_a_degenerate_planner_prompt_too(subject, db):
    llm = ScriptedLLM([json.dumps({"prompt": "1.1.1.1.1.1.1", "watch": "1"})] * 3)
    answer = _ask(db, subject, "which layers make the model predict numbers?", llm)
    assert answer.status == "refused" and "needs the prompt in quotes" in answer.error
    assert store.get_experiments(db, answer.agent_run_id) == []
    assert store.get_agent_run(db, answer.agent_run_id)["status"] == "failed"

    # a prompt the question holds unquoted is used; one it does not hold, or a repetition, is not
    llm = ScriptedLLM([json.dumps({"prompt": "aaaa aaaa aaaa aaaa", "watch": "a"})])
    answer = _ask(db, subject, "which heads make aaaa aaaa aaaa aaaa predict a?", llm)
    assert answer.status == "refused" and "degenerate" in answer.error


def test_related_measures_neurons_and_stored_explanations_on_the_concept(wired, db):
    subject, neuron = wired
    from mechanic.agent.pipeline import cache_features
    from mechanic.tools import CaptureConfig

    cache_features(db, subject, subject.features(neuron), source="default", n_tokens=512, length=16,
                   config=CaptureConfig(top_k=4, n_random=4, decile_pool=8), progress=False)
    row = store.get_feature(db, subject.name, neuron)
    store.write_explanation(db, feature_id=row["id"], run_id=store.start_run(db, "label", {}), method="oneshot",
                            config_hash="h", text="digits in numbers")
    answer = _ask(db, subject, "which neurons fire on digits?")
    assert answer.status == "done" and answer.kind == "related", answer.error
    assert answer.claims[0]["text"].startswith(f"{neuron} is higher") and answer.claims[0]["supported"]
    stored = [c for c in answer.claims if "stored as" in c["text"]]
    assert stored and stored[0]["text"].startswith(neuron) and stored[0]["value"] > 0.9
    assert _cited_experiments_exist(db, answer) and _calibrated(answer)


def test_a_question_of_no_kind_is_refused_without_the_llm(subject, db):
    answer = _ask(db, subject, "tell me a joke")
    assert answer.status == "refused" and "fits none of the kinds" in answer.error and answer.claims == []
    assert answer.usage["llm_calls"] == 0 and answer.route["kind"] is None
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
    assert answer["usage"]["llm_calls"] > 0 and answer["usage"]["tool_calls"] > 0  # the investigation's cost
    assert answer["claims"][0]["text"].startswith("mlp:1:3: ") and answer["claims"][0]["experiments"]
    db = store.open_db(tmp_path / "m.db")
    kinds = [r["kind"] for r in store.get_agent_runs(db)]
    assert kinds == ["ask", "investigate"]
    text = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "ask",
                                    "what does mlp:1:3 do?", "--tokens", "1024", "--budget-llm", "6"])
    assert text.exit_code == 0 and "confidence" in text.output and "not tested:" in text.output
    assert "route: component" in text.output and "refuted by:" in text.output and "cost:" in text.output


def test_cli_refuses_with_one_line_and_a_nonzero_exit(tmp_path):
    out = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "ask",
                                   "tell me a joke"])
    assert out.exit_code != 0 and "refused" in out.output and "Traceback" not in out.output


def test_a_behaviour_the_model_does_not_show_gets_low_confidence(wired, db):
    subject, _ = wired
    answer = _ask(db, subject, "which components make 'hello' predict '#'?")  # no digit: '#' is unlikely
    assert answer.status == "done" and answer.confidence == "low", answer.error
    assert "does not predict it" in answer.claims[0]["text"]


def test_a_concept_the_llm_fills_in_must_come_from_the_question(subject, db):
    llm = ScriptedLLM([json.dumps({"concept": "bananas"})] * 3)
    answer = _ask(db, subject, "Which layers encode?", llm)
    assert answer.kind == "where" and answer.status == "refused" and "which concept" in answer.error
    assert answer.usage["llm_calls"] == 1 and store.get_experiments(db, answer.agent_run_id) == []
