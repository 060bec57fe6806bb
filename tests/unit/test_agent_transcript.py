"""The investigation as a capable explainer reads it: what each prompt shows (the
last result of a round, whole tokens, the firing threshold, left context of the
peak), hypotheses stored as written, target tokens, free tool choice and the
instruments a researcher expects. Tiny model, real store, scripted LLM answers."""

import json
from dataclasses import replace

import pytest
from mechanic import store
from mechanic.agent.investigation import AgentConfig, investigate
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.llm.scripted import position_slots
from mechanic.agent.pipeline import cache_features
from mechanic.evals.simulators import make_simulator
from mechanic.tools import activations
from support import CAPTURE, stored_feature

FEATURE = "mlp:1:3"


@pytest.fixture()
def stored(subject, tmp_path):
    return stored_feature(subject, tmp_path / "m.db", FEATURE)


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
    """An investigation played by ``script``. These tests are about the LLM's moves and what
    it reads: the instruments' own tests of every hypothesis (test_corpus_tests.py) are off,
    so each verdict rests on the scripted experiments alone."""
    llm = ScriptedLLM(script, name="scripted", slot_fn=position_slots, tokenizer=subject.tokenizer)
    config = replace(config, instrument_tests=())
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


def test_results_are_cut_between_lines_and_name_the_peak_token(subject, stored):
    db, row, run_id = stored
    candidates = ["abc", "hello world", "zzz", "The cat sat.", "x = 1", "qqqq", "Mm", "((", "!!"]
    runs = activations(subject, candidates, [FEATURE])
    acts = min(runs, key=lambda r: max(r.activations[FEATURE]))  # the quietest text
    assert max(acts.activations[FEATURE]) < 0.25 * row["max"]
    long = [f"Text number {i}: the quick brown fox jumps over the lazy dog while {i} cats watch it."
            for i in range(6)]
    script = Script([[{"text": "letters", "prediction": "quiet on digits"}]],
                    [{"tool": "activations", "arguments": {"texts": long}},
                     {"tool": "activations", "arguments": {"texts": [acts.text]}}])
    result, llm = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=1, guided=False))
    first, second = [e for e in result.experiments if e["tool"] == "activations"]
    later = _prompts(llm, "tool")[2]  # the prompt after both results
    for line in first["summary"].splitlines() + second["summary"].splitlines():
        assert line in later  # whole lines: no result is cut inside a word
    values = [0.0, *acts.activations[FEATURE][1:]]  # the first token is context only, read as 0
    peak = max(range(len(acts.tokens)), key=lambda i: values[i])
    assert f"peak {acts.tokens[peak]!r} {values[peak]:.3g}" in second["summary"]
    assert "quiet, peak" in second["summary"]  # a quiet text still shows where it peaked


def test_exemplars_show_left_context_of_their_peak(subject, tmp_path):
    from mechanic.agent.investigation import Instruments

    docs = tmp_path / "docs"  # short documents: their windows follow one another
    docs.mkdir()
    for i in range(6):
        (docs / f"{i}.txt").write_text(" ".join(f"word{i}{j} = {j * 7 % 10};" for j in range(14)) + "\n")
    db = store.open_db(tmp_path / "m.db")
    cache_features(db, subject, subject.features(FEATURE), source=str(docs), n_tokens=1024, length=16,
                   config=CAPTURE, progress=False)
    row = store.get_feature(db, subject.name, FEATURE)
    tools = Instruments(subject, db, row)
    leads = 0
    for kind in ("top", "decile", "random"):
        obs = tools.call("exemplars", {"kind": kind, "n": 6}).observation
        by_window = {e.window_idx: e for e in store.get_exemplars(db, row["id"], kind=kind, split="train")}
        shown = [by_window[i["window"]] for i in obs.result["items"]]
        everything = store.get_windows(db, row["corpus_id"], range(1000)).values()
        ends = {(w.doc, w.start + len(w.tokens)): w for w in everything}
        for item, e in zip(obs.result["items"], shown):
            tokens = subject.token_strings(e.tokens)
            peak = int(max(range(len(tokens)), key=lambda i: e.activations[i]))
            before = "".join(tokens[max(0, peak - 8):peak]).replace("\n", "⏎")
            plain = item["excerpt"].replace("⟦", "").replace("⟧", "")
            assert before in plain  # up to 8 tokens of the window before the peak
            prev = ends.get((e.doc, e.start))
            if peak < 8 and prev is not None and prev.split != "test":
                lead = "".join(subject.token_strings(prev.tokens[-(8 - peak):])).replace("\n", "⏎")
                assert plain.startswith("…") and lead + before in plain  # and the text before the window
                leads += 1
        assert obs.summary.count(" at '") == len(shown)  # every excerpt names its peak token
    assert leads  # the case was met


