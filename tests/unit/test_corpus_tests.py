"""Hypothesis tests the instruments run themselves (instruments/corpus_tests.py and
hypothesis_rules.py): free text read as a grammar rule, the edits a rule names, the
corpus test on a fresh sample and the counterfactual edits on a tiny model, and an
investigation whose verdicts rest on these tests alone (scripted LLM)."""

import json
from dataclasses import replace

import numpy as np
import pytest
from mechanic import store
from mechanic.agent.investigation import AgentConfig, Instruments, investigate, verdict
from mechanic.agent.investigation.instruments.hypothesis_rules import parse_rule, plan_edits, rule_from_dict
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.llm.scripted import position_slots
from mechanic.agent.pipeline import cache_features
from mechanic.agent.search import WindowView, grammar
from mechanic.evals.offline import offline_simulator
from mechanic.evals.simulators import make_simulator
from mechanic.tools import activations_on_ids, corpus_windows
from support import CAPTURE

FEATURE = "mlp:1:3"


# ------------------------------------------------------------ reading a hypothesis


@pytest.mark.parametrize("text, kind, params", [
    ("the word 'return'", "identity", {"words": ["return"]}),
    ('the words "if" and "else"', "identity", {"words": ["if", "else"]}),
    ("the closing bracket ')'", "identity", {"words": [")"]}),
    ("the token right after 'def'", "after", {"after": ["def"]}),
    ("tokens followed by '('", "before", {"before": ["("]}),
    ("words ending in '-ing'", "suffix", {"suffix": "ing"}),
    ("words starting with 'un'", "prefix", {"prefix": "un"}),
    ("month names such as May", "category", {"category": "month names"}),
    ("capitalised words", "shape", {"shape": "capitalised"}),
    ("numbers written in digits", "shape", {"shape": "digits"}),
    ("identifiers containing an underscore (max_size)", "shape", {"shape": "underscore"}),
    ("the first token of a line", "region", {"region": "at the start of a line"}),
    ("people's first names", "category", {"category": "people's first names"}),  # an apostrophe is no quote
])
def test_free_text_is_read_as_a_grammar_rule(text, kind, params):
    rule = parse_rule(text)
    assert rule is not None and rule.kind == kind
    assert {k: rule.params[k] for k in params} == params


def test_a_conjunction_and_what_cannot_be_read():
    rule = parse_rule("the word 'self' inside parentheses")
    assert rule.kind == "and" and [p.kind for p in rule.parts] == ["identity", "region"]
    assert rule.parts[1].params["region"] == "inside parentheses"
    assert parse_rule("something vague about the mood of the text") is None


def test_a_hypothesis_of_several_modes_is_read_mode_by_mode():
    rule = parse_rule("the words 'name' and 'never'; also the symbol ':'")
    assert rule.kind == "or" and [p.params["words"] for p in rule.parts] == [["name", "never"], [":"]]
    assert rule.text == "the words 'name' and 'never'; also the colon ':'"  # symbols are named
    # a mode the grammar cannot read is left out; the rest is still a rule
    assert parse_rule("the word 'self'; also something vague about the mood").params["words"] == ["self"]


def test_a_search_rule_survives_its_details():
    view = WindowView(("def", " f", "(", "x", ")", ":", "\n", "    ", "return", " x"))
    for rule in (grammar.identity(["return", "yield"]), grammar.after(["def"]), grammar.region("inside parentheses"),
                 grammar.suffix("ing", ["going"]), grammar.together(grammar.identity(["x"]),
                                                                    grammar.region("inside parentheses")),
                 grammar.either(grammar.identity(["def"]), grammar.shape("punctuation")),
                 grammar.either(grammar.identity(["def"]), grammar.identity([":"]), grammar.after(["return"]),
                                strengths=(1.0, 0.6, 0.3))):
        back = rule_from_dict(json.loads(json.dumps(rule.to_dict())))
        assert back.text == rule.text and np.array_equal(back.levels(view), rule.levels(view))
    with pytest.raises(ValueError):
        rule_from_dict({"kind": "vibes"})


