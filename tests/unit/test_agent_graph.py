"""The investigation graph on a tiny model and a real SQLite store, with scripted LLM
answers: every branch (supported and refuted hypotheses, a repaired tool call, budget
exhaustion, a failing LLM, resume after a kill without duplicate rows)."""

import json
from dataclasses import replace

import pytest
from mechanic import store
from mechanic.agent.investigation import AgentConfig, investigate
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.llm.scripted import position_slots
from mechanic.evals.simulators import make_simulator
from mechanic.tools import activations
from support import stored_feature

FEATURE = "mlp:1:3"


@pytest.fixture()
def stored(subject, tmp_path):
    return stored_feature(subject, tmp_path / "m.db", FEATURE)


def _firing_texts(subject, row, n=3):
    """Texts on which the feature fires and texts on which it is quiet (measured);
    three of each, the fewest on which the verdict rule can support or refute."""
    threshold = 0.25 * row["max"]
    candidates = ["abc", "hello world", "zzz", "The cat sat.", "x = 1", "def f(): pass", "qqqq", "Mm", "((", "!!",
                  "import os", "a, b = 1, 2", "Hello!", "# note", "return None", "[1, 2]"]
    maxes = {r.text: max(r.activations[FEATURE]) for r in activations(subject, candidates, [FEATURE])}
    on = [t for t in candidates if maxes[t] >= threshold][:n]
    off = [t for t in candidates if maxes[t] < threshold][:n]
    return on, off


class Script:
    """Answers by what is asked: hypotheses, or the next tool call from a queue."""

    def __init__(self, hypotheses, steps, *, interrupt_at=None):
        self.hypotheses = list(hypotheses)  # one reply per hypothesize call
        self.steps = list(steps)  # tool-call replies, in order; then "finish"
        self.interrupt_at = interrupt_at
        self.n = 0

    def __call__(self, messages, **kwargs):
        self.n += 1
        if self.interrupt_at is not None and self.n == self.interrupt_at:
            raise KeyboardInterrupt
        schema = kwargs.get("json_schema") or {}
        if "hypotheses" in json.dumps(schema)[:200]:
            return json.dumps({"hypotheses": self.hypotheses.pop(0) if self.hypotheses else []})
        if self.steps:
            return json.dumps(self.steps.pop(0))
        return json.dumps({"tool": "finish", "arguments": {}})


def _llm(subject, script):
    return ScriptedLLM(script, name="scripted", slot_fn=position_slots, tokenizer=subject.tokenizer)


def _run(db, subject, row, run_id, script, config=AgentConfig(), instrument_tests=False, **kw):
    """Investigate with the scripted LLM. The instruments' own tests are off unless
    asked for: these tests check the verdicts on the tests the script writes
    (tests/unit/test_corpus_tests.py checks the instruments' tests)."""
    if not instrument_tests:
        config = replace(config, instrument_tests=())
    llm = _llm(subject, script)
    return investigate(db, subject, row, llm, config, run_id=run_id, simulator=make_simulator(llm),
                       simulator_name="scripted", **kw), llm


def test_a_hypothesis_that_fits_is_supported_and_one_that_does_not_is_refuted(subject, stored):
    db, row, run_id = stored
    on, off = _firing_texts(subject, row)
    assert len(on) == 3 and len(off) == 3
    script = Script(
        [[{"text": "the texts that fire", "prediction": "quiet on the others"},
          {"text": "the quiet texts", "prediction": "quiet on the firing ones"}]],
        [{"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": on, "near_miss": off}},
         {"tool": "test_hypothesis", "arguments": {"hypothesis": 2, "activating": off, "near_miss": on}}])
    result, _ = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=1))
    assert result.status == "done"
    verdicts = {h["text"]: h["verdict"] for h in result.hypotheses}
    assert verdicts == {"the texts that fire": "supported", "the quiet texts": "refuted"}
    fits = next(h for h in result.hypotheses if h["verdict"] == "supported")
    assert fits["precision"] == 1.0 and fits["recall"] == 1.0
    # the survivor is the explanation, linked both ways, method agent
    assert result.text == "the texts that fire"
    expl = db["explanations"].get(result.explanation_id)
    assert expl["method"] == "agent" and json.loads(expl["details"])["agent_run_id"] == result.agent_run_id
    tools = [e["tool"] for e in result.experiments]
    assert tools == ["feature_stats", "exemplars", "output_tokens", "test_hypothesis", "test_hypothesis"]
    assert all(e["elapsed"] > 0 and e["summary"] for e in result.experiments)  # each call timed
    tested = [e for e in result.experiments if e["tool"] == "test_hypothesis"]
    assert {e["hypothesis_id"] for e in tested} == {h["id"] for h in result.hypotheses}
    assert result.usage["llm_calls"] == 4 and result.usage["tool_calls"] == 5


