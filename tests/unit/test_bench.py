"""`mechanic bench` end to end on a tiny model with a scripted LLM and a real SQLite
file: every suite, the stored rows, determinism, resume, summaries with CIs,
--compare, plots and the CLI."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mechanic import store
from mechanic.agent.bench import (
    BenchConfig,
    bench_summary,
    compare_runs,
    format_bench,
    format_compare,
    run_bench,
    write_plots,
)
from mechanic.agent.cli import cli
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.llm.scripted import position_slots
from mechanic.evals.metrics import bootstrap_ci
from mechanic.tools import MechanicError
from support import CAPTURE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "records"
SMALL = dict(methods=("tokens", "oneshot", "bestofk"), k=2, n_tokens=3072, window=32, score_length=16, style="chat",
             scorers=("simulation", "detection", "fuzzing"))  # the embedding scorer runs in the CLI test
PNG = b"\x89PNG\r\n\x1a\n"


def _factory(subject, replies=("names of months", "line breaks", "numbers written in digits")):
    counter = {"n": 0}

    def reply(request, **kwargs):
        counter["n"] += 1
        return replies[counter["n"] % len(replies)]

    def make(spec, subj):
        return ScriptedLLM(reply, name=f"scripted:{spec}", slot_fn=position_slots, tokenizer=subject.tokenizer)

    return make


@pytest.fixture(scope="module")
def rules_run(subject, tmp_path_factory):
    db = store.open_db(tmp_path_factory.mktemp("bench") / "m.db")
    run = run_bench(db, subject, BenchConfig(suite="rules", limit=3, **SMALL), make_llm=_factory(subject),
                    capture_config=CAPTURE)
    return db, run


def _values(run, exclude=("cost_seconds",)):
    return sorted((v["name"], v["method"], v["metric"], None if v["value"] is None else round(v["value"], 9))
                  for v in run.values if v["metric"] not in exclude)


def test_rules_suite_is_stored_like_real_features(rules_run, subject):
    db, run = rules_run
    assert store.get_run(db, run.run_id)["status"] == "done" and store.get_run(db, run.run_id)["command"] == "bench"
    items = store.get_bench_items(db, run.run_id)
    assert all(it["description"] and len(it["decoys"]) == 2 for it in items)
    measured = {it.name for it in run.items}
    assert len(measured) == 3  # --limit counts features that fire
    assert measured | set(run.skipped) == {it["name"] for it in items} and not measured & set(run.skipped)
    for name in run.skipped:  # a rule too rare on this corpus is recorded with the reason, not measured
        assert next(it for it in items if it["name"] == name)["details"]["skipped"]
    it = run.items[0]
    row = store.get_feature(db, subject.name, it.name)
    assert row["kind"] == "rule" and row["max"] > 0
    # exemplars by split, as capture stores them: explainers see train, scorers test
    assert {e.split for e in store.get_exemplars(db, row["id"], kind="top")} <= {"train", "select", "test"}
    assert all(r.split == "train" for r in it.evidence.top) and all(r.split == "test" for r in it.test.top)
    methods = {e["method"]: e for e in store.get_explanations(db, feature_id=row["id"])}
    assert set(methods) == {"tokens", "oneshot", "bestofk", "random", "shuffled", "truth", "decoy_1", "decoy_2"}
    assert methods["truth"]["text"] == it.description and methods["truth"]["role"] == "control"
    oneshot_scores = store.get_scores(db, methods["oneshot"]["id"])
    judged = {(s["split"], s["metric"]) for s in oneshot_scores if s["scorer"] == "judge"}
    assert judged == {("llm", "choice_correct"), ("embedding", "choice_correct"), ("embedding", "truth_cosine")}
    assert not [s for s in store.get_scores(db, methods["decoy_1"]["id"]) if s["scorer"] == "judge"]


def test_values_cover_metrics_ground_truth_validity_and_cost(rules_run):
    _, run = rules_run
    metrics = {(v["method"], v["metric"]) for v in run.values}
    for method in ("tokens", "oneshot", "bestofk"):
        assert {(method, m) for m in ("sim", "detect", "fuzz", "truth_llm", "truth_embedding", "truth_cos",
                                      "cost_calls", "cost_tokens", "cost_seconds")} <= metrics
    assert ("random", "truth_llm") in metrics and ("shuffled", "sim") in metrics
    assert ("truth", "truth_embedding") in metrics  # the judge's ceiling
    validity = [v for v in run.values if v["method"] == "validity"]
    assert {v["metric"] for v in validity} >= {"sim", "detect", "fuzz"}
    assert all(v["value"] is None or 0 <= v["value"] <= 1 for v in validity)
    assert all(v["details"]["scorer_model"] for v in validity)
    for v in run.values:
        if v["metric"].startswith("truth_") and v["metric"] != "truth_cos":
            assert v["value"] in (0.0, 1.0, None)
    # the embedding judge given the truth itself picks the truth
    assert all(v["value"] == 1.0 for v in run.values if (v["method"], v["metric"]) == ("truth", "truth_embedding"))
    costs = {v["name"]: v["value"] for v in run.values if (v["method"], v["metric"]) == ("bestofk", "cost_calls")}
    # of k=2 candidates, the description search proposes one: the LLM writes the other, for a call
    assert costs and all(c >= 1 for c in costs.values())


def test_rerun_resumes_and_a_fresh_store_reproduces_the_numbers(rules_run, subject, tmp_path):
    db, run = rules_run
    n_explanations = db["explanations"].count
    again = run_bench(db, subject, BenchConfig(suite="rules", limit=3, **SMALL), make_llm=_factory(subject),
                      capture_config=CAPTURE)
    assert db["explanations"].count == n_explanations  # nothing explained twice
    assert _values(again) == _values(run)
    fresh = run_bench(store.open_db(tmp_path / "fresh.db"), subject, BenchConfig(suite="rules", limit=3, **SMALL),
                      make_llm=_factory(subject), capture_config=CAPTURE)
    assert _values(fresh) == _values(run)


def test_summary_is_the_bootstrap_ci_over_features(rules_run):
    _, run = rules_run
    summary = bench_summary(run.values, run_id=run.run_id, seed=3)["rules"]
    sims = [v["value"] for v in run.values if (v["method"], v["metric"]) == ("oneshot", "sim")]
    assert summary["methods"]["oneshot"]["sim"] == bootstrap_ci(sims, seed=3)
    text = format_bench({"rules": summary})
    assert "held-out scores" in text and "scorer validity" in text and "random" in text and "shuffled" in text


def test_summary_counts_failures_and_groups_validity_per_scorer_model():
    values = [
        {"suite": "rules", "name": f"f{i}", "method": "oneshot", "metric": "sim", "value": v, "details": {}}
        for i, v in enumerate([0.1, 0.3, None, 0.5])
    ] + [
        {"suite": "rules", "name": "f9", "method": "oneshot", "metric": "failed", "value": 1.0, "details": {}},
        {"suite": "rules", "name": "f0", "method": "validity", "metric": "sim", "value": 1.0,
         "details": {"scorer_model": "a"}},
        {"suite": "rules", "name": "f1", "method": "validity", "metric": "sim", "value": 0.0,
         "details": {"scorer_model": "a"}},
        {"suite": "rules", "name": "f0", "method": "validity", "metric": "sim", "value": 0.5,
         "details": {"scorer_model": "b"}},
    ]
    s = bench_summary(values)["rules"]
    ci = s["methods"]["oneshot"]["sim"]
    assert ci["mean"] == pytest.approx(0.3) and ci["n"] == 3 and ci["n_undefined"] == 1
    assert ci["lo"] <= 0.3 <= ci["hi"] and 0.1 <= ci["lo"] and ci["hi"] <= 0.5
    assert s["failures"] == {"oneshot": 1}
    assert s["validity"]["sim"]["a"]["mean"] == 0.5 and s["validity"]["sim"]["b"]["mean"] == 0.5
    assert s["validity"]["sim"]["a"]["n"] == 2 and s["n_features"] == 5


def test_compare_is_a_paired_difference_with_ci(tmp_path):
    db = store.open_db(tmp_path / "c.db")
    a, b = store.start_run(db, "bench", {"x": 1}), store.start_run(db, "bench", {"x": 2})
    va = {"f1": 0.1, "f2": 0.2, "f3": 0.3, "only_a": 0.9}
    vb = {"f1": 0.3, "f2": 0.3, "f3": 0.6, "only_b": 0.0}
    for run, vals in ((a, va), (b, vb)):
        store.write_bench_values(db, run, [{"suite": "rules", "name": n, "method": "oneshot", "metric": "sim",
                                            "value": v} for n, v in vals.items()])
    (row,) = compare_runs(db, a, b, seed=0)
    assert row["n"] == 3 and row["diff"] == pytest.approx((0.2 + 0.1 + 0.3) / 3)
    assert row["a"] == pytest.approx(0.2) and row["b"] == pytest.approx(0.4)
    assert row["lo"] <= row["diff"] <= row["hi"] and row["lo"] > 0  # every paired difference is positive
    text = format_compare([row], a, b)
    assert "+0.200" in text and "*" in text
    other = store.start_run(db, "label", {})
    with pytest.raises(MechanicError, match="not a bench run"):
        compare_runs(db, a, other)


def test_plots_are_valid_pngs(rules_run, tmp_path):
    _, run = rules_run
    paths = write_plots(run.values, tmp_path / "plots", run.run_id)
    assert {p.name for p in paths} == {f"bench-{run.run_id}-rules-scores.png", f"bench-{run.run_id}-rules-cost.png"}
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(PNG) and len(data) > 5000


def test_planted_suite_measures_real_directions_with_interventions(subject, tmp_path):
    db = store.open_db(tmp_path / "p.db")
    config = BenchConfig(suite="planted", limit=2, layer=1,
                         **{**SMALL, "n_tokens": 4096, "scorers": ("simulation", "intervention")})
    run = run_bench(db, subject, config, make_llm=_factory(subject), capture_config=CAPTURE)
    # everything is committed: a second connection (another process) sees the finished run
    other = store.open_db(tmp_path / "p.db")
    assert store.get_run(other, run.run_id)["status"] == "done"
    assert len(store.get_bench_values(other, run.run_id)) == len(run.values)
    assert len(run.items) == 2 and all(it.name.startswith("resid:1:planted_") for it in run.items)
    model_id = store.get_model(db, subject.name)["id"]
    assert {it.name.split(":")[2] for it in run.items} <= set(store.load_directions(db, model_id))
    assert all(it.details["probe"]["test_accuracy"] >= 0.5 for it in run.items)
    causal = [v for v in run.values if v["metric"] == "causal" and v["method"] == "oneshot"]
    assert len(causal) == 2  # interventions along the direction were scored
    assert {(v["method"], v["metric"]) for v in run.values} >= {("oneshot", "truth_llm"), ("validity", "sim")}


def test_records_suite_on_fixture_files(subject, tmp_path):
    db = store.open_db(tmp_path / "r.db")
    config = BenchConfig(suite=f"records:{FIXTURES}", **SMALL)
    run = run_bench(db, subject, config, make_llm=_factory(subject), capture_config=CAPTURE)
    assert {it.name for it in run.items} == {"neuron:3:17", "puzzle:colors", "puzzle:negation"} and not run.skipped
    truth = {v["name"] for v in run.values if v["metric"] == "truth_llm"}
    assert truth == {"puzzle:colors", "puzzle:negation"}  # a NeuronRecord has no ground truth
    sims = [v for v in run.values if v["name"] == "neuron:3:17" and v["metric"] == "sim"]
    assert sims and any(v["value"] is not None for v in sims)
    assert store.get_model(db, "records:records") is not None


def test_bad_configurations_are_clear_errors():
    with pytest.raises(MechanicError, match="unknown suite"):
        BenchConfig(suite="vibes")
    with pytest.raises(MechanicError, match="unknown suite"):
        BenchConfig(suite="records:")
    with pytest.raises(MechanicError, match="unknown judge"):
        BenchConfig(judges=("oracle",))
    # the agent experiments on the model: a rule has no site
    with pytest.raises(MechanicError, match="use --suite planted"):
        BenchConfig(suite="rules", methods=("oneshot", "agent"))
    assert BenchConfig(suite="planted", methods=("agent",)).methods == ("agent",)
    assert BenchConfig(suite="rules", methods=("tiered",)).methods == ("tiered",)  # best-of-k stands in


@pytest.mark.parametrize("threshold, source", [(-1.0, "search"), (2.0, "llm")])
def test_tiered_without_a_site_falls_back_to_best_of_k_below_the_threshold(subject, tmp_path, threshold, source):
    """Rule features have no site for the agent: tiered keeps the search's description
    where its select score reaches the threshold, else best-of-k writes (the LLM is
    called only then)."""
    calls = {"n": 0}

    def make(spec, subj):
        def reply(request, **kwargs):
            calls["n"] += 1
            return "numbers written in digits"
        return ScriptedLLM(reply, name=f"scripted:{spec}", slot_fn=position_slots, tokenizer=subject.tokenizer)

    db = store.open_db(tmp_path / "m.db")
    config = BenchConfig(suite="rules", limit=2, threshold=threshold, judges=("embedding",), validity=False,
                         **{**SMALL, "methods": ("search", "tiered"), "scorers": ("simulation",)})
    run_bench(db, subject, config, make_llm=make, capture_config=CAPTURE)
    tiered = store.get_explanations(db, method="tiered")
    searched = {e["feature_id"]: e["text"] for e in store.get_explanations(db, method="search")}
    assert len(tiered) == 2 and all(e["status"] == "ok" for e in tiered)
    if source == "search":
        assert {e["details"]["source"] for e in tiered} == {"search"}
        assert calls["n"] == 0
        assert all(e["text"] == searched[e["feature_id"]] for e in tiered)
    else:  # the LLM was asked; what it wrote replaces the search's description only where it won best-of-k
        assert calls["n"] > 0
        for e in tiered:
            assert e["details"]["source"] in ("search", "bestofk")
            if e["details"]["source"] == "bestofk":
                assert e["text"] == "numbers written in digits" and e["details"]["search"] == searched[e["feature_id"]]
            else:
                assert e["text"] == searched[e["feature_id"]] and e["details"]["fallback"]["method"] == "bestofk"


def test_cli_bench_json_plots_and_compare(subject, tmp_path, monkeypatch):
    import mechanic.agent.llm as llm_module

    monkeypatch.setattr(llm_module, "make_llm", _factory(subject))
    runner = CliRunner()
    base = ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "bench", "--suite", "rules", "--limit", "2",
            "--methods", "tokens,oneshot", "--tokens", "2048"]
    first = runner.invoke(cli, [*base, "--scorers", "simulation,topic", "--json", "--plots", str(tmp_path / "plots")])
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert data["summary"]["rules"]["methods"]["oneshot"]["sim"]["n"] == 2 and data["values"]  # both features
    assert data["plots"] and all(Path(p).read_bytes().startswith(PNG) for p in data["plots"])
    second = runner.invoke(cli, [*base, "--scorers", "simulation,embedding", "--seed", "1"])  # the former name
    assert second.exit_code == 0, second.output
    assert "held-out scores" in second.output and "bench run" in second.output
    assert "note: the scorer 'embedding' is now called 'topic'" in second.output
    assert "topic" in second.output.split("held-out scores")[1].splitlines()[1]  # scored under its new name
    run_b = int(second.output.strip().splitlines()[-1].split()[2])
    compared = runner.invoke(cli, ["--db", str(tmp_path / "m.db"), "-q", "bench", "--compare", str(data["run_id"]),
                                   str(run_b)])
    assert compared.exit_code == 0, compared.output
    assert "paired over features" in compared.output and "oneshot" in compared.output
    bad = runner.invoke(cli, ["--db", str(tmp_path / "m.db"), "-q", "bench", "--compare", "1", "999"])
    assert bad.exit_code != 0 and "not a bench run" in bad.output and "Traceback" not in bad.output
    unknown = runner.invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "bench",
                                  "--suite", "nope"])
    assert unknown.exit_code != 0 and "unknown suite" in unknown.output


def _agent_reply(messages, **kwargs):
    # a scripted investigation: two hypotheses, one experiment, then finish
    schema = json.dumps(kwargs.get("json_schema") or {})
    if '"hypotheses"' in schema:
        return json.dumps({"hypotheses": [{"text": "line breaks", "prediction": "quiet inside a line"},
                                          {"text": "digits", "prediction": "quiet on letters"}]})
    if '"tool"' in schema:
        if "test_hypothesis:" in messages[0]["content"]:
            return json.dumps({"tool": "finish", "arguments": {}})
        return json.dumps({"tool": "test_hypothesis",
                           "arguments": {"hypothesis": 1, "activating": ["a\nb\n", "x\n\ny"], "near_miss": ["a b c"]}})
    return "line breaks"


def test_planted_suite_with_the_agent_method(subject, tmp_path):
    def make(spec, subj):
        return ScriptedLLM(_agent_reply, name=f"scripted:{spec}", slot_fn=position_slots, tokenizer=subject.tokenizer)

    db = store.open_db(tmp_path / "a.db")
    config = BenchConfig(suite="planted", limit=1, layer=1, **{**SMALL, "methods": ("oneshot", "agent"),
                                                                 "n_tokens": 4096, "scorers": ("simulation",)})
    run = run_bench(db, subject, config, make_llm=make, capture_config=CAPTURE)
    (it,) = run.items
    agent = [e for e in store.get_explanations(db, feature_id=it.row["id"]) if e["method"] == "agent"]
    assert len(agent) == 1 and agent[0]["role"] == "explanation"
    metrics = {v["metric"] for v in run.values if v["method"] == "agent"}
    assert agent[0]["status"] == "ok"
    # a scripted hypothesis or a searched description, whichever simulated best on select
    # (the search's runners-up are listed but cannot win: its own choice speaks for them)
    listed = agent[0]["details"]["candidates"]
    candidates = {c["text"]: c["select_score"] for c in listed if c.get("eligible", True)}
    assert {"line breaks", "digits"} & {c["text"] for c in listed}
    assert agent[0]["text"] == max(candidates, key=lambda t: -2 if candidates[t] is None else candidates[t])
    assert {"sim", "truth_llm", "truth_embedding", "cost_calls"} <= metrics and "failed" not in metrics
    assert next(v["value"] for v in run.values if (v["method"], v["metric"]) == ("agent", "cost_calls")) > 0
