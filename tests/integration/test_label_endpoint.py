"""`mechanic label` through the OpenAI-compatible backend against a real loopback
server (`transformers serve` on the embedded model): explainer and simulator both go
over HTTP; the JSON simulator handles an endpoint without logprobs."""

import json
import os
import subprocess
import sys

from mechanic import store

SECRET = "sk-integration-test-not-a-real-key"


def test_label_through_openai_compatible_server(served_model, tmp_path):
    base_url, model = served_model
    db_path = tmp_path / "m.db"
    # the loopback server needs no key; one is set anyway, to check that it is never stored
    env = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": SECRET}
    proc = subprocess.run(
        [sys.executable, "-m", "mechanic.agent.cli", "--db", str(db_path), "-q", "label", "mlp:15:3",
         "--methods", "tokens,oneshot", "--explainer", f"openai:{model}", "--simulator", f"openai:{model}",
         "--scorers", "simulation,topic", "--n-top", "2", "--n-random", "1", "--tokens", "4096",
         "--score-length", "16", "--json"],
        capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["explained"] == 2
    db = store.open_db(db_path)
    [oneshot] = [e for e in db["explanations"].rows if e["method"] == "oneshot"]
    assert oneshot["explainer_model"] == f"openai:{model}"
    assert oneshot["llm_calls"] >= 1 and oneshot["prompt_tokens"] > 0  # usage recorded per call
    # SmolLM2 answers the explainer prompt in plain prose, which parses
    assert (oneshot["status"], oneshot["error"]) == ("ok", None) and oneshot["text"], oneshot["raw"]
    sims = [s for s in db["scores"].rows if s["scorer"] == "simulation"]
    assert sims, "the simulation scorer ran"
    # each simulation score is a number or an explicit failure/undefined, never NaN
    for s in sims:
        assert s["value"] is None or -1.0 <= s["value"] <= 1.0
    runs = list(db["runs"].rows)
    assert runs and all("OPENAI_API_KEY" not in r["config"] and "sk-" not in r["config"] for r in runs)
    assert not any(SECRET.encode() in f.read_bytes() for f in tmp_path.glob("m.db*"))  # nowhere in the store