def test_the_firing_threshold_is_stated_in_prompts_and_results(subject, stored):
    db, row, run_id = stored
    threshold = f"{0.25 * row['max']:.3g}"
    script = Script([[{"text": "letters", "prediction": "quiet on digits"}]],
                    [{"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": ["abc", "hello"],
                                                               "near_miss": ["123", "456"]}}])
    result, llm = _run(db, subject, row, run_id, script)
    rule = f"activation reaches {threshold}, a quarter of its largest activation on the corpus sample"
    assert all(rule in p for p in _prompts(llm, "hypotheses") + _prompts(llm, "tool"))
    tested = next(e for e in result.experiments if e["tool"] == "test_hypothesis")
    assert f"fires = activation >= {threshold}, a quarter of its largest" in tested["summary"].splitlines()[0]
    stats = next(e for e in result.experiments if e["tool"] == "feature_stats")
    assert f"counts as firing at >= {threshold}" in stats["summary"]


def test_the_last_experiment_of_a_round_is_shown_and_judged(subject, stored):
    db, row, run_id = stored
    script = Script([[{"text": "letters", "prediction": "quiet on digits"}],
                     [{"text": "digits", "prediction": "quiet on letters"}]],
                    [{"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": ["abc", "hello"],
                                                               "near_miss": ["123", "456"]}}])
    result, llm = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=2, steps_per_round=1))
    last = next(e for e in result.experiments if e["tool"] == "test_hypothesis")
    revise = _prompts(llm, "hypotheses")[1]
    assert all(line in revise for line in last["summary"].splitlines())  # the round's last result is shown
    assert result.hypotheses[0]["verdict"] is not None


def test_experiments_run_before_the_budget_ran_out_are_judged(subject, stored):
    db, row, run_id = stored
    script = Script([[{"text": "letters", "prediction": "quiet on digits"}]],
                    [{"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": ["abc", "hello"],
                                                               "near_miss": ["123", "456"]}}])
    # three evidence calls and one experiment use up the tool budget
    result, _ = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=2, max_tool_calls=4))
    assert result.status == "budget_exhausted"
    assert [e["tool"] for e in result.experiments][-1] == "test_hypothesis"
    judged = result.hypotheses[0]
    assert judged["verdict"] in ("supported", "refuted", "inconclusive") and judged["recall"] is not None


def _stray_firing_text(subject, row):
    """A text that fires somewhere, and a target in it whose tokens stay quiet."""
    from mechanic.agent.investigation.instruments.base import target_tokens

    threshold = 0.25 * row["max"]
    candidates = ["hello world again", "The cat sat on a mat.", "x = 1 + yz", "def f(a): return a",
                  "Quick brown fox", "one two three four"]
    for run in activations(subject, candidates, [FEATURE]):
        acts = run.activations[FEATURE]
        if max(acts) < threshold:
            continue
        for tok in run.tokens:
            target = tok.strip()
            span = target_tokens(run.tokens, target) if target else []
            if span and all(acts[i] < threshold for i in span):
                return run.text, target
    raise AssertionError("no text with a quiet target among the candidates")


