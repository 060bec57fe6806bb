"""`mechanic bench --suite prose` on a tiny model with a scripted LLM and a real SQLite
file: the suite runs on the prose corpus, its features are stored like the rules
suite's, and no prompt names the rule it explains."""

import json

from click.testing import CliRunner
from mechanic import store
from mechanic.agent.bench import BenchConfig, run_bench
from mechanic.agent.cli import cli
from mechanic.agent.investigation.instruments import shown_name
from mechanic.agent.llm import ScriptedLLM
from mechanic.agent.llm.scripted import position_slots
from mechanic.evals.suites import PROSE_RULES
from support import CAPTURE

NAMES = {rule.name for rule in PROSE_RULES}


def test_the_suite_picks_its_corpus_and_an_explicit_one_wins():
    assert BenchConfig(suite="prose").corpus == "prose"
    assert BenchConfig(suite="rules").corpus == "stdlib"
    assert BenchConfig(suite="planted").corpus == "stdlib"
    assert BenchConfig(suite="prose", corpus="mixed").corpus == "mixed"
    # the rules suite's stored runs keep their key: the resolved config is the one it always had
    assert BenchConfig(suite="rules").hash() == BenchConfig(suite="rules", corpus="stdlib").hash()


def test_cli_bench_prose_with_the_tokens_method(subject, tmp_path):
    db_path = tmp_path / "m.db"
    out = CliRunner().invoke(cli, ["--db", str(db_path), "--model", "tiny:llama", "-q", "bench", "--suite", "prose",
                                   "--limit", "2", "--methods", "tokens", "--judges", "embedding",
                                   "--scorers", "simulation,detection", "--tokens", "2048", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["suite"] == "prose"
    summary = data["summary"]["prose"]
    assert summary["methods"]["tokens"]["sim"]["n"] == 2  # --limit counts features measured
    assert summary["methods"]["tokens"]["truth_embedding"]["n"] == 2
    assert summary["validity"]  # the truth and decoys were scored
    db = store.open_db(db_path)
    assert store.get_run(db, data["run_id"])["config"]["corpus"] == "prose"
    items = store.get_bench_items(db, data["run_id"])
    assert {it["name"] for it in items} <= {f"rule:{n}" for n in NAMES}
    assert all(it["suite"] == "prose" and it["description"] and len(it["decoys"]) == 2 for it in items)
    measured = {v["name"] for v in data["values"]}
    assert len(measured) == 2 and not measured & set(data["skipped"])


def test_no_prompt_of_a_prose_run_names_the_rule(subject, tmp_path):
    seen: list[str] = []

    def reply(messages, **kwargs):
        seen.extend(m["content"] for m in messages)
        return "words about something"

    def make(spec, subj):
        return ScriptedLLM(reply, name=f"scripted:{spec}", slot_fn=position_slots, tokenizer=subject.tokenizer)

    db = store.open_db(tmp_path / "m.db")
    config = BenchConfig(suite="prose", limit=3, methods=("oneshot", "bestofk"), k=2, n_tokens=2048, window=32,
                         score_length=16, style="chat", scorers=("simulation",), judges=("llm",))
    run = run_bench(db, subject, config, make_llm=make, capture_config=CAPTURE)
    assert len(run.items) == 3 and seen
    for it in run.items:
        assert it.row["kind"] == "rule" and shown_name(it.row) == f"unit#{it.row['id']}"
    # a one-word name (animals, years) is also plain English, found in the windows shown
    leaked = [n for n in {n for n in NAMES if "_" in n} | {"rule:"} if any(n in text for text in seen)]
    assert not leaked, f"prompts name the rules: {leaked}"
