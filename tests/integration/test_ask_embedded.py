"""`mechanic ask` end to end on the embedded model: a behaviour question with its
prompt in quotes, routed by pattern, answered without the LLM, every claim citing
stored experiments, the cost printed; a question of no kind refused."""

import json

from click.testing import CliRunner
from mechanic import store
from mechanic.agent.cli import cli


def test_ask_a_behaviour_question_on_the_embedded_model(tmp_path):
    db = str(tmp_path / "m.db")
    question = "which components make 'The capital of France is' predict ' Paris'?"
    out = CliRunner().invoke(cli, ["--db", db, "-q", "ask", question])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("route: behaviour (pattern: a quoted prompt")
    assert "cost: 0 LLM calls, 1 tool calls" in out.output and "refuted by:" in out.output
    (run,) = store.get_agent_runs(store.open_db(db))
    answer = run["answer"]
    assert answer["status"] == "done" and answer["confidence"] in ("low", "medium", "high")
    (sweep,) = store.get_experiments(store.open_db(db), run["id"])
    assert sweep["tool"] == "ablation_sweep" and len(sweep["result"]["rows"]) == 60
    assert all(c["experiments"] == [sweep["id"]] for c in answer["claims"])
    assert "' Paris'" in answer["claims"][0]["text"]

    refused = CliRunner().invoke(cli, ["--db", db, "-q", "ask", "write a poem about the sea", "--json"])
    assert refused.exit_code == 0 and json.loads(refused.output)["status"] == "refused"