def test_a_named_target_is_scored_instead_of_the_whole_text(subject, stored):
    db, row, run_id = stored
    text, target = _stray_firing_text(subject, row)
    on = [t for t in ("abc", "hello", "zzz", "x = 1") if t != text][:2]
    step = {"hypothesis": 1, "activating": on, "near_miss": [text, "qqqq"]}
    script = Script([[{"text": f"the token {target}", "prediction": "quiet elsewhere"}]],
                    [{"tool": "test_hypothesis", "arguments": {**step, "target": target}},
                     {"tool": "test_hypothesis", "arguments": step}])
    result, llm = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=1, guided=False))
    with_target, without = [e for e in result.experiments if e["tool"] == "test_hypothesis"]
    near = with_target["result"]["near_miss"][0]
    assert near["text"] == text and near["max"] < with_target["result"]["threshold"] <= near["text_max"]
    assert without["result"]["near_miss"][0]["max"] == near["text_max"]  # the whole text fires: a false positive
    assert with_target["result"]["fired_near_miss"] < without["result"]["fired_near_miss"]
    assert "per token: " in with_target["summary"] and f"target {target!r}" in with_target["summary"]
    assert [t for t, _ in near["tokens"]] == activations(subject, [text], [FEATURE])[0].tokens


class NativeScript(ScriptedLLM):
    """A capable model behind an endpoint with native function calling: hypotheses as
    JSON, then the tool calls it chooses, in the endpoint's tool_calls shape."""

    def __init__(self, script, **kw):
        super().__init__(script, **kw)

    def complete_tools(self, messages, tools, *, max_tokens=256, temperature=0.0, seed=None):
        completion = self.complete(messages, max_tokens=max_tokens, temperature=temperature, seed=seed)
        call = json.loads(completion.text)
        completion.raw["tool_calls"] = [{"name": call["tool"], "arguments": json.dumps(call["arguments"])}]
        completion.raw["tools_offered"] = [t["function"]["name"] for t in tools]
        return completion


def test_a_model_with_native_tools_chooses_its_experiments_freely(subject, stored):
    db, row, run_id = stored
    script = Script([[{"text": "letters", "prediction": "quiet on digits"},
                      {"text": "digits", "prediction": "quiet on letters"}]],
                    [{"tool": "activations", "arguments": {"texts": ["a", "b c"]}},
                     {"tool": "exemplars", "arguments": {"kind": "decile", "decile": 5, "n": 3}},
                     {"tool": "minimal_pair", "arguments": {"text_a": "ab 12", "text_b": "ab 1x"}},
                     {"tool": "token_rate", "arguments": {"token": "e"}},
                     {"tool": "test_hypothesis", "arguments": {"hypothesis": 2, "activating": ["12", "34"],
                                                               "near_miss": ["ab", "cd"], "target": "2"}}])
    llm = NativeScript(script, name="capable", slot_fn=position_slots, tokenizer=subject.tokenizer)
    result = investigate(db, subject, row, llm, AgentConfig(max_rounds=1, steps_per_round=6, instrument_tests=()), run_id=run_id,
                         simulator=make_simulator(llm), simulator_name="scripted")
    tools = [e["tool"] for e in result.experiments][3:]
    # its own order, no forced first steps
    assert tools == ["activations", "exemplars", "minimal_pair", "token_rate", "test_hypothesis"]
    assert all(e["error"] is None for e in result.experiments)
    assert result.experiments[-1]["result"]["target"] == "2"
    judged = {h["text"]: h for h in result.hypotheses}
    assert judged["digits"]["recall"] is not None and judged["letters"]["verdict"] == "inconclusive"
    steps = [c for c in llm.calls if "Now test hypothesis" in c["messages"][0]["content"]]
    assert not steps and not any("could not be used" in c["messages"][-1]["content"] for c in llm.calls)


def test_small_models_are_still_guided_and_guided_off_frees_them(subject, stored):
    db, row, run_id = stored
    moves = [{"tool": "activations", "arguments": {"texts": ["a", "b c"]}},
             {"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": ["ab", "cd"],
                                                       "near_miss": ["12", "34"]}}]
    hyps = [[{"text": "letters", "prediction": "quiet on digits"}]]
    guided, llm = _run(db, subject, row, run_id, Script(hyps, moves))  # JSON steps: guided by default
    assert "Now test hypothesis 1" in _prompts(llm, "tool")[0]
    assert [e["tool"] for e in guided.experiments][3] == "test_hypothesis"
    free, llm = _run(db, subject, row, store.start_run(db, "investigate", {}), Script(hyps, moves),
                     AgentConfig(max_rounds=1, guided=False))
    assert [e["tool"] for e in free.experiments][3:] == ["activations", "test_hypothesis"]