# ------------------------------------------------------------------ the edits


TOKENS = ("def", " f", "(", "x", ")", ":", "\n", "    ", "return", " x")


def test_edits_swap_the_word_for_a_member_and_a_non_member():
    view = WindowView(TOKENS)
    pool = [("yield", False), ("pass", False), ("f", False)]
    edits, _ = plan_edits(grammar.identity(["return"]), view, 8, pool)
    assert [(e.what, e.start, e.end, e.text, e.expect) for e in edits] == [
        ("member", 8, 8, "Return", "fire"),  # the rule holds in any case: a case variant is a member
        ("non-member", 8, 8, "yield", "quiet")]
    edits, _ = plan_edits(grammar.identity(["return", "yield"]), view, 8, [("yield", True), ("pass", False)])
    assert [(e.what, e.text) for e in edits] == [("member", "yield"), ("non-member", "pass")]


def test_edits_remove_the_context_the_rule_names():
    view = WindowView(TOKENS)
    pool = [("pass", False), ("y", False)]
    after, _ = plan_edits(grammar.after(["return"]), view, 9, pool)
    assert [(e.what, e.start, e.end, e.text, e.expect) for e in after] == [
        ("member", 9, 9, " pass", "fire"),  # any token right after 'return' fits
        ("remove context", 8, 8, "pass", "quiet"),
        ("context member", 8, 8, "Return", "fire")]
    inside, _ = plan_edits(grammar.together(grammar.identity(["x"]), grammar.region("inside parentheses")), view, 3,
                           pool)
    assert ("remove context", 2, 2, "", "quiet") in [(e.what, e.start, e.end, e.text, e.expect) for e in inside]
    line, _ = plan_edits(grammar.region("at the start of a line"), WindowView(("a", "\n", "b")), 2, pool)
    assert [(e.what, e.start, e.text) for e in line if e.what == "remove context"] == [("remove context", 1, " ")]
    later, notes = plan_edits(grammar.before(["("]), view, 1, pool)
    assert later == [] and "later token cannot change" in notes[0]


# ------------------------------------------------------------ on a tiny model


@pytest.fixture(scope="module")
def stored(subject, tmp_path_factory):
    db = store.open_db(tmp_path_factory.mktemp("corpus") / "m.db")
    cache_features(db, subject, subject.features(FEATURE), source="default", n_tokens=1024, length=16,
                   config=CAPTURE, progress=False)
    return db, store.get_feature(db, subject.name, FEATURE)


@pytest.fixture(scope="module")
def simulator():
    return offline_simulator("trained")


def _peak_word(subject, db, row):
    """The word at the peak of the top train window (past the first token)."""
    top = store.get_exemplars(db, row["id"], kind="top", split="train")[0]
    acts = np.asarray(top.activations)
    t = 1 + int(np.argmax(acts[1:]))
    return WindowView(tuple(subject.token_strings(top.tokens))).words[t].strip()


