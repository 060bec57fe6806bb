"""The closing table of `mechanic bench`: every suite, every method, with floors.

For the chosen explainer and simulator (default: the embedded SmolLM2-135M explainer
and the default offline simulator), runs the ``rules`` and ``planted`` suites (and
``records:PATH`` when ``--records`` is given). Per suite and method it reports
held-out simulation, detection and fuzzing scores, the three-way ground-truth match
(LLM judge and embedding judge, chance 1/3), cosine to the truth, and cost per
feature, each with a 95% bootstrap CI over features, beside the random and shuffled
floors; and the validity of each scorer (chance 1/2).

    MECHANIC_HOME=~/.cache/mechanic .venv/bin/python bench/suites.py [--limit 10] [--records DIR]

Prints the tables and writes bench/results/suites.json (summaries plus every
per-feature value); plots go to bench/results/suites-plots/. The store it writes
(bench/results/suites.db by default) keeps the runs for `mechanic bench --compare`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import torch
from mechanic import store
from mechanic.agent.bench import BenchConfig, bench_summary, format_bench, run_bench, write_plots
from mechanic.agent.pipeline import AGENT_METHODS, register_stored_directions
from mechanic.evals.offline import DEFAULT_SIMULATOR
from mechanic.tools import load_subject

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--explainer", default="local")
    parser.add_argument("--simulator", default=DEFAULT_SIMULATOR)
    parser.add_argument("--judge", default="", help="LLM of the ground-truth judge [default: the explainer]")
    parser.add_argument("--methods", default="tokens,oneshot,bestofk",
                        help="agent and tiered run on the planted suite only")
    parser.add_argument("--scorers", default="simulation,detection,fuzzing,topic",
                        help="intervention is added for the planted suite")
    parser.add_argument("--suites", default="rules,planted")
    parser.add_argument("--records", default=None, help="a NeuronRecord / puzzle file or folder to add as a suite")
    parser.add_argument("--limit", type=int, default=None, help="features per suite (default: all)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--layer", type=int, default=None, help="planted: residual layer (default: middle)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", default=str(HERE / "results" / "suites.db"))
    parser.add_argument("--out", default=str(HERE / "results" / "suites.json"))
    parser.add_argument("--plots", default=str(HERE / "results" / "suites-plots"))
    args = parser.parse_args(argv)

    suites = [s for s in args.suites.split(",") if s]
    if args.records:
        suites.append(f"records:{args.records}")
    methods = tuple(m for m in args.methods.split(",") if m)
    scorers = tuple(s for s in args.scorers.split(",") if s)
    subject = load_subject(args.model)
    db = store.open_db(args.db)
    register_stored_directions(db, subject)
    results, tables = [], []
    for suite in suites:
        extra = ("intervention",) if suite == "planted" and "intervention" not in scorers else ()
        # the agent experiments on the model: it runs on planted features only
        suite_methods = tuple(m for m in methods if m not in AGENT_METHODS or suite == "planted")
        config = BenchConfig(suite=suite, methods=suite_methods, explainer=args.explainer, simulator=args.simulator,
                             judge=args.judge, scorers=scorers + extra, limit=args.limit, k=args.k, seed=args.seed,
                             n_tokens=args.tokens, layer=args.layer)
        start = time.perf_counter()
        run = run_bench(db, subject, config, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
        seconds = time.perf_counter() - start
        summary = bench_summary(run.values, run_id=run.run_id, seed=args.seed)
        plots = [str(p) for p in write_plots(run.values, args.plots, run.run_id)]
        table = format_bench(summary)
        tables.append(table)
        print(table, flush=True)
        print(f"{suite}: {len(run.items)} features measured ({len(run.skipped)} too rare on this sample) in {seconds:.0f}s, "
              f"{seconds / max(len(run.items), 1):.0f}s per feature; run {run.run_id}\n", flush=True)
        results.append({"suite": suite, "run_id": run.run_id, "config": asdict(config),
                        "seconds": round(seconds, 1), "skipped": run.skipped, "summary": summary, "plots": plots,
                        "values": run.values})
    out = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                    "threads": torch.get_num_threads(), "load": os.getloadavg()},
        "model": subject.name, "db": args.db, "suites": results, "tables": tables,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