def test_a_researchers_instruments(subject, stored):
    from mechanic.agent.investigation import Instruments

    db, row, run_id = stored
    tools = Instruments(subject, db, row)
    # mid-range exemplars: one decile, or a spread over all of them
    mid = tools.call("exemplars", {"kind": "decile", "decile": 5, "n": 3}).observation
    stored_mid = [e for e in store.get_exemplars(db, row["id"], kind="decile", split="train") if e.decile == 5]
    assert [i["window"] for i in mid.result["items"]] == [e.window_idx for e in stored_mid[:3]]
    spread = tools.call("exemplars", {"kind": "decile", "n": 4}).observation.summary
    assert len({line.split("(decile ")[1][0] for line in spread.splitlines()[1:]}) == 4
    assert tools.call("exemplars", {"kind": "decile", "decile": 12}).error.startswith("decile must be 0-9")

    # a token's firing rate over the stored windows, checked against a forward pass of our own
    rate = tools.call("token_rate", {"token": "e"}).observation.result
    windows = store.get_windows(db, row["corpus_id"], [*store.window_indices(db, row["corpus_id"], "train"),
                                                       *store.window_indices(db, row["corpus_id"], "select")])
    eid = subject.tokenizer("e", add_special_tokens=False)["input_ids"][0]
    with_e = [w for w in windows.values() if eid in list(map(int, w.tokens))][:64]
    from mechanic.tools import activations_on_ids
    values = [float(a[i]) for w, a in zip(with_e, activations_on_ids(subject, FEATURE, [list(map(int, w.tokens))
                                                                                       for w in with_e]))
              for i, t in enumerate(w.tokens) if int(t) == eid and i >= 1]  # the first position is left out
    assert rate["occurrences"] == len(values) and rate["fired"] == sum(v >= 0.25 * row["max"] for v in values)

    # a minimal pair: the changed token and the per-token differences
    pair = tools.call("minimal_pair", {"text_a": "the cat sat", "text_b": "the dog sat"}).observation
    a, b = activations(subject, ["the cat sat", "the dog sat"], [FEATURE])
    changed = [r for r in pair.result["tokens"] if not r["same"]]
    assert [(r["a"], r["b"]) for r in changed] == [("cat", "dog")]
    assert changed[0]["act_b"] == pytest.approx(max(b.activations[FEATURE][4:7]), abs=1e-6)
    assert "changed 'cat' -> 'dog'" in pair.summary

    # steering and ablation report named tokens' probability changes
    steer = tools.call("steer", {"texts": ["the cat"], "scale": 5.0, "watch": [" sat", "x"]}).observation
    watched = {w["token"]: w for w in steer.result["watched"]}
    assert set(watched) == {" sat", "x"} and "watched: p(' sat')" in steer.summary
    assert all(w["change"] == pytest.approx(w["p_intervened"] - w["p_clean"], abs=1e-5) for w in watched.values())
    assert any(abs(w["change"]) > 0 for w in watched.values())
    ablate = tools.call("ablate", {"texts": ["the cat"], "watch": [" sat"]}).observation
    assert ablate.result["watched"][0]["token"] == " sat"


