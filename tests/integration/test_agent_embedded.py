"""The embedded SmolLM2 investigates one real neuron end to end through the JSON-step
driver, with small budgets: it must finish (done or budget_exhausted), never loop, and
leave every hypothesis and experiment in the store."""

import time

from mechanic import store
from mechanic.agent.investigation import AgentConfig, investigate
from mechanic.agent.llm import LocalLLM
from mechanic.agent.pipeline import cache_features
from mechanic.evals.simulators import make_simulator
from mechanic.tools import CaptureConfig


def test_embedded_model_investigates_a_neuron(embedded, tmp_path):
    db = store.open_db(tmp_path / "m.db")
    feature = "mlp:15:42"
    cache_features(db, embedded, embedded.features(feature), source="default", n_tokens=4096, length=32,
                   config=CaptureConfig(top_k=12, n_random=12, decile_pool=30), progress=False)
    row = store.get_feature(db, embedded.name, feature)
    run_id = store.start_run(db, "investigate", {"feature": feature})
    llm = LocalLLM(embedded)
    config = AgentConfig(max_llm_calls=8, max_tool_calls=8, max_seconds=300, n_hypotheses=2, max_rounds=1,
                         steps_per_round=2, driver="json")
    start = time.perf_counter()
    result = investigate(db, embedded, row, llm, config, run_id=run_id, simulator=make_simulator(llm),
                         simulator_name=llm.name, progress=print)
    seconds = time.perf_counter() - start
    print(f"\n[agent] {result.status} in {seconds:.0f}s: {result.text!r}; usage {result.usage}")
    for h in result.hypotheses:
        print(f"  {h['verdict']}: {h['text']} (p={h['precision']}, r={h['recall']})")
    for e in result.experiments:
        print(f"  [{e['step']}] {e['tool']} {e['arguments']} -> {(e['summary'] or e['error'] or '')[:100]!r}")
    assert result.status in ("done", "budget_exhausted")
    assert result.usage["llm_calls"] <= 8 and result.usage["tool_calls"] <= 8
    assert len(result.experiments) >= 3  # at least the evidence calls
    expl = db["explanations"].get(result.explanation_id)
    assert expl["method"] == "agent"
    # LocalLLM decodes under the JSON schema, so the hypotheses parse and one of them is the explanation
    assert (expl["status"], expl["error"]) == ("ok", None) and expl["text"] == result.text
    assert result.text in [h["text"] for h in result.hypotheses]
    assert store.get_agent_run(db, result.agent_run_id)["explanation_id"] == result.explanation_id


def test_agent_against_a_loopback_openai_compatible_server(embedded, served_model, tmp_path):
    """The same investigation with the explainer behind `transformers serve`: native
    function calling is tried first and JSON steps take over if the server rejects
    tools; the server does not enforce JSON schemas, so replies are validated here."""
    from mechanic.agent.llm import OpenAILLM

    base_url, model = served_model
    db = store.open_db(tmp_path / "m.db")
    feature = "mlp:15:42"
    cache_features(db, embedded, embedded.features(feature), source="default", n_tokens=2048, length=32,
                   config=CaptureConfig(top_k=8, n_random=8, decile_pool=20), progress=False)
    row = store.get_feature(db, embedded.name, feature)
    llm = OpenAILLM(model, base_url=base_url, timeout=120, max_retries=1)
    config = AgentConfig(max_llm_calls=6, max_tool_calls=8, max_seconds=300, n_hypotheses=2, max_rounds=1,
                         steps_per_round=2, retries=1)
    result = investigate(db, embedded, row, llm, config, run_id=store.start_run(db, "investigate", {}),
                         progress=print)
    print(f"\n[agent via server] {result.status}: {result.text!r}; usage {result.usage}")
    assert result.status in ("done", "budget_exhausted")
    assert 1 <= result.usage["llm_calls"] <= 6 and llm.usage.calls == result.usage["llm_calls"]
    assert [e["tool"] for e in result.experiments][:3] == ["feature_stats", "exemplars", "output_tokens"]
    assert db["explanations"].get(result.explanation_id)["method"] == "agent"