def test_refuted_hypotheses_are_revised_in_a_second_round(subject, stored):
    db, row, run_id = stored
    on, off = _firing_texts(subject, row)
    script = Script(
        [[{"text": "the quiet texts", "prediction": "quiet on the firing ones"}],
         [{"text": "the texts that fire", "prediction": "quiet on the others"}]],
        [{"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": off, "near_miss": on}},
         {"tool": "finish", "arguments": {}},
         {"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": on, "near_miss": off}}])
    result, llm = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=2))
    assert [(h["round"], h["verdict"]) for h in result.hypotheses] == [(0, "refuted"), (1, "supported")]
    revise_prompt = [c for c in llm.calls if "hypotheses" in json.dumps(c["kwargs"]["json_schema"] or {})][1]
    assert "the quiet texts: refuted" in revise_prompt["messages"][0]["content"]
    assert result.text == "the texts that fire"


def test_an_invalid_tool_call_is_repaired_from_the_error(subject, stored):
    db, row, run_id = stored
    on, off = _firing_texts(subject, row)
    script = Script(
        [[{"text": "the texts that fire", "prediction": "quiet elsewhere"}]],
        [{"tool": "test_hypothesis", "arguments": {"hypothesis": 7, "activating": on, "near_miss": off}},
         {"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": on, "near_miss": off}}])
    result, llm = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=1))
    repair = [c for c in llm.calls if "could not be used" in c["messages"][-1]["content"]]
    assert len(repair) == 1 and "hypothesis must be 1-1, not 7" in repair[0]["messages"][-1]["content"]
    assert [e["tool"] for e in result.experiments][-1] == "test_hypothesis"
    assert result.hypotheses[0]["verdict"] == "supported"


def test_placeholder_texts_are_sent_back_for_repair_before_anything_runs(subject, stored):
    db, row, run_id = stored
    on, off = _firing_texts(subject, row)
    script = Script(
        [[{"text": "the texts that fire", "prediction": "quiet elsewhere"}]],
        [{"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": ["test_hypothesis"] * 3,
                                                   "near_miss": off}},
         {"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": on, "near_miss": off}}])
    result, llm = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=1))
    repair = [c for c in llm.calls if "could not be used" in c["messages"][-1]["content"]]
    assert len(repair) == 1 and "a placeholder rather than an example" in repair[0]["messages"][-1]["content"]
    tested = [e for e in result.experiments if e["tool"] == "test_hypothesis"]
    assert len(tested) == 1 and tested[0]["arguments"]["activating"] == on  # the placeholder never ran


def test_a_bad_argument_that_passes_the_schema_comes_back_as_an_observation(subject, stored):
    db, row, run_id = stored
    script = Script([[{"text": "letters", "prediction": "quiet on digits"}]],
                    [{"tool": "activations", "arguments": {"texts": ["hi"], "feature": "mlp:9:1"}}])
    result, llm = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=1, guided=False))
    bad = result.experiments[-1]
    assert bad["tool"] == "activations" and bad["result"] is None and "layer 9 out of range" in bad["error"]
    # the next step saw the error
    assert any("layer 9 out of range" in (c["messages"][0]["content"]) for c in llm.calls[2:])
    assert result.status == "done"


def test_budget_exhaustion_finalizes_with_what_it_has(subject, stored):
    db, row, run_id = stored
    on, off = _firing_texts(subject, row)
    steps = [{"tool": "activations", "arguments": {"texts": [f"text {i}"]}} for i in range(20)]
    script = Script([[{"text": "the texts that fire", "prediction": "quiet elsewhere"}]], steps)
    result, llm = _run(db, subject, row, run_id, script,
                       AgentConfig(max_llm_calls=4, max_rounds=3, steps_per_round=10))
    assert result.status == "budget_exhausted"
    assert len(llm.calls) <= 4 + 0  # simulation calls go through slots, not complete()
    assert result.text == "the texts that fire"  # untested, but it is what the agent has
    assert store.get_agent_run(db, result.agent_run_id)["status"] == "budget_exhausted"