def test_the_first_position_is_left_out_of_captures_and_tests_unless_kept(subject, tmp_path):
    from types import SimpleNamespace

    from mechanic.agent.investigation import Instruments
    from mechanic.agent.investigation.instruments.reading import position_flag
    from mechanic.tools import CaptureConfig

    db = store.open_db(tmp_path / "m.db")
    kept_config = CaptureConfig(**{**CAPTURE.__dict__, "first_position": 0})
    for config in (CAPTURE, kept_config):
        cache_features(db, subject, subject.features(FEATURE), source="default", n_tokens=1024, length=16,
                       config=config, progress=False)
    rows = {r["corpus_id"]: r for r in store.list_features(db, subject.name)}
    assert len(rows) == 2  # two captures, two corpus samples: never mixed
    specs = {cid: store.get_corpus(db, cid)["spec"] for cid in rows}
    left = next(rows[c] for c, s in specs.items() if s.get("first_position") == 1)
    kept = next(rows[c] for c, s in specs.items() if "first_position" not in s)  # as stored before the option
    left_top = store.get_exemplars(db, left["id"], kind="top")
    assert all(e.activations[0] == 0.0 for e in left_top)
    assert any(e.activations[0] != 0.0 for e in store.get_exemplars(db, kept["id"], kind="top"))

    # the agent's texts are measured the same way: the first token reads 0, and the result says so
    text = "hello world"
    raw = activations(subject, [text], [FEATURE])[0].activations[FEATURE]
    measured = Instruments(subject, db, left).call(
        "test_hypothesis", {"hypothesis": 1, "activating": [text, "ab"], "near_miss": ["cd", "ef"], "target": "h"})
    first = measured.observation.result["activating"][0]
    assert first["tokens"][0] == ["h", 0.0] and first["tokens"][1][1] == pytest.approx(raw[1], abs=1e-4)
    assert "context only" in measured.observation.summary
    as_kept = Instruments(subject, db, kept).call(
        "test_hypothesis", {"hypothesis": 1, "activating": [text, "ab"], "near_miss": ["cd", "ef"], "target": "h"})
    assert as_kept.observation.result["activating"][0]["tokens"][0][1] == pytest.approx(raw[0], abs=1e-4)

    # a unit whose top excerpts all peak at one position is flagged
    at = lambda p: SimpleNamespace(activations=[1.0 if i == p else 0.0 for i in range(8)])
    assert position_flag([at(0)] * 5 + [at(3)]) == {"position": 0, "count": 5, "of": 6}
    assert position_flag([at(i) for i in range(6)]) is None


def test_the_cost_ledger_sets_the_agent_beside_one_shot(monkeypatch, subject, tmp_path):
    import mechanic.agent.llm as llm_module
    from click.testing import CliRunner
    from mechanic.agent.cli import cli
    from support import investigation_reply

    monkeypatch.setattr(llm_module, "make_llm", lambda spec, subj: ScriptedLLM(
        investigation_reply, name=f"scripted:{spec}", slot_fn=position_slots, tokenizer=subject.tokenizer))
    args = ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "investigate", "mlp:1:3",
            "--tokens", "1024", "--scorers", "simulation", "--budget-llm", "10"]
    out = CliRunner().invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    ledger = report["ledger"]
    db = store.open_db(tmp_path / "m.db")
    oneshot = [e for e in store.get_explanations(db, method="oneshot") if e["role"] == "explanation"]
    assert len(oneshot) == 1 and ledger["oneshot"]["text"] == oneshot[0]["text"] == "letters"
    held_out = lambda eid: next(s["value"] for s in store.get_scores(db, eid)  # noqa: E731
                                if (s["scorer"], s["split"], s["metric"]) == ("simulation", "all", "pearson"))
    assert ledger["oneshot"]["score"] == held_out(oneshot[0]["id"])
    assert ledger["agent"]["score"] == held_out(report["explanation_id"])
    assert ledger["agent"]["llm_calls"] == report["usage"]["llm_calls"] and ledger["oneshot"]["llm_calls"] == 1
    tested = next(e for e in report["experiments"] if e["tool"] == "test_hypothesis")
    assert ledger["agent"]["probes"] == len(tested["arguments"]["activating"]) + len(tested["arguments"]["near_miss"])
    extra = ledger["agent"]["llm_calls"] - 1
    assert ledger["gain_per_call"] == pytest.approx((ledger["agent"]["score"] - ledger["oneshot"]["score"]) / extra)
    text = CliRunner().invoke(cli, args).output
    assert "cost ledger" in text and f"score gained per call: {ledger['gain_per_call']:+.4f}" in text