def test_every_embedded_hypothesis_gets_an_instrument_run_test(embedded, tmp_path):
    """`mechanic investigate` on the embedded model: whatever the small model manages to
    write, each hypothesis (its own and the description search's) is tested on fresh
    corpus text and by counterfactual edits, and its verdict rests on those tests."""
    from mechanic.agent.pipeline import LabelConfig, investigate_feature

    db = store.open_db(tmp_path / "m.db")
    config = LabelConfig(n_tokens=2048, window=32, scorers=("simulation",), agent_llm_calls=6, agent_seconds=300)
    start = time.perf_counter()
    report = investigate_feature(db, embedded, embedded.features("mlp:15:42")[0], config, progress=print)
    print(f"\n[agent, instrument tests] {report['status']} in {time.perf_counter() - start:.0f}s: "
          f"{report['explanation']!r}")
    by_hypothesis = {}
    for e in report["experiments"]:
        by_hypothesis.setdefault(e["hypothesis_id"], {})[e["tool"]] = e
        print(f"  [{e['step']}] {e['tool']} -> {(e['summary'] or e['error'] or '')[:160]!r}")
    hypotheses = report["hypotheses"]
    assert hypotheses and report["status"] in ("done", "budget_exhausted")
    hypotheses_db = store.get_hypotheses(db, report["agent_run_id"])
    assert any(h["details"].get("source") == "search" for h in hypotheses_db)  # search candidates joined
    for h in hypotheses_db:
        print(f"  {h['verdict']}: {h['text']} ({h['details'].get('reading')}; counts {h['details'].get('counts')})")
        mine = by_hypothesis.get(h["id"], {})
        assert mine.get("test_on_corpus") and mine["test_on_corpus"]["error"] is None  # ran on fresh text
        assert "counterfactual" in mine  # ran, or said why it could not edit
        assert h["verdict"] in ("supported", "partial", "refuted", "inconclusive")
        assert h["details"]["corpus_tests"] >= 1 and h["details"]["counts"]["recall"][1] >= 0


def test_label_search_tiered_and_agent_on_the_embedded_model(tmp_path):
    """`mechanic label --methods search,tiered,agent` on a real neuron of the embedded
    model: the search labels it without an LLM; below the threshold, tiered takes the
    agent's investigation (run once), and every explanation is scored on `test`."""
    import json

    from click.testing import CliRunner
    from mechanic.agent.cli import cli

    db_path = tmp_path / "m.db"
    out = CliRunner().invoke(cli, [
        "--db", str(db_path), "-q", "label", "mlp:15:42", "--methods", "search,tiered,agent", "--threshold", "2",
        "--tokens", "4096", "--n-top", "3", "--n-random", "3", "--scorers", "simulation",
        "--budget-llm", "4", "--budget-seconds", "240", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert {"search", "tiered", "agent", "random"} <= set(data["methods"])  # one feature: no shuffled floor
    db = store.open_db(db_path)
    by_method = {e["method"]: e for e in db["explanations"].rows_where("role = 'explanation'")}
    search, tiered, agent = by_method["search"], by_method["tiered"], by_method["agent"]
    assert search["status"] == "ok" and search["llm_calls"] == 0 and json.loads(search["details"])["rule"]
    assert agent["status"] == "ok" and db["agent_runs"].count == 1
    details = json.loads(tiered["details"])
    assert tiered["text"] == agent["text"] and details["source"] == "agent" and details["investigation_of"] == agent["id"]
    for e in (search, tiered, agent):
        assert store.get_scores(db, e["id"]), e["method"]
    tools = {e["tool"] for e in db["experiments"].rows}
    assert {"test_on_corpus", "counterfactual"} <= tools  # the instruments tested the hypotheses themselves
