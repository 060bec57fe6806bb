"""`mechanic investigate` and `label --method agent|tiered` on a tiny model with
scripted LLM answers and a real SQLite file."""

import json

import pytest
from click.testing import CliRunner
from mechanic import store
from mechanic.agent.cli import cli
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.llm.scripted import position_slots
from mechanic.agent.pipeline import LabelConfig, label
from support import CAPTURE, investigation_reply


@pytest.fixture()
def scripted(monkeypatch, subject):
    import mechanic.agent.llm as llm_module

    made = []

    def make(spec, subj):
        llm = ScriptedLLM(investigation_reply, name=f"scripted:{spec}", slot_fn=position_slots,
                          tokenizer=subject.tokenizer)
        made.append(llm)
        return llm

    monkeypatch.setattr(llm_module, "make_llm", make)
    return made


def test_investigate_prints_hypotheses_experiments_explanation_and_scores(scripted, tmp_path):
    runner = CliRunner()
    args = ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "investigate", "mlp:1:3",
            "--tokens", "1024", "--scorers", "simulation", "--budget-llm", "10"]
    out = runner.invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["status"] == "done"  # the script finishes inside the budget of 10 calls
    # the script's two hypotheses and the description search's best two, each tested by the instruments
    texts = [h["text"] for h in report["hypotheses"]]
    assert texts[:2] == ["letters after a space", "digits"] and len(texts) == 4
    assert all(h["verdict"] in ("supported", "partial", "refuted", "inconclusive") for h in report["hypotheses"])
    tested = {(e["hypothesis_id"], e["tool"]) for e in report["experiments"]}
    assert all((h["id"], "test_on_corpus") in tested and (h["id"], "counterfactual") in tested
               for h in report["hypotheses"])
    assert "test_hypothesis" in [e["tool"] for e in report["experiments"]]
    # the hypotheses competed on select with the description search's candidates: the best won
    listed = report["candidates"]
    assert set(texts[2:]) <= {c["text"] for c in listed} and len(listed) >= 2
    # the search's runners-up are scored and listed, but its own choice speaks for them
    candidates = {c["text"]: c["select_score"] for c in listed if c.get("eligible", True)}
    assert report["explanation"] == max(candidates, key=lambda t: -2 if candidates[t] is None else candidates[t])
    assert {(s["scorer"], s["split"]) for s in report["scores"]} >= {("simulation", "all")}
    assert report["usage"]["llm_calls"] <= 10
    # the same command again shows the stored investigation instead of redoing it
    text = runner.invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert "hypotheses:" in text.output and "held-out scores (test split)" in text.output
    assert f"agent run {report['agent_run_id']}" in text.output
    db = store.open_db(tmp_path / "m.db")
    assert db["agent_runs"].count == 1


def test_investigate_wants_one_feature(scripted, tmp_path):
    out = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "investigate",
                                   "mlp:1:1-3"])
    assert out.exit_code != 0 and "one feature" in out.output


@pytest.mark.parametrize("threshold, source", [(-2.0, "search"), (2.0, "agent")])
def test_tiered_runs_the_agent_only_below_the_threshold(scripted, subject, tmp_path, threshold, source):
    db = store.open_db(tmp_path / "m.db")
    config = LabelConfig(methods=("search", "tiered"), scorers=("simulation",), n_tokens=1024, window=16,
                         n_top=3, n_random=3, score_length=12, style="chat", threshold=threshold,
                         agent_llm_calls=6)
    import mechanic.agent.llm as llm_module

    summary = label(db, subject, subject.features("mlp:1:3"), config, make_llm=llm_module.make_llm,
                    capture_config=CAPTURE)
    assert summary.explained == 2
    tiered = store.get_explanations(db, method="tiered")
    assert len(tiered) == 1 and tiered[0]["details"]["source"] == source
    assert (db["agent_runs"].count == 1) == (source == "agent")
    searched = store.get_explanations(db, method="search")[0]
    if source == "search":  # the searched description itself, and no LLM call
        assert tiered[0]["text"] == searched["text"] and tiered[0]["llm_calls"] == 0
    else:  # the search's description competed with the agent's hypotheses on select
        assert tiered[0]["details"]["search"] == searched["text"]
        assert searched["text"] in [c["text"] for c in tiered[0]["details"]["candidates"]]
    assert store.get_scores(db, tiered[0]["id"])  # scored on the test split like any explanation


def test_tiered_beside_the_agent_reuses_its_investigation(scripted, subject, tmp_path):
    db = store.open_db(tmp_path / "m.db")
    config = LabelConfig(methods=("tiered", "agent"), scorers=("simulation",), n_tokens=1024, window=16,
                         n_top=3, n_random=3, score_length=12, style="chat", threshold=2.0, agent_llm_calls=6)
    import mechanic.agent.llm as llm_module

    summary = label(db, subject, subject.features("mlp:1:3"), config, make_llm=llm_module.make_llm,
                    capture_config=CAPTURE)
    assert summary.explained == 2
    assert db["agent_runs"].count == 1  # one investigation, not two
    (agent,), (tiered,) = store.get_explanations(db, method="agent"), store.get_explanations(db, method="tiered")
    assert tiered["text"] == agent["text"] and tiered["details"]["investigation_of"] == agent["id"]
    assert tiered["details"]["source"] == "agent" and tiered["details"]["threshold"] == 2.0
    # it costs what the investigation cost: what tiered alone would have spent
    assert (tiered["llm_calls"], tiered["seconds"]) == (agent["llm_calls"], agent["seconds"]) and agent["llm_calls"] > 0
    assert store.get_scores(db, tiered["id"])


def test_label_method_agent_stores_and_scores(scripted, tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "label", "mlp:1:3",
                              "mlp:1:5", "--methods", "agent", "--tokens", "1024", "--scorers", "simulation",
                              "--budget-llm", "6", "--report", str(tmp_path / "r.html"), "--json"])
    assert out.exit_code == 0, out.output
    db = store.open_db(tmp_path / "m.db")
    agent = store.get_explanations(db, method="agent")
    assert len(agent) == 2 and db["agent_runs"].count == 2
    runs = {r["id"]: r for r in store.get_agent_runs(db)}
    for e in agent:
        assert runs[e["details"]["agent_run_id"]]["explanation_id"] == e["id"]
        assert e["status"] == "ok"
        assert {(s["scorer"], s["split"]) for s in store.get_scores(db, e["id"])} == {
            ("simulation", "all"), ("simulation", "top"), ("simulation", "random")}