def test_no_hypothesis_is_supported_before_every_cluster_is_probed(subject, stored):
    from mechanic.agent.investigation.coverage import clusters

    db, row, run_id = stored
    top = store.get_exemplars(db, row["id"], kind="top", split="train")[:10]
    found = [c["token"] for c in clusters([subject.token_strings(e.tokens) for e in top], [e.activations for e in top])]
    threshold = 0.25 * row["max"]
    candidates = ["eee", "tete", "ette", "e e e", "dee", "need", "zzz", "qqq", "xx", "((", "!!", "jj", "kk", "vv"]
    maxes = {r.text: max(r.activations[FEATURE][1:]) for r in activations(subject, candidates, [FEATURE])}
    # three of each: the fewest with which the verdict rule can call a fit supported
    on = [t for t in candidates if maxes[t] >= threshold][:3]
    off = [t for t in candidates if maxes[t] < threshold][:3]
    missed = [c for c in found if not any(c in t.lower() for t in on + off)]
    assert len(on) == 3 and len(off) == 3 and missed  # texts that fit, yet leave a cluster unprobed
    script = Script([[{"text": "the texts that fire", "prediction": "quiet on the others"}]],
                    [{"tool": "test_hypothesis", "arguments": {"hypothesis": 1, "activating": on, "near_miss": off}}])
    result, llm = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=1, guided=False))
    judged = result.hypotheses[0]
    assert judged["precision"] == 1.0 and judged["recall"] == 1.0  # the measurements would support it
    assert judged["verdict"] == "inconclusive"  # but the gate holds it back
    details = store.get_hypotheses(db, result.agent_run_id)[0]["details"]
    assert details["coverage"]["unprobed"] == missed and "never probed" in details["reason"]
    assert f"not yet probed: {', '.join(repr(t) for t in missed)}" in _prompts(llm, "tool")[-1]


def test_typed_probes_report_accuracy_per_type(subject, stored):
    db, row, run_id = stored
    threshold = 0.25 * row["max"]
    texts = ["hello", "all", "ell", "zzz", "qqq", "xx", "jj", "lull"]
    fires = {r.text: max(r.activations[FEATURE][1:]) >= threshold for r in activations(subject, texts, [FEATURE])}
    step = {"hypothesis": 1, "activating": ["hello", "all"], "near_miss": ["zzz", "qqq"],
            "edge_case": ["ell", "xx"], "adversarial": ["jj", "lull"]}
    script = Script([[{"text": "the letter l", "prediction": "quiet without it"},
                      {"text": "never tested", "prediction": "-"}],
                     [{"text": "the letter l, again", "prediction": "quiet without it"}]],
                    [{"tool": "test_hypothesis", "arguments": step}])
    result, llm = _run(db, subject, row, run_id, script, AgentConfig(max_rounds=2, guided=False))
    tested = next(e for e in result.experiments if e["tool"] == "test_hypothesis")
    typed = tested["result"]["accuracy_by_type"]
    expect = {"positive": sum(fires[t] for t in step["activating"]),
              "negative": sum(not fires[t] for t in step["near_miss"]),
              "edge_case": sum(fires[t] for t in step["edge_case"]),
              "adversarial": sum(not fires[t] for t in step["adversarial"])}
    assert {k: v["right"] for k, v in typed.items()} == expect and all(v["n"] == 2 for v in typed.values())
    line = ("accuracy by probe type: " + ", ".join(f"{k.replace('_', '-')} {expect[k]}/2"
                                                   for k in ("positive", "negative", "edge_case", "adversarial")))
    assert line in tested["summary"]
    details = store.get_hypotheses(db, result.agent_run_id)[0]["details"]
    assert details["accuracy_by_type"] == typed  # carried into the verdict's record
    revise = _prompts(llm, "hypotheses")[1]
    assert f"edge-case {expect['edge_case']}/2, adversarial {expect['adversarial']}/2" in revise


def test_feature_stats_give_the_share_of_tokens_that_fire(subject, stored):
    import numpy as np
    from mechanic.agent.investigation import Instruments

    db, row, _ = stored
    obs = Instruments(subject, db, row).call("feature_stats", {}).observation
    sample = [np.asarray(e.activations)[1:] for e in store.get_exemplars(db, row["id"], kind="random")]
    fired = sum(int((a >= 0.25 * row["max"]).sum()) for a in sample)
    assert obs.result["fires_share"] == {"fired": fired, "tokens": sum(len(a) for a in sample)}
    assert f"reaches on {100 * fired / sum(len(a) for a in sample):.2f}% of" in obs.summary
