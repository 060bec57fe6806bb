"""`label` end to end on a tiny model with a scripted LLM: every phase, controls,
failures recorded as failures, resume without duplicates, and the report."""

import json

import pytest
from mechanic import store
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.llm.scripted import position_slots
from mechanic.agent.pipeline import LabelConfig, format_table, label, label_table
from mechanic.tools import MechanicError
from mechanic.web.report import render_report
from support import CAPTURE

FEATURES = ["mlp:1:3", "mlp:1:9", "attn:2:1"]


def _make_llm_factory(subject, replies, fail_after=None):
    calls = {"n": 0}

    def reply(request, **kwargs):
        calls["n"] += 1
        if fail_after is not None and calls["n"] > fail_after:
            raise KeyboardInterrupt
        return replies[calls["n"] % len(replies)]

    def make(spec, subj):
        return ScriptedLLM(reply, name=f"scripted:{spec}", slot_fn=position_slots, tokenizer=subject.tokenizer)

    return make


CONFIG = LabelConfig(methods=("tokens", "oneshot", "bestofk"), scorers=("simulation", "detection", "intervention"),
                     k=3, n_tokens=2048, window=16, score_length=12, n_top=3, n_random=3, style="chat")


def _run(db, subject, config=CONFIG, replies=("letters", "vowels", "[[bad]]^2"), fail_after=None):
    feats = [f for spec in FEATURES for f in subject.features(spec)]
    return label(db, subject, feats, config, make_llm=_make_llm_factory(subject, list(replies), fail_after),
                 capture_config=CAPTURE)


def test_label_explains_scores_and_stores_everything(subject, tmp_path):
    db = store.open_db(tmp_path / "m.db")
    summary = _run(db, subject)
    assert summary.explained == 9 and summary.skipped == 0
    rows = list(db["explanations"].rows)
    by_role = {}
    for r in rows:
        by_role.setdefault(r["role"], []).append(r)
    assert len(by_role["explanation"]) == 9 and len(by_role["control"]) == 6
    # every third reply is unparseable, and a retry always gets a good one: nothing fails
    assert all(r["status"] == "ok" and r["text"] for r in rows)
    assert {r["text"] for r in rows if r["method"] == "oneshot"} == {"letters", "vowels"}
    # best-of-k chooses among the LLM's candidates and the description search's, and says which won
    for r in (r for r in rows if r["method"] == "bestofk"):
        details = json.loads(r["details"])
        sources = {c["text"]: c["source"] for c in details["candidates"]}
        assert {t for t, src in sources.items() if src == "llm"} <= {"letters", "vowels"}
        assert 1 <= list(sources.values()).count("search") <= 2
        assert details["source"] == sources[r["text"]]
    for r in rows:
        assert {s["scorer"] for s in store.get_scores(db, r["id"])} == {"simulation", "detection", "intervention"}
    sims = [s for s in db["scores"].rows if s["scorer"] == "simulation" and s["split"] == "all"]
    assert any(s["value"] is not None for s in sims)
    assert all(s["value"] is None or -1 <= s["value"] <= 1 for s in sims)
    bestofk = [r for r in rows if r["method"] == "bestofk" and r["status"] == "ok"]
    assert len(bestofk) == 3 and all("candidates" in r["details"] for r in bestofk)

    table = label_table(db, FEATURES, subject.name, summary.config_hash)
    text = format_table(table)
    assert "random" in text and "shuffled" in text and "sim" in table.columns
    # each method is paired, feature by feature, with tokens and the floors in the headline column
    assert set(table.paired) == {"tokens", "oneshot", "bestofk"}
    assert set(table.paired["oneshot"]) == {"tokens", "random", "shuffled"} and "tokens" not in table.paired["tokens"]
    sim = {(r["feature"], r["method"]): r["scores"].get("sim") for r in table.rows}
    diffs = [sim[(f, "bestofk")] - sim[(f, "random")] for f in FEATURES
             if sim.get((f, "bestofk")) is not None and sim.get((f, "random")) is not None]
    paired = table.paired["bestofk"]["random"]
    assert paired["n"] == len(diffs) and paired["mean"] == pytest.approx(sum(diffs) / len(diffs))
    assert paired["lo"] <= paired["mean"] <= paired["hi"]
    assert "paired over features, sim" in text and f"− random {paired['mean']:+.3f}" in text
    # the summary names the simulator behind the numbers
    assert table.scorer_models["sim"] == ["trained:all-MiniLM-L6-v2"]
    assert "scored by: sim, sim_top, detect, detect_ba with trained:all-MiniLM-L6-v2" in text
    # every column says how far to trust it: a figure with its source, or unvalidated
    assert text.splitlines()[1].startswith("validity") and "validity per column" in text
    assert set(table.validity) == set(table.columns)
    html = render_report(db, table, model_name=subject.name, decode=subject.token_strings)
    assert "<span style=" in html and "mlp:1:3" in html
    assert "<tr class='validity'>" in html
    # the shipped figures cover the default simulator, and the page says where they came from
    assert table.validity["sim"][0].sources == {"rules": "shipped", "planted": "shipped", "prose": "shipped"}
    assert "figures shipped with mechanic" in html
    # detection ranks (AUROC) and fits its yes/no cut on the select split's windows
    detect = [s for s in db["scores"].rows if s["scorer"] == "detection" and s["metric"] == "auroc"]
    assert detect and any(json.loads(s["details"])["threshold_from"] == "select" for s in detect)