def test_repairs_inside_a_step_count_against_the_llm_budget(subject, stored):
    db, row, run_id = stored
    bad = {"tool": "test_hypothesis", "arguments": {"hypothesis": 9, "activating": ["a b"], "near_miss": ["c d"]}}
    script = Script([[{"text": "letters", "prediction": "quiet on digits"}]], [bad] * 20)
    result, llm = _run(db, subject, row, run_id, script, AgentConfig(max_llm_calls=5, max_rounds=3))
    assert len(llm.calls) == 5  # one hypothesize call, then repairs until the budget, never past it
    assert result.status == "budget_exhausted"
    assert store.get_agent_run(db, result.agent_run_id)["usage"]["llm_calls"] == 5


def test_a_failing_llm_is_a_failed_run_and_a_failed_explanation(subject, stored):
    db, row, run_id = stored
    llm = ScriptedLLM([], name="scripted")  # every call fails
    result = investigate(db, subject, row, llm, AgentConfig(), run_id=run_id)
    assert result.status == "failed" and "script exhausted" in result.error
    expl = db["explanations"].get(result.explanation_id)
    assert expl["status"] == "failed" and expl["text"] is None


def test_a_replaced_database_never_resumes_an_old_checkpoint(subject, tmp_path):
    """A checkpoint file left beside a database that was deleted and made again (its
    agent runs count from 1 again) belongs to the old run 1: the new run 1 starts fresh."""
    checkpoints = tmp_path / "shared.checkpoints.sqlite"
    hyps = [[{"text": "the texts that fire", "prediction": "quiet elsewhere"}]]
    db, row, run_id = stored_feature(subject, tmp_path / "old.db", FEATURE)
    with pytest.raises(KeyboardInterrupt):  # stopped mid-round: its checkpoint holds hypotheses of the old db
        _run(db, subject, row, run_id, Script(hyps, [], interrupt_at=2), AgentConfig(max_rounds=1),
             checkpoints=checkpoints)
    assert store.get_agent_runs(db)[0]["id"] == 1 and db["hypotheses"].count == 1
    new_db, new_row, new_run = stored_feature(subject, tmp_path / "new.db", FEATURE)
    result, _ = _run(new_db, subject, new_row, new_run, Script(hyps, []), AgentConfig(max_rounds=1),
                     checkpoints=checkpoints)
    assert result.agent_run_id == 1 and result.status == "done"
    assert [h["text"] for h in result.hypotheses] == ["the texts that fire"]
    assert new_db["hypotheses"].count == 1 and result.experiments[0]["tool"] == "feature_stats"


def test_resume_after_a_kill_continues_without_duplicate_rows(subject, stored):
    db, row, run_id = stored
    on, off = _firing_texts(subject, row)
    hyps = [[{"text": "the texts that fire", "prediction": "quiet elsewhere"},
             {"text": "the quiet texts", "prediction": "quiet on firing ones"}]]
    steps = [{"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": on, "near_miss": off}},
             {"tool": "test_hypothesis", "arguments": {"hypothesis": 2, "activating": off, "near_miss": on}}]
    with pytest.raises(KeyboardInterrupt):
        _run(db, subject, row, run_id, Script(hyps, steps, interrupt_at=3), AgentConfig(max_rounds=1))
    (killed,) = store.get_agent_runs(db, feature_id=row["id"])
    assert killed["status"] == "interrupted"
    before = store.get_experiments(db, killed["id"])
    assert [e["tool"] for e in before] == ["feature_stats", "exemplars", "output_tokens", "test_hypothesis"]
    # resume: the script continues where the killed run stopped (the second test)
    result, llm = _run(db, subject, row, run_id, Script([], steps[1:]), AgentConfig(max_rounds=1),
                       resume=killed["id"])
    assert result.agent_run_id == killed["id"] and result.status == "done"
    assert not any("hypotheses" in json.dumps(c["kwargs"]["json_schema"] or {}) for c in llm.calls)
    steps_seen = [e["step"] for e in result.experiments]
    assert steps_seen == sorted(set(steps_seen)) and len(steps_seen) == 5
    assert db["hypotheses"].count == 2
    assert [h["verdict"] for h in result.hypotheses] == ["supported", "refuted"]
    assert len(store.get_explanations(db, feature_id=row["id"], method="agent")) == 1


