"""Benchmark of the ``search`` explainer (description search, no LLM) on the embedded model.

1. Ground truth: ``mechanic bench`` on the ``rules`` and ``planted`` suites with
   methods ``tokens`` and ``search``, judged by the embedding judge (the 3-way choice
   between the true description and its two decoys; chance 1/3), and held-out
   simulation beside the true description's own (the goal: search at least 0.9x the
   truth's).
2. Real neurons: ``mechanic label`` on N neurons of a middle layer (default 50 of
   layer 15) with ``tokens`` and ``search``, every score beside the random and shuffled
   floors with 95% bootstrap CIs.
3. Cost: seconds per feature of the search itself (explaining only; capture and
   scoring are the same for every method), and features per hour, from the time
   stored with each explanation.

    .venv/bin/python bench/search.py [--features mlp:15:0-49] [--tokens 20000] [--suites rules,planted,poly]
                                     [--tiered]

Prints the tables and writes bench/results/search.json.
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

import numpy as np
import torch
from mechanic import store
from mechanic.agent.bench import BenchConfig, bench_summary, format_bench, run_bench
from mechanic.agent.pipeline import LabelConfig, format_table, label, label_table
from mechanic.tools import load_subject

HERE = Path(__file__).resolve().parent
METHODS = ("tokens", "search")


def explain_seconds(db, config_hash: str, method: str) -> list[float]:
    return [e["seconds"] for e in store.get_explanations(db, config_hash=config_hash, method=method)
            if e["status"] == "ok" and e["role"] == "explanation"]


def suite(db, subject, name: str, tokens: int, say, methods=METHODS) -> dict:
    config = BenchConfig(suite=name, methods=methods, judges=("embedding",), n_tokens=tokens)
    t0 = time.perf_counter()
    run = run_bench(db, subject, config, progress=say)
    summary = bench_summary(run.values, run_id=run.run_id)
    methods = summary[name]["methods"]
    sim = {m: methods.get(m, {}).get("sim", {}).get("mean") for m in (*config.methods, "truth")}
    return {"run_id": run.run_id, "features": len(run.items), "skipped": run.skipped,
            "wall_seconds": time.perf_counter() - t0, "summary": summary,
            "sim_ratio_to_truth": {m: (sim[m] / sim["truth"] if sim[m] is not None and sim["truth"] else None)
                                   for m in config.methods},
            "explain_seconds": {m: explain_seconds(db, config.hash(), m) for m in config.methods},
            "table": format_bench(summary)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--features", default="mlp:15:0-49")
    ap.add_argument("--tokens", type=int, default=20_000)
    ap.add_argument("--suites", default="rules,planted")
    ap.add_argument("--db", default=str(HERE / "results" / "search-bench.db"))
    ap.add_argument("--output", default=str(HERE / "results" / "search.json"))
    ap.add_argument("--tiered", action="store_true",
                    help="also run tiered on the suites (best-of-k or the agent where the search scores low)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    subject = load_subject()
    db = store.open_db(args.db)
    say = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    methods = (*METHODS, "tiered") if args.tiered else METHODS
    suites = {name: suite(db, subject, name, args.tokens, say, methods) for name in args.suites.split(",") if name}

    feats = subject.features(args.features)
    config = LabelConfig(methods=METHODS, n_tokens=args.tokens, scorers=("simulation", "detection", "topic"))
    t0 = time.perf_counter()
    summary = label(db, subject, feats, config, progress=say)
    wall = time.perf_counter() - t0
    table = label_table(db, [str(f) for f in feats], subject.name, summary.config_hash)
    seconds = explain_seconds(db, summary.config_hash, "search")
    cost = {"search_seconds_per_feature": float(np.mean(seconds)) if seconds else None,
            "search_seconds_p90": float(np.percentile(seconds, 90)) if seconds else None,
            "search_features_per_hour": 3600 / float(np.mean(seconds)) if seconds else None}

    print(f"search benchmark: {subject.name}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, {args.tokens:,} corpus tokens\n")
    for name, s in suites.items():
        print(s["table"])
        ratio = s["sim_ratio_to_truth"]
        print("  held-out simulation as a share of the true description's: "
              + ", ".join(f"{m} {r:.2f}" for m, r in ratio.items() if r is not None))
        print(f"  search explain time: {np.mean(s['explain_seconds']['search']):.2f} s/feature\n")
    print(f"real neurons: {len(feats)} features ({args.features}), wall {wall:.0f}s\n")
    print(format_table(table))
    print(f"\nsearch: {cost['search_seconds_per_feature']:.2f} s/feature (p90 {cost['search_seconds_p90']:.2f} s), "
          f"{cost['search_features_per_hour']:,.0f} features/hour, no LLM call")
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "model": subject.name, "tokens": args.tokens, "suites": {k: {kk: vv for kk, vv in v.items() if kk != "table"}
                                                                for k, v in suites.items()},
        "real": {"features": args.features, "wall_seconds": wall, "table": table.to_dict(), "cost": cost},
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2, default=str))
    print(f"\nsaved {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