def test_the_corpus_test_reads_fresh_windows_and_counts_honestly(subject, stored, simulator):
    db, row = stored
    tools = Instruments(subject, db, row)
    tools.test_simulator = simulator
    tools.hypotheses = [{"text": "the letter 'e' in English words"}]
    call = tools.call("test_on_corpus", {"hypothesis": 1})
    assert call.error is None
    result = call.observation.result
    corpus = store.get_corpus(db, row["corpus_id"])
    first = corpus["n_windows"]
    assert result["first_fresh_window"] == first and all(i >= first for i in result["windows"])
    # no split has used these windows, nor any window of their documents
    spec = corpus["spec"]
    windows = corpus_windows(subject.tokenizer, spec["source"], n_tokens=(max(result["windows"]) + 1) * 16,
                             length=16, seed=spec["seed"])
    stored_docs = {w.doc for w in store.get_windows(db, row["corpus_id"], range(first)).values()}
    fresh = [windows[i] for i in result["windows"]]
    assert not stored_docs & {w.doc for w in fresh} and len(fresh) == 64
    # the counts, recomputed from the real activations and the simulator's reading
    acts = activations_on_ids(subject, FEATURE, [w.tokens for w in fresh])
    from mechanic.evals.records import Record

    records = [Record(tuple(subject.token_strings(w.tokens)), a) for w, a in zip(fresh, acts)]
    levels = simulator.simulate(result["text"], records)
    fired = [a[1:] >= tools.threshold for a in acts]  # the first position is left out
    predicted = [np.asarray(lv)[1:] >= 5.0 for lv in levels]
    assert result["fired"] == sum(int(f.sum()) for f in fired) > 0
    assert result["predicted"] == sum(int(p.sum()) for p in predicted)
    assert result["hits"] == sum(int((f & p).sum()) for f, p in zip(fired, predicted))
    assert result["precision"] == result["hits"] / result["fired"]
    summary = call.observation.summary
    assert f"it fired at {result['fired']} tokens" in summary and "no split has seen" in summary


def test_the_corpus_test_says_when_the_source_has_nothing_fresh(subject, tmp_path):
    source = tmp_path / "small.txt"
    source.write_text("A short text about cats and dogs, " * 20)
    db = store.open_db(tmp_path / "m.db")
    cache_features(db, subject, subject.features(FEATURE), source=str(source), n_tokens=4096, length=16,
                   config=CAPTURE, progress=False)
    tools = Instruments(subject, db, store.get_feature(db, subject.name, FEATURE))
    tools.hypotheses = [{"text": "cats"}]
    call = tools.call("test_on_corpus", {"hypothesis": 1})
    assert call.observation is None and "no text past the captured sample" in call.error
    assert "hypothesis must be 1-1, not 2" in tools.call("counterfactual", {"hypothesis": 2}).error


def test_counterfactual_edits_what_the_hypothesis_names(subject, stored, simulator):
    db, row = stored
    word = _peak_word(subject, db, row)
    tools = Instruments(subject, db, row)
    tools.test_simulator = simulator
    tools.hypotheses = [{"text": f"the word '{word}'"}, {"text": "the mood of the text"}]
    call = tools.call("counterfactual", {"hypothesis": 1})
    assert call.error is None
    result = call.observation.result
    assert result["rule"] == {"kind": "identity", "text": f"the word '{word}'", "words": [word]}
    assert result["rule_source"] == "parsed from the hypothesis's words" and result["peaks_where_rule_holds"] >= 1
    assert result["edits"] >= 2 and {"member", "non-member"} <= {m["what"] for m in result["results"]}
    top = {e.window_idx: e for e in store.get_exemplars(db, row["id"], kind="top", split="train")}
    for m in result["results"]:
        e = top[m["window"]]
        ids = list(map(int, e.tokens[: m["position"] + 1]))
        assert m["before"] == pytest.approx(e.activations[m["position"]], abs=1e-3)  # the stored peak
        start, end = m["span"]
        edited = ids[:start] + subject.tokenizer(m["replacement"], add_special_tokens=False)["input_ids"] + \
            ids[end + 1:]
        assert m["after"] == pytest.approx(float(activations_on_ids(subject, FEATURE, [edited])[0][-1]), abs=1e-4)
        fires = m["after"] >= tools.threshold
        assert m["agrees"] == (fires if m["expect"] == "fire" else not fires)
    assert result["agreeing"] == sum(m["agrees"] for m in result["results"])
    # free text the grammar cannot read is matched to the search proposal the simulator reads most like it
    vague = tools.call("counterfactual", {"hypothesis": 2})
    assert (vague.error or "") .startswith("hypothesis 2 names nothing") or \
        vague.observation.result["rule_source"].startswith("the search proposal the simulator reads most like it")