def test_small_models_hypothesize_by_sampled_few_shot_labels(subject, stored):
    """A model with text completion (the local backend) gets hypotheses from few-shot
    labels of slices of the evidence instead of JSON prose."""
    db, row, run_id = stored
    labels = iter(["letters", "letters", "vowels", "punctuation"])

    def reply(request, **kwargs):
        if isinstance(request, str):  # complete_text: a few-shot label
            return next(labels)
        return json.dumps({"tool": "finish", "arguments": {}})

    llm = ScriptedLLM(reply, name="scripted", slot_fn=position_slots, tokenizer=subject.tokenizer, text_completion=True)
    result = investigate(db, subject, row, llm, AgentConfig(max_rounds=1, n_hypotheses=3), run_id=run_id,
                         simulator=make_simulator(llm), simulator_name="scripted")
    assert [h["text"] for h in result.hypotheses] == ["letters", "vowels", "punctuation"]  # the repeat is dropped
    prompts_seen = [c["prompt"] for c in llm.calls if c["messages"] is None]
    assert len(prompts_seen) == 4 and all(p.rstrip().endswith("->") for p in prompts_seen)
    assert result.status == "done" and result.text in {"letters", "vowels", "punctuation"}
    assert {c["text"] for c in json.loads(db["explanations"].get(result.explanation_id)["details"])["candidates"]} \
        == {"letters", "vowels", "punctuation"}


def test_guided_design_asks_for_one_falsification_test_per_hypothesis_first(subject, stored):
    db, row, run_id = stored
    on, off = _firing_texts(subject, row)
    script = Script([[{"text": "the texts that fire", "prediction": "quiet elsewhere"},
                      {"text": "the quiet texts", "prediction": "quiet on firing ones"}]],
                    [{"tool": "finish", "arguments": {}},  # refused: hypothesis 1 must be tested first
                     {"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": on, "near_miss": off}}])
    result, llm = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=1))
    design = [c for c in llm.calls if "anyOf" in (c["kwargs"]["json_schema"] or {})
              or "tool" in (c["kwargs"]["json_schema"] or {}).get("properties", {})]
    first = design[0]["kwargs"]["json_schema"]
    assert first["properties"]["tool"]["const"] == "test_hypothesis"
    assert first["properties"]["arguments"]["properties"]["hypothesis"]["enum"] == [1]
    assert "choose one of test_hypothesis" in design[1]["messages"][-1]["content"]
    second = design[2]["kwargs"]["json_schema"]["properties"]["arguments"]["properties"]["hypothesis"]
    assert second["enum"] == [2]
    assert "anyOf" in design[-1]["kwargs"]["json_schema"]  # then a free choice among all tools
    assert [h["verdict"] for h in result.hypotheses][0] == "supported"


def test_the_search_choice_speaks_for_its_runners_up_in_the_final_choice(subject, stored):
    """Finalize scores the search's runners-up and lists them, but only the agent's own
    hypotheses and the search's choice can win, even where a runner-up reads best on
    select (the search ranked it lower with each rule's fit as well)."""
    from mechanic.agent.investigation.conclude import ConclusionNodes
    from mechanic.evals.offline import offline_simulator

    db, row, run_id = stored
    simulator = offline_simulator("trained")
    texts = ["letters", "digits", "punctuation", "the symbol '('", "words in capital letters"]
    probe = ConclusionNodes(db, subject, row, ScriptedLLM([], name="scripted"), AgentConfig(),
                            agent_run_id=0, run_id=run_id, config_hash="h", simulator=simulator)
    scores = probe._select_scores(texts)
    assert all(s is not None for s in scores)
    order = sorted(range(len(texts)), key=lambda i: -scores[i])
    best, worst = texts[order[0]], texts[order[-1]]
    hypothesis = texts[order[1]]  # the agent's own: second best on select
    nodes = ConclusionNodes(db, subject, row, ScriptedLLM([], name="scripted"), AgentConfig(), agent_run_id=0,
                            run_id=run_id, config_hash="h", simulator=simulator, seed_candidates=(worst, best))
    text, details = nodes._choose([{"text": hypothesis, "verdict": "inconclusive", "round": 0}])
    assert text == hypothesis  # not the runner-up `best`, though it reads best
    listed = {c["text"]: c for c in details["candidates"]}
    assert set(listed) == {hypothesis, worst, best} and listed[best]["eligible"] is False
    assert listed[best]["select_score"] > listed[hypothesis]["select_score"] > listed[worst]["select_score"]
    # without a search, the best on select wins as before
    plain = ConclusionNodes(db, subject, row, ScriptedLLM([], name="scripted"), AgentConfig(), agent_run_id=0,
                            run_id=run_id, config_hash="h", simulator=simulator)
    assert plain._choose([{"text": t, "verdict": "inconclusive", "round": 0} for t in (hypothesis, best)])[0] == best
