"""Benchmark of `mechanic label` on the embedded model.

1. Quality: on N neurons of a middle layer (default 50 of layer 15), the embedded
   SmolLM2-135M as explainer and simulator; per method the mean held-out simulation
   score and detection balanced accuracy (and the other scorers) with 95% bootstrap
   CIs, beside the random and shuffled floors.
2. Throughput: features labeled and scored per hour per method on this machine, from
   the time each explanation and each of its scores took (stored per row); and the
   batched all-at-once simulator against scoring one window per forward pass, on the
   same explanations and windows, as a ratio.

    MECHANIC_HOME=~/.cache/mechanic .venv/bin/python bench/label.py [--features mlp:15:0-49]

Prints a table and writes bench/results/label.json.
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
from mechanic.agent.evidence import load_scoring_set
from mechanic.agent.llm import LocalLLM, make_llm
from mechanic.agent.pipeline import LabelConfig, format_table, label, label_table, score_records
from mechanic.evals.simulators import AllAtOnceSimulator
from mechanic.tools import load_subject

HERE = Path(__file__).resolve().parent


def per_method_cost(db, table_rows, config_hash: str) -> dict:
    """Seconds, LLM calls and tokens per feature for each method, explaining plus
    scoring that explanation (controls are scored once per feature; reported apart)."""
    out: dict[str, dict] = {}
    for e in db.query("SELECT * FROM explanations WHERE config_hash = ?", [config_hash]):
        scores = list(db.query("SELECT seconds, llm_calls, tokens FROM scores WHERE explanation_id = ?", [e["id"]]))
        # Scores of one scorer share one usage record (e.g. simulation top/random/all): count it once.
        seen, score_seconds, score_calls, score_tokens = set(), 0.0, 0, 0
        for s in scores:
            key = (s["seconds"], s["llm_calls"], s["tokens"])
            if key in seen:
                continue
            seen.add(key)
            score_seconds += s["seconds"]
            score_calls += s["llm_calls"]
            score_tokens += s["tokens"]
        m = out.setdefault(e["method"], {"n": 0, "explain_seconds": 0.0, "score_seconds": 0.0, "llm_calls": 0,
                                         "tokens": 0, "scoring_llm_calls": 0, "scoring_tokens": 0})
        m["n"] += 1
        m["explain_seconds"] += e["seconds"]
        m["score_seconds"] += score_seconds
        m["llm_calls"] += e["llm_calls"]
        m["tokens"] += e["prompt_tokens"] + e["completion_tokens"]
        m["scoring_llm_calls"] += score_calls
        m["scoring_tokens"] += score_tokens
    for m in out.values():
        n = max(m["n"], 1)
        per_feature = (m["explain_seconds"] + m["score_seconds"]) / n
        m.update({k: v / n for k, v in list(m.items()) if k != "n"})
        m["seconds_per_feature"] = per_feature
        m["features_per_hour"] = 3600 / per_feature if per_feature else None
    return out


def batching_ratio(db, subject, llm: LocalLLM, feature_rows, texts, config: LabelConfig) -> dict:
    """The same simulation work with bodies batched (the default) and one per pass."""
    records = []
    for row in feature_rows:
        records += score_records(load_scoring_set(db, subject, row, "test", n_top=config.n_top,
                                                   n_random=config.n_random), config)
    batched, single = AllAtOnceSimulator(llm, batch_size=16), AllAtOnceSimulator(llm, batch_size=1)
    timings = {}
    for name, sim in (("warmup", batched), ("batched", batched), ("one_per_pass", single),
                      ("batched_again", batched)):
        llm.slot_batch_size = 16 if sim is batched else 1
        t = time.perf_counter()
        sim.simulate_many(texts, records)
        timings[name] = time.perf_counter() - t
    llm.slot_batch_size = 16
    batched_s = min(timings["batched"], timings["batched_again"])
    pairs = len(texts) * len(records)
    return {"explanations": len(texts), "windows": len(records), "pairs": pairs,
            "batched_seconds": batched_s, "one_per_pass_seconds": timings["one_per_pass"],
            "speedup": timings["one_per_pass"] / batched_s, "pairs_per_second_batched": pairs / batched_s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--features", default="mlp:15:0-49")
    ap.add_argument("--methods", default="tokens,oneshot,bestofk")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=50_000)
    ap.add_argument("--db", default=str(HERE / "results" / "label-bench.db"))
    ap.add_argument("--output", default=str(HERE / "results" / "label.json"))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    subject = load_subject()
    feats = subject.features(args.features)
    config = LabelConfig(methods=tuple(args.methods.split(",")), k=args.k, n_tokens=args.tokens,
                         scorers=("simulation", "detection", "topic", "intervention"))
    db = store.open_db(args.db)
    llm = LocalLLM(subject)
    say = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    summary = label(db, subject, feats, config, make_llm=lambda spec, s: llm if spec == "local" else make_llm(spec, s),
                    progress=say)
    wall = time.perf_counter() - t0
    names = [str(f) for f in feats]
    table = label_table(db, names, subject.name, summary.config_hash)
    cost = per_method_cost(db, table.rows, summary.config_hash)

    rows = [store.get_feature(db, subject.name, n) for n in names[:5]]
    texts = [r["text"] for r in table.rows if r["feature"] == names[0] and r["text"]][:5]
    batching = batching_ratio(db, subject, llm, rows, texts, config)

    print(f"label benchmark: {subject.name}, {len(feats)} features ({args.features}), methods {args.methods}, "
          f"k={args.k}, {args.tokens:,} corpus tokens")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"wall {wall:.0f}s ({summary.explained} explanations made, {summary.skipped} reused)\n")
    print(format_table(table))
    print("\nthroughput (explain + score that explanation), per method")
    for method, m in cost.items():
        fph = m["features_per_hour"]
        print(f"  {method:<9} {m['seconds_per_feature']:7.1f} s/feature  {fph:8.0f} features/hour  "
              f"{m['llm_calls']:.1f} explainer calls, {m['tokens']:.0f} explainer tokens, "
              f"{m['scoring_tokens']:.0f} scoring tokens per feature")
    print(f"\nall-at-once simulator, {batching['explanations']} explanations x {batching['windows']} windows: "
          f"batched {batching['batched_seconds']:.1f}s vs one window per pass {batching['one_per_pass_seconds']:.1f}s "
          f"-> {batching['speedup']:.2f}x ({batching['pairs_per_second_batched']:.1f} pairs/s batched)")
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "model": subject.name, "features": args.features, "methods": args.methods, "k": args.k,
        "tokens": args.tokens, "wall_seconds": wall, "table": table.to_dict(), "cost": cost,
        "batching": batching,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2, default=str))
    print(f"\nsaved {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