# ------------------------------------------------ an investigation on these alone


def test_verdicts_rest_on_the_instruments_tests_when_the_llm_runs_none(subject, stored, simulator):
    db, row = stored
    word = _peak_word(subject, db, row)

    def script(messages, **kwargs):
        if "hypotheses" in json.dumps(kwargs.get("json_schema") or {})[:200]:
            return json.dumps({"hypotheses": [{"text": f"the word '{word}' anywhere", "prediction": "quiet elsewhere"},
                                              {"text": "closing brackets ')' too", "prediction": "quiet on words"}]})
        return json.dumps({"tool": "finish", "arguments": {}})  # the LLM runs no test of its own

    llm = ScriptedLLM(script, name="scripted", slot_fn=position_slots, tokenizer=subject.tokenizer)
    searched = grammar.identity(["the", "of"])
    config = replace(AgentConfig(max_rounds=1), guided=False)
    result = investigate(db, subject, row, llm, config, run_id=store.start_run(db, "investigate", {}),
                         simulator=make_simulator(llm), simulator_name="scripted", test_simulator=simulator,
                         seed_candidates=(searched.text,), seed_rules={searched.text: searched.to_dict()})
    assert result.status == "done" and len(llm.calls) == 2  # hypothesize, then finish
    assert [h["text"] for h in result.hypotheses] == [f"the word '{word}' anywhere", "closing brackets ')' too",
                                                      searched.text]
    assert not [e for e in result.experiments if e["tool"] == "test_hypothesis"]
    for h in result.hypotheses:
        mine = {e["tool"]: e for e in result.experiments if e["hypothesis_id"] == h["id"]}
        assert set(mine) == {"test_on_corpus", "counterfactual"}  # every hypothesis, without the LLM
        corpus = mine["test_on_corpus"]["result"]
        edits = mine["counterfactual"]["result"]
        again = verdict([], [], [corpus], [edits] if edits else [])
        assert h["verdict"] == again["verdict"] and h["precision"] == again["precision"]
        assert h["details"]["counts"] == again["details"]["counts"] and h["details"]["reading"]
    seed = result.hypotheses[2]
    assert seed["details"]["source"] == "search" and seed["details"]["rule"]["words"] == ["the", "of"]
    assert "the rule the description search found" in next(
        e["summary"] for e in result.experiments if e["hypothesis_id"] == seed["id"] and e["tool"] == "counterfactual")
    assert store.get_agent_run(db, result.agent_run_id)["status"] == "done"


def test_the_model_is_shown_the_verdict_rule_and_each_reading(subject, stored, simulator):
    db, row = stored
    from mechanic.agent.investigation.verdict_rule import rule_text

    def script(messages, **kwargs):
        if "hypotheses" in json.dumps(kwargs.get("json_schema") or {})[:200]:
            return json.dumps({"hypotheses": [{"text": "digits in numbers", "prediction": "quiet on words"}]})
        return json.dumps({"tool": "finish", "arguments": {}})

    llm = ScriptedLLM(script, name="scripted", slot_fn=position_slots, tokenizer=subject.tokenizer)
    config = replace(AgentConfig(max_rounds=2), guided=False)
    result = investigate(db, subject, row, llm, config, run_id=store.start_run(db, "investigate", {}),
                         test_simulator=simulator)
    step_prompt = next(c["messages"][0]["content"] for c in llm.calls if "Reply in JSON: {\"tool\"" in
                       c["messages"][0]["content"])
    assert f"How hypotheses are judged: {rule_text()}" in step_prompt
    first = result.hypotheses[0]
    revise = [c for c in llm.calls if "hypotheses" in json.dumps(c["kwargs"]["json_schema"] or {})][1]
    shown = revise["messages"][0]["content"]
    assert f"- digits in numbers: {first['verdict']}" in shown and first["details"]["reading"] in shown
    assert rule_text() in shown