def test_failures_are_recorded_as_failures_and_never_scored(subject, tmp_path):
    db = store.open_db(tmp_path / "m.db")
    config = LabelConfig(methods=("tokens", "oneshot"), scorers=("simulation",), n_tokens=2048, window=16,
                         score_length=12, n_top=3, n_random=3, style="chat")
    summary = _run(db, subject, config, replies=("[[bad]]^2",))  # the explainer never gets a usable reply
    assert summary.explained == 6
    rows = [r for r in db["explanations"].rows if r["role"] == "explanation"]
    assert sorted((r["method"], r["status"]) for r in rows) == [("oneshot", "failed")] * 3 + [("tokens", "ok")] * 3
    for r in rows:
        scores = store.get_scores(db, r["id"])
        if r["method"] == "oneshot":  # a status with the raw reply, never a stored "explanation"
            assert r["text"] is None and r["raw"] == "[[bad]]^2" and "unparseable after 3 attempts" in r["error"]
            assert scores == []  # a failure is never scored
        else:
            assert r["text"] and {s["scorer"] for s in scores} == {"simulation"}


def test_rerun_does_only_missing_work_and_never_duplicates(subject, tmp_path):
    db = store.open_db(tmp_path / "m.db")
    _run(db, subject)
    n_expl, n_scores = db["explanations"].count, db["scores"].count
    again = _run(db, subject, replies=("never used",))
    assert again.explained == 0 and again.skipped == 9 and again.scored == 0
    assert (db["explanations"].count, db["scores"].count) == (n_expl, n_scores)


def test_interrupted_run_resumes(subject, tmp_path):
    db = store.open_db(tmp_path / "m.db")
    with pytest.raises(KeyboardInterrupt):
        _run(db, subject, fail_after=4)
    assert [r["status"] for r in db["runs"].rows if r["command"] == "label"] == ["interrupted"]
    partial = db["explanations"].count
    _run(db, subject)
    explanations = [r for r in db["explanations"].rows if r["role"] == "explanation"]
    keys = [(r["feature_id"], r["method"]) for r in explanations]
    assert len(keys) == len(set(keys)) == 9 and partial < db["explanations"].count


def test_bad_configuration_is_a_clear_error():
    with pytest.raises(MechanicError, match="unknown method"):
        LabelConfig(methods=("magic",))
    with pytest.raises(MechanicError, match="unknown scorer"):
        LabelConfig(scorers=("vibes",))
