"""The agent and tiered labeling against the search, the top-tokens list and the floors,
at a matched explainer budget.

On N neurons of a middle layer (default: 30 MLP neurons of layer n_layers // 2 of the
embedded model), runs ``label`` with ``--methods`` (default tokens, search, tiered,
agent; oneshot and bestofk can be added), where the agent's LLM-call budget equals
best-of-k's k (``--budget``) and ``tiered`` calls the agent only where the search's
select score is below ``--threshold``, then reports per method
the held-out (test split) simulation score and detection AUROC, each a
mean with a 95% bootstrap CI over features, beside the random and shuffled floors,
and the explainer's cost per feature (LLM calls, tokens, seconds) as measured.

    MECHANIC_HOME=~/.cache/mechanic .venv/bin/python bench/agent.py [--n 30] [--budget 8]

Prints the table and writes bench/results/agent.json; the store it writes
(bench/results/agent.db) keeps every investigation for the viewer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from mechanic import store
from mechanic.agent.pipeline import LabelConfig, label, label_table
from mechanic.evals.offline import DEFAULT_SIMULATOR
from mechanic.tools import load_subject

HERE = Path(__file__).resolve().parent
COLUMNS = ("sim", "detect")


def _cost(db, config_hash: str, method: str) -> dict:
    rows = list(db.query(
        "SELECT llm_calls, prompt_tokens + completion_tokens AS tokens, seconds FROM explanations "
        "WHERE config_hash = ? AND method = ? AND role = 'explanation'", [config_hash, method]))
    n = max(len(rows), 1)
    return {"n": len(rows), **{k: round(sum(r[k] or 0 for r in rows) / n, 2) for k in ("llm_calls", "tokens",
                                                                                       "seconds")}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--explainer", default="local")
    parser.add_argument("--simulator", default=DEFAULT_SIMULATOR)
    parser.add_argument("--layer", type=int, default=None, help="default: the middle layer")
    parser.add_argument("--n", type=int, default=30, help="neurons (the first N of the layer)")
    parser.add_argument("--budget", type=int, default=8,
                        help="explainer LLM calls per feature: best-of-k's k and the agent's LLM budget")
    parser.add_argument("--methods", default="tokens,search,tiered,agent",
                        help="comma separated: tokens, search, oneshot, bestofk, tiered, agent")
    parser.add_argument("--threshold", type=float, default=0.3,
                        help="tiered: the search's select score below which the agent explains")
    parser.add_argument("--tokens", type=int, default=20_000, help="corpus tokens (the default corpus: prose and code)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", default=str(HERE / "results" / "agent.db"))
    parser.add_argument("--out", default=str(HERE / "results" / "agent.json"))
    args = parser.parse_args(argv)

    subject = load_subject(args.model)
    layer = subject.n_layers // 2 if args.layer is None else args.layer
    features = subject.features(f"mlp:{layer}:0-{args.n - 1}")
    db = store.open_db(args.db)
    chosen = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    config = LabelConfig(methods=chosen, explainer=args.explainer, threshold=args.threshold,
                         simulator=args.simulator, scorers=("simulation", "detection"), k=args.budget,
                         agent_llm_calls=args.budget, agent_tool_calls=2 * args.budget, seed=args.seed,
                         n_tokens=args.tokens)
    start = time.perf_counter()
    summary = label(db, subject, features, config, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    seconds = time.perf_counter() - start
    names = [str(f) for f in features]
    table = label_table(db, names, subject.name, summary.config_hash, seed=args.seed)
    methods = {}
    lines = [f"{len(names)} neurons of layer {layer}, explainer {args.explainer}, simulator {args.simulator}, "
             f"budget {args.budget} LLM calls", f"{'method':<10} " + " ".join(f"{c:>24}" for c in COLUMNS)
             + f" {'calls/feat':>10} {'tokens/feat':>11} {'s/feat':>7}"]
    for method, info in table.methods.items():
        cost = _cost(db, summary.config_hash, method)
        methods[method] = {"scores": {c: info["scores"].get(c) for c in COLUMNS}, "cost": cost,
                           "failures": info["failures"]}
        cells = []
        for c in COLUMNS:
            ci = info["scores"].get(c) or {}
            cells.append("n/a" if ci.get("mean") is None else f"{ci['mean']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}]")
        lines.append(f"{method:<10} " + " ".join(f"{c:>24}" for c in cells)
                     + f" {cost['llm_calls']:>10} {cost['tokens']:>11} {cost['seconds']:>7}")
    text = "\n".join(lines)
    print(text)
    out = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                    "threads": torch.get_num_threads(), "load": os.getloadavg()},
        "model": subject.name, "layer": layer, "features": names, "config": config.__dict__,
        "run_id": summary.run_id, "seconds": round(seconds, 1), "methods": methods, "table": text,
        "agent_runs": [{k: r[k] for k in ("id", "feature", "status", "usage", "explanation_id")}
                       for r in store.get_agent_runs(db) if r["feature"] in names],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
